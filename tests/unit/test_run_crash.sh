#!/usr/bin/env bash
# test_run_crash.sh - `cardfab run` killed with SIGKILL at random moments
# and run again after every kill ends with the report a clean run gives.
#
# One order (150 campus cards, 2 stations, a fixed seed) is run twice in
# two work folders: once cleanly, and once killed (kill -9) after a random
# delay, rerun with the same command, killed again..., until 20 kills have
# hit a running process, 5 of them with a card half-way through its
# initialization and 5 half-way through its personalization (a card
# claimed and not finished); then the last rerun ends by itself.
#
# The delays are drawn in a window that starts at a fortieth of the clean
# run's time (so the token, the keys, the data preparation and the line
# are hit too, not only parts 6 and 7); it grows by 30 % when a killed run
# got nowhere and shrinks by 25 % when it got on (rows in the database,
# files in the token): a slow build (sanitizers, a loaded machine) gets a
# wider window, never a timeout. Once the line is done (cards in the
# database) the window starts small again: the line takes a transaction a
# wafer, parts 6 and 7 a few milliseconds a card. When a rerun ends by
# itself before the kills are counted, another round starts in a fresh
# folder (at most 6).
#
# After each killed round:
#   - `cardfab report` of both databases is the same text, but for the
#     HTML path and the events count (the event log is the whole history:
#     every claim a kill interrupted is claimed, and logged, again); the
#     events themselves, claims left out, are the same per part, step and
#     outcome (SQL);
#   - every holder issued exactly once, no card issued twice, every
#     reject with a reason, no claim left (SQL, python3's sqlite3);
#   - every issued chip image is OPERATIONAL (`cardfab apdu`: GET DATA
#     DF30, tag 81 = 05), the mailer has one line a card, one face a card.
# A chip killed half-way through its initialization or personalization
# is completed by the next run: a kill adds no reject, so the yields are
# those of the clean run.
#
# Environment: CARDFAB_CRASH_SEED (the kills' random seed, printed),
# CARDFAB_CRASH_KILLS (kills wanted, default 20), CARDFAB_CRASH_MIDCARD
# (of which mid-init and mid-perso each, default 5).
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_run_crash: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_run_crash SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi
unset CARDFAB_TOKEN_DIR CARDFAB_PKCS11_MODULE CARDFAB_TOKEN \
	CARDFAB_TOKEN_PIN_FILE CARDFAB_TOKEN_PIN SOFTHSM2_CONF CARDFAB_DB || true

work=$(pwd)/test_run_crash.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"

N=150
NAME=CRASH150
KILLS_WANTED=${CARDFAB_CRASH_KILLS:-20}
MIDCARD_WANTED=${CARDFAB_CRASH_MIDCARD:-5}
seed=${CARDFAB_CRASH_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$seed
echo "test_run_crash: kill seed $seed (CARDFAB_CRASH_SEED=$seed repeats it)"

die()
{
	echo "test_run_crash: FAIL: $*" >&2
	exit 1
}

now_ms()
{
	echo $(($(date +%s%N) / 1000000))
}

# sql DB QUERY: the rows, one a line, columns separated by '|'.
sql()
{
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for r in c.execute(sys.argv[2]).fetchall():
    print("|".join("" if v is None else str(v) for v in r))
EOF
}

head -n $((N + 1)) "$src/orders/demo-holders.csv" >holders.csv
cat >order.yaml <<EOF
# test_run_crash: a small order, killed and resumed
name: $NAME
profile: $src/profiles/campus.yaml
holders: holders.csv
quantity: $N
seed: 11
stations: 2
line:
  lots: 1
  wafers-per-lot: 1
  wafer-diameter-mm: 100
  serial-prefix: 0x43460E21
  fab-date: 2026-11-02
EOF

# report DIR OUT: the text report of DIR's database, the HTML path and
# the events count (see above) taken out.
report()
{
	"$bin" report "$NAME" --db "$1/cardfab.db" --html "$1/r.html" \
		>"$2.raw" 2>"$2.err" || {
		cat "$2.raw" "$2.err" >&2
		die "cardfab report on $1 failed"
	}
	grep -v -e '^HTML report: ' -e '^  events  ' "$2.raw" >"$2"
	grep -q '^Yields per part' "$2" || die "$1: no yields in the report"
	[ "$(grep -c -e '^HTML report: ' -e '^  events  ' "$2.raw")" -eq 2 ] ||
		die "$1: the report's last line or events count moved"
}

# events DIR: the event log per part, step and outcome, claims left out.
events()
{
	sql "$1/cardfab.db" "SELECT part, step, outcome, count(*) FROM event
		WHERE step <> 'claim' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
}

# ---------------------------------------------------------------- clean

t0=$(now_ms)
"$bin" run order.yaml --work clean >clean.out 2>clean.err || {
	cat clean.out clean.err >&2
	die "the clean run failed"
}
T=$(($(now_ms) - t0))
grep -q "^$N of $N holders issued a card" clean.out ||
	die "the clean run did not issue $N cards: $(tail -n 3 clean.out)"
report clean clean.report
events clean >clean.events
echo "test_run_crash: clean run of $N cards: $T ms"

# ---------------------------------------------------------------- checks

# check DIR ROUND: the folder of a finished killed round against the
# clean one.
check()
{
	local d=$1 r=$2 db=$1/cardfab.db v
	report "$d" "kill$r.report"
	if ! cmp -s clean.report "kill$r.report"; then
		diff clean.report "kill$r.report" | sed 's/^/  /' >&2
		die "round $r: the report after the kills differs from the clean run's (above: < clean, > killed)"
	fi
	events "$d" >"kill$r.events"
	cmp -s clean.events "kill$r.events" || {
		diff clean.events "kill$r.events" | sed 's/^/  /' >&2
		die "round $r: the event log differs from the clean run's"
	}
	v=$(sql "$db" "SELECT count(*), sum(issued) FROM holder")
	[ "$v" = "$N|$N" ] || die "round $r: holders, issued: $v, $N|$N expected"
	v=$(sql "$db" "SELECT count(*) FROM (SELECT holder_id FROM perso_run
		WHERE outcome = 1 GROUP BY holder_id HAVING count(*) > 1)")
	[ "$v" = 0 ] || die "round $r: $v holders issued more than once"
	v=$(sql "$db" "SELECT count(*), count(DISTINCT card_id),
		count(DISTINCT holder_id) FROM card_holder")
	[ "$v" = "$N|$N|$N" ] || die "round $r: card_holder rows, cards, holders: $v"
	v=$(sql "$db" "SELECT count(*) FROM card WHERE stage = 3")
	[ "$v" = "$N" ] || die "round $r: $v cards issued, $N expected"
	v=$(sql "$db" "SELECT (SELECT count(*) FROM init_run WHERE outcome = 2
		AND reason = '') + (SELECT count(*) FROM perso_run
		WHERE outcome = 2 AND reason = '')")
	[ "$v" = 0 ] || die "round $r: $v rejects without a reason"
	v=$(sql "$db" "SELECT count(*) FROM card WHERE claim_until_us IS NOT NULL
		OR claim_station IS NOT NULL")
	[ "$v" = 0 ] || die "round $r: $v cards still claimed"
	[ "$(wc -l <"$d/mailer.txt")" -eq "$N" ] ||
		die "round $r: $(wc -l <"$d/mailer.txt") mailer lines for $N cards"
	[ "$(cut -f3 "$d/mailer.txt" | sort -u | wc -l)" -eq "$N" ] ||
		die "round $r: a card twice in the mailer"
	[ "$(cut -f2 "$d/mailer.txt" | sort -u | wc -l)" -eq "$N" ] ||
		die "round $r: a holder twice in the mailer"
	[ "$(ls "$d/faces" | grep -c '\.svg$')" -eq "$N" ] ||
		die "round $r: not $N card faces"
	# Every issued chip is OPERATIONAL, and the mailer names the cards
	# issued.
	sql "$db" "SELECT c.serial FROM chip c JOIN die d ON c.die_id = d.id
		JOIN module m ON m.die_id = d.id JOIN card k ON k.module_id = m.id
		WHERE k.stage = 3 ORDER BY c.serial" >issued.serials
	cut -f3 "$d/mailer.txt" | sort | cmp -s - issued.serials ||
		die "round $r: the mailer's cards are not the cards issued"
	while read -r s; do
		"$bin" apdu --card "$d/chips/$s.img" 00A4000C023F00 00CADF3000 \
			>a.out 2>&1 || die "round $r: apdu on chip $s: $(cat a.out)"
		grep -q '810105' a.out ||
			die "round $r: chip $s is not OPERATIONAL: $(cat a.out)"
	done <issued.serials
}

# ---------------------------------------------------------------- kills

# state DIR: how far the killed runs got, "SIGNATURE PHASE": the signature
# changes when a run made progress; the phase is where the kill hit
# (a card claimed and not finished: the kill cut that card's init or
# perso half-way).
state()
{
	/usr/bin/python3 - "$1" <<'EOF2'
import os, sqlite3, sys
d = sys.argv[1]
files = sum(len(f) for _, _, f in os.walk(os.path.join(d, "hsm")))
sig = [files, int(os.path.exists(os.path.join(d, os.environ["NAME"] + ".batch")))]
phase, n = "setup", []
db = os.path.join(d, "cardfab.db")
if os.path.exists(db):
    c = sqlite3.connect(db)
    q = lambda s: c.execute(s).fetchone()[0]
    try:
        n = [q("SELECT count(*) FROM " + t) for t in
             ("holder", "die", "chip", "module", "card", "init_run", "perso_run")]
        ci = q("SELECT count(*) FROM card WHERE claim_station IS NOT NULL AND stage = 1")
        cp = q("SELECT count(*) FROM card WHERE claim_station IS NOT NULL AND stage = 2")
    except sqlite3.Error:
        n, ci, cp = [], 0, 0
    sig += n
    if ci:
        phase = "init-card"
    elif cp:
        phase = "perso-card"
    elif n and (n[5] or n[6]):
        phase = "between-cards"
    elif n and n[0]:
        phase = "line"
    else:
        phase = "mes"
print(".".join(map(str, sig)), phase, n[4] if len(n) > 4 else 0)
EOF2
}
export NAME

kills=0  # kills that hit a running process
runs=0
round=0
declare -A phases=()
w0=$((T / 40))
[ "$w0" -ge 40 ] || w0=40
window=$w0
enough()
{
	[ "$kills" -ge "$KILLS_WANTED" ] &&
		[ "${phases[init-card]:-0}" -ge "$MIDCARD_WANTED" ] &&
		[ "${phases[perso-card]:-0}" -ge "$MIDCARD_WANTED" ]
}
while ! enough; do
	round=$((round + 1))
	[ "$round" -le 6 ] ||
		die "only $kills kills hit a run in 6 rounds (${phases[init-card]:-0} mid-init, ${phases[perso-card]:-0} mid-perso)"
	d=k$round
	rm -rf "$d"
	round_kills=0
	last=none
	line_done=0
	while :; do
		runs=$((runs + 1))
		[ "$runs" -le 500 ] || die "no run finished in 500 tries"
		if enough; then
			# enough kills: the last run ends by itself
			"$bin" run order.yaml --work "$d" >run.out 2>run.err || {
				cat run.out run.err >&2
				die "the run after the last kill failed"
			}
			break
		fi
		"$bin" run order.yaml --work "$d" >run.out 2>run.err &
		pid=$!
		ms=$((((RANDOM << 15) | RANDOM) % window))
		sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "round $round: run $runs ended by itself after $ms ms of $window" >>kills.log
			break
		elif [ "$rc" -ne 137 ]; then
			cat run.out run.err >&2
			die "run $runs (round $round, after $round_kills kills) exited $rc"
		fi
		kills=$((kills + 1))
		round_kills=$((round_kills + 1))
		read -r sig phase cards < <(state "$d")
		phases[$phase]=$((${phases[$phase]:-0} + 1))
		echo "round $round kill $kills: after $ms ms of $window: $phase ($sig)" >>kills.log
		# The window grows when the run got nowhere (a slow start, a
		# wafer of the line, which is one transaction) and shrinks
		# when it got on: it settles where most kills let a run make
		# a little progress, whatever the speed of the build.
		if [ "$line_done" = 0 ] && [ "$cards" -gt 0 ]; then
			# past the line: parts 6 and 7 take cards one by one,
			# a few milliseconds each; back to a small window
			line_done=1
			window=$w0
		elif [ "$sig" = "$last" ]; then
			window=$((window * 13 / 10 + 1))
		else
			window=$((window * 3 / 4))
			[ "$window" -ge 20 ] || window=20
		fi
		last=$sig
	done
	check "$d" "$round"
	grep -q "^$N of $N holders issued a card" run.out ||
		die "round $round: the last run did not say $N cards issued: $(tail -n 3 run.out)"
	echo "round $round: $round_kills kills, the report is the clean run's;" \
		"kills so far $kills in $runs runs"
done
hist=
for p in setup mes line init-card between-cards perso-card; do
	hist="$hist $p ${phases[$p]:-0},"
done

echo "test_run_crash: ok ($kills SIGKILLs of running runs in $runs runs," \
	"$round round(s); kills by phase:${hist%,}; clean run $T ms," \
	"last kill window $window ms)"
