localrules:
    download,
    download_archive,
    import_checkpoint,


rule download:
    output:
        "results/downloads/{setting}/{filename}",
    log:
        "results/logs/download/{setting}/{filename}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        url=get_download_url,
        lock="config/downloads.lock",
        trust=get_download_trust,
    shell:
        "python -m sharpgen download --url {params.url} --lock {params.lock:q} {params.trust} "
        "--out {output:q} > {log:q} 2>&1"


# An archive shared by settings (sharpgen.archive): downloaded once, extracted atomically; the
# zip is deleted once extracted (temp: a present extraction is not redone for its absence).
rule download_archive:
    output:
        temp("results/archives/{archive}.zip"),
    log:
        "results/logs/download_archive/{archive}.log",
    benchmark:
        "results/benchmarks/download_archive/{archive}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        url=get_archive_url,
        lock="config/downloads.lock",
        trust=get_download_trust,
    shell:
        "python -m sharpgen download --url {params.url} --lock {params.lock:q} {params.trust} "
        "--out {output:q} > {log:q} 2>&1"


rule extract_archive:
    input:
        "results/archives/{archive}.zip",
    output:
        "results/archives/{archive}/extracted.json",
    log:
        "results/logs/extract_archive/{archive}.log",
    benchmark:
        "results/benchmarks/extract_archive/{archive}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    shell:
        "python -m sharpgen extract --archive {input:q} --out {output:q} > {log:q} 2>&1"


rule import_checkpoint:
    output:
        "results/imports/{setting}/{filename}",
    log:
        "results/logs/import_checkpoint/{setting}/{filename}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        imported=get_import_source,
    shell:
        "python -m sharpgen import-checkpoint --setting {wildcards.setting} "
        "--model-id {params.imported[model]} --source {params.imported[source]} "
        "--out {output:q} > {log:q} 2>&1"


rule train_model:
    input:
        dataset="results/data/{setting}/dataset.pt",
    output:
        checkpoint="results/models/{setting}/{model}/checkpoint.pt",
        history="results/models/{setting}/{model}/history.parquet",
    log:
        "results/logs/train_model/{setting}/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{setting}/{model}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        row=get_model_row,
        precision=get_precision,
    shell:
        "python -m sharpgen train --setting {wildcards.setting} --row {params.row} "
        "--dataset {input.dataset:q} --precision {params.precision} "
        "--threads {threads} --out-checkpoint {output.checkpoint:q} "
        "--out-history {output.history:q} > {log:q} 2>&1"
