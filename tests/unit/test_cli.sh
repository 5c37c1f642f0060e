#!/usr/bin/env bash
# test_cli.sh - the `cardfab` command, end to end, on virtual chips.
#
# Run by ctest with CARDFAB_BIN (the built binary), CARDFAB_SOURCE_DIR and a
# scratch working directory. Covers: help, version and usage errors; chip new
# (serial shown, transport code never in any output, file mode 0600,
# refusing to overwrite, option validation); chip info (text and JSON); apdu
# round trips, persistence across invocations, bad hex; script output against
# the text scriptor prints (and, when pcsc-tools' scriptor and its Perl
# module are installed, against scriptor itself run on a test double of
# Chipcard::PCSC); malformed script lines; the demo to the end.
set -euo pipefail

bin=${CARDFAB_BIN:-}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_cli: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi

work=$(pwd)/test_cli.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"

checks=0
fail()
{
	echo "FAIL: $*" >&2
	if [ -f out ]; then
		echo "--- stdout" >&2
		cat out >&2
	fi
	if [ -f err ]; then
		echo "--- stderr" >&2
		cat err >&2
	fi
	exit 1
}

# run WANT_RC CMD...: runs CMD with stdout in ./out, stderr in ./err and
# fails unless it exits with WANT_RC.
run()
{
	local want=$1 rc=0
	shift
	"$@" >out 2>err || rc=$?
	[ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
	checks=$((checks + 1))
}

has()
{ # has FILE TEXT: FILE contains TEXT (fixed string)
	grep -qF -- "$2" "$1" || fail "$1 lacks '$2'"
	checks=$((checks + 1))
}

hasnt()
{ # hasnt FILE TEXT
	if grep -qiF -- "$2" "$1"; then
		fail "$1 contains '$2'"
	fi
	checks=$((checks + 1))
}

# ---------------------------------------------------------------- basics

run 0 "$bin" --version
grep -qE '^cardfab [0-9]+\.[0-9]+' out || fail "--version: $(cat out)"
run 0 "$bin" --help
for c in chip apdu script demo help; do has out "  $c "; done
run 0 "$bin" help chip
has out "cardfab chip new --out CHIP"
run 0 "$bin" help script
has out "scriptor"
run 2 "$bin"
run 2 "$bin" frobnicate
has err "unknown command 'frobnicate'"
run 2 "$bin" help frobnicate
run 2 "$bin" chip
run 2 "$bin" chip new
has err "--out CHIP is required"
run 2 "$bin" chip new --out x.img --bogus
has err "unknown option '--bogus'"
run 2 "$bin" apdu 00A4000C023F00
has err "--card CARD is required"

# ---------------------------------------------------------------- chip new

run 0 "$bin" chip new --out c1.img --serial 0011223344556677 \
	--transport-code-out c1.code
has out "0011223344556677"
has out "cf32"
has out "TRANSPORT"
[ -f c1.img ] || fail "no image"
[ "$(stat -c %a c1.code)" = 600 ] || fail "code file mode $(stat -c %a c1.code)"
code=$(cat c1.code)
[[ $code =~ ^[0-9A-F]{16}$ ]] || fail "code file holds '$code'"
hasnt out "$code"
hasnt err "$code"

# Random serial and code: the serial is printed, the code nowhere.
run 0 "$bin" chip new --out c2.img --transport-code-out c2.code
serial2=$(sed -n 's/^serial *//p' out)
[[ $serial2 =~ ^[0-9A-F]{16}$ ]] || fail "serial '$serial2'"
hasnt out "$(cat c2.code)"
hasnt err "$(cat c2.code)"

# A code given on the command line is not echoed either.
run 0 "$bin" chip new --out c3.img --transport-code A1B2C3D4E5F60718 \
	--model cf64
has out "cf64"
hasnt out "A1B2C3D4E5F60718"
hasnt err "A1B2C3D4E5F60718"

# A code read from a file (out of the process list): the chip takes it,
# nothing echoes it; a second code, a missing file are refused.
printf '  B1C2D3E4F5061728 \n' >c3f.code
run 0 "$bin" chip new --out c3f.img --transport-code-file c3f.code
has out "code as given"
hasnt out "B1C2D3E4F5061728"
run 0 "$bin" apdu --card c3f.img 00A4000C023F00 0020001F08B1C2D3E4F5061728
[ "$(sed -n 2p out)" = 9000 ] || fail "the code from the file: VERIFY $(sed -n 2p out)"
run 2 "$bin" chip new --out c3g.img --transport-code-file c3f.code \
	--transport-code A1B2C3D4E5F60718
has err "one transport code"
run 1 "$bin" chip new --out c3g.img --transport-code-file nothere.code
has err "nothere.code"
hasnt err "B1C2D3E4F5061728"

# Without --transport-code-out a random code is lost: warned, not shown.
run 0 "$bin" chip new --out c4.img
has err "not saved"

# Refuse to overwrite, unless --force.
sum=$(md5sum <c1.img)
run 1 "$bin" chip new --out c1.img --serial 0011223344556677
has err "c1.img: file exists"
has err "--force"
[ "$(md5sum <c1.img)" = "$sum" ] || fail "c1.img changed"
run 1 "$bin" chip new --out c9.img --transport-code-out c1.code
has err "--transport-code-out c1.code: file exists"
[ ! -e c9.img ] || fail "c9.img made although the code file was refused"
[ "$(cat c1.code)" = "$code" ] || fail "c1.code changed"
run 0 "$bin" chip new --out c4.img --force --transport-code-out c4.code
run 0 "$bin" chip new --out c4.img --force --transport-code-out c4.code \
	--serial 0102030405060708
[ "$(stat -c %a c4.code)" = 600 ] || fail "c4.code mode after --force"

# Option validation names the option; a bad code is not echoed.
run 2 "$bin" chip new --out bad.img --serial 00112233
has err "--serial '00112233': expected 16 hex digits, got 8"
run 2 "$bin" chip new --out bad.img --serial 00112233445566ZZ
has err "--serial"
has err "not a hex digit"
run 2 "$bin" chip new --out bad.img --transport-code 12345678901234XY
has err "--transport-code"
hasnt err "12345678901234XY"
run 2 "$bin" chip new --out bad.img --model cf99
has err "--model 'cf99'"
run 2 "$bin" chip new --out bad.img --state initialized
has err "--state 'initialized'"
run 2 "$bin" chip new --out bad.img --tries 16
has err "--tries"
[ ! -e bad.img ] || fail "bad.img made on a usage error"

run 0 "$bin" chip new --out m.img --state manufacturing
has out "MANUFACTURING"

# ---------------------------------------------------------------- chip info

run 0 "$bin" chip info c1.img
has out "0011223344556677"
has out "cf32"
has out "TRANSPORT (GlobalPlatform 01 OP_READY)"
has out "3 tries left"
has out "3F00 MF AID A000000151000000"
has out "fab stamp: stamped"
has out "module stamp: not stamped"
has out "IC serial number         44556677"
hasnt out "$code"
hasnt err "$code"
run 0 "$bin" chip info --json c1.img
has out '"serial": "0011223344556677"'
has out '"life_cycle": "TRANSPORT"'
hasnt out "$code"
if command -v python3 >/dev/null; then
	python3 -m json.tool out >/dev/null || fail "chip info --json: not JSON"
fi
run 0 "$bin" chip info m.img
has out "MANUFACTURING"
has out "serial      not set"
run 1 "$bin" chip info nothere.img
has err "nothere.img: no such chip image"
head -c 100 /dev/zero >junk.img
run 1 "$bin" chip info junk.img
has err "junk.img"
run 2 "$bin" chip info
run 2 "$bin" chip info c1.img c2.img

# ---------------------------------------------------------------- apdu

run 0 "$bin" apdu --card c1.img 00A4000C023F00 "00 CA 9F 7F 00"
[ "$(sed -n 1p out)" = 9000 ] || fail "SELECT MF: $(sed -n 1p out)"
line=$(sed -n 2p out)
[[ $line =~ ^9F7F2A[0-9A-F]{84}\ 9000$ ]] || fail "GET DATA 9F7F: $line"
[ "$(wc -l <out)" -eq 2 ] || fail "two APDUs, $(wc -l <out) lines"
# vcard: prefix, SELECT with FCP, a test command that is gone
run 0 "$bin" apdu --card vcard:c1.img "00 A4 00 04 02 3F00 00" 8030000004
[[ $(sed -n 1p out) =~ ^62[0-9A-F]+\ 9000$ ]] || fail "FCP: $(sed -n 1p out)"
[ "$(sed -n 2p out)" = 6D00 ] || fail "TEST NVM in TRANSPORT: $(sed -n 2p out)"
run 0 "$bin" apdu --card c1.img --atr
[[ $(cat out) =~ ^3B9E ]] || fail "ATR: $(cat out)"
# T=0: a case 4 command answers 61xx, GET RESPONSE fetches the data
run 0 "$bin" apdu --card c1.img --protocol T=0 "00 A4 00 04 02 3F00 00" \
	00C0000024
[ "$(sed -n 1p out)" = 6124 ] || fail "T=0 SELECT: $(cat out)"
[[ $(sed -n 2p out) =~ ^6222[0-9A-F]{68}\ 9000$ ]] ||
	fail "T=0 GET RESPONSE: $(cat out)"

# Persistence: the chip's state lives in its image across invocations.
run 0 "$bin" apdu --card c1.img "00 20 00 1F 08 0000000000000000"
[ "$(cat out)" = 63C2 ] || fail "wrong transport code: $(cat out)"
run 0 "$bin" apdu --card c1.img 0020001F
[ "$(cat out)" = 63C2 ] || fail "tries not kept: $(cat out)"
run 0 "$bin" chip info c1.img
has out "2 tries left"
run 0 "$bin" apdu --card c1.img "00 20 00 1F 08 $code" 00CADF3000
[ "$(sed -n 1p out)" = 9000 ] || fail "right transport code: $(cat out)"
run 0 "$bin" apdu --card c1.img 00CADF3000
[[ $(cat out) =~ ^DF30..800132810103 ]] || fail "not INITIALIZATION: $(cat out)"
run 0 "$bin" chip info c1.img
has out "INITIALIZATION"

# Bad hex: nothing is sent, the argument is named, exit 2.
sum=$(md5sum <c1.img)
run 2 "$bin" apdu --card c1.img 00A4000C023F00 "00 A4 0G"
has err "APDU 2"
has err "character 8 ('G') is not a hex digit"
[ ! -s out ] || fail "something was sent: $(cat out)"
run 2 "$bin" apdu --card c1.img 00A4000
has err "APDU 1: odd number of hex digits (7)"
run 2 "$bin" apdu --card c1.img "00 A 4"
has err "APDU 1"
run 2 "$bin" apdu --card c1.img 00A4
has err "at least 4"
run 2 "$bin" apdu --card c1.img ""
run 2 "$bin" apdu --card c1.img --protocol T=2 00A40000
has err "--protocol 'T=2'"
[ "$(md5sum <c1.img)" = "$sum" ] || fail "c1.img changed by refused APDUs"
run 1 "$bin" apdu --card "pcsc:Some Reader" 00A40000
# pcscd not running, no reader, or no reader of that name: named either way
grep -qE "pcscd is not running|pcsc:Some Reader" err ||
	fail "pcsc:Some Reader: $(cat err)"
run 1 "$bin" apdu --card vcard:nothere.img 00A40000
has err "nothere.img: no such chip image"

# ---------------------------------------------------------------- script

run 0 "$bin" chip new --out s.img --serial 0011223344556677 \
	--transport-code 1122334455667788
cp s.img s-scriptor.img
cat >select.apdu <<'EOF'
# cardfab: select the MF, read the chip data
00 A4 00 00 02 3F 00
00 A4 00 04 02 3F 00 00
00CADF3000
# errors
00 A4 00 0C 02 12 34
80 30 00 00 04
00 20 00 1F 08 00 00 00 00 00 00 00 00
00 20 00 1F 08 \
11 22 33 44
FF A4 00 00
Reset
00 CA 9F 7F
EXIT here
00 A4 00 00
EOF
# What scriptor prints for it (read from /usr/bin/scriptor and
# Chipcard::PCSC: each line echoed, "> " command, "< " response 16 bytes a
# line, " : " and ISO7816Error's text; "> RESET" and "< OK: " ATR).
cat >select.expected <<'EOF'
Using T=1 protocol
# cardfab: select the MF, read the chip data
00 A4 00 00 02 3F 00
> 00 A4 00 00 02 3F 00
< 61 24 : 0x24 bytes of response still available.
00 A4 00 04 02 3F 00 00
> 00 A4 00 04 02 3F 00 00
< 62 22 81 02 00 00 82 01 38 83 02 3F 00 84 08 A0 
00 00 01 51 00 00 00 8A 01 01 8C 08 7F 40 40 40 
40 40 40 40 90 00 : Normal processing.
00CADF3000
> 00 CA DF 30 00 
< DF 30 22 80 01 32 81 01 02 82 01 01 83 08 00 11 
22 33 44 55 66 77 84 04 00 00 80 00 85 04 00 00 
67 00 86 01 03 90 00 : Normal processing.
# errors
00 A4 00 0C 02 12 34
> 00 A4 00 0C 02 12 34
< 6A 82 : Wrong parameter(s) P1-P2. File not found.
80 30 00 00 04
> 80 30 00 00 04
< 6D 00 : Instruction code not supported or invalid.
00 20 00 1F 08 00 00 00 00 00 00 00 00
> 00 20 00 1F 08 00 00 00 00 00 00 00 00
< 63 C2 : State of non-volatile memory changed. Counter: 0x2
00 20 00 1F 08 \
11 22 33 44
> 00 20 00 1F 08 11 22 33 44
< 67 00 : Wrong length.
FF A4 00 00
> FF A4 00 00
< 6E 00 : Class not supported.
Reset
> RESET
< OK: 3B 9E 96 80 31 FE 45 80 31 C0 73 F6 21 40 64 44 55 66 77 81 01 73 
00 CA 9F 7F
> 00 CA 9F 7F
< 61 2D : 0x2D bytes of response still available.
EXIT here
EOF
run 0 "$bin" script --card s.img select.apdu
diff -u select.expected out >diff.txt || fail "script output differs: $(cat diff.txt)"
checks=$((checks + 1))
has err "Using given file: select.apdu"
# stdin: nothing echoed
printf '00 A4 00 0C 02 3F 00\n' | "$bin" script --card s.img >out 2>err ||
	fail "script from stdin"
printf 'Using T=1 protocol\n> 00 A4 00 0C 02 3F 00\n< 90 00 : Normal processing.\n' >stdin.expected
diff -u stdin.expected out >diff.txt || fail "stdin script: $(cat diff.txt)"
checks=$((checks + 1))

# The same script through pcsc-tools' scriptor itself, each Transmit one
# `cardfab apdu` on a copy of the chip (a test double of Chipcard::PCSC).
if [ -x /usr/bin/scriptor ] && perl -MChipcard::PCSC::Card -e 1 2>/dev/null; then
	mkdir -p mock/Chipcard
	cat >mock/Chipcard/PCSC.pm <<'EOF'
package Chipcard::PCSC;
# Test double: what scriptor needs of Chipcard::PCSC, each card operation
# one run of `cardfab apdu` on the image $ENV{CARDFAB_MOCK_CARD}.
use strict;
use warnings;
use Carp;
our $errno = 0;
our $SCARD_PROTOCOL_T0 = 1;
our $SCARD_PROTOCOL_T1 = 2;
our $SCARD_SHARE_EXCLUSIVE = 1;
our $SCARD_SHARE_SHARED = 2;
our $SCARD_LEAVE_CARD = 0;
our $SCARD_RESET_CARD = 1;
our $SCARD_P_ALREADY_CONNECTED = 1;
our $SCARD_P_NOT_CONNECTED = 2;
sub new { return bless { hContext => 1 }, shift; }
sub ListReaders { return ('cardfab test double'); }
sub _Connect { return (1, $SCARD_PROTOCOL_T1); }
sub _Reconnect { return $SCARD_PROTOCOL_T1; }
sub _Disconnect { return 1; }
sub cardfab {
	open(my $fh, '-|', $ENV{CARDFAB_BIN}, 'apdu', '--card',
	     $ENV{CARDFAB_MOCK_CARD}, @_) or die "cardfab: $!";
	my @lines = <$fh>;
	close($fh) or die "cardfab apdu failed";
	chomp @lines;
	return @lines;
}
sub bytes_of { my $h = shift; $h =~ s/ //g; return [ map { hex } ($h =~ /(..)/g) ]; }
sub _Status {
	my ($atr) = cardfab('--atr');
	return ('cardfab test double', 0, $SCARD_PROTOCOL_T1, bytes_of($atr));
}
sub _Transmit {
	my ($h, $proto, $data) = @_;
	my ($line) = cardfab(join('', map { sprintf('%02X', $_) } @$data));
	return (1, bytes_of($line));
}
sub ascii_to_array {
	my @a;
	foreach my $t (split / /, shift) {
		croak("ascii_to_array: wrong value ($t)") unless $t =~ m/^[0-9a-f]{2}$/i;
		push @a, hex($t);
	}
	return \@a;
}
sub array_to_ascii { return join(' ', map { sprintf('%02X', $_) } @{ shift() }); }
sub DESTROY { }
1;
EOF
	rc=0
	CARDFAB_MOCK_CARD=s-scriptor.img PERL5LIB=$work/mock \
		perl /usr/bin/scriptor select.apdu >scriptor.out 2>scriptor.err ||
		rc=$?
	[ "$rc" -eq 0 ] || fail "scriptor: $(cat scriptor.err)"
	diff -u scriptor.out select.expected >diff.txt ||
		fail "scriptor itself prints otherwise: $(cat diff.txt)"
	checks=$((checks + 1))
else
	echo "test_cli: pcsc-tools' scriptor or Chipcard::PCSC missing:" \
		"compared with the expected text only"
fi

# Malformed lines: FILE:LINE, what is wrong, exit 1, earlier output kept.
printf '00 A4 00 0C 02 3F 00\n# ok\n00 A4 0G 00\n00 A4 00 00\n' >bad1.apdu
run 1 "$bin" script --card s.img bad1.apdu
has err "bad1.apdu:3: character 7: expected a byte as two hex digits"
has out "< 90 00 : Normal processing."
hasnt out "> 00 A4 0G"
printf '00 A4  00 0C\n' >bad2.apdu
run 1 "$bin" script --card s.img bad2.apdu
has err "bad2.apdu:1: two spaces in a row at character 7"
printf '00 A4 00 0C\r\n' >bad3.apdu
run 1 "$bin" script --card s.img bad3.apdu
has err "bad3.apdu:1: a carriage return"
printf '00A400000\n' >bad4.apdu
run 1 "$bin" script --card s.img bad4.apdu
has err "bad4.apdu:1: character 13: expected a byte as two hex digits, got 1 character"
printf '00 A4 00 00 \\\n' >bad5.apdu
run 1 "$bin" script --card s.img bad5.apdu
has err "bad5.apdu:1: the command continued"
run 1 "$bin" script --card s.img nothere.apdu
has err "nothere.apdu"
run 2 "$bin" script select.apdu
has err "--card CARD is required"

# ---------------------------------------------------------------- demo

run 0 "$bin" demo --dir demo
has out "OPERATIONAL"
has out "Done:"
has out "demo values"
has out "6D00"
has out "63C2"
has out "6985"
# demo values never printed: transport code, PIN, PUK, the GP test key
hasnt out "3132333435363738"
hasnt out "31323334 "
hasnt out "3837363534333231"
hasnt out "404142434445464748494A4B4C4D4E4F"
hasnt err "3132333435363738"
[ -f demo/demo-chip.img ] || fail "demo --dir keeps no image"
run 0 "$bin" chip info demo/demo-chip.img
has out "OPERATIONAL (GlobalPlatform 0F SECURED)"
has out "personalization stamp: stamped"
run 1 "$bin" demo --dir demo
has err "exists"
TMPDIR=$work run 0 "$bin" demo --chip
[ -z "$(ls -d "$work"/cardfab-demo-* 2>/dev/null)" ] ||
	fail "demo left its temporary folder"

echo "test_cli: $checks checks passed"
