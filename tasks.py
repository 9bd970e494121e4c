#!/usr/bin/env python3
"""From a fresh clone to the demo's figures, or to the test results, with one command each.

    python3 tasks.py demo [SNAKEMAKE_ARGS...]   set up, then run the demo study (results/demo/)
    python3 tasks.py test [PYTEST_ARGS...]      set up, then run what CI runs: the linters, then pytest -q
    python3 tasks.py setup                      only the set-up

The set-up creates the project's virtual environment (.venv) when it is missing, installs the torch build that fits
the machine (the default wheel where a CUDA GPU answers `nvidia-smi -L`, else the CPU build) and then the package with
its test and slurm extras. Each step is recorded in .venv/.astgenre-setup and skipped once done: a second call
installs nothing until pyproject.toml, the torch pin or the machine's GPU changes. The full study is then
`snakemake --cores all --resources gpu=1` inside that environment (`. .venv/bin/activate` first).

Only the standard library: this runs before anything is installed, with whatever Python >= 3.10 the machine has.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def run(command: Sequence[str | os.PathLike[str]], root: Path, check: bool = True) -> int:
    """Run a command in the project with the virtual environment first on PATH, printing it first."""
    shown = " ".join(os.path.relpath(part, root) if isinstance(part, Path) else str(part) for part in command)
    say(f"$ {shown}")
    env = dict(os.environ, VIRTUAL_ENV=str(root / ".venv"))
    env["PATH"] = os.pathsep.join([str(venv_bin(root)), env.get("PATH", "")])
    env.pop("PYTHONHOME", None)
    code = subprocess.run([str(part) for part in command], cwd=root, env=env).returncode
    if check and code != 0:
        raise SystemExit(f"[tasks] failed (exit status {code}): {shown}")
    return code


def setup(root: Path = ROOT) -> None:
    """Create .venv and install torch and the package, skipping each step that is already done."""
    # This file runs under whatever python3 the machine has, older ones included: say so before pip does.
    if sys.version_info < (3, 10):  # noqa: UP036
        raise SystemExit(f"[tasks] astgenre needs Python >= 3.10; this is {sys.version.split()[0]} ({sys.executable})")
    python = venv_bin(root) / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        say(f"creating the virtual environment .venv with {sys.executable} (Python {sys.version.split()[0]})")
        if run([sys.executable, "-m", "venv", root / ".venv"], root, check=False) != 0:
            raise SystemExit(
                "[tasks] could not create .venv: on Debian/Ubuntu install the venv module first "
                "(apt install python3-venv), then run this again"
            )
        run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], root)
    recorded, wanted = read_stamp(root), fingerprint(root)
    if recorded == wanted:
        build = wanted["torch"].split()[-1]
        say(f"set-up is up to date (.venv: {TORCH}, {build} build; astgenre[{EXTRAS}]): installing nothing")
        return
    if recorded.get("torch") != wanted["torch"]:
        build = wanted["torch"].split()[-1]
        why = "a CUDA GPU answered `nvidia-smi -L`" if build == "cuda" else "no CUDA GPU answered `nvidia-smi -L`"
        say(f"installing {TORCH}, the {build} build: {why}")
        attempts = torch_installs(build)
        for number, arguments in enumerate(attempts, 1):
            if run([python, "-m", "pip", *arguments], root, check=number == len(attempts)) == 0:
                break
            say("that index did not give torch; trying the next one")
        recorded = {**recorded, "torch": wanted["torch"]}
        write_stamp(root, recorded)
    if recorded.get("package") != wanted["package"]:
        say(f"installing astgenre in editable mode with the {EXTRAS} extras (pyproject.toml is new or changed)")
        run([python, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]"], root)
    write_stamp(root, wanted)
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
