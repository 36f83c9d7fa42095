#!/usr/bin/env bash
# Local Kafka-protocol broker (tansu 0.6.0, in-memory storage) for development and tests.
#
# Usage:
#   scripts/broker.sh install                   # build tansu if missing (~9 min the first time)
#   scripts/broker.sh start                     # start it in the background (reuses a broker
#                                               # already listening on the port, never stops that one)
#   scripts/broker.sh stop                      # stop the broker `start` started (pid file)
#   scripts/broker.sh status
#   scripts/broker.sh ensure-topic NAME PARTITIONS
#
# Environment:
#   KAFKA_BROKERS   host:port clients use (default localhost:9092); only its port is
#                   used for the listener, which always binds 127.0.0.1
#   B2_TOOLS_DIR    cache for built tools (default $HOME/.cache/b2-tools)
#   TANSU_BIN       tansu binary to use (default $B2_TOOLS_DIR/tansu-0.6.0/bin/tansu)
#   TANSU_LOG       the broker's log filter (RUST_LOG syntax, default warn)
#
# State: .local/run/tansu.pid, log in .local/log/tansu.log.
# The in-memory broker loses all topics and messages when it stops.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_BROKERS="${KAFKA_BROKERS:-localhost:9092}"
B2_TOOLS_DIR="${B2_TOOLS_DIR:-$HOME/.cache/b2-tools}"
TANSU_VERSION="0.6.0"
TANSU_ROOT="$B2_TOOLS_DIR/tansu-$TANSU_VERSION"
TANSU_BIN="${TANSU_BIN:-$TANSU_ROOT/bin/tansu}"
TANSU_LOG="${TANSU_LOG:-warn}"
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
    # tansu loads a .env from its working directory and every parent; start it
    # from / so the project's .env (meant for the pipeline) does not configure it.
    # Its only listening socket is the Kafka listener below (no metrics port).
    # RUST_LOG=info makes it log every request, hence its own TANSU_LOG level.
    RUST_LOG="$TANSU_LOG" NO_COLOR=1 BG_CWD=/ start_bg tansu "$TANSU_BIN" broker \
        --listener-url "$BROKER_URL" \
        --advertised-listener-url "$BROKER_URL" \
        --storage-engine memory://tansu/ \
        --cluster-id tansu-local
    local pid="$BG_PID"
    if ! wait_port "$BIND_HOST" "$BROKER_PORT" 30 "$pid"; then
        tail -n 20 "$LOG_DIR/tansu.log" >&2 || true
        stop_bg tansu 5
        die "tansu did not open $BIND_HOST:$BROKER_PORT; log: $LOG_DIR/tansu.log"
    fi
    info "tansu started (pid $pid) on $BIND_HOST:$BROKER_PORT; log: $LOG_DIR/tansu.log"
}

cmd_stop() {
    stop_bg tansu 10
}

cmd_status() {
    if bg_running tansu; then
        info "tansu running (pid $(bg_pid tansu)), started by these scripts"
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
        status) cmd_status ;;
        ensure-topic) cmd_ensure_topic "$@" ;;
        *)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
