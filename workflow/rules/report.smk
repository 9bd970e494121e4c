# Report: tables and figures over all runs, and their paper versions in report/paper/; rerun alone with
# `--forcerun report`.
rule report:
    input:
        predictions_development=run_files("predictions_development.tsv"),
        predictions_evaluation=run_files("predictions_evaluation.tsv"),
        metrics_development=run_files("metrics_development.json"),
        metrics_evaluation=run_files("metrics_evaluation.json"),
        history=run_files("history.tsv"),
        train_summary=run_files("train_summary.json"),
        index_summary=f"{RESULTS}/index_summary.json",
        literature=workflow.source_path("../report/literature.csv"),
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
        variants=[variant for variant, _ in RUNS],
        seeds=[seed for _, seed in RUNS],
        formats=FORMATS,
    script:
        "../scripts/report.py"
