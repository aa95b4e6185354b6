# shellcheck shell=bash
# .ci/lib/publish.sh: what the publishing suite (tests/publish, marker `publish`) needs on a Debian 12 CI machine.
# Provides: publish_install, publish_suite.
# Needs: common.sh (apt_install), engines.sh's engines_up and base-images.sh's build_python_base; uv.
#
# Functions are idempotent and return non-zero on failure; the file does not change the caller's shell options.
#
#   publish_install   apt-get install docker-registry (Debian's CNCF distribution registry 2.8), only if missing.
#                     Its maintainer scripts cannot start the packaged service (apt_install's
#                     policy-rc.d): that one would listen on every interface. The tests start their own registries
#                     on 127.0.0.1 with their own configs and stop them by PID.
#   publish_suite     run the suite: `uv run pytest tests/publish -m publish` plus any extra pytest arguments.
#                     Needs engines_up (DOCKER, PODMAN, CONTAINERS_CONF) and build_python_base
#                     (ORDERS_PYTHON_BASE_IMAGE) first; ORDERS_REQUIRE_ALL=1 makes an engine that cannot run a failure
#                     rather than a skip. Starts nothing that outlives it (registries, moto and containers are
#                     stopped by the tests' own teardown).
#
# The suite's fast half (tests/publish/test_publish_script.py: rules, scripted decisions, --dry-run output;
# tests/publish/test_publish_uv_run.py: the documented `uv run scripts/publish` lines from a fresh copy) has no
# marker and runs in the default `uv run pytest`.

_publish_log() { printf '[publish] %s\n' "$*" >&2; }

publish_install() {
    if ! declare -F apt_install >/dev/null; then
        _publish_log "source .ci/lib/common.sh first (apt_install)"
        return 1
    fi
    apt_install docker-registry git || return 1
    command -v docker-registry >/dev/null || { _publish_log "docker-registry missing after install"; return 1; }
}

publish_suite() {
    _publish_log "tests/publish -m publish (docker and podman; local registries, moto)"
    uv run pytest tests/publish -m publish "$@"
}
