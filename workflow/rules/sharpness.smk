rule sharpness:
    input:
        unpack(get_job_checkpoints),
        subset="results/data/{setting}/subset.pt",
    output:
        "results/sharpness/{setting}/{job}.parquet",
    log:
        "results/logs/sharpness/{setting}/{job}.log",
    benchmark:
        "results/benchmarks/sharpness/{setting}/{job}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        models=get_job_models_arg,
        archs=get_job_archs,
        definitions=get_definitions_json,
        cache="results/cache/sharpness/{setting}",
    shell:
        "python -m sharpgen sharpness --setting {wildcards.setting} --model {params.models} "
        "--subset {input.subset} --definitions {params.definitions} "
        "--cache-dir {params.cache} --threads {threads} --out {output} > {log} 2>&1"
