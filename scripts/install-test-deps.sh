#!/usr/bin/env bash
# Installs (with apt) the real servers and tools the test suite starts: the Docker engine (and what builds
# the Open WebUI stand-in image and the real Open WebUI's venvs), Ceph RGW for S3, OpenSSH for SFTP, rclone,
# PostgreSQL, and the checkers some tests use (promtool, systemd-analyze). Debian 12, as root.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: run as root (apt-get install)" >&2
  exit 1
fi
packages=(
  util-linux ca-certificates curl openssl   # setpriv/flock, TLS test certificates, readiness probes
  docker.io python3 sqlite3                 # private dockerd; the stand-in image copies the host's python3
  python3-venv                              # the real Open WebUI's venvs (scripts/services/openwebui-real.sh)
  ceph-mon ceph-osd radosgw ceph-common     # S3: single-node Ceph RGW in memory
  openssh-server rclone                     # SFTP NAS and rclone backends
  postgresql postgresql-client              # DATABASE_URL=postgresql:// deployments
  prometheus systemd                        # promtool (metrics format), systemd-analyze (timer units)
  restic                                    # the retention oracle (and the benchmark peer)
)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian starts some of these as services on install; the tests run their own instances on 127.0.0.1.
for svc in postgresql ssh docker containerd prometheus; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-test-deps: ${#packages[@]} packages installed"
