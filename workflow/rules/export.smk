# Export: the best run of the study (by the development selection.metric; never the evaluation split) as a ready-to-use model, so
# that `astgenre predict --model results/<study>/best_model FILES...` and transformers' pipeline("audio-classification")
# load it, with a model card; and a model card beside every run's model. The cards' numbers come from the report's
# table code over the run files (not from the report job): redrawing figures reruns neither.


rule export_best_model:
    input:
        **{name: run_files(file_name) for name, file_name in RUN_RESULT_FILES.items()},
        models=run_files(MODEL_DIR),
        index_summary=f"{RESULTS}/index_summary.json",
        code=CARD_CODE,
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
        variants=[variant for variant, _ in RUNS],
        seeds=[seed for _, seed in RUNS],
        study=STUDY,
        dataset_url=CFG["dataset"]["url"],
        excerpts=variant_excerpts(VARIANTS),
    script:
        "../scripts/export_best_model.py"


rule run_card:
    input:
        **{name: run_pattern(file_name) for name, file_name in RUN_RESULT_FILES.items()},
        model=run_pattern(MODEL_DIR),
        index_summary=f"{RESULTS}/index_summary.json",
        code=CARD_CODE,
    output:
        run_pattern(CARD),
    log:
        f"{RESULTS}/logs/run_card/{{variant}}/seed{{seed}}.log",
    conda:
        ENV
    threads: 1
    resources:
        **rule_resources("run_card", runtime=10, mem_mb=1000),
    params:
        study=STUDY,
        dataset_url=CFG["dataset"]["url"],
        excerpts=lambda wildcards: variant_excerpts([wildcards.variant]),
    script:
        "../scripts/run_card.py"
