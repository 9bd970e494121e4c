# Evaluation: track-level predictions of each run on the development and the held-out evaluation split.


rule evaluate:
    input:
        model=f"{RESULTS}/runs/{{variant}}/seed{{seed}}/model",
        index=f"{RESULTS}/index.tsv",
        features=expand(f"{RESULTS}/features/shard{{shard}}", shard=SHARDS),
        # The only tracks allowed to lack features: load_split refuses any other gap.
        decode_errors=rules.decode_errors.output[0],
    output:
        predictions_development=f"{RESULTS}/runs/{{variant}}/seed{{seed}}/predictions_development.tsv",
        metrics_development=f"{RESULTS}/runs/{{variant}}/seed{{seed}}/metrics_development.json",
        predictions_evaluation=f"{RESULTS}/runs/{{variant}}/seed{{seed}}/predictions_evaluation.tsv",
        metrics_evaluation=f"{RESULTS}/runs/{{variant}}/seed{{seed}}/metrics_evaluation.json",
    log:
        f"{RESULTS}/logs/evaluate/{{variant}}/seed{{seed}}.log",
    conda:
        ENV
    threads: CFG["training"]["threads"]
    resources:
        **rule_resources("evaluate", gpu=1, runtime=60, mem_mb=16000),
    params:
        batch_size=CFG["training"]["eval_batch_size"],
        device="auto",
    script:
        "../scripts/evaluate.py"
