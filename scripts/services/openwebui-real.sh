#!/usr/bin/env bash
# Test service: the real Open WebUI from PyPI, as a pip install (cached venvs) and as images in the test
# Docker Engine (scripts/services/docker.sh), with no registry.
#   start    idempotent: installs each pinned release into its venv when missing, builds its image when
#            missing or stale, then writes openwebui-real.env (paths, versions, heads, sizes, timings)
#   stop     removes the env file (venvs and images stay as a cache)
#   venv V   installs (or finds) release V and prints its venv path
#   image V  builds (or finds) owb-test/openwebui:V and prints it
# Settings:
#   OWB_TEST_CACHE          cache root (default /var/cache/owb-test); venvs live in $OWB_TEST_CACHE/openwebui/<version>/
#   OWB_OPENWEBUI_VERSIONS  releases to prepare (default "0.12.4 0.10.2": the newest and an older one whose
#                           alembic head differs)
#   OWB_OPENWEBUI_PYTHON    interpreter the venvs are made with (default python3.11; Open WebUI needs >=3.11,<3.13)
# A venv is built at <version>/venv.partial.<pid> and renamed to <version>/venv only when pip succeeded, so
# a killed install is never taken for a finished one. A venv is not relocatable, so the rename rewrites the
# build path in bin/ and pyvenv.cfg, the only files that hold it (compiled .pyc keep it for tracebacks).
# torch==2.13.0 goes in first: that CPU build satisfies Open WebUI's torch range, so pip does not resolve a
# multi-GB CUDA build; an install that still pulls nvidia-* packages is refused.
# Images mirror the official one: Python and the venv at the same absolute paths as on this host (venvs are
# not relocatable), open_webui under /app/backend (imported from the working directory, as upstream), the
# frontend at /app/build, /app/package.json for the version, and start.sh as upstream's backend/start.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVICES_DIR=${OWB_SERVICES_DIR:-$ROOT/.services}
CACHE=${OWB_TEST_CACHE:-/var/cache/owb-test}/openwebui
VERSIONS=${OWB_OPENWEBUI_VERSIONS:-0.12.4 0.10.2}
PYTHON=${OWB_OPENWEBUI_PYTHON:-python3.11}
TORCH_PIN=torch==2.13.0
ENV_FILE=$SERVICES_DIR/openwebui-real.env
STATE=$SERVICES_DIR/openwebui-real
REPO=owb-test/openwebui
# Bump when the image recipe changes in a way the script's own hash would not show.
RECIPE=1

fail() { echo "openwebui-real: $*" >&2; exit 1; }
note() { echo "openwebui-real: $*" >&2; }
sha() { sha256sum | cut -c1-16; }
key_of() { echo "$1" | tr '.-' '__'; }
# Reads KEY from a KEY=VALUE file.
stamp_get() { sed -n "s/^$2=//p" "$1" | head -n 1; }

mkdir -p "$SERVICES_DIR" "$STATE"

# --- venvs ------------------------------------------------------------------------------------------------

# Prints the alembic head(s) of a migrations/versions folder: revisions no other file names as a parent.
alembic_heads() {
  "$1" - "$2" <<'PY'
import glob, re, sys
revs, parents = set(), set()
for path in glob.glob(sys.argv[1] + '/*.py'):
    text = open(path, encoding='utf8').read()
    rev = re.search(r"^revision\s*(?::[^=\n]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
    if not rev:
        continue
    revs.add(rev.group(1))
    down = re.search(r"^down_revision\s*(?::[^=\n]*)?=\s*(\([^)]*\)|\[[^\]]*\]|.*)$", text, re.M | re.S)
    if down:
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
print(' '.join(sorted(revs - parents)))
PY
}

# Rewrites a venv's own absolute path after a rename (console scripts' shebangs, activate*, pyvenv.cfg).
relocate_venv() {
  local from=$1 to=$2 f
  for f in "$to"/bin/* "$to/pyvenv.cfg"; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    grep -Iq . "$f" 2>/dev/null || continue
    if grep -qF "$from" "$f"; then sed -i "s|$from|$to|g" "$f"; fi
  done
}

# Installs release $1 into $CACHE/$1/venv unless its stamp says it is complete.
ensure_venv() {
  local version=$1 dir venv stamp partial py started secs log purelib head base bytes lock
  dir=$CACHE/$version
  venv=$dir/venv
  stamp=$dir/install.stamp
  mkdir -p "$dir"
  # One installer per release on this machine, whatever services folder the caller uses.
  exec {lock}>"$dir.lock"
  flock "$lock"
  # A finished venv whose interpreter still runs (its base Python may have been removed since).
  if [ -s "$stamp" ] && [ -x "$venv/bin/open-webui" ] && "$venv/bin/python" -c '' 2>/dev/null; then
    exec {lock}>&-
    return 0
  fi
  rm -rf "$venv" "$dir"/venv.partial.* "$stamp"
  py=$(command -v "$PYTHON") || fail "$PYTHON not found: install Python 3.11 with its venv module (apt: python3 python3-venv)"
  partial=$dir/venv.partial.$$
  log=$dir/install.log
  note "installing open-webui==$version into $venv (several minutes; log: $log)"
  started=$(date +%s)
  "$py" -m venv "$partial" >"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "$py -m venv failed (apt: python3-venv)"; }
  if ! "$partial/bin/python" -m pip install "$TORCH_PIN" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2; rm -rf "$partial"; fail "pip could not install $TORCH_PIN (the CPU build must be reachable through pip's configured indexes)"
  fi
  if ! "$partial/bin/python" -m pip install "open-webui==$version" >>"$log" 2>&1; then
    grep -E "^ERROR|error:|Failed|No matching distribution" "$log" | tail -n 20 >&2 || true
    rm -rf "$partial"; fail "pip could not install open-webui==$version; the failing package is named above (full log: $log)"
  fi
  if "$partial/bin/python" -m pip list --format=freeze 2>/dev/null | grep -qi '^nvidia-'; then
    rm -rf "$partial"; fail "open-webui==$version pulled CUDA packages (nvidia-*): torch was not satisfied by $TORCH_PIN"
  fi
  secs=$(( $(date +%s) - started ))
  mv "$partial" "$venv"
  relocate_venv "$partial" "$venv"
  "$venv/bin/python" -c "import sys; assert sys.prefix == sys.argv[1], sys.prefix" "$venv" || fail "relocated venv $venv does not know its own path"
  [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("open-webui"))')" = "$version" ] ||
    fail "$venv does not hold open-webui $version"
  purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  head=$(alembic_heads "$venv/bin/python" "$purelib/open_webui/migrations/versions")
  base=$("$venv/bin/python" -c 'import sys; print(sys.base_prefix)')
  bytes=$(du -sb "$venv" | cut -f1)
  {
    echo "VERSION=$version"
    echo "VENV=$venv"
    echo "SITE_PACKAGES=$purelib"
    echo "PYTHON_PREFIX=$base"
    echo "PYTHON_EXECUTABLE=$(readlink -f "$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')")"
    echo "PYTHON_VERSION=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
    echo "TORCH=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
    echo "CHROMADB=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("chromadb"))')"
    echo "ALEMBIC_HEAD=$head"
    echo "INSTALL_S=$secs"
    echo "VENV_BYTES=$bytes"
    echo "FREEZE_SHA=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | sha)"
    echo "INSTALLED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
  note "open-webui $version installed in ${secs}s, $((bytes / 1048576)) MiB"
  exec {lock}>&-
}

# --- images -----------------------------------------------------------------------------------------------

load_docker_env() {
  bash "$ROOT/scripts/services/docker.sh" start
  # shellcheck disable=SC1091
  set -a; . "$SERVICES_DIR/docker.env"; set +a
  command -v docker >/dev/null || fail "docker client not found: install the docker.io package"
}

# Copies one host file to the same path under $1, dereferenced, with its directory resolved (usrmerge).
copy_resolved() {
  local root=$1 src=$2 dir
  dir=$(readlink -f "$(dirname "$src")")
  [ -e "$root$dir/$(basename "$src")" ] && return 0
  mkdir -p "$root$dir"
  cp -L "$src" "$root$dir/$(basename "$src")"
}

# The start script of the image: upstream's backend/start.sh without its optional extras (Playwright,
# bundled Ollama, CUDA, Hugging Face Spaces). The key goes next to the script, outside the data volume, and
# uvicorn replaces the shell as PID 1 (exec), so `docker stop` signals Python itself.
write_start_sh() {
  cat >"$1" <<'SH'
#!/usr/bin/env bash
SCRIPT_DIR=$( cd -- "$( dirname -- "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )
cd "$SCRIPT_DIR" || exit

KEY_FILE=.webui_secret_key

PORT="${PORT:-8080}"
HOST="${HOST:-0.0.0.0}"
if test "$WEBUI_SECRET_KEY $WEBUI_JWT_SECRET_KEY" = " "; then
  echo "Loading WEBUI_SECRET_KEY from file, not provided as an environment variable."

  if ! [ -e "$KEY_FILE" ]; then
    echo "Generating WEBUI_SECRET_KEY"
    # Generate a random value to use as a WEBUI_SECRET_KEY in case the user didn't provide one.
    echo $(head -c 12 /dev/random | base64) > "$KEY_FILE"
  fi

  echo "Loading WEBUI_SECRET_KEY from $KEY_FILE"
  WEBUI_SECRET_KEY=$(cat "$KEY_FILE")
fi

PYTHON_CMD=$(command -v python3 || command -v python)

WEBUI_SECRET_KEY="$WEBUI_SECRET_KEY" exec "$PYTHON_CMD" -m uvicorn open_webui.main:app --host "$HOST" --port "$PORT" --forwarded-allow-ips '*' --workers "${UVICORN_WORKERS:-1}"
SH
  chmod 755 "$1"
}

# Fills $2 with the image's root filesystem for the venv described by stamp $1. The venv is hard-linked
# (same filesystem as the cache), never copied; only directory entries are moved in the staging tree.
build_rootfs() {
  local stamp=$1 root=$2 venv purelib base exe stdlib pyname version d f
  venv=$(stamp_get "$stamp" VENV)
  purelib=$(stamp_get "$stamp" SITE_PACKAGES)
  base=$(stamp_get "$stamp" PYTHON_PREFIX)
  exe=$(stamp_get "$stamp" PYTHON_EXECUTABLE)
  version=$(stamp_get "$stamp" VERSION)
  stdlib=$("$exe" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  pyname=$(basename "$stdlib")

  mkdir -p "$root"
  # Same /bin, /lib… symlinks as the host (usrmerge), so the loader paths ldd reports resolve alike.
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"; fi
  done
  mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/root/.cache/chroma" "$root/var/tmp" "$root/proc" "$root/sys" \
    "$root/dev" "$root/app/backend/data"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  # As upstream's Dockerfile: a fixed chroma telemetry id, so chromadb never makes one up.
  printf '00000000-0000-0000-0000-000000000000' >"$root/root/.cache/chroma/telemetry_user_id"

  # The interpreter the venv was made with, at its own path: stdlib without tests, IDLE, Tk and the like.
  tar -C / -cf - \
    --exclude="${stdlib#/}/test" --exclude="${stdlib#/}/idlelib" --exclude="${stdlib#/}/tkinter" \
    --exclude="${stdlib#/}/turtledemo" --exclude="${stdlib#/}/ensurepip" --exclude="${stdlib#/}/lib2to3" \
    --exclude="${stdlib#/}/config-*" --exclude="${stdlib#/}/site-packages" --exclude="${stdlib#/}/dist-packages" \
    "${stdlib#/}" | tar -C "$root" -xf -
  copy_resolved "$root" "$exe"
  for f in "$(dirname "$exe")"/python3 "$(dirname "$exe")"/python; do
    if [ -L "$f" ] && [ ! -e "$root$f" ]; then ln -s "$(readlink "$f")" "$root$f"; fi
  done

  # The venv itself, then open_webui moved where the official image keeps it.
  mkdir -p "$root$(dirname "$venv")"
  cp -al "$venv" "$root$venv"
  mv "$root$purelib/open_webui" "$root/app/backend/open_webui"
  mv "$root/app/backend/open_webui/frontend" "$root/app/build"
  cp "$root/app/backend/open_webui/CHANGELOG.md" "$root/app/CHANGELOG.md"
  printf '{"name":"open-webui","version":"%s"}\n' "$version" >"$root/app/package.json"
  write_start_sh "$root/app/backend/start.sh"

  # Tools start.sh uses, and every shared library any binary or extension module here needs.
  for f in bash sh dirname head base64 cat env ls; do
    copy_resolved "$root" "$(command -v "$f")"
  done
  {
    for f in bash sh dirname head base64 cat env ls; do readlink -f "$(command -v "$f")"; done
    echo "$exe"
    find "$venv" "$stdlib/lib-dynload" -type f \( -name '*.so' -o -name '*.so.*' \)
    find "$(dirname "$stdlib")" -maxdepth 1 -name 'libpython*' \( -type f -o -type l \)
  } | sort -u | { xargs -r -d '\n' -n 25 ldd 2>/dev/null || true; } |
    tee "$root.ldd" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(0x/ { print $1 }' | sort -u |
    while read -r f; do copy_resolved "$root" "$f"; done
  # "not found" for a wheel's own vendored library (found through its dependant's RUNPATH) is no gap: it is
  # in the venv. Any other is missing on the host too, so the image behaves as the pip install does.
  awk '/=> not found/ { print $1 }' "$root.ldd" | sort -u >"$root.missing.all"
  find "$venv" -name '*.so*' -printf '%f\n' | sort -u | comm -23 "$root.missing.all" - >"$root.missing"
  rm -f "$root.missing.all"

  cp /etc/ld.so.conf "$root/etc/" 2>/dev/null || true
  if [ -d /etc/ld.so.conf.d ]; then cp -r /etc/ld.so.conf.d "$root/etc/"; fi
  ldconfig -r "$root" 2>/dev/null || true
  cp /etc/nsswitch.conf "$root/etc/" 2>/dev/null || true
  printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# Builds $REPO:$1 unless the image carries the same content key (venv stamp, recipe, this script).
ensure_image() {
  local version=$1 stamp dir key image work started secs bytes venv previous info lock
  dir=$CACHE/$version
  stamp=$dir/install.stamp
  [ -s "$stamp" ] || fail "no venv for $version"
  # The staging tree lives in the shared cache: one builder per release, whichever engine it builds for.
  exec {lock}>"$dir.lock"
  flock "$lock"
  venv=$(stamp_get "$stamp" VENV)
  key=$( { echo "recipe $RECIPE"; cat "$stamp"; cat "${BASH_SOURCE[0]}"; } | sha)
  image=$REPO:$version
  info=$STATE/image-$version.stamp
  if [ "$(docker image inspect --format '{{ index .Config.Labels "owb.openwebui.key" }}' "$image" 2>/dev/null)" = "$key" ]; then
    if [ ! -s "$info" ] || [ "$(stamp_get "$info" KEY)" != "$key" ]; then
      { echo "KEY=$key"; echo "BUILD_S=unknown"; echo "BYTES=$(docker image inspect --format '{{.Size}}' "$image")"; } >"$info"
    fi
    exec {lock}>&-
    return 0
  fi
  note "building $image from $venv"
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  started=$(date +%s)
  work=$dir/rootfs.$$
  rm -rf "$dir"/rootfs.*
  # shellcheck disable=SC2064
  trap "rm -rf '$work' '$work.ldd' '$work.missing'" EXIT
  build_rootfs "$stamp" "$work"
  if [ -s "$work.missing" ]; then note "libraries missing on this host too (see $dir/missing-libs.txt)"; cp "$work.missing" "$dir/missing-libs.txt"; fi
  tar -C "$work" --numeric-owner -cf - . | docker import \
    --change "ENV ENV=prod PORT=8080 DOCKER=true HOME=/root" \
    --change "ENV PATH=$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV OLLAMA_BASE_URL=/ollama OPENAI_API_BASE_URL= OPENAI_API_KEY= WEBUI_SECRET_KEY=' \
    --change 'ENV SCARF_NO_ANALYTICS=true DO_NOT_TRACK=true ANONYMIZED_TELEMETRY=false' \
    --change 'ENV WHISPER_MODEL=base WHISPER_MODEL_DIR=/app/backend/data/cache/whisper/models' \
    --change 'ENV RAG_EMBEDDING_MODEL=sentence-transformers/all-MiniLM-L6-v2 RAG_RERANKING_MODEL=' \
    --change 'ENV SENTENCE_TRANSFORMERS_HOME=/app/backend/data/cache/embedding/models HF_HOME=/app/backend/data/cache/embedding/models' \
    --change 'ENV TIKTOKEN_ENCODING_NAME=cl100k_base TIKTOKEN_CACHE_DIR=/app/backend/data/cache/tiktoken' \
    --change 'WORKDIR /app/backend' \
    --change 'EXPOSE 8080' \
    --change 'CMD ["bash", "start.sh"]' \
    --change "LABEL owb.openwebui.key=$key owb.openwebui.version=$version" \
    - "$image" >/dev/null
  rm -rf "$work" "$work.ldd" "$work.missing"
  trap - EXIT
  secs=$(( $(date +%s) - started ))
  bytes=$(docker image inspect --format '{{.Size}}' "$image")
  { echo "KEY=$key"; echo "BUILD_S=$secs"; echo "BYTES=$bytes"; } >"$info"
  note "$image built in ${secs}s, $((bytes / 1048576)) MiB"
  # The stale build is now untagged; drop it unless a container still uses it.
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
  fi
  exec {lock}>&-
}

# --- env file ---------------------------------------------------------------------------------------------

write_env() {
  local version k stamp info
  {
    echo "DOCKER_HOST=$DOCKER_HOST"
    echo "OPENWEBUI_CACHE=$CACHE"
    echo "OPENWEBUI_VERSIONS=$(echo "$VERSIONS" | tr ' ' ',')"
    for version in $VERSIONS; do
      k=$(key_of "$version")
      stamp=$CACHE/$version/install.stamp
      info=$STATE/image-$version.stamp
      echo "OPENWEBUI_${k}_VENV=$(stamp_get "$stamp" VENV)"
      echo "OPENWEBUI_${k}_SITE_PACKAGES=$(stamp_get "$stamp" SITE_PACKAGES)"
      echo "OPENWEBUI_${k}_PYTHON=$(stamp_get "$stamp" PYTHON_EXECUTABLE)"
      echo "OPENWEBUI_${k}_PYTHON_VERSION=$(stamp_get "$stamp" PYTHON_VERSION)"
      echo "OPENWEBUI_${k}_CHROMADB=$(stamp_get "$stamp" CHROMADB)"
      echo "OPENWEBUI_${k}_TORCH=$(stamp_get "$stamp" TORCH)"
      echo "OPENWEBUI_${k}_ALEMBIC_HEAD=$(stamp_get "$stamp" ALEMBIC_HEAD)"
      echo "OPENWEBUI_${k}_INSTALL_S=$(stamp_get "$stamp" INSTALL_S)"
      echo "OPENWEBUI_${k}_VENV_BYTES=$(stamp_get "$stamp" VENV_BYTES)"
      echo "OPENWEBUI_${k}_IMAGE=$REPO:$version"
      echo "OPENWEBUI_${k}_IMAGE_ID=$(docker image inspect --format '{{.Id}}' "$REPO:$version")"
      echo "OPENWEBUI_${k}_IMAGE_BYTES=$(stamp_get "$info" BYTES)"
      echo "OPENWEBUI_${k}_IMAGE_BUILD_S=$(stamp_get "$info" BUILD_S)"
    done
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

start() {
  local version
  for version in $VERSIONS; do ensure_venv "$version"; done
  load_docker_env
  for version in $VERSIONS; do ensure_image "$version"; done
  write_env
}

exec 9>"$SERVICES_DIR/openwebui-real.lock"
flock 9
case "${1:-}" in
  start) start ;;
  stop) rm -f "$ENV_FILE" ;;
  venv)
    [ $# -eq 2 ] || fail "usage: $0 venv VERSION"
    ensure_venv "$2"
    echo "$CACHE/$2/venv"
    ;;
  image)
    [ $# -eq 2 ] || fail "usage: $0 image VERSION"
    ensure_venv "$2"
    load_docker_env
    ensure_image "$2"
    echo "$REPO:$2"
    ;;
  *) echo "usage: $0 start|stop|venv VERSION|image VERSION" >&2; exit 2 ;;
esac
