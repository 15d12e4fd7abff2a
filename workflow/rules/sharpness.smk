rule sharpness:
    input:
        checkpoint=get_checkpoint,
        subset="results/data/{setting}/subset.pt",
    output:
        "results/sharpness/{setting}/{model}.parquet",
    params:
        definitions=get_definitions_json,
        cache="results/cache/sharpness/{setting}/{model}",
        device=config["device"],
    resources:
        gpu=GPU,
    log:
        "results/logs/sharpness/{setting}/{model}.log",
    benchmark:
        "results/benchmarks/sharpness/{setting}/{model}.tsv"
    shell:
        "{PY} sharpness --setting {wildcards.setting} --model-id {wildcards.model} "
        "--checkpoint {input.checkpoint} --subset {input.subset} "
        "--definitions '{params.definitions}' --cache-dir {params.cache} "
        "--device {params.device} --threads {threads} --out {output} > {log} 2>&1"
