# Two producers of a job's metrics, at distinct paths; get_job_metrics (common.smk) chooses by
# the setting's `metrics` key.


rule evaluate_models:
    input:
        unpack(get_job_checkpoints),
        dataset="results/data/{setting}/dataset.pt",
    output:
        "results/metrics/{setting}/evaluated/{job}.parquet",
    log:
        "results/logs/evaluate_models/{setting}/{job}.log",
    benchmark:
        "results/benchmarks/evaluate_models/{setting}/{job}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        models=get_job_models_arg,
        archs=get_job_archs,
        precision=get_precision,
    shell:
        "python -m sharpgen evaluate --setting {wildcards.setting} --model {params.models} "
        "--dataset {input.dataset:q} --precision {params.precision} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"


rule published_metrics:
    input:
        unpack(get_published_inputs),
    output:
        "results/metrics/{setting}/published/{job}.parquet",
    log:
        "results/logs/published_metrics/{setting}/{job}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        model_ids=get_job_model_ids,
        inputs=get_input_args,
    shell:
        "python -m sharpgen published-metrics --setting {wildcards.setting} "
        "--models {input.models:q} --model-ids {params.model_ids} --input {params.inputs} "
        "--out {output:q} > {log:q} 2>&1"
