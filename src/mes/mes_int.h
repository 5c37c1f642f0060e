/*
 * mes_int.h - inside src/mes: the handle, the backend interface, the
 * statement table.
 *
 * The common layer (mes.c, mes_records.c, mes_query.c, mes_claim.c) holds
 * every SQL statement and all the logic; a backend (mes_sqlite.c,
 * mes_pg.c) only connects, prepares, binds, runs and reads. SQL is written
 * once, with PostgreSQL's $1 placeholders and a few {TOKENS} that each
 * backend expands (mes_expand): {ID} the row id column type, {LOCK} the
 * row-locking clause of a claim, {NOW_US} the database's clock in
 * microseconds, {IN_IDS}$n{/IN_IDS} a test against a list of ids. SQLite
 * gets $N rewritten to ?N.
 */
#ifndef CARDFAB_MES_INT_H
#define CARDFAB_MES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mes/mes.h"

/* A parameter value. Text points into the caller's memory. */
typedef enum {
	MV_NULL,
	MV_INT,
	MV_REAL,
	MV_TEXT
} mes_vtype_t;

typedef struct {
	mes_vtype_t t;
	union {
		int64_t i;
		double d;
		const char *s;
	} u;
} mes_val_t;

static inline mes_val_t mv_int(int64_t i)
{
	mes_val_t v = { MV_INT, { .i = i } };
	return v;
}

static inline mes_val_t mv_real(double d)
{
	mes_val_t v;
	/* NaN (not measured) is NULL. */
	if (d != d) {
		v.t = MV_NULL;
		v.u.i = 0;
	} else {
		v.t = MV_REAL;
		v.u.d = d;
	}
	return v;
}

static inline mes_val_t mv_text(const char *s)
{
	mes_val_t v = { MV_TEXT, { .s = s } };
	return v;
}

/* An id; 0 means none (NULL). */
static inline mes_val_t mv_ref(int64_t id)
{
	mes_val_t v = { id ? MV_INT : MV_NULL, { .i = id } };
	return v;
}

/* Statement ids: the index of each statement in mes_stmts[]. */
enum {
	SID_VERSION_EXISTS,
	SID_VERSION,
	SID_VERSION_ADD,
	SID_ORDER_ADD,
	SID_ORDER_FIND,
	SID_ORDER_STATUS,
	SID_STATION_UPSERT,
	SID_LOT_ADD,
	SID_LOT_LIST,
	SID_WAFER_ADD,
	SID_DIE_ADD,
	SID_GRINDING_ADD,
	SID_CHIP_ADD,
	SID_CHIP_FIND,
	SID_CPLC_STAMP,
	SID_CHIP_EXISTS,
	SID_MODULE_ADD,
	SID_CARD_ADD,
	SID_CARD_FIND,
	SID_HOLDER_ADD,
	SID_INIT_RUN_ADD,
	SID_PERSO_RUN_ADD,
	SID_CARD_STAGE_SET,
	SID_LINK_ADD,
	SID_HOLDERS_ISSUE,
	SID_EVENT_ADD,
	SID_EVENT_LIST,
	SID_TRACE_CHIP,
	SID_CARD_SERIAL_CHIP,
	SID_HOLDER_CHIP,
	SID_YIELDS_ORDER,
	SID_YIELDS_LOT,
	SID_COUNTS,
	SID_CLAIM_MINE,
	SID_CLAIM_NEXT,
	SID_CLAIM_SERIAL,
	SID_CLAIM_TAKE,
	SID_CLAIM_HOLDER_NEXT,
	SID_CLAIM_HOLDER_TAKE,
	SID_CLAIM_HOLDER_GET,
	SID_CLAIM_CARD_HOLDER,
	SID_CLAIM_RENEW,
	SID_CLAIM_CLEAR,
	SID_CLAIM_DONE_INIT,
	SID_CLAIM_DONE_PERSO,
	SID_CLAIM_HOLDER_FREE,
	SID_CLAIM_HOLDER_ISSUE,
	SID_CARD_CHIP,
	SID_ORDER_LIST,
	SID_WAFER_LIST,
	SID_DIE_LIST,
	SID_GRINDING_FIND,
	SID_COUNT
};

typedef struct {
	const char *name; /* for error details: "insert die" */
	const char *sql;
	/* An INSERT ... VALUES (one row) [tail] that a backend may run as
	 * one statement of many rows; RETURNING rows come back in the order
	 * of the VALUES rows (PostgreSQL's behaviour, relied upon as Django
	 * does), so a multi statement must not have ON CONFLICT with
	 * RETURNING. */
	int multi;
	/* Planned afresh at every run on PostgreSQL (an unnamed statement):
	 * a statement over a set of rows whose best plan depends on the
	 * table's size now, which a cached generic plan made while the
	 * table was small would get wrong (a sequential scan per id). */
	int adhoc;
} mes_stmt_t;

extern const mes_stmt_t mes_stmts[SID_COUNT];

/* Migrations: SQL common to both backends, or one per backend. */
typedef struct {
	int version;
	const char *name;
	const char *sql;	/* both backends, or NULL */
	const char *sql_sqlite; /* SQLite only, run after sql */
	const char *sql_pg;	/* PostgreSQL only, run after sql */
} mes_migration_t;

extern const mes_migration_t mes_migrations[];
extern const size_t mes_migration_count;

/* One statement execution of a batch. */
typedef struct {
	int sid;
	const mes_val_t *p; /* the statement's parameters */
	int64_t *id_out;    /* if not NULL: column 0 of the first row
			       returned (RETURNING id), 0 if none */
	int64_t expect;	    /* >= 0: rows the statement must change, else
			       the batch fails with MES_ERR_STATE */
	size_t row;	    /* the caller's row, for error details */
} mes_call_t;

typedef enum {
	TX_BEGIN,	  /* a write transaction (SQLite: BEGIN IMMEDIATE) */
	TX_BEGIN_DURABLE, /* the same, flushed to disk at commit */
	TX_COMMIT,
	TX_COMMIT_DURABLE,
	TX_ROLLBACK,
	TX_SAVEPOINT,
	TX_RELEASE,
	TX_ROLLBACK_TO,
} mes_txop_t;

/* Called for each row of a query; columns are read with mes_col_*(). Return
 * 0 to go on, 1 to stop. */
typedef int (*mes_rowfn_t)(mes_t *m, void *ctx);

typedef struct {
	const char *name;
	const char *id_type;		  /* {ID} */
	const char *lock;		  /* {LOCK} */
	const char *now_us;		  /* {NOW_US} */
	const char *ids_open, *ids_close; /* {IN_IDS} and {/IN_IDS} */
	char ids_lb, ids_rb;	 /* the id list literal: "[1,2]" or "{1,2}" */
	const char *has_version; /* {HAS_VERSION_TABLE}: 1 if it exists */
	int qmark;		 /* rewrite $N to ?N */
	/* Refreshes planner statistics (mes_analyze). */
	const char *analyze;
	/* The first statement of the migration transaction, or NULL. */
	const char *migrate_lock;
	void (*close)(mes_t *m);
	/* Runs SQL without parameters or results (DDL, several statements). */
	mes_err_t (*exec)(mes_t *m, const char *what, const char *sql);
	mes_err_t (*tx)(mes_t *m, mes_txop_t op);
	/* Runs a statement, calling fn for each row (fn may be NULL). */
	mes_err_t (*query)(mes_t *m, int sid, const mes_val_t *p,
			   mes_rowfn_t fn, void *ctx);
	/* Runs n statements in order, in the open transaction; *changes
	 * (may be NULL) receives the rows they changed in all. */
	mes_err_t (*run)(mes_t *m, const mes_call_t *calls, size_t n,
			 int64_t *changes);
	int (*col_null)(mes_t *m, int col);
	int64_t (*col_int)(mes_t *m, int col);
	double (*col_real)(mes_t *m, int col);
	const char *(*col_text)(mes_t *m, int col); /* never NULL */
} mes_backend_t;

struct mes {
	const mes_backend_t *be;
	int in_tx;     /* the caller's mes_begin() is open */
	int schema_ok; /* the schema version was checked */
	char detail[MES_DETAIL_MAX];
};

extern const mes_backend_t mes_sqlite_backend;
extern const mes_backend_t mes_pg_backend;

/* Backend constructors: open and configure; on failure write err. */
mes_err_t mes_sqlite_open(const char *path, mes_t **out, char *err,
			  size_t errcap);
mes_err_t mes_pg_open(const char *url, mes_t **out, char *err, size_t errcap);

/* Sets m->detail; returns err. */
mes_err_t mes_fail(mes_t *m, mes_err_t err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The SQL of a statement or migration for a backend (malloc'd), with
 * tokens expanded; *nparams (may be NULL) receives the highest $N. */
char *mes_expand(const mes_backend_t *be, const char *sql, int *nparams);

/* Checks a string field of row `row` of a batch (NUL within cap, UTF-8,
 * not empty if required); MES_ERR_PARAM with a detail naming it. */
mes_err_t mes_check_str(mes_t *m, size_t row, const char *field, const char *s,
			size_t cap, int required);

/* Checks once that the schema is the newest. */
mes_err_t mes_need_schema(mes_t *m);

/* A write of one or many statements as an atomic unit: a transaction of
 * its own, or a savepoint in the caller's. mes_unit_end() commits or, if
 * st is not MES_OK, rolls back, and returns st (or the commit's error). */
mes_err_t mes_unit_begin(mes_t *m, int durable);
mes_err_t mes_unit_end(mes_t *m, int durable, mes_err_t st);

/* Column readers of the current row. */
static inline int mes_col_null(mes_t *m, int col)
{
	return m->be->col_null(m, col);
}

static inline int64_t mes_col_int(mes_t *m, int col)
{
	return m->be->col_int(m, col);
}

double mes_col_real(mes_t *m, int col); /* NULL -> NaN */
/* Copies column col into dst (cap bytes), truncating. */
void mes_col_copy(mes_t *m, int col, char *dst, size_t cap);

#endif
