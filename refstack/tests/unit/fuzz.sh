#!/bin/bash
# Runs the libFuzzer target (clang) on the seed corpus once per feature set
# (FUZZ_FEATURES), then for a bounded time (FUZZ_SECONDS, default 30) on a
# scratch copy, the input's first byte choosing the feature set.  Reports
# in the "N passed, N failed" form.
cd "$(dirname "$0")/../.." || exit 1
BIN=build/fuzz/fuzz_frames
SECS=${FUZZ_SECONDS:-30}
pass=0
fail=0
if [ ! -x "$BIN" ]; then
	echo "FAIL - $BIN not built (needs clang with libFuzzer: libclang-rt-14-dev)"
	echo "0 passed, 1 failed"
	exit 1
fi
work=$(mktemp -d /tmp/rsc-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
for set in base listen estab rfd fastfd listen,estab listen,fastfd \
	estab,rfd listen,estab,fastfd full; do
	if FUZZ_FEATURES=$set "$BIN" -runs=0 fuzz/corpus >"$work/seeds.log" 2>&1; then
		echo "ok - every seed frame sequence runs clean on refstack:$set"
		pass=$((pass + 1))
	else
		echo "FAIL - a seed crashes refstack:$set:"; tail -n 30 "$work/seeds.log"
		fail=$((fail + 1))
	fi
done
mkdir -p "$work/corpus"
if "$BIN" -max_total_time="$SECS" -max_len=4096 -rss_limit_mb=2048 \
	-artifact_prefix="$work/" "$work/corpus" fuzz/corpus >"$work/fuzz.log" 2>&1; then
	echo "ok - ${SECS} s of fuzzing: $(grep -Eo 'Done [0-9]+ runs' "$work/fuzz.log"), no crash"
	pass=$((pass + 1))
else
	echo "FAIL - fuzzer found a crash:"; grep -E 'ERROR|SUMMARY|runtime error' "$work/fuzz.log" | head -n 10
	mkdir -p build/fuzz/crashes && cp "$work"/crash-* build/fuzz/crashes/ 2>/dev/null
	echo "(inputs kept in build/fuzz/crashes/)"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
