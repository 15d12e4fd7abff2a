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


rule theory_linear:
    output:
        table="results/theory/linear_model.parquet",
        png=report(
            "results/theory/linear_model.png",
            caption="../report/linear_model.rst",
            category="Theory",
        ),
        pdf="results/theory/linear_model.pdf",
    log:
        "results/logs/theory_linear/linear_model.log",
    benchmark:
        "results/benchmarks/theory_linear/linear_model.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        linear=config["theory"]["linear"],
    shell:
        "python -m sharpgen theory-linear --seed {params.linear[seed]} --out-table {output.table:q} "
        "--out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule theory_dln_population:
    output:
        table="results/theory/dln_population.parquet",
        tau="results/theory/dln_population_tau.parquet",
        png=report(
            "results/theory/dln_population.png",
            caption="../report/dln_population.rst",
            category="Theory",
        ),
        pdf="results/theory/dln_population.pdf",
    log:
        "results/logs/theory_dln_population/dln_population.log",
    benchmark:
        "results/benchmarks/theory_dln_population/dln_population.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        p=config["theory"]["dln_population"],
    shell:
        "python -m sharpgen theory-dln-population --lr {params.p[lr]} --alpha {params.p[alpha]} "
        "--seeds {params.p[seeds]} --rho-avg {params.p[rho_avg]} --rho-max {params.p[rho_max]} "
        "--n-samples {params.p[n_samples]} --seed {params.p[seed]} --out-table {output.table:q} "
        "--out-tau {output.tau:q} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
