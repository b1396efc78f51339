"""2000 send/expect turns against `sed -u s/^/ack:/` driven by pexpect's PopenSpawn
(pipes, no PTY): the same job `sandmux run` does in bench/turns.smx."""
import sys
import time

from pexpect.popen_spawn import PopenSpawn

turns = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
child = PopenSpawn(["sed", "-u", "s/^/ack:/"], encoding="utf-8")
started = time.perf_counter()
for turn in range(turns):
    child.sendline(f"turn{turn}")
    child.expect_exact(f"ack:turn{turn}\n")
child.sendeof()
child.wait()
elapsed = time.perf_counter() - started
print(f"pexpect: {turns} turns in {elapsed:.3f}s ({elapsed * 1e6 / turns:.1f} us/turn)")
