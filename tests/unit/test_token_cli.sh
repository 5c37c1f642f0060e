#!/usr/bin/env bash
# test_token_cli.sh - `cardfab keys` against a real SoftHSM2 token made in
# the test's scratch directory (never the user's SoftHSM2 config).
#
# Covers: init (softhsm2.conf in the work folder, tokendir inside it),
# create of every type, import of a known key and of key components XORed,
# list with KCVs equal to KCVs computed independently by the openssl
# command from the known keys, derive + unwrap with openssl against an
# independent computation of the diversification, errors (wrong PIN, no
# PIN, unknown token, unknown label, label taken, bad key file, bad type),
# and that no output or error of any run holds a known key or PIN.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_token_cli: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_token_cli SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi

work=$(pwd)/test_token_cli.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"
umask 077

# Known secrets: none may appear in any output.
AES_KEY=000102030405060708090a0b0c0d0e0f
COMP1=11111111111111112222222222222222
COMP2=3333333333333333ffffffffffffffff # XOR: the DES key below
DES_KEY=2222222222222222dddddddddddddddd
WRAP_KEY=603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4
PIN=cli-user-2468
SO_PIN=cli-so-1357
SERIAL=4346000000001234

printf '%s\n' "$PIN" >pin
printf '%s\n' "$SO_PIN" >so-pin
printf '# the test AES master\n%s\n' "$AES_KEY" >aes.hex
printf '%s\n' "$COMP1" >comp1.hex
printf '%s\n' "${COMP2% *}" >comp2.hex
printf '%s\n' "$WRAP_KEY" >wrap.hex

fails=0
all_out=$work/all-output
: >"$all_out"

# run EXPECTED_STATUS ARGS...: runs cardfab, keeps stdout in out, stderr
# in err, appends both to all_out.
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

T=(--dir "$work/hsm" --token cf-cli --pin-file "$work/pin")

# ---- init: the config is ours, inside the work folder
run 0 keys init "${T[@]}" --so-pin-file "$work/so-pin"
expect out "initialized"
expect hsm/softhsm2.conf "directories.tokendir = $work/hsm/tokens"
[ -n "$(ls hsm/tokens)" ] || { echo "FAIL: no token in hsm/tokens" >&2; fails=$((fails + 1)); }
run 1 keys init "${T[@]}" --so-pin-file "$work/so-pin"
expect err "exists already"

# ---- import and create
run 0 keys import AES-MK --type aes128 --file aes.hex "${T[@]}"
aes_kcv=$(printf '\0%.0s' $(seq 16) |
	openssl enc -aes-128-ecb -K "$AES_KEY" -nopad | od -An -tx1 -N3 | tr -d ' \n' | tr a-f A-F)
expect out "KCV $aes_kcv"
run 0 keys import DES-MK --type 3des2 --file comp1.hex --file comp2.hex "${T[@]}"
des_kcv=$(printf '\0%.0s' $(seq 8) |
	openssl enc -des-ede-ecb -K "$DES_KEY" -nopad -provider legacy -provider default 2>/dev/null |
	od -An -tx1 -N3 | tr -d ' \n' | tr a-f A-F)
[ -n "$des_kcv" ] || des_kcv=$(printf '\0%.0s' $(seq 8) |
	openssl enc -des-ede-ecb -K "$DES_KEY" -nopad | od -An -tx1 -N3 | tr -d ' \n' | tr a-f A-F)
[ ${#des_kcv} -eq 6 ] || { echo "FAIL: openssl gave no 3DES KCV" >&2; fails=$((fails + 1)); }
expect out "KCV $des_kcv"
expect out "2 components"
run 0 keys import WRAP --type aes256 --wrap --file wrap.hex "${T[@]}"
for t in aes128 aes192 aes256 3des2 3des3; do
	run 0 keys create "GEN-$t" --type "$t" "${T[@]}"
	expect out "created GEN-$t: $t master key, KCV [0-9A-F]\{6\}"
done

# ---- list: the KCVs are those openssl computes from the known keys
run 0 keys list "${T[@]}"
expect out "^AES-MK  *aes128  *master  *$aes_kcv  *sensitive,never-extractable"
expect out "^DES-MK  *3des2  *master  *$des_kcv "
expect out "^WRAP  *aes256  *wrap "
expect out "^GEN-3des3  *3des3  *master  *[0-9A-F]\{6\} "
expect out "^8 keys"

# ---- derive + unwrap with openssl = AES-ECB(master, serial||01||80 00..)
run 0 keys derive --master AES-MK --serial "$SERIAL" --type aes128 \
	--wrap-key WRAP "${T[@]}"
wrapped=$(cat out)
card=$(printf '%s' "$wrapped" | xxd -r -p |
	openssl enc -d -id-aes256-wrap -K "$WRAP_KEY" -iv A6A6A6A6A6A6A6A6 2>/dev/null |
	od -An -tx1 | tr -d ' \n' || true)
expected=$(printf '%s0180000000000000' "$SERIAL" | xxd -r -p |
	openssl enc -aes-128-ecb -K "$AES_KEY" -nopad | od -An -tx1 | tr -d ' \n')
if [ "$card" != "$expected" ]; then
	echo "FAIL: unwrapped card key '$card' != independent '$expected'" >&2
	fails=$((fails + 1))
fi

# ---- errors, clear and secret-free
printf 'wrong-pin-0000\n' >badpin
run 1 keys list --dir "$work/hsm" --token cf-cli --pin-file "$work/badpin"
expect err "CKR_PIN_INCORRECT"
run 1 keys list --dir "$work/hsm" --token no-such-token --pin-file "$work/pin"
expect err "no token labelled 'no-such-token'"
rc=0
env -u CARDFAB_TOKEN_PIN -u CARDFAB_TOKEN_PIN_FILE "$bin" keys list \
	--dir "$work/hsm" --token cf-cli >out 2>err || rc=$?
cat out err >>"$all_out"
[ "$rc" -eq 1 ] || { echo "FAIL: no PIN: exit $rc, expected 1" >&2; fails=$((fails + 1)); }
expect err "no user PIN"
# The PIN from an environment variable works too.
rc=0
CARDFAB_TOKEN_PIN=$PIN "$bin" keys list --dir "$work/hsm" --token cf-cli \
	>out 2>err || rc=$?
cat out err >>"$all_out"
[ "$rc" -eq 0 ] || { echo "FAIL: PIN from CARDFAB_TOKEN_PIN: exit $rc" >&2; fails=$((fails + 1)); }
run 1 keys delete NO-SUCH-KEY "${T[@]}"
expect err "no key labelled 'NO-SUCH-KEY'"
run 1 keys create AES-MK --type aes128 "${T[@]}"
expect err "exists already"
printf '%s\n' "${AES_KEY}zz" >bad.hex
run 1 keys import BAD --type aes128 --file bad.hex "${T[@]}"
expect err "bad.hex: line 1: a character that is not a hex digit"
printf '%s\n' "${AES_KEY}00" >long.hex
run 1 keys import BAD --type aes128 --file long.hex "${T[@]}"
expect err "more than the 16 bytes"
run 2 keys create X --type des "${T[@]}"
run 2 keys frobnicate "${T[@]}"
run 1 keys list --module /nonexistent/pkcs11.so "${T[@]}"
expect err "/nonexistent/pkcs11.so"
run 0 keys --help

# ---- no secret anywhere (either case)
for s in "$AES_KEY" "$COMP1" "${COMP2% *}" "$DES_KEY" "$WRAP_KEY" "$PIN" "$SO_PIN"; do
	if grep -qi -- "$s" "$all_out"; then
		echo "FAIL: a secret ($(printf '%s' "$s" | cut -c1-4)...) appears in an output" >&2
		fails=$((fails + 1))
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "test_token_cli: $fails failure(s)" >&2
	exit 1
fi
echo "test_token_cli: ok"
