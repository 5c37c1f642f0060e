/*
 * mes.c - the production database (src/mes): event insert rate and trace
 * query latency with a million cards in the database, each beside a raw
 * baseline measured in the same run.
 *
 *   populate  N cards with their whole genealogy: order, stations, lots
 *             (25 wafers), wafers (5,000 dies), grinding through the API;
 *             then, for every card, a die, chip, module, card body,
 *             holder, init run, perso run and holder link, issued.
 *             --populate sql (default) generates those 8 rows a card in
 *             the database (INSERT ... SELECT over a series, one
 *             transaction; on PostgreSQL without the row-by-row foreign
 *             key triggers, then VACUUM ANALYZE, as after any bulk load);
 *             --populate api writes them through mes_add_*() in
 *             transactions of CHUNK cards, as a line simulator would, and
 *             so measures the API's bulk rate.
 *   events    E events appended with mes_add_events() (batches of 10,000
 *             inside one mes_begin/mes_commit), and the same rows (other
 *             event ids, same table, same indexes) inserted by a minimal
 *             program: one prepared INSERT ... ON CONFLICT DO NOTHING,
 *             bound and stepped row by row (SQLite) or executed row by
 *             row (libpq), in one transaction. Rounds alternate raw and
 *             mes; the best round of each is reported.
 *   trace     Q genealogies of random chips (mes_trace_chip: one query of
 *             15 tables), each timed; beside it the same chips looked up
 *             raw (SELECT id FROM chip WHERE serial = ?, prepared): the
 *             floor of any indexed read through that driver. Traces
 *             run before the events, on the settled database.
 *
 * Output (bench/mes.sh makes the table):
 *   # lines          what ran
 *   populate <sql|api> <cards> <rows> <seconds> <rows_per_s>
 *   events <mes|raw> <count> <seconds> <events_per_s>
 *   trace <mes|raw> <count> <median_us> <p99_us> <max_us>
 *
 * Usage: mes [--db URL] [--cards N] [--events N] [--traces N] [--rounds N]
 *            [--populate sql|api] [--no-populate] [--keep]
 *   --db URL       a database URL as mes_open() takes it; default: a SQLite
 *                  file in a fresh directory under $TMPDIR, removed at the
 *                  end (unless --keep). Populating needs an empty database.
 *   --no-populate  measure a database populated before with --cards N
 *   defaults: --cards 1000000 --events 200000 --traces 20000 --rounds 2
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "mes/mes.h"

#define CHUNK 20000
#define DIES_PER_WAFER 5000
#define WAFERS_PER_LOT 25
#define GRID 71 /* 71 x 71 > 5,000 dies on a wafer */
#define EVENT_BATCH 10000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_if(mes_t *m, mes_err_t st, const char *what)
{
	if (st != MES_OK) {
		fprintf(stderr, "mes bench: %s: %s: %s\n", what,
			mes_strerror(st), mes_error_detail(m));
		exit(1);
	}
}

/* The serials of card i; the SQL population makes the same. */
static void chip_serial(char *buf, size_t cap, size_t i)
{
	snprintf(buf, cap, "B%015zu", i);
}

/* ---------------------------------------------------------- populate */

/* What populate made that the rest needs. */
typedef struct {
	mes_order_t order;
	mes_station_t si, sp;
	mes_wafer_t *wafers;
	size_t nwafers;
	int64_t rows;
} head_t;

/* Order, stations, lots, wafers, grinding: through the API. */
static void populate_head(mes_t *m, size_t ncards, head_t *h)
{
	size_t nlots;
	mes_lot_t *lots;
	mes_grinding_t *grind;

	h->nwafers = (ncards + DIES_PER_WAFER - 1) / DIES_PER_WAFER;
	nlots = (h->nwafers + WAFERS_PER_LOT - 1) / WAFERS_PER_LOT;
	lots = calloc(nlots, sizeof *lots);
	h->wafers = calloc(h->nwafers, sizeof *h->wafers);
	grind = calloc(h->nwafers, sizeof *grind);
	if (!lots || !h->wafers || !grind) {
		fprintf(stderr, "mes bench: out of memory\n");
		exit(1);
	}
	memset(&h->order, 0, sizeof h->order);
	snprintf(h->order.name, sizeof h->order.name, "BENCH-1");
	snprintf(h->order.profile_name, sizeof h->order.profile_name,
		 "bank-card");
	memset(h->order.profile_hash, 'e', 64);
	h->order.quantity = (int64_t)ncards;
	die_if(m, mes_add_order(m, &h->order), "order");
	memset(&h->si, 0, sizeof h->si);
	snprintf(h->si.name, sizeof h->si.name, "bench-init");
	h->si.kind = MES_STATION_INIT;
	die_if(m, mes_register_station(m, &h->si), "station");
	memset(&h->sp, 0, sizeof h->sp);
	snprintf(h->sp.name, sizeof h->sp.name, "bench-perso");
	h->sp.kind = MES_STATION_PERSO;
	die_if(m, mes_register_station(m, &h->sp), "station");

	for (size_t l = 0; l < nlots; l++) {
		lots[l].order_id = h->order.id;
		snprintf(lots[l].name, sizeof lots[l].name, "BL%05zu", l);
		snprintf(lots[l].fab, sizeof lots[l].fab, "fab-1");
	}
	die_if(m, mes_add_lots(m, lots, nlots), "lots");
	for (size_t w = 0; w < h->nwafers; w++) {
		h->wafers[w].lot_id = lots[w / WAFERS_PER_LOT].id;
		h->wafers[w].index = (int)(w % WAFERS_PER_LOT);
		h->wafers[w].diameter_mm = 300;
		h->wafers[w].die_w_mm = 3.5;
		h->wafers[w].die_h_mm = 3.5;
	}
	die_if(m, mes_add_wafers(m, h->wafers, h->nwafers), "wafers");
	for (size_t w = 0; w < h->nwafers; w++) {
		grind[w].wafer_id = h->wafers[w].id;
		grind[w].thickness_um = 180 + (double)(w % 7) * 0.5;
		grind[w].spec_min_um = 170;
		grind[w].spec_max_um = 190;
		grind[w].pass = 1;
	}
	die_if(m, mes_add_grindings(m, grind, h->nwafers), "grinding");
	h->rows = 3 + (int64_t)(nlots + 2 * h->nwafers);
	free(lots);
	free(grind);
}

/* The cards through the API, CHUNK cards a transaction: what a line
 * simulator or an import does. */
static void populate_api(mes_t *m, size_t ncards, head_t *h)
{
	mes_die_t *dies = calloc(CHUNK, sizeof *dies);
	mes_chip_t *chips = calloc(CHUNK, sizeof *chips);
	mes_module_t *mods = calloc(CHUNK, sizeof *mods);
	mes_card_t *cards = calloc(CHUNK, sizeof *cards);
	mes_holder_t *holders = calloc(CHUNK, sizeof *holders);
	mes_run_t *runs = calloc(CHUNK, sizeof *runs);
	int64_t t = 1700000000000000LL;

	if (!dies || !chips || !mods || !cards || !holders || !runs) {
		fprintf(stderr, "mes bench: out of memory\n");
		exit(1);
	}
	for (size_t at = 0; at < ncards; at += CHUNK) {
		size_t n = ncards - at < CHUNK ? ncards - at : CHUNK;
		die_if(m, mes_begin(m), "begin");
		for (size_t i = 0; i < n; i++) {
			size_t c = at + i, d = c % DIES_PER_WAFER;
			dies[i].wafer_id = h->wafers[c / DIES_PER_WAFER].id;
			dies[i].x = (int)(d % GRID);
			dies[i].y = (int)(d / GRID);
			dies[i].bin = MES_BIN_GOOD;
			dies[i].idd_ua = 120.0 + (double)(c % 13);
			dies[i].vdd_v = 1.8;
			dies[i].leakage_na = 0.2 + (double)(c % 5) * 0.1;
			dies[i].probed_us = t + (int64_t)c;
		}
		die_if(m, mes_add_dies(m, dies, n), "dies");
		for (size_t i = 0; i < n; i++) {
			size_t c = at + i;
			mes_chip_t *ch = &chips[i];
			char serial[MES_SERIAL_MAX];
			chip_serial(serial, sizeof serial, c);
			ch->die_id = dies[i].id;
			memcpy(ch->serial, serial, sizeof serial);
			memcpy(ch->model, "cf32", 5);
			snprintf(ch->transport_key_ref,
				 sizeof ch->transport_key_ref, "tk/%s", serial);
			ch->cplc.v[MES_CPLC_IC_FABRICATOR] = 0x4790;
			ch->cplc.v[MES_CPLC_IC_TYPE] = 0x0032;
			ch->cplc.v[MES_CPLC_IC_SERIAL] = (uint32_t)c;
			ch->cplc.v[MES_CPLC_IC_BATCH] =
				(uint32_t)(c / DIES_PER_WAFER / WAFERS_PER_LOT);
			ch->cplc.set = 1u << MES_CPLC_IC_FABRICATOR |
				       1u << MES_CPLC_IC_TYPE |
				       1u << MES_CPLC_IC_SERIAL |
				       1u << MES_CPLC_IC_BATCH;
			mods[i].die_id = dies[i].id;
			snprintf(mods[i].serial, sizeof mods[i].serial,
				 "M%010zu", c);
			mods[i].test_pass = 1;
			memcpy(mods[i].atr_hex, "3B8F8001", 9);
			mods[i].tested_us = t + (int64_t)c;
		}
		die_if(m, mes_add_chips(m, chips, n), "chips");
		die_if(m, mes_add_modules(m, mods, n), "modules");
		for (size_t i = 0; i < n; i++) {
			size_t c = at + i;
			cards[i].order_id = h->order.id;
			cards[i].module_id = mods[i].id;
			snprintf(cards[i].serial, sizeof cards[i].serial,
				 "K%010zu", c);
			cards[i].embed_pass = cards[i].print_pass = 1;
			cards[i].made_us = t + (int64_t)c;
			holders[i].order_id = h->order.id;
			snprintf(holders[i].ref, sizeof holders[i].ref,
				 "H%010zu", c);
			snprintf(holders[i].fields, sizeof holders[i].fields,
				 "{\"name\":\"Holder %zu\"}", c);
		}
		die_if(m, mes_add_cards(m, cards, n), "cards");
		die_if(m, mes_add_holders(m, holders, n), "holders");
		for (size_t i = 0; i < n; i++) {
			memset(&runs[i], 0, sizeof runs[i]);
			runs[i].card_id = cards[i].id;
			runs[i].station_id = h->si.id;
			runs[i].start_us = t + (int64_t)(at + i) * 10;
			runs[i].end_us = runs[i].start_us + 5;
			runs[i].outcome = MES_RUN_OK;
		}
		die_if(m, mes_add_init_runs(m, runs, n), "init runs");
		for (size_t i = 0; i < n; i++) {
			runs[i].station_id = h->sp.id;
			runs[i].holder_id = holders[i].id;
			runs[i].id = 0;
		}
		die_if(m, mes_add_perso_runs(m, runs, n), "perso runs");
		die_if(m, mes_commit(m), "commit");
		h->rows += 8 * (int64_t)n;
		if (isatty(2))
			fprintf(stderr, "\rmes bench: populate %zu / %zu",
				at + n, ncards);
	}
	if (isatty(2))
		fprintf(stderr, "\n");
	/* As a line simulator does after a lot. */
	die_if(m, mes_analyze(m), "analyze");
	free(dies);
	free(chips);
	free(mods);
	free(cards);
	free(holders);
	free(runs);
}

/* A plain connection to the same database, for the SQL population and
 * the baselines. */
typedef struct {
	int pg;
	sqlite3 *db;
	PGconn *c;
} raw_t;

static void raw_open(raw_t *r, const char *url, int pg)
{
	memset(r, 0, sizeof *r);
	r->pg = pg;
	if (pg) {
		r->c = PQconnectdb(url);
		if (PQstatus(r->c) != CONNECTION_OK) {
			fprintf(stderr, "mes bench: raw libpq: %s",
				PQerrorMessage(r->c));
			exit(1);
		}
	} else if (sqlite3_open(url, &r->db) != SQLITE_OK) {
		fprintf(stderr, "mes bench: raw sqlite: cannot open %s\n", url);
		exit(1);
	} else {
		sqlite3_busy_timeout(r->db, 10000);
		sqlite3_exec(r->db,
			     "PRAGMA synchronous = NORMAL; "
			     "PRAGMA foreign_keys = ON; "
			     "PRAGMA cache_size = -32768",
			     NULL, NULL, NULL);
	}
}

static void raw_close(raw_t *r)
{
	if (r->pg)
		PQfinish(r->c);
	else
		sqlite3_close(r->db);
}

static void raw_exec(raw_t *r, const char *sql)
{
	if (r->pg) {
		PGresult *res = PQexec(r->c, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "mes bench: %.200s: %s", sql,
				PQerrorMessage(r->c));
			exit(1);
		}
		PQclear(res);
	} else {
		char *msg = NULL;
		if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(stderr, "mes bench: %.200s: %s\n", sql, msg);
			exit(1);
		}
	}
}

/* The ids of table, which must be first .. first + n - 1. */
static int64_t raw_ids(raw_t *r, const char *table, size_t n)
{
	char sql[128];
	int64_t lo = 0, hi = 0, cnt = 0;

	snprintf(sql, sizeof sql, "SELECT MIN(id), MAX(id), COUNT(*) FROM %s",
		 table);
	if (r->pg) {
		PGresult *res = PQexec(r->c, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			lo = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			hi = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
			cnt = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		}
		PQclear(res);
	} else {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) ==
			    SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW) {
			lo = sqlite3_column_int64(st, 0);
			hi = sqlite3_column_int64(st, 1);
			cnt = sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
	}
	if (cnt != (int64_t)n || hi - lo + 1 != cnt) {
		fprintf(stderr,
			"mes bench: %s: ids not contiguous (%lld rows, "
			"%lld..%lld): populate an empty database\n",
			table, (long long)cnt, (long long)lo, (long long)hi);
		exit(1);
	}
	return lo;
}

/* INSERT INTO into SELECT exprs over i = 0 .. n - 1, in either dialect;
 * exprs uses FMT(prefix, digits) below for serials. */
static void bulk(raw_t *r, size_t n, const char *into, const char *exprs)
{
	size_t cap = strlen(into) + strlen(exprs) + 256;
	char *sql = malloc(cap);

	if (!sql)
		exit(1);
	if (r->pg)
		snprintf(sql, cap,
			 "INSERT INTO %s SELECT %s FROM "
			 "generate_series(0, %zu) AS s(i)",
			 into, exprs, n - 1);
	else
		snprintf(sql, cap,
			 "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL "
			 "SELECT i + 1 FROM s WHERE i < %zu) "
			 "INSERT INTO %s SELECT %s FROM s",
			 n - 1, into, exprs);
	raw_exec(r, sql);
	free(sql);
}

/* The cards generated in the database by INSERT ... SELECT over a series,
 * in one transaction, in their final state (issued): the same rows
 * populate_api() writes, made fast. Then statistics, as after any bulk
 * load, so that the measurements see a settled database. */
static void populate_sql(const char *url, int pg, size_t ncards, head_t *h)
{
	raw_t r;
	char into[256], ex[1024], ser[4][96];
	int64_t t = 1700000000000000LL, d0, m0, k0, h0;
	const char *pfx = "BMKH";
	const int digits[4] = { 15, 10, 10, 10 };

	raw_open(&r, url, pg);
	for (int k = 0; k < 4; k++) {
		if (pg)
			snprintf(ser[k], sizeof ser[k],
				 "'%c' || lpad(CAST(i AS TEXT), %d, '0')",
				 pfx[k], digits[k]);
		else
			snprintf(ser[k], sizeof ser[k], "printf('%c%%0%dd', i)",
				 pfx[k], digits[k]);
	}
	for (size_t w = 1; w < h->nwafers; w++)
		if (h->wafers[w].id != h->wafers[0].id + (int64_t)w) {
			fprintf(stderr,
				"mes bench: wafer ids not contiguous\n");
			exit(1);
		}
	raw_exec(&r, "BEGIN");
	/* PostgreSQL checks foreign keys with a trigger a row: a bulk load
	 * that is consistent by construction (ids checked contiguous) skips
	 * them, as pg_restore does. Needs a superuser: the bench's own
	 * throwaway server. */
	if (pg)
		raw_exec(&r, "SET LOCAL session_replication_role = replica");
	snprintf(into, sizeof into,
		 "die (wafer_id, x, y, bin, idd_ua, vdd_v, leakage_na, "
		 "probed_us)");
	snprintf(ex, sizeof ex,
		 "%lld + i / %d, (i %% %d) %% %d, (i %% %d) / %d, 1, "
		 "120.0 + i %% 13, 1.8, 0.2 + (i %% 5) * 0.1, %lld + i",
		 (long long)h->wafers[0].id, DIES_PER_WAFER, DIES_PER_WAFER,
		 GRID, DIES_PER_WAFER, GRID, (long long)t);
	bulk(&r, ncards, into, ex);
	d0 = raw_ids(&r, "die", ncards);
	snprintf(into, sizeof into,
		 "chip (serial, die_id, model, transport_key_ref, "
		 "cplc_ic_fabricator, cplc_ic_type, cplc_ic_serial, "
		 "cplc_ic_batch)");
	snprintf(ex, sizeof ex,
		 "%s, %lld + i, 'cf32', 'tk/' || %s, %d, %d, i, i / %d", ser[0],
		 (long long)d0, ser[0], 0x4790, 0x0032,
		 DIES_PER_WAFER * WAFERS_PER_LOT);
	bulk(&r, ncards, into, ex);
	snprintf(into, sizeof into,
		 "module (serial, die_id, test_pass, atr, tested_us)");
	snprintf(ex, sizeof ex, "%s, %lld + i, 1, '3B8F8001', %lld + i", ser[1],
		 (long long)d0, (long long)t);
	bulk(&r, ncards, into, ex);
	m0 = raw_ids(&r, "module", ncards);
	snprintf(into, sizeof into,
		 "card (serial, order_id, module_id, embed_pass, print_pass, "
		 "made_us, stage)");
	snprintf(ex, sizeof ex, "%s, %lld, %lld + i, 1, 1, %lld + i, %d",
		 ser[2], (long long)h->order.id, (long long)m0, (long long)t,
		 MES_STAGE_ISSUED);
	bulk(&r, ncards, into, ex);
	k0 = raw_ids(&r, "card", ncards);
	snprintf(into, sizeof into, "holder (order_id, ref, fields, issued)");
	snprintf(ex, sizeof ex,
		 "%lld, %s, '{\"name\":\"Holder ' || i || '\"}', 1",
		 (long long)h->order.id, ser[3]);
	bulk(&r, ncards, into, ex);
	h0 = raw_ids(&r, "holder", ncards);
	snprintf(into, sizeof into,
		 "init_run (card_id, station_id, claim_token, start_us, "
		 "end_us, outcome, reason)");
	snprintf(ex, sizeof ex,
		 "%lld + i, %lld, 0, %lld + i * 10, %lld + i * 10 + 5, %d, ''",
		 (long long)k0, (long long)h->si.id, (long long)t, (long long)t,
		 MES_RUN_OK);
	bulk(&r, ncards, into, ex);
	snprintf(into, sizeof into,
		 "perso_run (card_id, station_id, holder_id, claim_token, "
		 "start_us, end_us, outcome, reason)");
	snprintf(ex, sizeof ex,
		 "%lld + i, %lld, %lld + i, 0, %lld + i * 10, "
		 "%lld + i * 10 + 5, %d, ''",
		 (long long)k0, (long long)h->sp.id, (long long)h0,
		 (long long)t, (long long)t, MES_RUN_OK);
	bulk(&r, ncards, into, ex);
	snprintf(into, sizeof into,
		 "card_holder (card_id, holder_id, linked_us)");
	snprintf(ex, sizeof ex, "%lld + i, %lld + i, %lld + i * 10 + 5",
		 (long long)k0, (long long)h0, (long long)t);
	bulk(&r, ncards, into, ex);
	raw_exec(&r, "COMMIT");
	h->rows += 8 * (int64_t)ncards;
	/* PostgreSQL: what autovacuum would do next, done now rather than
	 * in the middle of the measurements. SQLite plans these queries by
	 * their indexes and needs no statistics. */
	if (pg)
		raw_exec(&r, "VACUUM ANALYZE");
	raw_close(&r);
}

/* ---------------------------------------------------------- events */

/* The same row content for both: ids differ by prefix only. */
static void event_row(char *id, size_t cap, const char *prefix, size_t i,
		      size_t ncards, int64_t *item)
{
	snprintf(id, cap, "%s/%zu", prefix, i);
	*item = (int64_t)(i * 7919 % ncards) + 1;
}

#define EV_STEP "apdu"
#define EV_DETAIL "PUT DATA DF44 9000"

static double events_mes(mes_t *m, const char *prefix, size_t n, size_t ncards)
{
	mes_event_t *ev = calloc(EVENT_BATCH, sizeof *ev);
	double t0;
	size_t ins, total = 0;

	if (!ev)
		exit(1);
	t0 = now_s();
	die_if(m, mes_begin(m), "begin");
	for (size_t at = 0; at < n; at += EVENT_BATCH) {
		size_t k = n - at < EVENT_BATCH ? n - at : EVENT_BATCH;
		for (size_t i = 0; i < k; i++) {
			mes_event_t *e = &ev[i];
			event_row(e->event_id, sizeof e->event_id, prefix,
				  at + i, ncards, &e->item_id);
			e->item_kind = MES_ITEM_CARD;
			e->part = MES_PART_PERSO;
			memcpy(e->step, EV_STEP, sizeof EV_STEP);
			e->outcome = MES_RESULT_PASS;
			e->time_us = 1700000000000000LL + (int64_t)(at + i);
			e->station_id = 0;
			memcpy(e->detail, EV_DETAIL, sizeof EV_DETAIL);
		}
		die_if(m, mes_add_events(m, ev, k, &ins), "events");
		total += ins;
	}
	die_if(m, mes_commit(m), "commit");
	t0 = now_s() - t0;
	free(ev);
	if (total != n) {
		fprintf(stderr, "mes bench: %zu of %zu events inserted\n",
			total, n);
		exit(1);
	}
	return t0;
}

static const char raw_insert[] =
	"INSERT INTO event (event_id, item_kind, item_id, part, step, "
	"outcome, time_us, station_id, detail) VALUES ($1, $2, $3, $4, $5, "
	"$6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING";

static void sq_check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "mes bench: raw sqlite: %s: %s\n", what,
			sqlite3_errmsg(db));
		exit(1);
	}
}

/* The minimal program: plain sqlite3, the settings the MES uses. */
static double events_raw_sqlite(const char *path, const char *prefix, size_t n,
				size_t ncards)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char id[64];
	double t0;

	sq_check(NULL, sqlite3_open(path, &db), "open");
	sqlite3_busy_timeout(db, 10000);
	sq_check(db,
		 sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL,
			      NULL),
		 "pragma");
	sq_check(db,
		 sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL),
		 "pragma");
	sq_check(db, sqlite3_prepare_v2(db, raw_insert, -1, &st, NULL),
		 "prepare");
	t0 = now_s();
	sq_check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
		 "begin");
	for (size_t i = 0; i < n; i++) {
		int64_t item;
		event_row(id, sizeof id, prefix, i, ncards, &item);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, MES_ITEM_CARD);
		sqlite3_bind_int64(st, 3, item);
		sqlite3_bind_int(st, 4, MES_PART_PERSO);
		sqlite3_bind_text(st, 5, EV_STEP, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, MES_RESULT_PASS);
		sqlite3_bind_int64(st, 7, 1700000000000000LL + (int64_t)i);
		sqlite3_bind_null(st, 8);
		sqlite3_bind_text(st, 9, EV_DETAIL, -1, SQLITE_STATIC);
		sq_check(db, sqlite3_step(st), "insert");
		sqlite3_reset(st);
	}
	sq_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
	t0 = now_s() - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return t0;
}

static void pg_check(PGconn *c, PGresult *r, ExecStatusType want,
		     const char *what)
{
	if (!r || PQresultStatus(r) != want) {
		fprintf(stderr, "mes bench: raw libpq: %s: %s\n", what,
			PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

/* The minimal program: plain libpq, a prepared statement, row by row. */
static double events_raw_pg(const char *url, const char *prefix, size_t n,
			    size_t ncards)
{
	PGconn *c = PQconnectdb(url);
	char id[64], item[24], kind[8], part[8], out[8], tm[24];
	const char *v[9];
	double t0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "mes bench: raw libpq: %s", PQerrorMessage(c));
		exit(1);
	}
	pg_check(c, PQprepare(c, "ins", raw_insert, 9, NULL), PGRES_COMMAND_OK,
		 "prepare");
	snprintf(kind, sizeof kind, "%d", MES_ITEM_CARD);
	snprintf(part, sizeof part, "%d", MES_PART_PERSO);
	snprintf(out, sizeof out, "%d", MES_RESULT_PASS);
	v[0] = id;
	v[1] = kind;
	v[2] = item;
	v[3] = part;
	v[4] = EV_STEP;
	v[5] = out;
	v[6] = tm;
	v[7] = NULL;
	v[8] = EV_DETAIL;
	t0 = now_s();
	pg_check(c, PQexec(c, "BEGIN"), PGRES_COMMAND_OK, "begin");
	for (size_t i = 0; i < n; i++) {
		int64_t it;
		event_row(id, sizeof id, prefix, i, ncards, &it);
		snprintf(item, sizeof item, "%lld", (long long)it);
		snprintf(tm, sizeof tm, "%lld",
			 1700000000000000LL + (long long)i);
		pg_check(c, PQexecPrepared(c, "ins", 9, v, NULL, NULL, 0),
			 PGRES_COMMAND_OK, "insert");
	}
	pg_check(c, PQexec(c, "COMMIT"), PGRES_COMMAND_OK, "commit");
	t0 = now_s() - t0;
	PQfinish(c);
	return t0;
}

/* ---------------------------------------------------------- traces */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report_lat(const char *who, double *us, size_t n)
{
	qsort(us, n, sizeof *us, cmp_double);
	printf("trace %s %zu %.1f %.1f %.1f\n", who, n, us[n / 2],
	       us[(size_t)((double)n * 0.99)], us[n - 1]);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void traces_mes(mes_t *m, size_t q, size_t ncards)
{
	double *us = calloc(q, sizeof *us);
	mes_genealogy_t g;
	char serial[MES_SERIAL_MAX];
	uint64_t seed = 42;

	for (size_t i = 0; i < 1000; i++) {
		chip_serial(serial, sizeof serial, lcg(&seed) % ncards);
		die_if(m, mes_trace_chip(m, serial, &g), "trace (warm-up)");
	}
	seed = 7;
	for (size_t i = 0; i < q; i++) {
		size_t c = lcg(&seed) % ncards;
		double t0;
		chip_serial(serial, sizeof serial, c);
		t0 = now_s();
		die_if(m, mes_trace_chip(m, serial, &g), "trace");
		us[i] = (now_s() - t0) * 1e6;
		if (g.holder.id == 0 || g.card.stage != MES_STAGE_ISSUED) {
			fprintf(stderr,
				"mes bench: chip %s: incomplete "
				"genealogy\n",
				serial);
			exit(1);
		}
	}
	report_lat("mes", us, q);
	free(us);
}

static void traces_raw_sqlite(const char *path, size_t q, size_t ncards)
{
	double *us = calloc(q, sizeof *us);
	char serial[MES_SERIAL_MAX];
	uint64_t seed = 7;
	sqlite3 *db;
	sqlite3_stmt *st;

	sq_check(NULL, sqlite3_open(path, &db), "open");
	sq_check(db,
		 sqlite3_prepare_v2(db, "SELECT id FROM chip WHERE serial = ?",
				    -1, &st, NULL),
		 "prepare");
	for (size_t i = 0; i < q; i++) {
		double t0;
		int rc;
		chip_serial(serial, sizeof serial, lcg(&seed) % ncards);
		t0 = now_s();
		sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			sq_check(db, SQLITE_ERROR, "lookup");
		(void)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		us[i] = (now_s() - t0) * 1e6;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	report_lat("raw", us, q);
	free(us);
}

static void traces_raw_pg(const char *url, size_t q, size_t ncards)
{
	double *us = calloc(q, sizeof *us);
	char serial[MES_SERIAL_MAX];
	const char *v[1] = { serial };
	uint64_t seed = 7;
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK)
		exit(1);
	pg_check(c,
		 PQprepare(c, "q", "SELECT id FROM chip WHERE serial = $1", 1,
			   NULL),
		 PGRES_COMMAND_OK, "prepare");
	for (size_t i = 0; i < q; i++) {
		double t0;
		PGresult *r;
		chip_serial(serial, sizeof serial, lcg(&seed) % ncards);
		t0 = now_s();
		r = PQexecPrepared(c, "q", 1, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			pg_check(c, r, PGRES_FATAL_ERROR, "lookup");
		PQclear(r);
		us[i] = (now_s() - t0) * 1e6;
	}
	PQfinish(c);
	report_lat("raw", us, q);
	free(us);
}

/* ---------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr, "usage: mes [--db URL] [--cards N] [--events N] "
			"[--traces N] [--rounds N] [--keep]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	size_t ncards = 1000000, nevents = 200000, ntraces = 20000;
	int rounds = 2, keep = 0, nopop = 0, api = 0, pg;
	char dir[256] = "", path[300], err[MES_DETAIL_MAX];
	double best_mes = 1e99, best_raw = 1e99, t0;
	mes_t *m;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc)
			url = argv[++i];
		else if (!strcmp(argv[i], "--cards") && i + 1 < argc)
			ncards = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--events") && i + 1 < argc)
			nevents = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--traces") && i + 1 < argc)
			ntraces = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else if (!strcmp(argv[i], "--no-populate"))
			nopop = 1;
		else if (!strcmp(argv[i], "--populate") && i + 1 < argc)
			api = !strcmp(argv[++i], "api");
		else
			usage();
	}
	if (ncards == 0 || nevents == 0 || ntraces == 0 || rounds < 1)
		usage();
	if (!url) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/cardfab-mes-bench.XXXXXX",
			 tmp && tmp[0] ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(path, sizeof path, "%s/mes.db", dir);
		url = path;
	}
	if (mes_open(url, &m, err, sizeof err) != MES_OK) {
		fprintf(stderr, "mes bench: %s\n", err);
		return 1;
	}
	pg = !strcmp(mes_backend(m), "postgresql");
	printf("# backend %s %s\n", mes_backend(m),
	       pg ? "(libpq)" : sqlite3_libversion());
	printf("# cards %zu, events %zu per run, traces %zu, rounds %d\n",
	       ncards, nevents, ntraces, rounds);
	die_if(m, mes_migrate(m, NULL, NULL), "migrate");

	if (!nopop) {
		head_t h;
		t0 = now_s();
		populate_head(m, ncards, &h);
		if (api)
			populate_api(m, ncards, &h);
		else
			populate_sql(url, pg, ncards, &h);
		t0 = now_s() - t0;
		printf("populate %s %zu %lld %.2f %.0f\n", api ? "api" : "sql",
		       ncards, (long long)h.rows, t0, (double)h.rows / t0);
		fflush(stdout);
		free(h.wafers);
	}

	/* Traces first, on the settled database: the event rounds would
	 * set autovacuum going under them. */
	traces_mes(m, ntraces, ncards);
	if (pg)
		traces_raw_pg(url, ntraces, ncards);
	else
		traces_raw_sqlite(url, ntraces, ncards);
	fflush(stdout);

	for (int r = 0; r < rounds; r++) {
		char pfx[32];
		double t;
		snprintf(pfx, sizeof pfx, "raw%d-%d", r, (int)getpid());
		t = pg ? events_raw_pg(url, pfx, nevents, ncards) :
			 events_raw_sqlite(url, pfx, nevents, ncards);
		if (t < best_raw)
			best_raw = t;
		snprintf(pfx, sizeof pfx, "mes%d-%d", r, (int)getpid());
		t = events_mes(m, pfx, nevents, ncards);
		if (t < best_mes)
			best_mes = t;
	}
	printf("events mes %zu %.3f %.0f\n", nevents, best_mes,
	       (double)nevents / best_mes);
	printf("events raw %zu %.3f %.0f\n", nevents, best_raw,
	       (double)nevents / best_raw);
	fflush(stdout);

	{
		mes_counts_t c;
		die_if(m, mes_counts(m, 0, &c), "counts");
		printf("# database: %lld cards, %lld issued, %lld events\n",
		       (long long)c.cards, (long long)c.issued,
		       (long long)c.events);
	}
	mes_close(m);
	if (dir[0] && !keep) {
		char f[400];
		static const char *const sfx[] = { "", "-wal", "-shm" };
		for (int i = 0; i < 3; i++) {
			snprintf(f, sizeof f, "%s%s", path, sfx[i]);
			unlink(f);
		}
		rmdir(dir);
	} else if (dir[0]) {
		printf("# kept %s\n", path);
	}
	return 0;
}
