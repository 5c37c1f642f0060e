#!/usr/bin/env bash
# check-freestanding.sh FILE...
#
# FILE is a static library or an object file of the card OS. Fails unless
# every symbol it needs from outside itself is in the allow-list below: the
# card OS runs on a chip, with no libc but the memory functions a compiler
# may emit calls to. A symbol defined in one member of an archive and used by
# another is internal and not counted.
set -euo pipefail
export LC_ALL=C

# _GLOBAL_OFFSET_TABLE_ is no function: the linker defines it for
# position-independent code (Debian's compilers build PIE by default).
allowed=(memcpy memmove memset memcmp _GLOBAL_OFFSET_TABLE_)

NM=${NM:-nm}
AR=${AR:-ar}

if [ $# -eq 0 ]; then
	echo "usage: $0 ARCHIVE-OR-OBJECT..." >&2
	exit 2
fi

is_allowed()
{
	local a
	for a in "${allowed[@]}"; do
		[ "$1" = "$a" ] && return 0
	done
	return 1
}

status=0
for file in "$@"; do
	if [ ! -f "$file" ]; then
		echo "check-freestanding: $file: no such file" >&2
		exit 2
	fi
	if members=$("$AR" t "$file" 2>/dev/null); then
		count=$(printf '%s\n' "$members" | grep -c . || true)
	else
		count=1
	fi

	# nm -P -A prints "FILE[MEMBER]: NAME TYPE ..." (or "FILE: NAME TYPE"
	# for an object); -u keeps undefined symbols (U, and weak w/v).
	defined=$("$NM" -P -A --defined-only "$file" |
		awk 'NF >= 3 { print $2 }' | sort -u)
	# "NAME USER" for every undefined reference.
	refs=$("$NM" -P -A -u "$file" |
		awk 'NF >= 3 { sub(/:$/, "", $1); print $2, $1 }' | sort -u)
	# References to symbols that no member defines.
	external=$(join -v 1 <(printf '%s\n' "$refs" | sed '/^$/d') \
		<(printf '%s\n' "$defined" | sed '/^$/d') || true)
	names=$(printf '%s\n' "$external" | awk 'NF { print $1 }' | sort -u)

	bad=()
	for sym in $names; do
		is_allowed "$sym" || bad+=("$sym")
	done

	echo "check-freestanding: $file: $count object(s)"
	echo "check-freestanding: allowed from outside: ${allowed[*]}"
	# shellcheck disable=SC2086 # one name a word
	echo "check-freestanding: needed from outside: $(printf '%s ' ${names:-none})"
	if [ ${#bad[@]} -ne 0 ]; then
		echo "check-freestanding: FAIL: $file needs symbols outside the allow-list:"
		for sym in "${bad[@]}"; do
			printf '%s\n' "$external" |
				awk -v s="$sym" '$1 == s { print "  " s " (in " $2 ")" }'
		done
		status=1
	else
		echo "check-freestanding: $file: OK"
	fi
done
exit $status
