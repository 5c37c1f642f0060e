#!/usr/bin/env bash
# test_perso_kill.sh - a personalization run killed with SIGKILL at random
# moments, and resumed with the same command, issues every holder exactly
# once and records every reject.
#
# Rounds: a fresh copy of the same initialized chips (campus profile, real
# SoftHSM2 token), two blank chips among them (never initialized: they
# must be rejected), a batch of holders, and `cardfab perso --stations 2`
# started and killed (kill -9) after a random delay, again and again, until
# a run finishes by itself. After every kill the journal must be sound
# (python check below): no holder issued twice, no card with two outcomes,
# every outcome after its start. At the end of a round: every holder
# issued once; each issued card is OPERATIONAL and holds the student id of
# the holder the journal gave it (read with `cardfab apdu`); the blank
# chips rejected with a reason and no other card rejected (a card killed
# after its CPLC stamp is taken up again, its stamp kept); one mailer line
# and one card face per issued card. At least 20 kills must have hit a running process, counted
# over the rounds.
#
# Exit 77 (skipped, loudly) only when SoftHSM2 is not installed.
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_perso_kill: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi
if [ ! -r /usr/lib/softhsm/libsofthsm2.so ]; then
	echo "*** test_perso_kill SKIPPED: /usr/lib/softhsm/libsofthsm2.so is" \
		"missing: install softhsm2 (scripts/setup.sh does) ***" >&2
	exit 77
fi

work=$(pwd)/test_perso_kill.work
rm -rf "$work"
mkdir -p "$work"
cd "$work"
umask 077

HOLDERS=${CARDFAB_KILL_HOLDERS:-48}
KILLS_WANTED=${CARDFAB_KILL_RUNS:-20}
fails=0

die()
{
	echo "test_perso_kill: FAIL: $*" >&2
	exit 1
}

q()
{
	"$bin" "$@" >q.out 2>q.err || {
		cat q.out q.err >&2
		die "cardfab $* failed"
	}
}

printf 'kill-user-7711\n' >pin
printf 'kill-so-7722\n' >so-pin
T=(--dir "$work/hsm" --token cf-kill --pin-file "$work/pin")
q keys init "${T[@]}" --so-pin-file so-pin
q keys create TMK --type aes128 "${T[@]}"
q keys create CARD-WRAP --type aes256 --wrap "${T[@]}"
q keys create BATCH-KEY --type aes256 --batch "${T[@]}"
q keys create MAILER-KEY --type aes256 --batch "${T[@]}"
for k in CAMPUS-SCP03-ENC CAMPUS-SCP03-MAC CAMPUS-SCP03-DEK CAMPUS-DOOR-MK \
	CAMPUS-CARD-MK; do
	q keys create "$k" --type aes128 "${T[@]}"
done

yaml=$src/profiles/campus.yaml
mkdir -p pristine
# Chips c01.. (initialized) and two blank ones sorted among them.
for i in $(seq 1 $((HOLDERS + 2))); do
	img=$(printf 'pristine/c%02d.img' "$i")
	q chip new --out "$img" --serial "$(printf '43464B00%08X' "$i")" \
		--transport-key TMK "${T[@]}"
	q init --card "vcard:$img" --profile "$yaml" "${T[@]}"
done
q chip new --out pristine/c05b.img --serial 43464BFF00000001 --transport-key TMK "${T[@]}"
q chip new --out pristine/c11b.img --serial 43464BFF00000002 --transport-key TMK "${T[@]}"

{
	echo "name,student-id,faculty,valid-until"
	for i in $(seq 1 "$HOLDERS"); do
		printf 'Holder %d,%010d,FACULTY OF ARTS,2030-06-30\n' "$i" $((3000000000 + i))
	done
} >holders.csv
q prep --profile "$yaml" --holders holders.csv --out kill.batch "${T[@]}"

# The journal's soundness: prints a reason and fails when it is not.
journal_sound()
{
	/usr/bin/python3 - "$1" "$HOLDERS" <<'EOF'
import sys
path, holders = sys.argv[1], int(sys.argv[2])
card, holder_card, issued = {}, {}, set()
data = open(path).read()
lines = data.split("\n")
if not data.endswith("\n") and lines[-1]:
    lines = lines[:-1]  # a torn last line: dropped by the next open
for n, l in enumerate(x for x in lines if x):
    f = l.split(" ", 3)
    kind, seq, serial = f[0], int(f[1]), f[2]
    if not 1 <= seq <= holders:
        sys.exit(f"line {n+1}: holder {seq} out of the batch")
    if kind == "B":
        if serial in card:
            sys.exit(f"line {n+1}: card {serial} started twice")
        if seq in holder_card:
            sys.exit(f"line {n+1}: holder {seq} given a second card")
        card[serial], holder_card[seq] = ("B", seq), serial
    elif kind in "IR":
        if card.get(serial) != ("B", seq):
            sys.exit(f"line {n+1}: outcome of {serial} without its start")
        card[serial] = (kind, seq)
        if kind == "I":
            if seq in issued:
                sys.exit(f"line {n+1}: holder {seq} issued twice")
            issued.add(seq)
        else:
            if len(f) < 4 or not f[3].strip():
                sys.exit(f"line {n+1}: a reject without its reason")
            del holder_card[seq]
    else:
        sys.exit(f"line {n+1}: unknown step {kind}")
print(len(issued))
EOF
}

kills=0
runs=0
restores=0 # SoftHSM2's token.object torn by a kill, put back
round=0
while [ "$kills" -lt "$KILLS_WANTED" ]; do
	round=$((round + 1))
	[ "$round" -le 40 ] || die "only $kills kills hit a run in 40 rounds"
	rm -rf cards "kill.batch.journal" "kill.batch.out"
	cp -r pristine cards
	done_round=0
	round_kills=0
	while [ "$done_round" -eq 0 ]; do
		runs=$((runs + 1))
		"$bin" perso --batch kill.batch --profile "$yaml" --cards cards \
			--stations 2 "${T[@]}" >run.out 2>run.err &
		pid=$!
		# A random moment from the process start to the middle of a
		# run: 0 to 80 ms at first, a range that doubles every 4
		# kills of a round, so that a slow build (sanitizers) gets
		# through its start too.
		max_ms=$((80 << (round_kills / 4)))
		[ "$max_ms" -le 5000 ] || max_ms=5000
		ms=$(((RANDOM * 32768 + RANDOM) % max_ms))
		sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		grep -q "restored from its copy" run.err && restores=$((restores + 1))
		if [ "$rc" -eq 137 ]; then
			kills=$((kills + 1))
			round_kills=$((round_kills + 1))
		elif [ "$rc" -eq 0 ]; then
			done_round=1
		else
			cat run.out run.err >&2
			die "run $runs exited $rc"
		fi
		[ -e kill.batch.journal ] || continue
		journal_sound kill.batch.journal >sound.out 2>&1 ||
			die "after run $runs: the journal is not sound: $(cat sound.out)"
		[ "$runs" -lt 400 ] || die "no run finished in 400 tries"
	done

	# The round's end: every holder once, the blanks rejected.
	n=$(journal_sound kill.batch.journal) || die "the final journal is not sound"
	[ "$n" -eq "$HOLDERS" ] || die "round $round: $n of $HOLDERS holders issued"
	for s in 43464BFF00000001 43464BFF00000002; do
		grep -q "^R [0-9]* $s ." kill.batch.journal ||
			die "round $round: blank chip $s not rejected"
		! grep -q "^I [0-9]* $s" kill.batch.journal ||
			die "round $round: blank chip $s issued"
	done
	# No good card lost to a kill: the two blanks are the only rejects.
	[ "$(grep -c '^R ' kill.batch.journal)" -eq 2 ] ||
		die "round $round: cards rejected besides the blanks: $(grep '^R ' kill.batch.journal | grep -v ' 43464BFF')"
	[ "$(wc -l <kill.batch.out/mailer.txt)" -eq "$HOLDERS" ] ||
		die "round $round: $(wc -l <kill.batch.out/mailer.txt) mailer lines for $HOLDERS holders"
	[ "$(cut -f3 kill.batch.out/mailer.txt | sort -u | wc -l)" -eq "$HOLDERS" ] ||
		die "round $round: a card twice in the mailer file"
	# Each issued card holds its own holder's student id.
	while read -r _ seq serial; do
		i=$((16#${serial:8}))
		img=$(printf 'cards/c%02d.img' "$i")
		sid=$(printf '%010d' $((3000000000 + seq)))
		sidhex=$(printf '%s' "$sid" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
		"$bin" apdu --card "$img" 00A4000C023F00 00CADF3000 \
			00A4080C0410001001 00B0000050 >a.out 2>&1 ||
			die "apdu on $img failed: $(cat a.out)"
		grep -q 810105 a.out || die "$serial is not OPERATIONAL"
		grep -q "$sidhex" a.out || die "$serial does not hold holder $seq's id"
		[ -s "kill.batch.out/faces/$serial.svg" ] || die "no card face for $serial"
	done < <(grep '^I ' kill.batch.journal)
	echo "round $round: $HOLDERS holders issued once, 2 rejects recorded; kills so far $kills in $runs runs"
done

echo "test_perso_kill: ok ($kills SIGKILLs mid-run, $runs runs, $round rounds;" \
	"SoftHSM2's token file restored $restores times)"
