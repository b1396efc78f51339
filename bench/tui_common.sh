# Shared by bench/tui.sh and bench/tui_many.sh (sourced): the release build, a work dir and
# tmux sockets cleaned up on exit, CPU from /proc/PID/stat and keystroke-to-screen latency.
cargo build --release --quiet --bin sandmux
bin=$PWD/target/release/sandmux
work=$(mktemp -d)
sock=sandmux-bench-$$
trap 'tmux -L $sock kill-server 2>/dev/null || true; tmux -L $sock-b kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The CPU PID used between two cpu_ticks readings A and B taken SECONDS apart, in percent.
cpu_between() { # a b seconds
    echo "scale=1; 100 * ($2 - $1) / $hz / $3" | bc
}

# Keystroke latency on tmux socket SOCK, target T: type a unique word, time until the
# terminal shows it; mean and worst of 20.
keystrokes() { # sock target
    local total=0 worst=0 n=20 word start ms
    for k in $(seq 1 $n); do
        word="k${k}x$RANDOM"
        start=$(date +%s%N)
        tmux -L "$1" send-keys -t "$2" -l "$word"
        until tmux -L "$1" capture-pane -p -t "$2" | grep -q "$word"; do sleep 0.002; done
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        total=$((total + ms)); ((ms > worst)) && worst=$ms
        tmux -L "$1" send-keys -t "$2" C-u
        sleep 0.05
    done
    echo "mean $((total / n)) ms, worst $worst ms over $n"
}
