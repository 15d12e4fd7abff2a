# Theory, outside any setting: diagonal linear networks on a bundled synthetic problem.


rule theory_dln:
    output:
        table="results/theory/dln.parquet",
        png=report(
            "results/theory/dln.png",
            caption="../report/dln.rst",
            category="Theory",
        ),
        pdf="results/theory/dln.pdf",
    log:
        "results/logs/theory_dln/dln.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        dln=config["theory"]["dln"],
    shell:
        "python -m sharpgen theory-dln --lr {params.dln[lr]} --alpha {params.dln[alpha]} "
        "--steps {params.dln[steps]} --seed {params.dln[seed]} --out-table {output.table:q} "
        "--out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule theory_scale:
    output:
        table="results/theory/classifier_scale.parquet",
        png=report(
            "results/theory/classifier_scale.png",
            caption="../report/classifier_scale.rst",
            category="Theory",
        ),
        pdf="results/theory/classifier_scale.pdf",
    log:
        "results/logs/theory_scale/classifier_scale.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        scale=config["theory"]["scale"],
    shell:
        "python -m sharpgen theory-scale --alpha {params.scale[alpha]} --rho {params.scale[rho]} "
        "--n-samples {params.scale[n_samples]} --seed {params.scale[seed]} "
        "--out-table {output.table:q} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
