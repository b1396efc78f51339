#!/usr/bin/env bash
# bench/history.sh [TURNS]: `sandmux diff` on two transcripts of TURNS turns each (default
# 100000: ~20 MB each), the same and with one reply changed near the end, side by side with
# what one would do without it: `jq` to drop the timestamps, then GNU `diff`.
# Needs hyperfine and jq (apt-get install hyperfine jq); uses target/release/sandmux.
set -euo pipefail
cd "$(dirname "$0")/.."
turns=${1:-100000}
bin=target/release/sandmux
[ -x "$bin" ] || cargo build --release --locked
for tool in hyperfine jq; do
    command -v "$tool" >/dev/null || { echo "bench/history.sh needs $tool" >&2; exit 2; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" "$turns" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
for name, t0, change in (("a", 1_796_000_000_000, None), ("b", 1_796_100_000_000, n - 10), ("c", 1_796_200_000_000, None)):
    with open(f"{d}/{name}.jsonl", "w") as f:
        f.write(json.dumps({"t": t0, "event": "started", "pid": 100, "command": ["sed", "-u", "s/^/ack:/"]}) + "\n")
        for i in range(n):
            f.write(json.dumps({"t": t0 + 2 * i + 1, "stream": "stdin", "data": f"turn {i}\n"}) + "\n")
            reply = "broken" if i == change else f"ack:turn {i}"
            f.write(json.dumps({"t": t0 + 2 * i + 2, "stream": "stdout", "data": reply + "\n"}) + "\n")
        f.write(json.dumps({"t": t0 + 2 * n + 3, "event": "exited", "code": 0}) + "\n")
PY
ls -l "$dir"
peer() { diff <(jq -c 'del(.t, .pid)' "$1") <(jq -c 'del(.t, .pid)' "$2") >/dev/null || true; }
export -f peer
hyperfine --warmup 1 --runs 5 -N -i \
    "$bin diff $dir/a.jsonl $dir/c.jsonl" \
    "$bin diff $dir/a.jsonl $dir/b.jsonl" 
hyperfine --warmup 1 --runs 5 -i --shell bash \
    "peer $dir/a.jsonl $dir/c.jsonl" \
    "peer $dir/a.jsonl $dir/b.jsonl"
