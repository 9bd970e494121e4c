# Protocols beyond the official split (astgenre.protocols): an assignment of roles (train, select, test) per fold,
# then the same train and evaluate steps as the official runs, on those roles.


rule protocol_assignment:
    input:
        index=f"{RESULTS}/index.tsv",
    output:
        assignment=f"{PROTOCOL}/assignment.tsv",
        folds=f"{PROTOCOL}/folds.tsv",
    log:
        f"{RESULTS}/logs/protocols/{{protocol}}.log",
    conda:
        ENV
    params:
        settings=lambda wildcards: CFG["protocols"][wildcards.protocol],
    script:
        "../scripts/protocol_assignment.py"


use rule train as train_protocol with:
    input:
        checkpoint_input,
        index=f"{RESULTS}/index.tsv",
        features=variant_features,
        decode_errors=variant_decode_errors,
        assignment=f"{PROTOCOL}/assignment.tsv",
    output:
        model=directory(f"{PROTOCOL_RUN}/{MODEL_DIR}"),
        history=f"{PROTOCOL_RUN}/{HISTORY_FILE}",
        summary=f"{PROTOCOL_RUN}/{TRAIN_SUMMARY_FILE}",
        tracks=f"{PROTOCOL_RUN}/{TRACKS_FILE}",
    log:
        f"{RESULTS}/logs/train/{{protocol}}/fold{{fold}}/{{variant}}/seed{{seed}}.log",
    params:
        checkpoint=checkpoint_name(),
        recipe=lambda wildcards: RECIPES[wildcards.variant].to_dict(),
        settings=FBANK,
        work_dir=lambda wildcards: f"{RESULTS}/checkpoints/{wildcards.protocol}/fold{wildcards.fold}/"
        f"{wildcards.variant}/seed{wildcards.seed}",


use rule evaluate as evaluate_protocol with:
    input:
        model=f"{PROTOCOL_RUN}/{MODEL_DIR}",
        index=f"{RESULTS}/index.tsv",
        features=variant_features,
        decode_errors=variant_decode_errors,
        assignment=f"{PROTOCOL}/assignment.tsv",
    output:
        **{f"predictions_{role}": f"{PROTOCOL_RUN}/{predictions_file(role)}" for role in EVALUATION_ROLES},
        **{f"metrics_{role}": f"{PROTOCOL_RUN}/{metrics_file(role)}" for role in EVALUATION_ROLES},
    log:
        f"{RESULTS}/logs/evaluate/{{protocol}}/fold{{fold}}/{{variant}}/seed{{seed}}.log",
    params:
        batch_size=CFG["training"]["eval_batch_size"],
        gpu_batch_size=CFG["training"]["eval_batch_size_gpu"],
        workers=CFG["training"]["dataloader_workers"],
        device=CFG["evaluation"]["device"],
        splits=EVALUATION_ROLES,


rule protocol_report:
    input:
        official=run_files(predictions_file("evaluation"), True),
        protocols=protocol_run_files(predictions_file("test"), True),
        code=REPORT_CODE,
    output:
        **{
            key: report(
                f"{RESULTS}/report/{name}", caption=f"../report/{name.split('.')[0]}.rst", category="Protocols"
            )
            for key, name in PROTOCOL_REPORT_FILES.items()
        },
    log:
        f"{RESULTS}/logs/protocol_report.log",
    conda:
        ENV
    params:
        official=[("official", 0, variant, seed) for variant, seed in RUNS + BASELINE_RUNS],
        protocols=PROTOCOL_RUNS + BASELINE_PROTOCOL_RUNS,
    script:
        "../scripts/protocol_report.py"
