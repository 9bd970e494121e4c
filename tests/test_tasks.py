"""tasks.py, the two commands of a fresh clone: its decisions, without installing anything (subprocess is faked)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("tasks", REPO / "tasks.py")
tasks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tasks)


class Machine:
    """Records the commands tasks.py runs; `python -m venv DIR` creates DIR's interpreter, the rest succeed."""

    def __init__(self, gpu: bool = False, failing: tuple[str, ...] = ()):
        self.gpu, self.failing, self.commands = gpu, failing, []

    def run(self, command, **kwargs):
        if command[0] == "nvidia-smi":
            listing = "GPU 0: NVIDIA H200 (UUID: GPU-1234)\n" if self.gpu else ""
            return subprocess.CompletedProcess(command, 0 if self.gpu else 9, listing, "")
        self.commands.append([Path(part).name if Path(part).is_absolute() else part for part in command])
        if command[1:3] == ["-m", "venv"]:
            python = Path(command[3]) / "bin" / "python"
            python.parent.mkdir(parents=True, exist_ok=True)
            python.touch()
        code = 1 if any(text in " ".join(command) for text in self.failing) else 0
        return subprocess.CompletedProcess(command, code)

    def pip_calls(self) -> list[list[str]]:
        return [command[3:] for command in self.commands if command[1:3] == ["-m", "pip"]]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    monkeypatch.setattr(tasks.os, "name", "posix")
    monkeypatch.setattr(tasks.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(tasks, "reachable", lambda url: True)
    return tmp_path


def machine(monkeypatch, **kwargs) -> Machine:
    fake = Machine(**kwargs)
    monkeypatch.setattr(tasks.subprocess, "run", fake.run)
    return fake


CPU_TORCH = ["install", tasks.TORCH, "--index-url", "https://download.pytorch.org/whl/cpu"]


def test_gpu_detection(monkeypatch):
    machine(monkeypatch, gpu=True)
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    assert tasks.has_cuda_gpu()
    machine(monkeypatch, gpu=False)  # nvidia-smi present, but no device or no driver: a non-zero exit
    assert not tasks.has_cuda_gpu()
    monkeypatch.setattr(tasks.shutil, "which", lambda name: None)
    assert not tasks.has_cuda_gpu()


def test_gpu_detection_survives_a_hanging_nvidia_smi(monkeypatch):
    def hang(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(tasks.subprocess, "run", hang)
    assert not tasks.has_cuda_gpu()


def test_torch_build_follows_the_gpu(monkeypatch):
    monkeypatch.setattr(tasks, "reachable", lambda url: True)
    assert tasks.torch_installs("cuda") == [["install", tasks.TORCH]]
    assert tasks.torch_installs("cpu") == [CPU_TORCH, ["install", tasks.TORCH]]


def test_an_unreachable_cpu_index_is_not_tried(monkeypatch, capsys):
    """Offline, pip would retry the CPU index for torch and each of its dependencies before falling back."""
    asked = []
    monkeypatch.setattr(tasks, "reachable", lambda url: asked.append(url) or False)
    assert tasks.torch_installs("cpu") == [["install", tasks.TORCH]]
    assert asked == ["https://download.pytorch.org/whl/cpu/torch/"]
    assert "cannot be reached: taking torch from the configured index" in capsys.readouterr().out


def test_reachable_answers_false_offline(monkeypatch):
    def offline(request, timeout):
        raise OSError("Name or service not known")

    monkeypatch.setattr(tasks.urllib.request, "urlopen", offline)
    assert not tasks.reachable("https://download.pytorch.org/whl/cpu/torch/")


def test_fresh_clone_on_a_cpu_machine(project, monkeypatch, capsys):
    fake = machine(monkeypatch, gpu=False)
    tasks.setup(project)
    assert fake.commands[0] == [Path(sys.executable).name, "-m", "venv", ".venv"]
    assert fake.pip_calls() == [
        ["install", "--quiet", "--upgrade", "pip"],
        CPU_TORCH,
        ["install", "--quiet", "-e", ".[test,slurm]"],
    ]
    out = capsys.readouterr().out
    assert "creating the virtual environment .venv" in out
    assert "$ .venv/bin/python -m pip install torch==2.13.0 --index-url" in out
    assert "the cpu build: no CUDA GPU answered" in out


def test_fresh_clone_on_a_gpu_machine_takes_the_default_wheel(project, monkeypatch):
    fake = machine(monkeypatch, gpu=True)
    tasks.setup(project)
    assert fake.pip_calls()[1] == ["install", tasks.TORCH]


def test_cpu_index_unreachable_falls_back_to_the_configured_index(project, monkeypatch, capsys):
    fake = machine(monkeypatch, failing=("download.pytorch.org",))
    tasks.setup(project)
    assert fake.pip_calls()[1:3] == [CPU_TORCH, ["install", tasks.TORCH]]
    assert "trying the next one" in capsys.readouterr().out


def test_no_torch_anywhere_stops_before_the_package(project, monkeypatch):
    fake = machine(monkeypatch, failing=("torch==",))
    with pytest.raises(SystemExit, match="failed"):
        tasks.setup(project)
    assert not any("-e" in call for call in fake.pip_calls())
    assert "torch" not in tasks.read_stamp(project)


def test_second_call_installs_nothing(project, monkeypatch, capsys):
    machine(monkeypatch)
    tasks.setup(project)
    capsys.readouterr()
    again = machine(monkeypatch)
    tasks.setup(project)
    assert again.commands == []
    assert "set-up is up to date" in capsys.readouterr().out


def test_a_changed_pyproject_reinstalls_the_package_only(project, monkeypatch):
    machine(monkeypatch)
    tasks.setup(project)
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + "\n# a new dependency\n")
    again = machine(monkeypatch)
    tasks.setup(project)
    assert again.pip_calls() == [["install", "--quiet", "-e", ".[test,slurm]"]]


def test_a_gpu_appearing_reinstalls_torch_only(project, monkeypatch):
    machine(monkeypatch, gpu=False)
    tasks.setup(project)
    again = machine(monkeypatch, gpu=True)
    tasks.setup(project)
    assert again.pip_calls() == [["install", tasks.TORCH]]


def test_a_deleted_venv_is_set_up_again(project, monkeypatch):
    machine(monkeypatch)
    tasks.setup(project)
    (project / ".venv/bin/python").unlink()
    (project / ".venv" / tasks.STAMP).unlink()
    again = machine(monkeypatch)
    tasks.setup(project)
    assert len(again.pip_calls()) == 3


def test_demo_runs_the_demo_study_in_the_venv(project, monkeypatch):
    fake = machine(monkeypatch)
    assert tasks.main(["demo", "-n"], project) == 0
    assert fake.commands[-1] == ["snakemake", "--cores", "all", "--resources", "gpu=1", "--config", "study=demo", "-n"]


def test_test_runs_what_ci_runs_and_passes_arguments_to_pytest(project, monkeypatch):
    fake = machine(monkeypatch)
    assert tasks.main(["test", "-m", "not e2e"], project) == 0
    assert fake.commands[-5:] == [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["snakefmt", "--check", "."],
        ["snakemake", "--lint"],
        ["pytest", "-q", "-m", "not e2e"],
    ]


def test_test_stops_at_the_first_failing_check(project, monkeypatch, capsys):
    fake = machine(monkeypatch, failing=("format --check",))
    assert tasks.main(["test"], project) == 1
    assert fake.commands[-1] == ["ruff", "format", "--check", "."]
    assert "stopped: ruff format --check . failed" in capsys.readouterr().out


def test_commands_run_in_the_project_with_the_venv_first_on_path(project, monkeypatch):
    seen = {}

    def record(command, cwd, env):
        seen.update(cwd=cwd, path=env["PATH"], venv=env["VIRTUAL_ENV"])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(tasks.subprocess, "run", record)
    tasks.run(["snakemake", "--lint"], project)
    assert seen["cwd"] == project
    assert seen["path"].split(":")[0] == str(project / ".venv/bin")
    assert seen["venv"] == str(project / ".venv")


def test_unknown_task_prints_the_usage(capsys):
    assert tasks.main(["deploy"]) == 2
    assert "python3 tasks.py demo" in capsys.readouterr().err
