# Features: AST log-mel filterbanks of the decoded audio, one job per shard.


rule features:
    input:
        audio=f"{RESULTS}/audio/shard{{shard}}",
    output:
        features=directory(f"{RESULTS}/features/shard{{shard}}"),
    log:
        f"{RESULTS}/logs/features/shard{{shard}}.log",
    conda:
        ENV
    resources:
        **rule_resources("features"),
    params:
        settings={k: CFG["features"][k] for k in ("num_mel_bins", "mean", "std")},
        device=CFG["features"]["device"],
        batch_size=CFG["features"]["batch_size"],
    script:
        "../scripts/features.py"
