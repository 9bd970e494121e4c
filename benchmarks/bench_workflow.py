"""Whole-workflow timing of the demo preset: DAG wall time vs the jobs' own times, jobs per rule, overhead.

Usage: python benchmarks/bench_workflow.py [--quick] [--cores all] [--keep DIR] [--configfile OVERLAY.yaml ...]

Runs `snakemake --cores all --resources gpu=1 --config study=demo` in a temporary copy of Snakefile, config.yaml and
workflow/ (as tests/test_workflow_e2e.py does), from an empty results/ folder, and reads each job's start and end
from Snakemake's own records: .snakemake/metadata (one JSON per output file, with the job's start time, its
output's modification time as end time and a hash shared by the outputs of one job; sub-second), checked against the
run's log (.snakemake/log/*.snakemake.log: "[timestamp] rule X: ... jobid: N" and "[timestamp] Finished jobid: N";
whole seconds). Snakemake 9 has no --stats file. It prints the jobs per rule with their time, and:
- wall: the snakemake process from start to exit;
- job time: the sum of the jobs' own times; parallelism = job time / wall;
- scheduler-only time: wall minus the time at least one job was running (DAG building, checks, job dispatch),
  and its share of the wall time (the overhead ratio);
- per-job start-up: a fresh interpreter importing snakemake.script (every `script:` job), and also torch,
  transformers and astgenre.training (the model jobs), times the number of jobs, as a share of the job time.
The default run takes about 2.5 minutes on 2 idle cores (4-5 when other work shares them); --quick runs one
variant and one seed (about 1.5 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICK = {"grid": {"variants": ["none"], "seeds": [0]}}
_STAMP = re.compile(r"^\s*\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]\s*$")
_STARTED = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_JOBID = re.compile(r"^\s*jobid: (\d+)\s*$")
_FINISHED = re.compile(r"^\s*Finished jobid: (\d+) \(Rule: (\w+)\)\s*$")


@dataclass
class Job:
    """One executed job: its rule and [start, end] in seconds since the epoch."""

    rule: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def copy_project(dest: Path) -> Path:
    """Copy what the workflow needs (Snakefile, config.yaml, workflow/) into dest; return dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def jobs_from_log(log: Path) -> list[Job]:
    """Jobs from a Snakemake log: start at the timestamp before "rule X:", end at the one before "Finished jobid"."""
    stamp, pending, started, jobs = None, None, {}, []
    for line in log.read_text().splitlines():
        if match := _STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif match := _STARTED.match(line):
            pending = (match.group(1), stamp)
        elif (match := _JOBID.match(line)) and pending:
            started[int(match.group(1))] = pending
            pending = None
        elif match := _FINISHED.match(line):
            rule, start = started.pop(int(match.group(1)))
            jobs.append(Job(rule, start, stamp))
    if started:
        raise RuntimeError(f"{log}: jobs {sorted(started)} started but never finished (did the run fail?)")
    return jobs


def jobs_from_metadata(workdir: Path) -> list[Job]:
    """Jobs with outputs from .snakemake/metadata: records sharing a job hash are one job (end: its last output)."""
    grouped: dict[tuple[str, int], Job] = {}
    for path in sorted((workdir / ".snakemake" / "metadata").iterdir()):
        record = json.loads(path.read_text())
        if record.get("incomplete") or record.get("starttime") is None:
            continue
        key = (record["rule"], record["job_hash"])
        job = grouped.setdefault(key, Job(record["rule"], record["starttime"], record["endtime"]))
        job.start, job.end = min(job.start, record["starttime"]), max(job.end, record["endtime"])
    return list(grouped.values())


def busy_seconds(jobs: list[Job]) -> float:
    """Length of the union of the jobs' intervals: the time at least one job was running."""
    total, reach = 0.0, None
    for job in sorted(jobs, key=lambda j: j.start):
        if reach is None or job.start > reach:
            total += job.seconds
            reach = job.end
        elif job.end > reach:
            total += job.end - reach
            reach = job.end
    return total


def startup_seconds(code: str, repeats: int = 3) -> float:
    """Median wall time of a fresh interpreter running `code` (the imports a `script:` job does before any work)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def run_snakemake(workdir: Path, cores: str, overlays: list[Path]) -> tuple[float, Path]:
    """Run the workflow with the overlay config files; return (wall seconds, the run's log file).

    Raises RuntimeError with the output's tail when Snakemake fails.
    """
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        cores,
        "--resources",
        "gpu=1",
        *(arg for path in overlays for arg in ("--configfile", str(path))),
        "--config",
        "study=demo",
    ]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {workdir}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        raise RuntimeError(f"no Snakemake log in {workdir / '.snakemake' / 'log'}")
    return wall, logs[-1]


def train_loop_seconds(results: Path) -> float:
    """Sum of train_seconds (the Trainer's own loop) over the runs' train_summary.json files."""
    return sum(json.loads(p.read_text())["train_seconds"] for p in results.glob("runs/*/seed*/train_summary.json"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("--cores", default="all", help="snakemake --cores (default: all)")
    parser.add_argument("--quick", action="store_true", help=f"overlay {QUICK}: 1 train and 1 evaluate job")
    parser.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[],
        metavar="OVERLAY",
        help="overlay config files passed to snakemake --configfile (as in docs/configuration.md)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="run in this (new) folder and keep it")
    args = parser.parse_args()

    import yaml

    from astgenre.config import read_study

    for path in args.configfile:
        if not path.is_file():
            parser.error(f"--configfile {path}: no such file")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = copy_project(args.keep or Path(tmp) / "study")
        overlays = [path.resolve() for path in args.configfile]
        if args.quick:
            overlays.append(workdir / "quick.yaml")
            overlays[-1].write_text(yaml.safe_dump(QUICK))
        light = startup_seconds("import snakemake.script")
        heavy = startup_seconds("import snakemake.script, astgenre.training, astgenre.evaluation")
        load_before = os.getloadavg()[0]
        wall, log = run_snakemake(workdir, args.cores, overlays)
        from_log = jobs_from_log(log)
        from_metadata = jobs_from_metadata(workdir)
        study = read_study(workdir, "demo", [yaml.safe_load(path.read_text()) or {} for path in overlays])
        results = workdir / "results" / "demo"
        n_tracks = sum(1 for _ in (results / "index.tsv").open()) - 1
        train_loop = train_loop_seconds(results)

    with_outputs = [j for j in from_log if j.rule != "all"]
    if len(from_metadata) != len(with_outputs):
        print(
            f"warning: {len(from_metadata)} jobs in .snakemake/metadata but {len(with_outputs)} with outputs in "
            f"the log; using the log's whole-second times"
        )
        jobs = from_log
    else:
        jobs = from_metadata
    by_rule: dict[str, list[Job]] = defaultdict(list)
    for job in from_log:
        by_rule[job.rule].append(job)
    precise = defaultdict(list)
    for job in jobs:
        precise[job.rule].append(job)

    job_time = sum(j.seconds for j in jobs)
    busy = busy_seconds(jobs)
    print(
        f"{os.cpu_count()} CPUs (--cores {args.cores}), load average {load_before:.2f} before the run and "
        f"{os.getloadavg()[0]:.2f} after; Python {sys.version.split()[0]}"
    )
    print(
        f"demo preset{' with ' + ', '.join(p.name for p in overlays) if overlays else ''}: {n_tracks} tracks, "
        f"{study['audio']['shards']} shards, grid {study['grid']['variants']} x seeds {study['grid']['seeds']}, "
        f"{study['training']['epochs']} epochs\n"
    )
    print(f"{'rule':20s}{'jobs':>5s}{'total s':>10s}{'mean s':>9s}")
    for rule, rule_jobs in by_rule.items():
        seconds = [j.seconds for j in precise.get(rule, rule_jobs)]
        print(f"{rule:20s}{len(rule_jobs):5d}{sum(seconds):10.1f}{sum(seconds) / len(seconds):9.1f}")
    print(f"{'total':20s}{len(from_log):5d}{job_time:10.1f}")
    source = ".snakemake/metadata (sub-second)" if jobs is from_metadata else "the log (whole seconds)"
    print(f"\njob times from {source}; the log's whole-second times sum to {sum(j.seconds for j in from_log):.0f} s")
    print(f"wall time of the whole DAG:      {wall:8.1f} s")
    print(f"sum of the jobs' own times:      {job_time:8.1f} s   (parallelism {job_time / wall:.2f} jobs on average)")
    print(
        f"scheduler-only time (no job ran): {wall - busy:7.1f} s   "
        f"overhead ratio {(wall - busy) / wall:.1%} of the wall"
    )
    print(
        f"per-job start-up: interpreter + snakemake.script {light:.1f} s; with torch, transformers and "
        f"astgenre.training {heavy:.1f} s;\n  x {len(jobs)} jobs = {light * len(jobs):.0f} to "
        f"{heavy * len(jobs):.0f} s, "
        f"{light * len(jobs) / job_time:.0%} to {heavy * len(jobs) / job_time:.0%} of the job time"
    )
    train_jobs = sum(j.seconds for j in precise.get("train", []))
    if train_jobs:
        print(
            f"train jobs: the Trainer's own loop (train_summary.json train_seconds) is {train_loop:.1f} s of "
            f"{train_jobs:.1f} s ({train_loop / train_jobs:.0%})"
        )
    if args.keep:
        print(f"kept the run in {workdir}")


if __name__ == "__main__":
    main()
