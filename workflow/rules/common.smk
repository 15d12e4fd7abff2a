import json
import os

from snakemake.utils import min_version, validate

from sharpgen import plan

min_version("9.0")


validate(config, "../schemas/config.schema.yaml")

SETTINGS = config["settings"]
SHEETS = {s: plan.model_sheet(s, config[s]) for s in SETTINGS}
DEFINITIONS = {s: plan.setting_definitions(s, config[s], config["grid"]) for s in SETTINGS}
PY = "python -m sharpgen"


def gpu_request():
    """GPUs per heavy job: 1 when jobs will use CUDA, else 0 (profiles can override)."""
    device = config["device"]
    if device == "auto":
        return int(os.path.exists("/dev/nvidiactl"))
    return int(device.startswith("cuda"))


GPU = gpu_request()


wildcard_constraints:
    setting="|".join(SETTINGS),
    model=r"[A-Za-z0-9_.=+-]+",
    definition=r"[A-Za-z0-9_.=+-]+",


def models_of(setting):
    return list(SHEETS[setting]["model_id"])


def get_model_row(wildcards):
    sheet = SHEETS[wildcards.setting]
    return sheet[sheet["model_id"] == wildcards.model].iloc[0].to_dict()


def get_checkpoint(wildcards):
    """Trained settings keep sharpgen checkpoints; downloaded ones their upstream file."""
    row = get_model_row(wildcards)
    if row["source"] == "train":
        return f"results/models/{wildcards.setting}/{wildcards.model}/checkpoint.pt"
    return f"results/downloads/{wildcards.setting}/{row['filename']}"


def get_definitions_json(wildcards):
    return json.dumps([d.as_dict() for d in DEFINITIONS[wildcards.setting]], separators=(",", ":"))


def get_per_model(kind):
    def inputs(wildcards):
        return expand(f"results/{kind}/{wildcards.setting}/{{model}}.parquet", model=models_of(wildcards.setting))

    return inputs


def get_histories(wildcards):
    sheet = SHEETS[wildcards.setting]
    trained = sheet[sheet["source"] == "train"]["model_id"]
    return expand(f"results/models/{wildcards.setting}/{{model}}/history.parquet", model=trained)


def get_figures(setting):
    return expand(f"results/figures/{setting}/{{definition}}.png", definition=[d.id for d in DEFINITIONS[setting]])


def get_final_outputs():
    out = []
    for s in SETTINGS:
        out += [f"results/report/{s}.md", f"results/tables/{s}/history.parquet"]
        out += get_figures(s)
    return out
