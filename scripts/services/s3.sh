#!/usr/bin/env bash
# Ceph RGW for integration tests: a single-node, in-memory Ceph (mon + memstore osd + radosgw) on 127.0.0.1.
#
#   scripts/services/s3.sh start   idempotent; writes $OWB_SERVICES_DIR/s3.env (mode 0600):
#                                  S3_ENDPOINT, S3_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
#   scripts/services/s3.sh stop    stops radosgw and the osd, then the monitor, by their pid files
#
# Needs the Debian packages ceph-mon ceph-osd radosgw ceph-common (installing them is CI's job, not ours).
# Everything lives under $OWB_SERVICES_DIR/s3/; the object store is memstore, so a restart starts empty.
# Env knobs: OWB_S3_MEMSTORE_BYTES (object store capacity, default 6 GiB; memory is only used as filled).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVICES_DIR="${OWB_SERVICES_DIR:-$ROOT/.services}"
D="$SERVICES_DIR/s3"
ENV_FILE="$SERVICES_DIR/s3.env"
LOCK_FILE="$SERVICES_DIR/s3.lock"
CONF="$D/ceph.conf"
RGW_NAME="client.rgw.owb"
REGION="us-east-1"
MEMSTORE_BYTES="${OWB_S3_MEMSTORE_BYTES:-6442450944}"

# The SDKs and curl read these; a CA bundle meant for some proxy must not interfere with plain-HTTP loopback.
unset AWS_CA_BUNDLE http_proxy https_proxy HTTP_PROXY HTTPS_PROXY || true

log() { echo "s3.sh: $*" >&2; }

# A free TCP port on 127.0.0.1 (the kernel picks; a small race with other starters is covered by the lock).
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# PID from a pid file if that process is alive and is the expected program.
live_pid() {
  local file="$1" prog="$2" pid
  [[ -s "$file" ]] || return 1
  pid="$(tr -dc 0-9 <"$file")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$prog" || return 1
  echo "$pid"
}

# SIGTERM, wait up to ~5 s, then SIGKILL: radosgw sometimes ignores SIGTERM after traffic.
stop_pidfile() {
  local file="$1" prog="$2" pid i
  pid="$(live_pid "$file" "$prog")" || { rm -f "$file"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    [[ -d "/proc/$pid" ]] || break
    sleep 0.1
  done
  if [[ -d "/proc/$pid" ]]; then
    log "$prog (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
  fi
  rm -f "$file"
}

do_stop() {
  stop_pidfile "$D/run/rgw.pid" radosgw
  stop_pidfile "$D/run/osd.pid" ceph-osd
  stop_pidfile "$D/run/mon.pid" ceph-mon
  rm -f "$ENV_FILE"
}

# True when the running gateway from a previous start still answers and its env file is there.
healthy() {
  [[ -s "$ENV_FILE" ]] || return 1
  live_pid "$D/run/rgw.pid" radosgw >/dev/null || return 1
  live_pid "$D/run/osd.pid" ceph-osd >/dev/null || return 1
  live_pid "$D/run/mon.pid" ceph-mon >/dev/null || return 1
  local endpoint
  endpoint="$(sed -n 's/^S3_ENDPOINT=//p' "$ENV_FILE")"
  curl -s -o /dev/null --noproxy '*' --max-time 5 "$endpoint/"
}

# Waits up to $2 seconds for a command to succeed.
wait_for() {
  local what="$1" secs="$2" i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "timed out waiting for $what; logs are in $D/log"
  tail -n 20 "$D"/log/*.log >&2 2>/dev/null || true
  return 1
}

ceph_cli() { ceph -c "$CONF" --connect-timeout 20 "$@"; }

write_conf() {
  local mon_port="$1" rgw_port="$2" fsid="$3"
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
mon_initial_members = a
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# Without these six lines radosgw hangs with "get_initial_auth_request returned -13".
ms_mon_client_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_autoscale_mode = off
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_max_pg_per_osd = 1000
osd_objectstore = memstore
memstore_device_bytes = $MEMSTORE_BYTES
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
keyring = $D/keyring
mon_data = $D/mon/\$id
osd_data = $D/osd/\$id
debug_ms = 0

[mon]
pid_file = $D/run/mon.pid

[osd]
pid_file = $D/run/osd.pid

[$RGW_NAME]
pid_file = $D/run/rgw.pid
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_data = $D/rgw
rgw_enable_usage_log = false
rgw_thread_pool_size = 64
# Deleted objects' data is freed by RGW's garbage collector, by default two hours later; in memstore that
# is RAM held by every test run, so collect within a minute.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
rgw_gc_processor_max_time = 30
EOF
}

do_start() {
  if healthy; then return 0; fi
  # Leftovers of a dead or half-started cluster: memstore kept nothing worth saving, so start over.
  do_stop
  rm -rf "$D"
  mkdir -p "$D/run" "$D/log" "$D/mon/a" "$D/rgw"
  chmod 700 "$D"

  local mon_port rgw_port fsid osd_id
  mon_port="$(free_port)"
  rgw_port="$(free_port)"
  while [[ "$rgw_port" == "$mon_port" ]]; do rgw_port="$(free_port)"; done
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$mon_port" "$rgw_port" "$fsid"

  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$D/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" >/dev/null
  # Daemons get the lock fd (9) closed: a forked daemon holding it would block every later start/stop.
  ceph-mon -c "$CONF" -i a 2>>"$D/log/start.log" 9>&-
  wait_for "ceph-mon" 30 ceph_cli mon stat

  osd_id="$(ceph_cli osd create)"
  mkdir -p "$D/osd/$osd_id"
  ceph-osd -c "$CONF" -i "$osd_id" --mkfs >/dev/null 2>&1
  ceph_cli osd crush add "osd.$osd_id" 1.0 host=localhost root=default >/dev/null 2>&1
  ceph-osd -c "$CONF" -i "$osd_id" 2>>"$D/log/start.log" 9>&-
  wait_for "ceph-osd" 60 bash -c "ceph -c '$CONF' --connect-timeout 5 osd stat | grep -q '1 up'"

  radosgw -c "$CONF" -n "$RGW_NAME" 2>>"$D/log/start.log" 9>&-
  wait_for "radosgw" 90 curl -s -o /dev/null --noproxy '*' --max-time 2 "http://127.0.0.1:$rgw_port/"

  # Keys are generated by radosgw-admin itself, so the secret never appears on a command line.
  local user_json keys
  user_json="$(radosgw-admin -c "$CONF" -n client.admin user create --uid=owb-test --display-name='owb tests' \
    --gen-access-key --gen-secret --max-buckets=100000 2>/dev/null)"
  keys="$(node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const k = JSON.parse(s).keys[0];
      process.stdout.write(`AWS_ACCESS_KEY_ID=${k.access_key}\nAWS_SECRET_ACCESS_KEY=${k.secret_key}\n`);
    });' <<<"$user_json")"

  local tmp="$ENV_FILE.tmp.$$"
  (
    umask 077
    {
      echo "S3_ENDPOINT=http://127.0.0.1:$rgw_port"
      echo "S3_REGION=$REGION"
      echo "$keys"
    } >"$tmp"
  )
  chmod 600 "$tmp"
  mv -f "$tmp" "$ENV_FILE"
  log "Ceph RGW is up on http://127.0.0.1:$rgw_port"
}

main() {
  local cmd="${1:-}"
  mkdir -p "$SERVICES_DIR"
  exec 9>"$LOCK_FILE"
  flock 9
  case "$cmd" in
    start) do_start ;;
    stop) do_stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
  esac
}

main "$@"
