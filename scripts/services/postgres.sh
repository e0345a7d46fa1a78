#!/usr/bin/env bash
# Test service: PostgreSQL (Debian's postgresql-15) on 127.0.0.1, for the Open WebUI DATABASE_URL tests.
#   start  idempotent; initdb on first use, starts the server on a free port, waits until it answers,
#          writes postgres.env
#   stop   stops the server with pg_ctl (its own postmaster.pid)
# Local socket connections are trusted (the script and the tests' admin steps); TCP to 127.0.0.1 needs a
# password (scram-sha-256), so the owb role below exercises password auth the way DATABASE_URL does.
# Needs the apt packages postgresql-15 (server, initdb, pg_ctl) and postgresql-client-15 (psql, pg_dump,
# pg_restore), plus util-linux (flock, runuser).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVICES_DIR=${OWB_SERVICES_DIR:-$ROOT/.services}
D=$SERVICES_DIR/postgres
PGDATA=$D/data
ENV_FILE=$SERVICES_DIR/postgres.env
LOG=$D/postgres.log
# The role and database the tests use over TCP; the password is made fresh on first init.
ROLE=owbtest
DATABASE=owbtest

fail() { echo "postgres.sh: $*" >&2; exit 1; }

mkdir -p "$SERVICES_DIR"

# The newest installed server's bin folder (Debian keeps initdb and pg_ctl out of PATH).
bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  command -v pg_ctl >/dev/null && { dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0; }
  return 1
}

# Runs a command as the server's owner: the postgres user when we are root (initdb refuses root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

port_of() { sed -nE 's/^port *= *([0-9]+).*/\1/p' "$PGDATA/owb.conf" 2>/dev/null | tail -n 1; }

ready() {
  local port
  port=$(port_of)
  [ -n "$port" ] && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1
}

psql_admin() {
  as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$D/run" -p "$(port_of)" -U postgres -d postgres "$@"
}

init_cluster() {
  rm -rf "$PGDATA"
  mkdir -p "$D/run"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || fail "no postgres user: install the postgresql-15 package"
    chown postgres:postgres "$D" "$D/run"
  fi
  chmod 700 "$D"
  as_owner "$BIN/initdb" -D "$PGDATA" -A trust -U postgres --no-instructions >"$D/initdb.log" 2>&1 ||
    fail "initdb failed, see $D/initdb.log"
  # Local socket: trusted. TCP: password only, so DATABASE_URL's password is really checked.
  cat >"$PGDATA/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
EOF
  echo "include_if_exists = 'owb.conf'" >>"$PGDATA/postgresql.conf"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$D/password"
  chmod 600 "$D/password"
}

start_server() {
  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    # Loopback only; the socket lives in our own folder, not /var/run/postgresql. The server must not
    # inherit fd 9 (the flock), or the lock would be held for as long as it runs.
    as_owner bash -c "cat >'$PGDATA/owb.conf'" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$D/run'
password_encryption = 'scram-sha-256'
fsync = off
EOF
    if as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 30 start >/dev/null 2>&1 9>&- && ready; then return 0; fi
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
    [ "$attempt" = 5 ] && fail "the server did not start; see $LOG"
  done
}

# Creates the test role (with its password) and database; idempotent. The password goes through stdin,
# never argv; it is alphanumeric, so the SQL literal needs no escaping.
ensure_role() {
  local pw
  pw=$(cat "$D/password")
  psql_admin <<SQL
SELECT 'CREATE ROLE $ROLE LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE')
\gexec
ALTER ROLE $ROLE PASSWORD '$pw';
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DATABASE')
\gexec
SQL
}

write_env() {
  {
    echo "PG_HOST=127.0.0.1"
    echo "PG_PORT=$(port_of)"
    echo "PG_USER=$ROLE"
    echo "PG_PASSWORD=$(cat "$D/password")"
    echo "PG_DATABASE=$DATABASE"
    echo "PG_SOCKET_DIR=$D/run"
    echo "PG_ADMIN_USER=postgres"
  } >"$ENV_FILE.tmp"
  chmod 600 "$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

start() {
  BIN=$(bindir) || fail "PostgreSQL server not found: install the postgresql-15 package"
  command -v psql >/dev/null || fail "psql not found: install the postgresql-client-15 package"
  if [ -s "$PGDATA/PG_VERSION" ] && [ -s "$D/password" ] && ready; then
    ensure_role
    write_env
    return 0
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ] || [ ! -s "$D/password" ]; then init_cluster; fi
  # A server of ours that died leaves postmaster.pid behind; pg_ctl copes, but a live one must be stopped first.
  if [ -s "$PGDATA/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; fi
  start_server
  ensure_role
  write_env
}

stop() {
  rm -f "$ENV_FILE"
  BIN=$(bindir) || return 0
  [ -s "$PGDATA/postmaster.pid" ] || return 0
  as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1 || {
    # pg_ctl failed: fall back to the postmaster's own pid (first line of postmaster.pid).
    local pid
    pid=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  }
}

exec 9>"$SERVICES_DIR/postgres.lock"
flock 9
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
