#!/bin/bash
# make test: run every component's test suite, keep each log, and sum the
# "N passed, N failed" line each suite ends with.  A suite that dies before
# printing its line counts as one failure, so a crash can never read as green.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
logdir=${TEST_LOGDIR:-$top/build/test-logs}
mkdir -p "$logdir"

suites=${TEST_SUITES:-"loadgen refstack harness"}
total_pass=0
total_fail=0
summary=()

for s in $suites; do
	log="$logdir/$s.log"
	start=$(date +%s)
	echo "=== $s: make -C $s test (log: $log)"
	# The suite's own output streams through, and is kept whole in the log.
	make -C "$top/$s" test 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	secs=$(( $(date +%s) - start ))
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		p=0; f=1
		summary+=("$s: no result line (exit $rc) after ${secs}s — counted as 1 failed")
	else
		p=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			f=1
			summary+=("$s: $p passed, 0 failed but make exited $rc — counted as 1 failed")
		else
			summary+=("$s: $p passed, $f failed in ${secs}s")
		fi
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done

echo
echo "=== summary"
for l in "${summary[@]}"; do echo "  $l"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
