"""The README and the documentation cannot rot: their commands parse and dry-run, their config keys exist in the
schema, their links point to files (and headings) that exist.

Read from every page: fenced shell blocks (commands as written, one per line), fenced YAML blocks headed
`# <name>.yaml` (config overlays), and in the prose, inline code that names a command (`snakemake ...`,
`astgenre ...`) or a config key (`training.epochs`, `resources.<rule>.gpu`, `audio.on_error: skip`).
"""

import argparse
import contextlib
import functools
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from astgenre.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PAGES = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "benchmarks" / "README.md",
    REPO / "DEVELOPERS.md",
]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
FENCE = re.compile(r"^[ \t]*```([^\n`]*)\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
SHELL = {"", "bash", "sh", "shell", "console"}
# Options that change neither the workflow's configuration nor what it builds: commands using only these (and
# targets) are dry-run; the others (--report, --lint, --delete-all-output, ...) are parsed only.
DRY_RUN_OPTIONS = {
    "--cores",
    "-c",
    "--jobs",
    "-j",
    "--resources",
    "--res",
    "--printshellcmds",
    "-p",
    "--forcerun",
    "-R",
}
CONTEXT_OPTIONS = {"--config", "-C", "--configfile", "--configfiles", "--profile"}
FILE_SUFFIXES = {
    "py",
    "md",
    "csv",
    "tsv",
    "json",
    "yaml",
    "png",
    "pdf",
    "svg",
    "html",
    "tex",
    "npy",
    "zip",
    "safetensors",
}

spec = importlib.util.spec_from_file_location("tasks", REPO / "tasks.py")
tasks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tasks)


def name(page: Path) -> str:
    return str(page.relative_to(REPO))


def fenced(page: Path) -> list[tuple[str, str]]:
    """(language, body) of each fenced code block, indentation removed."""
    blocks = []
    for language, body in FENCE.findall(page.read_text()):
        lines = body.split("\n")
        indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
        blocks.append((language.strip().lower(), "\n".join(line[indent:] for line in lines)))
    return blocks


def prose(page: Path) -> str:
    return FENCE.sub("", page.read_text())


def inline_code(page: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose(page))


def split(line: str) -> list[str]:
    """A shell line's words, comments dropped, a leading `$ ` prompt and VAR=value assignments skipped."""
    words = shlex.split(line.removeprefix("$ "), comments=True)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words.pop(0)
    return words


def commands(program: str, inline: bool = True) -> list[tuple[str, tuple[str, ...]]]:
    """(page, words) of every command line starting with `program` (e.g. 'snakemake', 'python3 tasks.py')."""
    head = program.split()
    found = []
    for page in PAGES:
        lines = [
            line
            for language, body in fenced(page)
            if language in SHELL
            for line in body.replace("\\\n", " ").split("\n")
        ]
        if inline:
            lines += [code for code in inline_code(page) if code.startswith(program + " ")]
        for line in lines:
            try:
                words = split(line)
            except ValueError:  # unbalanced quotes: a command written so still shows up, and then fails to parse
                words = line.split()
            if words[: len(head)] == head:
                found.append((name(page), tuple(words[len(head) :])))
    return found


def parse_error(parser: argparse.ArgumentParser, words) -> str | None:
    """argparse's complaint about these words, or None when they parse."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(list(words))
    except SystemExit as stop:
        if stop.code:
            return stderr.getvalue().strip().split("\n")[-1]
    except Exception as error:  # snakemake's option types raise, e.g. a target swallowed by --resources
        return f"{type(error).__name__}: {error}"
    return None


def snakemake_parser() -> argparse.ArgumentParser:
    from snakemake.cli import get_argument_parser

    return get_argument_parser()


def test_the_pages_show_the_commands_this_test_reads():
    """Guards the parsing itself: a regex that silently finds nothing would pass every other test."""
    readme = {words for page, words in commands("snakemake") if page == "README.md"}
    assert ("--cores", "all", "--resources", "gpu=1") in readme
    assert {words[0] for _, words in commands("python3 tasks.py", inline=False)} == {"demo", "test"}
    assert any(words[0] == "predict" for _, words in commands("astgenre", inline=False))
    assert "cluster.yaml" in overlays() and "local.yaml" in overlays()


def test_every_tasks_command_exists():
    bad = [
        f"{page}: python3 tasks.py {shlex.join(words)}"
        for page, words in commands("python3 tasks.py")
        if not words or words[0] not in tasks.TASKS
    ]
    assert not bad, f"tasks.py has only {', '.join(tasks.TASKS)}:\n" + "\n".join(bad)


def test_every_snakemake_command_parses():
    parser = snakemake_parser()
    bad = []
    for page, words in dict.fromkeys(commands("snakemake")):
        if error := parse_error(parser, words):
            bad.append(f"{page}: snakemake {shlex.join(words)}\n    {error}")
    assert not bad, "\n".join(bad)


def overlays() -> dict[str, str]:
    """The config overlay files the pages show: fenced YAML blocks whose first line is `# <name>.yaml`."""
    found = {}
    for page in PAGES:
        for language, body in fenced(page):
            if language == "yaml" and (match := re.match(r"# (\S+\.yaml)\n", body)):
                found[match[1]] = body
    return found


@functools.cache
def dry_run_groups() -> dict[tuple[str, ...], dict]:
    """The fenced snakemake commands that build a DAG, grouped by their configuration (--profile, --configfile,
    --config): one dry run per group, with every target and --forcerun of the group's commands."""
    parser = snakemake_parser()
    groups = defaultdict(lambda: {"targets": set(), "forcerun": set(), "commands": []})
    for page, words in dict.fromkeys(commands("snakemake", inline=False)):
        options = {word.split("=")[0] for word in words if word.startswith("-")}
        if not options <= DRY_RUN_OPTIONS | CONTEXT_OPTIONS:
            continue
        args = parser.parse_args(list(words))
        context = (
            *(item for profile in args.profile or () for item in ("--profile", str(profile))),
            *(item for configfile in args.configfile or () for item in ("--configfile", str(configfile))),
            *(("--config", *args.config) if args.config else ()),
        )
        group = groups[context]
        group["targets"] |= set(args.targets)
        group["forcerun"] |= set(args.forcerun or ())
        group["commands"].append(f"{page}: snakemake {shlex.join(words)}")
    return groups


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    """The workflow in a fresh folder (no results/), with the pages' overlay files beside it."""
    work = tmp_path_factory.mktemp("docs")
    for file in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / file, work / file)
    for folder in ("workflow", "profiles"):
        shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for file, body in overlays().items():
        (work / file).write_text(body)
    return work


@pytest.mark.parametrize("context", sorted(dry_run_groups()), ids=lambda context: " ".join(context) or "defaults")
def test_every_snakemake_command_dry_runs(context, workflow_copy):
    group = dry_run_groups()[context]
    forcerun = ["--forcerun", *sorted(group["forcerun"])] if group["forcerun"] else []
    command = [*context, *forcerun]
    proc = subprocess.run(
        # targets first: --quiet, --config and --forcerun take every word after them
        [sys.executable, "-m", "snakemake", *sorted(group["targets"]), "--dry-run", "--quiet", "rules", *command],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        "the dry run of these documented commands failed:\n  "
        + "\n  ".join(group["commands"])
        + f"\n(as: snakemake {shlex.join([*sorted(group['targets']), '--dry-run', *command])})\n"
        + (proc.stdout + proc.stderr)[-3000:]
    )


def test_every_astgenre_command_parses():
    """Fenced command lines must parse as written; inline code must name a subcommand and options it has."""
    parser = build_parser()
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    bad = []
    for page, words in dict.fromkeys(commands("astgenre", inline=False)):
        if error := parse_error(parser, words):
            bad.append(f"{page}: astgenre {shlex.join(words)}\n    {error}")
    for page, words in dict.fromkeys(commands("astgenre")):
        sub = subcommands.choices.get(words[0]) if words else None
        if sub is None:
            bad.append(f"{page}: astgenre {shlex.join(words)}\n    no such subcommand")
            continue
        known = {option for action in sub._actions for option in action.option_strings}
        if unknown := [word for word in words if word.startswith("-") and word.split("=")[0] not in known]:
            bad.append(f"{page}: astgenre {shlex.join(words)}\n    unknown options: {', '.join(unknown)}")
    assert not bad, "\n".join(bad)


def test_the_astgenre_console_script_answers_help_for_every_documented_subcommand():
    script = shutil.which("astgenre", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the astgenre console script is not installed in this environment (pip install -e .)")
    for sub in sorted({words[0] for _, words in commands("astgenre") if words}):
        proc = subprocess.run([script, sub, "--help"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and f"usage: astgenre {sub}" in proc.stdout, proc.stdout + proc.stderr


def resolve(schema: dict, parts: list[str]) -> bool:
    """Whether the key path `parts` (`<name>` matching any key) exists in the JSON schema."""
    if not parts:
        return True
    if "$ref" in schema:
        target = SCHEMA
        for step in schema["$ref"].removeprefix("#/").split("/"):
            target = target[step]
        return resolve({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, parts)
    branches = [branch for key in ("allOf", "anyOf", "oneOf") for branch in schema.get(key, ())]
    if any(resolve(branch, parts) for branch in branches):
        return True
    head, rest = parts[0], parts[1:]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if re.fullmatch(r"<\w+>", head):
        candidates = [*properties.values(), *([extra] if isinstance(extra, dict) else [])]
    else:
        candidates = [properties[head]] if head in properties else [extra] if isinstance(extra, dict) else []
    return any(resolve(candidate, rest) for candidate in candidates)


def documented_keys() -> list[tuple[str, str]]:
    """(page, dotted key) of every config key the pages name."""
    top = "|".join(SCHEMA["properties"])
    key = rf"(?:{top})(?:\.(?:<\w+>|\w+))+(?:/\w+)*"
    found = []
    for page in PAGES:
        for code in inline_code(page):
            if not (match := re.fullmatch(rf"({key})(?::\s.*)?", code)):
                continue
            path = match[1]
            if path.rsplit(".", 1)[-1] in FILE_SUFFIXES:
                continue  # a file name such as model.safetensors or variants.png
            stem, _, last = path.rpartition(".")
            found += [(name(page), f"{stem}.{alternative}") for alternative in last.split("/")]
        # `training.batch_size` / `grad_accum`: the second key shares the first one's parent
        for parent, second in re.findall(rf"`({key})\.\w+` / `(\w+)`", prose(page)):
            found.append((name(page), f"{parent}.{second}"))
        for language, body in fenced(page):
            if language == "yaml" and re.match(r"# \S+\.yaml\n", body):
                found += [(name(page), path) for path in leaf_keys(yaml.safe_load(body))]
    return found


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        paths += leaf_keys(value, path + ".") if isinstance(value, dict) and value else [path]
    return paths


def test_every_documented_config_key_exists_in_the_schema():
    keys = documented_keys()
    assert ("README.md", "training.epochs") in keys or any(key == "training.epochs" for _, key in keys)
    bad = sorted({f"{page}: {key}" for page, key in keys if not resolve(SCHEMA, key.split("."))})
    assert not bad, "config keys not in workflow/schemas/config.schema.yaml:\n" + "\n".join(bad)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower()).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen, found = defaultdict(int), set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(page), re.MULTILINE):
        base = slug(heading)
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def test_every_relative_link_resolves():
    bad = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose(page)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                bad.append(f"{name(page)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                bad.append(f"{name(page)}: {target} (no heading with anchor #{anchor} in {linked.name})")
    assert not bad, "\n".join(bad)
