"""The PGDL score averaged over tasks: hand-worked tables, the job's Parquet and Markdown, and the
planning (config/pgdl.yaml plans one task_average job; the default study none)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.workflow import REPO, job_counts, snakemake, workdir
from sharpgen import tables, task_average
from sharpgen.jobs.tables import task_average as task_average_job

GAP = "gen_gap_error"


def granulated(task: str, rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """A granulated table: a Psi row per (definition, target, cmi), and an axis row that must be ignored."""
    frame = pd.DataFrame(
        [(task, d, t, axis, 0.1, 0.1, 2, 0, cmi if axis == "Psi" else math.nan) for d, t, cmi in rows for axis in ("lr", "Psi")],
        columns=tables.GRANULATED.names,
    )
    return frame.astype({"n_groups": "int64", "n_skipped": "int64"})


TASKS = {
    "pgdl_task2": granulated("pgdl_task2", [("dist_init", GAP, 4.0), ("sharp", GAP, 1.0), ("sharp", "test_error", 7.0)]),
    "pgdl_task1": granulated("pgdl_task1", [("dist_init", GAP, 6.0), ("sharp", GAP, math.nan), ("jacobian", GAP, 2.5)]),
}


def test_every_task_and_the_mean_over_the_tasks_that_have_a_score_by_hand() -> None:
    table = task_average.average(TASKS)
    got = {(r.definition, r.target, r.setting): (r.cmi, r.n_tasks) for r in table.itertuples()}
    mean = task_average.MEAN
    assert got[("dist_init", GAP, "pgdl_task2")] == (4.0, 1) and got[("dist_init", GAP, "pgdl_task1")] == (6.0, 1)
    assert got[("dist_init", GAP, mean)] == (5.0, 2)  # (4 + 6) / 2
    assert got[("sharp", GAP, mean)] == (1.0, 1)  # nan on task 1: the mean over the one task that has it
    assert math.isnan(got[("sharp", GAP, "pgdl_task1")][0]) and got[("sharp", GAP, "pgdl_task1")][1] == 0
    assert got[("jacobian", GAP, mean)] == (2.5, 1) and ("jacobian", GAP, "pgdl_task2") not in got  # absent from task 2
    assert got[("sharp", "test_error", mean)] == (7.0, 1)
    assert len(table) == 3 + 3 + 2 + 2  # dist_init, sharp (gap), jacobian, sharp (test_error): tasks present + mean
    # tasks in the study's order (task 2 first here), the mean last
    assert table[table["definition"] == "dist_init"]["setting"].tolist() == ["pgdl_task2", "pgdl_task1", mean]
    text = task_average.markdown(table, list(TASKS))
    assert "| definition | pgdl_task2 | pgdl_task1 | mean | n |" in text
    assert "| dist_init | 4.00 | 6.00 | 5.00 | 2 |" in text and "| sharp | 1.00 | — | 1.00 | 1 |" in text
    assert "| jacobian | — | 2.50 | 2.50 | 1 |" in text
    assert text.index(f"### target {GAP}") < text.index("### target test_error")  # the competition's target first
    assert "No task has a PGDL score" in task_average.markdown(task_average.average({}), [])


def test_the_job_writes_the_table_and_its_markdown(tmp_path: Path) -> None:
    paths = []
    for task, frame in TASKS.items():
        path = tmp_path / task / "granulated.parquet"
        tables.write(frame, path, tables.GRANULATED, "granulated")
        paths.append((task, path))
    task_average_job(paths, tmp_path / "average.parquet", tmp_path / "average.md")
    table = tables.read(tmp_path / "average.parquet", tables.TASK_AVERAGE)
    expected = task_average.average(TASKS)
    assert table["setting"].tolist() == expected["setting"].tolist()
    assert np.allclose(table["cmi"], expected["cmi"], equal_nan=True) and table["n_tasks"].tolist() == expected["n_tasks"].tolist()
    assert "| dist_init | 4.00 | 6.00 | 5.00 | 2 |" in (tmp_path / "average.md").read_text()


def test_config_pgdl_plans_one_task_average_that_every_report_waits_for(tmp_path: Path) -> None:
    """config/pgdl.yaml with two of its tasks (planning all eight takes half a minute), their
    archives already unzipped (``root``; the README's grids stand in for the model sheets);
    while an archive is not extracted, its task is not averaged (the first pass plans none).
    The default study plans none (test_workflow's dry run of the default study)."""
    import yaml

    root = workdir(tmp_path / "w")
    config = yaml.safe_load((REPO / "config" / "pgdl.yaml").read_text())
    config["settings"] = ["pgdl_task2", "pgdl_task7"]
    (root / "unzipped.yaml").write_text(yaml.safe_dump({**config, **{s: {**config[s], "root": str(tmp_path / "unzipped")} for s in config["settings"]}}))
    dry = snakemake(root, "-n", "--configfile", "unzipped.yaml").stdout
    counts = job_counts(dry)
    assert counts["task_average"] == 1 and counts["html_report"] == counts["report"] == 2
    assert counts["measures"] == 54 + 48  # the tasks' models, jacobian_norm among their measures
    assert "--input pgdl_task2=results/tables/pgdl_task2/granulated.parquet pgdl_task7=" in dry
    (root / "archives.yaml").write_text(yaml.safe_dump(config))
    assert "task_average" not in job_counts(snakemake(root, "-n", "--configfile", "archives.yaml").stdout)


def test_a_pgdl_tasks_html_page_shows_the_average_with_the_mean_last() -> None:
    from sharpgen.htmlreport import Report, task_average_section

    empty = pd.DataFrame(columns=tables.CORRELATION.names)
    report = Report("pgdl_task1", "", empty, pd.DataFrame(columns=tables.GRANULATED.names), [], task_average=task_average.average(TASKS))
    text = task_average_section(report)
    assert "<h2>PGDL score averaged over tasks</h2>" in text
    gap = text[: text.index("<details>")]  # the competition's target in full, other targets collapsed
    head = gap[gap.index("<thead>") : gap.index("</thead>")]
    assert head.index("pgdl_task2") < head.index("pgdl_task1") < head.index("mean (n tasks)")
    assert "<td>dist_init</td><td>4.00</td><td>6.00</td><td>5.00 (2)</td>" in gap
    assert "<summary>target test_error</summary>" in text
    assert task_average_section(Report("digits", "", empty, empty, [])) == ""  # not a PGDL task: no section
