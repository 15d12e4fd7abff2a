rule plot_figure:
    input:
        models="results/tables/{setting}/models.parquet",
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        png=report(
            "results/figures/{setting}/{definition}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{setting}",
        ),
        pdf="results/figures/{setting}/{definition}.pdf",
    log:
        "results/logs/plot_figure/{setting}/{definition}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        figures=get_setting_param("figures"),
        marker=get_figure_marker,
        max_train_error=get_setting_param("sharpness", "max_train_error"),
    shell:
        "python -m sharpgen plot --setting {wildcards.setting} --definition {wildcards.definition} "
        "--models {input.models:q} --metrics {input.metrics:q} --sharpness {input.sharpness:q} "
        "--targets {params.figures[targets]} --color {params.figures[color]} "
        "--marker '{params.marker}' --max-train-error {params.max_train_error} "
        "--out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


# The same figure for the models of one group (a value of `figures.split_by`, e.g. one family).
rule plot_figure_view:
    input:
        models="results/tables/{setting}/models.parquet",
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        png=report(
            "results/figures/{setting}/{view}/{definition}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{setting} {view}",
        ),
        pdf="results/figures/{setting}/{view}/{definition}.pdf",
    log:
        "results/logs/plot_figure_view/{setting}/{view}/{definition}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        figures=get_setting_param("figures"),
        marker=get_figure_marker,
        max_train_error=get_setting_param("sharpness", "max_train_error"),
    shell:
        "python -m sharpgen plot --setting {wildcards.setting} --definition {wildcards.definition} "
        "--models {input.models:q} --metrics {input.metrics:q} --sharpness {input.sharpness:q} "
        "--targets {params.figures[targets]} --color {params.figures[color]} "
        "--marker '{params.marker}' --max-train-error {params.max_train_error} "
        "--where {wildcards.view} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule plot_ablation:
    input:
        correlation="results/tables/{setting}/correlation.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        png=report(
            "results/figures/{setting}/ablations/{quantity}.png",
            caption="../report/ablation.rst",
            category="Figures",
            subcategory="{setting}",
        ),
        pdf="results/figures/{setting}/ablations/{quantity}.pdf",
    log:
        "results/logs/plot_ablation/{setting}/{quantity}.log",
    benchmark:
        "results/benchmarks/plot_ablation/{setting}/{quantity}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        figures=get_setting_param("figures"),
    shell:
        "python -m sharpgen plot-ablation --setting {wildcards.setting} --quantity {wildcards.quantity} "
        "--correlation {input.correlation:q} --sharpness {input.sharpness:q} "
        "--targets {params.figures[targets]} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule plot_captures:
    input:
        models="results/tables/{setting}/models.parquet",
        metrics="results/tables/{setting}/metrics.parquet",
        sharpness="results/tables/{setting}/sharpness.parquet",
    output:
        png=report(
            "results/figures/{setting}/captures/{hyperparameter}.png",
            caption="../report/captures.rst",
            category="Figures",
            subcategory="{setting}",
        ),
        pdf="results/figures/{setting}/captures/{hyperparameter}.pdf",
    log:
        "results/logs/plot_captures/{setting}/{hyperparameter}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        max_train_error=get_setting_param("sharpness", "max_train_error"),
    shell:
        "python -m sharpgen plot-captures --setting {wildcards.setting} "
        "--hyperparameter {wildcards.hyperparameter} --models {input.models:q} "
        "--metrics {input.metrics:q} --sharpness {input.sharpness:q} "
        "--max-train-error {params.max_train_error} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule plot_curvature:
    input:
        unpack(get_curvature_checkpoints),
        subset="results/data/{setting}/subset.pt",
    output:
        png=report(
            "results/figures/{setting}/curvature/curvature.png",
            caption="../report/curvature.rst",
            category="Figures",
            subcategory="{setting}",
        ),
        pdf="results/figures/{setting}/curvature/curvature.pdf",
    log:
        "results/logs/plot_curvature/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        models=get_curvature_models_arg,
        curvature=get_setting_param("curvature"),
    shell:
        "python -m sharpgen plot-curvature --setting {wildcards.setting} --model {params.models} "
        "--subset {input.subset:q} --rho {params.curvature[rho]} --n {params.curvature[n]} "
        "--n-samples {params.curvature[n_samples]} --probes {params.curvature[probes]} "
        "--threads {threads} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
