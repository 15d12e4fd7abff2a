"""Rule of workflow/rules/report.smk: a Markdown report of one setting's tables and figures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sharpgen.atomic import atomic_path


def report(setting: str, tables_md: Sequence[Path], figures: Sequence[Path], out: Path) -> None:
    """The tau tables, then every figure, linked relative to the report."""
    parts = [f"# sharpgen report: {setting}\n"]
    parts += [Path(md).read_text() for md in tables_md]
    parts.append("\n## Figures\n")
    parts += [f"![{Path(fig).stem}]({os.path.relpath(fig, Path(out).parent)})\n" for fig in figures]
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(parts))
