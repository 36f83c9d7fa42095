#!/usr/bin/env bash
# Make sure a local PostgreSQL (>= 15) is available for the pipeline and tests.
#
# Usage:
#   scripts/postgres.sh ensure            # running server that accepts DATABASE_URL's user
#   scripts/postgres.sh create-db [NAME]  # create database NAME if missing
#                                         # (default: the database in DATABASE_URL)
#   scripts/postgres.sh status
#   scripts/postgres.sh stop-if-started   # stop the cluster only if `ensure` started it
#
# Environment:
#   DATABASE_URL   default postgres://postgres@127.0.0.1:5432/traffic
#   PG_CLUSTER     Debian cluster name to start/create (default main)
#
# `ensure` on a local host (127.0.0.1 / localhost):
#   1. server answering            -> use it
#   2. a cluster exists            -> pg_ctlcluster ... <newest version> $PG_CLUSTER start
#   3. PostgreSQL not installed    -> apt-get install postgresql, start it, and
#                                     allow trust auth for user postgres on 127.0.0.1
#                                     (pg_hba.conf is edited only on a cluster this
#                                     script installed or started)
# When it starts a server it records .local/run/postgres.started so that
# `stop-if-started` (called by run-local.sh / test.sh at exit) can stop it again.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/traffic}"
PG_CLUSTER="${PG_CLUSTER:-main}"
MIN_PG_MAJOR=15
STARTED_FLAG="$RUN_DIR/postgres.started"     # "<version> <cluster>" we started
INSTALLED_FLAG="$LOCAL_DIR/postgres.installed" # "<version> <cluster>" we installed

# ---------------------------------------------------------------- URL parsing

# parse_url URL: sets PG_SCHEME PG_USERINFO PG_HOST PG_PORT PG_DB PG_QUERY
parse_url() {
    local url="$1"
    local re='^(postgres|postgresql)://(([^@/]*)@)?([^/:?]+|\[[^]/]+\])(:([0-9]+))?(/([^?]*))?(\?.*)?$'
    [[ "$url" =~ $re ]] || die "cannot parse DATABASE_URL '$url' (expected postgres://user@host:port/db)"
    PG_SCHEME="${BASH_REMATCH[1]}"
    PG_USERINFO="${BASH_REMATCH[3]}"
    PG_HOST="${BASH_REMATCH[4]}"
    PG_PORT="${BASH_REMATCH[6]:-5432}"
    PG_DB="${BASH_REMATCH[8]}"
    PG_QUERY="${BASH_REMATCH[9]}"
    PG_USER="${PG_USERINFO%%:*}"
    PG_USER="${PG_USER:-postgres}"
}

# url_for_db NAME: DATABASE_URL with its database replaced by NAME.
url_for_db() {
    local auth=""
    [[ -n "$PG_USERINFO" ]] && auth="$PG_USERINFO@"
    printf '%s://%s%s:%s/%s%s' "$PG_SCHEME" "$auth" "$PG_HOST" "$PG_PORT" "$1" "$PG_QUERY"
}

is_local_host() {
    [[ "$PG_HOST" == "127.0.0.1" || "$PG_HOST" == "localhost" ]]
}

# ---------------------------------------------------------------- checks

server_ready() {
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

# psql_admin ARGS...: psql on the maintenance database as DATABASE_URL's user.
psql_admin() {
    psql "$(url_for_db postgres)" -X -v ON_ERROR_STOP=1 -q "$@"
}

can_login() {
    psql_admin -tAc 'SELECT 1' >/dev/null 2>&1
}

server_major() {
    psql_admin -tAc 'SHOW server_version_num' | awk '{ print int($1 / 10000) }'
}

wait_ready() {
    local deadline=$((SECONDS + ${1:-30}))
    until server_ready; do
        ((SECONDS < deadline)) || return 1
        sleep 0.3
    done
}

newest_cluster_version() {
    [[ -d /etc/postgresql ]] || return 1
    local v
    v="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n1)"
    [[ -n "$v" ]] || return 1
    echo "$v"
}

cluster_port() { # VERSION CLUSTER
    awk -F= '/^[[:space:]]*port[[:space:]]*=/ { gsub(/[^0-9]/, "", $2); print $2; exit }' \
        "/etc/postgresql/$1/$2/postgresql.conf" 2>/dev/null
}

start_cluster() { # VERSION CLUSTER
    local ver="$1" cluster="$2" port
    port="$(cluster_port "$ver" "$cluster")"
    if [[ -n "$port" && "$port" != "$PG_PORT" ]]; then
        warn "cluster $ver/$cluster is configured for port $port but DATABASE_URL uses $PG_PORT"
    fi
    info "starting PostgreSQL cluster $ver/$cluster"
    need_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start
    echo "$ver $cluster" >"$STARTED_FLAG"
    wait_ready 30 || die "PostgreSQL $ver/$cluster did not become ready on $PG_HOST:$PG_PORT; see /var/log/postgresql/"
}

install_postgres() {
    info "PostgreSQL is not installed: installing it with apt-get (needs the Debian package mirror)"
    need_root apt-get update
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
}

# allow_trust_auth VERSION CLUSTER: let user postgres log in without a
# password over TCP on 127.0.0.1 (only for clusters this script installed).
allow_trust_auth() {
    local ver="$1" cluster="$2"
    local hba="/etc/postgresql/$ver/$cluster/pg_hba.conf"
    local line="host    all             postgres        127.0.0.1/32            trust"
    [[ -f "$hba" ]] || die "missing $hba"
    if grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        return 0
    fi
    info "allowing trust auth for user postgres on 127.0.0.1 in $hba"
    need_root cp "$hba" "$hba.orig"
    # First matching line wins, so put ours before every other rule.
    {
        echo "# Added by scripts/postgres.sh (local development cluster)"
        echo "$line"
        cat "$hba.orig"
    } | need_root tee "$hba" >/dev/null
    need_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" reload
}

# started_by_us VERSION CLUSTER: this script's STARTED_FLAG names that cluster.
started_by_us() {
    [[ -f "$STARTED_FLAG" ]] && [[ "$(cat "$STARTED_FLAG")" == "$1 $2" ]]
}

check_version() {
    local major
    major="$(server_major)" || die "could not query the server version"
    if ((major < MIN_PG_MAJOR)); then
        die "PostgreSQL $major found at $PG_HOST:$PG_PORT; need >= $MIN_PG_MAJOR"
    fi
    info "PostgreSQL $major ready at $PG_HOST:$PG_PORT (user $PG_USER)"
}

# ---------------------------------------------------------------- commands

cmd_ensure() {
    if server_ready; then
        if ! can_login; then
            if is_local_host && [[ -f "$INSTALLED_FLAG" ]]; then
                # shellcheck disable=SC2046
                allow_trust_auth $(cat "$INSTALLED_FLAG")
            elif is_local_host && [[ -f "$STARTED_FLAG" ]]; then
                # shellcheck disable=SC2046
                allow_trust_auth $(cat "$STARTED_FLAG")
            fi
            can_login || die "PostgreSQL answers on $PG_HOST:$PG_PORT but '$PG_USER' cannot log in; allow it in pg_hba.conf (e.g. 'host all postgres 127.0.0.1/32 trust') or put a password in DATABASE_URL"
        fi
        check_version
        return 0
    fi

    is_local_host || die "PostgreSQL at $PG_HOST:$PG_PORT is not reachable (not a local host, so not starting one)"

    local ver installed=0
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ver="$(newest_cluster_version)"; then
        install_postgres
        installed=1
        ver="$(newest_cluster_version)" || die "apt-get installed PostgreSQL but no cluster exists under /etc/postgresql"
    fi
    ((${ver%%.*} >= MIN_PG_MAJOR)) || die "newest PostgreSQL cluster is version $ver; need >= $MIN_PG_MAJOR"

    if [[ ! -d "/etc/postgresql/$ver/$PG_CLUSTER" ]]; then
        info "creating cluster $ver/$PG_CLUSTER on port $PG_PORT"
        need_root pg_createcluster -p "$PG_PORT" "$ver" "$PG_CLUSTER" >&2
        installed=1
    fi
    if ((installed)); then
        echo "$ver $PG_CLUSTER" >"$INSTALLED_FLAG"
    fi

    # The package may already have started it.
    if ! server_ready; then
        start_cluster "$ver" "$PG_CLUSTER"
    fi
    if [[ -f "$INSTALLED_FLAG" ]] && [[ "$(cat "$INSTALLED_FLAG")" == "$ver $PG_CLUSTER" ]]; then
        allow_trust_auth "$ver" "$PG_CLUSTER"
    elif ! can_login && started_by_us "$ver" "$PG_CLUSTER"; then
        # A machine image may ship the server with a stock pg_hba.conf and no running cluster:
        # the cluster we just started is a local one nobody else was using.
        warn "cluster $ver/$PG_CLUSTER (started here, installed by the system) refuses '$PG_USER' over TCP"
        allow_trust_auth "$ver" "$PG_CLUSTER"
    fi
    can_login || die "PostgreSQL $ver/$PG_CLUSTER runs but '$PG_USER' cannot log in over $PG_HOST:$PG_PORT; check pg_hba.conf"
    check_version
}

cmd_create_db() {
    local name="${1:-$PG_DB}"
    [[ -n "$name" ]] || die "no database name given and none in DATABASE_URL"
    [[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || die "refusing unusual database name '$name'"
    local exists
    exists="$(psql_admin -tA -v name="$name" <<<"SELECT 1 FROM pg_database WHERE datname = :'name';")"
    if [[ "$exists" == "1" ]]; then
        info "database $name already exists"
    else
        psql_admin -v name="$name" <<<'CREATE DATABASE :"name";'
        info "created database $name"
    fi
}

cmd_status() {
    if server_ready; then
        if can_login; then
            info "PostgreSQL $(server_major) ready at $PG_HOST:$PG_PORT; login as $PG_USER works"
        else
            info "PostgreSQL answers at $PG_HOST:$PG_PORT but login as $PG_USER fails"
        fi
    else
        info "no PostgreSQL answering at $PG_HOST:$PG_PORT"
    fi
    if [[ -f "$STARTED_FLAG" ]]; then
        info "started by these scripts: cluster $(cat "$STARTED_FLAG")"
    fi
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters >&2 || true
    fi
}

cmd_stop_if_started() {
    if [[ ! -f "$STARTED_FLAG" ]]; then
        info "PostgreSQL was not started by these scripts; leaving it running"
        return 0
    fi
    local ver cluster
    read -r ver cluster <"$STARTED_FLAG"
    info "stopping PostgreSQL cluster $ver/$cluster (started by these scripts)"
    need_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" stop || warn "pg_ctlcluster stop failed"
    rm -f "$STARTED_FLAG"
}

main() {
    parse_url "$DATABASE_URL"
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
        ensure) cmd_ensure ;;
        create-db) cmd_create_db "$@" ;;
        status) cmd_status ;;
        stop-if-started) cmd_stop_if_started ;;
        *)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
