#!/bin/sh
# Build ferry out of tree: tests/build.sh BUILDDIR [configure options...]
set -e
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
[ -n "$dir" ] || { echo "usage: tests/build.sh BUILDDIR [configure options]" >&2; exit 2; }
shift
case $dir in /*) ;; *) dir=$src/$dir ;; esac
echo "== build in $dir ($*)"
[ -x "$src/configure" ] && [ "$src/configure" -nt "$src/configure.ac" ] || (cd "$src" && ./autogen.sh >/dev/null 2>&1 || ./autogen.sh)
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$src/configure" -nt Makefile ]; then
	"$src/configure" --sysconfdir=/etc "$@" >configure.out 2>&1 || { cat configure.out; exit 1; }
fi
make -j"$(nproc)" >make.out 2>&1 || { cat make.out; exit 1; }
echo "== built $dir/ferryd"
