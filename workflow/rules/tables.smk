rule models_table:
    output:
        "results/tables/{setting}/models.parquet",
    log:
        "results/logs/models_table/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        block=get_block("sheet_keys"),
    shell:
        "python -m sharpgen models-table --setting {wildcards.setting} --block {params.block} "
        "--out {output:q} > {log:q} 2>&1"


rule aggregate_metrics:
    input:
        get_job_metrics,
    output:
        "results/tables/{setting}/metrics.parquet",
    log:
        "results/logs/aggregate_metrics/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    shell:
        "python -m sharpgen aggregate --kind metrics --inputs {input:q} --out {output:q} > {log:q} 2>&1"


rule aggregate_sharpness:
    input:
        get_job_sharpness,
    output:
        "results/tables/{setting}/sharpness.parquet",
    log:
        "results/logs/aggregate_sharpness/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    shell:
        "python -m sharpgen aggregate --kind sharpness --inputs {input:q} --out {output:q} > {log:q} 2>&1"


rule aggregate_measures:
    input:
        get_job_measures,
    output:
        "results/tables/{setting}/measures.parquet",
    log:
        "results/logs/aggregate_measures/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    shell:
        "python -m sharpgen aggregate --kind measures --inputs {input:q} --out {output:q} > {log:q} 2>&1"


rule aggregate_history:
    input:
        get_histories,
    output:
        "results/tables/{setting}/history.parquet",
    log:
        "results/logs/aggregate_history/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    shell:
        "python -m sharpgen aggregate --kind history --inputs {input:q} --out {output:q} > {log:q} 2>&1"


rule correlate:
    input:
        models="results/tables/{setting}/models.parquet",
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
        measures=get_measures_table,
        published=get_published_values,
    output:
        table="results/tables/{setting}/correlation.parquet",
        granulated="results/tables/{setting}/granulated.parquet",
        markdown="results/tables/{setting}/correlation.md",
        reproduction="results/tables/{setting}/reproduction.parquet",
        reproduction_markdown="results/tables/{setting}/reproduction.md",
    log:
        "results/logs/correlate/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        correlation=get_setting_param("correlation"),
        max_train_error=get_setting_param("sharpness", "max_train_error"),
        measures=get_measures_arg,
        published=get_published_values_arg,
    shell:
        "python -m sharpgen correlate --setting {wildcards.setting} --models {input.models:q} "
        "--metrics {input.metrics:q} --sharpness {input.sharpness:q} "
        "--group-by {params.correlation[group_by]} --axes {params.correlation[axes]} "
        "--max-train-error {params.max_train_error} "
        "--hyperparameters {params.correlation[hyperparameters]} "
        "--resamples {params.correlation[resamples]} --confidence {params.correlation[confidence]} "
        "--seed {params.correlation[seed]} --oracle {params.correlation[oracle]} "
        "{params.measures} {params.published} --out-table {output.table:q} "
        "--out-granulated {output.granulated:q} --out-markdown {output.markdown:q} "
        "--out-reproduction {output.reproduction:q} "
        "--out-reproduction-markdown {output.reproduction_markdown:q} > {log:q} 2>&1"


# The PGDL score of every task of the study and its mean over tasks (only with PGDL tasks).
rule task_average:
    input:
        unpack(get_task_average_inputs),
    output:
        table=f"{TASK_AVERAGE}.parquet",
        markdown=f"{TASK_AVERAGE}.md",
    log:
        "results/logs/task_average/pgdl.log",
    benchmark:
        "results/benchmarks/task_average/pgdl.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        tasks=get_task_average_input_arg,
    shell:
        "python -m sharpgen task-average --input {params.tasks} "
        "--out-table {output.table:q} --out-markdown {output.markdown:q} > {log:q} 2>&1"


# Accuracies evaluated here against those the collection publishes (both metrics producers).
rule drift:
    input:
        metrics=get_evaluated_job_metrics,
        published=get_published_job_metrics,
    output:
        table="results/tables/{setting}/drift.parquet",
        markdown="results/tables/{setting}/drift.md",
    log:
        "results/logs/drift/{setting}.log",
    benchmark:
        "results/benchmarks/drift/{setting}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        threshold=get_setting_param("drift", "threshold"),
    shell:
        "python -m sharpgen drift --setting {wildcards.setting} --metrics {input.metrics:q} "
        "--published {input.published:q} --threshold {params.threshold} "
        "--out-table {output.table:q} --out-markdown {output.markdown:q} > {log:q} 2>&1"
