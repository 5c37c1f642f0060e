#!/usr/bin/env bash
# test_run_cplc.sh - the CPLC a finished chip answers (GET DATA 9F7F
# through `cardfab apdu`) is its genealogy in the MES, field by field.
#
# A 48-card order on two lots (one 100 mm wafer each, 10 x 10 mm dies, so
# that the cards come from both), with its own module fabricator, card
# manufacturer, pre-personalizer, personalizer and equipment ids, is run
# with `cardfab run` on SQLite. Then for sampled chips (the first and the
# last card issued, every fifth in issue order, the first of the second
# lot: at least 10), all 18 GlobalPlatform CPLC fields read from the chip
# image must be
#   - equal to the chip's cplc_* columns in the database (python3's
#     sqlite3), and to the CPLC lines of `cardfab trace SERIAL`;
#   - the genealogy the MES holds for that chip: IC fabricator, IC type,
#     OS id, OS release date and level those of a chip the fab makes
#     (`cardfab chip new`, the same mask); fabrication date the day its
#     die was probed, serial the chip's serial, batch its lot's number
#     (part 2); module fabricator the order's, packaging date the day its
#     module was tested (part 4); card manufacturer the order's, embedding
#     date the day its card body was made (part 5); pre-personalizer and
#     equipment the order's ids, date the day of its init run (part 6,
#     DF43); personalizer and equipment the order's ids, date the day of
#     its perso run (part 7, DF44). Dates are YDDD in BCD.
# Also a chip whose card body was rejected and a chip that never got a
# card body: what is not stamped on the chip (zeros) is NULL in the MES,
# and the other way round.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_run_cplc: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_run_cplc SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi
unset CARDFAB_TOKEN_DIR CARDFAB_PKCS11_MODULE CARDFAB_TOKEN \
	CARDFAB_TOKEN_PIN_FILE CARDFAB_TOKEN_PIN SOFTHSM2_CONF CARDFAB_DB || true

work=$(pwd)/test_run_cplc.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"

N=48
head -n $((N + 1)) "$src/orders/demo-holders.csv" >holders.csv
cat >order.yaml <<EOF
# test_run_cplc: two lots, every CPLC id of the order its own
name: CPLC48
profile: $src/profiles/campus.yaml
holders: holders.csv
quantity: $N
seed: 5
stations: 2
line:
  lots: 2
  wafers-per-lot: 1
  wafer-diameter-mm: 100
  die-width-mm: 10
  die-height-mm: 10
  serial-prefix: 0x43460E31
  fab-date: 2026-11-02
  module-fabricator: 0x4D31
  card-manufacturer: 0x4331
ids:
  prepersonalizer: 0x5051
  init-equipment: 0x0A0B0C0D
  personalizer: 0x5152
  perso-equipment: 0x01020304
EOF

"$bin" run order.yaml --work w >run.out 2>run.err || {
	cat run.out run.err >&2
	echo "test_run_cplc: FAIL: the run failed" >&2
	exit 1
}
grep -q "^$N of $N holders issued a card" run.out || {
	tail -n 5 run.out >&2
	echo "test_run_cplc: FAIL: not $N cards issued" >&2
	exit 1
}

# A chip as the fab makes it, of the same mask: the mask's own fields.
"$bin" chip new --out fresh.img --serial 43460EFF00000001 \
	--transport-code 0011223344556677 >fresh.out 2>&1 || {
	cat fresh.out >&2
	echo "test_run_cplc: FAIL: cardfab chip new failed" >&2
	exit 1
}

/usr/bin/python3 - "$bin" w <<'EOF'
import datetime, re, sqlite3, subprocess, sys

bin, work = sys.argv[1], sys.argv[2]
# GlobalPlatform CPLC: (name as in mes_cplc_field_name, bytes)
FIELDS = [("ic_fabricator", 2), ("ic_type", 2), ("os_id", 2),
          ("os_release_date", 2), ("os_release_level", 2),
          ("ic_fabrication_date", 2), ("ic_serial", 4), ("ic_batch", 2),
          ("module_fabricator", 2), ("module_packaging_date", 2),
          ("icc_manufacturer", 2), ("embedding_date", 2),
          ("prepersonalizer", 2), ("prepersonalization_date", 2),
          ("prepersonalization_equipment", 4), ("personalizer", 2),
          ("personalization_date", 2), ("personalization_equipment", 4)]
assert sum(n for _, n in FIELDS) == 42
fails = []

def fail(msg):
    fails.append(msg)
    print("FAIL: " + msg, file=sys.stderr)

def chip_cplc(img):
    """The 18 fields (hex strings) of GET DATA 9F7F sent to the image."""
    out = subprocess.run([bin, "apdu", "--card", img, "80CA9F7F00"],
                         capture_output=True, text=True)
    m = re.fullmatch(r"9F7F2A([0-9A-F]{84}) 9000\n", out.stdout)
    if out.returncode != 0 or not m:
        sys.exit(f"FAIL: GET DATA 9F7F on {img}: {out.stdout!r} {out.stderr!r}")
    b, off, f = m.group(1), 0, {}
    for name, n in FIELDS:
        f[name] = b[off:off + 2 * n]
        off += 2 * n
    return f

def trace_cplc(serial):
    out = subprocess.run([bin, "trace", serial, "--db", f"{work}/cardfab.db"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: cardfab trace {serial}: {out.stderr}")
    f, inside = {}, False
    for line in out.stdout.splitlines():
        if line == "CPLC":
            inside = True
        elif inside and line.startswith("  "):
            k, v = line.split()
            f[k] = v
        elif inside:
            break
    return f

def yddd(us):
    d = datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc)
    return "%d%03d" % (d.year % 10, d.timetuple().tm_yday)

db = sqlite3.connect(f"{work}/cardfab.db")
q = lambda s, *a: db.execute(s, a).fetchall()
cols = ", ".join("c.cplc_" + n for n, _ in FIELDS)
GEN = f"""SELECT c.serial, {cols}, d.probed_us, l.name, m.tested_us, k.made_us,
            k.stage, k.id
     FROM chip c JOIN die d ON c.die_id = d.id
     JOIN wafer w ON d.wafer_id = w.id JOIN wafer_lot l ON w.lot_id = l.id
     LEFT JOIN module m ON m.die_id = d.id
     LEFT JOIN card k ON k.module_id = m.id"""

def db_hex(v, n):
    return None if v is None else "%0*X" % (2 * n, v)

mask = chip_cplc("fresh.img")

def check(serial, issued):
    r = q(GEN + " WHERE c.serial = ?", serial)
    if len(r) != 1:
        return fail(f"{serial}: {len(r)} genealogies")
    r = r[0]
    dbv = {name: db_hex(r[1 + i], n) for i, (name, n) in enumerate(FIELDS)}
    probed, lot, tested, made, stage, card = r[19:25]
    chip = chip_cplc(f"{work}/chips/{serial}.img")
    tr = trace_cplc(serial)
    for name, n in FIELDS:
        c, d = chip[name], dbv[name]
        # the chip and the MES: equal, an unstamped field zero on the
        # chip and NULL in the MES
        if d is None:
            if int(c, 16) != 0:
                fail(f"{serial} {name}: chip {c}, NULL in the MES")
            if name in tr:
                fail(f"{serial} {name}: traced as {tr[name]}, NULL in the MES")
        else:
            if c != d:
                fail(f"{serial} {name}: chip {c}, MES {d}")
            if tr.get(name) != c:
                fail(f"{serial} {name}: chip {c}, trace {tr.get(name)}")
    # the genealogy
    want = {name: mask[name] for name in
            ("ic_fabricator", "ic_type", "os_id", "os_release_date",
             "os_release_level")}
    want["ic_fabrication_date"] = yddd(probed)
    want["ic_serial"] = serial[8:].upper()
    want["ic_batch"] = "%04X" % int(lot.rsplit("-", 1)[1])
    if tested is not None:
        want["module_fabricator"] = "4D31"
        want["module_packaging_date"] = yddd(tested)
    if made is not None and stage != 4:
        want["icc_manufacturer"] = "4331"
        want["embedding_date"] = yddd(made)
    init = q("SELECT start_us, end_us FROM init_run WHERE card_id = ? "
             "AND outcome = 1", card) if card else []
    perso = q("SELECT start_us, end_us FROM perso_run WHERE card_id = ? "
              "AND outcome = 1", card) if card else []
    if issued and (len(init) != 1 or len(perso) != 1):
        return fail(f"{serial}: {len(init)} init, {len(perso)} perso runs OK")
    if init:
        want["prepersonalizer"] = "5051"
        want["prepersonalization_equipment"] = "0A0B0C0D"
        want["prepersonalization_date"] = {yddd(init[0][0]), yddd(init[0][1])}
    if perso:
        want["personalizer"] = "5152"
        want["personalization_equipment"] = "01020304"
        want["personalization_date"] = {yddd(perso[0][0]), yddd(perso[0][1])}
    for name, n in FIELDS:
        w, c = want.get(name), chip[name]
        if w is None:
            if int(c, 16) != 0:
                fail(f"{serial} {name}: {c} on a chip that never went "
                     "through that part")
        elif isinstance(w, set):
            if c not in w:
                fail(f"{serial} {name}: {c}, its run was on {sorted(w)}")
        elif c != w:
            fail(f"{serial} {name}: {c}, its genealogy says {w}")
    if int(mask["ic_fabricator"], 16) == 0 or mask["ic_type"] == "0000":
        fail(f"the mask's CPLC is empty: {mask}")
    return lot

issued = [r[0] for r in q(
    """SELECT c.serial FROM perso_run p JOIN card k ON p.card_id = k.id
       JOIN module m ON k.module_id = m.id JOIN chip c ON c.die_id = m.die_id
       WHERE p.outcome = 1 ORDER BY p.end_us, p.id""")]
if len(issued) != 48:
    sys.exit(f"FAIL: {len(issued)} cards issued, 48 expected")
sample = [issued[0], issued[-1]] + issued[5:-1:5]
lot2 = q(GEN + " WHERE l.name LIKE '%-0002' AND k.stage = 3 ORDER BY c.serial")
if not lot2:
    sys.exit("FAIL: no card of the second lot issued: the order must span two lots")
if lot2[0][0] not in sample:
    sample.append(lot2[0][0])
assert len(sample) >= 10
lots = {check(s, True) for s in sample}
if len(lots) != 2:
    fail(f"the sample spans the lots {lots}, two expected")

# A chip whose card body was rejected, one with no card body.
others = 0
for cond in ("k.stage = 4", "k.id IS NULL"):
    r = q(GEN + f" WHERE {cond} ORDER BY c.serial LIMIT 1")
    if r:
        check(r[0][0], False)
        others += 1
if others < 2:
    fail(f"only {others} of the two unissued chips found")

if fails:
    sys.exit(f"test_run_cplc: {len(fails)} failure(s)")
print(f"test_run_cplc: ok ({len(sample)} issued chips (first and last "
      f"issued, both lots) and {others} unissued: 18 CPLC fields each, "
      "chip = MES = trace = genealogy)")
EOF
