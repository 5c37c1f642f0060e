#!/usr/bin/env bash
# test.sh: sets up the machine and runs every test of cardfab.
#
#   1. scripts/setup.sh            Debian packages
#   2. build/        plain Release build, ctest (unit, shell, integration,
#                    cos_freestanding)
#   3. build-asan/   AddressSanitizer + UBSan build, ctest
#   4. build-fuzz/   clang libFuzzer build, each fuzz target for
#                    CARDFAB_FUZZ_SECONDS (default 60) over its seed corpus
#
# Stops at the first failure and ends with a summary either way.
# Environment: CARDFAB_FUZZ_SECONDS, CARDFAB_JOBS (default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

fuzz_seconds=${CARDFAB_FUZZ_SECONDS:-60}
jobs=${CARDFAB_JOBS:-2}

summary=()
total_passed=0
total_failed=0
stage=""
stage_start=0
run_start=$SECONDS

begin()
{
	stage=$1
	stage_start=$SECONDS
	echo
	echo "=== $stage"
}

end()
{
	summary+=("$(printf '  %-34s ok    %4ds%s' "$stage" \
		$((SECONDS - stage_start)) "${1:+  $1}")")
	stage=""
}

finish()
{
	local rc=$?
	set +e
	echo
	echo "=== summary"
	local line
	for line in "${summary[@]}"; do
		echo "$line"
	done
	if [ -n "$stage" ]; then
		printf '  %-34s FAILED %3ds\n' "$stage" $((SECONDS - stage_start))
	fi
	if [ $rc -eq 0 ]; then
		echo "all tests passed in $((SECONDS - run_start))s"
	else
		echo "FAILED (exit $rc) in $((SECONDS - run_start))s: $stage"
	fi
	echo "ctest: $total_passed passed, $total_failed failed"
	exit $rc
}
trap finish EXIT

# run_ctest DIR [CTEST ARGS...]: runs ctest in DIR, adds its counts to the
# totals, and fails if any test failed.
run_ctest()
{
	local dir=$1
	shift
	local log=$dir/ctest.log
	local rc=0
	ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@" 2>&1 |
		tee "$log" || rc=$?
	local line failed all
	# A skipped test (exit 77: it could not run here) counts as passed
	# for ctest: say so in the summary, loudly.
	local skipped
	skipped=$(grep -E '^[[:space:]]*[0-9]+ - .*\(Skipped\)' "$log" |
		sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+).*/\1/' | tr '\n' ' ' || true)
	if [ -n "$skipped" ]; then
		summary+=("$(printf '  %-34s SKIPPED: %s(could not run here)' \
			"$stage" "$skipped")")
	fi
	line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
		all=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$line")
		total_passed=$((total_passed + all - failed))
		total_failed=$((total_failed + failed))
		ctest_counts="$((all - failed))/$all tests passed"
	else
		ctest_counts="no test counts"
	fi
	return $rc
}

begin "setup"
bash scripts/setup.sh
end

begin "plain build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCARDFAB_SANITIZE=OFF \
	-DCARDFAB_FUZZ=OFF
cmake --build build -j"$jobs"
end

begin "plain tests (build/)"
run_ctest build --no-tests=error
end "$ctest_counts"

begin "asan+ubsan build (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCARDFAB_SANITIZE=ON -DCARDFAB_FUZZ=OFF
cmake --build build-asan -j"$jobs"
end

begin "asan+ubsan tests (build-asan/)"
run_ctest build-asan --no-tests=error
end "$ctest_counts"

begin "fuzz build (build-fuzz/)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release \
	-DCARDFAB_FUZZ=ON -DCARDFAB_FUZZ_SECONDS="$fuzz_seconds"
cmake --build build-fuzz -j"$jobs"
end

begin "fuzz tests (build-fuzz/, ${fuzz_seconds}s each)"
if compgen -G "$root/tests/fuzz/fuzz_*.c" >/dev/null; then
	run_ctest build-fuzz --no-tests=error
	end "$ctest_counts"
else
	echo "no tests/fuzz/fuzz_*.c: nothing to fuzz"
	end "no fuzz targets"
fi
