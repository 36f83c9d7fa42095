# shellcheck shell=bash
# Shared helpers for the scripts in this directory.
#
# Usage (from another script in scripts/):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides:
#   REPO_ROOT, SCRIPTS_DIR        repository root / this directory
#   LOCAL_DIR, RUN_DIR, LOG_DIR   .local/ state (gitignored): run/*.pid, log/*.log
#   info, warn, die               logging to stderr
#   port_open HOST PORT           true if a TCP connect succeeds
#   wait_port HOST PORT TIMEOUT [PID]
#   start_bg NAME CMD [ARGS...]   start CMD in the background (own session),
#                                 log to LOG_DIR/NAME.log, pid to RUN_DIR/NAME.pid,
#                                 and in $BG_PID (call it directly, not in $(...))
#   stop_bg NAME [TIMEOUT]        TERM, then KILL after TIMEOUT seconds; only the
#                                 process start_bg recorded (checked via /proc/PID/cmdline)
#   start_checked NAME SECONDS VAR CMD [ARGS...]
#                                 start_bg, pid also in the variable VAR; after SECONDS the
#                                 process must still run, else the log's tail and die
#   bg_running NAME               true if NAME's recorded process is still ours and alive
#   bg_pid NAME                   print the recorded pid
#   load_env_file FILE            export KEY=VALUE lines not already set in the environment
#   split_host_port HOST:PORT     sets SPLIT_HOST / SPLIT_PORT
#   ensure_postgres               PostgreSQL up and DATABASE_URL's database created;
#                                 STARTED_POSTGRES=1 when this call started the server
#   ensure_broker                 the broker up; STARTED_BROKER=1 when this call started it
#   stop_started_services         stop the broker and PostgreSQL if (and only if) the
#                                 calls above started them
#   need_root CMD [ARGS...]       run CMD as root (directly, or through sudo)
#   ensure_build_packages         Debian packages the build and the TLS tests need (OpenSSL's
#                                 headers, pkg-config, the openssl command), installed if missing

if [[ -n "${B2_LIB_SH_LOADED:-}" ]]; then
    return 0
fi
B2_LIB_SH_LOADED=1

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/.." && pwd)"
LOCAL_DIR="$REPO_ROOT/.local"
RUN_DIR="$LOCAL_DIR/run"
LOG_DIR="$LOCAL_DIR/log"
export REPO_ROOT

mkdir -p "$RUN_DIR" "$LOG_DIR"

# ---------------------------------------------------------------- logging

_log_prefix() {
    local name
    name="$(basename "${0:-script}" .sh)"
    printf '[%s %s]' "$(date +%H:%M:%S)" "$name"
}

info() { printf '%s %s\n' "$(_log_prefix)" "$*" >&2; }
warn() { printf '%s WARNING: %s\n' "$(_log_prefix)" "$*" >&2; }
die() {
    printf '%s ERROR: %s\n' "$(_log_prefix)" "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- ports

# port_open HOST PORT: succeeds if something accepts TCP connections there.
port_open() {
    local host="$1" port="$2"
    # shellcheck disable=SC2016 # $1/$2 expand in the child bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# wait_port HOST PORT TIMEOUT_SECONDS [PID]: wait until the port accepts
# connections. Fails after the timeout, or early if PID (when given) exits.
wait_port() {
    local host="$1" port="$2" timeout_s="$3" pid="${4:-}"
    local deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        if port_open "$host" "$port"; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            return 1
        fi
        sleep 0.1
    done
    port_open "$host" "$port"
}

# split_host_port "host:port" -> SPLIT_HOST, SPLIT_PORT (first entry of a
# comma-separated list; a scheme like tcp:// is ignored).
split_host_port() {
    local hp="${1%%,*}"
    hp="${hp#*://}"
    SPLIT_HOST="${hp%:*}"
    SPLIT_PORT="${hp##*:}"
    if [[ "$SPLIT_HOST" == "$hp" || -z "$SPLIT_PORT" || ! "$SPLIT_PORT" =~ ^[0-9]+$ ]]; then
        die "expected HOST:PORT, got '$1'"
    fi
}

# ---------------------------------------------------------------- .env

# load_env_file FILE: export simple KEY=VALUE lines (optionally quoted, '#'
# comments allowed) unless KEY is already set in the environment.
load_env_file() {
    local file="$1" line key value
    [[ -f "$file" ]] || return 0
    while IFS= read -r line || [[ -n "$line" ]]; do
        line="${line#"${line%%[![:space:]]*}"}"
        [[ -z "$line" || "$line" == \#* ]] && continue
        line="${line#export }"
        [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key="${BASH_REMATCH[1]}"
        value="${BASH_REMATCH[2]}"
        if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
            value="${BASH_REMATCH[1]}"
        fi
        if [[ -z "${!key+x}" ]]; then
            export "$key=$value"
        fi
    done <"$file"
}

# ---------------------------------------------------------------- processes

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    local pid="$1" stat state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    state="${stat##*) }"
    state="${state%% *}"
    [[ "$state" != "Z" && "$state" != "X" ]]
}

_pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }
_cmd_file() { printf '%s/%s.cmdline' "$RUN_DIR" "$1"; }

# bg_pid NAME: print the pid recorded for NAME (fails if none).
bg_pid() {
    local f
    f="$(_pid_file "$1")"
    [[ -s "$f" ]] || return 1
    head -n1 "$f"
}

# _pid_is_ours NAME PID: PID's command line is exactly what start_bg ran.
# A script started through a #! line shows up as "INTERPRETER SCRIPT ARGS...",
# so the recorded command may also be a suffix of the actual one.
_pid_is_ours() {
    local name="$1" pid="$2" actual expected
    [[ -f "$(_cmd_file "$name")" ]] || return 1
    actual="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    expected="$(tr '\0' '\n' <"$(_cmd_file "$name")")"
    [[ -n "$actual" ]] && [[ "$actual" == "$expected" || "$actual" == *$'\n'"$expected" ]]
}

# bg_running NAME: the process recorded for NAME is alive and still ours.
bg_running() {
    local pid
    pid="$(bg_pid "$1")" || return 1
    pid_alive "$pid" && _pid_is_ours "$1" "$pid"
}

# start_bg NAME CMD [ARGS...]: run CMD in its own session (so a Ctrl-C in the
# terminal reaches only the calling script, which stops things in order),
# stdout/stderr appended to LOG_DIR/NAME.log, pid in RUN_DIR/NAME.pid and
# in BG_PID. Call it directly (not inside $(...)) so the process stays a child
# of the calling shell. Runs in REPO_ROOT unless BG_CWD is set.
start_bg() {
    local name="$1"
    shift
    local log="$LOG_DIR/$name.log"
    if bg_running "$name"; then
        die "$name is already running (pid $(bg_pid "$name")); stop it first"
    fi
    printf '%s\0' "$@" >"$(_cmd_file "$name")"
    {
        printf '\n===== %s starting: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"
    } >>"$log"
    (cd "${BG_CWD:-$REPO_ROOT}" && exec setsid "$@" >>"$log" 2>&1 </dev/null) &
    BG_PID=$!
    echo "$BG_PID" >"$(_pid_file "$name")"
}

# start_checked NAME SECONDS VAR CMD [ARGS...]: start_bg NAME CMD..., store the pid in the
# variable named VAR (set before the check, so a cleanup trap still stops it), then give it
# SECONDS: a bad setting usually ends a service at once, and the log says why.
start_checked() {
    local name="$1" wait_s="$2" var="$3"
    shift 3
    start_bg "$name" "$@"
    printf -v "$var" '%s' "$BG_PID"
    sleep "$wait_s"
    pid_alive "$BG_PID" || {
        tail -n 30 "$LOG_DIR/$name.log" >&2 || true
        die "$name exited right after starting; log: .local/log/$name.log"
    }
}

# stop_bg NAME [TIMEOUT_SECONDS]: SIGTERM the recorded process, SIGKILL it if it
# is still alive after the timeout (default 10 s). Never signals a pid whose
# command line differs from what start_bg started.
stop_bg() {
    local name="$1" timeout_s="${2:-10}" pid deadline
    if ! pid="$(bg_pid "$name")"; then
        info "$name: not started by these scripts (no pid file)"
        return 0
    fi
    if ! pid_alive "$pid"; then
        info "$name: already stopped (pid $pid)"
        rm -f "$(_pid_file "$name")" "$(_cmd_file "$name")"
        return 0
    fi
    if ! _pid_is_ours "$name" "$pid"; then
        warn "$name: pid $pid now belongs to another command; not signalling it"
        rm -f "$(_pid_file "$name")" "$(_cmd_file "$name")"
        return 0
    fi
    info "$name: stopping pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout_s))
    while pid_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if pid_alive "$pid" && _pid_is_ours "$name" "$pid"; then
        warn "$name: still running after ${timeout_s}s; sending SIGKILL"
        # start_bg made it a session/group leader: take its own children too.
        if [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" == "$pid" ]]; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        else
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
    fi
    # Reap it if it is our own child (no-op otherwise).
    wait "$pid" 2>/dev/null || true
    rm -f "$(_pid_file "$name")" "$(_cmd_file "$name")"
}

# ---------------------------------------------------------------- services

# Whether ensure_postgres / ensure_broker started the service (so stop_started_services stops
# it), as opposed to finding it already running: a script stops only what it started.
STARTED_POSTGRES=0
STARTED_BROKER=0

# ensure_postgres: PostgreSQL running and DATABASE_URL's database created. postgres.sh leaves
# a flag file when it starts the server itself; a flag that appears during this call is ours.
ensure_postgres() {
    local flag="$RUN_DIR/postgres.started" had_flag=0
    [[ -f "$flag" ]] && had_flag=1
    bash "$SCRIPTS_DIR/postgres.sh" ensure || return
    if ((!had_flag)) && [[ -f "$flag" ]]; then
        STARTED_POSTGRES=1
    fi
    bash "$SCRIPTS_DIR/postgres.sh" create-db
}

# ensure_broker: the broker running; started here unless it already was.
ensure_broker() {
    local was_ours=0
    bg_running tansu && was_ours=1
    bash "$SCRIPTS_DIR/broker.sh" start || return
    if ((!was_ours)) && bg_running tansu; then
        STARTED_BROKER=1
    fi
}

# stop_started_services: stop what ensure_broker and ensure_postgres started, broker first.
stop_started_services() {
    if ((STARTED_BROKER)); then
        bash "$SCRIPTS_DIR/broker.sh" stop || true
    fi
    if ((STARTED_POSTGRES)); then
        bash "$SCRIPTS_DIR/postgres.sh" stop-if-started || true
    fi
}

# ---------------------------------------------------------------- packages

need_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $* (run as root or install sudo)"
    fi
}

# ensure_build_packages: OpenSSL's headers and pkg-config (TLS to PostgreSQL and Kafka is linked
# against the system's OpenSSL) and the openssl command (the TLS tests make their certificates).
ensure_build_packages() {
    local missing=()
    pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev pkg-config)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    info "installing ${missing[*]} with apt-get"
    need_root apt-get update &&
        need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}
