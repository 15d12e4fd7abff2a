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
    resources:
        gpu=GPU,
    params:
        spec=lambda wildcards: json.dumps(
            get_model_row(wildcards), separators=(",", ":")
        ),
        device=config["device"],
    shell:
        "python -m sharpgen train --setting {wildcards.setting} --model-id {wildcards.model} "
        "--spec '{params.spec}' --dataset {input.dataset} --device {params.device} "
        "--threads {threads} --out-checkpoint {output.checkpoint} "
        "--out-history {output.history} > {log} 2>&1"


rule evaluate_models:
    input:
        unpack(get_job_checkpoints),
        dataset="results/data/{setting}/dataset.pt",
    output:
        "results/metrics/{setting}/{job}.parquet",
    log:
        "results/logs/evaluate_models/{setting}/{job}.log",
    benchmark:
        "results/benchmarks/evaluate_models/{setting}/{job}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    resources:
        gpu=GPU,
    params:
        models=get_job_models_arg,
        device=config["device"],
    shell:
        "python -m sharpgen evaluate --setting {wildcards.setting} --model {params.models} "
        "--dataset {input.dataset} --device {params.device} --threads {threads} "
        "--out {output} > {log} 2>&1"
