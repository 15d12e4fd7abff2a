# Config validation, the model sheets, and the input functions of every rule. Everything that
# differs between settings comes from the setting's module (sharpgen.settings); this file maps
# it onto the path grammar of the Snakefile.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

from sharpgen import archive, freshness, plan, settings
from sharpgen.radius import checked_models
from sharpgen.settings import Ref
from sharpgen.config import check_config_files, check_top_level, resolve

min_version("9.0")


check_config_files(workflow.configfiles)
check_top_level(config)
validate(config, "../schemas/config.schema.yaml")

BLOCKS = resolve(
    config, Path(workflow.basedir) / "workflow/schemas/setting.schema.yaml"
)
# blocks that name their kind (kind: collection) reach the jobs' settings registry this way
os.environ[settings.ENV_BLOCKS] = settings.bindings()
SETTINGS = list(BLOCKS)
SHEETS = {s: plan.model_sheet(s, BLOCKS[s]) for s in SETTINGS}
for s in SETTINGS:
    plan.check_block(s, BLOCKS[s], SHEETS[s])
ROWS = {s: SHEETS[s].set_index("model_id", drop=False) for s in SETTINGS}
# model id -> ids of its definitions (a grid family's `models` selector picks its models)
MODEL_DEFINITIONS = {
    s: plan.model_definitions(s, BLOCKS[s], config["grid"], SHEETS[s]) for s in SETTINGS
}
DEFINITIONS = {
    s: plan.used_definitions(
        plan.setting_definitions(s, BLOCKS[s], config["grid"]), MODEL_DEFINITIONS[s]
    )
    for s in SETTINGS
}
VIEWS = {
    s: plan.figure_views(
        SHEETS[s], MODEL_DEFINITIONS[s], BLOCKS[s]["figures"]["split_by"]
    )
    for s in SETTINGS
}
JOBS = {s: plan.jobs(SHEETS[s], BLOCKS[s]["sharpness"]["shards"]) for s in SETTINGS}
CALIBRATED = {s: plan.calibration_models(SHEETS[s]) for s in SETTINGS}
DOWNLOADS = {s: plan.downloads(s, BLOCKS[s], SHEETS[s]) for s in SETTINGS}
MEASURES = {s: plan.measure_specs(s, BLOCKS[s]) for s in SETTINGS}
# Zip archives shared by settings (PGDL phases), downloaded and extracted once each. Until a
# setting's archives are extracted its models are unknown: `all` asks only for the extraction.
ARCHIVES = plan.archives(BLOCKS)
WAITING = {s: plan.waiting_archives(s, BLOCKS[s]) for s in SETTINGS}
for s in SETTINGS:
    if WAITING[s]:
        print(
            f"{s}: {', '.join(WAITING[s])} is not extracted yet; this run downloads and "
            f"extracts it; run snakemake again to compute its {len(SHEETS[s])} models",
            file=sys.stderr,
        )
# the study's PGDL tasks whose archives are extracted: their scores are averaged over them (rule
# task_average, rerun when a later run adds a task)
PGDL_TASKS = [
    s for s in SETTINGS if settings.get(s).benchmark == "pgdl" and not WAITING[s]
]
TASK_AVERAGE = "results/tables/pgdl_task_average"


wildcard_constraints:
    setting="|".join(SETTINGS),
    model=r"[A-Za-z0-9_.=+-]+",
    job=r"[A-Za-z0-9_.=+-]+",
    definition=r"[A-Za-z0-9_.=+-]+",
    hyperparameter=r"[A-Za-z0-9_]+",
    quantity=r"m|n_iters|data",
    filename=r"[^/]+",
    archive=r"[A-Za-z0-9_.-]+",
    arch=r"[A-Za-z0-9_.-]+",
    view=r"[A-Za-z0-9_.+-]+=[A-Za-z0-9_.+-]+",


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


def get_download_trust(wildcards):
    """Params: --trust-first-download when the config opts in (trust_first_download: true)."""
    # --config trust_first_download=true gives the string "true"
    trusted = config["trust_first_download"] in (True, "true")
    return "--trust-first-download" if trusted else ""


def get_archive_url(wildcards):
    url = ARCHIVES.get(f"{wildcards.archive}.zip")
    if url is None:
        raise ValueError(
            f"results/archives/{wildcards.archive}.zip: no setting of the config names this archive"
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


def get_job_archs(wildcards):
    """Params: ID=ARCH for every model of the job (tracked, so a changed arch reruns the job)."""
    rows = ROWS[wildcards.setting]
    return " ".join(
        f"{m}={rows.loc[m, 'arch']}" for m in JOBS[wildcards.setting][wildcards.job]
    )


def get_job_model_ids(wildcards):
    return " ".join(JOBS[wildcards.setting][wildcards.job])


def _job_definitions(wildcards):
    """The definitions of a job's models (DEFINITIONS order) and, per model, their positions."""
    s = wildcards.setting
    models = JOBS[s][wildcards.job]
    wanted = {i for m in models for i in MODEL_DEFINITIONS[s][m]}
    defs = [d for d in DEFINITIONS[s] if d.id in wanted]
    position = {d.id: i for i, d in enumerate(defs)}
    return defs, {m: [position[i] for i in MODEL_DEFINITIONS[s][m]] for m in models}


def get_definitions_json(wildcards):
    return as_json([d.as_dict() for d in _job_definitions(wildcards)[0]])


def get_job_selection(wildcards):
    """Params: --only ID=I,J for the job's models that do not take all of its definitions."""
    defs, positions = _job_definitions(wildcards)
    parts = [
        shlex.quote(f"{m}={','.join(map(str, p))}")
        for m, p in positions.items()
        if len(p) != len(defs)
    ]
    return f"--only {' '.join(parts)}" if parts else ""


def get_measures_json(wildcards):
    return as_json(MEASURES[wildcards.setting])


def get_job_measures(wildcards):
    s = wildcards.setting
    return expand(f"results/measures/{s}/{{job}}.parquet", job=JOBS[s])


def get_measures_table(wildcards):
    """The aggregated measures table, when the setting configures measures."""
    s = wildcards.setting
    return [f"results/tables/{s}/measures.parquet"] if BLOCKS[s]["measures"] else []


def get_measures_arg(wildcards, input):
    """Params: --measures PATH for the correlate job, or nothing."""
    return f"--measures {shlex.quote(str(input.measures))}" if input.measures else ""


def get_job_metrics(wildcards):
    """Each job's metrics, evaluated here or published, as the setting's block says."""
    s = wildcards.setting
    source = "evaluated" if BLOCKS[s]["metrics"] == "evaluate" else "published"
    return expand(f"results/metrics/{s}/{source}/{{job}}.parquet", job=JOBS[s])


def get_published_values(wildcards):
    """The setting's table of the paper's published values (none: nothing to compare)."""
    s = wildcards.setting
    path = settings.get(s).published_values_path(BLOCKS[s])
    return [str(path)] if path is not None else []


def get_published_values_arg(wildcards, input):
    """Params: --published PATH for the correlate job, or nothing."""
    return f"--published {shlex.quote(str(input.published))}" if input.published else ""


def drift_applies(setting):
    """Evaluated here, and published by the collection: both accuracies can be compared."""
    block, sheet = BLOCKS[setting], SHEETS[setting]
    evaluated = block["metrics"] == "evaluate" or block["drift"]["evaluate"]
    return evaluated and settings.get(setting).has_published_metrics(block, sheet)


def get_evaluated_job_metrics(wildcards):
    s = wildcards.setting
    return expand(f"results/metrics/{s}/evaluated/{{job}}.parquet", job=JOBS[s])


def get_published_job_metrics(wildcards):
    s = wildcards.setting
    return expand(f"results/metrics/{s}/published/{{job}}.parquet", job=JOBS[s])


def get_drift_table(wildcards):
    s = wildcards.setting
    return [f"results/tables/{s}/drift.parquet"] if drift_applies(s) else []


def get_drift_arg(wildcards, input):
    """Params: --drift PATH for the html_report job, or nothing."""
    return f"--drift {input.drift}" if input.drift else ""


def get_task_average_inputs(wildcards):
    """The granulated table of every PGDL task of the study, named by task."""
    return {s: f"results/tables/{s}/granulated.parquet" for s in PGDL_TASKS}


def get_task_average_input_arg(wildcards, input):
    """Params: TASK=PATH for every task, in the study's order."""
    return " ".join(shlex.quote(f"{s}={input[s]}") for s in PGDL_TASKS)


def get_task_average(wildcards):
    """The PGDL score averaged over tasks, for a PGDL task's report (nothing otherwise)."""
    return [f"{TASK_AVERAGE}.parquet"] if wildcards.setting in PGDL_TASKS else []


def get_task_average_arg(wildcards, input):
    """Params: --task-average PATH for the html_report job, or nothing."""
    return (
        f"--task-average {shlex.quote(str(input.task_average))}"
        if input.task_average
        else ""
    )


def get_report_sections(wildcards):
    """The Markdown report's sections before the tau tables, in order (one line per section)."""
    s = wildcards.setting
    sections = [f"results/tables/{s}/reproduction.md"]
    if drift_applies(s):
        sections.append(f"results/tables/{s}/drift.md")
    sections.append(f"results/tables/{s}/radius_check.md")
    if BLOCKS[s]["subsets"]["k"]:
        sections.append(f"results/tables/{s}/subsets.md")
    if s in PGDL_TASKS:
        sections.append(f"{TASK_AVERAGE}.md")
    return sections


def get_job_sharpness(wildcards):
    s = wildcards.setting
    return expand(f"results/sharpness/{s}/{{job}}.parquet", job=JOBS[s])


def get_histories(wildcards):
    sheet = SHEETS[wildcards.setting]
    trained = sheet.loc[sheet["source"] == "train", "model_id"]
    return expand(
        f"results/models/{wildcards.setting}/{{model}}/history.parquet", model=trained
    )


def _figures(s):
    """Every figure of a setting: each definition (with its logit-normalised twin as the top
    row) over all its models, then per view."""
    shown = [d.id for d in plan.figure_definitions(DEFINITIONS[s])]
    out = [f"results/figures/{s}/{d}.png" for d in shown]
    for view, ids in VIEWS[s].items():
        out += [f"results/figures/{s}/{view}/{d}.png" for d in ids if d in shown]
    return out


def get_ablation_figures(s):
    """Appendix H: tau against m, n_iters or data, for each that some definitions vary alone."""
    return [
        f"results/figures/{s}/ablations/{q}.png" for q in plan.ablations(DEFINITIONS[s])
    ]


def get_figures(wildcards):
    return _figures(wildcards.setting)


def subsets_figures(s):
    """The histograms of tau over random subsets of models, one per figure definition (when on)."""
    if BLOCKS[s]["subsets"]["k"] == 0:
        return []
    shown = [d.id for d in plan.figure_definitions(DEFINITIONS[s])]
    return [f"results/figures/{s}/subsets/{d}.png" for d in shown]


def get_subsets_figures(wildcards):
    return subsets_figures(wildcards.setting)


def get_subsets_table(wildcards):
    """The table of tau over random subsets of models, when the setting asks for it."""
    s = wildcards.setting
    return [f"results/tables/{s}/subsets.parquet"] if BLOCKS[s]["subsets"]["k"] else []


def get_checked_models(setting):
    """The models of the radius check: spread evenly over the model sheet."""
    ids = SHEETS[setting]["model_id"].tolist()
    return checked_models(ids, BLOCKS[setting]["radius_check"]["models"])


def get_radius_check_models(wildcards):
    return " ".join(get_checked_models(wildcards.setting))


def get_radius_check_sharpness(wildcards):
    """The sharpness tables of the jobs that hold the checked models (and only those)."""
    s = wildcards.setting
    shards = BLOCKS[s]["sharpness"]["shards"]
    jobs = sorted({plan.job_of(m, shards) for m in get_checked_models(s)})
    return expand(f"results/sharpness/{s}/{{job}}.parquet", job=jobs)


def upstream_artefacts(setting):
    """Checkpoints and data files that results are computed from. Targets of `all`, so that a
    deleted one is rebuilt (and what depends on it recomputed) instead of silently skipped.
    """
    block, sheet = BLOCKS[setting], SHEETS[setting]
    s = settings.get(setting)
    refs = list(s.subset_inputs(block, sheet).values())
    if (
        drift_applies(setting)
        or block["metrics"] == "evaluate"
        or (sheet["source"] == "train").any()
    ):
        refs += [Ref("dataset"), *s.dataset_inputs(block, sheet).values()]
    paths = [checkpoint_path(setting, m) for m in sheet["model_id"]]
    paths += [ref_path(setting, ref) for ref in refs if ref.kind != "checkpoint"]
    return [*paths, f"results/data/{setting}/subset.pt"]


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


def setting_tables(setting):
    """Every table of a setting. Targets of `all`: a deleted or removed one is rebuilt even
    where the reports computed from it still exist."""
    names = ["models", "metrics", "sharpness", "correlation", "granulated"]
    names += ["measures"] if BLOCKS[setting]["measures"] else []
    names += ["history"] if (SHEETS[setting]["source"] == "train").any() else []
    out = [f"results/tables/{setting}/{name}.parquet" for name in names]
    return [*out, f"results/tables/{setting}/correlation.md"]


CONTENT_RECORD = Path("results/cache/content.json")


def content_inputs():
    """The files every result is computed from, of every setting (see sharpgen.freshness)."""
    return sorted(
        {p for s in SETTINGS if not WAITING[s] for p in upstream_artefacts(s)}
    )


def get_final_outputs():
    out = []
    for s in SETTINGS:
        if WAITING[s]:
            out += [str(archive.record_path(a)) for a in WAITING[s]]
            continue
        out += upstream_artefacts(s)
        out += setting_tables(s)
        out.append(f"results/report/{s}.md")
        out.append(f"results/report/{s}.html")
        out += _figures(s)
        out += get_ablation_figures(s)
        out += subsets_figures(s)
    if PGDL_TASKS:
        out.append(f"{TASK_AVERAGE}.parquet")
    if config["theory"]["dln"]["run"]:
        out.append("results/theory/dln.png")
    if config["theory"]["scale"]["run"]:
        out.append("results/theory/classifier_scale.png")
    if config["theory"]["linear"]["run"]:
        out.append("results/theory/linear_model.png")
    if config["theory"]["dln_population"]["run"]:
        out.append("results/theory/dln_population.png")
    return out


def get_precision(wildcards):
    """Params: the setting's precision of matmuls and convolutions (fp32 or tf32)."""
    return BLOCKS[wildcards.setting]["precision"]


def get_figure_marker(wildcards):
    """Params: the marker column of the figures ('' for none)."""
    return BLOCKS[wildcards.setting]["figures"]["marker"] or ""


def get_calibration_checkpoint(wildcards):
    """The checkpoint of the model that stands for an architecture in its calibration."""
    model = CALIBRATED[wildcards.setting][wildcards.arch]
    return {"checkpoint": checkpoint_path(wildcards.setting, model)}


def get_calibration_model_arg(wildcards, input):
    model = CALIBRATED[wildcards.setting][wildcards.arch]
    arch = ROWS[wildcards.setting].loc[model, "arch"]
    return shlex.quote(f"{model}={input.checkpoint}@{arch}")


def get_definition_ms(wildcards):
    return " ".join(
        str(m) for m in sorted({d.m for d in DEFINITIONS[wildcards.setting]})
    )


def job_archs(setting, job):
    return [plan.arch_key(ROWS[setting].loc[m, "arch"]) for m in JOBS[setting][job]]


def get_job_calibrations(wildcards):
    """The calibrations of a job's architectures (its resources come from them). Not ancient():
    a job behind an ancient() input is dropped from the plan whenever that input is remade,
    whatever else changed (a replaced checkpoint, new definitions); a rerun after a new
    calibration reads its pairs from the cache."""
    s = wildcards.setting
    return [
        f"results/calibration/{s}/{key}.json"
        for key in sorted(set(job_archs(s, wildcards.job)))
    ]


def sharpness_request(wildcards, input, attempt):
    """(runtime minutes, mem_mb) of a sharpness job from the cost model (fallback before calibration)."""
    from sharpgen import cost

    s = wildcards.setting
    paths = {Path(p).stem: Path(p) for p in input.calibration}
    if not all(p.is_file() for p in paths.values()):
        return 60 * attempt, 8000 * attempt
    calibrations = {k: cost.Calibration.read(p) for k, p in paths.items()}
    by_id = {d.id: d for d in DEFINITIONS[s]}
    work = [
        (calibrations[key], [by_id[i] for i in MODEL_DEFINITIONS[s][m]])
        for m, key in zip(JOBS[s][wildcards.job], job_archs(s, wildcards.job))
    ]
    n = BLOCKS[s]["sharpness"]["n"]
    return cost.request(cost.job_seconds(work, n), cost.job_memory_mb(work), attempt)


def get_sharpness_runtime(wildcards, input, attempt):
    return sharpness_request(wildcards, input, attempt)[0]


def get_sharpness_mem_mb(wildcards, input, attempt):
    return sharpness_request(wildcards, input, attempt)[1]
