#!/usr/bin/env bash
# OpenSSH sshd on 127.0.0.1 for the SFTP and rclone backend tests.
#
#   scripts/services/sshd.sh start   start (idempotent) and write $OWB_SERVICES_DIR/sshd.env
#   scripts/services/sshd.sh stop    stop the server by its pid file
#
# The server has its own host key, config, client key pairs, authorized_keys and known_hosts under
# $OWB_SERVICES_DIR/sshd/, so it never touches the machine's own ssh setup. When run as root it also creates
# a dedicated user with a random password (sftp only, no shell) so password auth can be tested; PAM is
# off so the check is sshd's own shadow lookup. Needs the Debian package openssh-server.
set -euo pipefail

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVICES_DIR="${OWB_SERVICES_DIR:-$PROJECT_ROOT/.services}"
D="$SERVICES_DIR/sshd"
ENV_FILE="$SERVICES_DIR/sshd.env"
LOCK_FILE="$SERVICES_DIR/sshd.lock"
PID_FILE="$D/sshd.pid"
SSHD="${SSHD:-/usr/sbin/sshd}"
# The password-auth test user; a fixed name so stop (and a later start) can find it again.
PW_USER="owbsftp"
PW_MARK="$D/created-user"

die() { echo "sshd.sh: $*" >&2; exit 1; }

# True when the pid file names a live sshd started with our config.
running() {
  [[ -s "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$D/sshd_config"
}

# A TCP port nobody listens on right now (the kernel picks it).
free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# Creates the keys once; later starts reuse them so known_hosts files written by tests stay valid.
make_keys() {
  [[ -s "$D/host_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C owb-test-host -f "$D/host_ed25519"
  [[ -s "$D/client_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C owb-test-client -f "$D/client_ed25519"
  if [[ ! -s "$D/client_enc_ed25519" ]]; then
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$D/client_enc_passphrase"
    ssh-keygen -q -t ed25519 -N "$(cat "$D/client_enc_passphrase")" -C owb-test-client-enc -f "$D/client_enc_ed25519"
  fi
  cat "$D/client_ed25519.pub" "$D/client_enc_ed25519.pub" >"$D/authorized_keys"
  chmod 600 "$D"/host_ed25519 "$D"/client_ed25519 "$D"/client_enc_ed25519 "$D/client_enc_passphrase"
  chmod 644 "$D/authorized_keys"
}

# Creates (or re-passwords) the sftp-only test user with a fresh random password; root only.
make_password_user() {
  local home="$D/pwhome"
  # The account is recognised by its comment, so one left by a run that was killed before `stop` (or by
  # another checkout's services) is taken over, while a real account of that name is never touched.
  local comment="owb test sftp user"
  if ! id -u "$PW_USER" >/dev/null 2>&1; then
    useradd --no-create-home --home-dir "$home" --shell /usr/sbin/nologin --user-group --comment "$comment" "$PW_USER"
    touch "$PW_MARK"
  elif [[ "$(getent passwd "$PW_USER" | cut -d: -f5)" == "$comment" ]]; then
    usermod --home "$home" "$PW_USER"
    touch "$PW_MARK"
  else
    die "a user named $PW_USER already exists and was not created by this script; remove it or rename PW_USER"
  fi
  mkdir -p "$home"
  chown "$PW_USER:$PW_USER" "$home"
  chmod 700 "$home"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$D/password"
  chmod 600 "$D/password"
  echo "$PW_USER:$(cat "$D/password")" | chpasswd
  runuser -u "$PW_USER" -- test -w "$home" ||
    die "user $PW_USER cannot write $home: every folder above $SERVICES_DIR must be traversable (o+x)"
}

write_config() {
  local port="$1"
  cat >"$D/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
PidFile $PID_FILE
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
LogLevel INFO
# Several test workers open several connections each.
MaxStartups 200
MaxSessions 50
Subsystem sftp internal-sftp
EOF
  if [[ "$(id -u)" == 0 ]]; then
    cat >>"$D/sshd_config" <<EOF
Match User $PW_USER
  PasswordAuthentication yes
  ForceCommand internal-sftp
EOF
  fi
}

start() {
  mkdir -p "$D"
  # Traverse-only, so the password user can reach its home below without listing the keys here.
  chmod 711 "$D"
  if running && [[ -s "$ENV_FILE" ]]; then return 0; fi
  [[ -x "$SSHD" ]] || die "$SSHD not found (install the openssh-server package)"
  rm -f "$ENV_FILE"

  make_keys
  local user="root" pw_lines=""
  if [[ "$(id -u)" == 0 ]]; then
    mkdir -p /run/sshd
    make_password_user
    pw_lines="SFTP_PASSWORD_USER=$PW_USER
SFTP_PASSWORD=$(cat "$D/password")
SFTP_PASSWORD_ROOT=$D/pwhome"
  else
    user="$(id -un)"
  fi
  mkdir -p "$D/root"
  chmod 755 "$D/root"

  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    write_config "$port"
    "$SSHD" -t -f "$D/sshd_config" || die "sshd rejected its config ($D/sshd_config)"
    rm -f "$PID_FILE"
    # Another process may grab the port between free_port and bind; then try another one.
    if "$SSHD" -f "$D/sshd_config" -E "$D/sshd.log"; then
      local i
      for i in $(seq 1 100); do
        if running && ssh-keyscan -T 2 -t ed25519 -p "$port" 127.0.0.1 2>/dev/null | grep -q ssh-ed25519; then
          break 2
        fi
        sleep 0.1
      done
      if running; then kill "$(cat "$PID_FILE")" || true; fi
    fi
    [[ "$attempt" == 5 ]] && die "sshd did not answer on 127.0.0.1; log: $(tail -n 5 "$D/sshd.log" 2>/dev/null)"
  done

  local hostkey fp
  hostkey="$(cut -d' ' -f1,2 "$D/host_ed25519.pub")"
  echo "[127.0.0.1]:$port $hostkey" >"$D/known_hosts"
  fp="$(ssh-keygen -l -E sha256 -f "$D/host_ed25519.pub" | cut -d' ' -f2)"

  # Written to a temp name and renamed, so a concurrent reader never sees half a file.
  cat >"$ENV_FILE.tmp" <<EOF
SFTP_HOST=127.0.0.1
SFTP_PORT=$port
SFTP_USER=$user
SFTP_KEY=$D/client_ed25519
SFTP_KEY_ENCRYPTED=$D/client_enc_ed25519
SFTP_KEY_PASSPHRASE=$(cat "$D/client_enc_passphrase")
SFTP_KNOWN_HOSTS=$D/known_hosts
SFTP_HOST_FINGERPRINT=$fp
SFTP_ROOT=$D/root
$pw_lines
EOF
  chmod 600 "$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

stop() {
  rm -f "$ENV_FILE"
  if running; then
    local pid
    pid="$(cat "$PID_FILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      [[ -d "/proc/$pid" ]] || break
      sleep 0.1
    done
  fi
  rm -f "$PID_FILE"
  # The test user only exists while the server runs: a known password must not outlive it.
  if [[ -e "$PW_MARK" && "$(id -u)" == 0 ]]; then
    userdel "$PW_USER" 2>/dev/null || true
    rm -f "$PW_MARK" "$D/password"
  fi
}

case "${1:-}" in
  start | stop)
    mkdir -p "$SERVICES_DIR"
    exec 9>"$LOCK_FILE"
    flock 9
    "$1"
    ;;
  *)
    die "usage: $0 start|stop"
    ;;
esac
