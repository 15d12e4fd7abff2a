import json
import re
import shlex

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
    """--model ID=PATH pairs for the CLI; downloaded models add @ARCH (the sheet's arch)."""
    sheet = SHEETS[wildcards.setting].set_index("model_id", drop=False)
    pairs = []
    for m in JOBS[wildcards.setting][wildcards.job]:
        row = sheet.loc[m]
        arch = "" if row["source"] == "train" else f"@{row['arch']}"
        pairs.append(shlex.quote(f"{m}={input[m]}{arch}"))
    return " ".join(pairs)


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
        out.append(f"results/report/{s}.md")
        if (
            SHEETS[s]["source"] == "train"
        ).any():  # paper settings have no training curves
            out.append(f"results/tables/{s}/history.parquet")
        out += get_figures(s)
    return out


# The paper's settings (workflow/rules/paper.smk): downloads, local checkpoints, input functions.

PAPER = [s for s in SETTINGS if s != "digits"]
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def _alternatives(names):
    """A wildcard regex matching exactly ``names`` (or nothing)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


def _downloads(setting):
    """filename -> URL of every file the setting downloads."""
    from sharpgen.data.sources.cifar10 import TRAIN_URL as CIFAR10_URL
    from sharpgen.settings.augreg import INDEX_URL as AUGREG_INDEX_URL

    sheet = SHEETS[setting]
    out = dict(zip(*sheet[sheet["source"] == "download"][["filename", "url"]].T.values))
    if setting == "augreg" and "models_csv" not in config[setting]:
        # planned without index.csv: its published accuracies are downloaded with the models
        out["index.csv"] = plan.mirrored(
            AUGREG_INDEX_URL, config[setting].get("base_url")
        )
    if setting == "cifar":
        out[CIFAR10_ARCHIVE] = (
            CIFAR10_URL  # the data set, never mirrored with the checkpoints
        )
    return out


def _imports(setting):
    """filename -> local path of every checkpoint the user keeps on disk (cifar CSV paths)."""
    sheet = SHEETS[setting]
    if "path" not in sheet:
        return {}
    local = sheet[sheet["source"] == "local"]
    return dict(zip(local["filename"], local["path"]))


DOWNLOADS = {s: _downloads(s) for s in PAPER}
IMPORTS = {s: _imports(s) for s in PAPER}
for _s in PAPER:
    if set(DOWNLOADS[_s]) & set().union(*IMPORTS.values()) or set(
        IMPORTS[_s]
    ) & set().union(*DOWNLOADS.values()):
        raise ValueError(
            f"config {_s}: a checkpoint file name is both downloaded and local; "
            "give the models distinct file names"
        )
    if config[_s]["metrics"] == "evaluate" and _s != "cifar":
        raise ValueError(
            f"config {_s}.metrics: evaluate is not supported yet for {_s}: use metrics: published"
        )

PAPER_RE = _alternatives(PAPER)
PUBLISHED_RE = _alternatives(s for s in PAPER if config[s]["metrics"] == "published")
DOWNLOAD_RE = _alternatives(set().union(*DOWNLOADS.values()))
IMPORT_RE = _alternatives(set().union(*IMPORTS.values()))


def get_paper_data_inputs(wildcards):
    """bert tokenises with the first checkpoint's vocab.txt; cifar reads the CIFAR-10 archive."""
    s = wildcards.setting
    if s == "bert":
        return {"checkpoint": checkpoint_path(s, SHEETS[s].iloc[0])}
    if s == "cifar":
        return {"archive": f"results/downloads/cifar/{CIFAR10_ARCHIVE}"}
    return {}


def get_paper_data_args(wildcards, input):
    s = wildcards.setting
    if s == "bert":
        return f"--checkpoint {input.checkpoint}"
    if s == "cifar":
        return f"--archive {input.archive}"
    return f"--arch {shlex.quote(SHEETS[s].iloc[0]['arch'])}"


def get_published_inputs(wildcards):
    out = {"models": f"results/tables/{wildcards.setting}/models.parquet"}
    if wildcards.setting == "augreg" and "models_csv" not in config["augreg"]:
        out["index"] = "results/downloads/augreg/index.csv"
    elif wildcards.setting == "augreg":
        out["index"] = config["augreg"]["models_csv"]
    return out


def get_data_root(wildcards):
    return shlex.quote(config[wildcards.setting].get("data_root", ""))
