/*
 * mes_sqlite.c - the SQLite backend of the MES: an embedded database in one
 * file, the default.
 *
 * Configuration, and why:
 *   journal_mode=WAL    readers (reports, trace) never block the writer
 *                       and the writer never blocks them; one fsync a
 *                       commit at most.
 *   synchronous=NORMAL  a commit is safe against a killed process at once
 *                       and against power loss after the next WAL sync;
 *                       the outcome of a claimed card switches to FULL
 *                       for its transaction (TX_BEGIN_DURABLE) so that an
 *                       issued card is on disk before mes_claim_finish()
 *                       returns, and the next card starts.
 *   busy_timeout=10 s   processes sharing the file (stations) wait for the
 *                       write lock instead of failing at once.
 *   foreign_keys=ON     a die needs its wafer, a card its module.
 *   BEGIN IMMEDIATE     every write transaction takes the write lock at
 *                       once: no deadlock between two readers upgrading,
 *                       and claims are atomic (the single-writer
 *                       equivalent of SKIP LOCKED).
 * Statements are prepared once (SQLITE_PREPARE_PERSISTENT) and reused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "mes/mes_int.h"

#if SQLITE_VERSION_NUMBER < 3035000
#error "cardfab's MES needs SQLite 3.35 or newer (RETURNING)"
#endif

#define BUSY_TIMEOUT_MS 10000

#define RETURNING_ID " RETURNING id"

typedef struct {
	mes_t base;
	sqlite3 *db;
	sqlite3_stmt *st[SID_COUNT];
	unsigned char rowid[SID_COUNT]; /* id from last_insert_rowid */
	sqlite3_stmt *cur;		/* the row being read */
	int durable; /* synchronous=FULL for the open transaction */
} mes_sq_t;

static mes_sq_t *sq(mes_t *m)
{
	return (mes_sq_t *)m;
}

static mes_err_t sq_fail(mes_sq_t *s, const char *what, size_t row, int rc)
{
	int base = rc & 0xff;
	mes_err_t e = MES_ERR_BACKEND;

	if (base == SQLITE_CONSTRAINT)
		e = MES_ERR_CONSTRAINT;
	else if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
		e = MES_ERR_BUSY;
	else if (base == SQLITE_NOMEM)
		e = MES_ERR_NOMEM;
	if (row != (size_t)-1)
		return mes_fail(&s->base, e, "%s (row %zu): %s", what, row,
				sqlite3_errmsg(s->db));
	return mes_fail(&s->base, e, "%s: %s", what, sqlite3_errmsg(s->db));
}

static mes_err_t sq_exec(mes_t *m, const char *what, const char *sql)
{
	mes_sq_t *s = sq(m);
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(s, what, (size_t)-1, rc);
	return MES_OK;
}

static mes_err_t sq_tx(mes_t *m, mes_txop_t op)
{
	mes_sq_t *s = sq(m);
	mes_err_t st = MES_OK;

	switch (op) {
	case TX_BEGIN_DURABLE:
		st = sq_exec(m, "begin", "PRAGMA synchronous = FULL");
		if (st != MES_OK)
			return st;
		s->durable = 1;
		/* fall through */
	case TX_BEGIN:
		st = sq_exec(m, "begin", "BEGIN IMMEDIATE");
		break;
	case TX_COMMIT:
	case TX_COMMIT_DURABLE:
		st = sq_exec(m, "commit", "COMMIT");
		break;
	case TX_ROLLBACK:
		/* No error if SQLite rolled back by itself already. */
		if (!sqlite3_get_autocommit(s->db))
			st = sq_exec(m, "rollback", "ROLLBACK");
		break;
	case TX_SAVEPOINT:
		return sq_exec(m, "savepoint", "SAVEPOINT mes_unit");
	case TX_RELEASE:
		return sq_exec(m, "release savepoint", "RELEASE mes_unit");
	case TX_ROLLBACK_TO:
		return sq_exec(m, "rollback to savepoint",
			       "ROLLBACK TO mes_unit");
	}
	/* Back to NORMAL once the durable transaction is over. */
	if (s->durable && sqlite3_get_autocommit(s->db)) {
		s->durable = 0;
		if (sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL,
				 NULL, NULL) != SQLITE_OK &&
		    st == MES_OK)
			st = sq_fail(s, "synchronous", (size_t)-1,
				     sqlite3_errcode(s->db));
	}
	return st;
}

static mes_err_t prepare(mes_sq_t *s, int sid, sqlite3_stmt **out)
{
	char *sql;
	int rc;

	if (s->st[sid]) {
		*out = s->st[sid];
		return MES_OK;
	}
	sql = mes_expand(&mes_sqlite_backend, mes_stmts[sid].sql, NULL);
	if (!sql)
		return mes_fail(&s->base, MES_ERR_NOMEM, "%s: out of memory",
				mes_stmts[sid].name);
	/* A plain INSERT's new id is sqlite3_last_insert_rowid(): RETURNING
	 * costs SQLite an ephemeral table a row (40% of a die's insert). */
	if (mes_stmts[sid].multi) {
		size_t n = strlen(sql), k = strlen(RETURNING_ID);
		if (n > k && !strcmp(sql + n - k, RETURNING_ID)) {
			sql[n - k] = '\0';
			s->rowid[sid] = 1;
		}
	}
	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				&s->st[sid], NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		s->st[sid] = NULL;
		return sq_fail(s, mes_stmts[sid].name, (size_t)-1, rc);
	}
	*out = s->st[sid];
	return MES_OK;
}

static int bind(sqlite3_stmt *st, const mes_val_t *p)
{
	int n = sqlite3_bind_parameter_count(st);

	for (int i = 0; i < n; i++) {
		int rc;
		switch (p[i].t) {
		case MV_INT:
			rc = sqlite3_bind_int64(st, i + 1, p[i].u.i);
			break;
		case MV_REAL:
			rc = sqlite3_bind_double(st, i + 1, p[i].u.d);
			break;
		case MV_TEXT:
			rc = sqlite3_bind_text(st, i + 1, p[i].u.s, -1,
					       SQLITE_STATIC);
			break;
		default:
			rc = sqlite3_bind_null(st, i + 1);
			break;
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static mes_err_t sq_query(mes_t *m, int sid, const mes_val_t *p, mes_rowfn_t fn,
			  void *ctx)
{
	mes_sq_t *s = sq(m);
	sqlite3_stmt *st;
	mes_err_t err = prepare(s, sid, &st);
	int rc;

	if (err != MES_OK)
		return err;
	rc = bind(st, p);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		if (fn) {
			s->cur = st;
			if (fn(m, ctx)) {
				rc = SQLITE_DONE;
				break;
			}
		}
	}
	s->cur = NULL;
	if (rc != SQLITE_DONE) {
		err = sq_fail(s, mes_stmts[sid].name, (size_t)-1, rc);
		sqlite3_reset(st);
		return err;
	}
	sqlite3_reset(st);
	return MES_OK;
}

static mes_err_t sq_run(mes_t *m, const mes_call_t *calls, size_t n,
			int64_t *changes)
{
	mes_sq_t *s = sq(m);
	int64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		const mes_call_t *c = &calls[i];
		sqlite3_stmt *st;
		mes_err_t err = prepare(s, c->sid, &st);
		int rc, first = 1;
		int64_t ch;

		if (err != MES_OK)
			return err;
		rc = bind(st, c->p);
		if (c->id_out)
			*c->id_out = 0;
		while (rc == SQLITE_OK || rc == SQLITE_ROW) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW && first && c->id_out)
				*c->id_out = sqlite3_column_int64(st, 0);
			first = 0;
		}
		if (rc != SQLITE_DONE) {
			err = sq_fail(s, mes_stmts[c->sid].name, c->row, rc);
			sqlite3_reset(st);
			return err;
		}
		sqlite3_reset(st);
		ch = sqlite3_changes(s->db);
		if (c->id_out && s->rowid[c->sid])
			*c->id_out = sqlite3_last_insert_rowid(s->db);
		total += ch;
		if (c->expect >= 0 && ch != c->expect)
			return mes_fail(m, MES_ERR_STATE,
					"%s (row %zu): %lld rows changed, %lld "
					"expected",
					mes_stmts[c->sid].name, c->row,
					(long long)ch, (long long)c->expect);
	}
	if (changes)
		*changes = total;
	return MES_OK;
}

static int sq_col_null(mes_t *m, int col)
{
	return sqlite3_column_type(sq(m)->cur, col) == SQLITE_NULL;
}

static int64_t sq_col_int(mes_t *m, int col)
{
	return sqlite3_column_int64(sq(m)->cur, col);
}

static double sq_col_real(mes_t *m, int col)
{
	return sqlite3_column_double(sq(m)->cur, col);
}

static const char *sq_col_text(mes_t *m, int col)
{
	const unsigned char *t = sqlite3_column_text(sq(m)->cur, col);

	return t ? (const char *)t : "";
}

static void sq_close(mes_t *m)
{
	mes_sq_t *s = sq(m);

	for (int i = 0; i < SID_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close_v2(s->db);
	free(s);
}

const mes_backend_t mes_sqlite_backend = {
	.name = "sqlite",
	.id_type = "INTEGER PRIMARY KEY",
	.lock = "",
	.now_us = "CAST((julianday('now') - 2440587.5) * 86400000000.0 "
		  "AS INTEGER)",
	.ids_open = "IN (SELECT value FROM json_each(",
	.ids_close = "))",
	.ids_lb = '[',
	.ids_rb = ']',
	.has_version = "SELECT COUNT(*) FROM sqlite_master "
		       "WHERE type = 'table' AND name = 'schema_version'",
	.qmark = 1,
	.migrate_lock = NULL, /* BEGIN IMMEDIATE is the lock */
	.analyze = "PRAGMA optimize",
	.close = sq_close,
	.exec = sq_exec,
	.tx = sq_tx,
	.query = sq_query,
	.run = sq_run,
	.col_null = sq_col_null,
	.col_int = sq_col_int,
	.col_real = sq_col_real,
	.col_text = sq_col_text,
};

/* Runs a PRAGMA that answers one text row; copies the answer. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	out[0] = '\0';
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(out, cap, "%s", t ? (const char *)t : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

mes_err_t mes_sqlite_open(const char *path, mes_t **out, char *err,
			  size_t errcap)
{
	static const char *const pragmas[] = {
		"PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
		"PRAGMA cache_size = -32768", /* KiB: 32 MiB of pages */
	};
	sqlite3 *db = NULL;
	mes_sq_t *s;
	char mode[16];
	int rc;

	if (sqlite3_libversion_number() < 3035000) {
		snprintf(err, errcap,
			 "SQLite %s is too old: the MES needs 3.35 or newer",
			 sqlite3_libversion());
		return MES_ERR_CONNECT;
	}
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errcap, "%s: cannot open the database: %s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return rc == SQLITE_NOMEM ? MES_ERR_NOMEM : MES_ERR_CONNECT;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	rc = pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
	if (rc == SQLITE_OK && strcmp(mode, "wal") != 0) {
		snprintf(err, errcap,
			 "%s: SQLite cannot use a WAL journal there (journal "
			 "mode \"%s\"): put the database on a local file "
			 "system",
			 path, mode);
		sqlite3_close(db);
		return MES_ERR_CONNECT;
	}
	for (size_t i = 0;
	     rc == SQLITE_OK && i < sizeof pragmas / sizeof *pragmas; i++)
		rc = sqlite3_exec(db, pragmas[i], NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errcap, "%s: cannot use the database: %s", path,
			 sqlite3_errmsg(db));
		sqlite3_close(db);
		return (rc & 0xff) == SQLITE_BUSY ? MES_ERR_BUSY :
						    MES_ERR_CONNECT;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		sqlite3_close(db);
		snprintf(err, errcap, "%s: out of memory", path);
		return MES_ERR_NOMEM;
	}
	s->base.be = &mes_sqlite_backend;
	s->db = db;
	*out = &s->base;
	return MES_OK;
}
