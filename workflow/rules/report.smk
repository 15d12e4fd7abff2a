rule report:
    input:
        tables="results/tables/{setting}/correlation.md",
        figures=get_figures,
    output:
        report(
            "results/report/{setting}.md",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        "results/logs/report/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    shell:
        "python -m sharpgen report --setting {wildcards.setting} --tables {input.tables:q} "
        "--figures {input.figures:q} --out {output:q} > {log:q} 2>&1"


rule html_report:
    input:
        correlation="results/tables/{setting}/correlation.parquet",
        granulated="results/tables/{setting}/granulated.parquet",
        figures=get_figures,
        captures=get_captures,
        curvature=get_curvature_figure,
    output:
        "results/report/{setting}.html",
    log:
        "results/logs/html_report/{setting}.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        figures=get_setting_param("figures"),
        marker=get_figure_marker,
        max_train_error=get_setting_param("sharpness", "max_train_error"),
    shell:
        "python -m sharpgen html-report --setting {wildcards.setting} "
        "--correlation {input.correlation:q} --granulated {input.granulated:q} "
        "--figures {input.figures:q} --captures {input.captures:q} --curvature {input.curvature:q} "
        "--color {params.figures[color]} --marker '{params.marker}' "
        "--max-train-error {params.max_train_error} --out {output:q} > {log:q} 2>&1"
