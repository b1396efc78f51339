#!/usr/bin/env bash
# The soak test: 50 sessions of continuous turns through `sandmux serve` and its control
# socket, every transcript checked byte for byte against what its program wrote, RSS and
# open files sampled each second (examples/soak.rs says what is judged). Needs python3.
#
#   bench/soak.sh [SECONDS] [SESSIONS] [SOAK-OPTIONS...]
#
# Defaults: 600 s (10 minutes), 50 sessions. SOAK-OPTIONS go to examples/soak.rs, e.g.
# `--scrollback-lines 2000` (CI's 60-second run, so the scrollbacks fill in seconds).
#
# SOAK_PROFILE=debug uses the debug build (as CI does, sharing the test build); the default
# is release. Exit 0 when everything held, 1 when not.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
sessions=${2:-50}
shift $(($# < 2 ? $# : 2))
profile=${SOAK_PROFILE:-release}
if [[ $profile == release ]]; then
    cargo build --release --quiet --locked --bin sandmux --example soak
else
    cargo build --quiet --locked --bin sandmux --example soak
fi
target=${CARGO_TARGET_DIR:-target}/$profile
exec "$target/examples/soak" "$target/sandmux" --sessions "$sessions" --seconds "$seconds" "$@"
