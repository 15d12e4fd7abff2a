rule report:
    input:
        sections=get_report_sections,
        tables="results/tables/{setting}/correlation.md",
        figures=get_figures,
        subsets=get_subsets_figures,
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
        "python -m sharpgen report --setting {wildcards.setting} --sections {input.sections:q} "
        "--tables {input.tables:q} --figures {input.figures:q} {input.subsets:q} --out {output:q} > {log:q} 2>&1"


rule html_report:
    input:
        correlation="results/tables/{setting}/correlation.parquet",
        granulated="results/tables/{setting}/granulated.parquet",
        reproduction="results/tables/{setting}/reproduction.parquet",
        drift=get_drift_table,
        figures=get_figures,
        captures=get_captures,
        curvature=get_curvature_figure,
        radius_check="results/tables/{setting}/radius_check.parquet",
        subsets=get_subsets_table,
        subsets_figures=get_subsets_figures,
        task_average=get_task_average,
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
        drift=get_drift_arg,
        threshold=get_setting_param("drift", "threshold"),
        task_average=get_task_average_arg,
    shell:
        "python -m sharpgen html-report --setting {wildcards.setting} "
        "--correlation {input.correlation:q} --granulated {input.granulated:q} "
        "--reproduction {input.reproduction:q} {params.drift} --drift-threshold {params.threshold} "
        "--figures {input.figures:q} --captures {input.captures:q} --curvature {input.curvature:q} "
        "--radius-check {input.radius_check:q} --subsets {input.subsets:q} "
        "--subsets-figures {input.subsets_figures:q} {params.task_average} "
        "--color {params.figures[color]} --marker '{params.marker}' "
        "--max-train-error {params.max_train_error} --out {output:q} > {log:q} 2>&1"
