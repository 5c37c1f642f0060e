#!/usr/bin/env bash
# test_run.sh - `cardfab run`: a small production order (60 campus cards,
# 2 stations) from the holder file to issued cards, on SQLite, with the
# work folder's own SoftHSM2 token made by the run.
#
# Covers: the run ends with the report and the HTML path as its last
# line; the report's yields and counts equal SQL queries of the database
# (python3's sqlite3); every holder issued exactly once, every issued
# card with the personalizer's CPLC stamp in the MES; the PIN mailer has
# one line a card, the faces one SVG a card; `cardfab apdu` finds a
# sampled chip OPERATIONAL (GET DATA DF30, tag 81 = 05); a rerun of the
# same command changes nothing (database dump, mailer, faces); a second
# order killed (SIGKILL) again and again at growing delays and rerun
# each time ends with every holder issued at most once and the mailer
# without duplicates; `cardfab station` on a prepared order
# (--prepare-only) does parts 6 and 7, on SQLite and on a throwaway
# PostgreSQL server (init and perso stations at once, perso with
# --follow; only noted when PostgreSQL cannot run here); order file
# errors name the file,
# the line and the field. No token PIN in any output.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_run: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_run SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi
# The token options of the user's shell must not leak in: the run makes
# its own token.
unset CARDFAB_TOKEN_DIR CARDFAB_PKCS11_MODULE CARDFAB_TOKEN \
	CARDFAB_TOKEN_PIN_FILE CARDFAB_TOKEN_PIN SOFTHSM2_CONF || true

work=$(pwd)/test_run.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fails=0
all_out=$work/all-output
: >"$all_out"

fail()
{
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

run()
{
	local want=$1 rc=0
	shift
	"$bin" "$@" >out 2>err || rc=$?
	cat out err >>"$all_out"
	if [ "$rc" -ne "$want" ]; then
		fail "cardfab $* exited $rc, expected $want"
		sed 's/^/  out: /' out >&2
		sed 's/^/  err: /' err >&2
	fi
}

expect()
{
	if ! grep -q -- "$2" "$1"; then
		fail "'$2' not in $1"
		sed 's/^/  /' "$1" >&2
	fi
}

# sql DB QUERY: one value (the first column of the first row).
sql()
{
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
r = c.execute(sys.argv[2]).fetchone()
print(r[0] if r and r[0] is not None else 0)
EOF
}

# dump DB: the whole database as SQL text, for before/after comparisons.
dump()
{
	/usr/bin/python3 - "$1" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for line in c.iterdump():
    print(line)
EOF
}

# order NAME N PREFIX FILE: an order of N campus cards.
order()
{
	head -n $(($2 + 1)) "$src/orders/demo-holders.csv" >"$1-holders.csv"
	cat >"$4" <<EOF
# a test order
name: $1
profile: $src/profiles/campus.yaml
holders: $1-holders.csv
quantity: $2
seed: 7
stations: 2
line:
  lots: 1
  wafers-per-lot: 1
  wafer-diameter-mm: 100
  serial-prefix: $3
  fab-date: 2026-11-02
EOF
}

# ---------------------------------------------------------------- a run

order T60 60 0x43460E01 t60.yaml
run 0 run t60.yaml --work w60
db=w60/cardfab.db
html=$(tail -n 1 out | sed -n 's/^report: //p')
[ -n "$html" ] && [ -s "$html" ] || fail "the last line names no HTML report"
expect out "60 of 60 holders issued a card"
cp out report.txt

# The report's yields per part and counts against the database.
oid=$(sql "$db" "SELECT id FROM production_order WHERE name = 'T60'")
dies="SELECT count(*) FROM die d JOIN wafer w ON d.wafer_id = w.id JOIN wafer_lot l ON w.lot_id = l.id WHERE l.order_id = $oid"
probe_in=$(sql "$db" "$dies")
probe_out=$(sql "$db" "$dies AND d.bin = 1")
init_in=$(sql "$db" "SELECT count(DISTINCT r.card_id) FROM init_run r JOIN card c ON r.card_id = c.id WHERE c.order_id = $oid")
init_out=$(sql "$db" "SELECT count(DISTINCT r.card_id) FROM init_run r JOIN card c ON r.card_id = c.id WHERE c.order_id = $oid AND r.outcome = 1")
perso_in=$(sql "$db" "SELECT count(DISTINCT r.card_id) FROM perso_run r JOIN card c ON r.card_id = c.id WHERE c.order_id = $oid")
perso_out=$(sql "$db" "SELECT count(DISTINCT r.card_id) FROM perso_run r JOIN card c ON r.card_id = c.id WHERE c.order_id = $oid AND r.outcome = 1")
yields=$(sed -n '/^Yields per part/,/^$/p' report.txt)
for row in "probe die $probe_in $probe_out" "init card $init_in $init_out" \
	"perso card $perso_in $perso_out"; do
	set -- $row
	line=$(printf '%s\n' "$yields" | awk -v p="$1" '$1 == p')
	set -- $line
	want=($row)
	if [ "${3:-}" != "${want[2]}" ] || [ "${4:-}" != "${want[3]}" ]; then
		fail "report says '$line', the database ${want[*]}"
	fi
done
[ "$init_out" -eq 60 ] && [ "$perso_out" -eq 60 ] ||
	fail "init $init_out, perso $perso_out cards out of 60"
issued=$(sql "$db" "SELECT count(*) FROM card WHERE order_id = $oid AND stage = 3")
counts_issued=$(awk '$1 == "issued" { print $2; exit }' report.txt)
[ "$counts_issued" = "$issued" ] ||
	fail "report counts $counts_issued issued, the database $issued"

# Every holder issued exactly once.
h_issued=$(sql "$db" "SELECT count(*) FROM holder WHERE order_id = $oid AND issued = 1")
[ "$h_issued" -eq 60 ] || fail "$h_issued holders issued, 60 expected"
twice=$(sql "$db" "SELECT count(*) FROM (SELECT holder_id FROM perso_run WHERE outcome = 1 GROUP BY holder_id HAVING count(*) > 1)")
[ "$twice" -eq 0 ] || fail "$twice holders issued more than once"
cards_twice=$(sql "$db" "SELECT count(*) FROM (SELECT card_id FROM perso_run WHERE outcome = 1 GROUP BY card_id HAVING count(*) > 1)")
[ "$cards_twice" -eq 0 ] || fail "$cards_twice cards issued more than once"
# The CPLC stamps of parts 6 and 7 are in the MES for every issued card.
stamped=$(sql "$db" "SELECT count(*) FROM chip WHERE cplc_personalizer = 17222 AND cplc_prepersonalizer = 17222")
[ "$stamped" -eq 60 ] || fail "$stamped chips with both CPLC stamps, 60 expected"

# The mailer: one line a card, its serial unique; one face a card.
[ "$(wc -l <w60/mailer.txt)" -eq 60 ] || fail "mailer.txt: not 60 lines"
[ "$(cut -f3 w60/mailer.txt | sort -u | wc -l)" -eq 60 ] ||
	fail "mailer.txt: a serial twice"
[ "$(cut -f2 w60/mailer.txt | sort -u | wc -l)" -eq 60 ] ||
	fail "mailer.txt: a holder twice"
[ "$(ls w60/faces/*.svg | wc -l)" -eq 60 ] || fail "not 60 card faces"
[ "$(stat -c %a w60/hsm/user-pin)" = 600 ] || fail "user-pin not mode 0600"

# A sampled chip is OPERATIONAL, and it is the card the mailer names.
serial=$(sed -n '17p' w60/mailer.txt | cut -f3)
[ -f "w60/chips/$serial.img" ] || fail "no chip image for $serial"
run 0 apdu --card "w60/chips/$serial.img" 00A4000C023F00 00CADF3000
expect out "810105"
grep -q "<svg" "w60/faces/$serial.svg" || fail "face of $serial is no SVG"

# A rerun changes nothing.
dump "$db" >before.sql
cp w60/mailer.txt mailer.before
ls w60/faces >faces.before
run 0 run t60.yaml --work w60
expect out "60 of 60 holders issued a card"
dump "$db" >after.sql
cmp -s before.sql after.sql || {
	fail "a rerun changed the database"
	diff before.sql after.sql | head -20 >&2
}
cmp -s mailer.before w60/mailer.txt || fail "a rerun changed the mailer"
ls w60/faces | cmp -s faces.before - || fail "a rerun changed the faces"

# ---------------------------------------------------------------- kills

# Killed again and again, each rerun goes on; the end is consistent.
# kill DELAY: one run of K100 killed (SIGKILL) after DELAY seconds, through
# a shell whose stderr is dropped (its "Killed" notice); 0 if it ended.
kill_run()
{
	local rc=0
	bash -c 'timeout -s KILL "$@" >>"$0" 2>&1; exit $?' "$all_out" \
		"$1" "$bin" run k100.yaml --work wk 2>/dev/null || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 137 ] || fail "run k100 exited $rc"
	return "$rc"
}
order K100 100 0x43460E02 k100.yaml
# early: in the token, the keys, the preparation or the line
kill_run 0.3 || kill_run 0.6 || true
run 0 run k100.yaml --work wk --prepare-only
# then in parts 6 and 7, a little further each time
delay=0.2
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	kill_run "$delay" && break
	delay=$(awk -v d="$delay" 'BEGIN { print d + 0.15 }')
done
run 0 run k100.yaml --work wk
db=wk/cardfab.db
oid=$(sql "$db" "SELECT id FROM production_order WHERE name = 'K100'")
twice=$(sql "$db" "SELECT count(*) FROM (SELECT holder_id FROM perso_run WHERE outcome = 1 GROUP BY holder_id HAVING count(*) > 1)")
[ "$twice" -eq 0 ] || fail "killed runs: $twice holders issued twice"
issued=$(sql "$db" "SELECT count(*) FROM card WHERE order_id = $oid AND stage = 3")
h_issued=$(sql "$db" "SELECT count(*) FROM holder WHERE order_id = $oid AND issued = 1")
[ "$issued" -eq "$h_issued" ] || fail "killed runs: $issued cards, $h_issued holders issued"
# A card cut half-way through its initialization is rejected (it cannot
# be resumed); every other card built is issued.
init_ok=$(sql "$db" "SELECT count(*) FROM init_run r JOIN card c ON r.card_id = c.id WHERE c.order_id = $oid AND r.outcome = 1")
[ "$issued" -eq "$init_ok" ] ||
	fail "killed runs: $issued issued of $init_ok cards initialized"
[ "$issued" -ge 80 ] || fail "killed runs: only $issued of 100 issued"
[ "$(wc -l <wk/mailer.txt)" -eq "$issued" ] ||
	fail "killed runs: mailer has $(wc -l <wk/mailer.txt) lines for $issued cards"
[ "$(cut -f3 wk/mailer.txt | sort -u | wc -l)" -eq "$issued" ] ||
	fail "killed runs: a serial twice in the mailer"
left=$(sql "$db" "SELECT count(*) FROM card WHERE order_id = $oid AND claim_until_us IS NOT NULL AND stage IN (1, 2)")
[ "$left" -eq 0 ] || echo "note: $left cards still claimed" >&2

# ---------------------------------------------------------------- stations

# Prepared by run, worked by two station processes at once.
order S40 40 0x43460E03 s40.yaml
run 0 run s40.yaml --work ws --prepare-only
expect out "cardfab station"
for part in init perso; do
	"$bin" station --order S40 --work ws --part "$part" --name "s-$part-a" \
		>sa.out 2>&1 &
	pa=$!
	"$bin" station --order S40 --work ws --part "$part" --name "s-$part-b" \
		--threads 2 >sb.out 2>&1 || fail "station $part b failed"
	wait "$pa" || fail "station $part a failed"
	cat sa.out sb.out >>"$all_out"
done
db=ws/cardfab.db
h_issued=$(sql "$db" "SELECT count(*) FROM holder WHERE issued = 1")
[ "$h_issued" -eq 40 ] || fail "stations: $h_issued holders of 40 issued"
[ "$(wc -l <ws/mailer.txt)" -eq 40 ] || fail "stations: mailer not 40 lines"
run 0 run s40.yaml --work ws
expect out "40 of 40 holders issued a card"

# On PostgreSQL (a throwaway server from test_mes_pg.sh, when it can run
# here): init and perso stations started together, perso with --follow.
order P30 30 0x43460E04 p30.yaml
cat >pg.sh <<'EOF'
set -e
bin=$1
u=$CARDFAB_MES_PG_URL
"$bin" run p30.yaml --work wp --db "$u" --prepare-only
"$bin" station --order P30 --work wp --db "$u" --part perso --name pp \
	--threads 2 --follow >pp.out 2>&1 &
pp=$!
"$bin" station --order P30 --work wp --db "$u" --part init --name pi1 &
pi=$!
"$bin" station --order P30 --work wp --db "$u" --part init --name pi2
wait "$pi"
wait "$pp"
cat pp.out
"$bin" run p30.yaml --work wp --db "$u"
EOF
rc=0
bash "$src/tests/unit/test_mes_pg.sh" --run bash pg.sh "$bin" >out 2>err || rc=$?
cat out err >>"$all_out"
if [ "$rc" -eq 77 ]; then
	echo "test_run: note: PostgreSQL cannot run here: stations on" \
		"PostgreSQL NOT tested" >&2
elif [ "$rc" -ne 0 ]; then
	fail "stations on PostgreSQL exited $rc"
	sed 's/^/  /' err >&2
else
	expect out "station pp: 30 cards issued"
	expect out "30 of 30 holders issued a card"
	[ "$(wc -l <wp/mailer.txt)" -eq 30 ] || fail "PostgreSQL: mailer not 30 lines"
fi

# ---------------------------------------------------------------- errors

printf 'name: X\nprofile: p.yaml\nholders: h.csv\nquantity: 10\nline:\n  lots: many\n' >bad.yaml
run 1 run bad.yaml
expect err "bad.yaml:6: line.lots: expected 1 to 4095 lots"
printf 'name: X\nprofile: p.yaml\nholders: h.csv\nquantity: 10\nsede: 3\n' >bad2.yaml
run 1 run bad2.yaml
expect err "bad2.yaml:5: sede: unknown key"
printf 'name: X\nprofile: p.yaml\nholders: h.csv\n' >bad3.yaml
run 1 run bad3.yaml
expect err "bad3.yaml:1: quantity: missing"
run 2 run
run 2 station --order X

# No token PIN in any output.
for f in w60/hsm/user-pin w60/hsm/so-pin wk/hsm/user-pin; do
	pin=$(head -n 1 "$f")
	if grep -q -- "$pin" "$all_out"; then
		fail "a token PIN ($f) appears in the outputs"
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "test_run: $fails failure(s)" >&2
	exit 1
fi
echo "test_run: ok"
