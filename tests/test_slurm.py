"""The study on a real SLURM cluster through snakemake-executor-plugin-slurm and profiles/slurm.

Opt-in (marker `slurm`): needs a running cluster with job accounting, e.g. the one-node cluster that
`sudo .ci/slurm-up.sh` starts on 127.0.0.1 (partitions `cpu` and `gpu`, fake GPUs). Skips with the reason when
there is none. A reduced demo (one run, 2 epochs) runs once locally and once with `--profile profiles/slurm`; the
test checks that every job went through SLURM (job ids in the log, `sacct`), that GPU rules got their GPU,
partition, memory and time limit from config.yaml, and that the results match the local run.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from astgenre.config import read_study

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
GPU_PARTITION = "gpu"  # the partition of .ci/slurm-up.sh that GPU rules are sent to through config.yaml
GPU_RULES = ("train", "evaluate")
OVERLAY = {
    "grid": {"variants": ["none"], "seeds": [0]},
    "training": {"epochs": 2},
    # The official split alone: protocols and baselines add jobs of the same rules' kinds (test_workflow_e2e).
    "protocols": None,
    "baselines": [],
    # The GPU rules run in their own partition and ask for one (fake) GPU, over the demo preset's gpu: 0.
    "resources": {rule: {"partition": GPU_PARTITION, "gpu": 1} for rule in GPU_RULES},
}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def run(args: list[str], cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def cluster_problem() -> str | None:
    """Why the tests cannot use a SLURM cluster here, or None when they can."""
    hint = "start a local cluster with `sudo .ci/slurm-up.sh`"
    for tool in ("sinfo", "sbatch", "sacct"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found: no SLURM client on this machine ({hint})"
    try:
        sinfo = run(["sinfo", "-h", "-o", "%P %T %G"], timeout=30)
        sacct = run(["sacct", "-n", "-X", "-S", "now-1hours", "-o", "JobID"], timeout=30)
    except subprocess.TimeoutExpired as error:
        return f"`{' '.join(error.cmd)}` timed out: the SLURM daemons do not answer ({hint})"
    if sinfo.returncode != 0:
        return f"the SLURM controller does not answer: {sinfo.stderr.strip()} ({hint})"
    if not re.search(r"^\S+ (idle|mixed|allocated|completing)", sinfo.stdout, re.M):
        return f"no usable SLURM node: {sinfo.stdout.strip() or 'none'} ({hint})"
    if not re.search(rf"^{GPU_PARTITION}\*? \S+ gpu:", sinfo.stdout, re.M):
        return f"no `{GPU_PARTITION}` partition with GPU gres (the cluster of .ci/slurm-up.sh): {sinfo.stdout.strip()}"
    if sacct.returncode != 0:
        return f"SLURM job accounting is not available: {sacct.stderr.strip()} (slurm-up.sh starts slurmdbd)"
    return None


@pytest.fixture(scope="module", autouse=True)
def cluster():
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install snakemake-executor-plugin-slurm")


def copy_project(work: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, work / name)
    for name in ("workflow", "profiles"):
        shutil.copytree(REPO / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    return work


def snakemake(work: Path, *args: str, timeout: float = 900) -> str:
    proc = run([*SNAKEMAKE, "--configfile", "overlay.yaml", "--config", "study=demo", *args], cwd=work, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return proc.stdout + proc.stderr


def planned_jobs(work: Path) -> dict[str, int]:
    """Rules of the jobs a dry run plans, with their counts."""
    out = snakemake(work, "--dry-run", "--cores", "1")
    jobs: dict[str, int] = {}
    for rule in re.findall(r"^rule (\w+):$", out, re.M):
        jobs[rule] = jobs.get(rule, 0) + 1
    return jobs


def sacct(job_ids: list[str]) -> pd.DataFrame:
    fields = ["JobID", "State", "Partition", "AllocTRES", "ReqMem", "Timelimit", "Comment"]
    proc = run(["sacct", "-n", "-X", "-P", "-j", ",".join(job_ids), "-o", ",".join(fields)])
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("|", len(fields) - 1) for line in proc.stdout.splitlines() if line]
    return pd.DataFrame(rows, columns=fields).set_index("JobID")


def minutes(timelimit: str) -> int:
    """SLURM's [D-]HH:MM:SS as minutes."""
    days, _, clock = timelimit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    work = copy_project(tmp_path_factory.mktemp("local"))
    snakemake(work, "--cores", "2", "--resources", "gpu=1")
    return work


@pytest.fixture(scope="module")
def slurm(tmp_path_factory, local) -> tuple[Path, dict[str, int], str]:
    """The same study through SLURM: the work dir, the planned jobs and snakemake's log."""
    work = copy_project(tmp_path_factory.mktemp("slurm"))
    planned = planned_jobs(work)
    out = snakemake(work, "--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "2")
    return work, planned, out


@pytest.fixture(scope="module")
def submitted(slurm) -> pd.DataFrame:
    """One row per SLURM job of the run: its rule, its log and its accounting record."""
    _, _, out = slurm
    jobs = pd.DataFrame(SUBMITTED.findall(out), columns=["JobID", "log"]).set_index("JobID")
    jobs["rule"] = jobs["log"].str.extract(r"/rule_(\w+)/", expand=False)
    return jobs.join(sacct(list(jobs.index)), how="left")


def test_every_job_went_through_slurm(slurm, submitted):
    work, planned, out = slurm
    assert "train" in planned, planned
    local_rules = set(re.findall(r"^localrule (\w+):$", out, re.M))
    assert local_rules <= {"all"}, f"rules ran on the submitting host, not through SLURM: {local_rules}"
    assert submitted["rule"].value_counts().to_dict() == {r: n for r, n in planned.items() if r not in local_rules}
    missing = submitted[submitted["State"].isna()]
    assert missing.empty, f"jobs unknown to sacct: {list(missing.index)}"
    assert (submitted["State"] == "COMPLETED").all(), submitted[["rule", "State"]]
    for job_id, job in submitted.iterrows():
        assert job["Comment"].startswith(f"rule_{job['rule']}"), (job_id, job["Comment"])
        log = Path(job["log"])
        assert log.name == f"{job_id}.log" and log.is_relative_to(work / ".snakemake/slurm_logs")
        assert f"rule {job['rule']}:" in log.read_text(), f"{log} does not show rule {job['rule']}"


def test_resources_come_from_config(slurm, submitted):
    work, _, _ = slurm
    config = read_study(work, "demo", [OVERLAY])
    assert {rule: config["resources"][rule]["gpu"] for rule in GPU_RULES} == dict.fromkeys(GPU_RULES, 1)
    for _, job in submitted.iterrows():
        rule, settings = job["rule"], config["resources"].get(job["rule"], {})
        gpus = settings.get("gpu", 0)
        assert (f"gres/gpu={gpus}" in job["AllocTRES"]) == (gpus > 0), (rule, gpus, job["AllocTRES"])
        assert ("gres/gpu" in job["AllocTRES"]) == (gpus > 0), (rule, gpus, job["AllocTRES"])
        expected_partition = settings.get("partition")
        if expected_partition:
            assert job["Partition"] == expected_partition, (
                f"{rule} ran in {job['Partition']}, not resources.{rule}.partition"
            )
        else:
            assert job["Partition"] != GPU_PARTITION, f"{rule} ran in {job['Partition']} without asking for it"
        if "mem_mb" in settings:
            assert job["ReqMem"] == f"{settings['mem_mb']}M", (rule, job["ReqMem"])
        if "runtime" in settings:
            assert minutes(job["Timelimit"]) == settings["runtime"], (rule, job["Timelimit"])


def test_results_match_the_local_run(local, slurm):
    work, _, _ = slurm
    study = Path("results/demo")
    for name in ("source/ismir04_genre.zip.md5", "index.tsv", "decode_errors.tsv"):
        assert (local / study / name).read_text() == (work / study / name).read_text(), name
    runs = sorted(p.relative_to(local) for p in (local / study / "runs").glob("*/seed*/metrics_*.json"))
    assert len(runs) == 2, runs  # development and evaluation of the one run
    for path in runs:
        here, there = json.loads((local / path).read_text()), json.loads((work / path).read_text())
        assert _nested_close(here, there), f"{path} differs:\n{here}\n{there}"
    for path in sorted(p.relative_to(local) for p in (local / study / "runs").glob("*/seed*/predictions_*.tsv")):
        here, there = (pd.read_csv(p, sep="\t") for p in (local / path, work / path))
        numeric = here.select_dtypes("number").columns
        pd.testing.assert_frame_equal(here.drop(columns=numeric), there.drop(columns=numeric))
        # The same seed and threads give the same model; CPU kernels may round the last float32 digit differently.
        pd.testing.assert_frame_equal(here[numeric], there[numeric], check_exact=False, atol=1e-5, rtol=0)


def _nested_close(a, b) -> bool:
    """Equal JSON, numbers within 1e-6."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_nested_close(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return isinstance(b, (int, float)) and abs(a - b) <= 1e-6
    return a == b


RANKS_SCRIPT = """\
import json, os, sys
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
total = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(total)
me = {"rank": dist.get_rank(), "world_size": dist.get_world_size(), "sum": total.item(),
      "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"), "job": os.environ.get("SLURM_JOB_ID")}
ranks = [None] * dist.get_world_size()
dist.all_gather_object(ranks, me)
if dist.get_rank() == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(ranks, f)
dist.destroy_process_group()
"""


def test_multi_gpu_rule_runs_torchrun_inside_one_job(tmp_path):
    sinfo = run(["sinfo", "-h", "-p", GPU_PARTITION, "-o", "%G"]).stdout
    gpus = max((int(n) for n in re.findall(r"gpu:(?:\w+:)?(\d+)", sinfo)), default=0)
    if gpus < 2:
        pytest.skip(
            f"the {GPU_PARTITION} partition has no node with 2 GPUs ({sinfo.strip()}); SLURM_UP_GPUS=2 .ci/slurm-up.sh"
        )
    (tmp_path / "ranks.py").write_text(RANKS_SCRIPT)
    (tmp_path / "Snakefile").write_text(
        "rule ranks:\n"
        "    output: 'ranks.json'\n"
        "    threads: 2\n"
        f"    resources: gpu=2, runtime=5, mem_mb=2000, slurm_partition='{GPU_PARTITION}'\n"
        f"    shell: '{sys.executable} -m torch.distributed.run --standalone "
        "--nproc-per-node {resources.gpu} ranks.py {output}'\n"
    )
    proc = run(
        [*SNAKEMAKE, "--profile", str(REPO / "profiles/slurm"), "--slurm-init-seconds-before-status-checks", "2"],
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    ((job_id, _),) = SUBMITTED.findall(proc.stdout + proc.stderr)
    ranks = json.loads((tmp_path / "ranks.json").read_text())
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert {r["sum"] for r in ranks} == {3.0}  # the ranks talked to each other
    assert {r["job"] for r in ranks} == {job_id}  # both inside the one SLURM job
    assert {r["gpus"] for r in ranks} == {"0,1"}  # and both see the job's two GPUs
    assert "gres/gpu=2" in sacct([job_id]).loc[job_id, "AllocTRES"]
