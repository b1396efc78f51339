#!/usr/bin/env bash
# sandmux benchmarks: turn latency, throughput and memory. Needs hyperfine, GNU time
# (/usr/bin/time) and pexpect (pip install pexpect). Results go to bench/README.md by hand,
# with their date. Usage: bench/run.sh [turns|throughput|memory|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
cargo build --release --quiet --bin sandmux --example pipe_floor
bin=target/release/sandmux
floor=target/release/examples/pipe_floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

turns() {
    local n=2000
    {
        echo 'session echo: sed -u "s/^/ack:/"'
        for ((i = 0; i < n; i++)); do
            echo "send echo turn$i"
            echo "expect echo stdout \"ack:turn$i\""
        done
        echo 'close echo'
        echo 'wait echo exit 0'
    } > "$work/turns.smx"
    echo "== turn latency: $n send/expect turns against sed -u"
    hyperfine --warmup 1 --runs 5 -N \
        "$bin run $work/turns.smx" \
        "$floor $n sed -u s/^/ack:/" \
        "python3 bench/pexpect_turns.py $n"
}

throughput() {
    local word
    word=$(printf 'x%.0s' $(seq 1 99))
    cat > "$work/flood.smx" <<SMX
session flood: sh -c "yes $word | head -c 1G"
wait flood exit 0 within 10m
SMX
    echo "== throughput: 1 GiB of 100-byte lines"
    hyperfine --warmup 1 --runs 3 \
        "sh -c 'yes $word | head -c 1G | cat > /dev/null'" \
        "sh -c 'yes $word | head -c 1G | cat > $work/plain.out'" \
        "$bin run $work/flood.smx --transcript-dir $work/logs" \
        "$bin run $work/flood.smx"
}

memory() {
    local word
    word=$(printf 'y%.0s' $(seq 1 99))
    cat > "$work/mem.smx" <<SMX
session flood: sh -c "yes $word | head -c 200M"
wait flood exit 0 within 10m
SMX
    echo "== memory: peak RSS while 200 MiB stream through one session (default scrollback)"
    /usr/bin/time -f "peak RSS %M KiB, %e s" "$bin" run "$work/mem.smx"
    /usr/bin/time -f "with transcript: peak RSS %M KiB, %e s" "$bin" run "$work/mem.smx" --transcript-dir "$work/logs"
    # 4 KiB lines: 10000 lines would be 40 MiB, so the 16 MiB byte limit is what holds.
    word=$(printf 'z%.0s' $(seq 1 4095))
    cat > "$work/mem-long.smx" <<SMX
session flood: sh -c "yes $word | head -c 200M"
wait flood exit 0 within 10m
SMX
    /usr/bin/time -f "4 KiB lines: peak RSS %M KiB, %e s" "$bin" run "$work/mem-long.smx"
}

case $what in
    turns) turns ;;
    throughput) throughput ;;
    memory) memory ;;
    all) turns; throughput; memory ;;
    *) echo "usage: bench/run.sh [turns|throughput|memory|all]" >&2; exit 2 ;;
esac
