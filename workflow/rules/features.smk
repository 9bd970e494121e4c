# Features: AST log-mel filterbanks of the decoded audio, one job per shard.


rule features:
    input:
        audio=audio_dir("{excerpt}", "{shard}"),
    output:
        features=directory(feature_dir("{excerpt}", "{shard}")),
    log:
        f"{RESULTS}/logs/features/{{excerpt}}/shard{{shard}}.log",
    conda:
        ENV
    resources:
        **rule_resources("features"),
    params:
        settings=FBANK,
        device=CFG["features"]["device"],
        batch_size=CFG["features"]["batch_size"],
    script:
        "../scripts/features.py"
