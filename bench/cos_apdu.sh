#!/usr/bin/env bash
# cos_apdu.sh - APDUs per second of the card OS beside its baseline.
#
# Runs, in this one script run, bench/cos_apdu (the card OS in process,
# cos_transmit) and bench/vsmartcard_apdu.py (vsmartcard's Python ISO 7816
# virtual card, Iso7816OS.execute, in process) over the same APDU kinds for
# the same wall time each, and prints one table: kind, cardfab APDU/s,
# vsmartcard APDU/s, ratio. Builds nothing.
#
# Usage: bench/cos_apdu.sh [COS_APDU_BINARY] [-- extra cos_apdu options]
#   COS_APDU_BINARY  default: $CARDFAB_BUILD_DIR/bench/cos_apdu,
#                    $CARDFAB_BUILD_DIR/cos_apdu, build/bench/cos_apdu,
#                    build/cos_apdu (the first that exists)
#   BENCH_SECONDS    wall time per APDU kind and per implementation (1)
#   BENCH_FILL       other EFs created before the benchmark's EF, on both
#                    cards (0; 62 fills a cf32 chip's file table)
#   BENCH_CPU        CPU to pin both runs to with taskset (default: the
#                    first CPU this process may use; "none": no pinning)
#   PYTHON           the interpreter of the baseline (/usr/bin/python3: the
#                    one Debian's python3-virtualsmartcard is built for)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

bin=
extra=()
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	bin=$1
	shift
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
	shift
	extra=("$@")
fi
if [ -z "$bin" ]; then
	for cand in ${CARDFAB_BUILD_DIR:+"$CARDFAB_BUILD_DIR/bench/cos_apdu"} \
		${CARDFAB_BUILD_DIR:+"$CARDFAB_BUILD_DIR/cos_apdu"} \
		"$root/build/bench/cos_apdu" "$root/build/cos_apdu"; do
		if [ -x "$cand" ]; then
			bin=$cand
			break
		fi
	done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "cos_apdu.sh: no cos_apdu binary (give its path, or set" \
		"CARDFAB_BUILD_DIR; build with cmake first)" >&2
	exit 2
fi

seconds=${BENCH_SECONDS:-1}
fill=${BENCH_FILL:-0}
python=${PYTHON:-/usr/bin/python3}
cpu=${BENCH_CPU:-}
pin=()
if [ "$cpu" != none ] && command -v taskset >/dev/null; then
	if [ -z "$cpu" ]; then
		# The first CPU of our affinity list ("0-3,6" -> 0).
		cpu=$(taskset -cp $$ | sed 's/.*: //; s/[-,].*//')
	fi
	pin=(taskset -c "$cpu")
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "cos_apdu.sh: cardfab ($bin) ..." >&2
"${pin[@]}" "$bin" --seconds "$seconds" --fill "$fill" "${extra[@]}" \
	>"$out/cos"
echo "cos_apdu.sh: vsmartcard ($python) ..." >&2
"${pin[@]}" "$python" "$here/vsmartcard_apdu.py" --seconds "$seconds" \
	--fill "$fill" >"$out/vsc"

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
vsc_version=$(dpkg-query -W -f '${Version}' python3-virtualsmartcard \
	2>/dev/null || echo unknown)

echo "# cos_apdu: card OS APDUs per second, in process, one thread"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(uname -sr)"
echo "pinned:  ${pin[*]:-no}"
echo "command: BENCH_SECONDS=$seconds BENCH_FILL=$fill bench/cos_apdu.sh $bin${extra[*]:+ -- ${extra[*]}}"
grep '^#' "$out/cos" | sed 's/^# /cardfab /'
echo "baseline: vsmartcard $vsc_version (Iso7816OS.execute, $python" \
	"$("$python" -c 'import platform; print(platform.python_version())'))"
echo
awk -v goal=2000000 '
	# (awk has a builtin cos(): the arrays are crate and vsc)
	FNR == NR && $1 == "apdu" { crate[$2] = $5; wpa[$2] = $6; order[n++] = $2; next }
	$1 == "apdu" { vsc[$2] = $5 }
	END {
		printf "| %-10s | %15s | %17s | %8s | %11s |\n", "APDU kind",
			"cardfab APDU/s", "vsmartcard APDU/s", "ratio",
			"NVM wr/APDU"
		printf "|%s|%s|%s|%s|%s|\n", "------------", "-----------------",
			"-------------------", "----------", "-------------"
		met = 1; checked = 0
		for (i = 0; i < n; i++) {
			k = order[i]
			r = (k in vsc && vsc[k] > 0) ? sprintf("%.0fx", crate[k] / vsc[k]) : "-"
			printf "| %-10s | %15s | %17s | %8s | %11s |\n", k,
				fmt(crate[k]), (k in vsc) ? fmt(vsc[k]) : "-", r,
				(wpa[k] >= 0) ? sprintf("%.2f", wpa[k]) : "-"
			if (k == "select" || k ~ /^read/) {
				checked = 1
				if (crate[k] < goal) { met = 0; miss = miss " " k }
			}
		}
		print ""
		if (checked)
			print "goal >= 2,000,000 SELECT / READ BINARY per second: " \
				(met ? "met" : "NOT met (" substr(miss, 2) ")")
	}
	function fmt(x,   s, t) {
		s = sprintf("%.0f", x); t = ""
		while (length(s) > 3) { t = "," substr(s, length(s) - 2) t; s = substr(s, 1, length(s) - 3) }
		return s t
	}' "$out/cos" "$out/vsc"
