#!/usr/bin/env bash
# test_pcsc.sh - a cardfab virtual chip as a card in a PC/SC reader, driven
# by programs nobody here wrote, and cardfab's own pcsc: backend.
#
# The real pieces, started here: pcscd (pcsc-lite, in the foreground, no
# systemd) with vsmartcard's vpcd driver, and `cardfab vicc` serving a fresh
# chip with a known structure (made with `cardfab chip new` and `cardfab
# apdu`: transport code, a DF with a DF name, a transparent EF with known
# content; access conditions "always"; no fuse) as the card in "Virtual PCD
# 00 00". Then:
#
#   opensc-tool      -a (the ATR), -s (APDUs: responses and status words)
#   pcsc_scan        the card seen, its ATR parsed by ATR_analysis (TCK,
#                    protocols, IFSC, historical bytes, LCS), identified from
#                    a test smartcard_list.txt
#   scriptor         a script, transcript compared with the expected one
#   pyscard          pcsc_check.py (/usr/bin/python3)
#   opensc-explorer  cd into the DF, info, cat of the EF, random 16
#   cardfab          apdu and script with --card pcsc: and 'pcsc:Virtual PCD
#                    00 00' (the same transcript as scriptor's), readers
#
# and the errors a user meets: pcscd not running, vpcd port closed (vicc
# says so and connects when pcscd comes), no such reader, no card, card
# removed during a session, image locked by vicc, chip info on a reader,
# pcscd restarting under vicc (it reconnects, the chip keeps its state),
# SIGTERM (vicc stops cleanly, the image holds what was written through
# PC/SC), malformed messages on vicc's socket (from a fake vpcd here).
# And campus cards made the whole way (a SoftHSM2 token of the test's
# folder, chip new, init, prep, then `perso --wait` on the PC/SC reader,
# the cards put in one after the other) and read by opensc-tool: the
# holder's data, OPERATIONAL, the transport code and the test commands
# refused.
#
# Every output is checked, not only exit statuses. Every process started
# here is killed on every way out (trap).
#
# Isolation: as root, the test re-runs itself in private mount and network
# namespaces (unshare): its own /run/pcscd (pcscd's socket has a fixed
# path) and its own loopback, so a pcscd or vpcd of the machine is neither
# seen nor disturbed. Without root it runs its own pcscd if none runs and
# it can; it exits 77 (ctest: skipped) only when it cannot start pcscd at
# all, saying why.
#
# Environment: CARDFAB_BIN (the cardfab binary; ctest sets it),
# CARDFAB_PCSC_VERBOSE=1 to show every command's output, CARDFAB_PCSC_NS=0
# to run without namespaces even as root.
set -uo pipefail

SKIP=77
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${CARDFAB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${CARDFAB_BIN:-}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_pcsc: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
py=/usr/bin/python3 # pyscard belongs to Debian's python
reader0='Virtual PCD 00 00'
reader1='Virtual PCD 00 01'
sock=/run/pcscd/pcscd.comm

skip()
{
	echo "test_pcsc: SKIPPED: $*" >&2
	echo "test_pcsc: *** the PC/SC integration test did NOT run ***" >&2
	exit $SKIP
}

# ---------------------------------------------------------------- isolation

if [ -z "${CARDFAB_PCSC_NS:-}" ] && [ "$(id -u)" -eq 0 ] &&
	command -v unshare >/dev/null &&
	unshare --mount --propagation private true 2>/dev/null; then
	mkdir -p /run/pcscd
	# A private loopback too, when `ip` can bring it up.
	netns=()
	if command -v ip >/dev/null &&
		unshare --net ip link set lo up 2>/dev/null; then
		netns=(--net)
	fi
	exec unshare --mount "${netns[@]}" --propagation private env \
		CARDFAB_PCSC_NS=1 CARDFAB_BIN="$bin" bash -c '
		mount -t tmpfs -o mode=0755 tmpfs /run/pcscd || exit 1
		if [ "$1" = --net ]; then ip link set lo up || exit 1; fi
		exec bash "$0"' "${BASH_SOURCE[0]}" "${netns[@]}"
fi
mode=host
[ "${CARDFAB_PCSC_NS:-}" = 1 ] && mode=namespace

# ---------------------------------------------------------------- tools

missing=()
for t in pcscd opensc-tool opensc-explorer pcsc_scan ATR_analysis scriptor; do
	command -v "$t" >/dev/null || missing+=("$t")
done
[ -x "$py" ] && "$py" -c 'import smartcard' 2>/dev/null ||
	missing+=("python3-pyscard (for $py)")
vpcd_lib=$(ls /usr/lib/pcsc/drivers/serial/libifdvpcd.so* 2>/dev/null | head -n 1)
[ -n "$vpcd_lib" ] || missing+=("vsmartcard-vpcd (libifdvpcd.so)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "test_pcsc: FAIL: missing ${missing[*]}: run scripts/setup.sh" >&2
	exit 1
fi

# ---------------------------------------------------------------- harness

work=$(pwd)/test_pcsc.work
rm -rf "$work"
mkdir -p "$work/home/.cache"
cd "$work"
# ATR_analysis looks a card up in ~/.cache/smartcard_list.txt and fetches a
# new list from the network when that file is missing or old: here it is
# fresh, and holds the cardfab card OS's ATR.
export HOME=$work/home
cat >"$HOME/.cache/smartcard_list.txt" <<'EOF'
# cardfab test list (test_pcsc.sh)
3B 9E 96 80 31 FE 45 80 31 C0 73 F6 21 40 64 .. .. .. .. 81 01 ..
	cardfab virtual chip, card OS, TRANSPORT
3B 9E 96 80 31 FE 45 80 31 C0 73 F6 21 40 64 .. .. .. .. 81 03 ..
	cardfab virtual chip, card OS, INITIALIZATION
EOF
# OpenSC's configuration: the system one, or none at all, is what users
# have; keep the test from reading a user's own.
export OPENSC_CONF=$work/opensc.conf
printf 'app default {\n\tdebug = 0;\n}\n' >"$OPENSC_CONF"

pids=()
pcscd_pid=
vicc_pid=
checks=0
start=$SECONDS

cleanup()
{
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail()
{
	echo "test_pcsc: FAIL: $*" >&2
	local f
	for f in out err vicc.err pcscd.log; do
		if [ -s "$f" ]; then
			echo "--- $f (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		fi
	done
	exit 1
}

# run WANT_RC CMD...: stdout in ./out, stderr in ./err; fails unless CMD
# exits WANT_RC.
run()
{
	local want=$1 rc=0
	shift
	"$@" >out 2>err || rc=$?
	if [ "${CARDFAB_PCSC_VERBOSE:-}" = 1 ]; then
		echo "\$ $*"
		cat out err
	fi
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
	if grep -qF -- "$2" "$1"; then
		fail "$1 contains '$2'"
	fi
	checks=$((checks + 1))
}

same()
{ # same FILE EXPECTED_FILE
	diff -u "$2" "$1" >diff.txt || fail "$1 differs: $(cat diff.txt)"
	checks=$((checks + 1))
}

# wait_for SECONDS WHAT CMD...: until CMD succeeds.
wait_for()
{
	local limit=$(($1 * 10)) what=$2 i
	shift 2
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "timed out after ${limit}00 ms waiting for $what"
}

start_pcscd()
{
	pcscd -f -i >>pcscd.log 2>&1 &
	pcscd_pid=$!
	pids+=("$pcscd_pid")
	wait_for 10 "pcscd's socket $sock" test -S "$sock"
	wait_for 10 "pcscd to list '$reader0'" \
		bash -c "'$bin' readers | grep -qF '$reader0'"
}

stop_pcscd()
{
	kill "$pcscd_pid" 2>/dev/null
	wait "$pcscd_pid" 2>/dev/null
	pcscd_pid=
	wait_for 10 "pcscd's socket to go" bash -c "! test -S $sock"
}

start_vicc()
{ # start_vicc [ARGS...]: cardfab vicc on chip.img, stderr in vicc.err (anew)
	"$bin" vicc --card chip.img "$@" >vicc.out 2>vicc.err &
	vicc_pid=$!
	pids+=("$vicc_pid")
}

card_in()
{ # the card is in reader0
	"$bin" readers 2>/dev/null | grep -qxF "card   pcsc:$reader0"
}

# ---------------------------------------------------------------- pcscd

if [ "$mode" = host ]; then
	if [ -S "$sock" ]; then
		# Someone's pcscd: use it if it has vpcd, never stop it.
		"$bin" readers >readers.txt 2>&1 ||
			skip "$sock exists but no pcscd answers on it: $(cat readers.txt)"
		grep -qF "$reader0" readers.txt ||
			skip "the pcscd running here has no '$reader0' (vsmartcard-vpcd not loaded) and, not being root, this test cannot start its own"
		mode=shared
	else
		pcscd -f -i >pcscd.log 2>&1 &
		pcscd_pid=$!
		pids+=("$pcscd_pid")
		for ((i = 0; i < 50; i++)); do
			[ -S "$sock" ] && break
			kill -0 "$pcscd_pid" 2>/dev/null || break
			sleep 0.1
		done
		if ! [ -S "$sock" ]; then
			skip "cannot start pcscd (not root, and 'pcscd -f -i' says: $(grep -m 2 -iE 'cannot|denied|error|critical' pcscd.log | tr '\n' ' '))"
		fi
		stop_pcscd
	fi
fi
echo "test_pcsc: running in $mode mode ($([ "$mode" = namespace ] &&
	echo "private /run/pcscd and loopback" ||
	echo "the machine's /run/pcscd"))"

# ---------------------------------------------------------------- the chip

content="cardfab virtual chip says hello!" # 32 bytes, the EF's body
content_hex=$(printf '%s' "$content" | od -An -tx1 | tr -d ' \n' |
	tr a-f A-F)
aid=F043415244464142 # F0 "CARDFAB"
run 0 "$bin" chip new --out chip.img --serial 0011223344556677 \
	--transport-code 3132333435363738
run 0 "$bin" apdu --card chip.img \
	0020001F083132333435363738 \
	"00E00000 13 6211 820138 8302DF01 8408$aid" \
	"00E00000 10 620E 820101 8302EF01 80020020 880108" \
	"00D6000020 $content_hex"
printf '9000\n9000\n9000\n9000\n' >expect
same out expect
run 0 "$bin" apdu --card chip.img --atr
atr=$(head -n 1 out)
[ "$atr" = 3B9E968031FE458031C073F621406444556677810371 ] ||
	fail "the chip's ATR is $atr"
atr_colons=$(echo "$atr" | sed 's/../&:/g; s/:$//' | tr A-F a-f)
atr_spaced=$(echo "$atr" | sed 's/../& /g; s/ $//')

# ---------------------------------------------------------------- no pcscd

if [ "$mode" != shared ]; then
	run 1 "$bin" apdu --card pcsc: 00A4000C023F00
	has err "pcscd is not running"
	run 1 "$bin" readers
	has err "pcscd is not running"
	# vicc with the vpcd port closed: says so, and gives up when asked to
	run 1 "$bin" vicc --card chip.img --wait 0
	has err "vpcd at 127.0.0.1:35963 refused the connection"
	has err "is pcscd running"
	# ... or waits for it, saying so once
	start_vicc
	wait_for 10 "vicc to report the closed port" \
		grep -qF "refused the connection" vicc.err
	sleep 0.5
	[ "$(grep -cF "refused the connection" vicc.err)" -eq 1 ] ||
		fail "vicc repeats itself: $(cat vicc.err)"
	checks=$((checks + 1))
	start_pcscd
else
	start_vicc
fi
wait_for 10 "vicc to connect to vpcd" grep -qF "connected to vpcd" vicc.err
wait_for 10 "the card in '$reader0'" card_in
run 0 "$bin" readers
has out "card   pcsc:$reader0"
has out "empty  pcsc:$reader1"

# ---------------------------------------------------------------- opensc-tool

run 0 opensc-tool -r "$reader0" -a
[ "$(cat out)" = "$atr_colons" ] || fail "opensc-tool -a: $(cat out)"
checks=$((checks + 1))
run 0 opensc-tool -r "$reader0" -s 00A4040C08$aid -s 00A4020C02EF01 \
	-s 00B0000010 -s 00A4000C021234
has out "Received (SW1=0x90, SW2=0x00)"
[ "$(grep -cF "Received (SW1=0x90, SW2=0x00)" out)" -eq 3 ] ||
	fail "opensc-tool: three APDUs should answer 9000"
checks=$((checks + 1))
has out "63 61 72 64 66 61 62 20 76 69 72 74 75 61 6C 20 cardfab virtual "
has out "Received (SW1=0x6A, SW2=0x82)"

# ---------------------------------------------------------------- pcsc_scan

run 0 timeout 20 pcsc_scan -t 1
has out "Reader 0: $reader0"
has out "Card inserted"
has out "ATR: $atr_spaced"
has out "+ TS = 3B --> Direct Convention"
has out "Protocol T = 0"
has out "Protocol T = 1"
has out "IFSC: 254"
has out "Block Waiting Integer: 4 - Character Waiting Integer: 5"
has out "Category indicator byte: 80 (compact TLV data object)"
has out "DF selection by full DF name"
has out "Extended Lc and Le fields"
has out "Data: 44 55 66 77"
has out "LCS (life card cycle): 03"
has out "TCK = 71 (correct checksum)"
has out "cardfab virtual chip, card OS, INITIALIZATION"
hasnt out "ERROR"
hasnt out "Invalid"
hasnt out "Updating"
# ATR_analysis alone, the same interpretation
run 0 ATR_analysis "$atr"
has out "TCK = 71 (correct checksum)"
has out "Historical bytes: 80 31 C0 73 F6 21 40 64 44 55 66 77 81 03"

# ---------------------------------------------------------------- scriptor

cat >select.apdu <<EOF
# select the DF by name and the EF, read it, reset, chip data
00 A4 04 0C 08 F0 43 41 52 44 46 41 42
00A4020C02EF01
00 B0 00 00 10
00 A4 00 0C 02 12 34
reset
00 B0 00 00 01
00 CA DF 30 00
EOF
cat >select.expected <<EOF
Using T=1 protocol
# select the DF by name and the EF, read it, reset, chip data
00 A4 04 0C 08 F0 43 41 52 44 46 41 42
> 00 A4 04 0C 08 F0 43 41 52 44 46 41 42
< 90 00 : Normal processing.
00A4020C02EF01
> 00 A4 02 0C 02 EF 01 
< 90 00 : Normal processing.
00 B0 00 00 10
> 00 B0 00 00 10
< 63 61 72 64 66 61 62 20 76 69 72 74 75 61 6C 20 
90 00 : Normal processing.
00 A4 00 0C 02 12 34
> 00 A4 00 0C 02 12 34
< 6A 82 : Wrong parameter(s) P1-P2. File not found.
reset
> RESET
< OK: $atr_spaced 
00 B0 00 00 01
> 00 B0 00 00 01
< 69 86 : Command not allowed. Command not allowed (no current EF).
00 CA DF 30 00
> 00 CA DF 30 00
< DF 30 22 80 01 32 81 01 03 82 01 01 83 08 00 11 
22 33 44 55 66 77 84 04 00 00 80 00 85 04 00 00 
66 E0 86 01 00 90 00 : Normal processing.
EOF
run 0 scriptor -r "$reader0" select.apdu
same out select.expected
has err "Using given card reader: $reader0"

# ---------------------------------------------------------------- pyscard

run 0 "$py" "$here/pcsc_check.py" "$reader0" "$atr" "$content_hex"
has out "pyscard: 13 checks passed"
hasnt out "FAIL"

# ---------------------------------------------------------------- opensc-explorer

printf 'cd DF01\ninfo\ninfo EF01\ncat EF01\nrandom 16\nrandom 16\n' >explorer.in
run 0 opensc-explorer -r "$reader0" <explorer.in
has out "OpenSC [3F00/DF01]>"
has out "Dedicated File  ID DF01"
has out "File path:               3F00/DF01"
has out "Working Elementary File  ID EF01"
has out "File path:               3F00/DF01/EF01"
has out "File size:               32 bytes"
has out "EF structure:            Transparent"
has out "00000000: 63 61 72 64 66 61 62 20 76 69 72 74 75 61 6C 20 cardfab virtual "
has out "00000010: 63 68 69 70 20 73 61 79 73 20 68 65 6C 6C 6F 21 chip says hello!"
grep -E '^00000000:( [0-9A-F]{2}){16} ' out | grep -vF "63 61 72 64" >random.txt
[ "$(wc -l <random.txt)" -eq 2 ] ||
	fail "opensc-explorer random 16: expected two 16-byte lines: $(cat out)"
[ "$(sed -n 1p random.txt)" != "$(sed -n 2p random.txt)" ] ||
	fail "opensc-explorer random 16: twice the same bytes"
checks=$((checks + 2))
hasnt err "failed"

# ---------------------------------------------------------------- cardfab pcsc:

# the same script through cardfab's pcsc: backend: scriptor's transcript
run 0 "$bin" script --card "pcsc:$reader0" select.apdu
same out select.expected
run 0 "$bin" apdu --card pcsc: --atr 00A4040C08$aid 00A4020C02EF01 \
	00B0000020 00D6000004CAFEF00D 00B0000004
printf '%s\n9000\n9000\n%s 9000\n9000\nCAFEF00D 9000\n' "$atr" \
	"$content_hex" >expect
same out expect
# GET RESPONSE followed by cardfab itself
run 0 "$bin" apdu --card "pcsc:$reader0" --get-response 00A4040C08$aid \
	00A4000402EF01
[ "$(sed -n 1p out)" = 9000 ] &&
	sed -n 2p out | grep -qE '^62[0-9A-F]*8302EF01[0-9A-F]* 9000$' ||
	fail "apdu --get-response: $(cat out)"
checks=$((checks + 1))
# errors: no such reader, ambiguous, no card, chip info, locked image
run 1 "$bin" apdu --card pcsc:Nope 00A4000C023F00
has err "pcsc:Nope: no reader of that name; readers present: '$reader0' (card), '$reader1' (empty)"
run 1 "$bin" apdu --card pcsc:Virtual 00A4000C023F00
has err "2 readers have names starting with it"
run 1 "$bin" apdu --card "pcsc:$reader1" 00A4000C023F00
has err "pcsc:$reader1: no card in the reader"
run 1 "$bin" chip info "pcsc:$reader0"
has err "this is a PC/SC reader"
run 1 "$bin" apdu --card chip.img 00A4000C023F00
has err "chip.img: the chip image is in use by another process (held by pid $vicc_pid"
has err "vicc --card chip.img"

# ---------------------------------------------------------------- card removed

# A session reading commands from a FIFO: the card leaves between two.
mkfifo cmds
"$bin" script --card "pcsc:$reader0" cmds >removed.out 2>removed.err &
script_pid=$!
pids+=("$script_pid")
exec 7>cmds
echo "00 A4 00 0C 02 3F 00" >&7
wait_for 10 "the first answer of the session" \
	grep -qF "< 90 00" removed.out
kill "$vicc_pid"
wait "$vicc_pid"
vicc_rc=$?
[ "$vicc_rc" -eq 0 ] || fail "vicc ended with $vicc_rc on SIGTERM"
echo "00 A4 00 0C 02 3F 00" >&7
exec 7>&-
rc=0
wait "$script_pid" || rc=$?
[ "$rc" -eq 1 ] || fail "script after the card left: exit $rc: $(cat removed.err)"
grep -qF "pcsc:$reader0: the card was removed during the" removed.err ||
	fail "script after the card left: $(cat removed.err)"
checks=$((checks + 2))
has vicc.err "stopped by SIGTERM"
has vicc.err "chip.img closed"
# The image is consistent and holds what was written through PC/SC.
run 0 "$bin" apdu --card chip.img 00A4040C08$aid 00A4020C02EF01 00B0000004
printf '9000\n9000\nCAFEF00D 9000\n' >expect
same out expect
run 0 "$bin" chip info chip.img
has out "INITIALIZATION"
run 1 "$bin" apdu --card pcsc: 00A4000C023F00
has err "no card in any reader"

# ---------------------------------------------------------------- pcscd restarts

start_vicc
wait_for 10 "the card back in '$reader0'" card_in
if [ "$mode" != shared ]; then
	stop_pcscd
	wait_for 10 "vicc to notice pcscd stopping" \
		grep -qF "vpcd closed the connection" vicc.err
	run 1 "$bin" apdu --card "pcsc:$reader0" 00A4000C023F00
	has err "pcscd is not running"
	start_pcscd
	wait_for 15 "vicc to reconnect" grep -qF "reconnected to vpcd" vicc.err
	wait_for 10 "the card back after pcscd's restart" card_in
	run 0 "$bin" apdu --card pcsc: 00A4040C08$aid 00A4020C02EF01 00B0000004
	printf '9000\n9000\nCAFEF00D 9000\n' >expect
	same out expect
else
	echo "test_pcsc: the machine's pcscd is not ours: restart not tested"
fi

# ---------------------------------------------------------------- the end

kill "$vicc_pid"
wait "$vicc_pid" || fail "vicc: exit $? on SIGTERM"
has vicc.err "stopped by SIGTERM"
hasnt vicc.err "malformed input"

# ---------------------------------------------------------------- bad input

# A fake vpcd on another port sends malformed messages: vicc reports each
# (where and what), answers what needs an answer, and stays up.
"$py" - "$bin" >fake.out 2>&1 <<'EOF' || fail "fake vpcd: $(cat fake.out)"
import socket, struct, subprocess, sys, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
err = open("fake_vicc.err", "w")
vicc = subprocess.Popen([sys.argv[1], "vicc", "--card", "chip.img",
                         "--port", str(port)], stderr=err)
srv.settimeout(10)
c, _ = srv.accept()
c.settimeout(5)
def send(b): c.sendall(struct.pack(">H", len(b)) + b)
def recv():
    n = struct.unpack(">H", c.recv(2, socket.MSG_WAITALL))[0]
    return c.recv(n, socket.MSG_WAITALL) if n else b""
send(b"\x07")                     # unknown control: reported, no answer
send(b"")                         # empty message: reported, no answer
send(bytes.fromhex("00A4000C023F00"))  # APDU while unpowered: 6F00
assert recv() == b"\x6f\x00", "unpowered APDU"
send(b"\x01"); send(b"\x04")      # power on, ATR
atr = recv()
assert atr[:2] == b"\x3b\x9e", atr.hex()
send(bytes.fromhex("00A4000C023F00"))
assert recv() == b"\x90\x00", "SELECT MF"
c.sendall(b"\x00\x10\x00\xa4")    # a message cut short by the peer
c.close()
time.sleep(0.5)
assert vicc.poll() is None, "vicc died"
vicc.terminate()
assert vicc.wait(10) == 0, "vicc exit status"
print("fake vpcd: ok")
EOF
has fake.out "fake vpcd: ok"
has fake_vicc.err "malformed input from vpcd: vpcd message 1 (stream byte 0): unknown control byte 07"
has fake_vicc.err "vpcd message 2 (stream byte 3): empty message"
has fake_vicc.err "vpcd message 3 (stream byte 5): a 7-byte APDU (00A4000C023F00) for a card that is not powered; answered 6F00"
has fake_vicc.err "the connection closed inside a message (4 of its bytes received)"
has fake_vicc.err "4 malformed messages"

# ---------------------------------------------------------------- personalized

# A campus card made the whole way (keys in a SoftHSM2 token of this
# folder, chip new, init, prep, perso) and read by OpenSC through pcscd:
# the holder's data, the state OPERATIONAL, the transport code and the
# fab's test commands refused.
if [ -r /usr/lib/softhsm/libsofthsm2.so ]; then
	printf 'pcsc-perso-user-1\n' >tpin
	printf 'pcsc-perso-so-2\n' >tso
	T=(--dir "$work/hsm" --token cf-pcsc --pin-file "$work/tpin")
	run 0 "$bin" keys init "${T[@]}" --so-pin-file "$work/tso"
	run 0 "$bin" keys create TMK --type aes128 "${T[@]}"
	run 0 "$bin" keys create CARD-WRAP --type aes256 --wrap "${T[@]}"
	for k in BATCH-KEY MAILER-KEY; do
		run 0 "$bin" keys create "$k" --type aes256 --batch "${T[@]}"
	done
	for k in CAMPUS-SCP03-ENC CAMPUS-SCP03-MAC CAMPUS-SCP03-DEK \
		CAMPUS-DOOR-MK CAMPUS-CARD-MK; do
		run 0 "$bin" keys create "$k" --type aes128 "${T[@]}"
	done
	mkdir -p perso-cards
	for i in 1 2; do
		run 0 "$bin" chip new --out perso-cards/p$i.img \
			--serial 434650435343000$i --transport-key TMK "${T[@]}"
		run 0 "$bin" init --card vcard:perso-cards/p$i.img \
			--profile "$src/profiles/campus.yaml" "${T[@]}"
	done
	printf 'name,student-id,faculty,valid-until\nKim Park,4000000042,CHEMISTRY,2031-07-31\nLea Roy,4000000043,LAW,2031-07-31\n' >holder.csv
	run 0 "$bin" prep --profile "$src/profiles/campus.yaml" \
		--holders holder.csv --out p.batch "${T[@]}"
	# A station on the reader, waiting for cards put in one by one (the
	# operator's side of a bureau): p1, taken out, then p2.
	"$bin" perso --batch p.batch --profile "$src/profiles/campus.yaml" \
		--card "pcsc:$reader0" --wait "${T[@]}" >perso.out 2>perso.err &
	perso_pid=$!
	pids+=("$perso_pid")
	wait_for 10 "the station to wait for a card" grep -q "waiting for a card" perso.out
	for i in 1 2; do
		"$bin" vicc --card perso-cards/p$i.img >vicc.out 2>vicc.err &
		vicc_pid=$!
		pids+=("$vicc_pid")
		wait_for 20 "card p$i personalized through PC/SC" \
			grep -q "card 434650435343000$i issued to holder" perso.out
		kill "$vicc_pid"
		wait "$vicc_pid" || fail "vicc (p$i): exit $? on SIGTERM"
		wait_for 10 "card p$i to leave '$reader0'" bash -c \
			"! '$bin' readers 2>/dev/null | grep -qxF 'card   pcsc:$reader0'"
	done
	wait "$perso_pid" || fail "perso --wait: exit $?: $(cat perso.err)"
	has perso.out "2 of 2 holders issued"
	has perso.out "card 4346504353430001 issued to holder 4000000042"
	has perso.out "card 4346504353430002 issued to holder 4000000043"
	"$bin" vicc --card perso-cards/p1.img >vicc.out 2>vicc.err &
	vicc_pid=$!
	pids+=("$vicc_pid")
	wait_for 10 "the personalized card in '$reader0'" card_in
	# DF by its AID, the holder file, DF30 from the MF, the transport
	# code, a test command.
	run 0 opensc-tool -r "$reader0" -s 00A4040C09A00000077743414D50 \
		-s 00A4020C021001 -s 00B0000030 -s 00A4000C023F00 -s 00CADF3000 \
		-s 0020001F080102030405060708 -s 8030000004
	has out "4B 69 6D 20 50 61 72 6B" # "Kim Park"
	has out "34 30 30 30 30 30 30 30" # "40000000", the student id
	has out "81 01 05"                # life cycle OPERATIONAL
	[ "$(grep -cF "Received (SW1=0x90, SW2=0x00)" out)" -eq 5 ] ||
		fail "opensc-tool: five APDUs should answer 9000"
	checks=$((checks + 1))
	grep -qE "Received \(SW1=0x6A, SW2=0x88\)|Received \(SW1=0x69, SW2=0x85\)" out ||
		fail "the transport code was not refused"
	checks=$((checks + 1))
	has out "Received (SW1=0x6D, SW2=0x00)"
	kill "$vicc_pid"
	wait "$vicc_pid" || fail "vicc (personalized card): exit $? on SIGTERM"
	wait_for 10 "the personalized card to leave '$reader0'" bash -c \
		"! '$bin' readers 2>/dev/null | grep -qxF 'card   pcsc:$reader0'"
else
	echo "test_pcsc: *** SoftHSM2 missing: the personalized card NOT tested ***"
fi

# ---------------------------------------------------------------- memory card

# When this build has the memory card: the same bridge serves it, and PC/SC
# programs use the ACS readers' pseudo-APDUs on it (docs/memcard.md).
if "$bin" help chip | grep -q sle4442; then
	run 0 "$bin" chip new --out mem.img --model sle4442 \
		--serial 0102030405060708 --transport-code 123456
	"$bin" vicc --card mem.img >vicc.out 2>vicc.err &
	vicc_pid=$!
	pids+=("$vicc_pid")
	wait_for 10 "the memory card in '$reader0'" card_in
	run 0 opensc-tool -r "$reader0" -a
	[ "$(cat out)" = "3b:04:a2:13:10:91" ] ||
		fail "memory card ATR: $(cat out)"
	run 0 opensc-tool -r "$reader0" -s FFA400000106 -s FFB0000010
	has out "A2 13 10 91 FF FF 81 15 01 02 03 04 05 06 07 08"
	run 0 "$bin" apdu --card pcsc: FFA400000106 FF20000003123456 \
		FFD0004004DEADBEEF FFB0004004
	printf '9000\n9007\n9000\nDEADBEEF 9000\n' >expect
	same out expect
	printf 'FF A4 00 00 01 06\nFF B0 00 40 04\n' >mem.apdu
	run 0 scriptor -r "$reader0" mem.apdu
	has out "< DE AD BE EF 90 00 : Normal processing."
	kill "$vicc_pid"
	wait "$vicc_pid" || fail "vicc (memory card): exit $? on SIGTERM"
	has vicc.err "serving mem.img (memory card, ATR 3B04A2131091)"
	run 0 "$bin" chip info mem.img
	has out "  40: DE AD BE EF FF"
	has out "error counter 07: 3 tries left"
else
	echo "test_pcsc: no memory card in this build: not tested"
fi

run 0 "$bin" chip info chip.img
has out "INITIALIZATION"
echo "test_pcsc: $checks checks passed in $((SECONDS - start)) s ($mode mode)"
