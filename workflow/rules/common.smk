# Configuration (validated before any job runs), paths and input functions shared by all rules.
import re
from pathlib import Path

from astgenre.config import excerpt_key, load_study, study_excerpts, variant_excerpt, variant_training
import astgenre
import astgenre.report
from astgenre.report import REPORT_CAPTIONS, REPORT_FILES

CFG = load_study(
    config,
    defaults_path=Path(workflow.basedir) / "config.yaml",
    schema_path=Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
    overrides=workflow.config_settings.overwrite_config,
)
STUDY = CFG["study"]
RESULTS = f"results/{STUDY}"
SHARDS = list(range(CFG["audio"]["shards"]))
VARIANTS = CFG["grid"]["variants"]
SEEDS = CFG["grid"]["seeds"]
RUNS = [(variant, seed) for variant in VARIANTS for seed in SEEDS]
# Every distinct excerpt {start, duration} the variants need, by folder name: decoded and featurised once each.
EXCERPTS = study_excerpts(CFG)
EVAL_SPLITS = ["development", "evaluation"]
ENV = "../envs/astgenre.yaml"
REPORT_CATEGORIES = {"csv": "Tables", "md": "Tables", "png": "Figures"}
# The report package's own modules are inputs of the report rule: editing plotting code reruns the report alone.
REPORT_CODE = sorted(str(path) for path in Path(astgenre.report.__file__).parent.glob("*.py"))
# The model cards' code: their module and the report's table code they share, not its plotting code. Editing it reruns
# the cards (and the export that holds one), nothing upstream; editing plotting code still reruns the report alone.
CARD_CODE = sorted(
    [str(Path(astgenre.__file__).parent / "model_card.py"), *(p for p in REPORT_CODE if Path(p).name != "figures.py")]
)
# The files of a run that the report and the model cards read, by the report's name for them (PATH_COLUMNS).
RUN_RESULT_FILES = {
    "predictions_development": "predictions_development.tsv",
    "predictions_evaluation": "predictions_evaluation.tsv",
    "metrics_development": "metrics_development.json",
    "metrics_evaluation": "metrics_evaluation.json",
    "history": "history.tsv",
    "train_summary": "train_summary.json",
}


wildcard_constraints:
    shard=r"\d+",
    seed=r"\d+",
    variant="|".join(VARIANTS),
    excerpt="|".join(re.escape(key) for key in EXCERPTS),


def run_dir(variant, seed):
    return f"{RESULTS}/runs/{variant}/seed{seed}"


def audio_dir(excerpt, shard):
    return f"{RESULTS}/audio/{excerpt}/shard{shard}"


def feature_dir(excerpt, shard):
    return f"{RESULTS}/features/{excerpt}/shard{shard}"


def variant_features(wildcards):
    """The feature shards of the excerpt the run's variant decodes."""
    excerpt = excerpt_key(variant_excerpt(CFG, wildcards.variant))
    return [feature_dir(excerpt, shard) for shard in SHARDS]


def run_pattern(name):
    """A file of the run {variant}/seed{seed}, with the wildcards left in (e.g. run_pattern('README.md'))."""
    return f"{RESULTS}/runs/{{variant}}/seed{{seed}}/{name}"


def variant_excerpts(variants):
    """The excerpt {start, duration} each variant decodes, by variant (what the model cards say of the input)."""
    return {variant: variant_excerpt(CFG, variant) for variant in variants}


def run_files(name):
    """One path per run of the grid, in RUNS order (e.g. run_files('history.tsv'))."""
    return [f"{run_dir(variant, seed)}/{name}" for variant, seed in RUNS]


def archive_source(wildcards):
    """The generated demo archive and its checksum, when the study generates its corpus."""
    if CFG["dataset"]["url"] == "generated":
        return {
            "source": f"{RESULTS}/source/ismir04_genre.zip",
            "source_md5": f"{RESULTS}/source/ismir04_genre.zip.md5",
        }
    return {}


def archive_url():
    url = CFG["dataset"]["url"]
    if url == "generated":
        return (Path(RESULTS) / "source" / "ismir04_genre.zip").resolve().as_uri()
    return url


def checkpoint_input(wildcards):
    """The locally created checkpoint (demo), or nothing when the checkpoint comes from the hub."""
    return [f"{RESULTS}/checkpoint"] if CFG["model"].get("create") else []


def checkpoint_name():
    return f"{RESULTS}/checkpoint" if CFG["model"].get("create") else CFG["model"]["checkpoint"]


def rule_resources(rule_name, **defaults):
    """Resources of a rule: config `resources.<rule>` over the defaults given here; `partition` becomes the SLURM
    executor's `slurm_partition` (local runs ignore it)."""
    settings = {**defaults, **CFG["resources"].get(rule_name, {})}
    partition = settings.pop("partition", None)
    if partition:
        settings["slurm_partition"] = partition
    return settings


def all_outputs():
    return [
        f"{RESULTS}/index.tsv",
        f"{RESULTS}/decode_errors.tsv",
        *report_outputs(),
        *run_files("README.md"),
        f"{RESULTS}/best_model",
    ]


def report_outputs():
    return [f"{RESULTS}/report/{name}" for name in REPORT_FILES.values()]
