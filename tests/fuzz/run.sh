#!/bin/sh
# Run one libFuzzer target for a while, niced, one job.
# usage: tests/fuzz/run.sh BUILDDIR TARGET SECONDS [WORKDIR]
# The seed corpus (tests/fuzz/corpus/TARGET) is read only; new inputs go
# to WORKDIR/TARGET (default $TMPDIR/fuzz-ferry), crashes to
# WORKDIR/art-TARGET/.
set -eu
build=$1 target=$2 secs=$3 work=${4:-${TMPDIR:-/tmp}/fuzz-ferry}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/$target" "$work/art-$target"
exec nice -n 10 "$build/tests/fuzz/${target}_fuzzer" \
    -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$work/art-$target/" \
    "$work/$target" "$src/corpus/$target"
