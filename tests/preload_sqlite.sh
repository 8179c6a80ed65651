#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload_sqlite.sh LIB - the sqlite3 shell on a database under the mount:
# 200,000 rows inserted in transactions in the default rollback-journal
# mode with PRAGMA mmap_size (reads through a udax mapping: checked in
# the library's debug output), PRAGMA integrity_check, a second process
# that reopens the database and finds every row; then the same in WAL
# mode (its -shm file is a udax mapping too). Prints the transcript.
set -u
. "$(dirname "$0")/preload_env.sh"
preload_setup "$1"
need sqlite3 sqlite3
db=$UDAX_MOUNT/test.db
fail=0

run() { # run NAME EXPECTED SQL: the shell's output must be EXPECTED
	local name=$1 want=$2 sql=$3 got
	echo "\$ sqlite3 $db <<EOF"
	printf '%s\n' "$sql"
	echo "EOF"
	got=$(printf '%s\n' "$sql" | UDAX_PRELOAD_DEBUG=1 pl sqlite3 -batch "$db" \
		2>"$pl_dir/debug")
	printf '%s\n' "$got"
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: expected:"
		printf '%s\n' "$want"
		grep -v '^udax-preload' "$pl_dir/debug"
		fail=1
	fi
}

mapped() { # the last run mapped the database through udax
	if ! grep -q "mmap .* bytes at 0: 0x" "$pl_dir/debug"; then
		echo "FAIL $1: no udax mapping of the database"
		fail=1
	fi
}

fill() { # fill FIRST LAST: one transaction of rows FIRST..LAST
	printf '%s\n' "BEGIN;" \
		"WITH RECURSIVE c(x) AS (SELECT $1 UNION ALL SELECT x + 1 FROM c WHERE x < $2)" \
		"INSERT INTO t(id, v) SELECT x, printf('row %08d %s', x, hex(randomblob(12))) FROM c;" \
		"COMMIT;"
}

run "create" "$(printf '268435456\ndelete')" "PRAGMA mmap_size = 268435456;
PRAGMA journal_mode;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);
$(fill 1 50000)
$(fill 50001 100000)
$(fill 100001 150000)
$(fill 150001 200000)"
grep -q 'open test.db-journal' "$pl_dir/debug" ||
	{ echo "FAIL: no rollback journal was used"; fail=1; }
run "integrity" "$(printf '268435456\nok\n200000|20000100000')" \
"PRAGMA mmap_size = 268435456;
PRAGMA integrity_check;
SELECT count(*), sum(id) FROM t;"
mapped integrity
# A rolled-back transaction leaves nothing.
run "rollback" "$(printf '268435456\n200000')" \
"PRAGMA mmap_size = 268435456;
BEGIN; DELETE FROM t WHERE id % 2 = 0; ROLLBACK;
SELECT count(*) FROM t;"
# A second process (a new shell) finds every row, through the mapping.
run "reopen" "$(printf '268435456\n200000|200000|1|200000\n0')" \
"PRAGMA mmap_size = 268435456;
SELECT count(*), count(DISTINCT v), min(id), max(id) FROM t;
SELECT count(*) FROM t WHERE v NOT LIKE printf('row %08d %%', id);"
mapped reopen

db=$UDAX_MOUNT/wal.db
run "wal" "$(printf 'wal\n268435456\n200000\nok')" \
"PRAGMA journal_mode = WAL;
PRAGMA mmap_size = 268435456;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);
$(fill 1 100000)
$(fill 100001 200000)
SELECT count(*) FROM t;
PRAGMA integrity_check;"
grep -q 'open wal.db-shm' "$pl_dir/debug" ||
	{ echo "FAIL: WAL mode without its -shm file"; fail=1; }
run "wal reopen" "$(printf 'wal\n200000|20000100000')" \
"PRAGMA journal_mode;
SELECT count(*), sum(id) FROM t;"
pl ls -l "$UDAX_MOUNT"
exit $fail
