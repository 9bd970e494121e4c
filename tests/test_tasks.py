"""tasks.py, the two commands of a fresh clone: its decisions, without installing anything (subprocess is faked)."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("tasks", REPO / "tasks.py")
tasks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tasks)


class Machine:
    """A fake of the machine: records the commands tasks.py runs, and keeps .venv's state as venv and pip would.

    The venv's state (its Python's version, whether it has pip, the torch build installed, whether astgenre is) lives
    in .venv/fake-site.json, so that it outlives one Machine as a real venv outlives one call, and goes with .venv.
    `python -m venv [--clear] DIR` makes a fresh one; `python -c CODE` answers tasks.py's two questions (the venv's
    probe, which `import pip`s, and the torch build, which `import torch`es); pip keeps an installed torch unless told
    --force-reinstall, as it takes torch==X as satisfied by X+cpu and by X alike. `configured` is the build that
    the configured index gives (PyPI's default wheel: cuda; the CPU index always gives cpu). A command that contains
    one of `failing` exits 1 and changes nothing.
    """

    def __init__(self, gpu: bool = False, failing: tuple[str, ...] = (), configured: str = "cuda"):
        self.gpu, self.failing, self.configured, self.commands = gpu, failing, configured, []

    def run(self, command, **kwargs):
        if command[0] == "nvidia-smi":
            listing = "GPU 0: NVIDIA H200 (UUID: GPU-1234)\n" if self.gpu else ""
            return subprocess.CompletedProcess(command, 0 if self.gpu else 9, listing, "")
        self.commands.append([Path(part).name if Path(part).is_absolute() else part for part in command])
        if any(text in " ".join(command) for text in self.failing):
            return subprocess.CompletedProcess(command, 1, "", "")
        if command[1:3] == ["-m", "venv"]:
            make_venv(Path(command[-1]), clear="--clear" in command)
            return subprocess.CompletedProcess(command, 0)
        python = Path(command[0])
        if python.name != "python":  # snakemake, ruff, pytest: they succeed
            return subprocess.CompletedProcess(command, 0)
        if not python.exists():  # missing, or a dangling link
            raise FileNotFoundError(2, "No such file or directory", str(python))
        site = fake_site(python.parent.parent)
        if command[1] == "-c" and "import pip" in command[2]:
            if not site["pip"]:
                return subprocess.CompletedProcess(command, 1, site["python"] + "\n", NO_PIP)
            present = " ".join(name for name in ("torch", "astgenre") if site[name])
            return subprocess.CompletedProcess(command, 0, f"{site['python']}\n{present}\n", "")
        if command[1] == "-c" and "import torch" in command[2]:
            if not site["torch"]:
                return subprocess.CompletedProcess(command, 1, "", "ModuleNotFoundError: No module named 'torch'\n")
            return subprocess.CompletedProcess(command, 0, site["torch"] + "\n", "")
        if command[1:3] == ["-m", "pip"]:
            if not site["pip"]:
                return subprocess.CompletedProcess(command, 1, "", NO_PIP)
            arguments = command[3:]
            if tasks.TORCH in arguments and (not site["torch"] or "--force-reinstall" in arguments):
                site["torch"] = "cpu" if "https://download.pytorch.org/whl/cpu" in arguments else self.configured
            if "-e" in arguments:
                site["astgenre"] = True
            fake_site(python.parent.parent, site)
        return subprocess.CompletedProcess(command, 0)

    def pip_calls(self) -> list[list[str]]:
        return [command[3:] for command in self.commands if command[1:3] == ["-m", "pip"]]


NO_PIP = "/work/.venv/bin/python: No module named pip\n"
NEW_SITE = {"python": "3.12.3", "pip": True, "torch": "", "astgenre": False}


def fake_site(venv: Path, site: dict | None = None) -> dict:
    """Read (or, given `site`, write) the fake venv's state."""
    path = venv / "fake-site.json"
    if site is not None:
        path.write_text(json.dumps(site))
    return json.loads(path.read_text())


def make_venv(venv: Path, clear: bool = False, **state) -> None:
    """What `python -m venv [--clear] VENV` leaves (`state` overrides the fresh venv's, e.g. pip=False)."""
    if clear and venv.exists():
        for path in venv.iterdir():
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "bin" / "python").touch()
    fake_site(venv, {**NEW_SITE, **state})


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
    assert again.commands == [["python", "-c", tasks.VENV_PROBE]]  # one quick probe of .venv, no pip
    assert "set-up is up to date" in capsys.readouterr().out


def test_a_changed_pyproject_reinstalls_the_package_only(project, monkeypatch):
    machine(monkeypatch)
    tasks.setup(project)
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + "\n# a new dependency\n")
    again = machine(monkeypatch)
    tasks.setup(project)
    assert again.pip_calls() == [["install", "--quiet", "-e", ".[test,slurm]"]]


def test_a_gpu_appearing_reinstalls_torch_only_and_forces_the_switch(project, monkeypatch, capsys):
    """pip takes torch==2.13.0 as satisfied by the installed 2.13.0+cpu: without --force-reinstall nothing changes."""
    machine(monkeypatch, gpu=False)
    tasks.setup(project)
    capsys.readouterr()
    again = machine(monkeypatch, gpu=True)
    tasks.setup(project)
    # pip resolved torch's dependencies again: the package's are put back too
    assert again.pip_calls() == [
        ["install", tasks.TORCH, "--force-reinstall"],
        ["install", "--quiet", "-e", ".[test,slurm]"],
    ]
    assert fake_site(project / ".venv")["torch"] == "cuda"
    assert tasks.read_stamp(project)["torch build"] == "cuda"
    out = capsys.readouterr().out
    assert "holds the cpu build of torch" in out
    assert "torch in .venv: the cuda build" in out
    assert "WARNING" not in out


def test_a_cuda_build_is_kept_where_no_gpu_answers(project, monkeypatch, capsys):
    """A CUDA build runs on the CPU too: a .venv shared by a login node (no GPU) and GPU nodes is never switched
    back and forth, and the GPU jobs never get a CPU build from a set-up on the login node."""
    machine(monkeypatch, gpu=True)
    tasks.setup(project)
    for gpu in (False, True, False):
        again = machine(monkeypatch, gpu=gpu)
        tasks.setup(project)
        assert [call for call in again.pip_calls() if "--force-reinstall" in call] == []
        assert [call for call in again.pip_calls() if "https://download.pytorch.org/whl/cpu" in call] == []
        assert fake_site(project / ".venv")["torch"] == "cuda"
    assert "keeping it" in capsys.readouterr().out


def test_a_record_from_before_the_landed_build_was_noted_is_checked_again(project, monkeypatch):
    """The first tasks.py recorded the wanted build only: a GPU that appeared then left a CPU torch recorded as cuda."""
    make_venv(project / ".venv", torch="cpu", astgenre=True)
    wanted = tasks.fingerprint(project)
    tasks.write_stamp(project, {**wanted, "torch": f"{tasks.TORCH} cuda"})
    again = machine(monkeypatch, gpu=True)
    tasks.setup(project)
    assert ["install", tasks.TORCH, "--force-reinstall"] in again.pip_calls()
    assert fake_site(project / ".venv")["torch"] == "cuda"


def test_a_changed_pin_of_the_same_build_is_no_forced_reinstall(project, monkeypatch):
    machine(monkeypatch)
    tasks.setup(project)
    monkeypatch.setattr(tasks, "TORCH", "torch==2.14.0")
    again = machine(monkeypatch)
    tasks.setup(project)
    assert [call for call in again.pip_calls() if "--force-reinstall" in call] == []


def test_a_cpu_build_on_a_gpu_machine_warns_once_and_does_not_fail(project, monkeypatch, capsys):
    """An offline GPU machine whose index has only the CPU build: say so, with the way out, and do not retry."""
    fake = machine(monkeypatch, gpu=True, configured="cpu")
    tasks.setup(project)
    assert fake.pip_calls()[-1] == ["install", "--quiet", "-e", ".[test,slurm]"]
    out = capsys.readouterr().out
    assert "torch in .venv: the cpu build" in out
    assert "WARNING" in out and "training will run on the CPU" in out
    assert "--force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" in out
    stamp = tasks.read_stamp(project)
    assert stamp["torch"] == f"{tasks.TORCH} cuda" and stamp["torch build"] == "cpu"
    again = machine(monkeypatch, gpu=True, configured="cpu")
    tasks.setup(project)
    assert again.pip_calls() == []
    out = capsys.readouterr().out
    assert "set-up is up to date" in out and "WARNING" not in out


def test_a_torch_that_does_not_import_stops_the_set_up(project, monkeypatch):
    machine(monkeypatch, failing=("import torch",))
    with pytest.raises(SystemExit, match="import torch"):
        tasks.setup(project)
    assert "torch" not in tasks.read_stamp(project)


def test_a_deleted_stamp_forces_torch_only_when_the_build_changed(project, monkeypatch):
    """DEVELOPERS.md: deleting .venv/.astgenre-setup reruns both installs in .venv, forcing torch only on a switch."""
    machine(monkeypatch, gpu=False)
    tasks.setup(project)
    (project / ".venv" / tasks.STAMP).unlink()
    again = machine(monkeypatch, gpu=False)
    tasks.setup(project)
    assert again.pip_calls() == [CPU_TORCH, ["install", "--quiet", "-e", ".[test,slurm]"]]
    (project / ".venv" / tasks.STAMP).unlink()
    gpu = machine(monkeypatch, gpu=True)
    tasks.setup(project)
    assert gpu.pip_calls() == [
        ["install", tasks.TORCH, "--force-reinstall"],
        ["install", "--quiet", "-e", ".[test,slurm]"],
    ]
    assert fake_site(project / ".venv")["torch"] == "cuda"


def test_a_deleted_venv_is_set_up_again(project, monkeypatch):
    machine(monkeypatch)
    tasks.setup(project)
    (project / ".venv/bin/python").unlink()
    (project / ".venv" / tasks.STAMP).unlink()
    again = machine(monkeypatch)
    tasks.setup(project)
    assert len(again.pip_calls()) == 3


FULL_SET_UP = [["install", "--quiet", "--upgrade", "pip"], CPU_TORCH, ["install", "--quiet", "-e", ".[test,slurm]"]]


def test_a_venv_without_pip_is_made_again(project, monkeypatch, capsys):
    """uv venv, venv --without-pip, Debian's half-made venv: every pip call would fail with "No module named pip"."""
    make_venv(project / ".venv", pip=False)
    (project / ".venv" / tasks.STAMP).write_text("{}")
    fake = machine(monkeypatch)
    tasks.setup(project)
    assert [Path(sys.executable).name, "-m", "venv", "--clear", ".venv"] in fake.commands
    assert fake.pip_calls() == FULL_SET_UP
    assert "has no pip" in capsys.readouterr().out


def test_a_dangling_venv_python_is_made_again(project, monkeypatch, capsys):
    """The Python .venv was made with is gone (upgraded, uninstalled): bin/python points nowhere."""
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to("/nonexistent/python3.11")
    fake = machine(monkeypatch)
    tasks.setup(project)
    assert fake.pip_calls() == FULL_SET_UP
    assert "/nonexistent/python3.11" in capsys.readouterr().out


def test_a_venv_of_an_old_python_is_made_again(project, monkeypatch, capsys):
    make_venv(project / ".venv", python="3.9.18")
    fake = machine(monkeypatch)
    tasks.setup(project)
    assert fake.pip_calls() == FULL_SET_UP
    assert fake_site(project / ".venv")["python"] == "3.12.3"
    assert "Python 3.9.18" in capsys.readouterr().out


def test_a_venv_made_again_in_place_is_installed_again(project, monkeypatch, capsys):
    """`python3 -m venv .venv` or `uv venv` over the old one: the record stays, site-packages is empty."""
    machine(monkeypatch)
    tasks.setup(project)
    fake_site(project / ".venv", NEW_SITE)
    capsys.readouterr()
    again = machine(monkeypatch)
    tasks.setup(project)
    assert again.pip_calls() == FULL_SET_UP[1:]
    assert fake_site(project / ".venv")["torch"] == "cpu" and fake_site(project / ".venv")["astgenre"]
    out = capsys.readouterr().out
    assert "up to date" not in out and "cannot import" in out


def test_making_the_venv_deletes_the_old_record(project, monkeypatch):
    """Even where venv leaves the directory's other files alone."""
    machine(monkeypatch)
    tasks.setup(project)
    (project / ".venv/bin/python").unlink()
    keeping = make_venv
    monkeypatch.setattr(sys.modules[__name__], "make_venv", lambda venv, clear=False: keeping(venv))
    again = machine(monkeypatch)
    tasks.setup(project)
    assert again.pip_calls() == FULL_SET_UP


def test_a_failing_venv_creation_says_what_failed(project, monkeypatch):
    machine(monkeypatch, failing=("-m venv",))
    with pytest.raises(SystemExit, match=r"exit status 1.*python3-venv"):
        tasks.setup(project)
    machine(monkeypatch, failing=("-m venv",))
    with pytest.raises(SystemExit, match="exit status 1"):  # and again: the half-made .venv is not trusted
        tasks.setup(project)


def test_a_hanging_venv_python_stops_the_set_up_and_leaves_venv_alone(project, monkeypatch):
    """A slow filesystem or a busy machine is no evidence that .venv is broken: say so, wipe nothing."""
    make_venv(project / ".venv", torch="cuda", astgenre=True)
    fake = machine(monkeypatch)
    honest = fake.run

    def hang(command, **kwargs):
        if command[1:2] == ["-c"] and "import pip" in command[2]:
            assert kwargs["timeout"] <= 120
            raise subprocess.TimeoutExpired(command, kwargs["timeout"])
        return honest(command, **kwargs)

    monkeypatch.setattr(tasks.subprocess, "run", hang)
    with pytest.raises(SystemExit, match="could not check .venv: .* did not answer within .* delete .venv"):
        tasks.setup(project)
    assert fake.pip_calls() == [] and not [c for c in fake.commands if "venv" in c[1:3]]
    assert fake_site(project / ".venv")["torch"] == "cuda"  # untouched


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
