#!/usr/bin/env python3
"""From a fresh clone to the demo's figures, or to the test results, with one command each.

    python3 tasks.py demo [SNAKEMAKE_ARGS...]   set up, then run the demo study (results/demo/)
    python3 tasks.py test [PYTEST_ARGS...]      set up, then run what CI runs: the linters, then pytest -q
    python3 tasks.py setup                      only the set-up

The set-up creates the project's virtual environment (.venv) when it is missing or unusable (no pip, a Python that
does not run or is older than 3.10), installs the torch build that fits the machine (the default wheel where a CUDA
GPU answers `nvidia-smi -L`, else the CPU build) and then the package with its test and slurm extras. Each step is
recorded in .venv/.astgenre-setup and skipped once done: a second call installs nothing (it only runs .venv's Python
once, to check it) until pyproject.toml, the torch pin or the machine's GPU changes. The full study is then
`snakemake --cores all --resources gpu=1` inside that environment (`. .venv/bin/activate` first).

Only the standard library: this runs before anything is installed, with whatever Python >= 3.10 the machine has.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH = "torch==2.13.0"
"""The torch every set-up installs; pyproject.toml only asks for torch>=2.4, which this satisfies."""
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
"""Where the CPU build of torch lives; a bare `pip install torch` from PyPI is a multi-GB CUDA build."""
EXTRAS = "test,slurm"
STAMP = ".astgenre-setup"
DEMO = ("snakemake", "--cores", "all", "--resources", "gpu=1", "--config", "study=demo")
CHECKS = (
    ("ruff", "check", "."),
    ("ruff", "format", "--check", "."),
    ("snakefmt", "--check", "."),
    ("snakemake", "--lint"),
)
"""What CI runs before the tests: one linter and one formatter over the whole tree, then Snakemake's own lint."""
PYTEST = ("pytest", "-q")
VENV_PROBE = (
    "import sys; print(sys.version.split()[0]); import pip, importlib.util; "
    "print(' '.join(name for name in ('torch', 'astgenre') if importlib.util.find_spec(name)))"
)
"""Run by .venv's Python before .venv is trusted: its version, then (failing where pip is missing) which of torch and
astgenre it can import, without importing them (a fraction of a second). It parses under any Python, so that an old
one still prints its version."""
PROBE_TIMEOUT = 60
TORCH_BUILD = "import torch; print('cuda' if torch.version.cuda else 'cpu')"
"""Which torch build .venv holds: pip cannot tell, as it takes torch==X as satisfied by X+cpu and by X alike."""
CUDA_BY_HAND = f"pip install --force-reinstall {TORCH} --index-url https://download.pytorch.org/whl/cu126"
TASKS = ("demo", "test", "setup")


def say(message: str) -> None:
    print(f"[tasks] {message}", flush=True)


def venv_bin(root: Path) -> Path:
    return root / ".venv" / ("Scripts" if os.name == "nt" else "bin")


def has_cuda_gpu() -> bool:
    """Whether `nvidia-smi -L` lists a GPU: the driver is there and sees a device."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


def torch_build(gpu: bool) -> str:
    return "cuda" if gpu else "cpu"


def reachable(url: str) -> bool:
    """Whether an HTTP(S) index answers at all (proxies from the environment apply, as for pip)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15):
            return True
    except (OSError, ValueError):
        return False


def torch_installs(build: str) -> list[list[str]]:
    """pip arguments for installing torch, in the order to try them (the first that succeeds wins).

    CUDA: the default wheel from the configured index. CPU: the CPU index first, then the configured index, which on
    the project's machines (no internet) holds the CPU build. The CPU index is tried only when it answers: pip would
    otherwise retry it for torch and for each of torch's dependencies before giving up.
    """
    if build == "cuda":
        return [["install", TORCH]]
    if not reachable(CPU_INDEX + "/torch/"):
        say(f"{CPU_INDEX} cannot be reached: taking torch from the configured index")
        return [["install", TORCH]]
    return [["install", TORCH, "--index-url", CPU_INDEX], ["install", TORCH]]


def fingerprint(root: Path) -> dict[str, str]:
    """What each set-up step depends on: a step reruns when its entry differs from the recorded one."""
    pyproject = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    return {"torch": f"{TORCH} {torch_build(has_cuda_gpu())}", "package": f"{pyproject} [{EXTRAS}]"}


def read_stamp(root: Path) -> dict[str, str]:
    try:
        recorded = json.loads((root / ".venv" / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def write_stamp(root: Path, stamp: dict[str, str]) -> None:
    (root / ".venv" / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def venv_env(root: Path) -> dict[str, str]:
    """The environment of a command in the project: the virtual environment's, as after `. .venv/bin/activate`."""
    env = dict(os.environ, VIRTUAL_ENV=str(root / ".venv"))
    env["PATH"] = os.pathsep.join([str(venv_bin(root)), env.get("PATH", "")])
    env.pop("PYTHONHOME", None)
    return env


def run(command: Sequence[str | os.PathLike[str]], root: Path, check: bool = True) -> int:
    """Run a command in the project with the virtual environment first on PATH, printing it first."""
    shown = " ".join(os.path.relpath(part, root) if isinstance(part, Path) else str(part) for part in command)
    say(f"$ {shown}")
    code = subprocess.run([str(part) for part in command], cwd=root, env=venv_env(root)).returncode
    if check and code != 0:
        raise SystemExit(f"[tasks] failed (exit status {code}): {shown}")
    return code


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else ""


def probe_venv(python: Path, root: Path) -> tuple[str | None, set[str]]:
    """Why .venv cannot be used as it is (None when it can), and which of torch and astgenre it can import.

    A .venv this script did not make, or made only in part, may have no pip (uv venv, venv --without-pip, Debian's
    venv without python3-venv), a bin/python whose Python is gone, or a Python older than 3.10.
    """
    shown = os.path.relpath(python, root)
    if not python.exists():
        if python.is_symlink():
            return f"{shown} links to {os.readlink(python)}, which does not exist", set()
        return f"{shown} is missing", set()
    try:
        answer = subprocess.run(
            [str(python), "-c", VENV_PROBE],
            cwd=root,
            env=venv_env(root),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
        )
    except FileNotFoundError:
        return f"{shown} does not run (its interpreter is gone)", set()
    except (subprocess.TimeoutExpired, OSError) as error:
        # A slow filesystem or a busy machine is no evidence that .venv is broken: never wipe it on that.
        why = f"did not answer within {PROBE_TIMEOUT} s" if isinstance(error, subprocess.TimeoutExpired) else str(error)
        raise SystemExit(
            f"[tasks] could not check .venv: {shown} {why}. Run this again; if it keeps failing, delete .venv"
        ) from None
    lines = answer.stdout.splitlines()
    version = lines[0].strip() if lines else ""
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if numbers and (int(numbers[1]), int(numbers[2])) < (3, 10):
        return f"{shown} is Python {version} and astgenre needs >= 3.10", set()
    if answer.returncode != 0:
        why = last_line(answer.stderr)
        if "No module named" in why and "pip" in why:
            return f"{shown} has no pip ({why})", set()
        return f"{shown} failed a quick check (exit status {answer.returncode}{': ' + why if why else ''})", set()
    return None, set(lines[1].split()) if len(lines) > 1 else set()


def make_venv(root: Path, clear: bool) -> None:
    """Create .venv (emptying it first if `clear`) with this Python, then upgrade its pip; the record goes first."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (root / ".venv" / STAMP).unlink()
    say(f"creating the virtual environment .venv with {sys.executable} (Python {sys.version.split()[0]})")
    code = run([sys.executable, "-m", "venv", *(["--clear"] if clear else []), root / ".venv"], root, check=False)
    if code != 0:
        raise SystemExit(
            f"[tasks] could not create .venv: `{sys.executable} -m venv` failed (exit status {code}; its output is "
            f"above). One common cause, on Debian/Ubuntu: the venv module is not installed (apt install "
            f"python3-venv, or python3.{sys.version_info[1]}-venv); install it, then run this again"
        )
    run([venv_python(root), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], root)


def venv_python(root: Path) -> Path:
    return venv_bin(root) / ("python.exe" if os.name == "nt" else "python")


def installed_build(python: Path, root: Path) -> tuple[str | None, str]:
    """The torch build .venv holds ("cuda" or "cpu"; None when `import torch` fails), and why it failed."""
    try:
        answer = subprocess.run(
            [str(python), "-c", TORCH_BUILD], cwd=root, env=venv_env(root), capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, str(error)
    build = answer.stdout.strip()
    if answer.returncode == 0 and build in ("cuda", "cpu"):
        return build, ""
    return None, last_line(answer.stderr) or f"exit status {answer.returncode}"


def install_torch(python: Path, root: Path, build: str, present: set[str]) -> tuple[str, bool]:
    """Install the `build` of torch in .venv, switching a CPU build to CUDA if .venv holds one; the build that landed,
    and whether pip was forced to reinstall."""
    why = "a CUDA GPU answered `nvidia-smi -L`" if build == "cuda" else "no CUDA GPU answered `nvidia-smi -L`"
    say(f"installing {TORCH}, the {build} build: {why}")
    force, source = [], build
    if "torch" in present:
        held, error = installed_build(python, root)
        if held == "cuda" and build == "cpu":
            # A CUDA build runs on the CPU too: keep it (pip only moves it to the pin, from the default index), so
            # that a .venv shared by a login node without a GPU and GPU nodes is not switched back and forth, and the
            # GPU jobs never get a CPU build from the login node.
            say(".venv holds the CUDA build of torch, which runs on the CPU too: keeping it")
            source = "cuda"
        elif held != build:
            # pip takes torch==X as satisfied by X+cpu and by X alike: only a forced reinstall switches the build.
            # Dependencies stay in (no --no-deps): a CUDA build needs its nvidia-* wheels.
            held_text = f"the {held} build of torch" if held else f"a torch that does not import ({error})"
            say(f".venv holds {held_text}: reinstalling it with --force-reinstall")
            force = ["--force-reinstall"]
    attempts = torch_installs(source)
    for number, arguments in enumerate(attempts, 1):
        if run([python, "-m", "pip", *arguments, *force], root, check=number == len(attempts)) == 0:
            break
        say("that index did not give torch; trying the next one")
    landed, error = installed_build(python, root)
    if landed is None:
        raise SystemExit(f"[tasks] pip installed torch, but `import torch` fails in .venv: {error}")
    say(f"torch in .venv: the {landed} build")
    if build == "cuda" and landed == "cpu":
        say(
            "WARNING: a CUDA GPU answered `nvidia-smi -L`, but the index pip uses gave a CPU build of torch: "
            "training will run on the CPU. To train on the GPU, install a CUDA build by hand, e.g. "
            f"`.venv/bin/{CUDA_BY_HAND}` (or the cuXXX build that matches your driver, see "
            "https://pytorch.org/get-started/locally/). This set-up does not try again until the torch pin or the "
            "GPU changes, or .venv/.astgenre-setup is deleted."
        )
    return landed, bool(force)


def setup(root: Path = ROOT) -> None:
    """Create .venv and install torch and the package, skipping each step that is already done."""
    # This file runs under whatever python3 the machine has, older ones included: say so before pip does.
    if sys.version_info < (3, 10):  # noqa: UP036
        raise SystemExit(f"[tasks] astgenre needs Python >= 3.10; this is {sys.version.split()[0]} ({sys.executable})")
    python = venv_python(root)
    present: set[str] = set()
    if not (root / ".venv").exists() and not (root / ".venv").is_symlink():
        make_venv(root, clear=False)
    else:
        problem, present = probe_venv(python, root)
        if problem is not None:
            say(f".venv cannot be used: {problem}; making it again")
            make_venv(root, clear=True)
    recorded, wanted = read_stamp(root), fingerprint(root)
    if "torch" in recorded and "torch build" not in recorded:
        recorded.pop("torch")  # a record from before the build that landed was noted: check .venv's torch again
    # The record speaks for this .venv only as far as .venv holds what it records (a venv made again in place keeps it).
    for step, module in (("torch", "torch"), ("package", "astgenre")):
        if step in recorded and module not in present:
            say(f".venv/{STAMP} records {module} as installed, but .venv cannot import it: installing it again")
            recorded.pop(step)
    if all(recorded.get(step) == wanted[step] for step in wanted):
        build = recorded.get("torch build", wanted["torch"].split()[-1])
        say(f"set-up is up to date (.venv: {TORCH}, {build} build; astgenre[{EXTRAS}]): installing nothing")
        return
    if recorded.get("torch") != wanted["torch"]:
        landed, forced = install_torch(python, root, wanted["torch"].split()[-1], present)
        recorded = {**recorded, "torch": wanted["torch"], "torch build": landed}
        if forced:
            recorded.pop("package", None)  # pip resolved torch's dependencies again: the package's go back in too
        write_stamp(root, recorded)
    if recorded.get("package") != wanted["package"]:
        say(f"installing astgenre in editable mode with the {EXTRAS} extras (pyproject.toml is new or changed)")
        run([python, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]"], root)
    write_stamp(root, {**recorded, **wanted})
    say("set-up done; the environment is .venv (activate it with `. .venv/bin/activate`)")


def demo(arguments: Sequence[str], root: Path = ROOT) -> int:
    """Run the demo study (extra arguments go to snakemake, e.g. -n for a dry run)."""
    setup(root)
    say("running the demo study: outputs in results/demo/, figures and tables in results/demo/report/")
    return run([venv_bin(root) / DEMO[0], *DEMO[1:], *arguments], root, check=False)


def test(arguments: Sequence[str], root: Path = ROOT) -> int:
    """What CI runs after its system set-up: the linters, then pytest -q with the extra arguments."""
    setup(root)
    for check in CHECKS:
        code = run([venv_bin(root) / check[0], *check[1:]], root, check=False)
        if code != 0:
            say(f"stopped: {' '.join(check)} failed (exit status {code})")
            return code
    return run([venv_bin(root) / PYTEST[0], *PYTEST[1:], *arguments], root, check=False)


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    task, arguments = (argv[0], argv[1:]) if argv else ("", [])
    if task == "demo":
        return demo(arguments, root)
    if task == "test":
        return test(arguments, root)
    if task == "setup" and not arguments:
        setup(root)
        return 0
    print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
    return 0 if task in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
