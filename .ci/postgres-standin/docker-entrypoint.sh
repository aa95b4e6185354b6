#!/bin/sh
# Entrypoint of the CI stand-in for the official postgres image. It reproduces the parts of that image's
# contract that compose.yaml relies on, nothing more:
#   * POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required), POSTGRES_DB (default: the user name);
#   * the first start on an empty $PGDATA initialises the cluster; later starts reuse it untouched;
#   * the server runs as the unprivileged postgres user, listens on all interfaces inside the container and
#     requires a password (scram-sha-256) for every TCP connection;
#   * while initialising, a temporary server listens on the Unix socket only, so a TCP probe
#     (pg_isready -h 127.0.0.1) cannot report "ready" before the real server is up.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# Anything but "postgres ..." (e.g. `docker run IMAGE psql ...`) runs as given.
if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    # A fresh named volume or bind mount may belong to root: hand it to postgres, then drop privileges.
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "docker-entrypoint: POSTGRES_PASSWORD is not set; refusing to initialise a database without one" >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"

    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"

    # initdb's pg_hba.conf only admits TCP clients from loopback; containers reach us from the network.
    printf '\n# Containers on the compose network connect over TCP with a password.\nhost all all all scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.auto.conf"

    if [ "$db" != postgres ]; then
        pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
        # Identifier quoting: double any embedded double quote.
        quoted_db=$(printf '%s' "$db" | sed 's/"/""/g')
        psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres --no-psqlrc --quiet \
            -c "CREATE DATABASE \"$quoted_db\""
        pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    fi
    echo "docker-entrypoint: initialised $PGDATA (user $user, database $db)"
fi

exec "$@"
