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
        "--models {input.models} --metrics {input.metrics} --sharpness {input.sharpness} "
        "--targets {params.figures[targets]} --color {params.figures[color]} "
        "--marker '{params.marker}' --max-train-error {params.max_train_error} "
        "--out {output.png} {output.pdf} > {log} 2>&1"


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
        "--models {input.models} --metrics {input.metrics} --sharpness {input.sharpness} "
        "--targets {params.figures[targets]} --color {params.figures[color]} "
        "--marker '{params.marker}' --max-train-error {params.max_train_error} "
        "--where {wildcards.view} --out {output.png} {output.pdf} > {log} 2>&1"
