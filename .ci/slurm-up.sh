#!/usr/bin/env bash
# Install and start a one-node SLURM cluster on 127.0.0.1 for the `slurm` tests (tests/test_slurm.py):
# munge, MariaDB + slurmdbd (job accounting, so `sacct` works as on a real cluster), slurmctld and slurmd.
# The node gets this machine's CPUs and ~85% of its memory, and SLURM_UP_GPUS fake GPUs (gres with File=/dev/null,
# /dev/zero, ...: jobs are allocated `--gpus` and see CUDA_VISIBLE_DEVICES, no device is touched).
# Partitions: `cpu` (default) and `gpu`, both on the one node, so that a per-rule partition can be checked.
#
# Idempotent: a second call checks the running cluster and returns; after a config change it restarts the daemons.
# Needs root and apt-get (Debian bookworm ships slurm-wlm 22.05). Exits non-zero with a message naming what failed.
# Usage: sudo .ci/slurm-up.sh          (environment: SLURM_UP_GPUS=2, SLURM_UP_CLUSTER=astgenre)
set -euo pipefail

GPUS="${SLURM_UP_GPUS:-2}"
CLUSTER="${SLURM_UP_CLUSTER:-astgenre}"
ETC=/etc/slurm
STATE=/var/lib/slurm
LOGS=/var/log/slurm
NODE="$(hostname -s)"

die() { echo "slurm-up: $*" >&2; exit 1; }
say() { echo "slurm-up: $*"; }

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every second, fail with DESCRIPTION after SECONDS.
wait_for() {
    local seconds="$1" what="$2"
    shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    die "$what did not come up within ${seconds}s (logs: $LOGS/, /var/log/munge/, $LOGS/mariadb.log)"
}

# running PIDFILE: the daemon whose pid is in PIDFILE is alive.
running() {
    local pid
    pid="$(cat "$1" 2>/dev/null)" && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# stop PIDFILE: end the daemon this script started (by its pid file only).
stop() {
    if running "$1"; then
        kill "$(cat "$1")" 2>/dev/null || true
        for _ in $(seq 30); do running "$1" || break; sleep 1; done
    fi
    rm -f "$1"
}

[[ "$(id -u)" == 0 ]] || die "needs root (installs packages and starts system daemons); run: sudo $0"
[[ "$GPUS" =~ ^[0-9]+$ ]] || die "SLURM_UP_GPUS must be a number, got '$GPUS'"

# --- packages ---------------------------------------------------------------------------------------------------
need=()
for pair in slurmctld:slurmctld slurmd:slurmd slurmdbd:slurmdbd sbatch:slurm-client munged:munge mariadbd:mariadb-server; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${pair%%:*}" ]] || need+=("${pair#*:}")
done
if ((${#need[@]})); then
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them (Debian/Ubuntu only)"
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed (no network or no package mirror?)"
    apt-get install -y -qq slurm-wlm slurm-client slurmdbd munge mariadb-server >/dev/null \
        || die "apt-get install slurm-wlm slurm-client slurmdbd munge mariadb-server failed"
fi
export PATH="/usr/sbin:$PATH"
for conf in "$ETC/slurm.conf" "$ETC/slurmdbd.conf"; do
    if [[ -s "$conf" ]] && ! head -n 1 "$conf" | grep -q "Written by .ci/slurm-up.sh"; then
        die "$conf exists and was not written by this script: refusing to replace a real cluster's configuration"
    fi
done
mkdir -p "$ETC" "$LOGS" "$STATE/slurmctld" "$STATE/slurmd" /run/munge /run/mysqld

# --- configuration (rewritten every call; a change restarts the daemons) ---------------------------------------
cpus="$(nproc)"
mem_mb="$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)"
devices=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty)
((GPUS <= ${#devices[@]})) || die "at most ${#devices[@]} fake GPUs (one per character device), got $GPUS"

gres_node="" gres_conf="# no fake GPUs (SLURM_UP_GPUS=0)"
if ((GPUS > 0)); then
    gres_node="Gres=gpu:fake:$GPUS"
    gres_conf="$(for ((i = 0; i < GPUS; i++)); do echo "NodeName=$NODE Name=gpu Type=fake File=${devices[$i]}"; done)"
fi

slurm_conf="# Written by .ci/slurm-up.sh: a one-node test cluster on 127.0.0.1.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb $gres_node State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
"

# The database password is generated once and kept in slurmdbd.conf (root-only).
db_pass="$(sed -n 's/^StoragePass=//p' "$ETC/slurmdbd.conf" 2>/dev/null || true)"
[[ -n "$db_pass" ]] || db_pass="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
slurmdbd_conf="# Written by .ci/slurm-up.sh.
AuthType=auth/munge
DbdHost=$NODE
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$db_pass
"

changed=0
# write FILE CONTENT MODE: replace FILE when its content differs; remember that something changed.
write() {
    if [[ ! -f "$1" ]] || [[ "$(cat "$1")" != "$(printf '%s' "$2")" ]]; then
        printf '%s\n' "$2" >"$1"
        changed=1
    fi
    chmod "$3" "$1"
}
write "$ETC/slurm.conf" "$slurm_conf" 644
write "$ETC/gres.conf" "$gres_conf" 644
write "$ETC/cgroup.conf" "CgroupPlugin=autodetect" 644
write "$ETC/slurmdbd.conf" "$slurmdbd_conf" 600

if ((changed)); then
    say "configuration written to $ETC; restarting the SLURM daemons"
    stop /run/slurmd.pid
    stop /run/slurmctld.pid
    stop /run/slurmdbd.pid
fi

# --- munge --------------------------------------------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile /etc/munge/munge.key || die "could not create /etc/munge/munge.key"
fi
chown munge:munge /etc/munge/munge.key /run/munge
chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- munged --force || die "munged failed to start (see /var/log/munge/munged.log)"
    wait_for 20 munge sh -c 'munge -n | unmunge'
fi

# --- MariaDB and slurmdbd (accounting: sacct) ----------------------------------------------------------------------
chown mysql:mysql /run/mysqld
if ! mysqladmin --silent ping >/dev/null 2>&1; then
    say "starting MariaDB"
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql >/dev/null || die "mariadb-install-db failed"
    setsid -f mariadbd --user=mysql --bind-address=127.0.0.1 --innodb-lock-wait-timeout=900 --innodb-buffer-pool-size=512M \
        >>"$LOGS/mariadb.log" 2>&1 </dev/null
    wait_for 60 MariaDB mysqladmin --silent ping
fi
mysql -u root <<SQL || die "could not create the slurm_acct_db database and its user in MariaDB"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

if ! running /run/slurmdbd.pid; then
    say "starting slurmdbd"
    slurmdbd || die "slurmdbd failed to start (see $LOGS/slurmdbd.log)"
    wait_for 60 slurmdbd sacctmgr -n list cluster
fi
if [[ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]]; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr could not register cluster $CLUSTER"
fi

# --- slurmctld and slurmd ------------------------------------------------------------------------------------------
if ! running /run/slurmctld.pid; then
    say "starting slurmctld"
    slurmctld -i || die "slurmctld failed to start (see $LOGS/slurmctld.log)"
    wait_for 30 slurmctld sh -c 'scontrol ping | grep -q UP'
fi
if ! running /run/slurmd.pid; then
    say "starting slurmd"
    slurmd || die "slurmd failed to start (see $LOGS/slurmd.log)"
fi

node_ready() { sinfo -h -n "$NODE" -o %T | grep -Eq '^(idle|mixed|allocated|completing)'; }
for _ in $(seq 60); do
    node_ready && break
    state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)"
    if [[ "$state" =~ ^(down|drain|drained|draining) ]]; then
        scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
    fi
    sleep 1
done
node_ready || die "node $NODE is not usable: $(sinfo -h -N -o '%N %T %E' 2>&1) (see $LOGS/slurmd.log)"

# --- a job through the whole chain: scheduling, a fake GPU, accounting ----------------------------------------------
gres_check=()
((GPUS > 0)) && gres_check=(--partition=gpu --gpus=1)
jobid="$(timeout 120 sbatch --parsable --wait --time=1 --mem=100 "${gres_check[@]}" \
    --output=/dev/null --wrap=true 2>&1)" || die "a test job failed: $jobid (see $LOGS/slurmctld.log, $LOGS/slurmd.log)"
jobid="${jobid%%;*}"
wait_for 30 "accounting of job $jobid" sh -c "sacct -n -X -j $jobid -o State | grep -q COMPLETED"
say "cluster $CLUSTER is up: node $NODE (CPUs=$cpus RealMemory=${mem_mb}MB, $GPUS fake GPU(s)), partitions cpu, gpu; test job $jobid completed"
