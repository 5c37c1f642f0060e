#!/usr/bin/env bash
# test_perso_e2e.sh - initialization (part 6) of blank chips from
# `cardfab chip new` with a real SoftHSM2 token made in the test's scratch
# directory, for the CPU chip example profiles (campus, transit).
#
# Covers: `chip new --transport-key TMK` derives the transport code in the
# token (checked here independently: AES-ECB(TMK, S || 01 || 80 00..),
# first 8 bytes, with pycryptodome); `cardfab init` creates the profile's
# files, PIN and key objects (the card keys diversified in the token),
# stamps the CPLC and burns the fuse; INTERNAL AUTHENTICATE shows a card
# key on the card with its diversified value (checked against AES here);
# then `cardfab apdu` finds the state
# PERSONALIZATION (DF30 tag 81 = 04), the transport code refused, the test
# commands refused (6D00), a write without secure channel refused; a second
# init refused with a reason; a chip with a wrong transport code refused
# with the step, command and SW named. The loyalty card (memory chip):
# transport PSC derived in the token, areas written, the issuer's PSC
# (diversified) set, areas protected; checked with `cardfab apdu`. No known
# key, transport code or PSC in any output.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_perso_e2e: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_perso_e2e SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi

work=$(pwd)/test_perso_e2e.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"
umask 077

TMK=0f1e2d3c4b5a69788796a5b4c3d2e1f0
ENC_MK=a1a2a3a4a5a6a7a8a9aaabacadaeafb0
CARD_MK=5b6c7d8e9fa0b1c2d3e4f5061728394a
PSC_MK=c0c1c2c3c4c5c6c7c8c9cacbcccdcecf
PIN=perso-user-5566
SO_PIN=perso-so-7788
printf '%s\n' "$PIN" >pin
printf '%s\n' "$SO_PIN" >so-pin
printf '%s\n' "$TMK" >tmk.hex
printf '%s\n' "$ENC_MK" >enc.hex
printf '%s\n' "$CARD_MK" >card.hex
printf '%s\n' "$PSC_MK" >psc.hex

fails=0
all_out=$work/all-output
: >"$all_out"
secrets=("$TMK" "$ENC_MK" "$CARD_MK" "$PSC_MK")

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

T=(--dir "$work/hsm" --token cf-perso --pin-file "$work/pin")
run 0 keys init "${T[@]}" --so-pin-file "$work/so-pin"
run 0 keys import TMK --type aes128 --file tmk.hex "${T[@]}"
run 0 keys create CARD-WRAP --type aes256 --wrap "${T[@]}"
run 0 keys import CAMPUS-SCP03-ENC --type aes128 --file enc.hex "${T[@]}"
run 0 keys import CAMPUS-CARD-MK --type aes128 --file card.hex "${T[@]}"
run 0 keys import TRANSIT-CARD-MK --type aes128 --file card.hex "${T[@]}"
run 0 keys import LOYALTY-PSC-MK --type aes128 --file psc.hex "${T[@]}"
for k in CAMPUS-SCP03-MAC CAMPUS-SCP03-DEK CAMPUS-DOOR-MK \
	TRANSIT-SCP03-ENC TRANSIT-SCP03-MAC TRANSIT-SCP03-DEK \
	TRANSIT-DEBIT-MK TRANSIT-CREDIT-MK; do
	run 0 keys create "$k" --type aes128 "${T[@]}"
done

for prof in campus transit; do
	case $prof in
	campus) df=1000 ef=1001 iauth=05 ;;
	transit) df=2000 ef=2001 iauth=06 ;;
	esac
	serial=$(printf '4346%02X00000000%02X' "${#prof}" "${#prof}")
	run 0 chip new --out "$prof.img" --serial "$serial" --transport-key TMK "${T[@]}"
	expect out "code derived from TMK"
	tcode=$(div "$TMK" "$serial" 8)
	secrets+=("$tcode")
	# The derived transport code is the one the chip holds: a wrong one
	# costs a try, this one is accepted (then the chip is reset: a fresh
	# copy is initialized below).
	cp "$prof.img" "$prof-probe.img"
	run 0 apdu --card "$prof-probe.img" 00A4000C023F00 "0020001F08$tcode"
	expect out "^9000$"
	rm -f "$prof-probe.img"

	run 0 init --card "vcard:$prof.img" --profile "$src/profiles/$prof.yaml" "${T[@]}"
	expect out "initialized per .*$prof.yaml: PERSONALIZATION"

	# State, transport code, test commands, writes without SCP03.
	run 0 apdu --card "$prof.img" 00A4000C023F00 00CADF3000 \
		"0020001F08$tcode" 8030000004 8032000010 \
		"00A4080C04$df$ef" 00D600000441424344
	expect out "^9000$"
	expect out "810104"
	expect out "^6A88$\|^6985$"
	expect out "^6D00$"
	expect out "^6982$" # UPDATE BINARY without the secure channel
	[ "$(grep -c '^6D00$' out)" -eq 2 ] || {
		echo "FAIL: $prof: the test commands not both refused" >&2
		fails=$((fails + 1))
	}
	run 0 chip info "$prof.img"
	expect out "PERSONALIZATION"
	expect out "transport   code erased"
	expect out "SCP03 ENC"

	# The card key reached the card with its diversified value (taken out
	# of the token wrapped, unwrapped only for its PUT DATA): INTERNAL
	# AUTHENTICATE answers AES(card key, challenge || 80 00..).
	ckey=$(div "$CARD_MK" "$serial" 16)
	secrets+=("$ckey")
	want=$(/usr/bin/python3 - "$ckey" <<'EOF'
import sys
from Cryptodome.Cipher import AES
k = bytes.fromhex(sys.argv[1])
print(AES.new(k, AES.MODE_ECB).encrypt(bytes.fromhex("0011223344556677") + b"\x80" + bytes(7)).hex().upper())
EOF
)
	run 0 apdu -g --card "$prof.img" 00A4000C023F00 \
		"008800${iauth}08001122334455667700"
	expect out "^$want 9000$"

	# A second init: the chip is not in TRANSPORT any more.
	run 1 init --card "vcard:$prof.img" --profile "$src/profiles/$prof.yaml" "${T[@]}"
	expect err "not in TRANSPORT (life cycle 04)"

	# An initialization stopped after the transport code and the CPLC
	# stamp (as a kill leaves it): refused without --resume, completed
	# with it (the stamp kept); a chip stamped by another card maker is
	# refused even then.
	for who in 4346 4D4D; do
		half=$(printf '4346%02X000000%s' "${#prof}" "$who")
		run 0 chip new --out "$prof-half-$who.img" --serial "$half" --transport-key TMK "${T[@]}"
		run 0 apdu --card "$prof-half-$who.img" 00A4000C023F00 \
			"0020001F08$(div "$TMK" "$half" 8)" "00DADF4308${who}612300000001"
		expect out "^9000$"
		run 1 init --card "vcard:$prof-half-$who.img" --profile "$src/profiles/$prof.yaml" "${T[@]}"
		expect err "stopped half-way (resume it)"
	done
	secrets+=("$(div "$TMK" "$(printf '4346%02X0000004346' "${#prof}")" 8)" \
		"$(div "$TMK" "$(printf '4346%02X0000004D4D' "${#prof}")" 8)")
	run 0 init --resume --card vcard:$prof-half-4346.img --profile "$src/profiles/$prof.yaml" "${T[@]}"
	expect out "PERSONALIZATION"
	run 0 apdu --card $prof-half-4346.img 00A4000C023F00 00CADF3000 80CA9F7F00 "00A4080C04$df$ef"
	expect out "810104"
	expect out "4346612300000001" # the stamp of the stopped run, kept
	[ "$(grep -c '^9000$' out)" -eq 2 ] || {
		echo "FAIL: $prof: the resumed chip lacks its files" >&2
		fails=$((fails + 1))
	}
	run 1 init --resume --card vcard:$prof-half-4D4D.img --profile "$src/profiles/$prof.yaml" "${T[@]}"
	expect err "carries another pre-personalizer's stamp"
done

# The campus card's SCP03 ENC key (AES-ECB(ENC_MK, serial blocks)) is
# searched for in the outputs as well.
secrets+=("$(div "$ENC_MK" "$(printf '4346%02X00000000%02X' 6 6)" 16)")

# A chip whose transport code is not the token's: refused at VERIFY, with
# the step, the command and the SW, and no value.
run 0 chip new --out wrong.img --transport-code 0102030405060708 --tries 3
run 1 init --card vcard:wrong.img --profile "$src/profiles/campus.yaml" "${T[@]}"
expect err "transport code: VERIFY 1F: SW 63C2"

# The memory chip: transport PSC = the first 3 bytes of the transport
# code, issuer PSC = the first 3 bytes of the AES-128 card key diversified
# from the PSC master (docs/perso.md).
serial=0B1C1056BC73E077
tpsc=$(div "$TMK" "$serial" 3)
ipsc=$(div "$PSC_MK" "$serial" 3)
secrets+=("$tpsc" "$ipsc")
run 0 chip new --out loyalty.img --model sle4442 --serial "$serial" \
	--transport-key TMK "${T[@]}"
expect out "PSC         derived from TMK"
run 0 init --card vcard:loyalty.img --profile "$src/profiles/loyalty.yaml" "${T[@]}"
expect out "initialized per .*loyalty.yaml: issuer PSC set"
# The issuer area (bytes 16..20) written and protected; the transport PSC
# refused (one try lost), the issuer's accepted (the counter back to 07).
run 0 apdu --card loyalty.img FFA400000106 FFB0001005 FFB2000004 \
	"FF20000003$tpsc" "FF20000003$ipsc"
expect out "^4C59010001 9000$"
expect out "^300000F8 9000$" # bytes 0-3, 6-26 protected
expect out "^9006$"
expect out "^9007$"
# A second init: the transport PSC is gone.
run 1 init --card vcard:loyalty.img --profile "$src/profiles/loyalty.yaml" "${T[@]}"
expect err "transport PSC: PRESENT_CODE_MEMORY_CARD: SW 90"

# No secret in any output.
for s in "${secrets[@]}" "$PIN" "$SO_PIN"; do
	lo=$(printf '%s' "$s" | tr 'A-F' 'a-f')
	up=$(printf '%s' "$s" | tr 'a-f' 'A-F')
	if grep -q -e "$lo" -e "$up" "$all_out"; then
		echo "FAIL: a secret appears in the outputs" >&2
		fails=$((fails + 1))
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "test_perso_e2e: $fails failure(s)" >&2
	exit 1
fi
echo "test_perso_e2e: ok"
