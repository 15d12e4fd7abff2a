#!/usr/bin/env bash
# slurm-up.sh -- bring up a real, single-node SLURM cluster (with accounting)
# on localhost, for testing the Snakemake SLURM profiles of sharpgen.
#
# Everything is started directly (there is no systemd on the test machines):
#   munged -> mariadbd -> slurmdbd -> (sacctmgr registration) -> slurmctld -> slurmd
# Each daemon runs in the foreground of its own session (setsid ... -D/-F) and
# its PID is recorded in the state dir, so slurm-down.sh stops exactly these.
#
# Usage:   sudo tests/cluster/slurm-up.sh          (must run as root)
# Env:     SHARPGEN_SLURM_STATE    state dir        (default /tmp/sharpgen-slurm)
#          SHARPGEN_SLURM_TIMEOUT  startup timeout  (default 60 seconds)
#          SHARPGEN_SLURM_CLUSTER  cluster name     (default sharpgen)
#
# Idempotent: a second run finds the recorded daemons alive, checks that the
# cluster answers and returns within a second or so. Daemons that died are
# restarted; config files are only rewritten when their content changes.
#
# Accounting (MariaDB + slurmdbd) is NOT optional: the Snakemake SLURM executor
# plugin queries job states with `sacct` whenever that binary exists; without
# slurmdbd, sacct fails and Snakemake waits forever.
set -euo pipefail

T0=$(date +%s%N)
STATE=${SHARPGEN_SLURM_STATE:-/tmp/sharpgen-slurm}
TIMEOUT=${SHARPGEN_SLURM_TIMEOUT:-60}
CLUSTER=${SHARPGEN_SLURM_CLUSTER:-sharpgen}
HOST=$(hostname -s)
PACKAGES=(slurm-wlm slurm-client slurmdbd munge mariadb-server mariadb-client)
DB_SOCK=/run/mysqld/mysqld.sock
DB_PASS=sharpgen-test # local test DB, reachable only through the unix socket

log() { printf '[slurm-up %5ss] %s\n' "$(elapsed)" "$*"; }
elapsed() { awk -v a="$T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

# die MSG -- print MSG and the tail of every log in the state dir, exit 1.
die() {
    echo "slurm-up: ERROR: $*" >&2
    for f in "$STATE"/log/*; do
        [[ -s $f ]] || continue
        echo "----- tail $f -----" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

# alive NAME -- true if the PID recorded for NAME is a running process.
alive() {
    local pidf="$STATE/pids/$1.pid"
    [[ -s $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null
}

# wait_for DESC CMD... -- retry CMD until it succeeds or the deadline passes.
wait_for() {
    local desc=$1; shift
    until "$@" >/dev/null 2>&1; do
        (( $(date +%s) < DEADLINE )) || die "timeout (${TIMEOUT}s) waiting for $desc"
        sleep 0.2
    done
}

# start NAME CMD... -- start CMD (which must stay in the foreground) in a new
# session, logging stdout/stderr to $STATE/log/NAME.out, record its PID.
# setsid/setpriv exec in place, so $! is the daemon itself.
start() {
    local name=$1; shift
    if alive "$name"; then
        log "$name already running (pid $(cat "$STATE/pids/$name.pid"))"
        return 0
    fi
    setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
    echo $! >"$STATE/pids/$name.pid"
    STARTED+=("$name")
    log "started $name (pid $!)"
}

# put_file PATH MODE OWNER -- write stdin to PATH if the content differs.
# Sets CHANGED=1 when the file was (re)written.
put_file() {
    local path=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if ! cmp -s "$tmp" "$path" 2>/dev/null; then
        install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$path"
        CHANGED=1
    fi
    rm -f "$tmp"
    chmod "$mode" "$path"; chown "$owner" "$path"
}

[[ $(id -u) -eq 0 ]] || { echo "slurm-up: must run as root" >&2; exit 1; }
STARTED=()

# ---------------------------------------------------------------- fast path
# All five daemons recorded and alive, and the controller answers: done.
if alive munged && alive mariadb && alive slurmdbd && alive slurmctld && alive slurmd; then
    state=$(timeout 10 sinfo -h -o %t 2>/dev/null | head -n1 || true)
    if [[ $state =~ ^(idle|mix|alloc)$ ]]; then
        log "cluster already up (node $HOST: $state), nothing to do"
        exit 0
    fi
    log "daemons alive but node state is '${state:-?}', running full bring-up"
fi

# ---------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    # apt-get update only when the package lists do not know the packages yet.
    if ! apt-cache show slurm-wlm >/dev/null 2>&1 || ! apt-cache show slurmdbd >/dev/null 2>&1; then
        apt-get update -q
    fi
    # Keep maintainer scripts from starting services on their own (without
    # systemd they would fall back to init scripts and we would end up with
    # daemons we did not record). Only installed if no policy exists already.
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" || { ((own_policy)) && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    ((own_policy)) && rm -f /usr/sbin/policy-rc.d
    log "packages installed"
fi
DEADLINE=$(($(date +%s) + TIMEOUT)) # the startup timeout excludes apt

# ---------------------------------------------------------------- state dir
# $STATE/pids  PID of each daemon we started      (read by slurm-down.sh)
# $STATE/log   daemon logs (*.log) and stdout/stderr (*.out)
# $STATE/slurmctld, $STATE/slurmd   SLURM state/spool directories
mkdir -p "$STATE"/{pids,log,run,slurmctld,slurmd}
chown slurm:slurm "$STATE"/{log,run,slurmctld}
chmod 755 "$STATE"

# ---------------------------------------------------------------- hostname
# slurmd looks itself up by `hostname -s`; make sure that name resolves.
if ! getent hosts "$HOST" >/dev/null; then
    echo "127.0.0.1 $HOST" >>/etc/hosts
    log "added $HOST to /etc/hosts"
fi

# ---------------------------------------------------------------- munge
# The key must exist, belong to munge and not be readable by anyone else.
if [[ ! -s /etc/munge/munge.key ]]; then
    install -d -m 700 -o munge -g munge /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    log "created munge key"
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -m 755 -o munge -g munge /run/munge
install -d -m 700 -o munge -g munge /var/lib/munge /var/log/munge
start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
wait_for "munged (munge -n | unmunge)" bash -c 'munge -n | unmunge'

# ---------------------------------------------------------------- mariadb
install -d -m 755 -o mysql -g mysql /run/mysqld
if [[ ! -d /var/lib/mysql/mysql ]]; then
    log "initialising MariaDB datadir"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql \
        --auth-root-authentication-method=socket --skip-test-db \
        >>"$STATE/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed"
fi
# No TCP: slurmdbd connects to "localhost", which the client library maps to
# the unix socket. mariadbd started as root drops to --user itself.
start mariadb /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql \
    --socket="$DB_SOCK" --pid-file=/run/mysqld/mysqld.pid --skip-networking \
    --log-error="$STATE/log/mariadb.log"
wait_for "MariaDB" mariadb-admin --socket="$DB_SOCK" ping
mariadb --socket="$DB_SOCK" -u root <<SQL || die "creating slurm_acct_db failed"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# ---------------------------------------------------------------- configs
# slurmdbd refuses a config that is readable by others or not owned by SlurmUser.
CHANGED=0
put_file /etc/slurm/slurmdbd.conf 600 slurm:slurm <<EOF
# Generated by sharpgen tests/cluster/slurm-up.sh -- test cluster only.
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DB_PASS
EOF

# Fake GPUs: gres.conf needs device files (a bare Count= marks the node
# invalid); character devices aliasing /dev/null (1,3) are enough for slurmd
# to hand out GPUs and set CUDA_VISIBLE_DEVICES in the jobs.
for i in 0 1; do
    [[ -c /dev/fakegpu$i ]] || mknod -m 666 /dev/fakegpu$i c 1 3
done
NCPU=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
REAL_MB=$((MEM_MB * 9 / 10)) # leave ~10% for the OS and the daemons

CHANGED_CONF=0
CHANGED=0
put_file /etc/slurm/gres.conf 644 root:root <<EOF
# Generated by sharpgen tests/cluster/slurm-up.sh -- two fake GPUs.
NodeName=$HOST Name=gpu File=/dev/fakegpu[0-1]
EOF
((CHANGED)) && CHANGED_CONF=1

CHANGED=0
put_file /etc/slurm/slurm.conf 644 root:root <<EOF
# Generated by sharpgen tests/cluster/slurm-up.sh -- single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in the test machines/containers.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Node back to service automatically after a daemon restart.
ReturnToService=2
# Keep finished jobs visible to squeue/scontrol for 5 min.
MinJobAge=300
KillWait=5
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job without --mem would get the whole node.
DefMemPerCPU=256
# Accounting: required by the Snakemake SLURM plugin (status via sacct).
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$HOST CPUs=$NCPU RealMemory=$REAL_MB Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
((CHANGED)) && CHANGED_CONF=1

# ---------------------------------------------------------------- slurmdbd
start slurmdbd /usr/sbin/slurmdbd -D
wait_for "slurmdbd (sacctmgr list cluster)" sacctmgr -n list cluster

# Register cluster, account and root user (sacctmgr -i add fails on
# duplicates, so only add what is missing).
if ! sacctmgr -n -P list cluster format=Cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
fi
if ! sacctmgr -n -P list account format=Account | grep -qx sharpgen; then
    sacctmgr -i add account sharpgen Cluster="$CLUSTER" Description=test Organization=test >/dev/null \
        || die "sacctmgr add account failed"
fi
# root already exists (slurmdbd creates it with account "root"); what matters
# is the association root <-> sharpgen, which the Snakemake plugin checks when
# a profile sets slurm_account: sharpgen. Make sharpgen root's default account.
if ! sacctmgr -n -P list assoc format=Account,User | grep -qx 'sharpgen|root'; then
    sacctmgr -i add user root Account=sharpgen Cluster="$CLUSTER" >/dev/null || die "sacctmgr add user failed"
fi
if ! sacctmgr -n -P list user root format=DefaultAccount | grep -qx sharpgen; then
    sacctmgr -i modify user root set DefaultAccount=sharpgen >/dev/null || die "sacctmgr modify user failed"
fi

# ---------------------------------------------------------------- slurmctld/slurmd
# -c (clear saved state) only on the very first start.
ctld_args=(-D)
[[ -e $STATE/slurmctld/node_state ]] || ctld_args+=(-c)
if alive slurmctld && ((CHANGED_CONF)); then
    log "config changed, scontrol reconfigure"
    scontrol reconfigure || true
fi
start slurmctld /usr/sbin/slurmctld "${ctld_args[@]}"
wait_for "slurmctld (scontrol ping)" bash -c 'scontrol ping | grep -q "is UP"'
start slurmd /usr/sbin/slurmd -D

# ---------------------------------------------------------------- health checks
node_idle() { [[ $(sinfo -h -n "$HOST" -o %t) =~ ^(idle|mix|alloc)$ ]]; }
wait_for "node $HOST idle (sinfo -h -o %t)" node_idle
for name in munged mariadb slurmdbd slurmctld slurmd; do
    alive "$name" || die "$name exited during startup"
done
log "node $HOST: $(sinfo -h -n "$HOST" -o '%t cpus=%c mem=%m gres=%G')"

# `srun true`, printing the job id so that sacct is asked about this very job.
smoke_id=$(timeout $((DEADLINE - $(date +%s) > 1 ? DEADLINE - $(date +%s) : 1)) \
    srun -J sharpgen-smoke -n1 -t 1 bash -c 'true && echo "$SLURM_JOB_ID"') || die "srun true failed"
smoke_done() { sacct -n -X -P -j "$smoke_id" -o State | grep -q COMPLETED; }
wait_for "sacct to report the smoke job" smoke_done
log "srun true + sacct OK (job $smoke_id)"
log "cluster '$CLUSTER' up in $(elapsed)s (state dir $STATE; stop with tests/cluster/slurm-down.sh)"
