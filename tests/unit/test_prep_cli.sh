#!/usr/bin/env bash
# test_prep_cli.sh - `cardfab prep` (data preparation) against a real SoftHSM2
# token made in the test's scratch directory.
#
# Covers: a good holder file gives a batch with one record a holder
# (docs/perso.md's format), the secrets (a secret PIN field, random PINs)
# only encrypted: decrypted here with an independent AES-GCM (pycryptodome)
# under the known batch key imported for the test, checked, and searched
# for in every output; bad records reported with their line and field and
# nothing written; --skip-bad writes the good ones and a reject file; a
# file-level error (unknown column, missing required column); the batch
# written durably (no temporary file left).
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_prep_cli: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_prep_cli SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi

work=$(pwd)/test_prep_cli.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"
umask 077

BATCH_KEY=8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677
PIN=prep-user-1122
SO_PIN=prep-so-3344
printf '%s\n' "$PIN" >pin
printf '%s\n' "$SO_PIN" >so-pin
printf '%s\n' "$BATCH_KEY" >batch.hex

# The campus profile with the holder PIN taken from a secret field.
sed -e 's/    value: {random: 6}.*/    value: {holder-field: pin-value}/' \
	"$src/profiles/campus.yaml" >campus-sec.yaml
/usr/bin/python3 - <<'EOF'
s = open("campus-sec.yaml").read()
s = s.replace("\nface:", """  - name: pin-value
    type: digits
    min-length: 4
    max-length: 8
    secret: true

face:""", 1)
open("campus-sec.yaml", "w").write(s)
EOF

fails=0
all_out=$work/all-output
: >"$all_out"

run()
{
	local want=$1 rc=0
	shift
	"$bin" "$@" >out 2>err || rc=$?
	cat out err >>"$all_out"
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
	if ! grep -q -- "$pattern" "$file"; then
		echo "FAIL: '$pattern' not in $file:" >&2
		sed 's/^/  /' "$file" >&2
		fails=$((fails + 1))
	fi
}

no_file()
{
	if [ -e "$1" ]; then
		echo "FAIL: $1 exists" >&2
		fails=$((fails + 1))
	fi
}

T=(--dir "$work/hsm" --token cf-prep --pin-file "$work/pin")
run 0 keys init "${T[@]}" --so-pin-file "$work/so-pin"
run 0 keys import BATCH-KEY --type aes256 --wrap --file batch.hex "${T[@]}"

# ---- a good file: secrets 483921 and 55667788 are the holders' PINs
cat >good.csv <<'EOF'
name,student-id,faculty,valid-until,pin-value,contact-name
Ada Lovelace,0000000001,MATHEMATICS,2027-06-30,483921,
"Émile Borel, Jr",0000000002,SCIENCE,2028-02-29,55667788,"Marie ""Mimi"" Borel"
Kurt Gödel,0000000003,LOGIC,2027-01-31,902211,Adele
EOF
run 0 prep --profile campus-sec.yaml --holders good.csv --out good.batch "${T[@]}"
expect out "good.batch: 3 records written"
expect good.batch "^cardfab-batch 1$"
expect good.batch "^batch-key	BATCH-KEY	"
expect good.batch "^end	3$"
expect good.batch "^R	2	3	F:name="
expect good.batch "^R	3	4	"
no_file good.batch.tmp
[ "$(grep -c '^R	' good.batch || true)" -eq 3 ] || { echo "FAIL: not 3 records" >&2; fails=$((fails + 1)); }

# Decrypt every secret independently and check it.
/usr/bin/python3 - good.batch "$BATCH_KEY" >secrets.out <<'EOF' || fails=$((fails + 1))
import sys
from Cryptodome.Cipher import AES
path, key = sys.argv[1], bytes.fromhex(sys.argv[2])
want = {1: "483921", 2: "55667788", 3: "902211"}
ok = True
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[0] != "R":
        continue
    seq = int(f[1])
    vals = {}
    for item in f[3:]:
        kind, rest = item.split(":", 1)
        name, hexv = rest.split("=", 1)
        b = bytes.fromhex(hexv)
        if kind in "SP":
            c = AES.new(key, AES.MODE_GCM, nonce=b[:12])
            c.update(f"{seq}:{kind}:{name}".encode())
            v = c.decrypt_and_verify(b[12:-16], b[-16:]).decode()
        elif kind == "M":
            # the record's integrity: GCM of nothing over the line
            # before this item
            signed = line.rstrip("\n").split("\tM:", 1)[0].encode()
            c = AES.new(key, AES.MODE_GCM, nonce=b[:12])
            c.update(signed)
            c.decrypt_and_verify(b"", b[12:])
            v = "verified"
        else:
            v = b.decode()
        vals[kind + ":" + name] = v
    if vals.get("S:pin-value") != want[seq] or vals.get("P:holder-pin") != want[seq]:
        print("record", seq, "secret pin wrong", file=sys.stderr); ok = False
    puk = vals.get("P:puk", "")
    if len(puk) != 8 or not puk.isdigit():
        print("record", seq, "random PUK not 8 digits", file=sys.stderr); ok = False
    if vals.get("M:record") != "verified" or not line.rstrip("\n").split("\t")[-1].startswith("M:"):
        print("record", seq, "without its integrity item last", file=sys.stderr); ok = False
    if "F:pin-value" in vals:
        print("record", seq, "secret field in clear", file=sys.stderr); ok = False
    print(puk)
if vals.get("F:name") != "Kurt Gödel":
    print("name of record 3 wrong", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
EOF

# ---- bad records: reported by line and field, nothing written
cat >bad.csv <<'EOF'
name,student-id,faculty,valid-until,pin-value
Ada Lovelace,0000000001,MATHEMATICS,2027-06-30,483921
Bob,12345,SCIENCE,2027-02-30,12
Carol,0000000001,lowercase,2027-01-01,4444
Dan,0000000004,LOGIC,2027-01-01,77x7
Eve,0000000005,LOGIC
Fay,0000000006,LOGIC,2027-01-01,5555
"Gus
X",0000000007,LOGIC,2027-01-01,5555
Hal,0000000008,LOGIC,2027-01-01,6666
EOF
run 1 prep --profile campus-sec.yaml --holders bad.csv --out bad.batch "${T[@]}"
expect err "bad.csv:3: student-id: 5 digits, 10 to 10 expected"
expect err "bad.csv:3: valid-until: not a calendar date"
expect err "bad.csv:3: pin-value: 2 digits, 4 to 8 expected"
expect err "bad.csv:4: student-id: unique, and the same as line 2's"
expect err "bad.csv:4: faculty: character 1: not allowed in upper"
expect err "bad.csv:5: pin-value: character 3: a digit expected"
expect err "bad.csv:6: -: 3 columns, the header has 5"
# a record with a quoted newline: reported on the line it starts on
expect err "bad.csv:8: name: character 4: a control character"
expect err "5 bad records: nothing written"
no_file bad.batch
no_file bad.batch.tmp
# no value, secret or not, is quoted in a report
for v in 77x7 4444 lowercase 12345 Bob; do
	if grep -q -- "$v" err; then
		echo "FAIL: a value ($v) quoted in a report" >&2
		fails=$((fails + 1))
	fi
done

# ---- --skip-bad: the good ones and a reject file
run 0 prep --profile campus-sec.yaml --holders bad.csv --out skip.batch --skip-bad "${T[@]}"
expect out "skip.batch: 3 records written, 5 bad records in skip.batch.rejects"
expect skip.batch "^end	3$"
expect skip.batch "^R	3	10	"
expect skip.batch.rejects "^3	student-id	5 digits, 10 to 10 expected$"
expect skip.batch.rejects "^6	-	3 columns, the header has 5$"
[ "$(grep -c '^R	' skip.batch || true)" -eq 3 ] || { echo "FAIL: not 3 records" >&2; fails=$((fails + 1)); }

# ---- file-level errors
printf 'name,student-id,shoe-size\n' >unknown.csv
run 1 prep --profile campus-sec.yaml --holders unknown.csv --out x.batch "${T[@]}"
expect err "unknown.csv:1: column 3 ('shoe-size'): the profile has no field of that name"
printf 'name,faculty\nA,B\n' >missing.csv
run 1 prep --profile campus-sec.yaml --holders missing.csv --out x.batch "${T[@]}"
expect err "no column for the required field 'student-id'"
printf 'name,student-id,faculty,valid-until,pin-value\n"open,0000000001,LOGIC,2027-01-01,1234\n' >quote.csv
run 1 prep --profile campus-sec.yaml --holders quote.csv --out x.batch "${T[@]}"
expect err "bad CSV"
run 1 prep --profile campus-sec.yaml --holders good.csv --out x.batch --batch-key NO-KEY "${T[@]}"
expect err "no key labelled 'NO-KEY'"
run 1 prep --profile campus-sec.yaml --holders nonexistent.csv --out x.batch "${T[@]}"
no_file x.batch
run 2 prep --holders good.csv --out x.batch "${T[@]}"
run 0 prep --help

# ---- no secret anywhere: the known PINs and key, the random PUKs
cat good.batch skip.batch >>"$all_out"
for s in 483921 55667788 902211 "$BATCH_KEY" "$PIN" "$SO_PIN" $(cat secrets.out); do
	if grep -qi -- "$s" "$all_out"; then
		echo "FAIL: a secret ($(printf '%s' "$s" | cut -c1-3)...) appears in an output or a batch" >&2
		fails=$((fails + 1))
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "test_prep_cli: $fails failure(s)" >&2
	exit 1
fi
echo "test_prep_cli: ok"
