# Shared helpers for .ci/run. Source it; every function is idempotent.
#   section TITLE        print a visible heading in the CI log
#   ensure_uv            install the pinned uv from PyPI when it is missing
#   ensure_postgres      make sure PostgreSQL answers on 127.0.0.1:5432 with trust auth for local TCP
#   apt_install PKG...   apt-get install, running `apt-get update` once per CI run

UV_VERSION="${UV_VERSION:-0.13.8}"
_APT_UPDATED=""

section() { printf '\n==== %s ====\n' "$*"; }

apt_install() {
  if [ -z "$_APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
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
