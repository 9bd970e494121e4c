# Export: the best run of the study (by the development metric selection.metric; never the evaluation split) as a ready-to-use model,
# so that `astgenre predict --model results/<study>/best_model FILES...` works.


rule export_best_model:
    input:
        models=run_files(MODEL_DIR),
        metrics=run_files(metrics_file("development")),
    output:
        directory(f"{RESULTS}/best_model"),
    log:
        f"{RESULTS}/logs/export_best_model.log",
    conda:
        ENV
    threads: 1
    resources:
        **rule_resources("export_best_model", runtime=10, mem_mb=1000),
    params:
        metric=CFG["selection"]["metric"],
    script:
        "../scripts/export_best_model.py"
