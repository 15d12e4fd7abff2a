#!/usr/bin/env bash
# slurm-down.sh -- stop the localhost test cluster started by slurm-up.sh.
#
# Stops exactly the daemons whose PIDs slurm-up.sh recorded in
# $SHARPGEN_SLURM_STATE/pids (default /tmp/sharpgen-slurm/pids), in reverse
# start order: slurmd, slurmctld, slurmdbd, mariadb, munged. Sends SIGTERM,
# waits up to SHARPGEN_SLURM_STOP_TIMEOUT seconds (default 30) per daemon,
# then SIGKILL. Idempotent: missing or stale PID files are skipped.
# Packages, the SLURM state and the accounting DB are kept, so the next
# slurm-up.sh is a (fast) restart of the same cluster. /etc/slurm/slurm.conf is
# moved into $SHARPGEN_SLURM_STATE (slurm-up.sh writes it again): with it in
# place and no controller, every `scontrol` call (the SLURM executor plugin
# makes one whenever Snakemake starts, even for `snakemake -n`) waits 10 s.
set -euo pipefail

STATE=${SHARPGEN_SLURM_STATE:-/tmp/sharpgen-slurm}
STOP_TIMEOUT=${SHARPGEN_SLURM_STOP_TIMEOUT:-30}
T0=$(date +%s%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

[[ $(id -u) -eq 0 ]] || { echo "slurm-down: must run as root" >&2; exit 1; }

# Jobs still running would be orphaned (slurmstepd survives slurmd);
# cancel them while the controller is still there.
if [[ -s $STATE/pids/slurmctld.pid ]] && kill -0 "$(cat "$STATE/pids/slurmctld.pid")" 2>/dev/null; then
    timeout 10 scancel --user=root --full 2>/dev/null || true
fi

for name in slurmd slurmctld slurmdbd mariadb munged; do
    pidf=$STATE/pids/$name.pid
    [[ -s $pidf ]] || continue
    pid=$(cat "$pidf")
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "slurm-down: $name (pid $pid) not running"
        rm -f "$pidf"
        continue
    fi
    kill -TERM "$pid"
    deadline=$(($(date +%s) + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if (($(date +%s) >= deadline)); then
            echo "slurm-down: $name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
    done
    rm -f "$pidf"
    echo "slurm-down: stopped $name (pid $pid)"
done
if [[ -f /etc/slurm/slurm.conf ]]; then
    mkdir -p "$STATE"
    mv /etc/slurm/slurm.conf "$STATE/slurm.conf.stopped"
fi
echo "slurm-down: done in $(elapsed)s"
