# The paper's settings (augreg, soups, bert, cifar): checkpoints are downloaded (or linked from
# the user's disk), the sharpness data is the first n training examples of the setting's data
# set, and metrics are the collection's published accuracies or evaluated on data_root.
#
# Rule disambiguation (every output pattern below is also produced by a digits rule):
# - published_metrics vs evaluate_models (results/metrics/{setting}/{job}.parquet): the setting
#   wildcard of published_metrics only matches settings with `metrics: published`, and
#   `ruleorder` prefers it where both could apply; digits and `metrics: evaluate` settings
#   only match evaluate_models.
# - prepare_paper_data / prepare_paper_eval vs prepare_digits, paper_models_table vs
#   models_table: the setting wildcard is constrained to the paper settings, and ruleorder
#   decides for the models table.
# - download_checkpoint vs import_checkpoint: the filename wildcard of each only matches its
#   own files (URL vs local path in the model sheet).
# Sheets, downloads and input functions of these rules: workflow/rules/common.smk.


ruleorder: published_metrics > evaluate_models
ruleorder: paper_models_table > models_table


localrules:
    download_checkpoint,
    import_checkpoint,
    published_metrics,
    paper_models_table,


rule download_checkpoint:
    output:
        "results/downloads/{setting}/{filename}",
    log:
        "results/logs/download_checkpoint/{setting}/{filename}.log",
    wildcard_constraints:
        setting=PAPER_RE,
        filename=DOWNLOAD_RE,
    conda:
        "../../envs/sharpgen.yaml"
    params:
        url=lambda wildcards: shlex.quote(
            DOWNLOADS[wildcards.setting][wildcards.filename]
        ),
    shell:
        "python -m sharpgen download --url {params.url} --out {output} > {log} 2>&1"


rule import_checkpoint:
    output:
        "results/downloads/{setting}/{filename}",
    log:
        "results/logs/import_checkpoint/{setting}/{filename}.log",
    wildcard_constraints:
        setting=PAPER_RE,
        filename=IMPORT_RE,
    conda:
        "../../envs/sharpgen.yaml"
    params:
        source=lambda wildcards: shlex.quote(
            IMPORTS[wildcards.setting][wildcards.filename]
        ),
        model=lambda wildcards: SHEETS[wildcards.setting]
        .set_index("filename")
        .loc[wildcards.filename, "model_id"],
    shell:
        "python -m sharpgen import-checkpoint --setting {wildcards.setting} "
        "--model-id {params.model} --source {params.source} --out {output} > {log} 2>&1"


rule paper_models_table:
    output:
        "results/tables/{setting}/models.parquet",
    log:
        "results/logs/models_table/{setting}.log",
    wildcard_constraints:
        setting=PAPER_RE,
    conda:
        "../../envs/sharpgen.yaml"
    params:
        block=lambda wildcards: shlex.quote(
            json.dumps(config[wildcards.setting], separators=(",", ":"))
        ),
    shell:
        "python -m sharpgen paper-sheet --setting {wildcards.setting} "
        "--block {params.block} --out {output} > {log} 2>&1"


rule prepare_paper_data:
    input:
        unpack(get_paper_data_inputs),
    output:
        "results/data/{setting}/subset.pt",
    log:
        "results/logs/prepare_paper_data/{setting}.log",
    wildcard_constraints:
        setting=PAPER_RE,
    conda:
        "../../envs/sharpgen.yaml"
    params:
        n=lambda wildcards: config[wildcards.setting]["sharpness"]["n"],
        root=get_data_root,
        args=get_paper_data_args,
    shell:
        "python -m sharpgen prepare-paper-data --setting {wildcards.setting} --n {params.n} "
        "--data-root {params.root} {params.args} --out {output} > {log} 2>&1"


rule prepare_paper_eval:
    input:
        archive=f"results/downloads/cifar/{CIFAR10_ARCHIVE}",
    output:
        "results/data/{setting}/dataset.pt",
    log:
        "results/logs/prepare_paper_eval/{setting}.log",
    wildcard_constraints:
        setting="cifar",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        root=get_data_root,
    shell:
        "python -m sharpgen prepare-paper-eval --setting {wildcards.setting} "
        "--data-root {params.root} --archive {input.archive} --out {output} > {log} 2>&1"


rule published_metrics:
    input:
        unpack(get_published_inputs),
    output:
        "results/metrics/{setting}/{job}.parquet",
    log:
        "results/logs/published_metrics/{setting}/{job}.log",
    wildcard_constraints:
        setting=PUBLISHED_RE,
    conda:
        "../../envs/sharpgen.yaml"
    params:
        models=lambda wildcards: " ".join(JOBS[wildcards.setting][wildcards.job]),
        index=lambda wildcards, input: (
            f"--index {input.index}" if "index" in input.keys() else ""
        ),
    shell:
        "python -m sharpgen published-metrics --setting {wildcards.setting} "
        "--models {input.models} --model-ids {params.models} {params.index} "
        "--out {output} > {log} 2>&1"
