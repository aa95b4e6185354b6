# shellcheck shell=bash
# .ci/lib/haproxy-image.sh: a stand-in for the official haproxy image, for CI machines that reach no registry.
# Provides: haproxy_image_build.
# Needs: common.sh (apt_install), base-images.sh (orders_ci_rootfs_tarball, orders_ci_import_image), then
# engines.sh's engines_up (podman, a docker daemon); root.
#
#   haproxy_image_build
#       Makes $HAPROXY_STANDIN_IMAGE (default localhost/orders-ci/haproxy:2.6) exist in podman and docker
#       (whichever answer) from a cached Debian bookworm minbase root filesystem with Debian's haproxy package
#       (2.6, the branch compose.lb.yaml pins), and prints the image name on its last stdout line. Idempotent:
#       the rootfs tarball is cached in $ORDERS_CI_CACHE_DIR and an engine that has the tag is skipped.
#
# The image keeps the parts of the official image's contract that compose.lb.yaml relies on: the config at
# /usr/local/etc/haproxy/haproxy.cfg, an entrypoint that runs `haproxy -W -db ARGS` (master-worker, foreground),
# and the unprivileged `haproxy` user. Differences: Debian's 2.6.12 build instead of the official image's latest
# 2.6 release, and no STOPSIGNAL (docker 20.10's `import --change` refuses it), so compose.lb.yaml sets the
# official image's SIGUSR1 itself.

: "${HAPROXY_STANDIN_IMAGE:=localhost/orders-ci/haproxy:2.6}"

# The official image's entrypoint, in effect: `haproxy ARGS` and `-ARGS` run haproxy in the foreground as
# master-worker; anything else runs as given.
_haproxy_rootfs_fixups() {
    local rootfs=$1
    mkdir -p "$rootfs/usr/local/etc/haproxy" "$rootfs/usr/local/bin" || return 1
    cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'SCRIPT' || return 1
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then
    set -- haproxy "$@"
fi
if [ "$1" = haproxy ]; then
    shift
    set -- haproxy -W -db "$@"
fi
exec "$@"
SCRIPT
    chmod 0755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
    # The package's own config and its systemd-only state directory are of no use in a container.
    rm -f "$rootfs/etc/haproxy/haproxy.cfg"
}

haproxy_image_build() {
    local tarball
    tarball=$(orders_ci_rootfs_tarball haproxy haproxy,ca-certificates _haproxy_rootfs_fixups) || return 1
    orders_ci_import_image "$tarball" "$HAPROXY_STANDIN_IMAGE" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'USER haproxy' \
        --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
        --change 'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' >&2 || return 1
    printf '%s\n' "$HAPROXY_STANDIN_IMAGE"
}
