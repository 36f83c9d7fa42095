#!/usr/bin/env bash
# Run every check and test: formatting, clippy, then the whole test suite
# against a real PostgreSQL and a real Kafka-protocol broker.
#
# Usage:
#   scripts/test.sh
#
# Steps:
#   0. Debian packages the build needs (OpenSSL headers, pkg-config), when missing;
#      scripts/libtorch.sh install (libtorch for the forecast crate; cached after the first run)
#   1. cargo fmt --all -- --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   2b. scripts/fuzz.sh: cargo-fuzz on the message decoder for FUZZ_SECONDS (default 60); the first
#       run installs cargo-fuzz (~2 min) and builds the target (~4 min)
#   3. scripts/postgres.sh ensure (+ create-db for DATABASE_URL)
#   4. a Python venv (.local/pyenv) with tests/clients/requirements.txt: the WebSocket client
#      the tests use besides their own, and moto's S3 server that persists the broker the
#      broker-outage tests restart (exported as B2_PYTHON)
#   5. build the binaries and test binaries (before the broker starts, to keep its lifetime short)
#   6. scripts/broker.sh start (the first run builds tansu, ~9 min)
#   7. cargo nextest run --workspace --no-fail-fast  (cargo test --workspace without nextest)
#   8. stop the broker and PostgreSQL if this script started them
# Every step runs even if an earlier independent one failed; a summary is
# printed at the end and the exit status is non-zero if anything failed.
#
# Environment (exported to the tests; tests create their own databases/topics):
#   DATABASE_URL    default postgres://postgres@127.0.0.1:5432/traffic
#   KAFKA_BROKERS   default 127.0.0.1:9092
#   B2_TEST_SERVICES=ready is exported so the tests know the services are up.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/traffic}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"

declare -a SUMMARY=()
FAILED=0

# step NAME CMD...: run a step, record PASS/FAIL with its duration.
step() {
    local name="$1" start=$SECONDS rc=0
    shift
    info "==> $name"
    "$@" || rc=$?
    if ((rc == 0)); then
        SUMMARY+=("PASS  $name ($((SECONDS - start))s)")
    else
        SUMMARY+=("FAIL  $name ($((SECONDS - start))s, exit $rc)")
        FAILED=1
    fi
    return "$rc"
}

skip() {
    SUMMARY+=("SKIP  $1 ($2)")
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_started_services
    if ((${#SUMMARY[@]})); then
        echo >&2
        echo "==================== summary ====================" >&2
        printf '  %s\n' "${SUMMARY[@]}" >&2
        echo "=================================================" >&2
    fi
    if ((rc == 0 && FAILED)); then
        rc=1
    fi
    if ((rc == 0)); then
        info "all checks and tests passed"
    else
        info "FAILED (exit $rc)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if cargo nextest --version >/dev/null 2>&1; then
    HAVE_NEXTEST=1
    TEST_RUNNER="cargo nextest"
else
    HAVE_NEXTEST=0
    TEST_RUNNER="cargo test"
    warn "cargo-nextest not installed; falling back to cargo test (install: cargo install cargo-nextest --locked)"
fi

python_client() {
    local venv="$LOCAL_DIR/pyenv"
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv" || return
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt || return
    export B2_PYTHON="$venv/bin/python"
}

build_tests() {
    # The end-to-end tests run the real binaries (pipeline, mock-producer) beside the test executables.
    cargo build --workspace --bins || return
    if ((HAVE_NEXTEST)); then
        cargo nextest run --workspace --no-run
    else
        cargo test --workspace --no-run
    fi
}

run_tests() {
    export B2_TEST_SERVICES=ready
    if ((HAVE_NEXTEST)); then
        cargo nextest run --workspace --no-fail-fast
    else
        cargo test --workspace --no-fail-fast
    fi
}

# The forecast crate (and query-server's default `forecast` feature) link libtorch.
step "build packages (OpenSSL)" ensure_build_packages || true
step "libtorch installed" bash "$SCRIPTS_DIR/libtorch.sh" install || true
step "cargo fmt --check" cargo fmt --all -- --check || true
step "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings || true
step "fuzz decode_message (${FUZZ_SECONDS:-60}s)" bash "$SCRIPTS_DIR/fuzz.sh" || true

services_ok=1
step "PostgreSQL ready" ensure_postgres || services_ok=0

step "Python test client" python_client || true

if step "build test binaries" build_tests; then
    step "broker started" ensure_broker || services_ok=0
    if ((services_ok)); then
        step "test suite ($TEST_RUNNER)" run_tests || true
    else
        skip "test suite" "services not available"
    fi
else
    skip "broker started" "test build failed"
    skip "test suite" "test build failed"
fi
