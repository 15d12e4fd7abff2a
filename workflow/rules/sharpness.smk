rule calibrate:
    input:
        unpack(get_calibration_checkpoint),
        subset="results/data/{setting}/subset.pt",
    output:
        "results/calibration/{setting}/{arch}.json",
    log:
        "results/logs/calibrate/{setting}/{arch}.log",
    benchmark:
        "results/benchmarks/calibrate/{setting}/{arch}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        model=get_calibration_model_arg,
        ms=get_definition_ms,
        precision=get_precision,
    shell:
        "python -m sharpgen calibrate --setting {wildcards.setting} --model {params.model} "
        "--subset {input.subset:q} --m {params.ms} --precision {params.precision} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"


rule sharpness:
    input:
        unpack(get_job_checkpoints),
        subset="results/data/{setting}/subset.pt",
        calibration=get_job_calibrations,
    output:
        "results/sharpness/{setting}/{job}.parquet",
    log:
        "results/logs/sharpness/{setting}/{job}.log",
    benchmark:
        "results/benchmarks/sharpness/{setting}/{job}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    resources:
        runtime=get_sharpness_runtime,
        mem_mb=get_sharpness_mem_mb,
    params:
        models=get_job_models_arg,
        archs=get_job_archs,
        definitions=get_definitions_json,
        only=get_job_selection,
        cache="results/cache/sharpness/{setting}",
        precision=get_precision,
    shell:
        "python -m sharpgen sharpness --setting {wildcards.setting} --model {params.models} "
        "--subset {input.subset:q} --definitions {params.definitions} {params.only} "
        "--cache-dir {params.cache:q} --calibration {input.calibration:q} --precision {params.precision} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"
