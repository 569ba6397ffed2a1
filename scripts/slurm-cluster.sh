#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm executor's tests and for trying
# `--executor slurm` without a cluster. Root only (it starts munged, slurmctld and slurmd).
#
#   scripts/slurm-cluster.sh start [DIR]   install slurm-wlm and munge if missing, write DIR/slurm.conf
#                                          (default DIR: /tmp/saepipe-slurm), start the daemons, wait
#                                          until the node is idle; prints `export SLURM_CONF=DIR/slurm.conf`
#                                          (a cluster it started before that still answers is reused)
#   scripts/slurm-cluster.sh stop [DIR]    stop the daemons this script started
#
# Exits 1 with the reason on stderr when the daemons cannot start.
set -euo pipefail
action=${1:?usage: scripts/slurm-cluster.sh start|stop [DIR]}
dir=${2:-/tmp/saepipe-slurm}
conf="$dir/slurm.conf"

stop() {
    for daemon in slurmd slurmctld; do
        if [[ -f "$dir/$daemon.pid" ]]; then kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true; fi
    done
}

if [[ "$action" == stop ]]; then stop; exit 0; fi
[[ "$action" == start ]] || { echo "usage: scripts/slurm-cluster.sh start|stop [DIR]" >&2; exit 2; }
# A cluster this script started earlier that still answers is used as it is (its jobs go on).
if [[ -f "$conf" && -f "$dir/slurmctld.pid" ]] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null \
    && SLURM_CONF="$conf" sinfo --noheader --format=%T 2>/dev/null | grep -qE '^(idle|mixed|allocated)$'; then
    echo "export SLURM_CONF=$conf SAEPIPE_SLURM_REUSED=1"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "starting Slurm's daemons needs root" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurm-wlm and munge…" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

mkdir -p "$dir/state" "$dir/spool" "$dir/log"
node=$(slurmd -C | head -1)  # NodeName=HOST CPUs=… RealMemory=…
host=$(hostname)
cat > "$conf" <<CONF
ClusterName=saepipe-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ReturnToService=2
MinJobAge=3600
KillWait=10
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
DefMemPerCPU=1024
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$conf"

# munged: the key comes with the package; the daemon wants its run directory.
mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
if ! munge -n >/dev/null 2>&1; then
    [[ -f /etc/munge/munge.key ]] || mungekey --create >/dev/null 2>&1 || /usr/sbin/create-munge-key >/dev/null 2>&1 || true
    runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force 2>"$dir/log/munged.err" || {
        echo "munged did not start: $(cat "$dir/log/munged.err")" >&2; exit 1; }
fi
munge -n | unmunge >/dev/null || { echo "munge does not work: $(munge -n 2>&1 | head -1)" >&2; exit 1; }

stop
sleep 1
slurmctld -f "$conf" || { echo "slurmctld did not start: $(tail -3 "$dir/log/slurmctld.log")" >&2; exit 1; }
slurmd -f "$conf" || { echo "slurmd did not start: $(tail -3 "$dir/log/slurmd.log")" >&2; exit 1; }
for _ in $(seq 60); do
    if sinfo --noheader --format=%T 2>/dev/null | grep -qx idle; then
        echo "export SLURM_CONF=$conf"
        exit 0
    fi
    sleep 0.5
done
echo "the Slurm node did not become idle within 30 s: $(sinfo 2>&1 | tail -2 | tr '\n' ' ') $(tail -3 "$dir/log/slurmctld.log" | tr '\n' ' ')" >&2
exit 1
