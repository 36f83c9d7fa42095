#!/usr/bin/env bash
# Fuzz the Kafka message decoder (cargo-fuzz, libFuzzer) for a bounded time.
#
# Usage:
#   scripts/fuzz.sh
#
# Steps:
#   1. cargo install cargo-fuzz --locked, if `cargo fuzz` is missing
#   2. build the target (fuzz/, its own workspace and target/ dir; the first build compiles every
#      dependency with coverage instrumentation and takes a few minutes)
#   3. run it from a temporary copy of the seed corpus fuzz/seeds/<target>/, with the dictionary
#      fuzz/<target>.dict, for FUZZ_SECONDS; the copy and what libFuzzer adds to it are deleted,
#      so the committed seeds never grow
#   4. exit non-zero on any crash, panic, timeout or out-of-memory, printing the input that
#      caused it (kept under fuzz/artifacts/<target>/, gitignored) and how to replay it
#
# Only a stable toolchain is needed: cargo-fuzz passes -Z flags (-Zsanitizer=address), which
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept.
#
# Environment:
#   FUZZ_SECONDS     fuzzing time in seconds, build excluded (default 60)
#   FUZZ_TARGET      target to run (default decode_message)
#   FUZZ_SANITIZER   address (default) or none
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_TARGET="${FUZZ_TARGET:-decode_message}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
FUZZ_DIR="$REPO_ROOT/fuzz"

[[ "$FUZZ_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a positive integer, got '$FUZZ_SECONDS'"
[[ "$FUZZ_SANITIZER" == address || "$FUZZ_SANITIZER" == none ]] ||
    die "FUZZ_SANITIZER must be 'address' or 'none', got '$FUZZ_SANITIZER'"
seeds="$FUZZ_DIR/seeds/$FUZZ_TARGET"
dict="$FUZZ_DIR/$FUZZ_TARGET.dict"
artifacts="$FUZZ_DIR/artifacts/$FUZZ_TARGET"
[[ -d "$seeds" ]] || die "no seed corpus at $seeds"

if ! cargo fuzz --version >/dev/null 2>&1; then
    info "installing cargo-fuzz (cargo install cargo-fuzz --locked, about 2 minutes)"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
fuzz_args=(--fuzz-dir "$FUZZ_DIR" --sanitizer "$FUZZ_SANITIZER")

info "building fuzz target $FUZZ_TARGET (sanitizer: $FUZZ_SANITIZER)"
build_start=$SECONDS
cargo fuzz build "${fuzz_args[@]}" "$FUZZ_TARGET"
info "built in $((SECONDS - build_start))s"

work="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$FUZZ_TARGET.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp -R "$seeds/." "$work/corpus/"
touch "$work/started"

libfuzzer_args=(
    -max_total_time="$FUZZ_SECONDS"
    -timeout=10
    -print_final_stats=1
)
[[ -f "$dict" ]] && libfuzzer_args+=(-dict="$dict")

info "fuzzing $FUZZ_TARGET for ${FUZZ_SECONDS}s from $(find "$seeds" -type f | wc -l) seeds"
rc=0
cargo fuzz run "${fuzz_args[@]}" "$FUZZ_TARGET" "$work/corpus" -- "${libfuzzer_args[@]}" \
    >"$work/fuzz.log" 2>&1 || rc=$?

# libFuzzer's progress lines and recommended dictionary are noise here; a failure report is not.
if ((rc != 0)); then
    sed -e '/^#[0-9]/d' -e '/Recommended dictionary/,/End of recommended dictionary/d' \
        "$work/fuzz.log" | tail -n 80 >&2
fi
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$work/fuzz.log"; }
info "$(fuzz_stat number_of_executed_units) executions, $(fuzz_stat average_exec_per_sec)/s," \
    "$(fuzz_stat new_units_added) new corpus units, peak RSS $(fuzz_stat peak_rss_mb) MB"

mapfile -t crashes < <(find "$artifacts" -type f -newer "$work/started" | sort)
if ((rc != 0 || ${#crashes[@]} > 0)); then
    for input in "${crashes[@]}"; do
        warn "failing input: $input"
        warn "replay: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer $FUZZ_SANITIZER $FUZZ_TARGET $input"
    done
    ((${#crashes[@]})) || warn "no input was saved; see the log above"
    die "fuzzing $FUZZ_TARGET failed (exit $rc)"
fi
info "no failure in ${FUZZ_SECONDS}s of fuzzing $FUZZ_TARGET"
