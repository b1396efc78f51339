#!/usr/bin/env bash
# sandmux benchmarks, each side by side with its peer or floor: turn latency (the pipe floor,
# pexpect, Tcl expect), regex patterns against literals, parsing, throughput, memory, the
# sandbox path, the control socket, and the TUI under a flood next to tmux (bench/tui.sh).
# `sandbox` needs busybox-static and root (the test runtime's namespaces). It installs what
# it needs where missing: hyperfine, GNU time, bc, tmux, Tcl expect (Debian) and pexpect
# (PyPI). After the runs it prints a table of ratios. Results go to bench/README.md by hand,
# with their date. Usage: bench/run.sh [turns|regex|parse|throughput|memory|sandbox|socket|tui|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v bc >/dev/null || need+=(bc)
command -v tmux >/dev/null || need+=(tmux)
command -v expect >/dev/null || need+=(expect)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
python3 -c 'import pexpect' 2>/dev/null || python3 -m pip install -q pexpect

cargo build --release --quiet --locked --bin sandmux --example pipe_floor --example msb_test_runtime --example sdk_turns --example socket_turns
bin=target/release/sandmux
floor=target/release/examples/pipe_floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Every hyperfine run exports its JSON here, for the table of ratios at the end.
results=$work/results
mkdir -p "$results"
# hyperfine NAME ARGS...: hyperfine with its results kept as NAME (the first command is the
# one the others are compared with in the table).
bench() {
    local name=$1
    shift
    hyperfine --export-json "$results/$name.json" "$@"
}

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
    bench turns --warmup 2 --runs 20 -N \
        "$floor $n sed -u s/^/ack:/" \
        "$bin run $work/turns.smx" \
        "expect -f bench/expect_turns.exp $n" \
        "python3 bench/pexpect_turns.py $n"
}

# The same turns with an anchored regex per turn (/^ack:turnN$/), with one regex repeated
# every turn (/^ack:turn\d+$/), and with literals.
regex() {
    local n=2000
    turn_script 'session echo: sed -u "s/^/ack:/"' "$n" > "$work/turns.smx"
    turn_script 'session echo: sed -u "s/^/ack:/"' "$n" |
        sed -E 's|^expect echo stdout "(ack:turn[0-9]+)"$|expect echo stdout /^\1$/|' > "$work/regex.smx"
    turn_script 'session echo: sed -u "s/^/ack:/"' "$n" |
        sed -E 's|^expect echo stdout "ack:turn[0-9]+"$|expect echo stdout /^ack:turn\\d+$/|' > "$work/regex-same.smx"
    grep -q '^expect echo stdout /^ack:turn17\$/$' "$work/regex.smx"
    echo "== regex patterns: $n turns with literals, anchored regexes, one repeated regex"
    bench regex --warmup 2 --runs 20 -N \
        "$bin run $work/turns.smx" \
        "$bin run $work/regex.smx" \
        "$bin run $work/regex-same.smx"
}

# Parsing: a 1M-character quoted `send` next to the same text unquoted, and a 10 MB script
# of 100000 quoted sends.
parse() {
    local text short
    text=$(head -c 1000000 /dev/zero | tr '\0' x)
    short=${text:0:90}
    printf 'session s: cat\nsend s "%s"\nclose s\nwait s exit 0\n' "$text" > "$work/quoted.smx"
    printf 'session s: cat\nsend s %s\nclose s\nwait s exit 0\n' "$text" > "$work/unquoted.smx"
    {
        echo 'session s: sh -c "cat > /dev/null"'
        for _ in $(seq 1 100000); do echo "send s \"$short\""; done
        echo 'close s'
        echo 'wait s exit 0'
    } > "$work/big.smx"
    echo "== parsing: 1M characters quoted and unquoted, and a $(du -h "$work/big.smx" | cut -f1) script"
    bench parse --warmup 1 --runs 10 -N \
        "$bin run $work/unquoted.smx" \
        "$bin run $work/quoted.smx" \
        "$bin run $work/big.smx"
}

throughput() {
    local word
    word=$(printf 'x%.0s' $(seq 1 99))
    cat > "$work/flood.smx" <<SMX
session flood: sh -c "yes $word | head -c 1G"
wait flood exit 0 within 10m
SMX
    echo "== throughput: 1 GiB of 100-byte lines"
    bench throughput --warmup 1 --runs 5 \
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
    bench sandbox --warmup 2 --runs 15 -N \
        "env MSB_HOME=$home target/release/examples/sdk_turns $box $n" \
        "env MSB_HOME=$home SANDMUX_LOG=error $bin run $work/sbturns-box.smx" \
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
    bench socket --warmup 1 --runs 5 -N \
        "$bin run $work/turns.smx" \
        "target/release/examples/socket_turns $sock echo $n"
    kill "$server"
}

# The TUI under a flood, next to tmux (bench/tui.sh), and with 200 sessions.
tui() {
    bench/tui.sh
    bench/tui_many.sh
}

# A table of every hyperfine run: each command's mean and its ratio to the first command of
# its benchmark.
table() {
    python3 - "$results" <<'PY'
import json, pathlib, sys
rows = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    runs = json.loads(path.read_text())["results"]
    base = runs[0]["mean"]
    for run in runs:
        rows.append((path.stem, run["command"], run["mean"], run["stddev"] or 0.0, run["mean"] / base))
if rows:
    print("\n== ratios (each to the first command of its benchmark)")
    print(f"{'benchmark':<11} {'mean':>10} {'± σ':>9} {'ratio':>7}  command")
    for name, command, mean, sd, ratio in rows:
        command = command.replace("target/release/", "")
        if len(command) > 90:
            command = command[:87] + "..."
        print(f"{name:<11} {mean * 1000:>8.1f}ms {sd * 1000:>7.1f}ms {ratio:>6.2f}x  {command}")
PY
}

case $what in
    turns) turns ;;
    regex) regex ;;
    parse) parse ;;
    throughput) throughput ;;
    memory) memory ;;
    sandbox) sandbox ;;
    socket) socket ;;
    tui) tui ;;
    all) turns; regex; parse; throughput; memory; sandbox; socket; tui ;;
    *) echo "usage: bench/run.sh [turns|regex|parse|throughput|memory|sandbox|socket|tui|all]" >&2; exit 2 ;;
esac
table
