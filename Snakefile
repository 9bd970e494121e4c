# astgenre: fine-tuning the Audio Spectrogram Transformer on ISMIR2004, as a Snakemake workflow.
# Data flow: archive -> index -> audio -> features -> runs -> predictions -> report -> paper.
from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/export.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
