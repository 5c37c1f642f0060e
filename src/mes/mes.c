/*
 * mes.c - the MES handle: opening a database by URL, errors, the SQL
 * token expansion, transactions and savepoints, schema migrations, CPLC
 * conversions.
 *
 * mes_open() picks the backend from the URL's form and nothing else: a
 * "scheme://" it does not know is an error (MES_ERR_URL), never a file
 * name, so that a mistyped "postgress://" does not silently create a
 * SQLite file of that name.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mes/mes_int.h"

const char *mes_strerror(mes_err_t err)
{
	switch (err) {
	case MES_OK:
		return "success";
	case MES_ERR_PARAM:
		return "bad argument";
	case MES_ERR_URL:
		return "unknown database URL";
	case MES_ERR_CONNECT:
		return "cannot open or reach the database";
	case MES_ERR_NOMEM:
		return "out of memory";
	case MES_ERR_SCHEMA:
		return "database schema missing or too new";
	case MES_ERR_CONSTRAINT:
		return "constraint violated (duplicate, unknown parent, issued "
		       "twice)";
	case MES_ERR_NOT_FOUND:
		return "not found";
	case MES_ERR_STATE:
		return "not allowed in this state";
	case MES_ERR_CLAIM:
		return "claim lost: the card is held by another station";
	case MES_ERR_BUSY:
		return "database busy";
	case MES_ERR_BACKEND:
		return "database error";
	}
	return "unknown error";
}

mes_err_t mes_fail(mes_t *m, mes_err_t err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->detail, sizeof m->detail, fmt, ap);
	va_end(ap);
	return err;
}

const char *mes_error_detail(const mes_t *m)
{
	return m ? m->detail : "no database";
}

const char *mes_backend(const mes_t *m)
{
	return m->be->name;
}

int64_t mes_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The length of "scheme" if s starts with "scheme://", else 0. */
static size_t url_scheme(const char *s)
{
	size_t i = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (s[i] && s[i] != ':') {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '.'))
			return 0;
		i++;
	}
	return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

mes_err_t mes_open(const char *url, mes_t **out, char *err, size_t errcap)
{
	size_t n;
	char dummy[1];

	if (!err || errcap == 0) {
		err = dummy;
		errcap = sizeof dummy;
	}
	err[0] = '\0';
	if (!out) {
		snprintf(err, errcap, "mes_open: no place for the handle");
		return MES_ERR_PARAM;
	}
	*out = NULL;
	if (!url || !url[0]) {
		snprintf(err, errcap,
			 "no database given (a path, sqlite:PATH "
			 "or postgresql://...)");
		return MES_ERR_PARAM;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		const char *path = url + 7;
		/* sqlite:///abs/path and sqlite://rel are accepted too. */
		if (strncmp(path, "//", 2) == 0)
			path += 2;
		if (!path[0]) {
			snprintf(err, errcap,
				 "%s: no file name after sqlite:", url);
			return MES_ERR_PARAM;
		}
		return mes_sqlite_open(path, out, err, errcap);
	}
	n = url_scheme(url);
	if (n == 0)
		return mes_sqlite_open(url, out, err, errcap);
	if ((n == 10 && strncmp(url, "postgresql", 10) == 0) ||
	    (n == 8 && strncmp(url, "postgres", 8) == 0))
		return mes_pg_open(url, out, err, errcap);
	snprintf(err, errcap,
		 "unknown database scheme \"%.*s://\" (expected a file path, "
		 "sqlite:PATH, postgresql:// or postgres://)",
		 (int)(n > 32 ? 32 : n), url);
	return MES_ERR_URL;
}

void mes_close(mes_t *m)
{
	if (!m)
		return;
	if (m->in_tx)
		m->be->tx(m, TX_ROLLBACK);
	m->be->close(m);
}

/* ---------------------------------------------------------- SQL text */

char *mes_expand(const mes_backend_t *be, const char *sql, int *nparams)
{
	static const struct {
		const char *tok;
		size_t off; /* of the replacement in mes_backend_t */
	} toks[] = {
		{ "{ID}", offsetof(mes_backend_t, id_type) },
		{ "{LOCK}", offsetof(mes_backend_t, lock) },
		{ "{NOW_US}", offsetof(mes_backend_t, now_us) },
		{ "{IN_IDS}", offsetof(mes_backend_t, ids_open) },
		{ "{/IN_IDS}", offsetof(mes_backend_t, ids_close) },
		{ "{HAS_VERSION_TABLE}", offsetof(mes_backend_t, has_version) },
	};
	size_t cap = strlen(sql) * 2 + 256, len = 0;
	char *out = malloc(cap);
	int maxp = 0;

	if (!out)
		return NULL;
	while (*sql) {
		const char *rep = NULL;
		size_t toklen = 0, rl;
		if (*sql == '{') {
			for (size_t i = 0; i < sizeof toks / sizeof toks[0];
			     i++) {
				size_t tl = strlen(toks[i].tok);
				if (strncmp(sql, toks[i].tok, tl) == 0) {
					rep = *(const char *const
							*)((const char *)be +
							   toks[i].off);
					toklen = tl;
					break;
				}
			}
		}
		if (!rep && *sql == '$' && sql[1] >= '0' && sql[1] <= '9') {
			int p = atoi(sql + 1);
			if (p > maxp)
				maxp = p;
			if (be->qmark) {
				out[len++] = '?';
				sql++;
				continue;
			}
		}
		if (!rep) {
			out[len++] = *sql++;
		} else {
			rl = strlen(rep);
			if (len + rl + 1 >= cap) {
				char *bigger;
				cap = (len + rl) * 2 + 256;
				bigger = realloc(out, cap);
				if (!bigger) {
					free(out);
					return NULL;
				}
				out = bigger;
			}
			memcpy(out + len, rep, rl);
			len += rl;
			sql += toklen;
		}
		if (len + 16 >= cap) {
			char *bigger;
			cap *= 2;
			bigger = realloc(out, cap);
			if (!bigger) {
				free(out);
				return NULL;
			}
			out = bigger;
		}
	}
	out[len] = '\0';
	if (nparams)
		*nparams = maxp;
	return out;
}

/* ---------------------------------------------------------- checks */

/* Well-formed UTF-8 as PostgreSQL accepts it: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return 0;
		i += k + 1;
	}
	return 1;
}

mes_err_t mes_check_str(mes_t *m, size_t row, const char *field, const char *s,
			size_t cap, int required)
{
	const char *end = memchr(s, '\0', cap);

	if (!end)
		return mes_fail(m, MES_ERR_PARAM,
				"row %zu: %s: longer than %zu bytes or not "
				"terminated",
				row, field, cap - 1);
	if (required && end == s)
		return mes_fail(m, MES_ERR_PARAM, "row %zu: %s: empty", row,
				field);
	if (!utf8_ok((const unsigned char *)s, (size_t)(end - s)))
		return mes_fail(m, MES_ERR_PARAM, "row %zu: %s: not UTF-8", row,
				field);
	return MES_OK;
}

/* ---------------------------------------------------------- transactions */

mes_err_t mes_unit_begin(mes_t *m, int durable)
{
	if (m->in_tx)
		return m->be->tx(m, TX_SAVEPOINT);
	return m->be->tx(m, durable ? TX_BEGIN_DURABLE : TX_BEGIN);
}

mes_err_t mes_unit_end(mes_t *m, int durable, mes_err_t st)
{
	char saved[MES_DETAIL_MAX];

	if (st == MES_OK) {
		if (m->in_tx)
			st = m->be->tx(m, TX_RELEASE);
		else
			st = m->be->tx(m,
				       durable ? TX_COMMIT_DURABLE : TX_COMMIT);
		if (st == MES_OK)
			return MES_OK;
	}
	/* Undo, keeping the detail of what failed. */
	memcpy(saved, m->detail, sizeof saved);
	if (m->in_tx) {
		if (m->be->tx(m, TX_ROLLBACK_TO) == MES_OK)
			m->be->tx(m, TX_RELEASE);
	} else {
		m->be->tx(m, TX_ROLLBACK);
	}
	memcpy(m->detail, saved, sizeof saved);
	return st;
}

mes_err_t mes_begin(mes_t *m)
{
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (m->in_tx)
		return mes_fail(m, MES_ERR_STATE,
				"begin: a transaction is open already");
	st = m->be->tx(m, TX_BEGIN);
	if (st == MES_OK)
		m->in_tx = 1;
	return st;
}

mes_err_t mes_commit(mes_t *m)
{
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!m->in_tx)
		return mes_fail(m, MES_ERR_STATE,
				"commit: no transaction is open");
	m->in_tx = 0;
	st = m->be->tx(m, TX_COMMIT);
	if (st != MES_OK) {
		char saved[MES_DETAIL_MAX];
		memcpy(saved, m->detail, sizeof saved);
		m->be->tx(m, TX_ROLLBACK);
		memcpy(m->detail, saved, sizeof saved);
	}
	return st;
}

mes_err_t mes_rollback(mes_t *m)
{
	if (!m)
		return MES_ERR_PARAM;
	if (!m->in_tx)
		return mes_fail(m, MES_ERR_STATE,
				"rollback: no transaction is open");
	m->in_tx = 0;
	return m->be->tx(m, TX_ROLLBACK);
}

/* ---------------------------------------------------------- migrations */

int mes_schema_latest(void)
{
	return mes_migrations[mes_migration_count - 1].version;
}

static int read_int0(mes_t *m, void *ctx)
{
	*(int64_t *)ctx = mes_col_int(m, 0);
	return 1;
}

static const char version_table[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	" version INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" applied_us BIGINT NOT NULL)";

static mes_err_t exec_expanded(mes_t *m, const char *what, const char *sql)
{
	char *x = mes_expand(m->be, sql, NULL);
	mes_err_t st;

	if (!x)
		return mes_fail(m, MES_ERR_NOMEM, "%s: out of memory", what);
	st = m->be->exec(m, what, x);
	free(x);
	return st;
}

mes_err_t mes_migrate(mes_t *m, int *from, int *to)
{
	int64_t cur = 0;
	mes_err_t st;
	int latest = mes_schema_latest();

	if (!m)
		return MES_ERR_PARAM;
	if (m->in_tx)
		return mes_fail(m, MES_ERR_STATE,
				"migrate: not inside a transaction");
	st = m->be->tx(m, TX_BEGIN);
	if (st != MES_OK)
		return st;
	if (m->be->migrate_lock)
		st = m->be->exec(m, "lock for migration", m->be->migrate_lock);
	if (st == MES_OK)
		st = m->be->exec(m, "create schema_version", version_table);
	if (st == MES_OK)
		st = m->be->query(m, SID_VERSION, NULL, read_int0, &cur);
	if (st == MES_OK && cur > latest)
		st = mes_fail(m, MES_ERR_SCHEMA,
			      "the database has schema version %lld, this "
			      "cardfab knows up to %d: use a newer cardfab",
			      (long long)cur, latest);
	for (size_t i = 0; st == MES_OK && i < mes_migration_count; i++) {
		const mes_migration_t *mg = &mes_migrations[i];
		const char *own = m->be == &mes_sqlite_backend ?
					  mg->sql_sqlite :
					  mg->sql_pg;
		char what[96];
		mes_val_t p[3];
		mes_call_t call = { SID_VERSION_ADD, p, NULL, 1, 0 };

		if (mg->version <= cur)
			continue;
		snprintf(what, sizeof what, "migration %d (%s)", mg->version,
			 mg->name);
		if (mg->sql)
			st = exec_expanded(m, what, mg->sql);
		if (st == MES_OK && own)
			st = exec_expanded(m, what, own);
		p[0] = mv_int(mg->version);
		p[1] = mv_text(mg->name);
		p[2] = mv_int(mes_now_us());
		if (st == MES_OK)
			st = m->be->run(m, &call, 1, NULL);
	}
	if (st == MES_OK)
		st = m->be->tx(m, TX_COMMIT);
	if (st != MES_OK) {
		char saved[MES_DETAIL_MAX];
		memcpy(saved, m->detail, sizeof saved);
		m->be->tx(m, TX_ROLLBACK);
		memcpy(m->detail, saved, sizeof saved);
		return st;
	}
	m->schema_ok = 1;
	if (from)
		*from = (int)cur;
	if (to)
		*to = cur > latest ? (int)cur : latest;
	return MES_OK;
}

mes_err_t mes_schema_version(mes_t *m, int *version)
{
	int64_t has = 0, cur = 0;
	mes_err_t st;

	if (!m || !version)
		return MES_ERR_PARAM;
	/* A database without the table is at version 0. */
	st = m->be->query(m, SID_VERSION_EXISTS, NULL, read_int0, &has);
	if (st == MES_OK && has)
		st = m->be->query(m, SID_VERSION, NULL, read_int0, &cur);
	if (st == MES_OK)
		*version = (int)cur;
	return st;
}

mes_err_t mes_analyze(mes_t *m)
{
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (m->in_tx)
		return mes_fail(m, MES_ERR_STATE,
				"analyze: not inside a transaction");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	return m->be->exec(m, "analyze", m->be->analyze);
}

mes_err_t mes_need_schema(mes_t *m)
{
	int v = 0;
	mes_err_t st;

	if (m->schema_ok)
		return MES_OK;
	st = mes_schema_version(m, &v);
	if (st != MES_OK)
		return st;
	if (v != mes_schema_latest())
		return mes_fail(m, MES_ERR_SCHEMA,
				"the database has schema version %d, this "
				"cardfab needs %d: %s",
				v, mes_schema_latest(),
				v < mes_schema_latest() ?
					"migrate it first (mes_migrate)" :
					"use a newer cardfab");
	m->schema_ok = 1;
	return MES_OK;
}

/* ---------------------------------------------------------- columns */

double mes_col_real(mes_t *m, int col)
{
	if (m->be->col_null(m, col))
		return 0.0 / 0.0;
	return m->be->col_real(m, col);
}

void mes_col_copy(mes_t *m, int col, char *dst, size_t cap)
{
	const char *s = m->be->col_text(m, col);
	size_t n = strlen(s);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* ---------------------------------------------------------- CPLC */

static const struct {
	const char *name;
	uint8_t len;
} cplc_fields[MES_CPLC_FIELDS] = {
	{ "ic_fabricator", 2 },
	{ "ic_type", 2 },
	{ "os_id", 2 },
	{ "os_release_date", 2 },
	{ "os_release_level", 2 },
	{ "ic_fabrication_date", 2 },
	{ "ic_serial", 4 },
	{ "ic_batch", 2 },
	{ "module_fabricator", 2 },
	{ "module_packaging_date", 2 },
	{ "icc_manufacturer", 2 },
	{ "embedding_date", 2 },
	{ "prepersonalizer", 2 },
	{ "prepersonalization_date", 2 },
	{ "prepersonalization_equipment", 4 },
	{ "personalizer", 2 },
	{ "personalization_date", 2 },
	{ "personalization_equipment", 4 },
};

const char *mes_cplc_field_name(mes_cplc_field_t f)
{
	return (unsigned)f < MES_CPLC_FIELDS ? cplc_fields[f].name : NULL;
}

size_t mes_cplc_field_len(mes_cplc_field_t f)
{
	return (unsigned)f < MES_CPLC_FIELDS ? cplc_fields[f].len : 0;
}

void mes_cplc_from_bytes(const uint8_t bytes[MES_CPLC_LEN], mes_cplc_t *out)
{
	size_t off = 0;

	for (int f = 0; f < MES_CPLC_FIELDS; f++) {
		uint32_t v = 0;
		for (unsigned k = 0; k < cplc_fields[f].len; k++)
			v = (v << 8) | bytes[off++];
		out->v[f] = v;
	}
	out->set = (1u << MES_CPLC_FIELDS) - 1;
}

void mes_cplc_to_bytes(const mes_cplc_t *cplc, uint8_t bytes[MES_CPLC_LEN])
{
	size_t off = 0;

	for (int f = 0; f < MES_CPLC_FIELDS; f++) {
		uint32_t v = (cplc->set >> f) & 1 ? cplc->v[f] : 0;
		for (unsigned k = cplc_fields[f].len; k > 0; k--)
			bytes[off++] = (uint8_t)(v >> (8 * (k - 1)));
	}
}
