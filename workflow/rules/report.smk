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
        "python -m sharpgen report --setting {wildcards.setting} --tables {input.tables} "
        "--figures {input.figures} --out {output} > {log} 2>&1"
