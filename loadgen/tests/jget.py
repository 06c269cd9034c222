#!/usr/bin/python3
"""jget.py FILE EXPR...: load tsload JSON as `d` (first job as `j`), evaluate
each Python expression; print the failing one and exit 1 if any is false.
Exit 2 if the file is not valid JSON."""
import json
import sys

try:
    with open(sys.argv[1]) as f:
        d = json.load(f)
except (OSError, ValueError) as e:
    print(f"invalid JSON in {sys.argv[1]}: {e}")
    sys.exit(2)
j = d["jobs"][0] if d.get("jobs") else {}
bad = 0
for expr in sys.argv[2:]:
    try:
        ok = eval(expr, {"d": d, "j": j, "abs": abs, "len": len})
    except Exception as e:  # a missing key is a failure too
        ok = False
        print(f"  {expr}: {type(e).__name__}: {e}")
    if not ok:
        print(f"  false: {expr}")
        bad = 1
sys.exit(bad)
