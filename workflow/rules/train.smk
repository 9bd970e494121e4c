# Training: one fine-tuning job per (variant, seed); model selection on the development split only.
# With training.report_to: tensorboard, the job also writes runs/<variant>/seed<seed>/tensorboard/, on purpose not an
# output: Snakemake empties a job's outputs before it runs, which would erase the log of a resumed run's first epochs.


rule create_checkpoint:
    output:
        directory(f"{RESULTS}/checkpoint"),
    log:
        f"{RESULTS}/logs/create_checkpoint.log",
    conda:
        ENV
    params:
        ast=CFG["model"]["create"],
        settings=FBANK,
    script:
        "../scripts/create_checkpoint.py"


rule train:
    input:
        checkpoint_input,
        index=f"{RESULTS}/index.tsv",
        features=variant_features,
        # The only tracks allowed to lack features: load_split refuses any other gap.
        decode_errors=variant_decode_errors,
    output:
        model=directory(f"{RUN}/{MODEL_DIR}"),
        history=f"{RUN}/{HISTORY_FILE}",
        summary=f"{RUN}/{TRAIN_SUMMARY_FILE}",
        tracks=f"{RUN}/{TRACKS_FILE}",
    log:
        f"{RESULTS}/logs/train/{{variant}}/seed{{seed}}.log",
    conda:
        ENV
    threads: CFG["training"]["threads"]
    resources:
        **rule_resources("train", gpu=1, runtime=240, mem_mb=32000),
    params:
        checkpoint=checkpoint_name(),
        recipe=lambda wildcards: RECIPES[wildcards.variant].to_dict(),
        settings=FBANK,
        work_dir=lambda wildcards: f"{RESULTS}/checkpoints/{wildcards.variant}/seed{wildcards.seed}",
    script:
        "../scripts/train.py"
