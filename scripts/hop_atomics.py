# gdb script (run by scripts/hop_atomics.sh): counts, per thread and per instruction, the
# locked read-modify-writes (`lock`-prefixed instructions and `xchg` with memory, which is
# implicitly locked) and full fences (`mfence`) executed between the bench binary's two marker
# calls.
import collections
import re
import subprocess

import gdb

BIN = gdb.current_progspace().filename
DIS = subprocess.run(["objdump", "-d", "--no-show-raw-insn", BIN], capture_output=True,
                     text=True, check=True).stdout
LOCKED = re.compile(r"^\s*([0-9a-f]+):\s+(lock\b.*|xchg\s+%\w+,.*\(.*|xchg\s+.*\(.*|mfence\b.*)$")

hits = collections.Counter()
locked = []


class Locked(gdb.Breakpoint):
    def stop(self):
        hits[(gdb.selected_thread().name, self.location)] += 1
        return False


class Marker(gdb.Breakpoint):
    def __init__(self, name, on):
        super().__init__(name, internal=True)
        self.on = on

    def stop(self):
        # Counting breakpoints are armed only between the markers (the warm-up is not counted).
        for b in locked:
            b.enabled = self.on
        return False


gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("starti")
base = int(gdb.parse_and_eval("(long)&tern_hop_atomics_begin")) - int(
    subprocess.run(["nm", BIN], capture_output=True, text=True, check=True).stdout.split(
        " T tern_hop_atomics_begin")[0].rsplit("\n", 1)[-1], 16)
n = 0
for line in DIS.splitlines():
    m = LOCKED.match(line)
    if m:
        b = Locked("*0x%x" % (base + int(m.group(1), 16)), internal=True)
        b.enabled = False
        locked.append(b)
        n += 1
Marker("tern_hop_atomics_begin", True)
Marker("tern_hop_atomics_end", False)
print("hop_atomics: %d breakpoints" % n)
gdb.execute("continue")
hops = 2000
per_thread = collections.Counter()
for (thread, loc), c in hits.items():
    per_thread[thread] += c
print("hop_atomics: locked instructions by thread:", dict(per_thread))
for (thread, loc), c in sorted(hits.items(), key=lambda kv: -kv[1]):
    if c >= hops // 10:
        addr = int(loc[1:], 16) - base
        where = subprocess.run(["addr2line", "-i", "-f", "-C", "-e", BIN, "0x%x" % addr],
                               capture_output=True, text=True).stdout.split("\n")
        frames = [where[i] + " " + where[i + 1].split("/")[-1]
                  for i in range(0, len(where) - 1, 2)]
        print("  %6.2f per hop  %s  %s" % (c / hops, thread, " <- ".join(
            f for f in frames if "sync/atomic" not in f)[:400]))
