rule measures:
    input:
        unpack(get_job_checkpoints),
        subset="results/data/{setting}/subset.pt",
    output:
        "results/measures/{setting}/{job}.parquet",
    log:
        "results/logs/measures/{setting}/{job}.log",
    benchmark:
        "results/benchmarks/measures/{setting}/{job}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        models=get_job_models_arg,
        measures=get_measures_json,
        cache="results/cache/measures/{setting}",
    shell:
        "python -m sharpgen measures --setting {wildcards.setting} --model {params.models} "
        "--subset {input.subset:q} --measures {params.measures} "
        "--cache-dir {params.cache:q} --threads {threads} --out {output:q} > {log:q} 2>&1"
