#!/usr/bin/env bash
# Install the libtorch that tch/torch-sys 0.26 need (PyTorch 2.13.0) into .local/libtorch/.
#
# Usage:
#   scripts/libtorch.sh [install]   fetch (cached) and unpack; a no-op when already in place
#   scripts/libtorch.sh path        print the LIBTORCH directory
#
# Why this way: there is no CPU-only libtorch 2.13.0 wheel on PyPI and the libtorch download host is
# not reachable from CI, so the CUDA wheels are fetched with `pip download --no-deps` and only the
# files the Rust build and the binaries need are unpacked (about 490 MB instead of 4.7 GB).
# libtorch.so links libcudart/libcupti through an rpath of `$ORIGIN/../../nvidia/cu13/lib`, hence
# the nvidia folder beside torch/.
#
# Layout:
#   .local/libtorch/torch/{lib,include}   LIBTORCH (set in .cargo/config.toml)
#   .local/libtorch/nvidia/cu13/lib/      CUDA runtime libraries torch's rpath points to
#
# Environment:
#   B2_WHEEL_CACHE   wheel cache (default $HOME/.cache/b2-tools/wheels)
#   PIP              pip command (default: pip3, else python3 -m pip)
set -euo pipefail

# The pinned wheels.
TORCH_VERSION="2.13.0"
CUDA_RUNTIME_VERSION="13.0.96"
CUPTI_VERSION="13.0.85"

WHEEL_CACHE="${B2_WHEEL_CACHE:-$HOME/.cache/b2-tools/wheels}"

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEST="$LOCAL_DIR/libtorch"
LIBTORCH_DIR="$DEST/torch"
STAMP="$DEST/.installed"
STAMP_CONTENT="torch=$TORCH_VERSION cudart=$CUDA_RUNTIME_VERSION cupti=$CUPTI_VERSION"

TORCH_LIBS=(libtorch_cpu.so libc10.so libgomp.so.1 libtorch.so)
NVIDIA_LIBS=(libcudart.so.13 libcupti.so.13)

pip_cmd() {
    if [[ -n "${PIP:-}" ]]; then
        # shellcheck disable=SC2086 # PIP may hold a command with arguments
        $PIP "$@"
    elif command -v pip3 >/dev/null 2>&1; then
        pip3 "$@"
    else
        python3 -m pip "$@"
    fi
}

# wheel_for NAME VERSION: print the cached wheel's path, downloading it first when missing.
wheel_for() {
    local name="$1" version="$2" pattern found
    pattern="${name//-/_}-${version}-*.whl"
    found="$(find "$WHEEL_CACHE" -maxdepth 1 -name "$pattern" -print -quit 2>/dev/null || true)"
    if [[ -z "$found" ]]; then
        info "downloading $name==$version into $WHEEL_CACHE"
        pip_cmd download --quiet --no-deps --only-binary=:all: --dest "$WHEEL_CACHE" "$name==$version" >&2 ||
            die "pip download $name==$version failed"
        found="$(find "$WHEEL_CACHE" -maxdepth 1 -name "$pattern" -print -quit)"
        [[ -n "$found" ]] || die "pip download $name==$version left no $pattern in $WHEEL_CACHE"
    fi
    printf '%s\n' "$found"
}

installed() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" ]] || return 1
    local f
    for f in "${TORCH_LIBS[@]}"; do
        [[ -f "$LIBTORCH_DIR/lib/$f" ]] || return 1
    done
    for f in "${NVIDIA_LIBS[@]}"; do
        [[ -f "$DEST/nvidia/cu13/lib/$f" ]] || return 1
    done
    [[ -d "$LIBTORCH_DIR/include/torch" ]]
}

install() {
    if installed; then
        info "libtorch $TORCH_VERSION already in ${DEST#"$REPO_ROOT"/}"
        return 0
    fi
    command -v unzip >/dev/null 2>&1 || die "unzip is required (apt-get install unzip)"
    mkdir -p "$WHEEL_CACHE"
    local torch_whl cudart_whl cupti_whl tmp f
    torch_whl="$(wheel_for torch "$TORCH_VERSION")"
    cudart_whl="$(wheel_for nvidia-cuda-runtime "$CUDA_RUNTIME_VERSION")"
    cupti_whl="$(wheel_for nvidia-cuda-cupti "$CUPTI_VERSION")"

    # Unpack beside the destination and swap it in, so an interrupted run never leaves half a tree.
    tmp="$(mktemp -d "$LOCAL_DIR/libtorch.tmp.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    info "unpacking libtorch $TORCH_VERSION"
    local torch_members=()
    for f in "${TORCH_LIBS[@]}"; do
        torch_members+=("torch/lib/$f")
    done
    unzip -q -o "$torch_whl" "${torch_members[@]}" 'torch/include/*' -d "$tmp" ||
        die "unzip of $torch_whl failed"
    unzip -q -o "$cudart_whl" 'nvidia/cu13/lib/libcudart.so.13' -d "$tmp" || die "unzip of $cudart_whl failed"
    unzip -q -o "$cupti_whl" 'nvidia/cu13/lib/libcupti.so.13' -d "$tmp" || die "unzip of $cupti_whl failed"
    printf '%s\n' "$STAMP_CONTENT" >"$tmp/.installed"

    rm -rf "$DEST"
    mv "$tmp" "$DEST"
    trap - EXIT
    info "libtorch $TORCH_VERSION installed in ${DEST#"$REPO_ROOT"/} ($(du -sh "$DEST" | cut -f1))"
}

case "${1:-install}" in
    install) install ;;
    path) printf '%s\n' "$LIBTORCH_DIR" ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (install | path)" ;;
esac
