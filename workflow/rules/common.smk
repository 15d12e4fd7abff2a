import json

from snakemake.utils import min_version, validate

from sharpgen import plan

min_version("9.0")


validate(config, "../schemas/config.schema.yaml")

SETTINGS = config["settings"]
SHEETS = {s: plan.model_sheet(s, config[s]) for s in SETTINGS}
DEFINITIONS = {
    s: plan.setting_definitions(s, config[s], config["grid"]) for s in SETTINGS
}
JOBS = {s: plan.jobs(SHEETS[s], config[s]["sharpness"]["shards"]) for s in SETTINGS}


GPU = plan.gpu_request(config["device"])


wildcard_constraints:
    setting="|".join(SETTINGS),
    model=r"[A-Za-z0-9_.=+-]+",
    job=r"[A-Za-z0-9_.=+-]+",
    definition=r"[A-Za-z0-9_.=+-]+",


def models_of(setting):
    return list(SHEETS[setting]["model_id"])


def get_model_row(wildcards):
    """The model's sheet row as plain JSON values (missing values become None)."""
    sheet = SHEETS[wildcards.setting]
    return json.loads(sheet[sheet["model_id"] == wildcards.model].iloc[0].to_json())


def checkpoint_path(setting, row):
    """Trained settings keep sharpgen checkpoints; downloaded ones their upstream file."""
    if row["source"] == "train":
        return f"results/models/{setting}/{row['model_id']}/checkpoint.pt"
    return f"results/downloads/{setting}/{row['filename']}"


def get_job_checkpoints(wildcards):
    """The checkpoints of the models in one evaluation/sharpness job, by model id."""
    sheet = SHEETS[wildcards.setting].set_index("model_id", drop=False)
    models = JOBS[wildcards.setting][wildcards.job]
    return {m: checkpoint_path(wildcards.setting, sheet.loc[m]) for m in models}


def get_job_models_arg(wildcards, input):
    """--model ID=PATH pairs for the CLI."""
    return " ".join(f"{m}={input[m]}" for m in JOBS[wildcards.setting][wildcards.job])


def get_definitions_json(wildcards):
    return json.dumps(
        [d.as_dict() for d in DEFINITIONS[wildcards.setting]], separators=(",", ":")
    )


def get_per_job(kind):
    def inputs(wildcards):
        return expand(
            f"results/{kind}/{wildcards.setting}/{{job}}.parquet",
            job=JOBS[wildcards.setting],
        )

    return inputs


def get_histories(wildcards):
    sheet = SHEETS[wildcards.setting]
    trained = sheet[sheet["source"] == "train"]["model_id"]
    return expand(
        f"results/models/{wildcards.setting}/{{model}}/history.parquet", model=trained
    )


def get_figures(setting):
    return expand(
        f"results/figures/{setting}/{{definition}}.png",
        definition=[d.id for d in DEFINITIONS[setting]],
    )


def get_final_outputs():
    out = []
    for s in SETTINGS:
        out += [f"results/report/{s}.md", f"results/tables/{s}/history.parquet"]
        out += get_figures(s)
    return out
