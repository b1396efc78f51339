#!/usr/bin/env bash
# bench/history_memory.sh [MB]: peak RSS and time of `sandmux diff` and `sandmux replay` on
# two transcripts of about MB megabytes each (default 1000: 1 GB), that differ only in their
# last record. `replay` runs in tmux with --speed all, its peak read from /proc when it is
# done. Needs tmux, GNU time and python3; uses target/release/sandmux.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-1000}
bin=$(pwd)/target/release/sandmux
[ -x "$bin" ] || cargo build --release --locked --bin sandmux
dir=$(mktemp -d)
trap 'rm -rf "$dir"; tmux -L history-memory kill-server 2>/dev/null || true' EXIT
python3 - "$dir" "$mb" <<'PY'
import json, sys
d, mb = sys.argv[1], int(sys.argv[2])
line = "x" * 180
records = mb * 1_000_000 // 230
for name in ("a", "b"):
    with open(f"{d}/{name}.jsonl", "w") as f:
        f.write(json.dumps({"t": 0, "event": "started", "pid": 1, "command": ["gen"]}) + "\n")
        for i in range(records):
            f.write(json.dumps({"t": i, "stream": "stdout", "data": f"{line} {i}\n"}) + "\n")
        f.write(json.dumps({"t": records, "stream": "stdout", "data": f"end {name}\n"}) + "\n")
        f.write(json.dumps({"t": records + 1, "event": "exited", "code": 0}) + "\n")
PY
ls -l "$dir"
echo "== sandmux diff a.jsonl b.jsonl"
/usr/bin/time -f "diff: %e s, peak RSS %M KiB" "$bin" diff "$dir/a.jsonl" "$dir/b.jsonl" > "$dir/diff.out" || true
head -3 "$dir/diff.out"
echo "== sandmux replay a.jsonl --speed all"
start=$(date +%s.%N)
tmux -L history-memory new-session -d -s r -x 120 -y 30 "$bin replay $dir/a.jsonl --speed all --log-file $dir/replay.log; sleep 600"
until tmux -L history-memory capture-pane -p -t r | grep -q 'REPLAY ■ end'; do sleep 0.5; done
end=$(date +%s.%N)
pid=$(pgrep -f "^$bin replay $dir/a.jsonl" | head -1)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "replay: $(echo "$end - $start" | bc) s to the end, peak RSS $hwm KiB"
