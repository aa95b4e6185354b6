# shellcheck shell=bash
# .ci/lib/base-images.sh: stand-in base images for builds without a reachable container registry.
# Provides: build_python_base, orders_ci_rootfs_tarball, orders_ci_import_image.
# Needs: common.sh (apt_install), then engines.sh's engines_up (podman, a docker daemon).
#
# Functions are idempotent and return non-zero on failure.
#
#   build_python_base   make $ORDERS_PYTHON_BASE_IMAGE exist in podman AND docker (whichever answer; docker only
#                       when a daemon runs). Skips an engine that already has the tag. Exports
#                       ORDERS_PYTHON_BASE_IMAGE for the callers, e.g.
#                       `podman build --build-arg PYTHON_IMAGE="$ORDERS_PYTHON_BASE_IMAGE" .`
#   orders_ci_rootfs_tarball NAME PKG,PKG,... [FIXUP_FUNCTION]
#                       print the path of a cached tarball of a `debootstrap --variant=minbase bookworm` root
#                       filesystem with those packages (the host's CA bundle copied in; FIXUP_FUNCTION, if given,
#                       called with the rootfs directory before packing), building it on first use. The cache key
#                       covers the package list and the fixup's body. Reusable for other stand-ins (e.g. postgres).
#   orders_ci_import_image TARBALL TAG [--change 'INSTR']...
#                       import the tarball as TAG into every answering engine that lacks it.
#
# The stand-in Python image: localhost/orders-ci/python:3.11-slim-bookworm
#   Debian 12 minbase + python3 (3.11), python3-venv, ca-certificates. It mimics what the official
#   python:3.11-slim-bookworm offers a Containerfile: python3 / python3.11 / python on PATH from /usr/local/bin
#   (symlinks to Debian's /usr/bin/python3.11, where the official image has its own build), `python3 -m venv`
#   with pip available (ensurepip), LANG=C.UTF-8 and CMD python3. Differences that matter only here: the host's
#   CA bundle (this network's TLS-intercepting proxy) at /etc/ssl/certs/ca-certificates.crt with SSL_CERT_FILE,
#   PIP_CERT and REQUESTS_CA_BUNDLE pointing at it, and the base is larger (~200 MB against ~125 MB).
#
# Tunables: ORDERS_CI_CACHE_DIR=/var/cache/orders-ci (rootfs tarballs; outside the repository),
#           ORDERS_PYTHON_BASE_IMAGE (the tag), DEBIAN_MIRROR=http://deb.debian.org/debian.

: "${ORDERS_CI_CACHE_DIR:=/var/cache/orders-ci}"
: "${ORDERS_PYTHON_BASE_IMAGE:=localhost/orders-ci/python:3.11-slim-bookworm}"
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
export ORDERS_CI_CACHE_DIR ORDERS_PYTHON_BASE_IMAGE

_base_log() { printf '[base-images] %s\n' "$*" >&2; }

# Engines that can take an import right now: podman when installed, docker when its daemon answers.
_base_engines() {
    command -v podman >/dev/null && printf 'podman\n'
    local docker=/usr/bin/docker
    [[ -x $docker ]] || docker=$(command -v docker) || return 0
    "$docker" info >/dev/null 2>&1 && printf '%s\n' "$docker"
    return 0
}

orders_ci_rootfs_tarball() {
    local name=$1 packages=$2 fixup=${3:-} key tarball rootfs
    # The key covers what shapes the rootfs, the fixup function's body included.
    key=$( {
        printf 'bookworm minbase %s v1\n' "$packages"
        if [[ -n $fixup ]]; then declare -f "$fixup"; fi
    } | sha256sum | cut -c1-12)
    tarball="$ORDERS_CI_CACHE_DIR/rootfs-$name-$key.tar"
    if [[ -s $tarball ]]; then
        printf '%s\n' "$tarball"
        return 0
    fi
    command -v debootstrap >/dev/null || apt_install debootstrap || return 1
    mkdir -p "$ORDERS_CI_CACHE_DIR" || return 1
    rootfs=$(mktemp -d "$ORDERS_CI_CACHE_DIR/rootfs-$name.XXXXXX") || return 1
    _base_log "debootstrap $name ($packages) into $rootfs (about a minute)"
    if ! debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$DEBIAN_MIRROR" \
        >"$rootfs.log" 2>&1; then
        _base_log "debootstrap failed; see $rootfs.log"
        rm -rf "$rootfs"
        return 1
    fi
    # The host's bundle includes the proxy's CA; without it every TLS download inside a build fails.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt" || return 1
    # What a slim image does not carry: package caches and lists, documentation, man pages.
    if [[ -n $fixup ]]; then
        "$fixup" "$rootfs" || { rm -rf "$rootfs"; return 1; }
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
    # A tarball written under a temporary name and then renamed: an interrupted run leaves no half cache.
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" . && mv -f "$tarball.tmp" "$tarball" || {
        rm -rf "$rootfs" "$tarball.tmp"
        return 1
    }
    rm -rf "$rootfs" "$rootfs.log"
    printf '%s\n' "$tarball"
}

orders_ci_import_image() {
    local tarball=$1 tag=$2 engine
    shift 2
    local changes=() arg
    for arg in "$@"; do
        [[ $arg == --change ]] && continue
        changes+=(--change "$arg")
    done
    while read -r engine; do
        [[ -n $engine ]] || continue
        if "$engine" image inspect "$tag" >/dev/null 2>&1; then
            _base_log "$engine already has $tag"
            continue
        fi
        _base_log "importing $tag into $engine"
        "$engine" import "${changes[@]}" "$tarball" "$tag" >/dev/null || return 1
    done < <(_base_engines)
}

# Python reachable where the official image has it (/usr/local/bin); a Containerfile written for the official
# image then builds unchanged on the stand-in.
_python_base_rootfs_fixups() {
    local rootfs=$1
    ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python3.11"
    ln -sf python3.11 "$rootfs/usr/local/bin/python3"
    ln -sf python3.11 "$rootfs/usr/local/bin/python"
}

build_python_base() {
    local tag=$ORDERS_PYTHON_BASE_IMAGE need=0 engine
    while read -r engine; do
        [[ -n $engine ]] || continue
        "$engine" image inspect "$tag" >/dev/null 2>&1 || need=1
    done < <(_base_engines)
    if ((need == 0)); then
        _base_log "$tag present in every engine"
        return 0
    fi
    local tarball
    tarball=$(orders_ci_rootfs_tarball python python3,python3-venv,ca-certificates _python_base_rootfs_fixups) \
        || return 1
    orders_ci_import_image "$tarball" "$tag" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]'
}
