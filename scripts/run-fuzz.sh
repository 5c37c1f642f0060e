#!/usr/bin/env bash
# run-fuzz.sh FUZZER SEED_CORPUS WORK_DIR SECONDS
#
# Runs one libFuzzer target for a bounded time. The seed corpus is copied to
# WORK_DIR/corpus first: libFuzzer adds the inputs it finds to its corpus
# directory, and the source tree is never written. Crash, leak, timeout and
# OOM inputs land in WORK_DIR/artifacts/.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 FUZZER SEED_CORPUS WORK_DIR SECONDS" >&2
	exit 2
fi
fuzzer=$1
seeds=$2
work=$3
seconds=$4

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$seeds" ]; then
	cp -R "$seeds/." "$work/corpus/"
	echo "run-fuzz: $(find "$work/corpus" -type f | wc -l) seed(s) from $seeds"
else
	echo "run-fuzz: no seed corpus at $seeds: starting empty"
fi

cd "$work"
exec "$fuzzer" \
	-max_total_time="$seconds" \
	-timeout=5 \
	-rss_limit_mb=2048 \
	-print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" \
	"$work/corpus"
