# Report: tables and figures over all runs, and their paper versions in report/paper/; rerun alone with
# `--forcerun report`.
rule report:
    input:
        **{f"predictions_{split}": run_files(predictions_file(split), True) for split in EVALUATION_SPLITS},
        **{f"metrics_{split}": run_files(metrics_file(split), True) for split in EVALUATION_SPLITS},
        **protocol_table_input(),
        history=run_files(HISTORY_FILE, True),
        train_summary=run_files(TRAIN_SUMMARY_FILE, True),
        index_summary=f"{RESULTS}/index_summary.json",
        literature=workflow.source_path(f"../report/{LITERATURE_FILE}"),
        code=REPORT_CODE,
    output:
        **{
            key: report(
                f"{RESULTS}/report/{name}",
                caption=f"../report/{REPORT_CAPTIONS[key]}",
                category=REPORT_CATEGORIES[name.rsplit(".", 1)[1]],
            )
            for key, name in REPORT_FILES.items()
        },
        **report_paper_outputs(),
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        ENV
    resources:
        **rule_resources("report"),
    params:
        variants=[variant for variant, _ in RUNS + BASELINE_RUNS],
        seeds=[seed for _, seed in RUNS + BASELINE_RUNS],
        select_metric=CFG["selection"]["metric"],
        formats=FORMATS,
    script:
        "../scripts/report.py"
