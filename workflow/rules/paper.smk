# Paper: the figures, tables and quoted numbers (numbers.tex) of a paper, collected from the report into
# results/<study>/paper/ (`snakemake --cores all paper`). Part of `all`, so that the bundle never lags the report.


rule paper:
    input:
        report=list(report_paper_outputs().values()),
        tables=report_tables(),
        protocols=protocol_report_outputs(),
        captions=figure_captions(),
        code=REPORT_CODE,
    output:
        **paper_outputs(),
    log:
        f"{RESULTS}/logs/paper.log",
    conda:
        ENV
    threads: 1
    resources:
        **rule_resources("paper", runtime=10, mem_mb=1000),
    params:
        formats=FORMATS,
        baseline=BASELINE_VARIANT,
        replica=REPLICA_VARIANT,
    script:
        "../scripts/paper.py"
