#!/bin/sh
# The integration suite with ferryd under valgrind memcheck: any memory
# error or definite leak makes ferryd exit 99, which the harness reports.
# usage: tests/valgrind.sh [BUILDDIR] [test_*.py arguments]
#   BUILDDIR  a build (default $FERRY_SRCDIR/build); a sanitizer build
#             will not run under valgrind, use --enable-debug
#   ONLY="test_imap.py test_faults.py"  run only these files
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${FERRYD_BUILD:-$src/build}}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind missing (apt-get install valgrind)"
	exit 77
fi
if [ ! -x "$build/ferryd" ]; then
	echo "valgrind.sh: no ferryd in $build"
	exit 99
fi
if nm "$build/ferryd" 2>/dev/null | grep -q __asan_init; then
	echo "valgrind.sh: $build/ferryd is an ASan build; use a plain one"
	exit 99
fi
FERRYD=$build/ferryd
FERRY_SRCDIR=$src
FERRYD_WRAPPER="valgrind -q --tool=memcheck --vgdb=no --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --error-exitcode=99 --num-callers=30
    --suppressions=$src/tests/valgrind.supp"
: "${FERRYTEST_FILE_TIMEOUT:=900}"
export FERRYD FERRY_SRCDIR FERRYD_WRAPPER FERRYTEST_FILE_TIMEOUT
if [ -n "${ONLY:-}" ]; then
	rc=0
	for t in $ONLY; do
		echo "== $t"
		timeout -k 15 "$FERRYTEST_FILE_TIMEOUT" \
		    python3 "$src/tests/integration/$t" "$@" || rc=1
	done
	exit $rc
fi
exec "$src/tests/integration/run.sh" "$@"
