#!/usr/bin/env bash
# Test service: a private Docker Engine (Debian's docker.io dockerd) on its own unix socket.
#   start  idempotent; starts dockerd if it is not answering, waits for /_ping, writes docker.env
#   stop   stops dockerd (and the containerd it manages) by their own pid files
# No bridge and no iptables: containers use --network host or none. Needs the apt packages
# docker.io (dockerd, containerd, runc) and util-linux (flock).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVICES_DIR=${OWB_SERVICES_DIR:-$ROOT/.services}
D=$SERVICES_DIR/docker
ENV_FILE=$SERVICES_DIR/docker.env
mkdir -p "$D"
D=$(cd "$D" && pwd)

# Unix socket paths are limited to 108 bytes, and containerd nests its own sockets under the exec root.
# A deep checkout would overflow that, so sockets and runtime state move to a short per-checkout dir then.
SHORT=/run/owb-docker-$(printf '%s' "$D" | sha256sum | cut -c1-12)
if [ ${#D} -le 60 ]; then RUN=$D/run; else RUN=$SHORT; fi
SOCK=$RUN/docker.sock
PIDFILE=$D/dockerd.pid
LOG=$D/dockerd.log
DOCKER_HOST_URL=unix://$SOCK

ping_ok() {
  curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1
}

pid_alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

write_env() {
  local driver
  driver=$(cat "$D/storage-driver" 2>/dev/null || echo unknown)
  {
    echo "DOCKER_HOST=$DOCKER_HOST_URL"
    echo "DOCKER_SOCKET=$SOCK"
    echo "DOCKER_STORAGE_DRIVER=$driver"
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# Starts dockerd with one storage driver; returns 0 once /_ping answers, 1 if dockerd died or timed out.
try_start() {
  local driver=$1
  mkdir -p "$RUN" "$D/data"
  rm -f "$SOCK"
  : >"$LOG"
  # setsid + closed fds: the daemon must outlive this script and must not hold the flock (fd 9) or our pipes.
  setsid dockerd \
    --host "$DOCKER_HOST_URL" \
    --data-root "$D/data" \
    --exec-root "$RUN/exec" \
    --pidfile "$PIDFILE" \
    --iptables=false --ip6tables=false --bridge=none \
    --storage-driver="$driver" \
    </dev/null >>"$LOG" 2>&1 9>&- &
  local pid=$!
  for _ in $(seq 1 300); do
    if ping_ok; then
      echo "$driver" >"$D/storage-driver"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  return 1
}

# Stops a process by pid file: TERM, wait up to $2 seconds, then KILL.
stop_pidfile() {
  local file=$1 wait_s=$2 pid
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((wait_s * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

start() {
  if ping_ok; then write_env; return 0; fi
  if pid_alive "$PIDFILE"; then
    # A dockerd of ours is alive but not answering yet (another worker is starting it, or it hangs).
    for _ in $(seq 1 300); do ping_ok && { write_env; return 0; }; sleep 0.1; done
    echo "dockerd (pid $(cat "$PIDFILE")) does not answer on $SOCK; see $LOG" >&2
    return 1
  fi
  rm -f "$PIDFILE"
  command -v dockerd >/dev/null || { echo "dockerd not found: install the docker.io package" >&2; return 1; }
  # The driver that worked last time first (its images are there), then overlay2, then vfs (works anywhere).
  local drivers
  drivers=$(printf '%s\n' "$(cat "$D/storage-driver" 2>/dev/null)" overlay2 vfs | awk 'NF && !seen[$0]++')
  for driver in $drivers; do
    if try_start "$driver"; then write_env; return 0; fi
    echo "dockerd failed with storage driver $driver:" >&2
    tail -n 5 "$LOG" >&2 || true
    stop_pidfile "$PIDFILE" 10
  done
  return 1
}

stop() {
  stop_pidfile "$PIDFILE" 30
  # dockerd normally stops the containerd it started; after a KILL that one may be left over.
  stop_pidfile "$RUN/exec/containerd/containerd.pid" 10
  # dockerd can leave its own mounts behind (the netns file, a bind of the data root); unmount ours, deepest first.
  awk -v d="$D/" -v r="$RUN/" 'index($2, d) == 1 || index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -f "$ENV_FILE" "$SOCK"
  if [ "$RUN" = "$SHORT" ]; then rm -rf "$RUN"; fi
}

exec 9>"$SERVICES_DIR/docker.lock"
flock 9
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
