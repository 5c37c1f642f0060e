#!/usr/bin/env bash
# test_factory_pg.sh - a factory of four station processes on one
# PostgreSQL MES: an order of 2,000 cards issued exactly once, one station
# killed with SIGKILL mid-run and restarted under its name.
#
# On a throwaway PostgreSQL server (tests/unit/test_mes_pg.sh --run: initdb
# and pg_ctl in a temporary folder, a unix socket only, fsync off):
#   - `cardfab run --prepare-only` makes the order ready (token, keys,
#     2,000 holders prepared, parts 2 to 5, the line sized by the run);
#   - four `cardfab station` processes work it at once: two init stations
#     (fi-a, fi-b) and two perso stations (fp-a, fp-b, --follow);
#   - fi-b is killed (kill -9) once a quarter of the cards are initialized
#     and fp-b once a third are issued, each holding a card, and each is
#     started again under its name: it must get its card back at once
#     (the card's run is recorded by that station, under a claim token
#     above 1, the perso card for the holder it had reserved);
#   - at the end (psql): every holder issued exactly one card, no card
#     issued twice, every card issued, every reject recorded with a reason,
#     no claim left; the mailer has one line a card, one face a card;
#   - `cardfab report` prints counts and yields that are exactly the SQL
#     counts of the database (every line of Counts, in and out of every
#     part); a final `cardfab run` finds nothing to do and says 2000 of
#     2000.
#
# A sanitizer build (CARDFAB_SANITIZED=1 in the test environment, set by
# CMakeLists.txt for CARDFAB_SANITIZE) runs 500 cards instead, and says
# so; CARDFAB_FACTORY_CARDS sets the number by hand.
#
# Exit 77 (skipped, loudly) when SoftHSM2 is not installed or PostgreSQL
# cannot run here.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
self=$src/tests/unit/test_factory_pg.sh

die()
{
	echo "test_factory_pg: FAIL: $*" >&2
	exit 1
}

now_ms()
{
	echo $(($(date +%s%N) / 1000000))
}

# ---------------------------------------------------------------- inside
# (run by test_mes_pg.sh --run, the server up, in the work folder)

if [ "${1:-}" = "--inner" ]; then
	U=$CARDFAB_MES_PG_URL
	N=$FACTORY_N
	pids=()

	q()
	{
		psql -X -A -t -q -v ON_ERROR_STOP=1 "$U" -c "$1"
	}

	cleanup_stations()
	{
		local p
		for p in "${pids[@]}"; do
			kill -9 "$p" 2>/dev/null || true
		done
	}
	trap cleanup_stations EXIT

	t0=$(now_ms)
	"$bin" run factory.yaml --work wf --db "$U" --prepare-only \
		>prep.out 2>prep.err || {
		cat prep.out prep.err >&2
		die "cardfab run --prepare-only failed"
	}
	grep -q "cardfab station" prep.out || die "--prepare-only printed no station command"
	oid=$(q "SELECT id FROM production_order WHERE name = 'FACTORY'")
	[ -n "$oid" ] || die "no order FACTORY in the MES"
	built=$(q "SELECT count(*) FROM card WHERE order_id = $oid AND stage = 1")
	[ "$built" -eq "$N" ] || die "$built cards built for an order of $N"
	t1=$(now_ms)
	echo "test_factory_pg: prepared $N cards in $((t1 - t0)) ms"

	# station NAME PART [--follow]: one station process, in the background
	declare -A pid_of=()
	station()
	{
		local name=$1 part=$2
		shift 2
		"$bin" station --order FACTORY --work wf --db "$U" --part "$part" \
			--name "$name" "$@" >>"$name.out" 2>&1 &
		pid_of[$name]=$!
		pids+=($!)
	}
	station fi-a init
	station fi-b init
	station fp-a perso --follow
	station fp-b perso --follow

	# wait_for WHAT SQL MIN: polls until the SQL count reaches MIN
	wait_for()
	{
		local end=$(($(now_ms) + 300000)) v
		while :; do
			v=$(q "$2")
			[ "$v" -ge "$3" ] && return 0
			[ "$(now_ms)" -lt "$end" ] || die "$1: $v after 300 s, $3 awaited"
			sleep 0.05
		done
	}

	# kill_station NAME PART SQL MIN ...: once the SQL count reaches MIN
	# and NAME holds a card, SIGKILL it; sets held to the card it held,
	# its claim token and the holder it had reserved; starts it again
	# under its name (with the options ...). A kill that fell between two
	# cards (the card finished after the look) is tried again.
	held=
	kill_station()
	{
		local name=$1 part=$2 sql=$3 min=$4 rc end try
		shift 4
		wait_for "before killing $name" "$sql" "$min"
		for try in 1 2 3 4 5; do
			end=$(($(now_ms) + 60000))
			until [ -n "$(q "SELECT k.id FROM card k JOIN station s ON
				k.claim_station = s.id WHERE s.name = '$name'")" ]; do
				[ "$(now_ms)" -lt "$end" ] ||
					die "$name holds no card to be killed with"
				kill -0 "${pid_of[$name]}" 2>/dev/null ||
					die "$name ended before it was killed"
				sleep 0.01
			done
			kill -9 "${pid_of[$name]}"
			rc=0
			wait "${pid_of[$name]}" 2>/dev/null || rc=$?
			[ "$rc" -eq 137 ] ||
				die "$name was not killed mid-run (exit $rc): $(tail -n 3 "$name.out")"
			held=$(q "SELECT k.id || ' ' || k.claim_token || ' ' ||
				coalesce(k.claim_holder, 0) FROM card k JOIN station s
				ON k.claim_station = s.id WHERE s.name = '$name'")
			station "$name" "$part" "$@"
			[ -z "$held" ] || break
			echo "test_factory_pg: $name killed between two cards;" \
				"restarted, killed again"
		done
		[ -n "$held" ] && [ "$(printf '%s\n' "$held" | wc -l)" -eq 1 ] ||
			die "$name, killed, holds the cards '$held', one expected"
		echo "test_factory_pg: $name killed (SIGKILL) holding card" \
			"${held%% *}, at $(q "$sql") of $N; restarted"
	}

	kill_station fi-b init "SELECT count(*) FROM init_run r JOIN card k
		ON r.card_id = k.id WHERE k.order_id = $oid AND r.outcome = 1" \
		$((N / 4))
	init_held=$held
	kill_station fp-b perso "SELECT count(*) FROM holder WHERE
		order_id = $oid AND issued = 1" $((N / 3)) --follow
	perso_held=$held

	# Every station ends by itself (perso: once every holder is issued).
	end=$(($(now_ms) + 300000))
	for name in fi-a fi-b fp-a fp-b; do
		while kill -0 "${pid_of[$name]}" 2>/dev/null; do
			[ "$(now_ms)" -lt "$end" ] || {
				q "SELECT stage, count(*), count(claim_station) FROM card
					WHERE order_id = $oid GROUP BY stage ORDER BY stage" >&2
				die "station $name still running after 300 s"
			}
			sleep 0.1
		done
		rc=0
		wait "${pid_of[$name]}" || rc=$?
		[ "$rc" -eq 0 ] || die "station $name exited $rc: $(tail -n 5 "$name.out")"
	done
	t2=$(now_ms)
	echo "test_factory_pg: 4 stations did parts 6 and 7 of $N cards in $((t2 - t1)) ms"

	# The restarted stations got their cards back.
	set -- $init_held
	v=$(q "SELECT count(*) FROM init_run r JOIN station s ON r.station_id = s.id
		WHERE r.card_id = $1 AND r.outcome = 1 AND s.name = 'fi-b'
		AND r.claim_token > $2")
	[ "$v" = 1 ] || die "card $1, held by fi-b when it was killed, was not initialized by fi-b restarted: $(q "SELECT * FROM init_run WHERE card_id = $1")"
	set -- $perso_held
	v=$(q "SELECT count(*) FROM perso_run r JOIN station s ON r.station_id = s.id
		WHERE r.card_id = $1 AND r.outcome = 1 AND s.name = 'fp-b'
		AND r.claim_token > $2 AND r.holder_id = $3")
	[ "$v" = 1 ] || die "card $1, held by fp-b when it was killed (holder $3), was not issued to that holder by fp-b restarted: $(q "SELECT * FROM perso_run WHERE card_id = $1")"

	# Every holder once, every card once, rejects with their reasons.
	v=$(q "SELECT count(*) || ' ' || coalesce(sum(issued), 0) FROM holder WHERE order_id = $oid")
	[ "$v" = "$N $N" ] || die "holders, issued: $v; $N $N expected"
	v=$(q "SELECT count(*) || ' ' || count(DISTINCT r.card_id) || ' ' ||
		count(DISTINCT r.holder_id) FROM perso_run r JOIN card k
		ON r.card_id = k.id WHERE k.order_id = $oid AND r.outcome = 1")
	[ "$v" = "$N $N $N" ] || die "perso runs issued, cards, holders: $v; $N $N $N expected"
	v=$(q "SELECT count(*) || ' ' || count(DISTINCT c.card_id) || ' ' ||
		count(DISTINCT c.holder_id) FROM card_holder c JOIN card k
		ON c.card_id = k.id WHERE k.order_id = $oid")
	[ "$v" = "$N $N $N" ] || die "card_holder rows, cards, holders: $v; $N $N $N expected"
	v=$(q "SELECT count(*) FROM card_holder c JOIN perso_run r ON
		r.card_id = c.card_id AND r.outcome = 1 WHERE r.holder_id <> c.holder_id")
	[ "$v" = 0 ] || die "$v cards linked to another holder than their perso run's"
	v=$(q "SELECT count(*) FROM card WHERE order_id = $oid AND stage = 3")
	[ "$v" = "$N" ] || die "$v cards issued, $N expected"
	v=$(q "SELECT count(*) FROM card WHERE order_id = $oid AND stage IN (1, 2)")
	[ "$v" = 0 ] || die "$v cards left unfinished"
	v=$(q "SELECT count(*) FROM card WHERE order_id = $oid AND
		(claim_station IS NOT NULL OR claim_until_us IS NOT NULL)")
	[ "$v" = 0 ] || die "$v cards still claimed"
	v=$(q "SELECT (SELECT count(*) FROM init_run WHERE outcome = 2 AND
		trim(reason) = '') + (SELECT count(*) FROM perso_run WHERE
		outcome = 2 AND trim(reason) = '')")
	[ "$v" = 0 ] || die "$v rejected runs without a reason"
	# a rejected card: its card body failed part 5, or a run rejected it
	# with a reason
	v=$(q "SELECT count(*) FROM card k WHERE k.order_id = $oid AND k.stage = 4
		AND k.embed_pass = 1 AND k.print_pass = 1 AND NOT EXISTS (SELECT 1
		FROM init_run r WHERE r.card_id = k.id AND r.outcome = 2 AND
		r.reason <> '') AND NOT EXISTS (SELECT 1 FROM perso_run r WHERE
		r.card_id = k.id AND r.outcome = 2 AND r.reason <> '')")
	[ "$v" = 0 ] || die "$v cards rejected with no reason recorded"
	rejects=$(q "SELECT count(*) FROM card WHERE order_id = $oid AND stage = 4")
	[ "$(wc -l <wf/mailer.txt)" -eq "$N" ] ||
		die "$(wc -l <wf/mailer.txt) mailer lines for $N cards"
	[ "$(cut -f3 wf/mailer.txt | sort -u | wc -l)" -eq "$N" ] ||
		die "a card twice in the mailer"
	[ "$(cut -f2 wf/mailer.txt | sort -u | wc -l)" -eq "$N" ] ||
		die "a holder twice in the mailer"
	[ "$(ls wf/faces | grep -c '\.svg$')" -eq "$N" ] || die "not $N card faces"

	# The report's counts and yields are the database's.
	"$bin" report FACTORY --db "$U" --html report.html >report.out 2>report.err || {
		cat report.out report.err >&2
		die "cardfab report failed"
	}
	# (one line each: they go into the lines of the tables below)
	lot="JOIN wafer_lot l ON w.lot_id = l.id WHERE l.order_id = $oid"
	dies="FROM die d JOIN wafer w ON d.wafer_id = w.id $lot"
	of_die="JOIN die d ON x.die_id = d.id JOIN wafer w ON d.wafer_id = w.id $lot"
	runs="x JOIN card k ON x.card_id = k.id WHERE k.order_id = $oid"
	while IFS='|' read -r label sql; do
		want=$(q "$sql")
		got=$(sed -n '/^Counts/,$p' report.out |
			awk -v l="$label" '{ s = $0; sub(/^ +/, "", s);
				if (index(s, l " ") == 1) { t = substr(s, length(l) + 1);
				split(t, a, " "); print a[1]; exit } }')
		[ "$got" = "$want" ] ||
			die "report counts '$label' $got, the database $want"
	done <<EOF
lots|SELECT count(*) FROM wafer_lot WHERE order_id = $oid
wafers|SELECT count(*) FROM wafer w $lot
dies|SELECT count(*) $dies
good dies|SELECT count(*) $dies AND d.bin = 1
chips|SELECT count(*) FROM chip x $of_die
modules|SELECT count(*) FROM module x $of_die
card bodies|SELECT count(*) FROM card WHERE order_id = $oid
built|SELECT count(*) FROM card WHERE order_id = $oid AND stage = 1
initialized|SELECT count(*) FROM card WHERE order_id = $oid AND stage = 2
issued|SELECT count(*) FROM card WHERE order_id = $oid AND stage = 3
rejected|SELECT count(*) FROM card WHERE order_id = $oid AND stage = 4
claimed now|SELECT count(*) FROM card WHERE order_id = $oid AND claim_station IS NOT NULL
holders|SELECT count(*) FROM holder WHERE order_id = $oid
issued a card|SELECT count(*) FROM holder WHERE order_id = $oid AND issued = 1
init runs|SELECT count(*) FROM init_run $runs
perso runs|SELECT count(*) FROM perso_run $runs
events|SELECT count(*) FROM event
EOF
	yields=$(sed -n '/^Yields per part/,/^$/p' report.out)
	while IFS='|' read -r part in_sql out_sql; do
		want="$(q "$in_sql") $(q "$out_sql")"
		got=$(printf '%s\n' "$yields" | awk -v p="$part" '
			{ s = $0; sub(/^ +/, "", s) }
			index(s, p " ") == 1 { t = substr(s, length(p) + 1);
				split(t, a, " "); print a[2], a[3]; exit }')
		[ "$got" = "$want" ] ||
			die "report yields '$part' in/out $got, the database $want"
	done <<EOF
probe|SELECT count(*) $dies|SELECT count(*) $dies AND d.bin = 1
grinding|SELECT count(*) FROM grinding x JOIN wafer w ON x.wafer_id = w.id $lot|SELECT count(*) FROM grinding x JOIN wafer w ON x.wafer_id = w.id $lot AND x.pass = 1
module|SELECT count(*) FROM module x $of_die|SELECT count(*) FROM module x $of_die AND x.test_pass = 1
card body|SELECT count(*) FROM card WHERE order_id = $oid|SELECT count(*) FROM card WHERE order_id = $oid AND embed_pass = 1 AND print_pass = 1
init|SELECT count(DISTINCT x.card_id) FROM init_run $runs|SELECT count(DISTINCT x.card_id) FROM init_run $runs AND x.outcome = 1
perso|SELECT count(DISTINCT x.card_id) FROM perso_run $runs|SELECT count(DISTINCT x.card_id) FROM perso_run $runs AND x.outcome = 1
EOF

	# A final run finds nothing left to do.
	before=$(q "SELECT (SELECT count(*) FROM init_run) || ' ' || (SELECT count(*) FROM perso_run)")
	"$bin" run factory.yaml --work wf --db "$U" >final.out 2>final.err || {
		cat final.out final.err >&2
		die "the final cardfab run failed"
	}
	grep -q "^$N of $N holders issued a card" final.out ||
		die "the final run says: $(grep 'holders issued' final.out)"
	after=$(q "SELECT (SELECT count(*) FROM init_run) || ' ' || (SELECT count(*) FROM perso_run)")
	[ "$before" = "$after" ] || die "the final run made runs: $before, then $after"
	echo "test_factory_pg: ok ($N cards issued once by 4 station processes" \
		"on PostgreSQL, fi-b and fp-b killed (SIGKILL) and restarted," \
		"$rejects card bodies rejected with their reasons; report counts =" \
		"SQL; prepare $((t1 - t0)) ms, stations $((t2 - t1)) ms)"
	trap - EXIT
	exit 0
fi

# ---------------------------------------------------------------- outside

if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_factory_pg: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_factory_pg SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi
if ! command -v psql >/dev/null 2>&1; then
	echo "*** test_factory_pg SKIPPED: no psql: install the Debian package" \
		"postgresql-client (scripts/setup.sh does) ***" >&2
	exit 77
fi
unset CARDFAB_TOKEN_DIR CARDFAB_PKCS11_MODULE CARDFAB_TOKEN \
	CARDFAB_TOKEN_PIN_FILE CARDFAB_TOKEN_PIN SOFTHSM2_CONF CARDFAB_DB || true

N=${CARDFAB_FACTORY_CARDS:-2000}
if [ -z "${CARDFAB_FACTORY_CARDS:-}" ] && [ "${CARDFAB_SANITIZED:-0}" = 1 ]; then
	N=500
	echo "*** test_factory_pg: sanitizer build (CARDFAB_SANITIZED=1):" \
		"$N cards, not 2,000 ***" >&2
elif [ "$N" != 2000 ]; then
	echo "*** test_factory_pg: CARDFAB_FACTORY_CARDS=$N: $N cards," \
		"not 2,000 ***" >&2
fi

work=$(pwd)/test_factory_pg.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"

head -n $((N + 1)) "$src/orders/demo-holders.csv" >holders.csv
[ "$(wc -l <holders.csv)" -eq $((N + 1)) ] || {
	# more holders than the demo file has: made up like it
	/usr/bin/python3 "$src/orders/gen-holders.py" "$N" >holders.csv
}
cat >factory.yaml <<EOF
# test_factory_pg: one order, four station processes
name: FACTORY
profile: $src/profiles/campus.yaml
holders: holders.csv
quantity: $N
seed: 2027
line:
  wafer-diameter-mm: 150
  die-width-mm: 4
  die-height-mm: 4
  serial-prefix: 0x43460F01
  fab-date: 2026-11-02
EOF

export FACTORY_N=$N CARDFAB_BIN=$bin CARDFAB_SOURCE_DIR=$src
rc=0
CARDFAB_PG_DURABLE=0 bash "$src/tests/unit/test_mes_pg.sh" --run \
	bash "$self" --inner || rc=$?
if [ "$rc" -eq 77 ]; then
	echo "*** test_factory_pg SKIPPED: PostgreSQL cannot run here (above):" \
		"the factory on PostgreSQL was NOT tested ***" >&2
	exit 77
fi
exit "$rc"
