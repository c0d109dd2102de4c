#!/usr/bin/python3
"""Whether buffers (serenity_plan's CSV: id,lower,upper,size, half-open steps)
fit in CAPACITY bytes: a SAT encoding (one placement variable per buffer and
offset, one cover variable per buffer and unit, buffers live at a common step
never cover the same unit) solved by cadical (`apt-get install cadical`; not
a dependency of the project). Offsets are in units of the sizes' greatest
common divisor: any placement can be pushed down until each buffer rests on
another or on 0, so this loses nothing.

Two families of clauses add no constraint but let the solver decide the
question: a buffer covers a unit only if it is placed over that unit, and at
a step whose live buffers add up to exactly CAPACITY (a saturated step) every
unit is covered by one of them (they cannot overlap, so they tile the arena).
Without them cadical did not answer the 55-buffer window at its peak in 13.6
CPU-minutes; with them it proves it unsatisfiable in seconds.

usage: fits_sat.py FILE.csv CAPACITY_BYTES [--steps A-B]
FILE.csv has a header naming id, lower, upper and size (other columns, such
as those serenity_run --arena-csv adds, are ignored). --steps keeps the steps
A to B-1 only: every live range is cut to them, which only removes conflicts,
so a window that does not fit proves that the whole instance does not either.
Prints the buffer and pair counts and cadical's answer ('s SATISFIABLE',
's UNSATISFIABLE', or [] when it was stopped)."""
import csv, math, subprocess, sys

if len(sys.argv) not in (3, 5) or (len(sys.argv) == 5 and sys.argv[3] != "--steps"):
    sys.exit(__doc__)
path, capacity = sys.argv[1], int(sys.argv[2])
first, end = 0, float("inf")
if len(sys.argv) == 5:
    first, end = map(int, sys.argv[4].split("-"))
rows = []
for r in csv.DictReader(open(path, newline="")):
    lower, upper = max(int(r["lower"]), first), min(int(r["upper"]), end)
    if lower < upper: rows.append((r["id"], lower, upper, int(r["size"])))
g = 0
for r in rows: g = math.gcd(g, r[3])
cap = capacity // g
items = [(r[0], r[1], r[2], r[3] // g) for r in rows]
n = len(items)
var = 0
def new():
    global var; var += 1; return var
x = [[new() for p in range(cap - s + 1)] for (_, _, _, s) in items]
o = [[new() for u in range(cap)] for _ in items]
clauses = []
for i, (_, lo, hi, s) in enumerate(items):
    clauses.append(x[i][:])
    for p, v in enumerate(x[i]):
        for u in range(p, p + s): clauses.append([-v, o[i][u]])
    for a in range(len(x[i])):
        for b in range(a + 1, len(x[i])): clauses.append([-x[i][a], -x[i][b]])
    for u in range(cap):
        clauses.append([-o[i][u]] + [x[i][p] for p in range(max(0, u - s + 1), min(u, cap - s) + 1)])
pairs = 0
for i in range(n):
    for j in range(i + 1, n):
        if items[i][1] < items[j][2] and items[j][1] < items[i][2]:
            pairs += 1
            for u in range(cap): clauses.append([-o[i][u], -o[j][u]])
saturated = 0
for t in range(min(r[1] for r in items), max(r[2] for r in items)):
    live = [i for i, (_, lo, hi, _) in enumerate(items) if lo <= t < hi]
    if sum(items[i][3] for i in live) == cap:
        saturated += 1
        for u in range(cap): clauses.append([o[i][u] for i in live])
cnf = f"p cnf {var} {len(clauses)}\n" + "".join(" ".join(map(str, c)) + " 0\n" for c in clauses)
r = subprocess.run(["cadical", "-q"], input=cnf, capture_output=True, text=True)
status = [l for l in r.stdout.splitlines() if l.startswith("s ")]
print(f"{n} buffers, {pairs} conflicting pairs, {saturated} saturated steps, "
      f"capacity {cap} units of {g} bytes: {status}")
