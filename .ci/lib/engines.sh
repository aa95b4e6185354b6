# shellcheck shell=bash
# .ci/lib/engines.sh: container engines for CI (podman and docker) on a Debian 12 machine, as root.
# Provides: engines_install, engines_configure, dockerd_start, dockerd_wait, dockerd_stop, engines_up, engines_down.
# Needs: common.sh sourced first (apt_install).
#
# Each function is idempotent and returns non-zero on failure (the file does not change the caller's shell
# options). Shared by the container, compose and publish legs: keep the names stable.
#
#   engines_install     apt_install podman runc buildah skopeo docker.io docker-compose (only what is missing; no
#                       service started by the packages' maintainer scripts).
#   engines_configure   write $ORDERS_CI_CONTAINERS_CONF (runtime runc, ulimits within the host's hard limits) and
#                       export CONTAINERS_CONF pointing at it. crun, podman's default, cannot run on these machines.
#   dockerd_start       start dockerd in the background unless a daemon already answers; records its PID in
#                       $ORDERS_CI_RUN_DIR/dockerd.pid only when this file started it.
#   dockerd_wait [S]    wait up to S seconds (default 60) until `docker info` answers.
#   dockerd_stop        stop the dockerd that dockerd_start started in this shell (by PID); leaves any other one alone.
#   engines_up          engines_install + engines_configure + dockerd_start + dockerd_wait. Exports DOCKER and PODMAN.
#   engines_down        dockerd_stop. Containers are the callers' business: stop them before.
#
# Exported variables:
#   DOCKER    the docker client to use: Debian's /usr/bin/docker, which talks to Debian's engine and builds with
#             DOCKER_BUILDKIT=1 (a newer client earlier on PATH may lack the buildx plugin that BuildKit needs).
#   PODMAN    podman's path.
#   CONTAINERS_CONF, DOCKER_BUILDKIT=1.
# Tunables (environment, with defaults):
#   ORDERS_CI_RUN_DIR=/run/orders-ci                      PID files and the dockerd log
#   ORDERS_CI_CONTAINERS_CONF=/etc/orders-ci/containers.conf

: "${ORDERS_CI_RUN_DIR:=/run/orders-ci}"
: "${ORDERS_CI_CONTAINERS_CONF:=/etc/orders-ci/containers.conf}"
export ORDERS_CI_RUN_DIR ORDERS_CI_CONTAINERS_CONF

_engines_log() { printf '[engines] %s\n' "$*" >&2; }

engines_install() {
    # runc: the runtime that works here; uidmap/slirp4netns/fuse-overlayfs are podman's usual companions that
    # --no-install-recommends would otherwise leave out; iptables for both engines' port publishing.
    apt_install podman runc buildah skopeo uidmap slirp4netns fuse-overlayfs iptables \
        docker.io docker-compose
}

engines_configure() {
    local hard_nofile hard_nproc nofile nproc
    hard_nofile=$(ulimit -Hn) hard_nproc=$(ulimit -Hu)
    # Ask for 65536 open files / 4096 processes, but never more than the host's hard limit: a container runtime
    # cannot raise a limit above it (runc then fails with "setrlimit: operation not permitted").
    nofile=65536 nproc=4096
    [[ $hard_nofile != unlimited ]] && ((hard_nofile < nofile)) && nofile=$hard_nofile
    [[ $hard_nproc != unlimited ]] && ((hard_nproc < nproc)) && nproc=$hard_nproc
    mkdir -p "$(dirname "$ORDERS_CI_CONTAINERS_CONF")" || return 1
    local tmp="$ORDERS_CI_CONTAINERS_CONF.tmp.$$"
    cat >"$tmp" <<EOF || return 1
# Written by .ci/lib/engines.sh; used through the CONTAINERS_CONF environment variable.
[containers]
# The engine's default ulimits exceed this host's hard limits; the runtime cannot raise them.
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
# crun fails here (RLIMIT_NOFILE, hybrid cgroups); runc works.
runtime = "runc"
EOF
    mv -f "$tmp" "$ORDERS_CI_CONTAINERS_CONF" || return 1
    export CONTAINERS_CONF="$ORDERS_CI_CONTAINERS_CONF"
}

_engines_docker_client() {
    if [[ -x /usr/bin/docker ]]; then printf '/usr/bin/docker'; else command -v docker; fi
}

_dockerd_answers() { "$(_engines_docker_client)" info >/dev/null 2>&1; }

dockerd_start() {
    if _dockerd_answers; then
        _engines_log "a docker daemon already answers; not starting another"
        return 0
    fi
    local pidfile="$ORDERS_CI_RUN_DIR/dockerd.pid"
    if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        _engines_log "dockerd $(cat "$pidfile") (ours) is starting"
        return 0
    fi
    mkdir -p "$ORDERS_CI_RUN_DIR" || return 1
    command -v dockerd >/dev/null || { _engines_log "dockerd is not installed (engines_install)"; return 1; }
    # setsid: its own session, so the caller's Ctrl-C or job control does not hit it; stdin closed.
    setsid dockerd >"$ORDERS_CI_RUN_DIR/dockerd.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    # This shell's own: dockerd_stop leaves a daemon another shell (another session) started alone.
    _orders_ci_dockerd_pid=$!
    _engines_log "started dockerd pid $(cat "$pidfile"), log $ORDERS_CI_RUN_DIR/dockerd.log"
}

dockerd_wait() {
    local timeout=${1:-60} waited=0
    until _dockerd_answers; do
        if ((waited >= timeout * 2)); then
            _engines_log "docker daemon not ready after ${timeout}s"
            tail -n 20 "$ORDERS_CI_RUN_DIR/dockerd.log" >&2 2>/dev/null
            return 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
}

dockerd_stop() {
    local pidfile="$ORDERS_CI_RUN_DIR/dockerd.pid" pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if [[ $pid != "${_orders_ci_dockerd_pid:-}" ]]; then
        _engines_log "dockerd $pid was started by another shell; leaving it running"
        return 0
    fi
    # Only a live dockerd with the recorded PID is ours; a stale file (reused PID) is just removed.
    if kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then
        _engines_log "stopping dockerd pid $pid"
        kill -TERM "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            _engines_log "dockerd $pid ignored SIGTERM for 30s; sending SIGKILL"
            kill -KILL "$pid"
        fi
    fi
    rm -f "$pidfile"
}

engines_up() {
    engines_install || return 1
    engines_configure || return 1
    dockerd_start || return 1
    dockerd_wait 60 || return 1
    DOCKER=$(_engines_docker_client)
    PODMAN=$(command -v podman)
    export DOCKER PODMAN DOCKER_BUILDKIT=1
    _engines_log "ready: $("$DOCKER" version --format 'docker {{.Server.Version}}' 2>/dev/null), $("$PODMAN" --version)"
}

engines_down() {
    dockerd_stop
}
