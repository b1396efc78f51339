#!/usr/bin/env bash
# Many sessions in the TUI (#11): 200 sessions in ten groups, 20 of them printing a line
# every 100 ms, in a 200x60 tmux terminal, in the list layout (the default for 200) and in
# the tiles layout (pages). Measures sandmux's CPU over 10 s, keystroke-to-screen latency and
# peak RSS; then tmux itself with the same 200 programs in 200 windows, for comparison.
# Usage: bench/tui_many.sh [SESSIONS] [PRINTING]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-200}
printing=${2:-20}
source bench/tui_common.sh
cpu_percent() { # pid seconds
    local a b
    a=$(cpu_ticks "$1"); sleep "$2"; b=$(cpu_ticks "$1")
    cpu_between "$a" "$b" "$2"
}

printer='i=0; while :; do i=$((i+1)); echo "line $i from a busy session"; sleep 0.1; done'
config=$work/many.toml
for i in $(seq 1 "$sessions"); do
    if ((i <= printing)); then
        printf '[[session]]\nname = "s%03d"\ngroup = "fleet-%d"\nshell = '"'"'%s'"'"'\n' "$i" $((i % 10)) "$printer"
    else
        printf '[[session]]\nname = "s%03d"\ngroup = "fleet-%d"\ncommand = ["cat"]\n' "$i" $((i % 10))
    fi
done > "$config"

for layout in list tiles; do
    tmux -L "$sock" new-session -d -s b -x 200 -y 60 "$bin --layout $layout --config $config --log-file $work/tui.log"
    sleep 6
    pid=$(tmux -L "$sock" display -p -t b "#{pane_pid}")
    grep -q sandmux "/proc/$pid/comm" || { echo "pane_pid $pid is not sandmux" >&2; exit 1; }
    echo "== sandmux, $layout layout: $sessions sessions, $printing printing a line every 100 ms, 200x60"
    echo "sandmux CPU: $(cpu_percent "$pid" 10)% of one core"
    echo "keystroke to screen (through tmux): $(keystrokes "$sock" b)"
    echo "sandmux peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
    tmux -L "$sock" send-keys -t b C-q
    sleep 3
    tmux -L "$sock" kill-server 2>/dev/null || true
done

echo "== tmux itself: the same $sessions programs in $sessions windows, 200x60"
tmux -L "$sock-b" new-session -d -s c -x 200 -y 60 "cat"
for i in $(seq 2 "$sessions"); do
    if ((i <= printing)); then
        tmux -L "$sock-b" new-window -d -t c: "sh -c '$printer'"
    else
        tmux -L "$sock-b" new-window -d -t c: "cat"
    fi
done
# A window that prints is the one on screen, as a focused busy session is in sandmux.
tmux -L "$sock-b" new-window -t c: "sh -c '$printer'"
sleep 6
server=$(tmux -L "$sock-b" display -p '#{pid}')
echo "tmux server CPU: $(cpu_percent "$server" 10)% of one core"
echo "tmux server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$server/status)"
