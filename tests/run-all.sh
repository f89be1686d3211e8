#!/bin/sh
# The whole test suite, as CI runs it: install what is missing, build,
# run unit and integration tests, then again under ASan + UBSan.
# Prints "N passed, N failed" (one count per make check run).
src=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
"$src/tests/install-deps.sh" || exit 1
passed=0
failed=0
run() {
	name=$1
	dir=$2
	shift 2
	echo "== $name"
	if "$src/tests/build.sh" "$dir" "$@" &&
	    make -C "$src/$dir" check VERBOSE=1 >"$src/$dir/check.out" 2>&1; then
		passed=$((passed + 1))
		grep -E '^(# |PASS|FAIL|ERROR|SKIP|XFAIL)' "$src/$dir/check.out" | grep -v '^PASS' || true
		grep -E '^[0-9]+ passed, [0-9]+ failed' "$src/$dir/check.out" || true
	else
		failed=$((failed + 1))
		[ -f "$src/$dir/check.out" ] && cat "$src/$dir/check.out"
		for f in "$src/$dir"/tests/unit/*.log "$src/$dir"/tests/integration/*.log; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 80 "$f"; }
		done
	fi
}
run "plain build" build --enable-debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
run "ASan+UBSan build" build-asan --enable-debug --enable-asan
echo "run-all: $(( $(date +%s) - start ))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
