#!/usr/bin/env bash
# Run the whole system locally: PostgreSQL, a Kafka-protocol broker, the
# pipeline and the mock camera producer. Ctrl-C stops everything it started.
#
# Usage:
#   scripts/run-local.sh [--workers N] [--no-producer] [-- EXTRA_PRODUCER_ARGS...]
#
#   --workers N     pipeline worker threads (default 2)
#   --no-producer   do not start the mock producer (feed the topic yourself)
#   -- ARGS...      appended to the producer's arguments, e.g. `-- --no-speed`
#                   (defaults: --cameras 4 --rate 60 --with-lanes --brokers $KAFKA_BROKERS)
#
# Environment: read from .env in the repository root when present (variables
# already set in the environment win), otherwise these defaults:
#   DATABASE_URL    postgres://postgres@127.0.0.1:5432/traffic
#   KAFKA_BROKERS   127.0.0.1:9092
#   KAFKA_TOPIC     traffic-events (created with 4 partitions)
#   RUST_LOG        info
#   PIPELINE_METRICS_ADDR  127.0.0.1:9100 (read by the pipeline; shown at the end)
#
# The first run builds the broker (tansu, ~9 min) and the Rust workspace
# (a few minutes). Logs: .local/log/*.log; pid files: .local/run/*.pid.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

WORKERS=2
WITH_PRODUCER=1
PRODUCER_EXTRA=()
while (($#)); do
    case "$1" in
        --workers)
            [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--workers needs a positive number"
            WORKERS="$2"
            shift 2
            ;;
        --workers=*)
            WORKERS="${1#--workers=}"
            [[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || die "--workers needs a positive number"
            shift
            ;;
        --no-producer)
            WITH_PRODUCER=0
            shift
            ;;
        -h | --help) usage 0 ;;
        --)
            shift
            PRODUCER_EXTRA=("$@")
            break
            ;;
        *)
            warn "unknown option: $1"
            usage 2
            ;;
    esac
done

if [[ -f "$REPO_ROOT/.env" ]]; then
    info "loading environment from .env"
    load_env_file "$REPO_ROOT/.env"
fi
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/traffic}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export RUST_LOG="${RUST_LOG:-info}"
TOPIC="${KAFKA_TOPIC:-traffic-events}"
TOPIC_PARTITIONS=4

BIN="$REPO_ROOT/target/release"
METRICS_URL="http://${PIPELINE_METRICS_ADDR:-127.0.0.1:9100}/metrics"
export QUERY_SERVER_ADDR="${QUERY_SERVER_ADDR:-127.0.0.1:18001}"
# Local demo key, as in the original's compose file; set ADMIN_API_KEY to choose another.
export ADMIN_API_KEY="${ADMIN_API_KEY:-my-secret-123}"
QUERY_URL="http://$QUERY_SERVER_ADDR"

cat >&2 <<EOF
==> Running the traffic system locally:
    1. cargo build --release -p pipeline -p bench -p query-server
       (the first build of the workspace takes a few minutes)
    2. PostgreSQL >= 15 and database from DATABASE_URL=$DATABASE_URL
    3. Kafka-protocol broker (tansu) on $KAFKA_BROKERS
       (the first run builds it: about 9 minutes)
    4. topic $TOPIC with $TOPIC_PARTITIONS partitions
    5. pipeline migrate, then pipeline -w $WORKERS, then query-server on $QUERY_URL
EOF
if ((WITH_PRODUCER)); then
    echo "    6. mock-producer --cameras 4 --rate 60 --with-lanes${PRODUCER_EXTRA[*]:+ ${PRODUCER_EXTRA[*]}}" >&2
fi
echo "    Ctrl-C stops everything this script started." >&2

PIPELINE_PID=""
QUERY_PID=""
PRODUCER_PID=""
CLEANED=0

cleanup() {
    local rc=$?
    ((CLEANED)) && return 0
    CLEANED=1
    trap 'warn "still shutting down, please wait"' INT TERM
    echo >&2
    info "shutting down"
    if [[ -n "$PRODUCER_PID" ]]; then
        stop_bg mock-producer 10
    fi
    if [[ -n "$QUERY_PID" ]]; then
        stop_bg query-server 15
    fi
    if [[ -n "$PIPELINE_PID" ]]; then
        # SIGTERM lets the pipeline flush its open windows to PostgreSQL.
        stop_bg pipeline 60
    fi
    stop_started_services
    info "stopped (logs remain in .local/log/)"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ 1. build
# libtorch for the query server's forecast feature (cached after the first run).
ensure_build_packages
bash "$SCRIPTS_DIR/libtorch.sh" install
info "building release binaries"
cargo build --release -p pipeline -p bench -p query-server

# ------------------------------------------------------------------ 2. postgres
ensure_postgres

# ------------------------------------------------------------------ 3. broker
ensure_broker

# ------------------------------------------------------------------ 4. topic
bash "$SCRIPTS_DIR/broker.sh" ensure-topic "$TOPIC" "$TOPIC_PARTITIONS"

# ------------------------------------------------------------------ 5. pipeline
info "applying database migrations"
"$BIN/pipeline" migrate

if ((STARTED_BROKER)) && [[ "${TANSU_STORAGE:-memory}" == memory ]]; then
    # The broker this script starts keeps topics in memory by default: the topic is new, so
    # positions stored by an earlier run point past its end (the pipeline would stop and say
    # so: KAFKA_OFFSET_RESET_POLICY). Start from its beginning instead. With persistent storage
    # (TANSU_STORAGE=s3 or a URL) the topic survived and the stored positions are right.
    info "fresh in-memory broker: clearing stored Kafka positions of topic $TOPIC"
    psql -q "$DATABASE_URL" -v ON_ERROR_STOP=1 -v topic="$TOPIC" >/dev/null \
        <<<"DELETE FROM pipeline_offsets WHERE topic = :'topic';"
fi

start_checked pipeline 2 PIPELINE_PID "$BIN/pipeline" -w "$WORKERS"
info "pipeline running (pid $PIPELINE_PID, $WORKERS workers)"

start_checked query-server 1 QUERY_PID "$BIN/query-server"
info "query server running (pid $QUERY_PID) on $QUERY_URL"

# ------------------------------------------------------------------ 6. producer
if ((WITH_PRODUCER)); then
    start_checked mock-producer 1 PRODUCER_PID "$BIN/mock-producer" --cameras 4 --rate 60 \
        --with-lanes --brokers "$KAFKA_BROKERS" "${PRODUCER_EXTRA[@]}"
    info "mock producer running (pid $PRODUCER_PID)"
fi

cat >&2 <<EOF

==> The traffic system is running.
    pipeline metrics : $METRICS_URL
    query server     : $QUERY_URL   (API docs: $QUERY_URL/docs; admin key from ADMIN_API_KEY, default my-secret-123)
    live channels    : ${QUERY_URL/http:/ws:}/ws/metrics  /ws/metrics/lanes  /ws/events   (README step 15)
    logs             : .local/log/ (pipeline.log, query-server.log, mock-producer.log, tansu.log)
    database         : psql $DATABASE_URL
    Press Ctrl-C to stop.

EOF

# ------------------------------------------------------------------ wait
producer_reported=0
while true; do
    if ! pid_alive "$PIPELINE_PID"; then
        rc=0
        wait "$PIPELINE_PID" 2>/dev/null || rc=$?
        PIPELINE_PID=""
        rm -f "$RUN_DIR/pipeline.pid" "$RUN_DIR/pipeline.cmdline"
        tail -n 20 "$LOG_DIR/pipeline.log" >&2 || true
        die "the pipeline exited (status $rc); log: .local/log/pipeline.log"
    fi
    if [[ -n "$PRODUCER_PID" ]] && ((!producer_reported)) && ! pid_alive "$PRODUCER_PID"; then
        rc=0
        wait "$PRODUCER_PID" 2>/dev/null || rc=$?
        warn "the mock producer exited (status $rc); the pipeline keeps running. Log: .local/log/mock-producer.log"
        producer_reported=1
    fi
    sleep 2 &
    wait $! || true
done
