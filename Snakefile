# astgenre: fine-tuning the Audio Spectrogram Transformer on ISMIR2004, as a Snakemake workflow.
# Data flow: archive -> index -> audio -> features -> runs -> predictions -> report -> paper.
from snakemake.utils import min_version

from astgenre.config import preset_file

min_version("8.0")


configfile: "config.yaml"


# The study's preset (workflow/presets/<study>.yaml) over config.yaml; --configfile/--config values stay on top.
if preset := preset_file(config["study"], workflow.basedir):

    configfile: preset


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/protocols.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/export.smk"


# Now that every rule is defined: config `resources.<rule>` may only name rules that read it.
validate_resources()


rule all:
    default_target: True
    input:
        all_outputs(),
