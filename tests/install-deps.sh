#!/bin/sh
# Installs the Debian packages ferry needs to build and to test.
#
#   tests/install-deps.sh [all|build|test]     (default: all)
#
# Fast when everything is there (dpkg-query only).  Otherwise, as root:
# apt-get install -y --no-install-recommends, non-interactively, with a
# /usr/sbin/policy-rc.d that keeps the packages' own services (slapd,
# dovecot) from starting; that file is removed afterwards if this script
# created it.  Services already running are left alone: the tests start
# their own slapd and Dovecot on other addresses and ports.
set -eu

build_pkgs="build-essential autoconf automake libtool-bin pkg-config
	libevent-dev libssl-dev libldap-dev libsasl2-dev libcmocka-dev
	libsystemd-dev clang"
test_pkgs="slapd ldap-utils dovecot-imapd dovecot-pop3d python3 curl
	dovecot-managesieved dovecot-sieve fetchmail sieve-connect openssl isync
	libsasl2-modules"

case "${1:-all}" in
all) want="$build_pkgs $test_pkgs" ;;
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
*) echo "usage: $0 [all|build|test]" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: missing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root to install them (sudo $0 ${1:-all})" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
created=
cleanup() {
	if [ -n "$created" ]; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# ferry tests/install-deps.sh: do not start services\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created=1
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts="-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
	-o Dpkg::Options::=--force-confold"
# shellcheck disable=SC2086
if ! apt-get install $apt_opts $missing; then
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install $apt_opts $missing
fi
echo "install-deps: installed:$missing"
