#!/bin/sh
# The whole test suite, as CI runs it: install what is missing, build,
# run unit and integration tests, then all of it again under ASan + UBSan.
# Ends with "N passed, N failed", counting every single test of both runs.
src=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
"$src/tests/install-deps.sh" || exit 1
passed=0
failed=0
broken=0
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT

# count DIR: add the cmocka and integration results found in DIR's logs.
count() {
	p=0
	f=0
	for log in "$1"/tests/unit/*.log "$1"/tests/integration/*.log; do
		[ -f "$log" ] || continue
		n=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
		m=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
		if [ -n "$line" ]; then
			n=${line%% passed*}
			m=${line#*, }
			m=${m%% failed*}
		fi
		p=$((p + ${n:-0}))
		f=$((f + ${m:-0}))
	done
	echo "$2: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

run() {
	name=$1
	dir=$2
	shift 2
	echo "== $name"
	rm -f "$src/$dir"/tests/unit/*.log "$src/$dir"/tests/integration/*.log
	if ! "$src/tests/build.sh" "$dir" "$@"; then
		broken=$((broken + 1))
		return
	fi
	if ! make -C "$src/$dir" check >"$src/$dir/check.out" 2>&1; then
		broken=$((broken + 1))
		grep -E '^(FAIL|ERROR|SKIP)' "$src/$dir/check.out"
		for f in "$src/$dir"/tests/unit/*.log \
		    "$src/$dir"/tests/integration/*.log; do
			[ -f "$f" ] || continue
			grep -qE '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null ||
			    continue
			echo "--- $f"
			tail -n 100 "$f"
		done
	fi
	grep -E '^# (TOTAL|PASS|FAIL|ERROR)' "$src/$dir/check.out"
	# Which single tests failed, kept for the summary at the very end
	# (CI shows the head and tail of this output, not the middle).
	for f in "$src/$dir"/tests/unit/*.log "$src/$dir"/tests/integration/*.log; do
		[ -f "$f" ] || continue
		grep -E '^(FAIL |\[  FAILED  \] [^0-9]|run\.sh: .* ended without)' "$f" |
		    sed "s|^|$name: |" >>"$failures"
	done
	count "$src/$dir" "$name"
}

run "plain build" build --enable-debug
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
run "ASan+UBSan build" build-asan --enable-debug --enable-asan
echo "run-all: $(( $(date +%s) - start ))s"
[ "$broken" -eq 0 ] || echo "run-all: $broken build or test run(s) failed"
cat "$failures"
echo "$passed passed, $failed failed"
[ "$broken" -eq 0 ] && [ "$failed" -eq 0 ]
