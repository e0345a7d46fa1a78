#!/usr/bin/env bash
# `npm test`: the whole suite against real servers. On a new Debian 12 machine, as root, it first installs (apt)
# the servers and tools the tests start (scripts/install-test-deps.sh, skipped when they are already there), then
# builds and runs vitest. Each test file starts the servers it needs (scripts/services/*.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in dockerd docker ceph-mon ceph-osd radosgw /usr/sbin/sshd rclone psql promtool systemd-analyze sqlite3 curl openssl setpriv flock restic mkfifo; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(initdb)
if [ "$(id -u)" != 0 ]; then
  echo "npm test starts real servers (Docker engine, Ceph RGW, sshd, PostgreSQL, Open WebUI) and needs root: run it as root, e.g. sudo npm test" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "npm test: installing the test servers and tools (missing: ${missing[*]})" >&2
  bash scripts/install-test-deps.sh
fi
[ -d node_modules ] || { echo "npm test: run npm ci first" >&2; exit 1; }
npm run build
exec npx vitest run "$@"
