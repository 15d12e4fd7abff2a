# Config validation, the model sheets, and the input functions of every rule. Everything that
# differs between settings comes from the setting's module (sharpgen.settings); this file maps
# it onto the path grammar of the Snakefile.
import json
import shlex
from pathlib import Path

from snakemake.utils import min_version, validate

from sharpgen import plan, settings
from sharpgen.config import resolve

min_version("9.0")


validate(config, "../schemas/config.schema.yaml")

BLOCKS = resolve(
    config, Path(workflow.basedir) / "workflow/schemas/setting.schema.yaml"
)
SETTINGS = list(BLOCKS)
SHEETS = {s: plan.model_sheet(s, BLOCKS[s]) for s in SETTINGS}
ROWS = {s: SHEETS[s].set_index("model_id", drop=False) for s in SETTINGS}
DEFINITIONS = {
    s: plan.setting_definitions(s, BLOCKS[s], config["grid"]) for s in SETTINGS
}
JOBS = {s: plan.jobs(SHEETS[s], BLOCKS[s]["sharpness"]["shards"]) for s in SETTINGS}
DOWNLOADS = {s: plan.downloads(s, BLOCKS[s], SHEETS[s]) for s in SETTINGS}


wildcard_constraints:
    setting="|".join(SETTINGS),
    model=r"[A-Za-z0-9_.=+-]+",
    job=r"[A-Za-z0-9_.=+-]+",
    definition=r"[A-Za-z0-9_.=+-]+",
    hyperparameter=r"[A-Za-z0-9_]+",
    filename=r"[^/]+",


def as_json(value):
    return shlex.quote(json.dumps(value, separators=(",", ":")))


def checkpoint_path(setting, model_id):
    """Where a model's checkpoint lives: trained here, downloaded, or linked from the user's disk."""
    row = ROWS[setting].loc[model_id]
    if row["source"] == "train":
        return f"results/models/{setting}/{model_id}/checkpoint.pt"
    folder = "downloads" if row["source"] == "download" else "imports"
    return f"results/{folder}/{setting}/{row['filename']}"


def ref_path(setting, ref):
    """The file a setting's input reference (sharpgen.settings.Ref) names."""
    if ref.kind == "download":
        return f"results/downloads/{setting}/{ref.name}"
    if ref.kind == "checkpoint":
        return checkpoint_path(setting, ref.name)
    if ref.kind == "dataset":
        return f"results/data/{setting}/dataset.pt"
    return ref.name


def input_args(input, names):
    return " ".join(shlex.quote(f"{name}={input[name]}") for name in names)


def get_block(keys_attr):
    """Params: the part of the setting's block that the rule's output depends on, as JSON."""

    def block(wildcards):
        setting = wildcards.setting
        return as_json(
            plan.project(BLOCKS[setting], getattr(settings.get(setting), keys_attr))
        )

    return block


def get_setting_param(*keys):
    """Params: one value of the setting's validated block, e.g. ("sharpness", "n")."""

    def param(wildcards):
        value = BLOCKS[wildcards.setting]
        for key in keys:
            value = value[key]
        return value

    return param


def get_dataset_inputs(wildcards):
    s = wildcards.setting
    refs = settings.get(s).dataset_inputs(BLOCKS[s], SHEETS[s])
    return {name: ref_path(s, ref) for name, ref in refs.items()}


def get_subset_inputs(wildcards):
    s = wildcards.setting
    refs = settings.get(s).subset_inputs(BLOCKS[s], SHEETS[s])
    return {name: ref_path(s, ref) for name, ref in refs.items()}


def get_published_inputs(wildcards):
    s = wildcards.setting
    refs = settings.get(s).published_inputs(BLOCKS[s])
    return {
        "models": f"results/tables/{s}/models.parquet",
        **{name: ref_path(s, ref) for name, ref in refs.items()},
    }


def get_input_args(wildcards, input):
    """Params: the named inputs of a data or metrics step as NAME=PATH (the models table aside)."""
    return input_args(input, [n for n in input.keys() if n != "models"])


def get_download_url(wildcards):
    url = DOWNLOADS[wildcards.setting].get(wildcards.filename)
    if url is None:
        raise ValueError(
            f"results/downloads/{wildcards.setting}/{wildcards.filename}: no such file among "
            f"the downloads of setting {wildcards.setting!r}"
        )
    return shlex.quote(url)


def get_import_source(wildcards):
    sheet = SHEETS[wildcards.setting]
    rows = sheet[
        (sheet["source"] == "local") & (sheet["filename"] == wildcards.filename)
    ]
    if rows.empty:
        raise ValueError(
            f"results/imports/{wildcards.setting}/{wildcards.filename}: no local checkpoint "
            "of that name in the model sheet"
        )
    return {
        "source": shlex.quote(rows["path"].iloc[0]),
        "model": rows["model_id"].iloc[0],
    }


def get_model_row(wildcards):
    """The model's sheet row as JSON (missing values become null)."""
    return shlex.quote(ROWS[wildcards.setting].loc[wildcards.model].to_json())


def get_job_checkpoints(wildcards):
    """The checkpoints of the models of one evaluation/sharpness job, by model id."""
    s = wildcards.setting
    return {m: checkpoint_path(s, m) for m in JOBS[s][wildcards.job]}


def get_job_models_arg(wildcards, input):
    """--model ID=PATH@ARCH for every model of the job."""
    rows = ROWS[wildcards.setting]
    return " ".join(
        shlex.quote(f"{m}={input[m]}@{rows.loc[m, 'arch']}")
        for m in JOBS[wildcards.setting][wildcards.job]
    )


def get_job_model_ids(wildcards):
    return " ".join(JOBS[wildcards.setting][wildcards.job])


def get_definitions_json(wildcards):
    return as_json([d.as_dict() for d in DEFINITIONS[wildcards.setting]])


def get_measures_json(wildcards):
    return as_json(BLOCKS[wildcards.setting]["measures"])


def get_job_measures(wildcards):
    s = wildcards.setting
    return expand(f"results/measures/{s}/{{job}}.parquet", job=JOBS[s])


def get_measures_table(wildcards):
    """The aggregated measures table, when the setting configures measures."""
    s = wildcards.setting
    return [f"results/tables/{s}/measures.parquet"] if BLOCKS[s]["measures"] else []


def get_measures_arg(wildcards, input):
    """Params: --measures PATH for the correlate job, or nothing."""
    return f"--measures {input.measures}" if input.measures else ""


def get_job_metrics(wildcards):
    """Each job's metrics, evaluated here or published, as the setting's block says."""
    s = wildcards.setting
    source = "evaluated" if BLOCKS[s]["metrics"] == "evaluate" else "published"
    return expand(f"results/metrics/{s}/{source}/{{job}}.parquet", job=JOBS[s])


def get_job_sharpness(wildcards):
    s = wildcards.setting
    return expand(f"results/sharpness/{s}/{{job}}.parquet", job=JOBS[s])


def get_histories(wildcards):
    sheet = SHEETS[wildcards.setting]
    trained = sheet.loc[sheet["source"] == "train", "model_id"]
    return expand(
        f"results/models/{wildcards.setting}/{{model}}/history.parquet", model=trained
    )


def get_figures(wildcards):
    s = wildcards.setting
    return expand(
        f"results/figures/{s}/{{definition}}.png",
        definition=[d.id for d in DEFINITIONS[s]],
    )


def curvature_models(setting):
    return SHEETS[setting]["model_id"].tolist()[
        : BLOCKS[setting]["curvature"]["models"]
    ]


def get_curvature_checkpoints(wildcards):
    s = wildcards.setting
    return {m: checkpoint_path(s, m) for m in curvature_models(s)}


def get_curvature_models_arg(wildcards, input):
    rows = ROWS[wildcards.setting]
    return " ".join(
        shlex.quote(f"{m}={input[m]}@{rows.loc[m, 'arch']}")
        for m in curvature_models(wildcards.setting)
    )


def get_curvature_figure(wildcards):
    s = wildcards.setting
    if BLOCKS[s]["curvature"]["models"] == 0:
        return []
    return [f"results/figures/{s}/curvature/curvature.png"]


def get_captures(wildcards):
    """Sharpness against each correlated hyperparameter, coloured by test error."""
    s = wildcards.setting
    return expand(
        f"results/figures/{s}/captures/{{hyperparameter}}.png",
        hyperparameter=BLOCKS[s]["correlation"]["hyperparameters"],
    )


def get_final_outputs():
    out = []
    for s in SETTINGS:
        out.append(f"results/report/{s}.md")
        out.append(f"results/report/{s}.html")
        if (SHEETS[s]["source"] == "train").any():
            out.append(f"results/tables/{s}/history.parquet")
        out += expand(
            f"results/figures/{s}/{{definition}}.png",
            definition=[d.id for d in DEFINITIONS[s]],
        )
    if config["theory"]["dln"]["run"]:
        out.append("results/theory/dln.png")
    if config["theory"]["scale"]["run"]:
        out.append("results/theory/classifier_scale.png")
    return out


def get_figure_marker(wildcards):
    """Params: the marker column of the figures ('' for none)."""
    return BLOCKS[wildcards.setting]["figures"]["marker"] or ""
