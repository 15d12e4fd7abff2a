# Checks of a study's choices: how much the choice of models moves tau (subsets), and whether
# each radius is lost in noise or saturates the models (radius check).


rule tau_subsets:
    input:
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        table="results/tables/{setting}/subsets.parquet",
        markdown="results/tables/{setting}/subsets.md",
    log:
        "results/logs/tau_subsets/{setting}.log",
    benchmark:
        "results/benchmarks/tau_subsets/{setting}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        subsets=get_setting_param("subsets"),
        targets=get_setting_param("figures", "targets"),
        max_train_error=get_setting_param("sharpness", "max_train_error"),
    shell:
        "python -m sharpgen tau-subsets --setting {wildcards.setting} --metrics {input.metrics:q} "
        "--sharpness {input.sharpness:q} --targets {params.targets} --k {params.subsets[k]} "
        "--draws {params.subsets[draws]} --seed {params.subsets[seed]} "
        "--max-train-error {params.max_train_error} --out-table {output.table:q} "
        "--out-markdown {output.markdown:q} > {log:q} 2>&1"


rule plot_tau_subsets:
    input:
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        png=report(
            "results/figures/{setting}/subsets/{definition}.png",
            caption="../report/subsets.rst",
            category="Figures",
            subcategory="{setting}",
        ),
        pdf="results/figures/{setting}/subsets/{definition}.pdf",
    log:
        "results/logs/plot_tau_subsets/{setting}/{definition}.log",
    benchmark:
        "results/benchmarks/plot_tau_subsets/{setting}/{definition}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        subsets=get_setting_param("subsets"),
        targets=get_setting_param("figures", "targets"),
        max_train_error=get_setting_param("sharpness", "max_train_error"),
    shell:
        "python -m sharpgen plot-tau-subsets --setting {wildcards.setting} "
        "--definition {wildcards.definition} --metrics {input.metrics:q} "
        "--sharpness {input.sharpness:q} --targets {params.targets} --k {params.subsets[k]} "
        "--draws {params.subsets[draws]} --seed {params.subsets[seed]} "
        "--max-train-error {params.max_train_error} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


# Needs only the sharpness jobs of the checked models: run it before the rest of a grid.
rule radius_check:
    input:
        sharpness=get_radius_check_sharpness,
        subset="results/data/{setting}/subset.parquet",
    output:
        table="results/tables/{setting}/radius_check.parquet",
        markdown="results/tables/{setting}/radius_check.md",
    log:
        "results/logs/radius_check/{setting}.log",
    benchmark:
        "results/benchmarks/radius_check/{setting}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        models=get_radius_check_models,
        check=get_setting_param("radius_check"),
    shell:
        "python -m sharpgen radius-check --setting {wildcards.setting} "
        "--sharpness {input.sharpness:q} --model-ids {params.models} "
        "--subset-table {input.subset:q} --noise {params.check[noise]} "
        "--saturation {params.check[saturation]} --out-table {output.table:q} "
        "--out-markdown {output.markdown:q} > {log:q} 2>&1"
