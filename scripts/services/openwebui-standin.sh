#!/usr/bin/env bash
# Test service: the Open WebUI stand-in images, built into the test Docker Engine (scripts/services/docker.sh).
#   start                      builds every tag in test/fixtures/standin/tags.conf that is missing or stale,
#                              then writes openwebui-standin.env (image, version, head revision per tag)
#   build TAG VERSION HEAD     builds owb-test/openwebui-standin:TAG with revisions up to HEAD
#   stop                       removes the env file (images stay in the engine as a cache)
# No registry is reachable, so the base image is a rootfs made here and `docker import`ed:
#   OWB_STANDIN_ROOTFS=host (default)   the host's python3 and sqlite3 with their shared libraries
#                                       (apt: python3 sqlite3); about 2 s, no network
#   OWB_STANDIN_ROOTFS=debootstrap      Debian minbase from the configured apt mirror (apt: debootstrap);
#                                       about 95 s cold
# The rootfs tarball is cached under $OWB_SERVICES_DIR/cache/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVICES_DIR=${OWB_SERVICES_DIR:-$ROOT/.services}
FIXTURE=$ROOT/test/fixtures/standin
CACHE=$SERVICES_DIR/cache
ENV_FILE=$SERVICES_DIR/openwebui-standin.env
REPO=owb-test/openwebui-standin
METHOD=${OWB_STANDIN_ROOTFS:-host}
# Bump when the rootfs recipe changes, so cached tarballs and base images are rebuilt.
RECIPE=1

fail() { echo "openwebui-standin: $*" >&2; exit 1; }

mkdir -p "$SERVICES_DIR" "$CACHE"

load_docker_env() {
  bash "$ROOT/scripts/services/docker.sh" start
  # shellcheck disable=SC1091
  set -a; . "$SERVICES_DIR/docker.env"; set +a
  command -v docker >/dev/null || fail "docker client not found: install the docker.io package"
}

sha() { sha256sum | cut -c1-16; }

# --- rootfs: host copy ------------------------------------------------------------------------------------

# Copies one file to the same path under $1, dereferenced, with its directory resolved (usrmerge symlinks).
copy_resolved() {
  local root=$1 src=$2 dir
  dir=$(readlink -f "$(dirname "$src")")
  mkdir -p "$root$dir"
  cp -L "$src" "$root$dir/$(basename "$src")"
}

rootfs_host() {
  local root=$1 py pyname stdlib f
  py=$(readlink -f /usr/bin/python3 2>/dev/null || true)
  [ -x "$py" ] || fail "/usr/bin/python3 missing: install the python3 package"
  [ -x /usr/bin/sqlite3 ] || fail "/usr/bin/sqlite3 missing: install the sqlite3 package"
  pyname=$(basename "$py")
  stdlib=/usr/lib/$pyname
  [ -d "$stdlib/lib-dynload" ] || fail "$stdlib/lib-dynload missing: install the python3 package"
  mkdir -p "$root"

  # Same /bin, /lib… symlinks as the host (usrmerge), so the loader paths ldd reports resolve alike.
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"; fi
  done
  mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/tmp" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp" "$root/var/tmp"

  tar -C / -cf - \
    --exclude="usr/lib/$pyname/test" --exclude="usr/lib/$pyname/idlelib" --exclude="usr/lib/$pyname/tkinter" \
    --exclude="usr/lib/$pyname/turtledemo" --exclude="usr/lib/$pyname/ensurepip" --exclude="usr/lib/$pyname/lib2to3" \
    --exclude="usr/lib/$pyname/config-*" --exclude="usr/lib/$pyname/site-packages" \
    --exclude="usr/lib/$pyname/dist-packages" \
    "usr/lib/$pyname" | tar -C "$root" -xf -

  for f in "$py" /usr/bin/sqlite3 "$(readlink -f /bin/sh)"; do copy_resolved "$root" "$f"; done
  ln -sf "$pyname" "$root/usr/bin/python3"
  [ -e "$root/usr/bin/sh" ] || ln -s "$(basename "$(readlink -f /bin/sh)")" "$root$(readlink -f /bin)/sh"

  # Every shared library the binaries and the stdlib's extension modules need, and the loader itself.
  for f in "$py" /usr/bin/sqlite3 "$(readlink -f /bin/sh)" "$stdlib"/lib-dynload/*.so; do
    ldd "$f" 2>/dev/null || true
  done | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(0x/ { print $1 }' | sort -u | while read -r lib; do
    copy_resolved "$root" "$lib"
  done

  cp /etc/ld.so.conf "$root/etc/" 2>/dev/null || true
  if [ -d /etc/ld.so.conf.d ]; then cp -r /etc/ld.so.conf.d "$root/etc/"; fi
  ldconfig -r "$root" 2>/dev/null || true
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

host_rootfs_key() {
  { echo "host-$RECIPE"; /usr/bin/python3 -VV; /usr/bin/sqlite3 -version; ls -lL /usr/bin/python3 /usr/bin/sqlite3; } 2>&1 | sha
}

# --- rootfs: debootstrap ----------------------------------------------------------------------------------

# The first Debian mirror configured for this release, from deb822 .sources files or one-line .list files.
debian_mirror() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v c="$codename" '
        function flush() { if (deb && suite && uri != "") print uri; deb = 0; suite = 0; uri = "" }
        /^[[:space:]]*$/ { flush(); next }
        /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) suite = 1 }
        END { flush() }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -E 's/\[[^]]*\]//' | awk -v c="$codename" '$1 == "deb" && $3 == c { print $2 }'
  } | head -n 1
}

rootfs_debootstrap() {
  local root=$1 mirror codename
  command -v debootstrap >/dev/null || fail "debootstrap not found: install the debootstrap package"
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list*"
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  debootstrap --variant=minbase --include=python3,sqlite3 "$codename" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
    fail "debootstrap failed, see $CACHE/debootstrap.log"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man
}

debootstrap_key() {
  { echo "debootstrap-$RECIPE"; debian_mirror; . /etc/os-release; echo "$VERSION_CODENAME"; } | sha
}

# --- base image -------------------------------------------------------------------------------------------

# Prints the base image reference, importing it (and making the cached rootfs tarball) when missing.
ensure_base() {
  local key tarball image work
  case "$METHOD" in
    host) key=$(host_rootfs_key) ;;
    debootstrap) key=$(debootstrap_key) ;;
    *) fail "OWB_STANDIN_ROOTFS must be host or debootstrap, not $METHOD" ;;
  esac
  image=owb-test/standin-base:$METHOD-$key
  if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; return; fi
  tarball=$CACHE/standin-rootfs-$METHOD-$key.tar
  if [ ! -s "$tarball" ]; then
    work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    "rootfs_$METHOD" "$work/root" >&2 || { rm -rf "$work"; exit 1; }
    tar -C "$work/root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
  fi
  docker import "$tarball" "$image" >/dev/null
  echo "$image"
}

# --- stand-in images --------------------------------------------------------------------------------------

# Prints the migration files from the root revision up to HEAD (alembic's chain, walked backwards).
revision_files() {
  local rev=$1 file down
  while [ -n "$rev" ] && [ "$rev" != None ]; do
    file=$(grep -lE "^revision(: *[^=]+)? *= *[\"']$rev[\"']" "$FIXTURE"/migrations/*.py | head -n 1)
    [ -n "$file" ] || fail "no migration file for revision $rev"
    echo "$file"
    down=$(sed -nE "s/^down_revision(: *[^=]+)? *= *[\"']?([^\"']*)[\"']?.*$/\2/p" "$file" | head -n 1)
    rev=$down
  done
}

# Builds $REPO:TAG unless an image with the same fixture hash is already there.
build_tag() {
  local tag=$1 version=$2 head=$3 base files hash image ctx previous
  base=$(ensure_base)
  files=$(revision_files "$head")
  hash=$( { echo "$base $tag $version $head"; cat "$FIXTURE/standin.py" "$FIXTURE/Dockerfile"; cat $files; } | sha)
  image=$REPO:$tag
  if [ "$(docker image inspect --format '{{ index .Config.Labels "owb.standin.fixture" }}' "$image" 2>/dev/null)" = "$hash" ]; then
    return 0
  fi
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  ctx=$(mktemp -d "$CACHE/context.XXXXXX")
  mkdir -p "$ctx/app/backend/open_webui/migrations/versions" "$ctx/app/backend/data"
  cp "$FIXTURE/standin.py" "$ctx/app/standin.py"
  echo "$version" >"$ctx/app/version"
  # shellcheck disable=SC2086
  cp $files "$ctx/app/backend/open_webui/migrations/versions/"
  # A fresh key per build, made as Open WebUI's start.sh makes it; it lives in the image layer, not the volume.
  (umask 077; echo "$(head -c 12 /dev/urandom | base64)" >"$ctx/app/backend/.webui_secret_key")
  cp "$FIXTURE/Dockerfile" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "BASE=$base" --build-arg "STANDIN_FIXTURE=$hash" --build-arg "STANDIN_VERSION=$version" \
    -t "$image" "$ctx" >/dev/null 2>"$ctx.log" || { cat "$ctx.log" >&2; rm -rf "$ctx" "$ctx.log"; fail "docker build $image failed"; }
  rm -rf "$ctx" "$ctx.log"
  # The stale build is now untagged; drop it unless a container still uses it.
  if [ -n "$previous" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
}

tags() { grep -vE '^\s*(#|$)' "$FIXTURE/tags.conf"; }

start() {
  load_docker_env
  local tag version head files revs upper
  while read -r tag version head; do build_tag "$tag" "$version" "$head"; done < <(tags)
  {
    echo "DOCKER_HOST=$DOCKER_HOST"
    echo "STANDIN_IMAGE=$REPO:latest"
    while read -r tag version head; do
      upper=$(echo "$tag" | tr '[:lower:]-' '[:upper:]_')
      files=$(revision_files "$head")
      # shellcheck disable=SC2086
      revs=$(sed -nE "s/^revision(: *[^=]+)? *= *[\"']([^\"']+)[\"'].*/\\2/p" $files | tr '\n' ',' | sed 's/,$//')
      echo "STANDIN_IMAGE_$upper=$REPO:$tag"
      echo "STANDIN_VERSION_$upper=$version"
      echo "STANDIN_HEAD_$upper=$head"
      echo "STANDIN_REVISIONS_$upper=$revs"
    done < <(tags)
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

exec 9>"$SERVICES_DIR/openwebui-standin.lock"
flock 9
case "${1:-}" in
  start) start ;;
  build)
    [ $# -eq 4 ] || fail "usage: $0 build TAG VERSION HEAD"
    load_docker_env
    build_tag "$2" "$3" "$4"
    echo "$REPO:$2"
    ;;
  stop) rm -f "$ENV_FILE" ;;
  *) echo "usage: $0 start|stop|build TAG VERSION HEAD" >&2; exit 2 ;;
esac
