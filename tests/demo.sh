#!/bin/sh
# ferry demo on a fresh Debian machine: installs the packages (root), builds
# ferryd, then shows a user moving from mail server A to B through ferry.
#
#   tests/demo.sh            (BUILDDIR defaults to ./build in the source tree)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILDDIR:-$top/build}

"$top/tests/install-deps.sh"
"$top/tests/build.sh" "$builddir"
FERRYD="$builddir/ferryd" exec python3 "$top/tests/demo.py"
