# shellcheck shell=bash
# .ci/lib/compose.sh: the compose tools the compose suite runs on, on a Debian 12 machine, as root.
# Provides: compose_tools_install.
# Needs: common.sh (apt_install), then engines.sh's engines_up (podman, docker, docker-compose); uv.
#
# Idempotent.
#   compose_tools_install   Debian's podman-compose (1.0.3) and the CNI dnsname plugin, plus the pinned current
#                           podman-compose release from PyPI in its own uv tool venv. Exports
#                           ORDERS_PODMAN_COMPOSE (Debian's) and ORDERS_PODMAN_COMPOSE_LATEST (PyPI's), which
#                           tests/compose/conftest.py reads.
#
# Why dnsname: Debian 12's podman 4.3 uses CNI networks, and without this plugin containers on a compose
# network cannot resolve each other's service names (`db`). Networks created after it is installed resolve.
# (netavark/aardvark-dns are in Debian 12 too, but switching podman's network backend needs a
# `podman system reset`, which would wipe every other user's containers and images on the machine.)
#
# Tunables: PODMAN_COMPOSE_VERSION (default 1.6.0, the current release when this was written),
#           ORDERS_CI_TOOLS_DIR=/opt/orders-ci (uv tool venvs under tools/, executables under bin/).

: "${PODMAN_COMPOSE_VERSION:=1.6.0}"
: "${ORDERS_CI_TOOLS_DIR:=/opt/orders-ci}"

_compose_log() { printf '[compose] %s\n' "$*" >&2; }

compose_tools_install() {
    apt_install podman-compose golang-github-containernetworking-plugin-dnsname || return 1
    local bin="$ORDERS_CI_TOOLS_DIR/bin"
    if [[ $("$bin/podman-compose" --version 2>/dev/null) != *"podman-compose version $PODMAN_COMPOSE_VERSION"* ]]; then
        _compose_log "installing podman-compose==$PODMAN_COMPOSE_VERSION from PyPI into its own tool venv"
        UV_TOOL_DIR="$ORDERS_CI_TOOLS_DIR/tools" UV_TOOL_BIN_DIR="$bin" \
            uv tool install --force "podman-compose==$PODMAN_COMPOSE_VERSION" >&2 || return 1
    fi
    ORDERS_PODMAN_COMPOSE=/usr/bin/podman-compose
    ORDERS_PODMAN_COMPOSE_LATEST="$bin/podman-compose"
    export ORDERS_PODMAN_COMPOSE ORDERS_PODMAN_COMPOSE_LATEST
    _compose_log "ready: $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')," \
        "$("$ORDERS_PODMAN_COMPOSE" --version 2>/dev/null | grep -m1 podman-compose)," \
        "$("$ORDERS_PODMAN_COMPOSE_LATEST" --version 2>/dev/null | grep -m1 podman-compose)"
}
