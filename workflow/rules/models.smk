rule train_model:
    input:
        dataset="results/data/{setting}/dataset.pt",
    output:
        checkpoint="results/models/{setting}/{model}/checkpoint.pt",
        history="results/models/{setting}/{model}/history.parquet",
    params:
        spec=lambda wildcards: json.dumps(get_model_row(wildcards), separators=(",", ":")),
        device=config["device"],
    resources:
        gpu=GPU,
    log:
        "results/logs/train_model/{setting}/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{setting}/{model}.tsv"
    shell:
        "{PY} train --setting {wildcards.setting} --model-id {wildcards.model} "
        "--spec '{params.spec}' --dataset {input.dataset} --device {params.device} "
        "--threads {threads} --out-checkpoint {output.checkpoint} "
        "--out-history {output.history} > {log} 2>&1"


rule evaluate_model:
    input:
        checkpoint=get_checkpoint,
        dataset="results/data/{setting}/dataset.pt",
    output:
        "results/metrics/{setting}/{model}.parquet",
    params:
        device=config["device"],
    resources:
        gpu=GPU,
    log:
        "results/logs/evaluate_model/{setting}/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_model/{setting}/{model}.tsv"
    shell:
        "{PY} evaluate --setting {wildcards.setting} --model-id {wildcards.model} "
        "--checkpoint {input.checkpoint} --dataset {input.dataset} "
        "--device {params.device} --threads {threads} --out {output} > {log} 2>&1"
