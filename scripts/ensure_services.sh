#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the test suite talks to are up on 127.0.0.1 (installing them, and the Chromium
# the browser tests drive, with apt on a fresh Debian machine), and wait until both answer. Safe to run again: it
# only starts what is down.
set -euo pipefail

PGHOST=127.0.0.1
PGPORT=5432
PGUSER=postgres
PGDATABASE=roster
REDIS_PORT=6379
WAIT_SECONDS=${WAIT_SECONDS:-60}

log() { echo "ensure_services: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" </dev/null
}

wait_for() {
    local what=$1
    shift
    local waited=0
    until "$@" >/dev/null 2>&1; do
        if [ "$waited" -ge "$WAIT_SECONDS" ]; then
            log "$what did not answer within ${WAIT_SECONDS}s"
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT"; }
pg_login() { psql -w -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -tAc 'select 1'; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

# --- install what is missing -----------------------------------------------------------------------------------
missing=()
if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_up 2>/dev/null; then
    missing+=(postgresql)
fi
if ! command -v redis-server >/dev/null 2>&1 && ! redis_up; then
    missing+=(redis-server)
fi
# The browser tests (tests/browser) drive Debian's chromium through Playwright; never `playwright install`.
if [ ! -x /usr/bin/chromium ]; then
    missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# --- PostgreSQL ------------------------------------------------------------------------------------------------
if ! pg_up; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
        log "PostgreSQL is installed but has no cluster under /etc/postgresql"
        exit 1
    fi
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
wait_for PostgreSQL pg_up

# The suite connects as postgres@127.0.0.1 without a password (see DATABASE_URL in pyproject.toml). A fresh Debian
# cluster asks for one over TCP, so let the local postgres user in, once.
if ! pg_login >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q 'roster test suite' "$hba"; then
        log "allowing postgres@127.0.0.1 without a password in $hba"
        tmp=$(mktemp)
        {
            echo "# roster test suite: local connections as postgres without a password"
            echo "host all postgres 127.0.0.1/32 trust"
            echo "host all postgres ::1/128 trust"
            cat "$hba"
        } >"$tmp"
        as_root cp "$tmp" "$hba"
        rm -f "$tmp"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
    wait_for "PostgreSQL login" pg_login
fi
if [ "$(psql -w -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -tAc \
    "select 1 from pg_database where datname = '$PGDATABASE'")" != "1" ]; then
    createdb -w -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$PGDATABASE" || true
fi

# --- Redis -----------------------------------------------------------------------------------------------------
if ! redis_up; then
    log "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis redis_up

log "PostgreSQL and Redis are up"
