# Baselines (astgenre.baselines): per-track features in shards like the AST features, then one fit per baseline and
# protocol fold, choosing hyperparameters on the selection tracks; predictions in the AST runs' files (seed 0).


rule mfcc_features:
    input:
        audio=audio_dir(BASELINE_EXCERPT, "{shard}"),
    output:
        f"{RESULTS}/baselines/mfcc_svm/shard{{shard}}.tsv",
    log:
        f"{RESULTS}/logs/baselines/mfcc_svm/shard{{shard}}.log",
    conda:
        ENV
    resources:
        **rule_resources("mfcc_features"),
    script:
        "../scripts/mfcc_features.py"


rule probe_embeddings:
    input:
        checkpoint_input,
        features=feature_dir(BASELINE_EXCERPT, "{shard}"),
    output:
        f"{RESULTS}/baselines/linear_probe/shard{{shard}}.tsv",
    log:
        f"{RESULTS}/logs/baselines/linear_probe/shard{{shard}}.log",
    conda:
        ENV
    threads: CFG["training"]["threads"]
    resources:
        **rule_resources("probe_embeddings", gpu=1, runtime=60, mem_mb=16000),
    params:
        checkpoint=checkpoint_name(),
        hop=CFG["training"]["eval_hop_frames"],
        settings=FBANK,
        batch_size=CFG["training"]["eval_batch_size"],
        device=CFG["evaluation"]["device"],
    script:
        "../scripts/probe_embeddings.py"


rule baseline:
    input:
        tables=baseline_tables,
        index=f"{RESULTS}/index.tsv",
    output:
        **{f"predictions_{split}": f"{BASELINE_RUN}/{predictions_file(split)}" for split in EVALUATION_SPLITS},
        **{f"metrics_{split}": f"{BASELINE_RUN}/{metrics_file(split)}" for split in EVALUATION_SPLITS},
        history=f"{BASELINE_RUN}/{HISTORY_FILE}",
        summary=f"{BASELINE_RUN}/{TRAIN_SUMMARY_FILE}",
        tracks=f"{BASELINE_RUN}/{TRACKS_FILE}",
        selection=f"{BASELINE_RUN}/{SELECTION_FILE}",
    log:
        f"{RESULTS}/logs/baselines/{{baseline}}.log",
    conda:
        ENV
    resources:
        **rule_resources("baseline"),
    params:
        select_metric=CFG["training"]["select_metric"],
        sets=EVALUATION_SPLITS,
    script:
        "../scripts/baseline.py"


use rule baseline as baseline_protocol with:
    input:
        tables=baseline_tables,
        index=f"{RESULTS}/index.tsv",
        assignment=f"{PROTOCOL}/assignment.tsv",
    output:
        **{f"predictions_{role}": f"{BASELINE_PROTOCOL_RUN}/{predictions_file(role)}" for role in EVALUATION_ROLES},
        **{f"metrics_{role}": f"{BASELINE_PROTOCOL_RUN}/{metrics_file(role)}" for role in EVALUATION_ROLES},
        tracks=f"{BASELINE_PROTOCOL_RUN}/{TRACKS_FILE}",
        selection=f"{BASELINE_PROTOCOL_RUN}/{SELECTION_FILE}",
    log:
        f"{RESULTS}/logs/baselines/{{protocol}}/fold{{fold}}/{{baseline}}.log",
    params:
        select_metric=CFG["training"]["select_metric"],
        sets=EVALUATION_ROLES,
