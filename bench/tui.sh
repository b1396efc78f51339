#!/usr/bin/env bash
# TUI under load: 16 panes, 4 of them flooding (`yes` with 1 KB lines), in a 200x60 tmux terminal.
# Measures sandmux's CPU over 10 s and how fast it takes the floods in (the producers' written
# bytes, /proc/PID/io), keystroke-to-screen latency while flooding, and peak RSS;
# then tmux itself showing the same 4 floods in 16 panes, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/tui_common.sh

# Bytes the flood producers (`yes flooding-pane-N`) have written, from /proc/PID/io.
written() { local sum=0 pid; for pid in $(pgrep -f "^yes flooding-pane-"); do sum=$((sum + $(awk '/^wchar/ {print $2}' "/proc/$pid/io"))); done; echo "$sum"; }
# CPU of PID over SECONDS, and how fast the floods were taken in meanwhile.
cpu_percent() { # pid seconds
    local a b w1 w2
    a=$(cpu_ticks "$1"); w1=$(written); sleep "$2"; b=$(cpu_ticks "$1"); w2=$(written)
    echo "$(cpu_between "$a" "$b" "$2")% of one core, floods taken in at $(( (w2 - w1) / $2 / 1048576 )) MiB/s"
}

args=(-s "echo=sed -u s/^/ack:/")
for i in $(seq 1 11); do args+=(-s "idle$i=sh -c 'while :; do echo tick $i; sleep 1; done'"); done
# Floods of 1 KB lines.
pad=$(printf 'x%.0s' $(seq 1 1000))
for i in $(seq 1 4); do args+=(-s "flood$i=yes flooding-pane-$i-$pad"); done
tmux -L "$sock" new-session -d -s b -x 200 -y 60 "$bin --layout tiles --log-file $work/tui.log $(printf '%q ' "${args[@]}")"
sleep 3
pid=$(tmux -L "$sock" display -p -t b "#{pane_pid}")
grep -q sandmux "/proc/$pid/comm" || { echo "pane_pid $pid is not sandmux" >&2; exit 1; }
echo "== sandmux: 16 panes, 4 flooding, 200x60"
echo "sandmux CPU: $(cpu_percent "$pid" 10)"
tmux_server=$(tmux -L "$sock" display -p '#{pid}')
echo "(the tmux server drawing sandmux's frames: $(cpu_percent "$tmux_server" 5))"

echo "keystroke to screen (through tmux): $(keystrokes "$sock" b)"
echo "sandmux peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
tmux -L "$sock" send-keys -t b C-q
sleep 2

echo "== tmux 3.x itself: 16 panes, 4 running yes, 200x60"
tmux -L "$sock-b" new-session -d -s c -x 200 -y 60 "yes flooding-pane-1-$pad"
for i in 2 3 4; do tmux -L "$sock-b" split-window -t c "yes flooding-pane-$i-$pad"; tmux -L "$sock-b" select-layout -t c tiled; done
for i in $(seq 5 16); do tmux -L "$sock-b" split-window -t c "sh -c 'while :; do echo tick $i; sleep 1; done'"; tmux -L "$sock-b" select-layout -t c tiled; done
sleep 3
server=$(tmux -L "$sock-b" display -p '#{pid}')
echo "tmux server CPU: $(cpu_percent "$server" 10)"
