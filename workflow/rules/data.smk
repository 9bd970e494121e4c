# Data: (generate) -> fetch -> extract -> index -> decode.


rule generate_corpus:
    output:
        archive=f"{RESULTS}/source/ismir04_genre.zip",
        md5=f"{RESULTS}/source/ismir04_genre.zip.md5",
    log:
        f"{RESULTS}/logs/generate_corpus.log",
    conda:
        ENV
    threads: 2
    params:
        generate=CFG["dataset"]["generate"],
    script:
        "../scripts/generate_corpus.py"


rule fetch:
    input:
        unpack(archive_source),
    output:
        archive=f"{RESULTS}/download/ismir04_genre.zip",
        md5=f"{RESULTS}/download/ismir04_genre.zip.md5",
    log:
        f"{RESULTS}/logs/fetch.log",
    retries: 0
    conda:
        ENV
    resources:
        **rule_resources("fetch"),
    params:
        url=archive_url(),
        md5=CFG["dataset"]["md5"],
        record_api=CFG["dataset"].get("record_api"),
    script:
        "../scripts/fetch.py"


rule extract:
    input:
        archive=rules.fetch.output.archive,
        md5=rules.fetch.output.md5,
    output:
        root=directory(f"{RESULTS}/data"),
    log:
        f"{RESULTS}/logs/extract.log",
    conda:
        ENV
    resources:
        **rule_resources("extract"),
    script:
        "../scripts/extract.py"


rule index:
    input:
        root=f"{RESULTS}/data",
    output:
        index=f"{RESULTS}/index.tsv",
        resolutions=f"{RESULTS}/index_resolutions.tsv",
        summary=f"{RESULTS}/index_summary.json",
        summary_md=f"{RESULTS}/index_summary.md",
    log:
        f"{RESULTS}/logs/index.log",
    conda:
        ENV
    script:
        "../scripts/index.py"


rule decode:
    input:
        index=f"{RESULTS}/index.tsv",
        root=f"{RESULTS}/data",
    output:
        audio=directory(audio_dir("{excerpt}", "{shard}")),
        errors=f"{audio_dir('{excerpt}', '{shard}')}.errors.tsv",
    log:
        f"{RESULTS}/logs/decode/{{excerpt}}/shard{{shard}}.log",
    conda:
        ENV
    resources:
        **rule_resources("decode"),
    params:
        shard=lambda wildcards: int(wildcards.shard),
        shards=len(SHARDS),
        sample_rate=CFG["audio"]["sample_rate"],
        start=lambda wildcards: EXCERPTS[wildcards.excerpt]["start"],
        duration=lambda wildcards: EXCERPTS[wildcards.excerpt]["duration"],
        on_error=CFG["audio"]["on_error"],
    script:
        "../scripts/decode.py"


rule decode_errors:
    input:
        [f"{audio_dir(excerpt, shard)}.errors.tsv" for excerpt in EXCERPTS for shard in SHARDS],
    output:
        all=f"{RESULTS}/decode_errors.tsv",
        excerpts=[f"{RESULTS}/audio/{excerpt}/decode_errors.tsv" for excerpt in EXCERPTS],
    log:
        f"{RESULTS}/logs/decode_errors.log",
    conda:
        ENV
    params:
        on_error=CFG["audio"]["on_error"],
    script:
        "../scripts/decode_errors.py"
