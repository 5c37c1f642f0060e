#!/usr/bin/env bash
# test_report_cli.sh - `cardfab report` and `cardfab trace` on a database
# made by the line simulator (test_report --make-db: two orders, with init
# and perso runs, some rejected), checked against the database read with
# Python's sqlite3, independently of cardfab.
#
# Covers: the latest order by default, an order by name, --all; the HTML
# beside the database by default, --html, CARDFAB_DB; the last line
# 'HTML report: PATH'; yields per part and per lot equal to COUNT(*)s; one
# SVG per part and per wafer; the trace of an issued chip by chip serial,
# card serial and holder, equal to the database; unknown order, serial,
# holder and database refused with exit 1 (and no database file created);
# usage errors exit 2. Then the same orders are made on a throwaway
# PostgreSQL server (tests/unit/test_mes_pg.sh --run): their report and
# traces must be the same byte for byte (skipped, loudly, without
# PostgreSQL).
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${CARDFAB_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_report_cli: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
maker=$build/tests/test_report
if [ ! -x "$maker" ]; then
	echo "test_report_cli: no $maker (build the tests first)" >&2
	exit 1
fi

work=$(pwd)/test_report_cli.work
rm -rf "$work"
mkdir -p "$work/db"
cd "$work"
unset CARDFAB_DB

"$maker" --make-db db/fab.db >make.log 2>&1 || {
	cat make.log >&2
	echo "test_report_cli: could not make the database" >&2
	exit 1
}

fails=0

run()
{
	local want=$1 rc=0
	shift
	"$bin" "$@" >out 2>err || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL: cardfab $* exited $rc, expected $want" >&2
		sed 's/^/  out: /' out >&2
		sed 's/^/  err: /' err >&2
		fails=$((fails + 1))
	fi
}

expect()
{
	local file=$1 pattern=$2
	if ! grep -qF -- "$pattern" "$file"; then
		echo "FAIL: '$pattern' not in $file:" >&2
		sed 's/^/  /' "$file" >&2
		fails=$((fails + 1))
	fi
}

check()
{
	if ! "$@"; then
		echo "FAIL: $*" >&2
		fails=$((fails + 1))
	fi
}

# The report's yield rows against the database: python reads both.
check_yields()
{
	local order=$1 report=$2
	/usr/bin/python3 - db/fab.db "$order" "$report" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
order, report = sys.argv[2], open(sys.argv[3]).read().split("\n")
oid = db.execute("SELECT id FROM production_order WHERE name = ?",
                 (order,)).fetchone()[0]
CHAIN = ("JOIN die d ON d.id = mo.die_id JOIN wafer w ON w.id = d.wafer_id "
         "JOIN wafer_lot l ON l.id = w.lot_id ")
KCHAIN = "JOIN module mo ON mo.id = k.module_id " + CHAIN
def yields(where, arg):
    q = [
        ("SELECT COUNT(*), SUM(d.bin = 1) FROM die d JOIN wafer w ON "
         "w.id = d.wafer_id JOIN wafer_lot l ON l.id = w.lot_id WHERE "),
        ("SELECT COUNT(*), SUM(g.pass) FROM grinding g JOIN wafer w ON "
         "w.id = g.wafer_id JOIN wafer_lot l ON l.id = w.lot_id WHERE "),
        "SELECT COUNT(*), SUM(mo.test_pass) FROM module mo " + CHAIN + "WHERE ",
        ("SELECT COUNT(*), SUM(k.embed_pass * k.print_pass) FROM card k "
         + KCHAIN + "WHERE "),
        ("SELECT COUNT(DISTINCT r.card_id), COUNT(DISTINCT CASE WHEN "
         "r.outcome = 1 THEN r.card_id END) FROM init_run r JOIN card k ON "
         "k.id = r.card_id " + KCHAIN + "WHERE "),
        ("SELECT COUNT(DISTINCT r.card_id), COUNT(DISTINCT CASE WHEN "
         "r.outcome = 1 THEN r.card_id END) FROM perso_run r JOIN card k ON "
         "k.id = r.card_id " + KCHAIN + "WHERE "),
    ]
    return [tuple(v or 0 for v in db.execute(s + where, (arg,)).fetchone())
            for s in q]
def rows(start):
    out = []
    for line in report[start:start + 6]:
        t = line.split()
        out.append((int(t[-3]), int(t[-2])))
    return out
ok = True
i = report.index("Yields per part") + 2
want = yields("l.order_id = ?", oid)
if rows(i) != want:
    print("order", order, "report", rows(i), "database", want); ok = False
lots = db.execute("SELECT id, name FROM wafer_lot WHERE order_id = ? "
                  "ORDER BY id", (oid,)).fetchall()
for lid, name in lots:
    i = [k for k, l in enumerate(report) if l.startswith("  " + name + " ")][0]
    want = yields("l.id = ?", lid)
    if rows(i) != want:
        print("lot", name, "report", rows(i), "database", want); ok = False
if not lots:
    print("no lot"); ok = False
sys.exit(0 if ok else 1)
EOF
}

# ---- the latest order, HTML beside the database
run 0 report --db db/fab.db
expect out "Order R&D <\"pilot\"> 'one'"
check test "$(tail -n 1 out)" = "HTML report: db/cardfab-report.html"
check test -s db/cardfab-report.html
cp out latest.txt
check check_yields "R&D <\"pilot\"> 'one'" latest.txt

# ---- an order by name, --html, CARDFAB_DB
CARDFAB_DB=db/fab.db run 0 report ORD-CLI-1 --html one.html
expect out "Order ORD-CLI-1"
check test "$(tail -n 1 out)" = "HTML report: one.html"
cp out one.txt
check check_yields ORD-CLI-1 one.txt
wafers=$(/usr/bin/python3 -c 'import sqlite3, sys
db = sqlite3.connect("db/fab.db")
print(db.execute("SELECT COUNT(*) FROM wafer w JOIN wafer_lot l ON l.id = w.lot_id "
                 "JOIN production_order o ON o.id = l.order_id "
                 "WHERE o.name = ?", ("ORD-CLI-1",)).fetchone()[0])')
check test "$(grep -o '<svg' one.html | wc -l)" -eq $((6 + wafers))
check test "$(tail -c 8 one.html)" = "</html>"
if grep -q '<"pilot">' db/cardfab-report.html; then
	echo "FAIL: an order name is not escaped in the HTML" >&2
	fails=$((fails + 1))
fi
expect db/cardfab-report.html "R&amp;D &lt;&quot;pilot&quot;&gt;"
check test -z "$(find . -name '*.tmp.*')"

# ---- every order
run 0 report --all --db sqlite:db/fab.db --html all.html
expect out "Order ORD-CLI-1"
expect out "Order R&D"
expect out "Whole database (2 orders)"
check test "$(grep -c '<h2>Order ' all.html)" -eq 2

# ---- failures
run 1 report NO-SUCH-ORDER --db db/fab.db --html x.html
expect err 'no order named "NO-SUCH-ORDER"'
check test ! -e x.html
run 1 report --db db/missing.db
expect err "db/missing.db"
check test ! -e db/missing.db
run 2 report --bogus
run 2 report A B
run 2 report A --all
run 0 help report
expect out "usage: cardfab report"

# ---- trace: an issued chip, by chip, card and holder
read -r chip card holder order x y lot module atr station < <(/usr/bin/python3 -c '
import sqlite3
db = sqlite3.connect("db/fab.db")
print(*db.execute("""
SELECT c.serial, k.serial, h.ref, o.name, d.x, d.y, l.name, mo.serial, mo.atr,
       (SELECT s.name FROM perso_run pr JOIN station s ON s.id = pr.station_id
        WHERE pr.card_id = k.id ORDER BY pr.id DESC LIMIT 1)
FROM chip c JOIN die d ON d.id = c.die_id JOIN wafer w ON w.id = d.wafer_id
JOIN wafer_lot l ON l.id = w.lot_id JOIN module mo ON mo.die_id = d.id
JOIN card k ON k.module_id = mo.id JOIN card_holder ch ON ch.card_id = k.id
JOIN holder h ON h.id = ch.holder_id JOIN production_order o ON o.id = k.order_id
WHERE o.name = ? ORDER BY c.id DESC LIMIT 1""", ("ORD-CLI-1",)).fetchone())')
run 0 trace "$chip" --db db/fab.db
cp out trace-chip.txt
expect out "chip        $chip "
expect out "order       $order "
expect out "lot         $lot "
expect out "die         x $x, y $y: bin 1 (good)"
expect out "module      $module: test passed, ATR $atr,"
expect out "card body   $card: embedding passed, printing passed, stage issued"
expect out "at station $station: issued"
expect out "holder      $holder"
expect out '  fields    {"name":"<script>alert(1)</script>"'
CARDFAB_DB=db/fab.db run 0 trace "$card"
check cmp -s out trace-chip.txt
run 0 trace --holder "$holder" --order ORD-CLI-1 --db db/fab.db
check cmp -s out trace-chip.txt
run 0 trace "${chip,,}" --db db/fab.db
check cmp -s out trace-chip.txt
run 1 trace 0000000000000000 --db db/fab.db
expect err "no chip or card with serial 0000000000000000"
run 1 trace --holder NOBODY --db db/fab.db
expect err "no card issued to holder NOBODY"
run 1 trace "$chip" --db db/missing.db
check test ! -e db/missing.db
run 2 trace --db db/fab.db
run 2 trace "$chip" --holder "$holder" --db db/fab.db
run 2 trace "$chip" --order ORD-CLI-1 --db db/fab.db
run 0 help trace
expect out "usage: cardfab trace"

# ---- PostgreSQL: the same order made there reports and traces the same
# (a throwaway server from test_mes_pg.sh; skipped loudly without one)
cat >pg.sh <<'EOF'
set -e
"$1" --make-db "$CARDFAB_MES_PG_URL" >pg-make.log 2>&1 || {
	cat pg-make.log >&2
	exit 1
}
"$2" report --all --db "$CARDFAB_MES_PG_URL" --html pg.html >pg-report.txt
"$2" trace "$3" --db "$CARDFAB_MES_PG_URL" >pg-trace.txt
"$2" trace --holder "$4" --order ORD-CLI-1 --db "$CARDFAB_MES_PG_URL" \
	>pg-holder.txt
EOF
pg_rc=0
bash "$src/tests/unit/test_mes_pg.sh" --run bash pg.sh "$maker" "$bin" \
	"$chip" "$holder" >pg.log 2>&1 || pg_rc=$?
if [ "$pg_rc" -eq 77 ]; then
	sed 's/^/  /' pg.log >&2
	echo "*** test_report_cli: the PostgreSQL part was SKIPPED ***" >&2
elif [ "$pg_rc" -ne 0 ]; then
	echo "FAIL: report and trace on PostgreSQL (exit $pg_rc):" >&2
	sed 's/^/  /' pg.log >&2
	fails=$((fails + 1))
else
	run 0 report --all --db db/fab.db --html all.html
	head -n -1 out >sq-report.txt
	head -n -1 pg-report.txt >pg-report.cmp
	check cmp -s sq-report.txt pg-report.cmp
	check cmp -s trace-chip.txt pg-trace.txt
	check cmp -s trace-chip.txt pg-holder.txt
	check test "$(grep -o '<svg' pg.html | wc -l)" -eq \
		"$(grep -o '<svg' all.html | wc -l)"
fi

if [ "$fails" -ne 0 ]; then
	echo "test_report_cli: $fails failure(s)" >&2
	exit 1
fi
echo "test_report_cli: all passed"
