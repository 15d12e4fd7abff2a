rule models_table:
    output:
        "results/tables/{setting}/models.parquet",
    params:
        sheet=lambda wildcards: SHEETS[wildcards.setting].to_json(orient="records"),
    log:
        "results/logs/models_table/{setting}.log",
    shell:
        "{PY} sheet --setting {wildcards.setting} --sheet '{params.sheet}' --out {output} > {log} 2>&1"


rule aggregate_metrics:
    input:
        get_per_model("metrics"),
    output:
        "results/tables/{setting}/metrics.parquet",
    log:
        "results/logs/aggregate_metrics/{setting}.log",
    shell:
        "{PY} aggregate --kind metrics --inputs {input} --out {output} > {log} 2>&1"


rule aggregate_sharpness:
    input:
        get_per_model("sharpness"),
    output:
        "results/tables/{setting}/sharpness.parquet",
    log:
        "results/logs/aggregate_sharpness/{setting}.log",
    shell:
        "{PY} aggregate --kind sharpness --inputs {input} --out {output} > {log} 2>&1"


rule aggregate_history:
    input:
        get_histories,
    output:
        "results/tables/{setting}/history.parquet",
    log:
        "results/logs/aggregate_history/{setting}.log",
    shell:
        "{PY} aggregate --kind history --inputs {input} --out {output} > {log} 2>&1"


rule correlate:
    input:
        models="results/tables/{setting}/models.parquet",
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        table="results/tables/{setting}/correlation.parquet",
        granulated="results/tables/{setting}/granulated.parquet",
        markdown="results/tables/{setting}/correlation.md",
    params:
        group_by=lambda wildcards: config[wildcards.setting]["correlation"]["group_by"],
        axes=lambda wildcards: config[wildcards.setting]["correlation"]["axes"],
        max_train_error=lambda wildcards: config[wildcards.setting]["sharpness"]["max_train_error"],
    log:
        "results/logs/correlate/{setting}.log",
    shell:
        "{PY} correlate --setting {wildcards.setting} --models {input.models} "
        "--metrics {input.metrics} --sharpness {input.sharpness} --group-by {params.group_by} "
        "--axes {params.axes} --max-train-error {params.max_train_error} "
        "--out-table {output.table} --out-granulated {output.granulated} "
        "--out-markdown {output.markdown} > {log} 2>&1"
