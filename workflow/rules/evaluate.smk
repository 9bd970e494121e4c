# Evaluation: track-level predictions of each run on the development and the held-out evaluation split.


rule evaluate:
    input:
        model=f"{RUN}/{MODEL_DIR}",
        index=f"{RESULTS}/index.tsv",
        features=variant_features,
        # The only tracks allowed to lack features: load_split refuses any other gap.
        decode_errors=variant_decode_errors,
    output:
        **{f"predictions_{split}": f"{RUN}/{predictions_file(split)}" for split in EVALUATION_SPLITS},
        **{f"metrics_{split}": f"{RUN}/{metrics_file(split)}" for split in EVALUATION_SPLITS},
    log:
        f"{RESULTS}/logs/evaluate/{{variant}}/seed{{seed}}.log",
    conda:
        ENV
    threads: CFG["training"]["threads"]
    resources:
        **rule_resources("evaluate", gpu=1, runtime=60, mem_mb=16000),
    params:
        batch_size=CFG["training"]["eval_batch_size"],
        gpu_batch_size=CFG["training"]["eval_batch_size_gpu"],
        workers=CFG["training"]["dataloader_workers"],
        device=CFG["evaluation"]["device"],
        splits=EVALUATION_SPLITS,
    script:
        "../scripts/evaluate.py"
