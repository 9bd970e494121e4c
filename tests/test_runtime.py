import pytest
import torch

from astgenre import runtime


def test_resolve_device(monkeypatch):
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("auto") == torch.device("cpu")
    assert not runtime.bf16_on("cpu")
    with pytest.raises(RuntimeError, match="no GPU"):
        runtime.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.resolve_device("auto") == torch.device("cuda")


def test_torch_threads_limits_then_restores():
    before = torch.get_num_threads()
    with runtime.torch_threads(1):
        assert torch.get_num_threads() == 1
    with runtime.torch_threads(0):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert runtime.available_cores() >= 1
