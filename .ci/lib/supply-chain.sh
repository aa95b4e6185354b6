# shellcheck shell=bash
# .ci/lib/supply-chain.sh: what ships, checked offline (docs/supply-chain.md): SBOM and Trivy scans of the image.
# Provides: supply_chain_image, supply_chain_sbom, supply_chain_scan_image, supply_chain_scan_repo, supply_chain_clean.
# Needs: engines.sh's engines_up and base-images.sh's build_python_base; uv, openssl; the repository root as cwd.
#
# Functions return non-zero on failure and leave the caller's shell options alone.
#
#   supply_chain_image        build the image CI tests, with podman on the stand-in base (the container leg's
#                             layers make this a cache hit), as $SUPPLY_CHAIN_IMAGE, and save it to
#                             $SUPPLY_CHAIN_WORK/image.tar (docker-archive): the one input of the next two.
#   supply_chain_sbom         Syft's SPDX JSON of that archive into $SUPPLY_CHAIN_ARTIFACTS/orders-app.spdx.json;
#                             prints the package count and fails unless the SBOM names every Python package
#                             uv.lock puts in the image, at its locked version, and no other.
#   supply_chain_scan_image   Trivy's secret and misconfiguration scanners over the image: every file of its
#                             filesystem, and its configuration (user, healthcheck, ...).
#   supply_chain_scan_repo    the same scanners over the committed tree (`git ls-files`, copied out: no venv,
#                             cache or key that a test run generated is looked at).
#   supply_chain_clean        remove the image and the work directory.
#
# Scanners: Syft and Trivy from the dev dependency group (uv.lock pins them, hashes included). Trivy runs its
# secret and misconfiguration scanners only, with the checks built into its binary: no vulnerability database,
# no checks bundle, no version check or telemetry. Both run with HTTP(S)_PROXY pointing at a closed local port,
# so any download either tool attempted would fail here instead of going quietly through the machine's proxy.
# Findings accepted on purpose are in .trivyignore.yaml, each with its reason; any other finding fails.
#
# Tunables: SUPPLY_CHAIN_IMAGE (localhost/orders-app:supply-chain), SUPPLY_CHAIN_ARTIFACTS
# (.ci/artifacts/supply-chain), SUPPLY_CHAIN_WORK (a directory under /var/tmp, created on first use).
# The findings' reports (Trivy JSON) and the SBOM stay in SUPPLY_CHAIN_ARTIFACTS.

: "${SUPPLY_CHAIN_IMAGE:=localhost/orders-app:supply-chain}"
: "${SUPPLY_CHAIN_ARTIFACTS:=.ci/artifacts/supply-chain}"
# Absolute: the repository scan runs in a copy of the tree.
SUPPLY_CHAIN_IGNOREFILE="$PWD/.trivyignore.yaml"

_supply_log() { printf '[supply-chain] %s\n' "$*" >&2; }

_supply_work() {
    if [[ -z ${SUPPLY_CHAIN_WORK:-} ]]; then
        SUPPLY_CHAIN_WORK=$(mktemp -d /var/tmp/orders-supply-chain.XXXXXX) || return 1
        export SUPPLY_CHAIN_WORK
    fi
    mkdir -p "$SUPPLY_CHAIN_WORK" "$SUPPLY_CHAIN_ARTIFACTS"
}

# Offline on purpose: a closed port as proxy, Syft's update check off.
_supply_offline() {
    HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
        http_proxy=http://127.0.0.1:9 NO_PROXY='' no_proxy='' SYFT_CHECK_FOR_APP_UPDATE=false "$@"
}

supply_chain_image() {
    _supply_work || return 1
    local podman=${PODMAN:-podman} base=${ORDERS_PYTHON_BASE_IMAGE:?build_python_base first}
    _supply_log "building $SUPPLY_CHAIN_IMAGE on $base (podman; cached layers from the container leg)"
    "$podman" build --format docker --build-arg PYTHON_IMAGE="$base" -f Containerfile -t "$SUPPLY_CHAIN_IMAGE" . \
        >"$SUPPLY_CHAIN_WORK/build.log" 2>&1 || {
        tail -n 30 "$SUPPLY_CHAIN_WORK/build.log" >&2
        return 1
    }
    rm -f "$SUPPLY_CHAIN_WORK/image.tar"
    "$podman" save --format docker-archive --output "$SUPPLY_CHAIN_WORK/image.tar" "$SUPPLY_CHAIN_IMAGE" \
        >/dev/null || return 1
    _supply_log "saved $(du -h "$SUPPLY_CHAIN_WORK/image.tar" | cut -f1) archive of $SUPPLY_CHAIN_IMAGE"
}

supply_chain_sbom() {
    local sbom="$SUPPLY_CHAIN_ARTIFACTS/orders-app.spdx.json" version
    version=$(uv run --locked python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])') \
        || return 1
    uv run --locked syft version | sed -n 's/^Version: */syft /p'
    _supply_offline uv run --locked syft scan "docker-archive:$SUPPLY_CHAIN_WORK/image.tar" \
        --source-name orders-app --source-version "$version" --quiet --output "spdx-json=$sbom" || return 1
    uv run --locked python -m tests.publish.sbom_check "$sbom"
}

_supply_trivy() {
    # The scanners and switches every scan shares; the cache stays in the work directory.
    _supply_offline uv run --locked trivy "$@" --scanners misconfig,secret --skip-db-update --skip-check-update \
        --offline-scan --skip-version-check --disable-telemetry --no-progress --quiet \
        --cache-dir "$SUPPLY_CHAIN_WORK/trivy-cache" --ignorefile "$SUPPLY_CHAIN_IGNOREFILE" --format json
}

supply_chain_scan_image() {
    _supply_work || return 1
    local report="$SUPPLY_CHAIN_ARTIFACTS/trivy-image.json"
    uv run --locked trivy --version | sed -n 's/^Version: */trivy /p'
    _supply_trivy image --input "$SUPPLY_CHAIN_WORK/image.tar" --image-config-scanners misconfig,secret \
        --output "$report" || return 1
    uv run --locked python .ci/lib/trivy_report.py "$report" "trivy image (filesystem and configuration)"
}

# A control: the same scan over a tree with a private key and a root Containerfile must find both, or a
# clean report below would mean nothing (a scanner switched off, rules missing offline).
_supply_canary() {
    local canary="$SUPPLY_CHAIN_WORK/canary"
    rm -rf "$canary" && mkdir -p "$canary" || return 1
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$canary/key.pem" 2>/dev/null || return 1
    printf 'FROM docker.io/library/debian:12@sha256:%064d\nCMD ["true"]\n' 0 >"$canary/Containerfile"
    _supply_trivy fs --output "$SUPPLY_CHAIN_WORK/canary.json" "$canary" || return 1
    if uv run --locked python .ci/lib/trivy_report.py "$SUPPLY_CHAIN_WORK/canary.json" "control" >/dev/null; then
        _supply_log "the control scan found nothing in a tree with a private key: the scan cannot be trusted"
        return 1
    fi
    uv run --locked python - "$SUPPLY_CHAIN_WORK/canary.json" <<'PY' || return 1
import json, sys
results = json.load(open(sys.argv[1])).get("Results") or []
secrets = [s["RuleID"] for r in results for s in r.get("Secrets") or []]
misconfigurations = [m["ID"] for r in results for m in r.get("Misconfigurations") or []]
print(f"control: planted private key found ({', '.join(secrets)}), root Containerfile found ({', '.join(misconfigurations)})")
sys.exit(0 if secrets and "DS-0002" in misconfigurations else 1)
PY
}

supply_chain_scan_repo() {
    _supply_work || return 1
    _supply_canary || return 1
    local tree="$SUPPLY_CHAIN_WORK/tree" report="$SUPPLY_CHAIN_ARTIFACTS/trivy-repository.json"
    rm -rf "$tree" && mkdir -p "$tree" || return 1
    # Tracked files only (as they are in the work tree): what a commit holds, never generated keys or venvs.
    git ls-files -z | tar --null -T - -cf - | tar -C "$tree" -xf - || return 1
    _supply_log "scanning $(git ls-files | wc -l) tracked files"
    # Targets (and the ignore file's paths) are relative to the tree's root.
    _supply_trivy fs --output "$report" "$tree" || return 1
    uv run --locked python .ci/lib/trivy_report.py "$report" "trivy fs (committed tree)" .trivyignore.yaml
}

supply_chain_clean() {
    "${PODMAN:-podman}" rmi "$SUPPLY_CHAIN_IMAGE" >/dev/null 2>&1 || true
    if [[ -n ${SUPPLY_CHAIN_WORK:-} && $SUPPLY_CHAIN_WORK == /var/tmp/orders-supply-chain.* ]]; then
        rm -rf "$SUPPLY_CHAIN_WORK"
    fi
}
