#!/usr/bin/env bash
# bench/suite.sh [SCRIPTS] [TURNS]: a suite of SCRIPTS scripts (default 200) of TURNS
# send/expect turns each (default 10) against `sed -u`, run three ways side by side:
# `sandmux run -j 2 DIR` (one process), GNU parallel running one `sandmux run` per script
# with -j 2, and the scripts one after the other. Then the peak RSS of `sandmux run` on a
# suite of 1000 small scripts next to that of one small script. Needs hyperfine, GNU
# parallel and GNU time (installed where missing); uses target/release/sandmux.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts=${1:-200}
turns=${2:-10}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v parallel >/dev/null || need+=(parallel)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
cargo build --release --quiet --locked --bin sandmux
bin=$(pwd)/target/release/sandmux
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# script N: TURNS turns against sed, closed and waited for.
script() {
    echo 'session echo: sed -u "s/^/ack:/"'
    for ((t = 0; t < turns; t++)); do
        echo "send echo s$1t$t"
        echo "expect echo stdout \"ack:s$1t$t\""
    done
    echo 'close echo'
    echo 'wait echo exit 0'
}
mkdir -p "$work/suite"
for ((i = 0; i < scripts; i++)); do script "$i" > "$work/suite/s$(printf %04d "$i").smx"; done
echo "== $scripts scripts of $turns turns: one sandmux -j 2, GNU parallel -j 2, one by one"
hyperfine --warmup 1 --runs 5 -N \
    "$bin run -j 2 $work/suite" \
    "parallel -j 2 $bin run {} ::: $(echo "$work"/suite/*.smx)" \
    "sh -c 'for f in $work/suite/*.smx; do $bin run \$f || exit 1; done'"

mkdir -p "$work/many"
for ((i = 0; i < 1000; i++)); do
    d=$work/many/d$((i / 100))
    mkdir -p "$d"
    printf 'session e: cat\nsend e hi\nexpect e stdout "hi"\nclose e\nwait e exit 0\n' > "$d/s$i.smx"
done
echo "== peak RSS: 1000 small scripts, -j 16 and -j 2, against one of them alone"
/usr/bin/time -f "1000 scripts -j 16: %e s, peak RSS %M KiB" "$bin" run -j 16 "$work/many" 2>&1 >/dev/null | tail -1
/usr/bin/time -f "1000 scripts -j 2: %e s, peak RSS %M KiB" "$bin" run -j 2 "$work/many" 2>&1 >/dev/null | tail -1
/usr/bin/time -f "one script: %e s, peak RSS %M KiB" "$bin" run "$work/many/d0/s0.smx" 2>&1 >/dev/null | tail -1
