#!/usr/bin/env bash
# test_profile_cli.sh - `cardfab profile check` and `cardfab profile show`:
# their output and exit statuses.
#
# Run by ctest with CARDFAB_BIN (the built binary), CARDFAB_SOURCE_DIR and a
# scratch working directory. Covers: the three example profiles check ("FILE:
# ok" and the memory budget, nothing on stderr), several files in one run,
# a broken profile (every diagnostic as FILE:LINE:COL: error: FIELD: ...,
# the count, exit 1, and the good files of the same run still reported),
# over capacity, warnings only (exit 0), a missing file, usage errors (exit
# 2), `show`, and the help.
#
# The command exists once src/cli/main.c's table names it. Until then this
# test says so and passes, unless main.c already names cmd_profile (then a
# binary without the command is a failure).
set -euo pipefail

bin=${CARDFAB_BIN:-}
src=${CARDFAB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "test_profile_cli: CARDFAB_BIN is not an executable: '${bin}'" >&2
	exit 1
fi

if ! "$bin" help profile >/dev/null 2>&1; then
	if grep -q cmd_profile "$src/src/cli/main.c"; then
		echo "test_profile_cli: main.c names cmd_profile but $bin has" \
			"no 'profile' command" >&2
		exit 1
	fi
	echo "test_profile_cli: SKIPPED: 'cardfab profile' is not in" \
		"src/cli/main.c's table yet (the library is tested by" \
		"test_profile and test_profile_chip)"
	exit 0
fi

work=$(pwd)/test_profile_cli.work
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

run()
{ # run WANT_RC CMD...: stdout to ./out, stderr to ./err
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
	if grep -qF -- "$2" "$1"; then
		fail "$1 contains '$2'"
	fi
	checks=$((checks + 1))
}

empty()
{ # empty FILE
	[ ! -s "$1" ] || fail "$1 is not empty"
	checks=$((checks + 1))
}

# ---------------------------------------------------------------- the examples

for p in campus transit; do
	f=$src/profiles/$p.yaml
	run 0 "$bin" profile check "$f"
	[ "$(head -n 1 out)" = "$f: ok" ] || fail "first line: $(head -n 1 out)"
	has out "chip cf32: CPU chip, 32 KiB EEPROM"
	has out "system area + journal                1792"
	has out "object table (32 x 48)               1536"
	has out "file table (64 x 48)                 3072"
	has out "file bodies: capacity               26368"
	has out "file table slots (MF included)"
	empty err
done
run 0 "$bin" profile check "$src/profiles/campus.yaml"
has out "used by the profile                 736"
has out "free                              25632"
has out "object slots (PINs and keys)          7 of 32"
has out "file table slots (MF included)        5 of 64"

run 0 "$bin" profile check "$src/profiles/loyalty.yaml"
has out "$src/profiles/loyalty.yaml: ok"
has out "main memory"
has out "the fab's (ATR, ids, serial)           20"
has out "data areas                             54"
has out "protected by the profile               10"
empty err

# all three in one run
run 0 "$bin" profile check "$src"/profiles/*.yaml
[ "$(grep -c ': ok$' out)" -eq 3 ] || fail "expected 3 ok lines"

# ---------------------------------------------------------------- errors

cat >bad.yaml <<'EOF'
profile: bad
version: 1
chip: cf32
features: [df, transparent, cyclic, scp03, aes, secure-messaging]
scp03: {kvn: 0x30, level: [c-mac, c-dec]}
keys:
  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: scp03-enc, diversify: {master: E, method: aes-ecb-serial}}
  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes128, usage: scp03-mac, diversify: {master: M, method: aes-ecb-serial}}
  - {name: dek, ref: 3, kvn: 0x30, algorithm: aes128, usage: scp03-dek, diversify: {master: D, method: aes-ecb-serial}}
files:
  - name: app
    type: df
    fid: 1000
    aid: A0 00 00 07 77 01
    access: {default: sm}
    files:
      - {name: id, type: transparent, fid: 1001, size: 16, access: {read: always}}
      - {name: log, type: cyclic, fid: 1001, record-length: 300, records: 4, access: {read: pim:1}}
      - {name: x, type: transparent, fid: 1003, sise: 4, access: {read: always}}
fields:
  - {name: id, type: digits, max-length: 10, trace: true, place: {file: id, offset: 10}}
EOF
run 1 "$bin" profile check bad.yaml
hasnt out "ok"
has err "bad.yaml:18:40: error: files[app].files[log].fid: FID 1001 is already file 'id' (line 17) in the same DF"
has err "bad.yaml:18:61: error: files[app].files[log].record-length: record length 300"
has err "files[app].files[log].access.read: expected always, never, sm"
has err "(did you mean 'pin:1'?)"
has err "files[app].files[x]: unknown key 'sise' (did you mean 'size'?)"
has err "fields[id].place: bytes 10..19 are outside file 'id'"
has err "bad.yaml: 6 errors"
# in file order
[ "$(grep -n 'bad.yaml:1[89]' err | head -n 1 | cut -d: -f1)" -lt \
	"$(grep -n 'bad.yaml:21' err | cut -d: -f1)" ] || fail "order"
checks=$((checks + 1))

# a good and a bad file: the good one is still reported, the run fails
run 1 "$bin" profile check "$src/profiles/campus.yaml" bad.yaml
has out "$src/profiles/campus.yaml: ok"
has err "bad.yaml: 6 errors"

# over capacity
sed -e 's/size: 16,/size: 26369,/' -e '/name: log/d' -e '/name: x/d' \
	-e 's/offset: 10/offset: 0/' bad.yaml >big.yaml
run 1 "$bin" profile check big.yaml
has err "error: files: the file bodies take 26369 bytes; chip cf32 has 26368"
has err "1 bytes over"

# warnings only: exit 0, the warning on stderr
sed -e 's/size: 16,/size: 16,/' -e '/name: log/d' -e '/name: x/d' \
	-e 's/offset: 10/offset: 0/' bad.yaml >warn.yaml
run 0 "$bin" profile check warn.yaml
has out "warn.yaml: ok"
has err "warning: features: cyclic is listed but the profile does not use it"

# YAML syntax
printf 'profile: t\nchip: [cf32\n' >syntax.yaml
run 1 "$bin" profile check syntax.yaml
has err "syntax.yaml:3:1: error:"
has err "syntax.yaml: 1 error"

# a file that is not there
run 1 "$bin" profile check nothere.yaml
has err "nothere.yaml: error: cannot open: No such file or directory"

# ---------------------------------------------------------------- show

run 0 "$bin" profile show "$src/profiles/campus.yaml"
has out "profile campus: University access and identity card"
has out "1003 access-log  cyclic 32 x 16  SFI 3  [512]"
has out "read: [pin:1, sm]  update: never  append: key:4"
has out "01 holder-pin  global, 8 bytes ascii-numeric pad FF, 4-8 digits, 3 tries, PUK puk"
has out "student-id  digits 10..10 required trace unique: holder bytes 40..49"
has out "contact-phone  digits 0..15: private record 1 TLV 70 81"
has out "memory budget"
run 0 "$bin" profile show "$src/profiles/loyalty.yaml"
has out " 16.. 20 issuer  protected at initialization"
has out "member-number  digits 10..10 required trace unique: area member bytes 27..31"
run 1 "$bin" profile show bad.yaml
empty out

# ---------------------------------------------------------------- usage

run 2 "$bin" profile
has err "expected an action"
run 2 "$bin" profile frob x.yaml
has err "unknown action 'frob'"
run 2 "$bin" profile check
run 2 "$bin" profile show a.yaml b.yaml
run 2 "$bin" profile --frob
run 0 "$bin" profile --help
has out "usage: cardfab profile check FILE..."
run 0 "$bin" help profile
has out "cardfab profile show FILE"

echo "test_profile_cli: $checks checks passed"
