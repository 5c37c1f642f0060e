#!/usr/bin/env bash
# test_mes_pg.sh - runs the MES test suite (test_mes) on PostgreSQL, on a
# throwaway server this script starts and removes itself.
#
# The server is Debian's PostgreSQL (package postgresql, version 15 by
# default): initdb and pg_ctl from /usr/lib/postgresql/<version>/bin run as
# the `postgres` user when we are root (as ourselves otherwise), in a fresh
# temporary directory, listening only on a unix socket in that directory
# (no TCP port, so nothing can collide with another server or test). The
# server a `postgresql` package's postinst may have started is not used
# nor touched. Whatever way this script ends (success, failure, ^C, TERM),
# the server is stopped and the directory deleted (trap); only a SIGKILL
# of this script can leave them behind.
#
# Usage:
#   test_mes_pg.sh                 the test (ctest: test_mes_pg)
#   test_mes_pg.sh --run CMD ARGS  runs CMD with a throwaway server instead
#                                  (bench/mes.sh does); CMD finds it in
#                                  CARDFAB_MES_PG_URL
# Environment:
#   CARDFAB_BUILD_DIR   where test_mes is (tests/test_mes under it)
#   PG_BIN              the directory of initdb and pg_ctl (default: the
#                       15 under /usr/lib/postgresql, else the newest)
#   CARDFAB_PG_DURABLE  1: keep fsync on (the bench does; tests turn it off)
#   CARDFAB_PG_OPTS     more server options ("-c name=value ...")
# Exit 77 (ctest: skipped) when PostgreSQL cannot run here, said loudly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

skip()
{
	{
		echo "test_mes_pg: SKIPPED: $*"
		echo "test_mes_pg: *** the MES was NOT tested on PostgreSQL ***"
	} >&2
	exit 77
}

mode=test
cmd=()
if [ $# -gt 0 ] && [ "$1" = "--run" ]; then
	shift
	[ $# -gt 0 ] || { echo "test_mes_pg: --run needs a command" >&2; exit 2; }
	mode=run
	cmd=("$@")
	durable=${CARDFAB_PG_DURABLE:-1}
else
	durable=${CARDFAB_PG_DURABLE:-0}
	bin=
	for cand in ${CARDFAB_BUILD_DIR:+"$CARDFAB_BUILD_DIR/tests/test_mes"} \
		"$root/build/tests/test_mes"; do
		if [ -x "$cand" ]; then
			bin=$cand
			break
		fi
	done
	if [ -z "$bin" ]; then
		echo "test_mes_pg: no test_mes binary (set CARDFAB_BUILD_DIR," \
			"build with cmake first)" >&2
		exit 1
	fi
	cmd=("$bin")
fi

pgbin=${PG_BIN:-}
if [ -z "$pgbin" ]; then
	for cand in /usr/lib/postgresql/15/bin \
		$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$cand/initdb" ] && [ -x "$cand/pg_ctl" ]; then
			pgbin=$cand
			break
		fi
	done
fi
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] ||
	skip "no initdb and pg_ctl under /usr/lib/postgresql/*/bin:" \
		"install the Debian package postgresql (scripts/setup.sh does)"

# As root, the server runs as postgres (initdb refuses root).
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 ||
		skip "running as root and there is no postgres user to run" \
			"the server as (the postgresql package creates it)"
	if command -v runuser >/dev/null 2>&1; then
		as_pg=(runuser -u postgres --)
	elif command -v setpriv >/dev/null 2>&1; then
		as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	else
		skip "running as root without runuser or setpriv to become postgres"
	fi
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cardfab-pg.XXXXXX")
started=0
cleanup()
{
	local rc=$?
	set +e
	if [ "$started" = 1 ]; then
		(cd "$dir" && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" \
			-m immediate -w -t 30 stop >/dev/null 2>&1)
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [ ${#as_pg[@]} -gt 0 ]; then
	chown postgres: "$dir"
fi

# A short socket path: the socket name must fit in 107 bytes.
port=5432
if ! (cd "$dir" && "${as_pg[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres \
	-A trust -E UTF8 --locale=C --no-sync) >"$dir/initdb.log" 2>&1; then
	cat "$dir/initdb.log" >&2
	skip "initdb failed (log above)"
fi
opts="-c listen_addresses='' -k $dir -p $port"
if [ "$durable" != 1 ]; then
	# A throwaway test server: nothing to keep across a crash.
	opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
opts="$opts ${CARDFAB_PG_OPTS:-}"
started=1
if ! (cd "$dir" && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" \
	-l "$dir/server.log" -w -t 60 -o "$opts" start) >/dev/null 2>&1; then
	cat "$dir/server.log" >&2 2>/dev/null || true
	skip "the PostgreSQL server did not start (log above)"
fi

version=$("$pgbin/postgres" --version 2>/dev/null || echo "PostgreSQL")
echo "test_mes_pg: $version on $dir/.s.PGSQL.$port (fsync $([ "$durable" = 1 ] && echo on || echo off))" >&2
export CARDFAB_MES_TEST_PG_HOST=$dir
export CARDFAB_MES_TEST_PG_PORT=$port
export CARDFAB_MES_TEST_PG_USER=postgres
export CARDFAB_MES_PG_URL="postgresql:///postgres?host=$dir&port=$port&user=postgres"

rc=0
"${cmd[@]}" || rc=$?
if [ $rc -ne 0 ] && [ "$mode" = test ]; then
	echo "test_mes_pg: test_mes failed on PostgreSQL (exit $rc); server log:" >&2
	tail -n 30 "$dir/server.log" >&2 || true
fi
exit $rc
