# Configuration (validated before any job runs), paths and input functions shared by all rules.
import re
from pathlib import Path

from astgenre.config import (
    SCHEMA,
    baseline_excerpt,
    check_resource_rules,
    excerpt_key,
    load_study,
    protocol_runs,
    study_excerpts,
    study_variants,
    variant_excerpt,
    variant_training,
)
import astgenre
import astgenre.report
from astgenre.contracts import (
    BASELINE_NAMES,
    CARD,
    EVALUATION_ROLES,
    EVALUATION_SPLITS,
    HISTORY_FILE,
    MODEL_DIR,
    RUN_DIR,
    TRACKS_FILE,
    SELECTION_FILE,
    TRAIN_SUMMARY_FILE,
    metrics_file,
    predictions_file,
)
from astgenre.recipe import Recipe
from astgenre.report import BASELINE_VARIANT, PAPER_DIR, REPLICA_VARIANT, REPORT_CAPTIONS, REPORT_FILES
from astgenre.report.numbers import CSV_FILES
from astgenre.report.paper import PAPER_FIGURES, bundle_files, paper_files
from astgenre.report.protocols import PROTOCOL_REPORT_FILES

CFG = load_study(config, schema_path=Path(workflow.basedir) / SCHEMA)
STUDY = CFG["study"]
RESULTS = f"results/{STUDY}"
SHARDS = list(range(CFG["audio"]["shards"]))
VARIANTS = CFG["grid"]["variants"]
SEEDS = CFG["grid"]["seeds"]
RUNS = [(variant, seed) for variant in VARIANTS for seed in SEEDS]
# Runs of the protocols beyond the official split: (protocol, fold, variant, seed).
PROTOCOL_RUNS = protocol_runs(CFG)
PROTOCOLS = list(dict.fromkeys(protocol for protocol, *_ in PROTOCOL_RUNS))
# Every distinct excerpt {start, duration} the variants need, by folder name: decoded and featurised once each.
EXCERPTS = study_excerpts(CFG)
# Baselines (astgenre.baselines), run once each (seed 0) on the study's excerpt, under every protocol.
BASELINES = CFG.get("baselines") or []
BASELINE_EXCERPT = excerpt_key(baseline_excerpt(CFG))
BASELINE_RUNS = [(baseline, 0) for baseline in BASELINES]
BASELINE_PROTOCOL_RUNS = [
    (protocol, fold, baseline, 0)
    for protocol, fold in dict.fromkeys((protocol, fold) for protocol, fold, *_ in PROTOCOL_RUNS)
    for baseline in BASELINES
]
# A run's folder (variant and seed wildcards); file names inside it come from astgenre.contracts.
RUN = f"{RESULTS}/{RUN_DIR}"
# A protocol's folder (its assignment), and a protocol run's folder (protocol, fold, variant and seed wildcards).
PROTOCOL = f"{RESULTS}/protocols/{{protocol}}"
PROTOCOL_RUN = f"{PROTOCOL}/fold{{fold}}/{{variant}}/seed{{seed}}"
# A baseline's run folders: like an AST run's, seed 0.
BASELINE_RUN = f"{RESULTS}/runs/{{baseline}}/seed0"
BASELINE_PROTOCOL_RUN = f"{PROTOCOL}/fold{{fold}}/{{baseline}}/seed0"
# Each variant's typed recipe, built and checked once here: a bad recipe stops the workflow before any job.
RECIPES = {variant: Recipe.from_mapping(variant_training(CFG, variant)) for variant in study_variants(CFG)}
# The filterbank settings every feature, checkpoint and model shares.
FBANK = {key: CFG["features"][key] for key in ("num_mel_bins", "mean", "std")}
# The published ISMIR2004 results the report's literature table shows (workflow/report/, astgenre.report.literature).
LITERATURE_FILE = "literature_ismir2004.csv"
# Formats of the paper figures (the report's own PNGs are always drawn).
FORMATS = CFG["report"]["formats"]
ENV = "../envs/astgenre.yaml"
REPORT_CATEGORIES = {"csv": "Tables", "md": "Tables", "png": "Figures"}
# The report package's own modules are inputs of the report rule: editing plotting code reruns the report alone.
REPORT_CODE = sorted(str(path) for path in Path(astgenre.report.__file__).parent.glob("*.py"))
# The model cards' code: the card writer and the report's table code (not its figures).
CARD_CODE = sorted(
    [str(Path(astgenre.__file__).parent / "model_card.py"), *(p for p in REPORT_CODE if Path(p).name != "figures.py")]
)
# The files of a run that the report and the model cards read, by the report's name for them (PATH_COLUMNS).
RUN_RESULT_FILES = {
    **{f"predictions_{split}": predictions_file(split) for split in EVALUATION_SPLITS},
    **{f"metrics_{split}": metrics_file(split) for split in EVALUATION_SPLITS},
    "history": HISTORY_FILE,
    "train_summary": TRAIN_SUMMARY_FILE,
}


wildcard_constraints:
    shard=r"\d+",
    seed=r"\d+",
    variant="|".join(study_variants(CFG)),
    protocol="|".join(PROTOCOLS) or "official",
    fold=r"\d+",
    excerpt="|".join(re.escape(key) for key in EXCERPTS),
    baseline="|".join(BASELINE_NAMES),


def run_dir(variant, seed):
    return RUN.format(variant=variant, seed=seed)


def audio_dir(excerpt, shard):
    return f"{RESULTS}/audio/{excerpt}/shard{shard}"


def feature_dir(excerpt, shard):
    return f"{RESULTS}/features/{excerpt}/shard{shard}"


def variant_features(wildcards):
    """The feature shards of the excerpt the run's variant decodes."""
    excerpt = excerpt_key(variant_excerpt(CFG, wildcards.variant))
    return [feature_dir(excerpt, shard) for shard in SHARDS]


def protocol_run_files(name, baselines=False):
    """One path per protocol run, in PROTOCOL_RUNS order; with baselines, BASELINE_PROTOCOL_RUNS follow."""
    runs = PROTOCOL_RUNS + (BASELINE_PROTOCOL_RUNS if baselines else [])
    return [
        f"{PROTOCOL_RUN.format(protocol=protocol, fold=fold, variant=variant, seed=seed)}/{name}"
        for protocol, fold, variant, seed in runs
    ]


def baseline_tables(wildcards):
    """The per-shard feature tables of a baseline."""
    return [f"{RESULTS}/baselines/{wildcards.baseline}/shard{shard}.tsv" for shard in SHARDS]


def variant_decode_errors(wildcards):
    """The decode errors of the excerpt the run's variant decodes: the only tracks allowed to lack its features."""
    return f"{RESULTS}/audio/{excerpt_key(variant_excerpt(CFG, wildcards.variant))}/decode_errors.tsv"


def run_files(name, baselines=False):
    """One path per run of the grid, in RUNS order (e.g. run_files(HISTORY_FILE)); with baselines, the baselines'
    runs (BASELINE_RUNS) follow."""
    runs = RUNS + (BASELINE_RUNS if baselines else [])
    return [f"{run_dir(variant, seed)}/{name}" for variant, seed in runs]


def run_pattern(name):
    """A file of the run {variant}/seed{seed}, with the wildcards left in (e.g. run_pattern(CARD))."""
    return f"{RUN}/{name}"


def variant_excerpts(variants):
    """The excerpt {start, duration} each variant decodes, by variant (what the model cards say of the input)."""
    return {variant: variant_excerpt(CFG, variant) for variant in variants}


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


# Rules that take their resources from config `resources.<rule>`: those calling rule_resources (checked once all
# rules are defined, by validate_resources).
RESOURCE_RULES = set()


def rule_resources(rule_name, **defaults):
    """Resources of a rule: config `resources.<rule>` over the defaults given here; `partition` becomes the SLURM
    executor's `slurm_partition` (local runs ignore it)."""
    RESOURCE_RULES.add(rule_name)
    settings = {**defaults, **CFG["resources"].get(rule_name, {})}
    partition = settings.pop("partition", None)
    if partition:
        settings["slurm_partition"] = partition
    return settings


def validate_resources():
    """Every `resources.<rule>` of the config names a rule that reads it (a typo such as `trian` is an error).

    Called from the Snakefile after the rule files are included, so that the rule names are known.
    """
    undefined = RESOURCE_RULES - {rule.name for rule in workflow.rules}
    if undefined:
        raise ValueError(f"rule_resources() was called with {sorted(undefined)}, which name no rule of the workflow")
    check_resource_rules(CFG["resources"], RESOURCE_RULES)


def all_outputs():
    return [
        f"{RESULTS}/index.tsv",
        f"{RESULTS}/decode_errors.tsv",
        *report_outputs(),
        *protocol_report_outputs(),
        *paper_outputs().values(),
        *run_files(CARD),
        f"{RESULTS}/best_model",
    ]


def protocol_report_outputs():
    """The protocol report, when the study runs protocols beyond the official split."""
    return [f"{RESULTS}/report/{name}" for name in PROTOCOL_REPORT_FILES.values()] if PROTOCOL_RUNS else []


def protocol_table_input():
    """The protocol report's table, which the report's literature table shows, when the study runs protocols."""
    return {"protocols": f"{RESULTS}/report/{PROTOCOL_REPORT_FILES['protocols_csv']}"} if PROTOCOL_RUNS else {}


def report_outputs():
    return [f"{RESULTS}/report/{name}" for name in REPORT_FILES.values()]


def report_paper_outputs():
    """The paper versions of the report's figures and tables (output name -> path), drawn by the report rule."""
    return {name: f"{RESULTS}/report/{PAPER_DIR}/{relative}" for name, relative in paper_files(FORMATS).items()}


def report_tables():
    """The report's CSV files numbers.tex is read from."""
    return [f"{RESULTS}/report/{name}" for name in CSV_FILES]


def figure_captions():
    """The HTML report's caption of each paper figure, in PAPER_FIGURES order (preview.tex uses them)."""
    return [workflow.source_path(f"../report/{REPORT_CAPTIONS[name]}") for name in PAPER_FIGURES]


def paper_outputs():
    """The paper bundle (output name -> path): figures, tables, numbers.tex and preview.tex."""
    return {name: f"{RESULTS}/paper/{relative}" for name, relative in bundle_files(FORMATS).items()}
