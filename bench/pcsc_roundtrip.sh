#!/usr/bin/env bash
# pcsc_roundtrip.sh - APDU round trips per second and latency (p50, p99)
# through pcscd and vsmartcard's vpcd, one run, for every card side by
# side:
#
#   floor            bench/pcsc_roundtrip floor: a few lines of C answering
#                    90 00 to everything at once (TCP_NODELAY, TCP_QUICKACK):
#                    the transport's own limit
#   cardfab vicc     `cardfab vicc` on a chip in INITIALIZATION with EF 0101
#                    (1,024 bytes) in its MF
#   vsmartcard       vsmartcard's Python card (Debian vsmartcard-vpicc /
#                    python3-virtualsmartcard 3.3, card type iso7816, EF 0101
#                    added: bench/pcsc_roundtrip_vicc.py), as packaged (the
#                    ~44 ms stall) and with the stall removed (NODELAY and
#                    QUICKACK patched into its socket)
#   floor, stall     the floor card without NODELAY and QUICKACK: the stall
#                    on its own
#
# The client (bench/pcsc_roundtrip client) is the same for every card:
# SELECT EF 0101 (P2 0C), READ BINARY 16, READ BINARY 128, GET CHALLENGE 8
# in turn through pcsc-lite's SCardTransmit, every answer checked, each
# round trip timed. The floor and cardfab run in BENCH_ROUNDS pairs, back
# to back in alternating order (a shared machine drifts); the table's
# ratios are against the median floor run, the verdict on the median of
# the pairs' ratios.
#
# Usage: bench/pcsc_roundtrip.sh [BUILD_DIR]
#   BUILD_DIR      default $CARDFAB_BUILD_DIR or build/ (with cardfab and
#                  bench/pcsc_roundtrip built)
#   BENCH_SECONDS  measured seconds per card (default 2; the stalled card
#                  gets at least 40 round trips)
#   BENCH_ROUNDS   floor / cardfab pairs (default 3), measured back to back
#                  in alternating order; the verdict is on the median pair
# Needs pcscd, vsmartcard-vpcd and python3-virtualsmartcard (scripts/
# setup.sh installs them). As root it runs in private mount and network
# namespaces (its own /run/pcscd and loopback); otherwise it needs to be
# able to start pcscd, and no other pcscd may run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-${CARDFAB_BUILD_DIR:-$root/build}}
build=$(cd "$build" && pwd)
bin=$build/cardfab
rt=$build/bench/pcsc_roundtrip
seconds=${BENCH_SECONDS:-2}
rounds=${BENCH_ROUNDS:-3}
reader='Virtual PCD 00 00'
sock=/run/pcscd/pcscd.comm

for f in "$bin" "$rt"; do
	if [ ! -x "$f" ]; then
		echo "pcsc_roundtrip: $f is missing: build first (cmake --build $build)" >&2
		exit 1
	fi
done

if [ -z "${CARDFAB_BENCH_NS:-}" ] && [ "$(id -u)" -eq 0 ] &&
	unshare --mount --net --propagation private true 2>/dev/null &&
	command -v ip >/dev/null; then
	mkdir -p /run/pcscd
	exec unshare --mount --net --propagation private env \
		CARDFAB_BENCH_NS=1 bash -c '
		mount -t tmpfs -o mode=0755 tmpfs /run/pcscd &&
		ip link set lo up && exec bash "$0" "$1"' "${BASH_SOURCE[0]}" "$build"
fi
if [ -z "${CARDFAB_BENCH_NS:-}" ] && [ -S "$sock" ]; then
	echo "pcsc_roundtrip: a pcscd already runs here: stop it, or run as root (private namespaces)" >&2
	exit 1
fi

work=$(mktemp -d)
pids=()
cleanup()
{
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

wait_for()
{ # wait_for SECONDS WHAT CMD...
	local i limit=$(($1 * 10)) what=$2
	shift 2
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "pcsc_roundtrip: timed out waiting for $what" >&2
	exit 1
}
card_in() { "$bin" readers 2>/dev/null | grep -qxF "card   pcsc:$reader"; }
card_out() { ! card_in; }

# The chip: EF 0101 of 1,024 bytes in the MF, 128 bytes written.
"$bin" chip new --out chip.img --transport-code 3132333435363738 >/dev/null
data=$(printf '%02X' $(seq 0 127))
out=$("$bin" apdu --card chip.img 0020001F083132333435363738 \
	"00E00000 0D 620B 820101 83020101 80020400" "00D6000080 $data" \
	00A4000C020101 00B0000010 0084000008)
[ "$(echo "$out" | awk '{print $NF}' | sort -u)" = 9000 ] || {
	echo "pcsc_roundtrip: making the chip failed: $out" >&2
	exit 1
}

pcscd -f >pcscd.log 2>&1 &
pids+=($!)
wait_for 10 "pcscd's socket" test -S "$sock"
wait_for 10 "'$reader'" bash -c "'$bin' readers | grep -qF '$reader'"

results=()
# measure LABEL EXPECT CMD...: start the card, measure, stop it.
measure()
{
	local label=$1 expect=$2 pid line secs=$seconds
	shift 2
	"$@" >card.log 2>&1 &
	pid=$!
	pids+=("$pid")
	wait_for 15 "$label in the reader" card_in
	# A stalled card: enough time for ~40 round trips.
	[ "$label" = vsmartcard_stall ] || [ "$label" = floor_stall ] &&
		secs=$(awk -v s="$seconds" 'BEGIN { print (s < 2 ? 2 : s) }')
	if ! line=$("$rt" client --reader "$reader" --seconds "$secs" \
		--expect "$expect" --label "$label"); then
		echo "pcsc_roundtrip: $label failed; its log:" >&2
		cat card.log >&2
		exit 1
	fi
	results+=("$line")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	wait_for 10 "$label out of the reader" card_out
}

py=/usr/bin/python3
# The floor and cardfab in alternating pairs (the machine may be shared:
# pairs measured back to back compare best), then the others once.
for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then
		measure floor sw "$rt" floor
		measure cardfab full "$bin" vicc --card chip.img
	else
		measure cardfab full "$bin" vicc --card chip.img
		measure floor sw "$rt" floor
	fi
done
measure vsmartcard_nostall full "$py" "$here/pcsc_roundtrip_vicc.py" --no-stall
measure vsmartcard_stall full "$py" "$here/pcsc_roundtrip_vicc.py"
measure floor_stall sw "$rt" floor --stall

printf '%s\n' "${results[@]}" >results.txt
awk -v seconds="$seconds" -v rounds="$rounds" '
function name(l) {
	if (l == "floor") return "floor (C, 9000 at once)"
	if (l == "cardfab") return "cardfab vicc (card OS chip)"
	if (l == "vsmartcard_nostall") return "vsmartcard vicc, stall removed"
	if (l == "vsmartcard_stall") return "vsmartcard vicc, as packaged"
	if (l == "floor_stall") return "floor without NODELAY/QUICKACK"
	return l
}
function sort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
}
{ label[NR] = $2; n[NR] = $3; rate[NR] = $5; p50[NR] = $6; p99[NR] = $7
  s[NR] = $8; r16[NR] = $9; r128[NR] = $10; c8[NR] = $11
  if ($2 == "floor") fl[++nf] = NR
  if ($2 == "cardfab") cf[++nc] = NR }
END {
	# The floor of each pair, and the ratio of each pair.
	for (k = 1; k <= nf; k++) {
		ratio[k] = rate[cf[k]] / rate[fl[k]]
		frates[k] = rate[fl[k]]
	}
	for (k = 1; k <= nf; k++) rs[k] = ratio[k]
	sort(rs, nf)
	median = rs[int((nf + 1) / 2)]
	sort(frates, nf)
	floor = frates[int((nf + 1) / 2)]
	printf "APDU round trips through pcscd + vpcd, %s s per card and round, one run\n", seconds
	printf "%-34s %8s %9s %9s %9s  %s\n", "card", "APDUs", "APDU/s", "p50 us", "p99 us", "vs floor"
	for (i = 1; i <= NR; i++)
		printf "%-34s %8d %9.0f %9.1f %9.1f  %7.3f\n", name(label[i]), n[i], rate[i], p50[i], p99[i], rate[i] / floor
	printf "\np50 per APDU (us)                   select   read16  read128    chal8\n"
	for (i = 1; i <= NR; i++)
		printf "%-34s %8.1f %8.1f %8.1f %8.1f\n", name(label[i]), s[i], r16[i], r128[i], c8[i]
	printf "\ncardfab vicc / floor, pair by pair:"
	for (k = 1; k <= nf; k++) printf " %.3f", ratio[k]
	printf "\nfloor (median of %d runs): %.0f APDU/s; cardfab vicc, median of the pairs: %.1f%% of the floor (goal: 90%%): %s\n", nf, floor, 100 * median, (median >= 0.9 ? "met" : "MISSED")
}' results.txt
echo
echo "reproduce: bash bench/pcsc_roundtrip.sh $([ "$build" = "$root/build" ] || echo "$build")"
