# shellcheck shell=bash
# .ci/lib/common.sh: the shared helpers of .ci/run, .ci/fuzz.sh and every other .ci/lib/*.sh.
# Provides: section, ensure_uv, ensure_postgres, apt_install (the only apt-get wrapper in .ci).
# Needs: bash, root, Debian's apt-get; nothing else sourced first.
#
# Source it; every function is idempotent and leaves the caller's shell options alone.
#   section TITLE        print a visible heading in the CI log
#   ensure_uv            install the pinned uv from PyPI when it is missing
#   ensure_postgres      make sure PostgreSQL answers on 127.0.0.1:5432 with trust auth for local TCP
#   apt_install PKG...   install the packages that are missing: one `apt-get update` per CI run, apt's output on
#                        stderr (callers read paths and tags from stdout), no service started by maintainer scripts

UV_VERSION="${UV_VERSION:-0.13.8}"
# Exported, so that scripts .ci/run starts (.ci/fuzz.sh) and sourcing this file again keep the record of it.
export ORDERS_CI_APT_UPDATED="${ORDERS_CI_APT_UPDATED:-}"

section() { printf '\n==== %s ====\n' "$*"; }

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if [ -z "$ORDERS_CI_APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    ORDERS_CI_APT_UPDATED=1
  fi
  printf '[apt] installing: %s\n' "${missing[*]}" >&2
  # A policy-rc.d that answers 101 keeps maintainer scripts from starting services (docker.io would start a
  # dockerd nobody tracks, docker-registry one listening on every interface). Only ours is removed afterwards.
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && ours=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?
  ((ours)) && rm -f "$policy"
  return "$rc"
}

ensure_uv() {
  if ! command -v uv >/dev/null 2>&1; then
    echo "uv not found: installing uv==${UV_VERSION} from PyPI"
    python3 -m pip install --quiet "uv==${UV_VERSION}"
    hash -r
  fi
  uv --version
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "PostgreSQL is already accepting connections on 127.0.0.1:5432"
    return 0
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "PostgreSQL is not installed: installing Debian's postgresql"
    apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    # A server installed here only for the tests: local TCP connections are trusted, as on the dev machines.
    sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "/etc/postgresql/${version}/main/pg_hba.conf"
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL ${version}"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 1
  done
  echo "PostgreSQL did not become ready on 127.0.0.1:5432" >&2
  return 1
}
