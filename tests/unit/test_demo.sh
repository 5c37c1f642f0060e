#!/usr/bin/env bash
# test_demo.sh - `cardfab demo`, the README's main job: the shipped sample
# order of 1,000 campus cards through all seven parts in a fresh folder on
# SQLite, as a new user runs it.
#
# Checked: it exits 0; every holder has a card; its last lines name the
# PIN mailer, the card faces and the HTML report, and they exist (one
# mailer line and one face a card, the HTML with a wafer map a wafer); and
# the yield report it prints, every part's in and out, equals queries of
# the database it leaves (python3's sqlite3), as do the counts of issued
# cards and holders. A second `cardfab demo` starts afresh (the folder of
# the first is replaced) and ends the same.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_demo: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_demo SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi
unset CARDFAB_TOKEN_DIR CARDFAB_PKCS11_MODULE CARDFAB_TOKEN \
	CARDFAB_TOKEN_PIN_FILE CARDFAB_TOKEN_PIN SOFTHSM2_CONF CARDFAB_DB || true

work=$(pwd)/test_demo.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail()
{
	echo "test_demo: FAIL: $*" >&2
	exit 1
}

for round in 1 2; do
	start=$SECONDS
	"$bin" demo >out 2>err || {
		cat out err >&2
		fail "cardfab demo exited $?"
	}
	echo "test_demo: round $round: cardfab demo took $((SECONDS - start)) s"
	grep -q "^1000 of 1000 holders issued a card" out ||
		fail "not every holder issued: $(grep 'holders issued' out)"
	html=$(tail -n 1 out | sed -n 's/^report: //p')
	[ -n "$html" ] && [ -s "$html" ] || fail "the last line names no HTML report"
	dir=cardfab-demo
	db=$dir/cardfab.db
	[ -s "$db" ] || fail "no database $db"
	[ "$(wc -l <"$dir/mailer.txt")" -eq 1000 ] || fail "mailer lines: $(wc -l <"$dir/mailer.txt")"
	[ "$(ls "$dir/faces" | wc -l)" -eq 1000 ] || fail "card faces: $(ls "$dir/faces" | wc -l)"

	# The report's yields against the database.
	/usr/bin/python3 - "$db" out "$html" <<'EOF' || fail "the report and the database disagree"
import re, sqlite3, sys
db, out, html = sys.argv[1:4]
c = sqlite3.connect(db)
q = lambda s: c.execute(s).fetchone()[0]
want = {
    "probe": (q("SELECT count(*) FROM die"), q("SELECT count(*) FROM die WHERE bin = 1")),
    "grinding": (q("SELECT count(*) FROM grinding"), q("SELECT count(*) FROM grinding WHERE pass = 1")),
    "module": (q("SELECT count(*) FROM module"), q("SELECT count(*) FROM module WHERE test_pass = 1")),
    "card body": (q("SELECT count(*) FROM card"),
                  q("SELECT count(*) FROM card WHERE embed_pass = 1 AND print_pass = 1")),
    "init": (q("SELECT count(DISTINCT card_id) FROM init_run"),
             q("SELECT count(DISTINCT card_id) FROM init_run WHERE outcome = 1")),
    "perso": (q("SELECT count(DISTINCT card_id) FROM perso_run"),
              q("SELECT count(DISTINCT card_id) FROM perso_run WHERE outcome = 1")),
}
text = open(out).read()
part = text.split("Yields per part", 1)[1].split("\n\n", 1)[0]
got = {}
for line in part.splitlines():
    m = re.match(r"\s+(probe|grinding|module|card body|init|perso)\s+\S+\s+(\d+)\s+(\d+)\s", line)
    if m:
        got[m.group(1)] = (int(m.group(2)), int(m.group(3)))
ok = True
for k, v in want.items():
    if got.get(k) != v:
        print(f"{k}: report {got.get(k)}, database {v}", file=sys.stderr)
        ok = False
issued = q("SELECT count(*) FROM card WHERE stage = 3")
holders = q("SELECT count(*) FROM holder WHERE issued = 1")
twice = q("SELECT count(*) FROM (SELECT holder_id FROM perso_run WHERE outcome = 1 GROUP BY holder_id HAVING count(*) > 1)")
m = re.search(r"issued\s+(\d+)", text)
if not m or int(m.group(1)) != issued or issued != 1000 or holders != 1000 or twice:
    print(f"issued: report {m and m.group(1)}, database {issued} cards, {holders} holders, {twice} twice", file=sys.stderr)
    ok = False
wafers = q("SELECT count(*) FROM wafer")
maps = open(html).read().count("<svg")
if maps < wafers:
    print(f"{maps} pictures in the HTML for {wafers} wafers", file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
EOF
done
echo "test_demo: ok"
