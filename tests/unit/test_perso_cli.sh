#!/usr/bin/env bash
# test_perso_cli.sh - personalization (part 7) end to end, for each example
# profile, with a real SoftHSM2 token made in the scratch folder:
#
#   blank chips (`cardfab chip new --transport-key`) -> `cardfab init` ->
#   `cardfab prep` -> `cardfab perso --cards DIR --stations 2` -> checks
#
# Checked, independently of cardfab's own read-back: through `cardfab
# apdu` (a client outside the personalization code) each issued card is
# OPERATIONAL, holds its holder's data as the profile encodes it, refuses
# the transport code and the fab's test commands, accepts its holder's PIN
# (decrypted here from the batch with pycryptodome under the known batch
# key) and refuses a wrong one; the memory card holds the member number,
# protected. A chip not initialized is rejected with its reason and its
# holder goes to the next card; every holder is issued exactly once
# (journal); the PIN mailer lines decrypt (known mailer key) to the
# holder's PINs; a card face per card holds the holder's name; a second
# run changes nothing; a field placed past byte 255 of a file, 400 bytes
# long, goes in pieces and reads back whole. No key, PIN, transport code
# or token PIN appears in any output, the batch, the journal, the mailer
# file or the faces.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_perso_cli: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_perso_cli SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi

work=$(pwd)/test_perso_cli.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"
umask 077

TMK=00112233445566778899aabbccddeeff
ENC_MK=a1a2a3a4a5a6a7a8a9aaabacadaeafb0
MAC_MK=b1b2b3b4b5b6b7b8b9babbbcbdbebfc0
PSC_MK=c0c1c2c3c4c5c6c7c8c9cacbcccdcecf
BATCH_KEY=1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100
MAILER_KEY=2f2e2d2c2b2a292827262524232221202f2e2d2c2b2a29282726252423222120
PIN=perso-cli-user-4411
SO_PIN=perso-cli-so-8822
printf '%s\n' "$PIN" >pin
printf '%s\n' "$SO_PIN" >so-pin
for k in TMK ENC_MK MAC_MK PSC_MK BATCH_KEY MAILER_KEY; do
	printf '%s\n' "${!k}" >"$k.hex"
done

fails=0
all_out=$work/all-output
: >"$all_out"
secrets=("$TMK" "$ENC_MK" "$MAC_MK" "$PSC_MK" "$BATCH_KEY" "$MAILER_KEY")

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

check()
{
	if ! eval "$1"; then
		echo "FAIL: $2" >&2
		fails=$((fails + 1))
	fi
}

# AES-ECB(key, S || i || 80 00 ..) for i = 1, 2 (docs/perso.md), hex.
div()
{
	/usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import sys
from Cryptodome.Cipher import AES
key, serial, n = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
c = AES.new(key, AES.MODE_ECB)
out = b"".join(c.encrypt(serial + bytes([i, 0x80]) + bytes(6)) for i in (1, 2))
print(out[:n].hex())
EOF
}

# The batch's PIN values, decrypted here: "SEQ NAME VALUE" lines.
batch_pins()
{
	/usr/bin/python3 - "$1" "$BATCH_KEY" <<'EOF'
import sys
from Cryptodome.Cipher import AES
path, key = sys.argv[1], bytes.fromhex(sys.argv[2])
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[0] != "R":
        continue
    for item in f[3:]:
        kind, rest = item.split(":", 1)
        name, hexv = rest.split("=", 1)
        if kind != "P":
            continue
        b = bytes.fromhex(hexv)
        c = AES.new(key, AES.MODE_GCM, nonce=b[:12])
        c.update(f"{f[1]}:{kind}:{name}".encode())
        print(f[1], name, c.decrypt_and_verify(b[12:-16], b[-16:]).decode())
EOF
}

# The mailer lines decrypted (known mailer key): "SEQ SERIAL NAME=VALUE,..."
mailer_pins()
{
	/usr/bin/python3 - "$1" "$MAILER_KEY" <<'EOF'
import sys
from Cryptodome.Cipher import AES
path, key = sys.argv[1], bytes.fromhex(sys.argv[2])
for line in open(path):
    seq, ref, serial, hexv = line.rstrip("\n").split("\t")
    b = bytes.fromhex(hexv)
    c = AES.new(key, AES.MODE_GCM, nonce=b[:12])
    c.update(f"mailer:{serial}".encode())
    text = c.decrypt_and_verify(b[12:-16], b[-16:]).decode()
    print(seq, serial, ",".join(text.split("\n")))
EOF
}

# Does the card face (SVG, parsed as XML) show the holder's name (column
# COL of the CSV line)?
face_has_name()
{
	/usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import csv, sys, xml.etree.ElementTree as ET
name = next(csv.reader([sys.argv[2]]))[int(sys.argv[3])]
text = "".join(ET.parse(sys.argv[1]).getroot().itertext())
sys.exit(0 if name in text else 1)
EOF
}

T=(--dir "$work/hsm" --token cf-perso-cli --pin-file "$work/pin")
run 0 keys init "${T[@]}" --so-pin-file "$work/so-pin"
run 0 keys import TMK --type aes128 --file TMK.hex "${T[@]}"
run 0 keys create CARD-WRAP --type aes256 --wrap "${T[@]}"
run 0 keys import BATCH-KEY --type aes256 --batch --file BATCH_KEY.hex "${T[@]}"
run 0 keys import MAILER-KEY --type aes256 --batch --file MAILER_KEY.hex "${T[@]}"
run 0 keys import CAMPUS-SCP03-ENC --type aes128 --file ENC_MK.hex "${T[@]}"
run 0 keys import CAMPUS-SCP03-MAC --type aes128 --file MAC_MK.hex "${T[@]}"
run 0 keys import LOYALTY-PSC-MK --type aes128 --file PSC_MK.hex "${T[@]}"
for k in CAMPUS-SCP03-DEK CAMPUS-DOOR-MK CAMPUS-CARD-MK \
	TRANSIT-SCP03-ENC TRANSIT-SCP03-MAC TRANSIT-SCP03-DEK \
	TRANSIT-DEBIT-MK TRANSIT-CREDIT-MK TRANSIT-CARD-MK; do
	run 0 keys create "$k" --type aes128 "${T[@]}"
done
# A wrapping key may not decrypt a batch: the roles stay apart.
run 0 keys list "${T[@]}"
expect out "BATCH-KEY .*batch"
expect out "CARD-WRAP .*wrap"

cat >campus.csv <<'EOF'
name,student-id,faculty,valid-until,contact-name,contact-phone
Zoé Müller,2000000001,PHYSICS,2029-06-30,Hans Müller,41791234567
Li Wei,2000000002,LAW,2028-09-30,,
Ana O'Brien,2000000003,MEDICINE,2030-01-31,Seán O'Brien,353861234567
EOF
cat >transit.csv <<'EOF'
card-number,name,birth-date,concession,opening-balance,balance-limit
6280000000000017,Jörg Ölmann,1970-02-03,3,2000,15000
6280000000000025,Ann Lee,,0,0,10000
EOF
cat >loyalty.csv <<'EOF'
member-number,name,member-since
0000012345,Jörg Ölmann,2024-05-01
0000012346,Ann Lee,2025-01-15
EOF

for prof in campus transit loyalty; do
	yaml=$src/profiles/$prof.yaml
	nh=$(($(wc -l <"$prof.csv") - 1))
	model=()
	[ "$prof" = loyalty ] && model=(--model sle4442)
	mkdir -p "$prof-cards"
	# One chip more than holders, and a chip left in TRANSPORT (never
	# initialized) first in the hopper: it is rejected.
	run 0 chip new "${model[@]}" --out "$prof-cards/a-blank.img" \
		--serial "$(printf '%s00000000000000' 4E)" --transport-key TMK "${T[@]}"
	for i in $(seq 1 $((nh + 1))); do
		serial=$(printf '43%02X%012X' "${#prof}" "$i")
		img=$prof-cards/c$i.img
		run 0 chip new "${model[@]}" --out "$img" --serial "$serial" \
			--transport-key TMK "${T[@]}"
		secrets+=("$(div "$TMK" "$serial" 8)")
		[ "$prof" = campus ] && secrets+=("$(div "$ENC_MK" "$serial" 16)" \
			"$(div "$MAC_MK" "$serial" 16)")
		[ "$prof" = loyalty ] && secrets+=("$(div "$PSC_MK" "$serial" 3)")
		run 0 init --card "vcard:$img" --profile "$yaml" "${T[@]}"
	done
	run 0 prep --profile "$yaml" --holders "$prof.csv" --out "$prof.batch" "${T[@]}"
	run 0 perso --batch "$prof.batch" --profile "$yaml" --cards "$prof-cards" \
		--stations 2 "${T[@]}"
	expect out "$nh of $nh holders issued, 1 cards rejected"
	expect err "rejected: "

	# The journal: every holder issued once, the blank chip rejected.
	j=$prof.batch.journal
	check "[ \$(grep -c '^I ' $j) -eq $nh ]" "$prof: $nh issued lines expected"
	check "[ \$(grep '^I ' $j | cut -d' ' -f2 | sort -u | wc -l) -eq $nh ]" \
		"$prof: a holder issued twice"
	check "grep -q '^R [0-9]* 4E00000000000000 ' $j" \
		"$prof: the blank chip is not rejected"
	cp "$j" "$j.before"

	batch_pins "$prof.batch" >pins.txt
	while read -r _ _ v; do secrets+=("$v"); done <pins.txt
	[ "$prof" = campus ] && check "[ \$(wc -l <pins.txt) -eq $((2 * nh)) ]" \
		"campus: a PIN and a PUK per holder expected in the batch"

	# The mailer: one line a holder, decrypting to the batch's PINs.
	check "[ \$(wc -l <$prof.batch.out/mailer.txt) -eq $nh ]" \
		"$prof: one mailer line a holder expected"
	mailer_pins "$prof.batch.out/mailer.txt" >mailer.txt ||
		check false "$prof: a mailer line does not decrypt"

	# Every issued card, read by cardfab apdu.
	while read -r seq serial; do
		img=$prof-cards/c$((16#${serial:4})).img
		line=$(sed -n "$((seq + 1))p" "$prof.csv")
		col=1
		[ "$prof" = campus ] && col=0
		face_has_name "$prof.batch.out/faces/$serial.svg" "$line" "$col" ||
			check false "$prof: the face of $serial lacks its holder's name"
		case $prof in
		campus)
			sid=$(printf '%s' "$line" | cut -d, -f2)
			sidhex=$(printf '%s' "$sid" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
			pinv=$(awk -v s="$seq" '$1 == s && $2 == "holder-pin" {print $3}' pins.txt)
			pinhex=$(printf '%s' "$pinv" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
			while [ ${#pinhex} -lt 16 ]; do pinhex=${pinhex}FF; done
			run 0 apdu --card "$img" 00A4000C023F00 00CADF3000 \
				"0020001F080102030405060708" 8030000004 \
				00A4080C0410001001 00B0000050 00A4080C0410001002 \
				00B2010400 "00200001080000000000000000" \
				"0020000108$pinhex" 00B2010400
			check "sed -n 2p out | grep -q '810105'" \
				"campus $serial: not OPERATIONAL"
			check "sed -n 3p out | grep -q '^6A88$\|^6985$\|^6982$'" \
				"campus $serial: the transport code not refused"
			check "sed -n 4p out | grep -q '^6D00$'" \
				"campus $serial: a test command not refused"
			check "sed -n 6p out | grep -q '$sidhex.* 9000$'" \
				"campus $serial: the holder file lacks the student id"
			check "sed -n 8p out | grep -q '^6982$'" \
				"campus $serial: the private record read without the PIN"
			check "sed -n 9p out | grep -q '^63C2$'" \
				"campus $serial: a wrong PIN not refused"
			check "sed -n 10p out | grep -q '^9000$'" \
				"campus $serial: the holder's PIN not accepted"
			check "sed -n 11p out | grep -q ' 9000$'" \
				"campus $serial: the private record not read after the PIN"
			check "grep -q '^$seq $serial holder-pin=$pinv,puk=' mailer.txt" \
				"campus $serial: the mailer does not hold the batch's PINs"
			;;
		transit)
			cn=$(printf '%s' "$line" | cut -d, -f1)
			run 0 apdu --card "$img" 00A4000C023F00 00CADF3000 \
				00A4080C0420002001 00B0000030 00A4080C0420002002 00B2010400
			expect out "810105"
			expect out "^$cn"
			check "grep -q '^$seq $serial \$' mailer.txt" \
				"transit $serial: a mailer line without PINs expected"
			;;
		loyalty)
			mn=$(printf '%s' "$line" | cut -d, -f1)
			run 0 apdu --card "$img" FFA400000106 FFB0001B05 FFB2000004
			expect out "^$mn 9000$"
			expect out "^30000000 9000$" # member number protected
			;;
		esac
	done < <(awk '$1 == "I" {print $2, $3}' "$j")

	# A second run: nothing to do, nothing changed.
	run 0 perso --batch "$prof.batch" --profile "$yaml" --cards "$prof-cards" \
		--stations 2 "${T[@]}"
	check "cmp -s $j $j.before" "$prof: a second run changed the journal"
done

# Two stations, one holder, a blank chip and a good one: while one station
# holds the holder for the blank chip, the other must wait for it, not
# pass its good card by (the holder would be left without a card).
head -n 2 campus.csv >one.csv
mkdir -p race-pristine
run 0 chip new --out race-pristine/a-blank.img --serial 4E00000000000099 --transport-key TMK "${T[@]}"
run 0 chip new --out race-pristine/b-good.img --serial 4352414345000001 --transport-key TMK "${T[@]}"
secrets+=("$(div "$TMK" 4E00000000000099 8)" "$(div "$TMK" 4352414345000001 8)")
run 0 init --card vcard:race-pristine/b-good.img --profile "$src/profiles/campus.yaml" "${T[@]}"
run 0 prep --profile "$src/profiles/campus.yaml" --holders one.csv --out one.batch "${T[@]}"
for i in 1 2 3 4 5; do
	rm -rf race-cards one.batch.journal one.batch.out
	cp -r race-pristine race-cards
	run 0 perso --batch one.batch --profile "$src/profiles/campus.yaml" \
		--cards race-cards --stations 2 "${T[@]}"
	expect out "1 of 1 holders issued" # the blank one rejected, or not reached
done

# A holder file larger than a short APDU: a field placed past byte 255 and
# a run of bytes longer than one command carries, written in pieces and
# read back (here too, by cardfab apdu).
/usr/bin/python3 - "$src/profiles/campus.yaml" campus-big.yaml <<'EOF'
import sys
s = open(sys.argv[1]).read()
s = s.replace("profile: campus", "profile: campus-big", 1)
s = s.replace("        size: 96\n", "        size: 700\n", 1)
s = s.replace("\nface:", """
  - name: notes
    type: text
    charset: ascii
    max-length: 400
    required: false
    place: {file: holder, offset: 200, width: 400}

face:""", 1)
open(sys.argv[2], "w").write(s)
EOF
run 0 profile check campus-big.yaml
notes=$(/usr/bin/python3 -c "print(''.join(chr(65 + i % 26) for i in range(400)))")
printf 'name,student-id,faculty,valid-until,notes\nLong Notes,2000000099,LAW,2030-01-31,%s\n' "$notes" >big.csv
mkdir -p big-cards
run 0 chip new --out big-cards/b1.img --serial 4342494700000001 --transport-key TMK "${T[@]}"
secrets+=("$(div "$TMK" 4342494700000001 8)")
run 0 init --card vcard:big-cards/b1.img --profile campus-big.yaml "${T[@]}"
run 0 prep --profile campus-big.yaml --holders big.csv --out big.batch "${T[@]}"
run 0 perso --batch big.batch --profile campus-big.yaml --cards big-cards "${T[@]}"
expect out "1 of 1 holders issued"
want=$(printf '%s' "$notes" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
run 0 apdu --card big-cards/b1.img 00A4080C0410001001 00B000C8C8 00B00190C8
check "[ \"\$(sed -n 2p out | cut -d' ' -f1)\$(sed -n 3p out | cut -d' ' -f1)\" = '$want' ]" \
	"campus-big: the 400-byte field past byte 255 not read back whole"

# A batch whose secrets were moved to another record does not decrypt:
# record 1 gets record 2's PINs.
/usr/bin/python3 - campus.batch moved.batch <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
recs = {l.split("\t")[1]: i for i, l in enumerate(lines) if l.startswith("R\t")}
def pins(l):
    return [x for x in l.split("\t")[3:] if x.startswith("P:")]
r1, r2 = lines[recs["1"]], lines[recs["2"]]
keep = [x for x in r1.split("\t") if not x.startswith(("P:", "M:"))]
mac = [x for x in r1.split("\t") if x.startswith("M:")]
lines[recs["1"]] = "\t".join(keep + pins(r2) + mac)
open(sys.argv[2], "w").write("\n".join(lines))
EOF
mkdir -p moved-cards
cp campus-cards/c4.img moved-cards/
run 1 perso --batch moved.batch --profile "$src/profiles/campus.yaml" \
	--cards moved-cards --journal moved.journal "${T[@]}" --out moved.out
expect err "does not decrypt"

# A clear field changed in the batch (another name on the card): the
# record's integrity item no longer verifies, nothing is written.
/usr/bin/python3 - campus.batch altered.batch <<'EOF'
import sys
out = []
for l in open(sys.argv[1]).read().split("\n"):
    if l.startswith("R\t1\t"):
        l = "\t".join("F:name=" + "4D616C6C6F7279" if x.startswith("F:name=") else x
                       for x in l.split("\t"))
    out.append(l)
open(sys.argv[2], "w").write("\n".join(out))
EOF
mkdir -p altered-cards
cp campus-cards/c4.img altered-cards/
run 1 perso --batch altered.batch --profile "$src/profiles/campus.yaml" \
	--cards altered-cards --journal altered.journal "${T[@]}" --out altered.out
expect err "record 1 was altered"
run 0 apdu --card altered-cards/c4.img 00A4000C023F00 00CADF3000
expect out "810104" # still PERSONALIZATION: not touched

# No secret anywhere: outputs, batches, journals, mailers, faces.
files=("$all_out" ./*.batch ./*.journal ./*.batch.out/mailer.txt ./*.batch.out/faces/*.svg)
for s in "${secrets[@]}" "$PIN" "$SO_PIN"; do
	lo=$(printf '%s' "$s" | tr 'A-F' 'a-f')
	up=$(printf '%s' "$s" | tr 'a-f' 'A-F')
	# PINs (digits) as words: a PIN's digits may well occur inside
	# a hex string; keys and codes anywhere.
	w=()
	[[ $s =~ ^[0-9]{4,12}$ ]] && w=(-w)
	if grep -q "${w[@]}" -e "$lo" -e "$up" "${files[@]}"; then
		echo "FAIL: a secret (${#s} characters) appears in:" \
			"$(grep -l "${w[@]}" -e "$lo" -e "$up" "${files[@]}" | tr '\n' ' ')" >&2
		fails=$((fails + 1))
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "test_perso_cli: $fails failure(s)" >&2
	exit 1
fi
echo "test_perso_cli: ok (${#secrets[@]} secrets searched for)"
