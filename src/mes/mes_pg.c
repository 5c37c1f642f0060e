/*
 * mes_pg.c - the PostgreSQL backend of the MES, through libpq: a factory
 * with many stations on many hosts sharing one database.
 *
 * Statements are prepared once per connection (PQprepare) and run with
 * text parameters. A batch (run) travels in pipeline mode: many statements
 * are sent before their results are read, a window at a time, so a batch
 * costs one round trip a window instead of one a row; consecutive inserts
 * into the same table are sent as one INSERT of up to MULTI_ROWS rows
 * (RETURNING ids come back in the order of the VALUES rows). A window is
 * kept small (WINDOW_ROWS rows) so that the server's replies never fill
 * the socket while libpq, in blocking mode, is still sending.
 *
 * Claims lock rows with FOR UPDATE SKIP LOCKED: stations skip the cards
 * other stations are claiming instead of waiting. The outcome of a card
 * commits with synchronous_commit=on whatever the server's default.
 *
 * Error details carry the server's primary message and SQLSTATE, never
 * its DETAIL line (which may quote a value), and never the password of a
 * connection URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mes/mes_int.h"

#ifndef LIBPQ_HAS_PIPELINING
#error "cardfab's MES needs libpq 14 or newer (pipeline mode)"
#endif

#define MULTI_ROWS 256	 /* rows of one multi-row INSERT at most */
#define MAX_PARAMS 32767 /* the protocol's limit is 65535 */
#define WINDOW_ROWS 2048 /* rows a pipeline window carries at most */
#define WINDOW_STMTS 256 /* statements a window carries at most */
#define CONNECT_TIMEOUT "10"

typedef struct {
	mes_t base;
	PGconn *c;
	int np[SID_COUNT]; /* parameters; -1: not known yet */
	unsigned char prep[SID_COUNT];
	unsigned char prep_multi[SID_COUNT];
	int multi_rows[SID_COUNT]; /* rows of the prepared multi form */
	char *adhoc[SID_COUNT];	   /* SQL of the statements planned afresh */
	PGresult *cur;		   /* the result being read */
	int cur_row;
	/* text parameters of one statement */
	char (*num)[32];
	const char **vals;
	size_t scratch_cap;
	char *sql; /* a multi-row INSERT being built */
	size_t sql_cap;
} mes_pg_t;

static mes_pg_t *pgh(mes_t *m)
{
	return (mes_pg_t *)m;
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static mes_err_t conn_fail(mes_pg_t *p, const char *what)
{
	char msg[300];

	snprintf(msg, sizeof msg, "%s", PQerrorMessage(p->c));
	trim(msg);
	return mes_fail(&p->base,
			PQstatus(p->c) == CONNECTION_BAD ? MES_ERR_CONNECT :
							   MES_ERR_BACKEND,
			"%s: %s", what, msg);
}

static mes_err_t res_fail(mes_pg_t *p, const char *what, size_t row,
			  const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *prim =
		r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	mes_err_t e = MES_ERR_BACKEND;
	char rowtxt[32] = "";

	if (!state || !prim)
		return conn_fail(p, what);
	if (strncmp(state, "23", 2) == 0)
		e = MES_ERR_CONSTRAINT;
	else if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
		 !strcmp(state, "55P03"))
		e = MES_ERR_BUSY;
	else if (strncmp(state, "08", 2) == 0 ||
		 PQstatus(p->c) == CONNECTION_BAD)
		e = MES_ERR_CONNECT;
	else if (!strcmp(state, "53200"))
		e = MES_ERR_NOMEM;
	if (row != (size_t)-1)
		snprintf(rowtxt, sizeof rowtxt, " (row %zu)", row);
	return mes_fail(&p->base, e, "%s%s: %s (SQLSTATE %s)", what, rowtxt,
			prim, state);
}

/* Runs SQL without parameters; COMMIT that rolled back is an error. */
static mes_err_t pg_exec(mes_t *m, const char *what, const char *sql)
{
	mes_pg_t *p = pgh(m);
	PGresult *r = PQexec(p->c, sql);
	mes_err_t st = MES_OK;
	ExecStatusType rs = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
		st = res_fail(p, what, (size_t)-1, r);
	else if (!strcmp(sql, "COMMIT") && !strcmp(PQcmdStatus(r), "ROLLBACK"))
		st = mes_fail(m, MES_ERR_STATE,
			      "commit: the transaction had failed and was "
			      "rolled back");
	PQclear(r);
	return st;
}

static mes_err_t pg_tx(mes_t *m, mes_txop_t op)
{
	switch (op) {
	case TX_BEGIN:
		return pg_exec(m, "begin", "BEGIN");
	case TX_BEGIN_DURABLE:
		return pg_exec(m, "begin",
			       "BEGIN; SET LOCAL synchronous_commit TO on");
	case TX_COMMIT:
	case TX_COMMIT_DURABLE:
		return pg_exec(m, "commit", "COMMIT");
	case TX_ROLLBACK:
		if (PQtransactionStatus(pgh(m)->c) == PQTRANS_IDLE)
			return MES_OK;
		return pg_exec(m, "rollback", "ROLLBACK");
	case TX_SAVEPOINT:
		return pg_exec(m, "savepoint", "SAVEPOINT mes_unit");
	case TX_RELEASE:
		return pg_exec(m, "release savepoint",
			       "RELEASE SAVEPOINT mes_unit");
	case TX_ROLLBACK_TO:
		return pg_exec(m, "rollback to savepoint",
			       "ROLLBACK TO SAVEPOINT mes_unit");
	}
	return MES_ERR_PARAM;
}

/* ---------------------------------------------------------- statements */

static mes_err_t grow_scratch(mes_pg_t *p, size_t n)
{
	char(*num)[32];
	const char **vals;

	if (n <= p->scratch_cap)
		return MES_OK;
	num = realloc(p->num, n * sizeof *num);
	if (!num)
		return mes_fail(&p->base, MES_ERR_NOMEM, "out of memory");
	p->num = num;
	vals = realloc(p->vals, n * sizeof *vals);
	if (!vals)
		return mes_fail(&p->base, MES_ERR_NOMEM, "out of memory");
	p->vals = vals;
	p->scratch_cap = n;
	return MES_OK;
}

/* Text forms of np parameters into p->vals[base ...]. */
static void to_text(mes_pg_t *p, size_t base, const mes_val_t *v, int np)
{
	for (int i = 0; i < np; i++) {
		size_t k = base + (size_t)i;
		switch (v[i].t) {
		case MV_INT:
			snprintf(p->num[k], sizeof p->num[k], "%lld",
				 (long long)v[i].u.i);
			p->vals[k] = p->num[k];
			break;
		case MV_REAL:
			snprintf(p->num[k], sizeof p->num[k], "%.17g",
				 v[i].u.d);
			p->vals[k] = p->num[k];
			break;
		case MV_TEXT:
			p->vals[k] = v[i].u.s;
			break;
		default:
			p->vals[k] = NULL;
			break;
		}
	}
}

static mes_err_t prepare(mes_pg_t *p, int sid)
{
	char name[16], *sql;
	PGresult *r;
	int np;
	mes_err_t st = MES_OK;

	if (p->prep[sid])
		return MES_OK;
	sql = mes_expand(&mes_pg_backend, mes_stmts[sid].sql, &np);
	if (!sql)
		return mes_fail(&p->base, MES_ERR_NOMEM, "%s: out of memory",
				mes_stmts[sid].name);
	if (mes_stmts[sid].adhoc) {
		p->adhoc[sid] = sql;
		p->np[sid] = np;
		p->prep[sid] = 1;
		return MES_OK;
	}
	snprintf(name, sizeof name, "s%d", sid);
	r = PQprepare(p->c, name, sql, np, NULL);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
		st = res_fail(p, mes_stmts[sid].name, (size_t)-1, r);
	else {
		p->prep[sid] = 1;
		p->np[sid] = np;
	}
	PQclear(r);
	free(sql);
	return st;
}

/* The SQL of statement sid (an INSERT ... VALUES (row) tail) for rows
 * rows, into p->sql. */
static mes_err_t build_multi(mes_pg_t *p, int sid, int rows)
{
	char *one = mes_expand(&mes_pg_backend, mes_stmts[sid].sql, NULL);
	const char *v, *row, *end;
	size_t len = 0, need;
	int depth = 1, np = p->np[sid];

	if (!one)
		return mes_fail(&p->base, MES_ERR_NOMEM, "out of memory");
	v = strstr(one, " VALUES (");
	if (!v) {
		free(one);
		return mes_fail(&p->base, MES_ERR_BACKEND,
				"%s: not a multi-row statement",
				mes_stmts[sid].name);
	}
	row = v + 9;
	for (end = row; *end && depth > 0; end++) {
		if (*end == '(')
			depth++;
		else if (*end == ')')
			depth--;
	}
	end--; /* at the row's closing parenthesis */
	need = strlen(one) +
	       (size_t)rows * ((size_t)(end - row) + 16 + (size_t)np * 4);
	if (need > p->sql_cap) {
		char *b = realloc(p->sql, need);
		if (!b) {
			free(one);
			return mes_fail(&p->base, MES_ERR_NOMEM,
					"out of memory");
		}
		p->sql = b;
		p->sql_cap = need;
	}
	memcpy(p->sql, one, (size_t)(row - one));
	len = (size_t)(row - one);
	for (int r = 0; r < rows; r++) {
		const char *s;
		if (r > 0) {
			memcpy(p->sql + len, ", (", 3);
			len += 3;
		}
		for (s = row; s < end;) {
			if (*s == '$') {
				int k = atoi(s + 1);
				len += (size_t)sprintf(p->sql + len, "$%d",
						       r * np + k);
				s++;
				while (*s >= '0' && *s <= '9')
					s++;
			} else {
				p->sql[len++] = *s++;
			}
		}
		p->sql[len++] = ')';
	}
	strcpy(p->sql + len, end + 1);
	free(one);
	return MES_OK;
}

static mes_err_t prepare_multi(mes_pg_t *p, int sid, int rows)
{
	char name[16];
	PGresult *r;
	mes_err_t st;

	if (p->prep_multi[sid])
		return MES_OK;
	st = build_multi(p, sid, rows);
	if (st != MES_OK)
		return st;
	snprintf(name, sizeof name, "m%d", sid);
	r = PQprepare(p->c, name, p->sql, rows * p->np[sid], NULL);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
		st = res_fail(p, mes_stmts[sid].name, (size_t)-1, r);
	else {
		p->prep_multi[sid] = 1;
		p->multi_rows[sid] = rows;
	}
	PQclear(r);
	return st;
}

static mes_err_t pg_query(mes_t *m, int sid, const mes_val_t *v, mes_rowfn_t fn,
			  void *ctx)
{
	mes_pg_t *p = pgh(m);
	char name[16];
	PGresult *r;
	mes_err_t st = prepare(p, sid);
	int np;

	if (st != MES_OK)
		return st;
	np = p->np[sid];
	st = grow_scratch(p, (size_t)np + 1);
	if (st != MES_OK)
		return st;
	to_text(p, 0, v, np);
	snprintf(name, sizeof name, "s%d", sid);
	if (p->adhoc[sid])
		r = PQexecParams(p->c, p->adhoc[sid], np, NULL, p->vals, NULL,
				 NULL, 0);
	else
		r = PQexecPrepared(p->c, name, np, p->vals, NULL, NULL, 0);
	if (!r || (PQresultStatus(r) != PGRES_TUPLES_OK &&
		   PQresultStatus(r) != PGRES_COMMAND_OK)) {
		st = res_fail(p, mes_stmts[sid].name, (size_t)-1, r);
		PQclear(r);
		return st;
	}
	if (fn) {
		int rows = PQntuples(r);
		p->cur = r;
		for (int i = 0; i < rows; i++) {
			p->cur_row = i;
			if (fn(m, ctx))
				break;
		}
		p->cur = NULL;
	}
	PQclear(r);
	return MES_OK;
}

/* ---------------------------------------------------------- batches */

/* A group: one statement sent, covering calls[first .. first+count). */
typedef struct {
	size_t first, count;
	int multi; /* a multi-row INSERT of count rows */
} group_t;

/* Checks one statement's result against its calls. */
static mes_err_t take_result(mes_pg_t *p, const mes_call_t *calls,
			     const group_t *g, PGresult *r, int64_t *total)
{
	const mes_call_t *c = &calls[g->first];
	ExecStatusType rs = PQresultStatus(r);
	int64_t ch;
	int rows;

	if (rs != PGRES_TUPLES_OK && rs != PGRES_COMMAND_OK)
		return res_fail(p, mes_stmts[c->sid].name, c->row, r);
	ch = strtoll(PQcmdTuples(r), NULL, 10);
	*total += ch;
	rows = PQntuples(r);
	for (size_t i = 0; i < g->count; i++) {
		if (calls[g->first + i].id_out)
			*calls[g->first + i].id_out =
				(int)i < rows ?
					strtoll(PQgetvalue(r, (int)i, 0), NULL,
						10) :
					0;
	}
	if (!g->multi && c->expect >= 0 && ch != c->expect)
		return mes_fail(&p->base, MES_ERR_STATE,
				"%s (row %zu): %lld rows changed, %lld "
				"expected",
				mes_stmts[c->sid].name, c->row, (long long)ch,
				(long long)c->expect);
	return MES_OK;
}

static mes_err_t send_group(mes_pg_t *p, const mes_call_t *calls,
			    const group_t *g)
{
	int sid = calls[g->first].sid, np = p->np[sid];
	size_t nv = g->count * (size_t)np;
	char name[16];
	mes_err_t st = grow_scratch(p, nv + 1);
	int ok;

	if (st != MES_OK)
		return st;
	for (size_t i = 0; i < g->count; i++)
		to_text(p, i * (size_t)np, calls[g->first + i].p, np);
	if (p->adhoc[sid]) {
		ok = PQsendQueryParams(p->c, p->adhoc[sid], np, NULL, p->vals,
				       NULL, NULL, 0);
	} else if (!g->multi) {
		snprintf(name, sizeof name, "s%d", sid);
		ok = PQsendQueryPrepared(p->c, name, np, p->vals, NULL, NULL,
					 0);
	} else if ((int)g->count == p->multi_rows[sid]) {
		snprintf(name, sizeof name, "m%d", sid);
		ok = PQsendQueryPrepared(p->c, name, (int)nv, p->vals, NULL,
					 NULL, 0);
	} else {
		st = build_multi(p, sid, (int)g->count);
		if (st != MES_OK)
			return st;
		ok = PQsendQueryParams(p->c, p->sql, (int)nv, NULL, p->vals,
				       NULL, NULL, 0);
	}
	if (!ok)
		return conn_fail(p, mes_stmts[sid].name);
	return MES_OK;
}

/* Sends groups [g0, g1) in pipeline mode, then reads their results. */
static mes_err_t run_window(mes_pg_t *p, const mes_call_t *calls,
			    const group_t *groups, size_t g0, size_t g1,
			    int64_t *total)
{
	mes_err_t st = MES_OK, first_err = MES_OK;
	char saved[MES_DETAIL_MAX] = "";
	size_t sent = 0, gi, nulls = 0;
	int have = 0;

	if (!PQenterPipelineMode(p->c))
		return conn_fail(p, "enter pipeline mode");
	for (gi = g0; gi < g1; gi++) {
		st = send_group(p, calls, &groups[gi]);
		if (st != MES_OK)
			break;
		sent++;
	}
	if (st != MES_OK && sent == 0) {
		PQexitPipelineMode(p->c);
		return st;
	}
	if (st != MES_OK) {
		first_err = st;
		memcpy(saved, p->base.detail, sizeof saved);
	}
	if (!PQpipelineSync(p->c)) {
		st = conn_fail(p, "pipeline sync");
		PQexitPipelineMode(p->c);
		return st;
	}
	/* Each statement's results end with a NULL; the window ends with
	 * PGRES_PIPELINE_SYNC. */
	gi = 0;
	for (;;) {
		PGresult *r = PQgetResult(p->c);
		ExecStatusType rs;

		if (!r) {
			if (gi < sent) {
				gi++;
				have = 0;
				nulls = 0;
			} else if (++nulls > 2 ||
				   PQstatus(p->c) == CONNECTION_BAD) {
				if (first_err == MES_OK) {
					first_err = conn_fail(p, "pipeline");
					memcpy(saved, p->base.detail,
					       sizeof saved);
				}
				break;
			}
			continue;
		}
		rs = PQresultStatus(r);
		if (rs == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (gi < sent && !have && rs != PGRES_PIPELINE_ABORTED) {
			have = 1;
			st = take_result(p, calls, &groups[g0 + gi], r, total);
			if (st != MES_OK && first_err == MES_OK) {
				first_err = st;
				memcpy(saved, p->base.detail, sizeof saved);
			}
		}
		PQclear(r);
	}
	PQexitPipelineMode(p->c);
	if (first_err != MES_OK)
		memcpy(p->base.detail, saved, sizeof saved);
	return first_err;
}

static mes_err_t pg_run(mes_t *m, const mes_call_t *calls, size_t n,
			int64_t *changes)
{
	mes_pg_t *p = pgh(m);
	group_t *groups;
	size_t ng = 0, i = 0, g0;
	int64_t total = 0;
	mes_err_t st = MES_OK;

	if (n == 0) {
		if (changes)
			*changes = 0;
		return MES_OK;
	}
	groups = malloc(n * sizeof *groups);
	if (!groups)
		return mes_fail(m, MES_ERR_NOMEM, "out of memory");
	/* Plan: runs of the same multi-row INSERT become one statement. */
	while (i < n && st == MES_OK) {
		int sid = calls[i].sid;
		size_t k = 1;
		st = prepare(p, sid);
		if (st != MES_OK)
			break;
		if (mes_stmts[sid].multi && calls[i].expect < 0) {
			size_t cap = MULTI_ROWS;
			if ((size_t)p->np[sid] * cap > MAX_PARAMS)
				cap = MAX_PARAMS / (size_t)p->np[sid];
			while (i + k < n && k < cap &&
			       calls[i + k].sid == sid &&
			       calls[i + k].expect < 0)
				k++;
		}
		groups[ng].first = i;
		groups[ng].count = k;
		groups[ng].multi = k > 1;
		if (k == MULTI_ROWS)
			st = prepare_multi(p, sid, MULTI_ROWS);
		ng++;
		i += k;
	}
	/* Send a window at a time. */
	for (g0 = 0; st == MES_OK && g0 < ng;) {
		size_t g1 = g0, rows = 0;
		while (g1 < ng && g1 - g0 < WINDOW_STMTS &&
		       (rows == 0 || rows + groups[g1].count <= WINDOW_ROWS))
			rows += groups[g1++].count;
		st = run_window(p, calls, groups, g0, g1, &total);
		g0 = g1;
	}
	free(groups);
	if (st == MES_OK && changes)
		*changes = total;
	return st;
}

/* ---------------------------------------------------------- columns */

static int pg_col_null(mes_t *m, int col)
{
	mes_pg_t *p = pgh(m);

	return PQgetisnull(p->cur, p->cur_row, col);
}

static int64_t pg_col_int(mes_t *m, int col)
{
	mes_pg_t *p = pgh(m);

	return strtoll(PQgetvalue(p->cur, p->cur_row, col), NULL, 10);
}

static double pg_col_real(mes_t *m, int col)
{
	mes_pg_t *p = pgh(m);

	return strtod(PQgetvalue(p->cur, p->cur_row, col), NULL);
}

static const char *pg_col_text(mes_t *m, int col)
{
	mes_pg_t *p = pgh(m);

	return PQgetvalue(p->cur, p->cur_row, col);
}

static void pg_close(mes_t *m)
{
	mes_pg_t *p = pgh(m);

	PQfinish(p->c);
	for (int i = 0; i < SID_COUNT; i++)
		free(p->adhoc[i]);
	free(p->num);
	free(p->vals);
	free(p->sql);
	free(p);
}

const mes_backend_t mes_pg_backend = {
	.name = "postgresql",
	.id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
	.lock = " FOR UPDATE SKIP LOCKED",
	.now_us = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 "
		  "AS BIGINT)",
	.ids_open = "= ANY (CAST(",
	.ids_close = " AS BIGINT[]))",
	.ids_lb = '{',
	.ids_rb = '}',
	.has_version = "SELECT COUNT(*) FROM pg_catalog.pg_tables "
		       "WHERE tablename = 'schema_version' "
		       "AND schemaname = ANY (current_schemas(false))",
	.qmark = 0,
	/* One migration at a time across all processes; released at the
	 * end of the transaction. */
	.migrate_lock = "SELECT pg_advisory_xact_lock(7269846520165)",
	/* New statistics invalidate the cached plans: they are made again
	 * from the tables as they are now. */
	.analyze = "ANALYZE",
	.close = pg_close,
	.exec = pg_exec,
	.tx = pg_tx,
	.query = pg_query,
	.run = pg_run,
	.col_null = pg_col_null,
	.col_int = pg_col_int,
	.col_real = pg_col_real,
	.col_text = pg_col_text,
};

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The URL without its password, for messages. */
static void redact(const char *url, char *out, size_t cap)
{
	const char *s = strstr(url, "://"), *at, *colon, *pw;
	size_t n;

	snprintf(out, cap, "%s", url);
	if (!s)
		return;
	s += 3;
	at = strchr(s, '@');
	n = strcspn(s, "/?");
	if (at && (size_t)(at - s) < n) {
		colon = memchr(s, ':', (size_t)(at - s));
		if (colon)
			snprintf(out, cap, "%.*s:***%s", (int)(colon - url),
				 url, at);
	}
	pw = strstr(out, "password=");
	if (pw) {
		char *q = (char *)pw + 9;
		size_t rest = strcspn(q, "&");
		memmove(q + 3, q + rest, strlen(q + rest) + 1);
		memcpy(q, "***", 3);
	}
}

mes_err_t mes_pg_open(const char *url, mes_t **out, char *err, size_t errcap)
{
	/* Defaults first: the URL's own settings override them. */
	const char *keys[] = { "connect_timeout", "application_name", "dbname",
			       NULL };
	const char *vals[] = { CONNECT_TIMEOUT, "cardfab", url, NULL };
	char shown[256], *perr = NULL;
	PQconninfoOption *opts;
	PGconn *c;
	mes_pg_t *p;

	redact(url, shown, sizeof shown);
	opts = PQconninfoParse(url, &perr);
	if (!opts) {
		if (perr)
			trim(perr);
		snprintf(err, errcap, "%s: not a valid PostgreSQL URL: %s",
			 shown, perr ? perr : "out of memory");
		PQfreemem(perr);
		return MES_ERR_URL;
	}
	PQconninfoFree(opts);
	c = PQconnectdbParams(keys, vals, 1);
	if (!c) {
		snprintf(err, errcap, "%s: out of memory", shown);
		return MES_ERR_NOMEM;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
		trim(msg);
		snprintf(err, errcap, "%s: cannot connect: %s", shown, msg);
		PQfinish(c);
		return MES_ERR_CONNECT;
	}
	if (PQserverVersion(c) < 120000) {
		snprintf(err, errcap,
			 "%s: PostgreSQL %d is too old: the MES needs 12 or "
			 "newer",
			 shown, PQserverVersion(c) / 10000);
		PQfinish(c);
		return MES_ERR_CONNECT;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	/* Every prepared statement here is a lookup by a unique key or an
	 * index-ordered scan, whose generic plan is the custom one: use it
	 * from the first run, instead of planning the 15-table genealogy
	 * again and again (milliseconds). Statements whose plan depends on
	 * the table's size are not prepared (mes_stmt_t.adhoc). */
	{
		PGresult *r = PQexec(c, "SET plan_cache_mode = "
					"force_generic_plan");
		int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			char msg[300];
			snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
			trim(msg);
			snprintf(err, errcap,
				 "%s: cannot configure the "
				 "session: %s",
				 shown, msg);
			PQfinish(c);
			return MES_ERR_CONNECT;
		}
	}
	p = calloc(1, sizeof *p);
	if (!p) {
		PQfinish(c);
		snprintf(err, errcap, "%s: out of memory", shown);
		return MES_ERR_NOMEM;
	}
	p->base.be = &mes_pg_backend;
	p->c = c;
	for (int i = 0; i < SID_COUNT; i++)
		p->np[i] = -1;
	*out = &p->base;
	return MES_OK;
}
