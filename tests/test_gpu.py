"""What runs differently on a GPU (astgenre.gpu), decided without one: each choice is a function of the device."""

import pytest
import torch

from astgenre import gpu

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_a_number_of_workers_is_taken_as_it_is_on_either_device():
    assert gpu.loader_workers(0, 8, CUDA) == 0
    assert gpu.loader_workers(3, 1, CPU) == 3


def test_auto_means_no_worker_on_the_cpu_whatever_the_threads():
    assert gpu.loader_workers("auto", 16, CPU) == 0


@pytest.mark.parametrize("threads, ranks, workers", [(2, 1, 1), (1, 1, 1), (8, 1, 7), (8, 2, 3), (2, 4, 1)])
def test_auto_on_a_gpu_leaves_one_core_per_rank_to_drive_it(threads, ranks, workers):
    assert gpu.loader_workers("auto", threads, CUDA, ranks) == workers


def test_auto_without_threads_uses_the_cores_this_process_may_run_on(monkeypatch):
    monkeypatch.setattr(gpu, "available_cores", lambda: 6)
    assert gpu.loader_workers("auto", None, CUDA) == 5


@pytest.mark.parametrize("setting", [-1, "many", 1.5, True])
def test_a_bad_worker_setting_is_refused(setting):
    with pytest.raises(ValueError, match="dataloader_workers: .* neither an integer >= 0 nor 'auto'"):
        gpu.loader_workers(setting, 2, CPU)


def test_the_evaluation_batch_follows_the_device():
    assert gpu.eval_batch_size(32, 256, CPU) == 32
    assert gpu.eval_batch_size(32, 256, CUDA) == 256
