# shellcheck shell=bash
# .ci/lib/postgres-image.sh: a stand-in for the official PostgreSQL image, for CI machines that reach no registry.
# Provides: postgres_image_build, postgres_image_to_podman.
# Needs: common.sh (apt_install), then engines.sh's engines_up (a docker daemon; podman for the copy); root.
#
#   postgres_image_build
#       Builds (or reuses) a Debian bookworm minbase root filesystem with postgresql-15, cached as a tarball in
#       $ORDERS_CI_CACHE_DIR (default /var/cache/orders-ci, outside the repository), imports it into Docker and
#       builds .ci/postgres-standin/Containerfile on top as $POSTGRES_STANDIN_IMAGE
#       (default localhost/orders-ci/postgres:15). Prints nothing on stdout except the image name on its
#       last line. Idempotent: a second call reuses the tarball, and Docker's cache makes the build a no-op.
#       Installs debootstrap when missing (apt_install). Needs root and a running dockerd.
#   postgres_image_to_podman
#       Copies $POSTGRES_STANDIN_IMAGE from Docker into Podman's storage (docker save | podman load), unless
#       podman already holds the same image ID. Call after postgres_image_build. Returns 0 without doing
#       anything when podman is not installed.
#
# The image honours POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, initialises /var/lib/postgresql/data on
# first start, runs the server as the postgres user listening on all interfaces, and ships pg_isready:
# the subset of the official image's behaviour that compose.yaml depends on.
#
# Nothing keeps running after these functions return: the only temporary state (a chroot's /proc mount and a
# scratch directory) is removed by a trap, also on failure.
#
# Variables: ORDERS_CI_CACHE_DIR, POSTGRES_STANDIN_IMAGE, DOCKER (default /usr/bin/docker: Debian's client
# talks to Debian's engine; a newer client first on PATH may not), DEBIAN_MIRROR (default deb.debian.org).

POSTGRES_IMAGE_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${ORDERS_CI_CACHE_DIR:=/var/cache/orders-ci}"
: "${POSTGRES_STANDIN_IMAGE:=localhost/orders-ci/postgres:15}"
: "${DOCKER:=/usr/bin/docker}"
# Bump when the rootfs recipe below changes, so a stale cached tarball is not reused.
POSTGRES_ROOTFS_VERSION=1
POSTGRES_ROOTFS_IMAGE="localhost/orders-ci/postgres-rootfs:15-bookworm-v${POSTGRES_ROOTFS_VERSION}"

_pg_log() { echo "postgres-image: $*" >&2; }

_pg_rootfs_tarball() {
    echo "$ORDERS_CI_CACHE_DIR/postgres15-bookworm-minbase-v${POSTGRES_ROOTFS_VERSION}.tar"
}

# Creates the cached rootfs tarball unless it already exists. Runs in a subshell so its trap cannot clobber
# the caller's.
_pg_build_rootfs() (
    set -euo pipefail
    local tarball scratch rootfs mirror
    tarball="$(_pg_rootfs_tarball)"
    [[ -s "$tarball" ]] && exit 0

    if ! command -v debootstrap >/dev/null; then
        _pg_log "installing debootstrap"
        apt_install debootstrap
    fi

    mkdir -p "$ORDERS_CI_CACHE_DIR"
    scratch="$(mktemp -d "$ORDERS_CI_CACHE_DIR/postgres-rootfs.XXXXXX")"
    rootfs="$scratch/rootfs"
    # shellcheck disable=SC2329  # invoked by the EXIT trap below
    cleanup() {
        mountpoint -q "$rootfs/proc" && umount "$rootfs/proc"
        rm -rf "$scratch"
    }
    trap cleanup EXIT

    mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    _pg_log "debootstrap bookworm (minbase) into $rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$scratch/debootstrap.log" 2>&1 || {
        tail -n 30 "$scratch/debootstrap.log" >&2
        exit 1
    }

    # Package scripts must neither start services nor create the default cluster: the entrypoint creates the
    # cluster at first start, in the container's own data directory.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
    mkdir -p "$rootfs/etc/postgresql-common"
    echo 'create_main_cluster = false' >"$rootfs/etc/postgresql-common/createcluster.conf"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    mount -t proc proc "$rootfs/proc"

    _pg_log "installing postgresql-15 into the rootfs"
    chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql-15 >"$scratch/apt.log" 2>&1 || {
        tail -n 30 "$scratch/apt.log" >&2
        exit 1
    }
    umount "$rootfs/proc"

    # Trim what a database server never reads; keep the C.UTF-8 locale (built into glibc) and timezone data.
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
        "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old \
        "$rootfs/usr/sbin/policy-rc.d"
    # The host's resolver has no business in an image; the engine provides its own at run time.
    : >"$rootfs/etc/resolv.conf"

    tar --numeric-owner -C "$rootfs" -cf "$scratch/rootfs.tar" .
    mv "$scratch/rootfs.tar" "$tarball"
    _pg_log "cached $tarball ($(du -h "$tarball" | cut -f1))"
)

postgres_image_build() (
    set -euo pipefail
    _pg_build_rootfs
    if ! "$DOCKER" image inspect "$POSTGRES_ROOTFS_IMAGE" >/dev/null 2>&1; then
        _pg_log "importing rootfs as $POSTGRES_ROOTFS_IMAGE"
        "$DOCKER" import "$(_pg_rootfs_tarball)" "$POSTGRES_ROOTFS_IMAGE" >/dev/null
    fi
    _pg_log "building $POSTGRES_STANDIN_IMAGE"
    # The classic builder suffices (no RUN --mount here) and needs no BuildKit frontend image.
    DOCKER_BUILDKIT=0 "$DOCKER" build --quiet \
        --build-arg "ROOTFS_IMAGE=$POSTGRES_ROOTFS_IMAGE" \
        -t "$POSTGRES_STANDIN_IMAGE" \
        -f "$POSTGRES_IMAGE_LIB_DIR/../postgres-standin/Containerfile" \
        "$POSTGRES_IMAGE_LIB_DIR/../postgres-standin" >/dev/null
    echo "$POSTGRES_STANDIN_IMAGE"
)

postgres_image_to_podman() (
    set -euo pipefail
    if ! command -v podman >/dev/null; then
        _pg_log "podman not installed; nothing to copy"
        exit 0
    fi
    local want have
    want="$("$DOCKER" image inspect --format '{{.Id}}' "$POSTGRES_STANDIN_IMAGE")"
    have="$(podman image inspect --format '{{.Id}}' "$POSTGRES_STANDIN_IMAGE" 2>/dev/null || true)"
    # docker save / podman load keep the image ID: equal IDs mean podman already has this very image.
    if [[ "sha256:${have#sha256:}" == "$want" ]]; then
        exit 0
    fi
    _pg_log "copying $POSTGRES_STANDIN_IMAGE into podman's storage"
    "$DOCKER" save "$POSTGRES_STANDIN_IMAGE" | podman load -q >&2
)
