#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint and format checks, headless Chromium, a local SLURM
# cluster, pytest.
# Usage: bash tests/run.sh [pytest args]   (run by `make test`, which creates .venv first)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
export PATH="$BIN:$PATH"

echo "== snakemake --lint"
snakemake --lint
echo "== snakefmt --check"
snakefmt --check Snakefile workflow/rules

echo "== headless Chromium (the HTML report tests open the report in it)"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

echo "== local SLURM cluster"
bash tests/cluster/slurm-up.sh
trap 'bash tests/cluster/slurm-down.sh' EXIT

echo "== pytest"
pytest "$@"
