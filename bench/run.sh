#!/usr/bin/env bash
# sandmux benchmarks: turn latency, throughput, memory and the sandbox path. Needs hyperfine,
# GNU time (/usr/bin/time), pexpect (pip install pexpect) and, for `sandbox`, busybox-static
# and root (the test runtime's namespaces). Results go to bench/README.md by hand, with their
# date. Usage: bench/run.sh [turns|throughput|memory|sandbox|socket|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
cargo build --release --quiet --locked --bin sandmux --example pipe_floor --example msb_test_runtime --example sdk_turns --example socket_turns
bin=target/release/sandmux
floor=target/release/examples/pipe_floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# turn_script SESSION-LINE N: a script of N send/expect turns with session `echo`.
turn_script() {
    echo "$1"
    for ((i = 0; i < $2; i++)); do
        echo "send echo turn$i"
        echo "expect echo stdout \"ack:turn$i\""
    done
    echo 'close echo'
    echo 'wait echo exit 0'
}

turns() {
    local n=2000
    turn_script 'session echo: sed -u "s/^/ack:/"' "$n" > "$work/turns.smx"
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

# Turn latency through a sandbox exec: sandmux over the real SDK, relay and guest agent (the
# test runtime, no VM), next to a minimal SDK client doing the same turns (the floor of this
# path) and to the local backend.
sandbox() {
    local n=2000 rootfs=$work/rootfs home=$work/msb-home box=benchbox
    mkdir -p "$rootfs"/{bin,etc,tmp,proc,dev,root} "$home"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in sh echo cat; do ln -sf busybox "$rootfs/bin/$applet"; done
    echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
    echo 'root:x:0:' > "$rootfs/etc/group"
    MSB_HOME=$home target/release/examples/msb_test_runtime "$box" "$rootfs" > "$work/runtime.out" 2>/dev/null &
    local runtime=$!
    for _ in $(seq 100); do grep -q ready "$work/runtime.out" && break; sleep 0.1; done
    local bot='sh -c "while read -r l; do echo ack:\$l; done"'
    turn_script "session echo sandbox=$box: $bot" "$n" > "$work/sbturns-box.smx"
    turn_script "session echo: $bot" "$n" > "$work/sbturns.smx"
    echo "== turn latency through a sandbox exec: $n turns (test runtime: real SDK, relay and agent, no VM)"
    # 15 runs: on 2 cores, 5 runs of this path spread by ±15%.
    hyperfine --warmup 2 --runs 15 -N \
        "env MSB_HOME=$home SANDMUX_LOG=error $bin run $work/sbturns-box.smx" \
        "env MSB_HOME=$home target/release/examples/sdk_turns $box $n" \
        "$bin run $work/sbturns.smx"
    kill "$runtime"
}

# The control socket: a `ctl` round trip, and turns driven through the socket (send, then
# wait for the echo) next to the same turns in a script.
socket() {
    local n=2000 sock=$work/bench.sock
    $bin serve --socket "$sock" -s 'echo=sed -u s/^/ack:/' 2>/dev/null &
    local server=$!
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    turn_script 'session echo: sed -u "s/^/ack:/"' "$n" > "$work/turns.smx"
    echo "== control socket: ctl round trip, and $n socket turns next to $n script turns"
    hyperfine --warmup 3 --runs 30 -N "$bin ctl --socket $sock list"
    hyperfine --warmup 1 --runs 5 -N \
        "target/release/examples/socket_turns $sock echo $n" \
        "$bin run $work/turns.smx"
    kill "$server"
}

case $what in
    turns) turns ;;
    throughput) throughput ;;
    memory) memory ;;
    sandbox) sandbox ;;
    socket) socket ;;
    all) turns; throughput; memory; sandbox; socket ;;
    *) echo "usage: bench/run.sh [turns|throughput|memory|sandbox|socket|all]" >&2; exit 2 ;;
esac
