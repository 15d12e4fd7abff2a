#!/usr/bin/env bash
# Everything worth running on a GPU machine, in one go (under 8 minutes on one H200: the step
# limits add up to 485 s). Each step
# writes its own file under the results folder as soon as it finishes (a run cut short still
# reports), runs under its own `timeout`, and a failing step does not stop the others.
#
#   bench/gpu_check.sh [RESULTS_DIR] [--wheels DIR] [--cpu-smoke]
#
# RESULTS_DIR defaults to $OUT (the device runner's folder) or ./gpu-check. --wheels DIR: a
# folder of wheels (snakemake, jsonschema, ... and their dependencies) installed with
# `pip --no-index --target` into a private folder for this run. A `python` that execs python3 is
# put first on PATH when the machine has none (the workflow's rules call `python -m sharpgen`).
# --cpu-smoke: tiny sizes on the CPU, to test this script anywhere (about 2 minutes).
#
# Files: 00-environment.txt, 01-cuda-tests.txt, 02-gpu-engine.txt, 03-engine-kernels.txt,
# 04-engine-bound.txt, 05-train-epoch.txt, 06-calibrate-paper.txt, 07-estimate-paper.txt,
# 08-default-study.txt (Snakemake's own output) and 09-default-study-rules.txt (seconds per rule
# from the benchmark files), each step's exit status in steps.tsv.
set -u
cd "$(dirname "$0")/.."
RESULTS="${OUT:-gpu-check}"
WHEELS=""
SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS="$2"; shift 2 ;;
    --cpu-smoke) SMOKE=1; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) RESULTS="$1"; shift ;;
  esac
done
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if ! command -v python >/dev/null 2>&1; then
  mkdir -p "$TMP/bin"
  printf '#!/bin/sh\nexec python3 "$@"\n' > "$TMP/bin/python"
  chmod +x "$TMP/bin/python"
  export PATH="$TMP/bin:$PATH"
fi
SITE=""
if [ -n "$WHEELS" ]; then
  SITE="$TMP/site"
  python -m pip install --quiet --no-index --find-links "$WHEELS" --target "$SITE" "$WHEELS"/*.whl \
    > "$RESULTS/00-wheels.txt" 2>&1 || echo "wheel install failed (see 00-wheels.txt)" >&2
fi
export PYTHONPATH="$PWD/src${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
export KINETO_LOG_LEVEL=5 PYTHONUNBUFFERED=1

if [ "$SMOKE" = 1 ]; then
  export SHARPGEN_DEVICE=cpu CUDA_VISIBLE_DEVICES=""
  DEVICE=cpu
  ENGINE_ARGS="--quick --device cpu --repeats 1"
  KERNEL_ARGS="--device cpu --models mlp-4 mlp-64 --n 16 --m 16"
  BOUND_ARGS="--device cpu --models mlp-4 --n 16 --m 16 --repeats 1"
  EPOCH_ARGS="--device cpu --arch sharpgen.networks.architectures:preact_resnet18(width=4) --n 256 --batch-size 64 --workers 1 --recipes crop+flip +randaug --threads 1"
  CALIBRATE_ARGS="--device cpu --settings cifar --m 16"
  STUDY_TIMEOUT=120
  SCALE=3  # a CPU is slower than the GPU these limits are sized for
else
  DEVICE=cuda
  ENGINE_ARGS="--device cuda --repeats 2"
  KERNEL_ARGS="--device cuda --models mlp-4 mlp-64 resnet18-w16 vit-d128x4 --n 128"
  BOUND_ARGS="--device cuda --models resnet18-w16 vit-d128x4 --n 256 --repeats 2 --vmap 10"
  EPOCH_ARGS="--device cuda --n 10000 --batch-size 128 --workers 0 4 --amp"
  CALIBRATE_ARGS="--device cuda"
  STUDY_TIMEOUT=120
  SCALE=1
fi

printf 'step\tstatus\tseconds\n' > "$RESULTS/steps.tsv"
step() {  # step NAME TIMEOUT_S COMMAND...: run, write NAME.txt, log the status
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  echo "== $name (timeout ${limit}s): $*" >&2
  timeout --kill-after=5 "$((limit * SCALE))" "$@" > "$RESULTS/$name.txt" 2>&1
  local status=$?
  printf '%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" >> "$RESULTS/steps.tsv"
  echo "   -> status $status in $((SECONDS - t0)) s" >&2
}

step 00-environment 15 bash -c 'date -u; nproc; free -g | head -2; nvidia-smi 2>&1 | head -15;
  python -c "import torch, sys; print(sys.version); print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else \"\")";
  python -m snakemake --version 2>&1 | tail -1'
if [ "$SMOKE" = 1 ]; then
  step 01-cuda-tests 45 python -m pytest -q -x tests/test_sharpness_flat.py -k "per_tensor_loop and l2 and False-False"
else
  step 01-cuda-tests 45 python -m pytest -q -rs tests/test_sharpness_engine.py tests/test_sharpness_batched.py tests/test_zoo.py -k cuda
fi
step 02-gpu-engine 80 python bench/gpu_engine.py $ENGINE_ARGS
step 03-engine-kernels 30 python bench/engine_speed.py --kernels --no-timing $KERNEL_ARGS
step 04-engine-bound 45 python bench/engine_speed.py $BOUND_ARGS
step 05-train-epoch 75 python bench/train_epoch.py $EPOCH_ARGS
step 06-calibrate-paper 50 python bench/calibrate_paper.py --configfile config/paper.yaml --config grid=paper \
  --out "$TMP/calibration" $CALIBRATE_ARGS
step 07-estimate-paper 15 python -m sharpgen estimate --configfile config/paper.yaml --config grid=paper \
  --calibration-dir "$TMP/calibration"
cp -r "$TMP/calibration" "$RESULTS/calibration" 2>/dev/null

# The default study through the local-gpu profile, in a scratch copy of the workflow.
STUDY="$TMP/study"
mkdir -p "$STUDY"
cp -r Snakefile config.yaml config workflow envs "$STUDY"/
step 08-default-study "$STUDY_TIMEOUT" bash -c "cd '$STUDY' && python -m snakemake --workflow-profile workflow/profiles/local-gpu \
  --cores \$(nproc) --resources gpu=8 --show-failed-logs"
step 09-default-study-rules 10 python bench/rule_times.py "$STUDY/results"
cp -r "$STUDY/results/logs" "$RESULTS/default-study-logs" 2>/dev/null
echo "results in $RESULTS" >&2
