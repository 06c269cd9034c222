#!/bin/bash
# Runs every unit test program (build/unit/*), every executable
# tests/unit/*.sh (fuzz run) and every executable tests/interop/*.sh; each
# ends with "N passed, N failed".  Prints the total the same way and exits
# non-zero if anything failed or a runner did not report.  Each runner gets
# RS_TEST_TIMEOUT seconds (default 600), then SIGTERM, SIGKILL 10 s later.
# RS_TEST_ONLY=unit skips the interop scripts.
cd "$(dirname "$0")/.." || exit 1
total_p=0
total_f=0
run() {
	local name=$1; shift
	local out rc line p f
	echo "== $name"
	out=$(timeout -k 10 "${RS_TEST_TIMEOUT:-600}" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -v '^ok - ' | tail -n 40
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	if [ -z "$line" ]; then
		[ "$rc" -eq 124 ] && echo "FAIL - $name timed out"
		echo "FAIL - $name reported no summary (exit $rc)"
		total_f=$((total_f + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed*}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL - $name exited $rc"
		f=1
	fi
	total_p=$((total_p + p))
	total_f=$((total_f + f))
}
for t in build/unit/test_*; do
	[ -x "$t" ] && run "$t" "$t"
done
interop=tests/interop/*.sh
[ "${RS_TEST_ONLY:-}" = unit ] && interop=
for t in tests/unit/*.sh $interop; do
	[ -f "$t" ] && [ -x "$t" ] && run "$t" "$t"
done
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
