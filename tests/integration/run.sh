#!/bin/sh
# ferry integration tests: the entry point `make check` runs.
#
# Starts a private slapd, two Dovecot servers and ferryd on random loopback
# addresses (tests/integration/ferrytest.py) and runs every test_*.py against
# them.  make sets FERRYD (the ferryd under test) and FERRY_SRCDIR; run by
# hand, FERRYD defaults to ./ferryd when present (a build directory), else to
# $FERRY_SRCDIR/build/ferryd.
#
#   SKIP_INTEGRATION=1   skip (exit 77)
#   KEEP_TMP=1           keep the temporary directory with all logs
#   FERRYD_WRAPPER=CMD   run ferryd under CMD (tests/valgrind.sh)
#   FERRYTEST_FILE_TIMEOUT=SECONDS  per test file (default 300)
#
# Exit status: the tests' (0 all passed, 1 a failure); 77 skipped (asked to,
# or packages missing and not root to install them); 99 no ferryd binary.
set -u

if [ "${SKIP_INTEGRATION:-0}" = 1 ]; then
	echo "run.sh: SKIP_INTEGRATION=1, integration tests skipped"
	exit 77
fi

here=$(cd "$(dirname "$0")" && pwd)
: "${FERRY_SRCDIR:=$(cd "$here/../.." && pwd)}"
if [ -z "${FERRYD:-}" ]; then
	if [ -x ./ferryd ]; then
		FERRYD=$(pwd)/ferryd
	else
		FERRYD=$FERRY_SRCDIR/build/ferryd
	fi
fi
export FERRYD FERRY_SRCDIR

if [ ! -x "$FERRYD" ]; then
	echo "run.sh: no ferryd at $FERRYD (build it, or set FERRYD)"
	exit 99
fi

# What the tests need from Debian: slapd, ldap-utils, dovecot-imapd,
# dovecot-pop3d, python3.  Install it when missing (root only).
need_install() {
	for f in /usr/sbin/slapd /usr/bin/ldapadd /usr/bin/ldapmodify \
	    /usr/bin/ldapsearch /usr/sbin/dovecot /usr/lib/dovecot/imap \
	    /usr/lib/dovecot/imap-login /usr/lib/dovecot/pop3; do
		[ -x "$f" ] || return 0
	done
	command -v python3 >/dev/null 2>&1 || return 0
	return 1
}
if need_install; then
	if [ "$(id -u)" = 0 ]; then
		"$FERRY_SRCDIR/tests/install-deps.sh" test || exit 99
	else
		echo "run.sh: slapd/ldap-utils/dovecot/python3 missing; run" \
		    "tests/install-deps.sh as root. Skipping."
		exit 77
	fi
fi

echo "run.sh: ferryd under test: $FERRYD"
# Every test_*.py file starts its own servers.  A safety net over the
# per-step timeouts inside the tests: SIGTERM lets each harness stop
# every server it started.
passed=0
failed=0
rc=0
for t in "$here"/test_*.py; do
	echo "== $(basename "$t")"
	out=$(mktemp)
	timeout -k 15 "${FERRYTEST_FILE_TIMEOUT:-300}" python3 "$t" "$@" 2>&1 |
	    tee "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$line" ]; then
		echo "run.sh: $(basename "$t") ended without a result"
		failed=$((failed + 1))
		rc=1
		continue
	fi
	n=${line%% passed*}
	m=${line#*, }
	m=${m%% failed*}
	passed=$((passed + n))
	failed=$((failed + m))
	[ "$m" -eq 0 ] || rc=1
done
echo "$passed passed, $failed failed"
exit $rc
