#!/usr/bin/env bash
# Local Kafka-protocol broker (tansu 0.6.0) for development and tests.
#
# Usage:
#   scripts/broker.sh install                   # build tansu if missing (~9 min the first time)
#   scripts/broker.sh start                     # start it in the background (reuses a broker
#                                               # already listening on the port, never stops that one)
#   scripts/broker.sh stop                      # stop the broker `start` started (pid file)
#   scripts/broker.sh restart                   # stop, then start on the same port and storage
#   scripts/broker.sh stop-storage              # stop the local S3 server of TANSU_STORAGE=s3
#                                               # (its topics and messages go with it)
#   scripts/broker.sh status
#   scripts/broker.sh ensure-topic NAME PARTITIONS
#
# Environment:
#   KAFKA_BROKERS   host:port clients use (default localhost:9092); only its port is
#                   used for the listener, which always binds 127.0.0.1
#   B2_TOOLS_DIR    cache for built tools (default $HOME/.cache/b2-tools)
#   TANSU_BIN       tansu binary to use (default $B2_TOOLS_DIR/tansu-0.6.0/bin/tansu)
#   TANSU_LOG       the broker's log filter (RUST_LOG syntax, default warn)
#   TANSU_STORAGE   where the broker keeps topics and messages (default memory):
#                     memory  tansu's memory store: everything is lost when the broker stops
#                     s3      tansu's dynostore engine on a local S3-compatible server (moto,
#                             started here on 127.0.0.1:TANSU_S3_PORT, bucket "tansu"): topics,
#                             messages and watermarks survive broker stops, kill -9 and restarts,
#                             until `stop-storage` (moto keeps its objects in its own memory)
#                     URL     any other --storage-engine URL, passed as is: s3://BUCKET/ with
#                             AWS_ENDPOINT, AWS_ACCESS_KEY_ID, ... set for another S3 service, or
#                             postgres://... for a tansu built with --features postgres (the
#                             build `install` makes has the memory:// and s3:// engines only)
#   TANSU_S3_PORT   port of the local S3 server (default 9095)
#   TANSU_PYTHON    Python with moto's server (pip install 'moto[server]'), default python3
#
# State: .local/run/tansu.pid (tansu-s3.pid for the S3 server), logs in .local/log/tansu.log
# and .local/log/tansu-s3.log. Whatever the storage, the cluster id is tansu-local: a restarted
# broker finds its data under it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_BROKERS="${KAFKA_BROKERS:-localhost:9092}"
B2_TOOLS_DIR="${B2_TOOLS_DIR:-$HOME/.cache/b2-tools}"
TANSU_VERSION="0.6.0"
TANSU_ROOT="$B2_TOOLS_DIR/tansu-$TANSU_VERSION"
TANSU_BIN="${TANSU_BIN:-$TANSU_ROOT/bin/tansu}"
TANSU_LOG="${TANSU_LOG:-warn}"
TANSU_STORAGE="${TANSU_STORAGE:-memory}"
TANSU_S3_PORT="${TANSU_S3_PORT:-9095}"
TANSU_S3_BUCKET="tansu"
TANSU_PYTHON="${TANSU_PYTHON:-python3}"
BIND_HOST="127.0.0.1"
split_host_port "$KAFKA_BROKERS"
BROKER_PORT="$SPLIT_PORT"
BROKER_URL="tcp://$BIND_HOST:$BROKER_PORT"

tansu_ready() { [[ -x "$TANSU_BIN" ]]; }

# A `cargo install` of tansu into our root that is already running (read-only check).
other_build_running() {
    pgrep -af 'cargo install tansu' 2>/dev/null | grep -qF -- "--root $TANSU_ROOT"
}

cmd_install() {
    if tansu_ready; then
        info "tansu present: $TANSU_BIN"
        return 0
    fi
    info "first-time build of the Kafka-protocol broker (tansu $TANSU_VERSION) takes about 9 minutes"
    mkdir -p "$B2_TOOLS_DIR"
    # Serialise our own concurrent installs (e.g. run-local.sh and test.sh at once).
    exec 9>"$B2_TOOLS_DIR/.tansu-$TANSU_VERSION.lock"
    flock 9
    if other_build_running; then
        info "a build of tansu into $TANSU_ROOT is already running; waiting for it"
        while other_build_running; do sleep 5; done
    fi
    if tansu_ready; then
        info "tansu present: $TANSU_BIN"
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) first"
    local log="$LOG_DIR/tansu-build.log" start=$SECONDS pid rc=0
    info "building: cargo install tansu --version $TANSU_VERSION --locked --features dynostore --root $TANSU_ROOT"
    info "build output: $log"
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore \
        --root "$TANSU_ROOT" >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 30 &
        wait $! || true
        if kill -0 "$pid" 2>/dev/null; then
            info "still building tansu ($(((SECONDS - start) / 60)) min): $(grep -E '^ *Compiling' "$log" | tail -n1 | sed 's/^ *//')"
        fi
    done
    wait "$pid" || rc=$?
    if ((rc != 0)) || ! tansu_ready; then
        tail -n 30 "$log" >&2 || true
        die "building tansu failed (exit $rc); full log: $log"
    fi
    info "tansu built in $(((SECONDS - start) / 60)) min: $TANSU_BIN"
}

# The local S3 server of TANSU_STORAGE=s3, with the broker's bucket (reused if already up).
start_s3() {
    local url="http://$BIND_HOST:$TANSU_S3_PORT" code
    if port_open "$BIND_HOST" "$TANSU_S3_PORT"; then
        if bg_running tansu-s3; then
            info "S3 server already running (pid $(bg_pid tansu-s3)) on $url"
        else
            info "something already listens on $BIND_HOST:$TANSU_S3_PORT; using it as the S3 server"
        fi
    else
        "$TANSU_PYTHON" -c 'import moto.server' 2>/dev/null ||
            die "TANSU_STORAGE=s3 needs moto's S3 server: $TANSU_PYTHON -m pip install 'moto[server]' (or set TANSU_PYTHON)"
        # The interpreter itself, not a wrapper such as a pyenv shim, so that stop_bg recognises
        # the process by its command line.
        local python
        python="$("$TANSU_PYTHON" -c 'import sys; print(sys.executable)')"
        BG_CWD=/ start_bg tansu-s3 "$python" -m moto.server -H "$BIND_HOST" -p "$TANSU_S3_PORT"
        if ! wait_port "$BIND_HOST" "$TANSU_S3_PORT" 30 "$BG_PID"; then
            tail -n 20 "$LOG_DIR/tansu-s3.log" >&2 || true
            stop_bg tansu-s3 5
            die "the S3 server did not open $BIND_HOST:$TANSU_S3_PORT; log: $LOG_DIR/tansu-s3.log"
        fi
        info "S3 server started (pid $BG_PID) on $url; log: $LOG_DIR/tansu-s3.log"
    fi
    # Creating a bucket that exists answers 200 or 409 (already owned): both are fine.
    code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$url/$TANSU_S3_BUCKET")" || code=000
    [[ "$code" == 200 || "$code" == 409 ]] || die "cannot create bucket $TANSU_S3_BUCKET on $url (HTTP $code)"
}

# Sets STORAGE_URL for --storage-engine (and exports what the engine reads from the environment).
storage_engine() {
    case "$TANSU_STORAGE" in
        memory) STORAGE_URL="memory://tansu/" ;;
        s3)
            start_s3
            STORAGE_URL="s3://$TANSU_S3_BUCKET/"
            export AWS_ENDPOINT="http://$BIND_HOST:$TANSU_S3_PORT" AWS_ALLOW_HTTP=true
            export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
            export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
            export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
            ;;
        *://*) STORAGE_URL="$TANSU_STORAGE" ;;
        *) die "TANSU_STORAGE=$TANSU_STORAGE: expected memory, s3 or a storage URL" ;;
    esac
}

cmd_start() {
    if port_open "$BIND_HOST" "$BROKER_PORT"; then
        if bg_running tansu; then
            info "tansu already running (pid $(bg_pid tansu)) on $BIND_HOST:$BROKER_PORT"
        else
            info "a broker is already listening on $BIND_HOST:$BROKER_PORT; using it (this script will not stop it)"
        fi
        return 0
    fi
    tansu_ready || cmd_install
    storage_engine
    # tansu loads a .env from its working directory and every parent; start it
    # from / so the project's .env (meant for the pipeline) does not configure it.
    # Its only listening socket is the Kafka listener below (no metrics port).
    # RUST_LOG=info makes it log every request, hence its own TANSU_LOG level.
    RUST_LOG="$TANSU_LOG" NO_COLOR=1 BG_CWD=/ start_bg tansu "$TANSU_BIN" broker \
        --listener-url "$BROKER_URL" \
        --advertised-listener-url "$BROKER_URL" \
        --storage-engine "$STORAGE_URL" \
        --cluster-id tansu-local
    local pid="$BG_PID"
    if ! wait_port "$BIND_HOST" "$BROKER_PORT" 30 "$pid"; then
        tail -n 20 "$LOG_DIR/tansu.log" >&2 || true
        stop_bg tansu 5
        die "tansu did not open $BIND_HOST:$BROKER_PORT; log: $LOG_DIR/tansu.log"
    fi
    info "tansu started (pid $pid) on $BIND_HOST:$BROKER_PORT, storage $STORAGE_URL; log: $LOG_DIR/tansu.log"
}

cmd_stop() {
    stop_bg tansu 10
}

cmd_stop_storage() {
    stop_bg tansu-s3 10
}

cmd_status() {
    if bg_running tansu; then
        info "tansu running (pid $(bg_pid tansu)), started by these scripts"
    fi
    if bg_running tansu-s3; then
        info "its S3 server running (pid $(bg_pid tansu-s3)) on $BIND_HOST:$TANSU_S3_PORT"
    fi
    if port_open "$BIND_HOST" "$BROKER_PORT"; then
        info "broker port $BIND_HOST:$BROKER_PORT is open"
    else
        info "nothing listening on $BIND_HOST:$BROKER_PORT"
        return 1
    fi
}

cmd_ensure_topic() {
    local name="${1:-}" partitions="${2:-}"
    [[ -n "$name" && "$partitions" =~ ^[0-9]+$ ]] || die "usage: broker.sh ensure-topic NAME PARTITIONS"
    tansu_ready || die "tansu not installed ($TANSU_BIN); run: scripts/broker.sh install"
    port_open "$BIND_HOST" "$BROKER_PORT" || die "no broker on $BIND_HOST:$BROKER_PORT; run: scripts/broker.sh start"
    if topic_exists "$name"; then
        info "topic $name already exists"
        return 0
    fi
    local out
    if out="$(cd / && "$TANSU_BIN" topic create "$name" --partitions "$partitions" --broker "$BROKER_URL" 2>&1)" &&
        topic_exists "$name"; then
        info "created topic $name with $partitions partitions"
    elif topic_exists "$name"; then
        info "topic $name already exists"
    else
        printf '%s\n' "$out" >&2
        die "could not create topic $name"
    fi
}

# `tansu topic list` prints the metadata as one JSON array: [{"name":"...",...}]
topic_exists() {
    local topics
    topics="$(cd / && "$TANSU_BIN" topic list --broker "$BROKER_URL" 2>/dev/null)" || return 1
    grep -qF -- "\"name\":\"$1\"" <<<"$topics"
}

main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart)
            cmd_stop
            cmd_start
            ;;
        stop-storage) cmd_stop_storage ;;
        status) cmd_status ;;
        ensure-topic) cmd_ensure_topic "$@" ;;
        *)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
