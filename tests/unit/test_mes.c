/*
 * test_mes.c - the production database (src/mes), against a real database.
 *
 * One suite, two backends. Run as is (ctest's test_mes) it uses SQLite: a
 * fresh file a test in a directory of the working directory. Run by
 * tests/unit/test_mes_pg.sh (ctest's test_mes_pg), which starts a throwaway
 * PostgreSQL server and sets CARDFAB_MES_TEST_PG_HOST (its socket
 * directory), CARDFAB_MES_TEST_PG_PORT and CARDFAB_MES_TEST_PG_USER, the same
 * tests run on PostgreSQL: a fresh database a test, dropped after.
 *
 *   migrations        version 0 -> latest, then no-ops; calls before a
 *                     migration are refused
 *   records           every record type round trips; CPLC stamps once
 *   events            a replayed event counts once, in and across batches;
 *                     the database refuses UPDATE and DELETE of the log
 *   walks             orders, the wafers of a lot (slot order), the dies of
 *                     a wafer, grinding of a wafer: what reports read
 *   genealogy         trace by chip, card and holder equals what was made
 *   yields, counts    per order and per lot, against counts kept while
 *                     building
 *   batches           a failed batch writes nothing, inside a caller's
 *                     transaction too; a run in the wrong stage is refused
 *   claims            claim / renew / finish / release, fencing, idempotent
 *                     finish, holders freed by rejects; 4 processes claiming
 *                     at once take every card exactly once; a SIGKILLed
 *                     station resumes its card, a stale one cannot finish
 *   bad input         unknown scheme, unreachable server, bad arguments,
 *                     no password in messages
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these three before it */
#include <stdarg.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "mes/mes.h"

/* ---------------------------------------------------------- environment */

static int use_pg;
static const char *pg_host, *pg_port, *pg_user;
static int db_seq;

typedef struct {
	char url[700];
	char name[64]; /* PostgreSQL database */
	char dir[128]; /* SQLite directory */
	mes_t *m;
} env_t;

#define OK(m, call)                                                      \
	do {                                                             \
		mes_err_t st_ = (call);                                  \
		if (st_ != MES_OK)                                       \
			fail_msg("%s: %s: %s", #call, mes_strerror(st_), \
				 mes_error_detail(m));                   \
	} while (0)

#define FAILS(m, code, call)                                            \
	do {                                                            \
		mes_err_t st_ = (call);                                 \
		if (st_ != (code))                                      \
			fail_msg("%s: expected %s, got %s: %s", #call,  \
				 mes_strerror(code), mes_strerror(st_), \
				 mes_error_detail(m));                  \
	} while (0)

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void admin_exec(const char *fmt, ...)
{
	char sql[256], conn[512];
	va_list ap;
	PGconn *c;
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	snprintf(conn, sizeof conn, "host=%s port=%s user=%s dbname=postgres",
		 pg_host, pg_port, pg_user);
	c = PQconnectdb(conn);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("admin connection: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet, NULL);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int setup(void **state)
{
	env_t *e = calloc(1, sizeof *e);

	if (!e)
		return -1;
	db_seq++;
	if (use_pg) {
		snprintf(e->name, sizeof e->name, "mes_t%d_%d", (int)getpid(),
			 db_seq);
		admin_exec("DROP DATABASE IF EXISTS %s", e->name);
		admin_exec("CREATE DATABASE %s", e->name);
		snprintf(e->url, sizeof e->url,
			 "postgresql:///%s?host=%s&port=%s&user=%s", e->name,
			 pg_host, pg_port, pg_user);
	} else {
		snprintf(e->dir, sizeof e->dir, "mes-%d-%d", (int)getpid(),
			 db_seq);
		if (mkdir(e->dir, 0700) != 0 && errno != EEXIST)
			return -1;
		snprintf(e->url, sizeof e->url, "%s/t.db", e->dir);
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env_t *e = *state;
	char path[256];

	mes_close(e->m);
	if (use_pg) {
		admin_exec("DROP DATABASE IF EXISTS %s WITH (FORCE)", e->name);
	} else {
		static const char *const files[] = { "t.db", "t.db-wal",
						     "t.db-shm" };
		for (size_t i = 0; i < 3; i++) {
			snprintf(path, sizeof path, "%s/%s", e->dir, files[i]);
			unlink(path);
		}
		rmdir(e->dir);
	}
	free(e);
	return 0;
}

static mes_t *open_db(env_t *e)
{
	char err[MES_DETAIL_MAX];
	mes_t *m = NULL;
	mes_err_t st = mes_open(e->url, &m, err, sizeof err);

	if (st != MES_OK)
		fail_msg("open %s: %s: %s", e->url, mes_strerror(st), err);
	OK(m, mes_migrate(m, NULL, NULL));
	return m;
}

static int64_t T0 = 1700000000000000LL;

/* ---------------------------------------------------------- a factory */

#define NW 4   /* wafers: 2 lots of 2 */
#define GRID 5 /* 5 x 5 dies a wafer */
#define ND (NW * GRID * GRID)

typedef struct {
	int64_t in[MES_YIELD_PARTS], out[MES_YIELD_PARTS];
} ycount_t;

typedef struct {
	mes_order_t order;
	mes_station_t st_init, st_perso;
	mes_lot_t lots[2];
	mes_wafer_t wafers[NW];
	mes_die_t dies[ND];
	mes_grinding_t grind[NW];
	mes_chip_t chips[ND];
	int chip_die[ND]; /* index into dies */
	size_t nchips;
	mes_module_t mods[ND];
	size_t nmods; /* module k is of chip k */
	mes_card_t cards[ND];
	int card_mod[ND];
	size_t ncards;
	mes_holder_t holders[ND];
	size_t nholders;
	mes_run_t init[ND];
	size_t ninit;
	mes_run_t perso[ND];
	size_t nperso;
	ycount_t lot_y[2], order_y;
} factory_t;

static int die_lot(int d)
{
	return (d / (GRID * GRID)) / 2;
}

static void count(factory_t *f, int lot, int part, int pass)
{
	f->lot_y[lot].in[part - 2]++;
	f->lot_y[lot].out[part - 2] += pass;
	f->order_y.in[part - 2]++;
	f->order_y.out[part - 2] += pass;
}

/*
 * Two lots of two wafers of 25 dies, with defects at known places: bad
 * bins, one wafer out of thickness spec, failed module tests, misprints,
 * init and perso rejects. Counts what each part should yield.
 */
static factory_t *build(mes_t *m, int with_runs)
{
	factory_t *f = calloc(1, sizeof *f);
	size_t k;

	assert_non_null(f);
	snprintf(f->order.name, sizeof f->order.name, "PO-1");
	snprintf(f->order.profile_name, sizeof f->order.profile_name,
		 "bank-card");
	memset(f->order.profile_hash, 'a', 64);
	f->order.quantity = 60;
	f->order.created_us = T0;
	OK(m, mes_add_order(m, &f->order));
	assert_true(f->order.id > 0);

	snprintf(f->st_init.name, sizeof f->st_init.name, "init-1");
	f->st_init.kind = MES_STATION_INIT;
	snprintf(f->st_init.host, sizeof f->st_init.host, "host-a");
	OK(m, mes_register_station(m, &f->st_init));
	snprintf(f->st_perso.name, sizeof f->st_perso.name, "perso-1");
	f->st_perso.kind = MES_STATION_PERSO;
	OK(m, mes_register_station(m, &f->st_perso));

	for (int l = 0; l < 2; l++) {
		f->lots[l].order_id = f->order.id;
		snprintf(f->lots[l].name, sizeof f->lots[l].name, "LOT-%c",
			 'A' + l);
		snprintf(f->lots[l].fab, sizeof f->lots[l].fab, "fab-1");
		f->lots[l].created_us = T0 + l;
	}
	OK(m, mes_add_lots(m, f->lots, 2));
	for (int w = 0; w < NW; w++) {
		f->wafers[w].lot_id = f->lots[w / 2].id;
		f->wafers[w].index = w % 2;
		f->wafers[w].diameter_mm = 200.0;
		f->wafers[w].die_w_mm = 4.0;
		f->wafers[w].die_h_mm = 4.25;
	}
	OK(m, mes_add_wafers(m, f->wafers, NW));

	for (int d = 0; d < ND; d++) {
		int w = d / (GRID * GRID), x = d % GRID, y = (d / GRID) % GRID;
		mes_die_t *die = &f->dies[d];
		die->wafer_id = f->wafers[w].id;
		die->x = x;
		die->y = y;
		die->bin = (x * 3 + y * 5 + w) % 7 == 0 ? 3 : MES_BIN_GOOD;
		die->idd_ua = 100.0 + x;
		die->vdd_v = 1.8;
		die->leakage_na = (x == 2 && y == 2) ? NAN : 0.5 * y;
		die->probed_us = T0 + 1000 + d;
		count(f, die_lot(d), MES_PART_PROBE, die->bin == MES_BIN_GOOD);
	}
	OK(m, mes_add_dies(m, f->dies, ND));

	for (int w = 0; w < NW; w++) {
		mes_grinding_t *g = &f->grind[w];
		g->wafer_id = f->wafers[w].id;
		g->thickness_um = w == 3 ? 160.5 : 180.25;
		g->spec_min_um = 170.0;
		g->spec_max_um = 190.0;
		g->pass = w != 3;
		g->measured_us = T0 + 2000 + w;
		count(f, w / 2, MES_PART_GRINDING, g->pass);
	}
	OK(m, mes_add_grindings(m, f->grind, NW));

	/* Chips: the good dies of wafers that passed grinding. */
	for (int d = 0; d < ND; d++) {
		mes_chip_t *c;
		if (f->dies[d].bin != MES_BIN_GOOD ||
		    !f->grind[d / (GRID * GRID)].pass)
			continue;
		c = &f->chips[f->nchips];
		f->chip_die[f->nchips++] = d;
		c->die_id = f->dies[d].id;
		snprintf(c->serial, sizeof c->serial, "C0DE%012X",
			 (unsigned)(0x100 + d));
		snprintf(c->model, sizeof c->model, "cf32");
		snprintf(c->transport_key_ref, sizeof c->transport_key_ref,
			 "transport/C0DE%012X", (unsigned)(0x100 + d));
		c->cplc.v[MES_CPLC_IC_FABRICATOR] = 0x4790;
		c->cplc.v[MES_CPLC_IC_TYPE] = 0x0032;
		c->cplc.v[MES_CPLC_OS_ID] = 0x4346;
		c->cplc.v[MES_CPLC_OS_RELEASE_DATE] = 0x4100;
		c->cplc.v[MES_CPLC_OS_RELEASE_LEVEL] = 0x0100;
		c->cplc.v[MES_CPLC_IC_FABRICATION_DATE] = 0x4123;
		c->cplc.v[MES_CPLC_IC_SERIAL] = 0xF0000000u + (uint32_t)d;
		c->cplc.v[MES_CPLC_IC_BATCH] = (uint32_t)(1 + die_lot(d));
		c->cplc.set = (1u << (MES_CPLC_IC_BATCH + 1)) - 1;
	}
	OK(m, mes_add_chips(m, f->chips, f->nchips));

	for (k = 0; k < f->nchips; k++) {
		mes_module_t *mo = &f->mods[k];
		int d = f->chip_die[k];
		mo->die_id = f->dies[d].id;
		snprintf(mo->serial, sizeof mo->serial, "M%06zu", k);
		mo->test_pass = k % 11 != 5;
		snprintf(mo->atr_hex, sizeof mo->atr_hex,
			 mo->test_pass ?
				 "3BDA11FF81B1FE551F0300318473800180009000E4" :
				 "");
		mo->tested_us = T0 + 3000 + (int64_t)k;
		count(f, die_lot(d), MES_PART_MODULE, mo->test_pass);
	}
	f->nmods = f->nchips;
	OK(m, mes_add_modules(m, f->mods, f->nmods));

	for (k = 0; k < f->nmods; k++) {
		mes_card_t *c;
		if (!f->mods[k].test_pass)
			continue;
		c = &f->cards[f->ncards];
		f->card_mod[f->ncards] = (int)k;
		c->order_id = f->order.id;
		c->module_id = f->mods[k].id;
		snprintf(c->serial, sizeof c->serial, "K%06zu", f->ncards);
		c->embed_pass = 1;
		c->print_pass = f->ncards % 13 != 7;
		c->made_us = T0 + 4000 + (int64_t)f->ncards;
		count(f, die_lot(f->chip_die[k]), MES_PART_CARD_BODY,
		      c->print_pass);
		f->ncards++;
	}
	OK(m, mes_add_cards(m, f->cards, f->ncards));

	for (k = 0; k < f->ncards; k++) {
		mes_holder_t *h;
		if (f->cards[k].stage != MES_STAGE_BUILT)
			continue;
		h = &f->holders[f->nholders];
		h->order_id = f->order.id;
		snprintf(h->ref, sizeof h->ref, "H%04zu", f->nholders);
		snprintf(h->fields, sizeof h->fields,
			 "{\"name\":\"Holder %zu\",\"city\":\"Zürich\"}",
			 f->nholders);
		f->nholders++;
	}
	OK(m, mes_add_holders(m, f->holders, f->nholders));
	if (!with_runs)
		return f;

	for (k = 0; k < f->ncards; k++) {
		mes_run_t *r;
		int lot = die_lot(f->chip_die[f->card_mod[k]]);
		if (f->cards[k].stage != MES_STAGE_BUILT)
			continue;
		r = &f->init[f->ninit++];
		r->card_id = f->cards[k].id;
		r->station_id = f->st_init.id;
		r->start_us = T0 + 5000 + (int64_t)k * 10;
		r->end_us = r->start_us + 7;
		r->outcome = k % 17 == 3 ? MES_RUN_REJECTED : MES_RUN_OK;
		if (r->outcome == MES_RUN_REJECTED)
			snprintf(r->reason, sizeof r->reason,
				 "transport code refused");
		count(f, lot, MES_PART_INIT, r->outcome == MES_RUN_OK);
	}
	OK(m, mes_add_init_runs(m, f->init, f->ninit));
	{
		size_t h = 0;
		for (size_t i = 0; i < f->ninit; i++) {
			mes_run_t *r;
			size_t kk = 0;
			int lot;
			if (f->init[i].outcome != MES_RUN_OK)
				continue;
			while (f->cards[kk].id != f->init[i].card_id)
				kk++;
			lot = die_lot(f->chip_die[f->card_mod[kk]]);
			r = &f->perso[f->nperso++];
			r->card_id = f->init[i].card_id;
			r->station_id = f->st_perso.id;
			r->start_us = T0 + 9000 + (int64_t)i * 10;
			r->end_us = r->start_us + 5;
			r->outcome =
				i % 19 == 4 ? MES_RUN_REJECTED : MES_RUN_OK;
			if (r->outcome == MES_RUN_OK)
				r->holder_id = f->holders[h++].id;
			else
				snprintf(r->reason, sizeof r->reason,
					 "read-back mismatch in EF 2F01");
			count(f, lot, MES_PART_PERSO, r->outcome == MES_RUN_OK);
		}
	}
	OK(m, mes_add_perso_runs(m, f->perso, f->nperso));
	return f;
}

/* ---------------------------------------------------------- migrations */

static void test_migrate(void **state)
{
	env_t *e = *state;
	char err[MES_DETAIL_MAX];
	int from = -1, to = -1, v = -1;
	mes_order_t o;
	mes_t *m;

	OK(NULL, mes_open(e->url, &e->m, err, sizeof err));
	m = e->m;
	OK(m, mes_schema_version(m, &v));
	assert_int_equal(v, 0);
	/* Before the migration, the records are refused clearly. */
	memset(&o, 0, sizeof o);
	snprintf(o.name, sizeof o.name, "PO");
	snprintf(o.profile_name, sizeof o.profile_name, "p");
	snprintf(o.profile_hash, sizeof o.profile_hash, "00");
	o.quantity = 1;
	FAILS(m, MES_ERR_SCHEMA, mes_add_order(m, &o));
	assert_non_null(strstr(mes_error_detail(m), "migrate"));

	OK(m, mes_migrate(m, &from, &to));
	assert_int_equal(from, 0);
	assert_int_equal(to, mes_schema_latest());
	assert_true(mes_schema_latest() >= 3);
	OK(m, mes_migrate(m, &from, &to));
	assert_int_equal(from, mes_schema_latest());
	assert_int_equal(to, mes_schema_latest());
	OK(m, mes_schema_version(m, &v));
	assert_int_equal(v, mes_schema_latest());
	mes_close(m);

	/* Another connection: a no-op again, and the data path works. */
	OK(NULL, mes_open(e->url, &e->m, err, sizeof err));
	m = e->m;
	OK(m, mes_migrate(m, &from, &to));
	assert_int_equal(from, mes_schema_latest());
	OK(m, mes_add_order(m, &o));
	OK(m, mes_migrate(m, &from, &to));
	{
		mes_order_t back;
		OK(m, mes_find_order(m, "PO", &back));
		assert_int_equal(back.id, o.id);
	}
	/* Migrating inside a caller's transaction is refused. */
	OK(m, mes_begin(m));
	FAILS(m, MES_ERR_STATE, mes_migrate(m, NULL, NULL));
	OK(m, mes_rollback(m));
}

/* ---------------------------------------------------------- records */

static void test_records(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 0);
	mes_order_t o;
	mes_chip_t c;
	mes_card_t k;
	mes_station_t again;

	OK(m, mes_analyze(m));
	OK(m, mes_begin(m));
	FAILS(m, MES_ERR_STATE, mes_analyze(m));
	OK(m, mes_rollback(m));
	OK(m, mes_find_order(m, "PO-1", &o));
	assert_int_equal(o.id, f->order.id);
	assert_string_equal(o.profile_name, "bank-card");
	assert_string_equal(o.profile_hash, f->order.profile_hash);
	assert_int_equal(o.quantity, 60);
	assert_int_equal(o.created_us, T0);
	assert_int_equal(o.status, MES_ORDER_OPEN);
	OK(m, mes_set_order_status(m, o.id, MES_ORDER_RUNNING));
	OK(m, mes_find_order(m, "PO-1", &o));
	assert_int_equal(o.status, MES_ORDER_RUNNING);
	FAILS(m, MES_ERR_NOT_FOUND, mes_find_order(m, "PO-none", &o));
	FAILS(m, MES_ERR_NOT_FOUND,
	      mes_set_order_status(m, 999999, MES_ORDER_DONE));

	/* A station registers again under its name: same id, new host. */
	again = f->st_perso;
	snprintf(again.host, sizeof again.host, "host-b");
	again.id = 0;
	OK(m, mes_register_station(m, &again));
	assert_int_equal(again.id, f->st_perso.id);

	/* Ids are distinct and filled in. */
	for (size_t i = 1; i < ND; i++)
		assert_true(f->dies[i].id > f->dies[i - 1].id);

	OK(m, mes_find_chip(m, f->chips[3].serial, &c));
	assert_int_equal(c.id, f->chips[3].id);
	assert_int_equal(c.die_id, f->chips[3].die_id);
	assert_string_equal(c.model, "cf32");
	assert_string_equal(c.transport_key_ref, f->chips[3].transport_key_ref);
	assert_int_equal(c.cplc.set, f->chips[3].cplc.set);
	assert_memory_equal(c.cplc.v, f->chips[3].cplc.v, sizeof c.cplc.v);
	FAILS(m, MES_ERR_NOT_FOUND, mes_find_chip(m, "FFFF", &c));

	/* The module part stamps its CPLC fields; the same again is fine,
	 * another value is refused (the chip refuses it too). */
	{
		mes_cplc_t s = { { 0 }, 0 };
		int64_t id = f->chips[3].id;
		s.v[MES_CPLC_MODULE_FABRICATOR] = 0x1234;
		s.v[MES_CPLC_MODULE_PACKAGING_DATE] = 0x4200;
		s.set = 1u << MES_CPLC_MODULE_FABRICATOR |
			1u << MES_CPLC_MODULE_PACKAGING_DATE;
		OK(m, mes_stamp_cplc(m, &id, &s, 1));
		OK(m, mes_stamp_cplc(m, &id, &s, 1));
		s.v[MES_CPLC_MODULE_PACKAGING_DATE] = 0x4201;
		FAILS(m, MES_ERR_CONSTRAINT, mes_stamp_cplc(m, &id, &s, 1));
		id = 999999;
		FAILS(m, MES_ERR_CONSTRAINT, mes_stamp_cplc(m, &id, &s, 1));
		OK(m, mes_find_chip(m, f->chips[3].serial, &c));
		assert_int_equal(c.cplc.v[MES_CPLC_MODULE_PACKAGING_DATE],
				 0x4200);
		assert_int_equal(c.cplc.v[MES_CPLC_MODULE_FABRICATOR], 0x1234);
		assert_true(c.cplc.set & 1u << MES_CPLC_MODULE_FABRICATOR);
		assert_false(c.cplc.set & 1u << MES_CPLC_EMBEDDING_DATE);
		/* A 2-byte field cannot take 3 bytes. */
		s.v[MES_CPLC_IC_TYPE] = 0x10000;
		s.set = 1u << MES_CPLC_IC_TYPE;
		id = f->chips[3].id;
		FAILS(m, MES_ERR_PARAM, mes_stamp_cplc(m, &id, &s, 1));
	}

	/* Card bodies: a misprint is rejected at once. */
	OK(m, mes_find_card(m, f->cards[7].serial, &k));
	assert_int_equal(k.stage, MES_STAGE_REJECTED);
	assert_int_equal(k.print_pass, 0);
	OK(m, mes_find_card(m, f->cards[0].serial, &k));
	assert_int_equal(k.stage, MES_STAGE_BUILT);
	assert_int_equal(k.id, f->cards[0].id);
	assert_int_equal(k.module_id, f->cards[0].module_id);
	assert_int_equal(k.order_id, f->order.id);
	assert_int_equal(k.made_us, f->cards[0].made_us);
	assert_int_equal(f->cards[7].stage, MES_STAGE_REJECTED);

	/* Duplicates are constraint errors. */
	{
		mes_chip_t dup = f->chips[0];
		mes_card_t dk = f->cards[1];
		dup.die_id = f->dies[1].id;
		FAILS(m, MES_ERR_CONSTRAINT, mes_add_chips(m, &dup, 1));
		FAILS(m, MES_ERR_CONSTRAINT, mes_add_cards(m, &dk, 1));
		dup = f->chips[0];
		snprintf(dup.serial, sizeof dup.serial, "NEW");
		dup.die_id = 999999; /* no such die: foreign key */
		FAILS(m, MES_ERR_CONSTRAINT, mes_add_chips(m, &dup, 1));
	}

	free(f);
}

static int collect_lot(void *ctx, const mes_lot_t *lot)
{
	mes_lot_t *out = ctx;
	size_t i = 0;

	while (out[i].id)
		i++;
	out[i] = *lot;
	return 0;
}

static void test_lots_and_wafers(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 0);
	mes_lot_t got[4];
	mes_genealogy_t g;

	memset(got, 0, sizeof got);
	OK(m, mes_list_lots(m, f->order.id, collect_lot, got));
	assert_int_equal(got[0].id, f->lots[0].id);
	assert_int_equal(got[1].id, f->lots[1].id);
	assert_int_equal(got[2].id, 0);
	assert_string_equal(got[1].name, "LOT-B");
	assert_string_equal(got[1].fab, "fab-1");
	assert_int_equal(got[1].created_us, T0 + 1);
	memset(got, 0, sizeof got);
	OK(m, mes_list_lots(m, 0, collect_lot, got));
	assert_int_equal(got[1].id, f->lots[1].id);
	memset(got, 0, sizeof got);
	OK(m, mes_list_lots(m, 999, collect_lot, got));
	assert_int_equal(got[0].id, 0);

	/* Test values: NaN (not measured) comes back as NaN. */
	OK(m, mes_trace_chip(m, f->chips[0].serial, &g));
	for (size_t i = 0; i < f->nchips; i++) {
		const mes_die_t *d = &f->dies[f->chip_die[i]];
		if (d->x == 2 && d->y == 2) {
			OK(m, mes_trace_chip(m, f->chips[i].serial, &g));
			assert_true(isnan(g.die.leakage_na));
			assert_true(g.die.idd_ua == d->idd_ua);
		}
	}
	free(f);
}

/* ---------------------------------------------------------- walks */

/* Up to 8 of each, then stops when told (stop: rows to take, 0 all). */
typedef struct {
	mes_order_t orders[8];
	mes_wafer_t wafers[8];
	mes_die_t dies[ND];
	size_t n, stop;
} walk_t;

static int walk_order(void *ctx, const mes_order_t *o)
{
	walk_t *w = ctx;

	assert_true(w->n < 8);
	w->orders[w->n++] = *o;
	return w->stop && w->n >= w->stop;
}

static int walk_wafer(void *ctx, const mes_wafer_t *r)
{
	walk_t *w = ctx;

	assert_true(w->n < 8);
	w->wafers[w->n++] = *r;
	return w->stop && w->n >= w->stop;
}

static int walk_die(void *ctx, const mes_die_t *d)
{
	walk_t *w = ctx;

	assert_true(w->n < ND);
	w->dies[w->n++] = *d;
	return w->stop && w->n >= w->stop;
}

/* The walks a report makes: orders oldest first, the wafers of a lot in
 * slot order whatever the order they were recorded in, the dies of a
 * wafer with their test values (NaN kept), grinding of a wafer. */
static void test_walks(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 1);
	walk_t *w = calloc(1, sizeof *w);
	mes_order_t o2;
	mes_lot_t lot;
	mes_wafer_t wf[3];
	mes_grinding_t g;
	size_t i;

	assert_non_null(w);
	memset(&o2, 0, sizeof o2);
	snprintf(o2.name, sizeof o2.name, "PO-2 <\"&'>");
	snprintf(o2.profile_name, sizeof o2.profile_name, "campus");
	snprintf(o2.profile_hash, sizeof o2.profile_hash, "00");
	o2.quantity = 5;
	o2.status = MES_ORDER_RUNNING;
	OK(m, mes_add_order(m, &o2));
	OK(m, mes_list_orders(m, walk_order, w));
	assert_int_equal(w->n, 2);
	assert_int_equal(w->orders[0].id, f->order.id);
	assert_string_equal(w->orders[0].name, "PO-1");
	assert_string_equal(w->orders[0].profile_name, "bank-card");
	assert_int_equal(w->orders[0].quantity, 60);
	assert_int_equal(w->orders[0].created_us, T0);
	assert_int_equal(w->orders[1].id, o2.id);
	assert_string_equal(w->orders[1].name, o2.name);
	assert_int_equal(w->orders[1].status, MES_ORDER_RUNNING);
	memset(w, 0, sizeof *w);
	w->stop = 1;
	OK(m, mes_list_orders(m, walk_order, w));
	assert_int_equal(w->n, 1);

	/* A lot whose wafers were recorded out of slot order. */
	memset(&lot, 0, sizeof lot);
	lot.order_id = o2.id;
	snprintf(lot.name, sizeof lot.name, "LOT-Z");
	OK(m, mes_add_lots(m, &lot, 1));
	memset(wf, 0, sizeof wf);
	for (i = 0; i < 3; i++) {
		wf[i].lot_id = lot.id;
		wf[i].index = (int)(7 - 3 * i); /* 7, 4, 1 */
		wf[i].diameter_mm = 150.0 + (double)i;
		wf[i].die_w_mm = 3.5;
		wf[i].die_h_mm = 2.25;
	}
	OK(m, mes_add_wafers(m, wf, 3));
	memset(w, 0, sizeof *w);
	OK(m, mes_list_wafers(m, lot.id, walk_wafer, w));
	assert_int_equal(w->n, 3);
	for (i = 0; i < 3; i++) {
		const mes_wafer_t *want = &wf[2 - i];
		assert_int_equal(w->wafers[i].id, want->id);
		assert_int_equal(w->wafers[i].lot_id, lot.id);
		assert_int_equal(w->wafers[i].index, want->index);
		assert_true(w->wafers[i].diameter_mm == want->diameter_mm);
		assert_true(w->wafers[i].die_w_mm == 3.5);
		assert_true(w->wafers[i].die_h_mm == 2.25);
	}
	memset(w, 0, sizeof *w);
	OK(m, mes_list_wafers(m, f->lots[1].id, walk_wafer, w));
	assert_int_equal(w->n, 2);
	assert_int_equal(w->wafers[0].id, f->wafers[2].id);
	assert_int_equal(w->wafers[1].id, f->wafers[3].id);
	memset(w, 0, sizeof *w);
	OK(m, mes_list_wafers(m, 99999, walk_wafer, w));
	assert_int_equal(w->n, 0);

	/* Dies: every die of the wafer, ordered by x then y, as recorded. */
	memset(w, 0, sizeof *w);
	OK(m, mes_list_dies(m, f->wafers[1].id, walk_die, w));
	assert_int_equal(w->n, GRID * GRID);
	for (i = 0; i < w->n; i++) {
		const mes_die_t *got = &w->dies[i];
		const mes_die_t *want = NULL;
		for (int d = 0; d < ND; d++)
			if (f->dies[d].id == got->id)
				want = &f->dies[d];
		assert_non_null(want);
		assert_int_equal(got->wafer_id, f->wafers[1].id);
		assert_int_equal(got->x, want->x);
		assert_int_equal(got->y, want->y);
		assert_int_equal(got->bin, want->bin);
		assert_true(got->idd_ua == want->idd_ua);
		assert_true(got->vdd_v == want->vdd_v);
		if (isnan(want->leakage_na))
			assert_true(isnan(got->leakage_na));
		else
			assert_true(got->leakage_na == want->leakage_na);
		assert_int_equal(got->probed_us, want->probed_us);
		if (i > 0)
			assert_true(got->x > w->dies[i - 1].x ||
				    (got->x == w->dies[i - 1].x &&
				     got->y > w->dies[i - 1].y));
	}
	memset(w, 0, sizeof *w);
	w->stop = 3;
	OK(m, mes_list_dies(m, f->wafers[0].id, walk_die, w));
	assert_int_equal(w->n, 3);
	memset(w, 0, sizeof *w);
	OK(m, mes_list_dies(m, wf[0].id, walk_die, w));
	assert_int_equal(w->n, 0);

	/* Grinding, and a wafer never ground. */
	for (i = 0; i < NW; i++) {
		OK(m, mes_find_grinding(m, f->wafers[i].id, &g));
		assert_int_equal(g.wafer_id, f->wafers[i].id);
		assert_true(g.thickness_um == f->grind[i].thickness_um);
		assert_true(g.spec_min_um == 170.0);
		assert_true(g.spec_max_um == 190.0);
		assert_int_equal(g.pass, f->grind[i].pass);
		assert_int_equal(g.measured_us, f->grind[i].measured_us);
	}
	FAILS(m, MES_ERR_NOT_FOUND, mes_find_grinding(m, wf[0].id, &g));
	assert_non_null(strstr(mes_error_detail(m), "grinding"));

	/* Bad arguments. */
	FAILS(m, MES_ERR_PARAM, mes_list_orders(m, NULL, NULL));
	FAILS(m, MES_ERR_PARAM, mes_list_wafers(m, lot.id, NULL, NULL));
	FAILS(m, MES_ERR_PARAM, mes_list_dies(m, 1, NULL, NULL));
	FAILS(m, MES_ERR_PARAM, mes_find_grinding(m, 1, NULL));
	FAILS(NULL, MES_ERR_PARAM, mes_list_orders(NULL, walk_order, w));
	free(w);
	free(f);
}

/* ---------------------------------------------------------- events */

static void make_event(mes_event_t *ev, int i, const char *prefix)
{
	memset(ev, 0, sizeof *ev);
	snprintf(ev->event_id, sizeof ev->event_id, "%s/%d", prefix, i);
	ev->item_kind = MES_ITEM_DIE;
	ev->item_id = 1000 + i % 10;
	ev->part = MES_PART_PROBE;
	snprintf(ev->step, sizeof ev->step, "probe");
	ev->outcome = i % 5 ? MES_RESULT_PASS : MES_RESULT_FAIL;
	ev->time_us = T0 + i;
	snprintf(ev->detail, sizeof ev->detail, "bin %d", i % 5 ? 1 : 4);
}

static int collect_event(void *ctx, const mes_event_t *ev)
{
	mes_event_t *out = ctx;
	size_t i = 0;

	while (out[i].event_id[0])
		i++;
	out[i] = *ev;
	return 0;
}

static void raw_update_refused(env_t *e)
{
	if (use_pg) {
		char conn[512];
		PGconn *c;
		PGresult *r;
		snprintf(conn, sizeof conn, "host=%s port=%s user=%s dbname=%s",
			 pg_host, pg_port, pg_user, e->name);
		c = PQconnectdb(conn);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		r = PQexec(c, "UPDATE event SET step = 'forged'");
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		assert_non_null(strstr(PQerrorMessage(c), "append-only"));
		PQclear(r);
		r = PQexec(c, "DELETE FROM event");
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db;
		char *msg = NULL;
		assert_int_equal(sqlite3_open(e->url, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		assert_int_not_equal(sqlite3_exec(db,
						  "UPDATE event SET step = "
						  "'forged'",
						  NULL, NULL, &msg),
				     SQLITE_OK);
		assert_non_null(msg);
		assert_non_null(strstr(msg, "append-only"));
		sqlite3_free(msg);
		assert_int_not_equal(
			sqlite3_exec(db, "DELETE FROM event", NULL, NULL, NULL),
			SQLITE_OK);
		sqlite3_close(db);
	}
}

static void test_events(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	mes_event_t *ev = calloc(600, sizeof *ev);
	mes_event_t *got = calloc(700, sizeof *got);
	mes_counts_t c;
	size_t ins = 0;

	assert_non_null(ev);
	assert_non_null(got);
	for (int i = 0; i < 500; i++)
		make_event(&ev[i], i, "probe/L1");
	OK(m, mes_add_events(m, ev, 500, &ins));
	assert_int_equal(ins, 500);
	/* A replay of the same 500 and 100 new ones: 100 inserted. */
	for (int i = 500; i < 600; i++)
		make_event(&ev[i], i, "probe/L1");
	OK(m, mes_add_events(m, ev, 600, &ins));
	assert_int_equal(ins, 100);
	/* The same event twice in one batch counts once. */
	make_event(&ev[0], 9000, "x");
	make_event(&ev[1], 9000, "x");
	OK(m, mes_add_events(m, ev, 2, &ins));
	assert_int_equal(ins, 1);
	/* The first of a replayed id stays. */
	make_event(&ev[0], 9000, "x");
	snprintf(ev[0].detail, sizeof ev[0].detail, "changed");
	OK(m, mes_add_events(m, ev, 1, &ins));
	assert_int_equal(ins, 0);
	/* Inside a caller's transaction, replayed after a rollback. */
	make_event(&ev[0], 1, "tx");
	make_event(&ev[1], 2, "tx");
	OK(m, mes_begin(m));
	OK(m, mes_add_events(m, ev, 2, &ins));
	assert_int_equal(ins, 2);
	OK(m, mes_rollback(m));
	OK(m, mes_add_events(m, ev, 2, &ins));
	assert_int_equal(ins, 2);

	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.events, 603);

	/* The events of die 1003, oldest first, as written. */
	OK(m, mes_list_events(m, MES_ITEM_DIE, 1003, collect_event, got));
	{
		size_t n = 0;
		while (got[n].event_id[0])
			n++;
		assert_int_equal(n, 60);
		for (size_t i = 1; i < n; i++)
			assert_true(got[i].time_us > got[i - 1].time_us);
		assert_string_equal(got[0].event_id, "probe/L1/3");
		assert_int_equal(got[0].part, MES_PART_PROBE);
		assert_string_equal(got[0].step, "probe");
		assert_int_equal(got[0].outcome, MES_RESULT_PASS);
		assert_string_equal(got[0].detail, "bin 1");
		assert_int_equal(got[0].station_id, 0);
	}
	memset(got, 0, 700 * sizeof *got);
	OK(m, mes_list_events(m, MES_ITEM_DIE, 9000 % 10 + 1000, collect_event,
			      got));
	/* x/9000 kept its first detail. */
	for (size_t i = 0; got[i].event_id[0]; i++)
		if (!strcmp(got[i].event_id, "x/9000"))
			assert_string_equal(got[i].detail, "bin 4");

	/* Bad events are refused before anything is written. */
	make_event(&ev[0], 77777, "ok");
	make_event(&ev[1], 77778, "bad");
	ev[1].part = 9;
	FAILS(m, MES_ERR_PARAM, mes_add_events(m, ev, 2, &ins));
	assert_non_null(strstr(mes_error_detail(m), "row 1"));
	make_event(&ev[1], 77778, "bad");
	ev[1].event_id[0] = '\0';
	FAILS(m, MES_ERR_PARAM, mes_add_events(m, ev, 2, &ins));
	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.events, 603);

	raw_update_refused(e);
	free(ev);
	free(got);
}

/* ---------------------------------------------------------- genealogy */

static const mes_holder_t *holder_by_id(const factory_t *f, int64_t id)
{
	for (size_t i = 0; i < f->nholders; i++)
		if (f->holders[i].id == id)
			return &f->holders[i];
	return NULL;
}

/* Checks a genealogy against the factory, for card index k. */
static void check_trace(const factory_t *f, size_t k, const mes_genealogy_t *g)
{
	int mi = f->card_mod[k], d = f->chip_die[mi];
	const mes_chip_t *c = &f->chips[mi];
	const mes_die_t *die = &f->dies[d];
	int w = d / (GRID * GRID);
	const mes_run_t *ir = NULL, *pr = NULL;

	assert_int_equal(g->chip.id, c->id);
	assert_string_equal(g->chip.serial, c->serial);
	assert_string_equal(g->chip.model, c->model);
	assert_string_equal(g->chip.transport_key_ref, c->transport_key_ref);
	assert_int_equal(g->chip.cplc.set, c->cplc.set);
	assert_memory_equal(g->chip.cplc.v, c->cplc.v, sizeof c->cplc.v);

	assert_int_equal(g->die.id, die->id);
	assert_int_equal(g->die.x, die->x);
	assert_int_equal(g->die.y, die->y);
	assert_int_equal(g->die.bin, die->bin);
	assert_true(g->die.idd_ua == die->idd_ua);
	assert_true(g->die.vdd_v == die->vdd_v);
	assert_true(isnan(die->leakage_na) ?
			    isnan(g->die.leakage_na) :
			    g->die.leakage_na == die->leakage_na);
	assert_int_equal(g->die.probed_us, die->probed_us);

	assert_int_equal(g->wafer.id, f->wafers[w].id);
	assert_int_equal(g->wafer.index, f->wafers[w].index);
	assert_true(g->wafer.diameter_mm == 200.0);
	assert_true(g->wafer.die_h_mm == 4.25);
	assert_int_equal(g->lot.id, f->lots[w / 2].id);
	assert_string_equal(g->lot.name, f->lots[w / 2].name);
	assert_int_equal(g->lot.order_id, f->order.id);

	assert_true(g->has_grinding);
	assert_true(g->grinding.thickness_um == f->grind[w].thickness_um);
	assert_true(g->grinding.spec_min_um == 170.0);
	assert_int_equal(g->grinding.pass, f->grind[w].pass);

	assert_int_equal(g->module.id, f->mods[mi].id);
	assert_string_equal(g->module.serial, f->mods[mi].serial);
	assert_string_equal(g->module.atr_hex, f->mods[mi].atr_hex);
	assert_int_equal(g->module.test_pass, 1);

	assert_int_equal(g->card.id, f->cards[k].id);
	assert_string_equal(g->card.serial, f->cards[k].serial);
	assert_int_equal(g->card.print_pass, f->cards[k].print_pass);
	assert_int_equal(g->card.made_us, f->cards[k].made_us);

	for (size_t i = 0; i < f->ninit; i++)
		if (f->init[i].card_id == f->cards[k].id)
			ir = &f->init[i];
	for (size_t i = 0; i < f->nperso; i++)
		if (f->perso[i].card_id == f->cards[k].id)
			pr = &f->perso[i];
	if (ir) {
		assert_int_equal(g->init.id, ir->id);
		assert_string_equal(g->init.station, "init-1");
		assert_int_equal(g->init.start_us, ir->start_us);
		assert_int_equal(g->init.end_us, ir->end_us);
		assert_int_equal(g->init.outcome, ir->outcome);
		assert_string_equal(g->init.reason, ir->reason);
	} else {
		assert_int_equal(g->init.id, 0);
	}
	if (pr) {
		assert_int_equal(g->perso.id, pr->id);
		assert_string_equal(g->perso.station, "perso-1");
		assert_int_equal(g->perso.outcome, pr->outcome);
		assert_string_equal(g->perso.reason, pr->reason);
	} else {
		assert_int_equal(g->perso.id, 0);
	}
	if (pr && pr->outcome == MES_RUN_OK) {
		const mes_holder_t *h = holder_by_id(f, pr->holder_id);
		assert_non_null(h);
		assert_int_equal(g->card.stage, MES_STAGE_ISSUED);
		assert_int_equal(g->holder.id, h->id);
		assert_string_equal(g->holder.ref, h->ref);
		assert_string_equal(g->holder.fields, h->fields);
	} else {
		assert_int_equal(g->holder.id, 0);
		assert_int_not_equal(g->card.stage, MES_STAGE_ISSUED);
	}
	assert_int_equal(g->order.id, f->order.id);
	assert_string_equal(g->order.name, "PO-1");
	assert_string_equal(g->order.profile_hash, f->order.profile_hash);
}

static void test_genealogy(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 1);
	mes_genealogy_t g, g2;
	size_t issued = 0;

	assert_true(f->ncards > 20);
	for (size_t k = 0; k < f->ncards; k++) {
		OK(m, mes_trace_chip(m, f->chips[f->card_mod[k]].serial, &g));
		check_trace(f, k, &g);
		OK(m, mes_trace_card(m, f->cards[k].serial, &g2));
		assert_memory_equal(&g.chip, &g2.chip, sizeof g.chip);
		assert_int_equal(g2.card.id, g.card.id);
		assert_int_equal(g2.perso.id, g.perso.id);
		assert_int_equal(g2.holder.id, g.holder.id);
		issued += g.card.stage == MES_STAGE_ISSUED;
	}
	assert_true(issued > 10);

	/* A chip whose module failed: no card, no runs, no holder. */
	for (size_t i = 0; i < f->nmods; i++) {
		if (f->mods[i].test_pass)
			continue;
		OK(m, mes_trace_chip(m, f->chips[i].serial, &g));
		assert_int_equal(g.module.id, f->mods[i].id);
		assert_int_equal(g.module.test_pass, 0);
		assert_int_equal(g.card.id, 0);
		assert_int_equal(g.init.id, 0);
		assert_int_equal(g.holder.id, 0);
		assert_int_equal(g.order.id, f->order.id);
		break;
	}
	FAILS(m, MES_ERR_NOT_FOUND, mes_trace_chip(m, "NO-SUCH", &g));
	FAILS(m, MES_ERR_NOT_FOUND, mes_trace_card(m, "NO-SUCH", &g));
	free(f);
}

static void test_holder(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 1);
	mes_genealogy_t g;
	size_t found = 0;

	for (size_t i = 0; i < f->nperso; i++) {
		const mes_holder_t *h;
		if (f->perso[i].outcome != MES_RUN_OK)
			continue;
		h = holder_by_id(f, f->perso[i].holder_id);
		OK(m, mes_trace_holder(m, f->order.id, h->ref, &g));
		assert_int_equal(g.card.id, f->perso[i].card_id);
		assert_string_equal(g.holder.ref, h->ref);
		OK(m, mes_trace_holder(m, 0, h->ref, &g));
		assert_int_equal(g.card.id, f->perso[i].card_id);
		found++;
	}
	assert_true(found > 10);
	/* The last holders got no card (rejects used none, but fewer cards
	 * than holders were issued). */
	FAILS(m, MES_ERR_NOT_FOUND,
	      mes_trace_holder(m, f->order.id, f->holders[f->nholders - 1].ref,
			       &g));
	FAILS(m, MES_ERR_NOT_FOUND,
	      mes_trace_holder(m, f->order.id + 1, f->holders[0].ref, &g));
	FAILS(m, MES_ERR_NOT_FOUND, mes_trace_holder(m, 0, "nobody", &g));

	/* A holder is issued once: a second card for H0000 is refused. */
	{
		mes_run_t r;
		size_t k;
		for (k = 0; k < f->nperso; k++)
			if (f->perso[k].outcome == MES_RUN_REJECTED)
				break;
		assert_true(k < f->nperso);
		memset(&r, 0, sizeof r);
		r.card_id = f->perso[k].card_id;
		r.outcome = MES_RUN_OK;
		r.holder_id = f->holders[0].id;
		/* The card is REJECTED already: a state error. */
		FAILS(m, MES_ERR_STATE, mes_add_perso_runs(m, &r, 1));
	}
	free(f);
}

/* ---------------------------------------------------------- yields */

static void check_yields(const mes_yields_t *y, const ycount_t *want)
{
	for (int i = 0; i < MES_YIELD_PARTS; i++) {
		assert_int_equal(y->part[i].part, MES_PART_PROBE + i);
		assert_non_null(y->part[i].unit);
		if (y->part[i].in != want->in[i] ||
		    y->part[i].out != want->out[i])
			fail_msg("part %d: in %lld out %lld, want %lld %lld",
				 i + 2, (long long)y->part[i].in,
				 (long long)y->part[i].out,
				 (long long)want->in[i],
				 (long long)want->out[i]);
		if (want->in[i])
			assert_true(fabs(y->part[i].pct -
					 100.0 * (double)want->out[i] /
						 (double)want->in[i]) < 1e-9);
		else
			assert_true(y->part[i].pct == 0.0);
	}
}

static void test_yields(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 1);
	mes_yields_t y;
	mes_counts_t c;
	int64_t good = 0, issued = 0, rejected = 0, initialized = 0;

	OK(m, mes_yields_order(m, f->order.id, &y));
	check_yields(&y, &f->order_y);
	assert_string_equal(y.part[0].unit, "die");
	assert_string_equal(y.part[1].unit, "wafer");
	for (int l = 0; l < 2; l++) {
		OK(m, mes_yields_lot(m, f->lots[l].id, &y));
		check_yields(&y, &f->lot_y[l]);
	}
	/* Every part lost something somewhere: the test means something. */
	for (int i = 0; i < MES_YIELD_PARTS; i++)
		assert_true(f->order_y.out[i] < f->order_y.in[i]);
	/* An unknown order yields nothing. */
	OK(m, mes_yields_order(m, 12345, &y));
	for (int i = 0; i < MES_YIELD_PARTS; i++)
		assert_int_equal(y.part[i].in, 0);

	for (int d = 0; d < ND; d++)
		good += f->dies[d].bin == MES_BIN_GOOD;
	for (size_t k = 0; k < f->ncards; k++)
		rejected += f->cards[k].stage == MES_STAGE_REJECTED;
	for (size_t i = 0; i < f->ninit; i++)
		rejected += f->init[i].outcome == MES_RUN_REJECTED;
	for (size_t i = 0; i < f->nperso; i++) {
		issued += f->perso[i].outcome == MES_RUN_OK;
		rejected += f->perso[i].outcome == MES_RUN_REJECTED;
	}
	OK(m, mes_counts(m, f->order.id, &c));
	assert_int_equal(c.lots, 2);
	assert_int_equal(c.wafers, NW);
	assert_int_equal(c.dies, ND);
	assert_int_equal(c.good_dies, good);
	assert_int_equal(c.chips, (int64_t)f->nchips);
	assert_int_equal(c.modules, (int64_t)f->nmods);
	assert_int_equal(c.cards, (int64_t)f->ncards);
	assert_int_equal(c.issued, issued);
	assert_int_equal(c.rejected, rejected);
	assert_int_equal(c.initialized, initialized);
	assert_int_equal(c.built, 0);
	assert_int_equal(c.claimed, 0);
	assert_int_equal(c.holders, (int64_t)f->nholders);
	assert_int_equal(c.holders_issued, issued);
	assert_int_equal(c.init_runs, (int64_t)f->ninit);
	assert_int_equal(c.perso_runs, (int64_t)f->nperso);
	assert_int_equal(c.cards,
			 c.built + c.initialized + c.issued + c.rejected);
	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.dies, ND);
	OK(m, mes_counts(m, 4242, &c));
	assert_int_equal(c.dies, 0);
	assert_int_equal(c.cards, 0);
	free(f);
}

/* ---------------------------------------------------------- batches */

static void test_batch_rollback(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	factory_t *f = build(m, 0);
	mes_die_t d[300];
	mes_lot_t lot;
	mes_counts_t c;

	/* 300 dies on a new wafer, the 250th a duplicate of the 10th: the
	 * whole batch is refused, not the first 249. */
	memset(d, 0, sizeof d);
	for (int i = 0; i < 300; i++) {
		d[i].wafer_id = f->wafers[0].id;
		d[i].x = 100 + i;
		d[i].y = 7;
		d[i].bin = 1;
		d[i].idd_ua = d[i].vdd_v = d[i].leakage_na = NAN;
	}
	d[249].x = d[9].x;
	FAILS(m, MES_ERR_CONSTRAINT, mes_add_dies(m, d, 300));
	assert_non_null(strstr(mes_error_detail(m), "insert die"));
	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.dies, ND);
	for (int i = 0; i < 300; i++)
		d[i].id = 0;

	/* Inside a caller's transaction: the failed batch is undone, the
	 * rest of the transaction goes on and commits. */
	memset(&lot, 0, sizeof lot);
	lot.order_id = f->order.id;
	snprintf(lot.name, sizeof lot.name, "LOT-C");
	OK(m, mes_begin(m));
	OK(m, mes_add_lots(m, &lot, 1));
	FAILS(m, MES_ERR_CONSTRAINT, mes_add_dies(m, d, 300));
	d[249].x = 999;
	OK(m, mes_add_dies(m, d, 10));
	FAILS(m, MES_ERR_STATE, mes_begin(m));
	OK(m, mes_commit(m));
	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.lots, 3);
	assert_int_equal(c.dies, ND + 10);
	FAILS(m, MES_ERR_STATE, mes_commit(m));
	FAILS(m, MES_ERR_STATE, mes_rollback(m));

	/* A caller's rollback undoes its batches. */
	OK(m, mes_begin(m));
	OK(m, mes_add_dies(m, d + 10, 200));
	OK(m, mes_rollback(m));
	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.dies, ND + 10);

	/* A big batch failing late (row 4,500 of 5,000: many statements and
	 * pipeline windows after the first) writes nothing either. */
	{
		mes_die_t *big = calloc(5000, sizeof *big);
		assert_non_null(big);
		for (int i = 0; i < 5000; i++) {
			big[i].wafer_id = f->wafers[1].id;
			big[i].x = 1000 + i % 100;
			big[i].y = 1000 + i / 100;
			big[i].bin = 1 + i % 3;
			big[i].idd_ua = big[i].vdd_v = big[i].leakage_na = NAN;
		}
		big[4500].y = big[4400].y;
		big[4500].x = big[4400].x;
		FAILS(m, MES_ERR_CONSTRAINT, mes_add_dies(m, big, 5000));
		OK(m, mes_counts(m, 0, &c));
		assert_int_equal(c.dies, ND + 10);
		big[4500].y = 2000;
		OK(m, mes_add_dies(m, big, 5000));
		for (int i = 1; i < 5000; i++)
			assert_true(big[i].id > big[i - 1].id);
		OK(m, mes_counts(m, 0, &c));
		assert_int_equal(c.dies, ND + 10 + 5000);
		free(big);
	}

	/* A bad row is refused before anything is written. */
	d[20].bin = -1;
	FAILS(m, MES_ERR_PARAM, mes_add_dies(m, d + 10, 200));
	assert_non_null(strstr(mes_error_detail(m), "row 10"));

	/* Runs: one card in the wrong stage fails the whole batch, and the
	 * stages of the others do not move. */
	{
		mes_run_t r[3];
		mes_card_t k;
		size_t a = 0, b = 1;
		memset(r, 0, sizeof r);
		while (f->cards[a].stage != MES_STAGE_BUILT)
			a++;
		b = a + 1;
		while (f->cards[b].stage != MES_STAGE_BUILT)
			b++;
		r[0].card_id = f->cards[a].id;
		r[0].outcome = MES_RUN_OK;
		r[1].card_id = f->cards[7].id; /* misprinted: REJECTED */
		r[1].outcome = MES_RUN_OK;
		r[2].card_id = f->cards[b].id;
		r[2].outcome = MES_RUN_REJECTED;
		snprintf(r[2].reason, sizeof r[2].reason, "no ATR");
		FAILS(m, MES_ERR_STATE, mes_add_init_runs(m, r, 3));
		OK(m, mes_find_card(m, f->cards[a].serial, &k));
		assert_int_equal(k.stage, MES_STAGE_BUILT);
		OK(m, mes_find_card(m, f->cards[b].serial, &k));
		assert_int_equal(k.stage, MES_STAGE_BUILT);
		OK(m, mes_counts(m, 0, &c));
		assert_int_equal(c.init_runs, 0);
		/* Without the bad one it goes through. */
		r[1] = r[2];
		OK(m, mes_add_init_runs(m, r, 2));
		OK(m, mes_find_card(m, f->cards[b].serial, &k));
		assert_int_equal(k.stage, MES_STAGE_REJECTED);
		/* The same card twice in one batch is refused. */
		r[1] = r[0];
		FAILS(m, MES_ERR_STATE, mes_add_init_runs(m, r, 2));
		/* Perso: an issued card needs a holder. */
		r[0].holder_id = 0;
		FAILS(m, MES_ERR_PARAM, mes_add_perso_runs(m, r, 1));
		r[0].holder_id = f->holders[0].id;
		OK(m, mes_add_perso_runs(m, r, 1));
		OK(m, mes_find_card(m, f->cards[a].serial, &k));
		assert_int_equal(k.stage, MES_STAGE_ISSUED);
		/* Issued once: the same card again is refused (the database's
		 * one-issued-run-per-card index says so first). */
		FAILS(m, MES_ERR_CONSTRAINT, mes_add_perso_runs(m, r, 1));
	}
	free(f);
}

/* ---------------------------------------------------------- claims */

/* An order of n good cards (initialized if asked) and nh holders. */
static int64_t small_order(mes_t *m, const char *name, size_t n, size_t nh,
			   int initialize)
{
	mes_order_t o;
	mes_lot_t lot;
	mes_wafer_t w;
	mes_die_t *d = calloc(n, sizeof *d);
	mes_chip_t *c = calloc(n, sizeof *c);
	mes_module_t *mo = calloc(n, sizeof *mo);
	mes_card_t *k = calloc(n, sizeof *k);
	mes_holder_t *h = calloc(nh, sizeof *h);
	mes_run_t *r = calloc(n, sizeof *r);

	assert_true(d && c && mo && k && h && r);
	memset(&o, 0, sizeof o);
	snprintf(o.name, sizeof o.name, "%s", name);
	snprintf(o.profile_name, sizeof o.profile_name, "id-card");
	snprintf(o.profile_hash, sizeof o.profile_hash, "00ff");
	o.quantity = (int64_t)n;
	OK(m, mes_add_order(m, &o));
	memset(&lot, 0, sizeof lot);
	lot.order_id = o.id;
	snprintf(lot.name, sizeof lot.name, "%s-L", name);
	OK(m, mes_add_lots(m, &lot, 1));
	memset(&w, 0, sizeof w);
	w.lot_id = lot.id;
	w.diameter_mm = 300;
	w.die_w_mm = w.die_h_mm = 3;
	OK(m, mes_add_wafers(m, &w, 1));
	for (size_t i = 0; i < n; i++) {
		d[i].wafer_id = w.id;
		d[i].x = (int)(i % 100);
		d[i].y = (int)(i / 100);
		d[i].bin = 1;
		d[i].idd_ua = d[i].vdd_v = d[i].leakage_na = NAN;
	}
	OK(m, mes_add_dies(m, d, n));
	for (size_t i = 0; i < n; i++) {
		c[i].die_id = d[i].id;
		snprintf(c[i].serial, sizeof c[i].serial, "%s-C%05zu", name, i);
		snprintf(c[i].model, sizeof c[i].model, "cf64");
		mo[i].die_id = d[i].id;
		snprintf(mo[i].serial, sizeof mo[i].serial, "%s-M%05zu", name,
			 i);
		mo[i].test_pass = 1;
	}
	OK(m, mes_add_chips(m, c, n));
	OK(m, mes_add_modules(m, mo, n));
	for (size_t i = 0; i < n; i++) {
		k[i].order_id = o.id;
		k[i].module_id = mo[i].id;
		snprintf(k[i].serial, sizeof k[i].serial, "%s-K%05zu", name, i);
		k[i].embed_pass = k[i].print_pass = 1;
		r[i].card_id = 0;
	}
	OK(m, mes_add_cards(m, k, n));
	for (size_t i = 0; i < nh; i++) {
		h[i].order_id = o.id;
		snprintf(h[i].ref, sizeof h[i].ref, "%s-H%05zu", name, i);
	}
	OK(m, mes_add_holders(m, h, nh));
	if (initialize) {
		for (size_t i = 0; i < n; i++) {
			r[i].card_id = k[i].id;
			r[i].outcome = MES_RUN_OK;
		}
		OK(m, mes_add_init_runs(m, r, n));
	}
	free(d);
	free(c);
	free(mo);
	free(k);
	free(h);
	free(r);
	return o.id;
}

static int64_t station(mes_t *m, const char *name)
{
	mes_station_t s;

	memset(&s, 0, sizeof s);
	snprintf(s.name, sizeof s.name, "%s", name);
	s.kind = MES_STATION_PERSO;
	snprintf(s.host, sizeof s.host, "localhost");
	OK(m, mes_register_station(m, &s));
	return s.id;
}

static void test_claims(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	int64_t order = small_order(m, "Q", 5, 5, 1);
	int64_t st1 = station(m, "perso-A"), st2 = station(m, "perso-B");
	mes_claim_req_t req = { order, MES_PART_PERSO, st1, 60000, NULL };
	mes_claim_t a, b, stale;
	mes_genealogy_t g;
	mes_counts_t c;

	/* First card and first holder. */
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.card_serial, "Q-K00000");
	assert_string_equal(a.chip_serial, "Q-C00000");
	assert_string_equal(a.holder_ref, "Q-H00000");
	assert_int_equal(a.token, 1);
	assert_int_equal(a.resumed, 0);
	assert_true(a.until_us > mes_now_us() + 50000000LL);
	/* Asking again as the same station gives the same card back. */
	OK(m, mes_claim(m, &req, &stale));
	assert_int_equal(stale.card_id, a.card_id);
	assert_int_equal(stale.resumed, 1);
	assert_int_equal(stale.token, 2);
	assert_int_equal(stale.holder_id, a.holder_id);
	/* The first claim's token is stale now. */
	FAILS(m, MES_ERR_CLAIM, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));
	a = stale;
	OK(m, mes_claim_renew(m, &a, 120000));
	OK(m, mes_counts(m, order, &c));
	assert_int_equal(c.claimed, 1);

	/* Station B gets the next card and holder. */
	req.station_id = st2;
	OK(m, mes_claim(m, &req, &b));
	assert_string_equal(b.card_serial, "Q-K00001");
	assert_string_equal(b.holder_ref, "Q-H00001");
	/* B rejects its card: the holder goes back to the pool. */
	FAILS(m, MES_ERR_PARAM,
	      mes_claim_finish(m, &b, MES_RUN_REJECTED, "", 0, 0));
	OK(m, mes_claim_finish(m, &b, MES_RUN_REJECTED, "EXTERNAL AUTH 6982", 0,
			       0));
	OK(m, mes_claim(m, &req, &b));
	assert_string_equal(b.card_serial, "Q-K00002");
	assert_string_equal(b.holder_ref, "Q-H00001");
	/* A issues its card; a retried finish (lost reply) is a no-op. */
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, NULL, T0, T0 + 5));
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, NULL, T0, T0 + 5));
	FAILS(m, MES_ERR_CLAIM, mes_claim_renew(m, &a, 1000));
	FAILS(m, MES_ERR_CLAIM, mes_claim_release(m, &a));
	OK(m, mes_trace_card(m, "Q-K00000", &g));
	assert_int_equal(g.card.stage, MES_STAGE_ISSUED);
	assert_string_equal(g.holder.ref, "Q-H00000");
	assert_string_equal(g.perso.station, "perso-A");
	assert_int_equal(g.perso.start_us, T0);
	OK(m, mes_trace_holder(m, order, "Q-H00000", &g));
	assert_string_equal(g.card.serial, "Q-K00000");
	OK(m, mes_trace_card(m, "Q-K00001", &g));
	assert_int_equal(g.card.stage, MES_STAGE_REJECTED);
	assert_string_equal(g.perso.reason, "EXTERNAL AUTH 6982");
	assert_int_equal(g.holder.id, 0);

	/* B releases its card untouched: the next claim gets it again, with
	 * the same holder free again. */
	OK(m, mes_claim_release(m, &b));
	FAILS(m, MES_ERR_CLAIM, mes_claim_release(m, &b));
	OK(m, mes_claim(m, &req, &b));
	assert_string_equal(b.card_serial, "Q-K00002");
	assert_int_equal(b.token, 2);
	assert_int_equal(b.resumed, 0);
	assert_string_equal(b.holder_ref, "Q-H00001");
	OK(m, mes_claim_finish(m, &b, MES_RUN_OK, "", 0, 0));

	/* A card claimed by serial (the one in the reader). */
	req.card_serial = "Q-K00004";
	OK(m, mes_claim(m, &req, &b));
	assert_string_equal(b.card_serial, "Q-K00004");
	req.station_id = st1;
	FAILS(m, MES_ERR_NOT_FOUND, mes_claim(m, &req, &a));
	req.card_serial = "Q-K00001"; /* rejected: not awaiting perso */
	FAILS(m, MES_ERR_NOT_FOUND, mes_claim(m, &req, &a));
	req.card_serial = NULL;
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.card_serial, "Q-K00003");
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));
	/* Holders: 5, two issued, one with B's card K4: K4 gets one, and no
	 * card is left. */
	OK(m, mes_claim_finish(m, &b, MES_RUN_OK, "", 0, 0));
	FAILS(m, MES_ERR_NOT_FOUND, mes_claim(m, &req, &a));
	OK(m, mes_counts(m, order, &c));
	assert_int_equal(c.issued, 4);
	assert_int_equal(c.rejected, 1);
	assert_int_equal(c.holders_issued, 4);
	assert_int_equal(c.claimed, 0);
	assert_int_equal(c.perso_runs, 5);

	/* Claims are their own transactions. */
	OK(m, mes_begin(m));
	FAILS(m, MES_ERR_STATE, mes_claim(m, &req, &a));
	OK(m, mes_rollback(m));
	/* Bad requests. */
	req.part = MES_PART_PROBE;
	FAILS(m, MES_ERR_PARAM, mes_claim(m, &req, &a));
	req.part = MES_PART_PERSO;
	req.lease_ms = 0;
	FAILS(m, MES_ERR_PARAM, mes_claim(m, &req, &a));
}

static void test_claims_init_and_holders(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	int64_t order = small_order(m, "I", 3, 3, 0);
	int64_t st = station(m, "init-A");
	mes_claim_req_t req = { order, MES_PART_INIT, st, 60000, NULL };
	mes_claim_t a;
	mes_card_t k;
	mes_counts_t c;

	/* Init claims take BUILT cards and no holder. */
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.card_serial, "I-K00000");
	assert_int_equal(a.holder_id, 0);
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));
	OK(m, mes_find_card(m, "I-K00000", &k));
	assert_int_equal(k.stage, MES_STAGE_INITIALIZED);
	OK(m, mes_claim(m, &req, &a));
	OK(m, mes_claim_finish(m, &a, MES_RUN_REJECTED,
			       "6983 transport "
			       "code blocked",
			       0, 0));
	/* Perso claims see only the initialized card. */
	req.part = MES_PART_PERSO;
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.card_serial, "I-K00000");
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));
	FAILS(m, MES_ERR_NOT_FOUND, mes_claim(m, &req, &a));
	req.part = MES_PART_INIT;
	OK(m, mes_claim(m, &req, &a));
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));
	/* 3 holders, 1 issued; a card with no holder left cannot be
	 * claimed for perso once holders run out. */
	OK(m, mes_counts(m, order, &c));
	assert_int_equal(c.initialized, 1);
	assert_int_equal(c.issued, 1);
	assert_int_equal(c.rejected, 1);
	assert_int_equal(c.init_runs, 3);
}

static void test_claim_no_holder(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	int64_t order = small_order(m, "N", 3, 2, 1);
	int64_t st = station(m, "perso-N");
	mes_claim_req_t req = { order, MES_PART_PERSO, st, 60000, NULL };
	mes_claim_t a;
	mes_card_t k;
	mes_run_t r;
	mes_counts_t c;

	/* Card K2 is issued to holder H0 by a batch of recorded runs. */
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.holder_ref, "N-H00000");
	memset(&r, 0, sizeof r);
	r.holder_id = a.holder_id;
	/* While H0 is reserved by a claim, a batch cannot issue it. */
	OK(m, mes_find_card(m, "N-K00002", &k));
	r.card_id = k.id;
	r.outcome = MES_RUN_OK;
	FAILS(m, MES_ERR_STATE, mes_add_perso_runs(m, &r, 1));
	/* Nor can it touch a claimed card. */
	r.card_id = a.card_id;
	FAILS(m, MES_ERR_STATE, mes_add_perso_runs(m, &r, 1));
	OK(m, mes_claim_release(m, &a));
	r.card_id = k.id;
	OK(m, mes_add_perso_runs(m, &r, 1));

	/* K0 gets H1, then K1 finds no holder left: nothing is claimed. */
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.card_serial, "N-K00000");
	assert_string_equal(a.holder_ref, "N-H00001");
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));
	FAILS(m, MES_ERR_NOT_FOUND, mes_claim(m, &req, &a));
	assert_non_null(strstr(mes_error_detail(m), "holder"));
	OK(m, mes_counts(m, order, &c));
	assert_int_equal(c.claimed, 0);
	assert_int_equal(c.issued, 2);
	assert_int_equal(c.initialized, 1);
	assert_int_equal(c.holders_issued, 2);
}

/* ---------------------------------------------------------- processes */

#define NPROC 4
#define NCARDS 120

/* A station process: claims and issues until nothing is left, writes
 * (card id, holder id) pairs to fd. Exit 0, or the step that failed. */
static int station_main(const char *url, int idx, int fd)
{
	char err[MES_DETAIL_MAX], name[32];
	mes_station_t s;
	mes_claim_req_t req;
	mes_claim_t cl;
	mes_order_t o;
	mes_t *m;

	if (mes_open(url, &m, err, sizeof err) != MES_OK)
		return 10;
	if (mes_find_order(m, "P", &o) != MES_OK)
		return 11;
	memset(&s, 0, sizeof s);
	snprintf(name, sizeof name, "station-%d", idx);
	snprintf(s.name, sizeof s.name, "%s", name);
	s.kind = MES_STATION_PERSO;
	if (mes_register_station(m, &s) != MES_OK)
		return 12;
	req = (mes_claim_req_t){ o.id, MES_PART_PERSO, s.id, 30000, NULL };
	for (;;) {
		int64_t pair[2];
		mes_err_t st = mes_claim(m, &req, &cl);
		if (st == MES_ERR_NOT_FOUND)
			break;
		if (st != MES_OK) {
			fprintf(stderr, "station %d: claim: %s\n", idx,
				mes_error_detail(m));
			return 13;
		}
		/* Every seventh card is rejected. */
		if (cl.card_id % 7 == 0)
			st = mes_claim_finish(m, &cl, MES_RUN_REJECTED,
					      "verify failed", 0, 0);
		else
			st = mes_claim_finish(m, &cl, MES_RUN_OK, "", 0, 0);
		if (st != MES_OK) {
			fprintf(stderr, "station %d: finish: %s\n", idx,
				mes_error_detail(m));
			return 14;
		}
		pair[0] = cl.card_id;
		pair[1] = cl.card_id % 7 == 0 ? -cl.holder_id : cl.holder_id;
		if (write(fd, pair, sizeof pair) != (ssize_t)sizeof pair)
			return 15;
	}
	mes_close(m);
	return 0;
}

static void test_claims_concurrent(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	int64_t order = small_order(m, "P", NCARDS, NCARDS + 10, 1);
	int fds[2], cards[NCARDS + 1] = { 0 };
	pid_t pids[NPROC];
	int64_t pair[2], min_card = INT64_MAX;
	size_t got = 0, issued = 0;
	int64_t *holders = calloc(NCARDS * 2, sizeof *holders);
	size_t nh = 0;
	mes_counts_t c;

	(void)order;
	assert_non_null(holders);
	mes_close(m);
	e->m = NULL;
	assert_int_equal(pipe(fds), 0);
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(fds[0]);
			_exit(station_main(e->url, i, fds[1]));
		}
	}
	close(fds[1]);
	{
		int64_t(*all)[2] = calloc(NCARDS * 2, sizeof *all);
		assert_non_null(all);
		while (read(fds[0], pair, sizeof pair) ==
		       (ssize_t)sizeof pair) {
			all[got][0] = pair[0];
			all[got][1] = pair[1];
			if (pair[0] < min_card)
				min_card = pair[0];
			got++;
			assert_true(got <= NCARDS);
		}
		close(fds[0]);
		for (int i = 0; i < NPROC; i++) {
			int status;
			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fail_msg("station %d: status 0x%x", i, status);
		}
		/* Every card claimed and finished exactly once. */
		assert_int_equal(got, NCARDS);
		for (size_t i = 0; i < got; i++) {
			int64_t idx = all[i][0] - min_card;
			assert_true(idx >= 0 && idx < NCARDS);
			cards[idx]++;
			if (all[i][1] > 0) {
				issued++;
				for (size_t j = 0; j < nh; j++)
					assert_true(holders[j] != all[i][1]);
				holders[nh++] = all[i][1];
			}
		}
		for (int i = 0; i < NCARDS; i++)
			assert_int_equal(cards[i], 1);
		free(all);
	}
	e->m = m = open_db(e);
	OK(m, mes_counts(m, 0, &c));
	assert_int_equal(c.issued, (int64_t)issued);
	assert_int_equal(c.issued + c.rejected, NCARDS);
	assert_int_equal(c.holders_issued, (int64_t)issued);
	assert_int_equal(c.perso_runs, NCARDS);
	assert_int_equal(c.claimed, 0);
	assert_true(c.rejected > 0);
	free(holders);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_claim_kill_resume(void **state)
{
	env_t *e = *state;
	mes_t *m = e->m = open_db(e);
	int64_t order = small_order(m, "R", 3, 3, 1);
	int64_t sa = station(m, "perso-killed"), sb = station(m, "perso-B");
	mes_claim_req_t req = { order, MES_PART_PERSO, sa, 60000, NULL };
	mes_claim_t a, a2, b;
	mes_counts_t c;
	mes_genealogy_t g;
	pid_t pid;
	int status, fds[2];
	int64_t child_card = 0;

	/* A station process claims a card and is killed mid-card. */
	mes_close(m);
	e->m = NULL;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[MES_DETAIL_MAX];
		mes_t *cm;
		mes_claim_t cl;
		close(fds[0]);
		if (mes_open(e->url, &cm, err, sizeof err) != MES_OK ||
		    mes_claim(cm, &req, &cl) != MES_OK)
			_exit(1);
		if (write(fds[1], &cl.card_id, sizeof cl.card_id) !=
		    (ssize_t)sizeof cl.card_id)
			_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &child_card, sizeof child_card),
			 (ssize_t)sizeof child_card);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* Restarted under the same name: it gets its card back. */
	e->m = m = open_db(e);
	assert_int_equal(station(m, "perso-killed"), sa);
	OK(m, mes_claim(m, &req, &a));
	assert_int_equal(a.card_id, child_card);
	assert_int_equal(a.resumed, 1);
	assert_int_equal(a.token, 2);
	assert_string_equal(a.holder_ref, "R-H00000");
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));

	/* A station whose lease runs out loses its card to another; it can
	 * neither renew nor finish it afterwards, and the card is issued
	 * once, to the holder it was claimed with. */
	req.lease_ms = 1000;
	OK(m, mes_claim(m, &req, &a2));
	assert_string_equal(a2.card_serial, "R-K00001");
	req.station_id = sb;
	req.lease_ms = 60000;
	OK(m, mes_claim(m, &req, &b));
	/* B takes the third card while A2's lease lives. */
	assert_string_equal(b.card_serial, "R-K00002");
	OK(m, mes_claim_release(m, &b));
	sleep_ms(1300);
	req.card_serial = "R-K00001";
	OK(m, mes_claim(m, &req, &b));
	assert_int_equal(b.card_id, a2.card_id);
	assert_int_equal(b.resumed, 0);
	assert_int_equal(b.token, a2.token + 1);
	assert_int_equal(b.holder_id, a2.holder_id);
	FAILS(m, MES_ERR_CLAIM, mes_claim_renew(m, &a2, 60000));
	FAILS(m, MES_ERR_CLAIM, mes_claim_finish(m, &a2, MES_RUN_OK, "", 0, 0));
	OK(m, mes_claim_finish(m, &b, MES_RUN_OK, "", 0, 0));
	FAILS(m, MES_ERR_CLAIM, mes_claim_finish(m, &a2, MES_RUN_OK, "", 0, 0));
	/* The stale station, restarted, does not get it back either. */
	req.station_id = sa;
	req.card_serial = NULL;
	OK(m, mes_claim(m, &req, &a));
	assert_string_equal(a.card_serial, "R-K00002");
	assert_int_equal(a.resumed, 0);
	OK(m, mes_claim_finish(m, &a, MES_RUN_OK, "", 0, 0));

	OK(m, mes_trace_card(m, "R-K00001", &g));
	assert_string_equal(g.perso.station, "perso-B");
	assert_int_equal(g.holder.id, a2.holder_id);
	OK(m, mes_counts(m, order, &c));
	assert_int_equal(c.issued, 3);
	assert_int_equal(c.perso_runs, 3);
	assert_int_equal(c.holders_issued, 3);
	assert_int_equal(c.claimed, 0);
}

/* ---------------------------------------------------------- bad input */

static void test_bad_input(void **state)
{
	env_t *e = *state;
	char err[MES_DETAIL_MAX];
	mes_t *m = NULL;
	mes_chip_t chip;
	mes_err_t st;

	st = mes_open("mysql://localhost/cards", &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_URL);
	assert_null(m);
	assert_non_null(strstr(err, "mysql"));
	st = mes_open("postgress://localhost/cards", &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_URL);
	st = mes_open("", &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_PARAM);
	st = mes_open(NULL, &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_PARAM);
	st = mes_open("sqlite:", &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_PARAM);
	st = mes_open("x.db", NULL, err, sizeof err);
	assert_int_equal(st, MES_ERR_PARAM);
	/* A file in a directory that does not exist. */
	st = mes_open("sqlite:no/such/dir/x.db", &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_CONNECT);
	assert_non_null(strstr(err, "no/such/dir/x.db"));
	/* A file that is not a database. */
	{
		FILE *fp = fopen("not-a-db.db", "w");
		assert_non_null(fp);
		fputs("this is not an SQLite database, not at all, no....\n",
		      fp);
		fclose(fp);
		st = mes_open("not-a-db.db", &m, err, sizeof err);
		assert_int_equal(st, MES_ERR_CONNECT);
		assert_non_null(strstr(err, "not-a-db.db"));
		unlink("not-a-db.db");
	}
	/* Nothing listens on port 1; the password is never shown. */
	st = mes_open("postgresql://cardfab:s3cretpw@127.0.0.1:1/mes"
		      "?connect_timeout=3",
		      &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_CONNECT);
	assert_null(strstr(err, "s3cretpw"));
	assert_non_null(strstr(err, "127.0.0.1"));
	st = mes_open("postgresql://127.0.0.1:1/mes?password=s3cretpw&"
		      "connect_timeout=3",
		      &m, err, sizeof err);
	assert_int_equal(st, MES_ERR_CONNECT);
	assert_null(strstr(err, "s3cretpw"));
	st = mes_open("postgres://127.0.0.1:1/mes?no_such_option=1", &m, err,
		      sizeof err);
	assert_int_equal(st, MES_ERR_URL);
	assert_non_null(strstr(err, "no_such_option"));

	for (int i = MES_OK; i <= MES_ERR_BACKEND; i++)
		assert_true(strlen(mes_strerror((mes_err_t)i)) > 3);
	assert_non_null(mes_strerror((mes_err_t)99));

	m = e->m = open_db(e);
	assert_string_equal(mes_backend(m), use_pg ? "postgresql" : "sqlite");
	/* Strings: too long, not terminated, not UTF-8, empty. */
	memset(&chip, 0, sizeof chip);
	chip.die_id = 1;
	snprintf(chip.model, sizeof chip.model, "cf32");
	memset(chip.serial, 'A', sizeof chip.serial);
	FAILS(m, MES_ERR_PARAM, mes_add_chips(m, &chip, 1));
	assert_non_null(strstr(mes_error_detail(m), "chip serial"));
	snprintf(chip.serial, sizeof chip.serial, "AB\xC3(");
	FAILS(m, MES_ERR_PARAM, mes_add_chips(m, &chip, 1));
	assert_non_null(strstr(mes_error_detail(m), "UTF-8"));
	chip.serial[0] = '\0';
	FAILS(m, MES_ERR_PARAM, mes_add_chips(m, &chip, 1));
	FAILS(m, MES_ERR_PARAM, mes_add_chips(m, NULL, 1));
	OK(m, mes_add_chips(m, NULL, 0));
	FAILS(m, MES_ERR_PARAM, mes_trace_chip(m, NULL, NULL));
	assert_int_equal(mes_migrate(NULL, NULL, NULL), MES_ERR_PARAM);
	mes_close(NULL);
	assert_string_equal(mes_error_detail(NULL), "no database");

	/* CPLC bytes round trip. */
	{
		uint8_t b[MES_CPLC_LEN], b2[MES_CPLC_LEN];
		mes_cplc_t cp;
		for (unsigned i = 0; i < MES_CPLC_LEN; i++)
			b[i] = (uint8_t)(i * 7 + 1);
		mes_cplc_from_bytes(b, &cp);
		assert_int_equal(cp.v[MES_CPLC_IC_FABRICATOR], 0x0108);
		assert_int_equal(cp.v[MES_CPLC_IC_SERIAL],
				 (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
					 (uint32_t)b[14] << 8 | b[15]);
		mes_cplc_to_bytes(&cp, b2);
		assert_memory_equal(b, b2, sizeof b);
		cp.set &= ~(1u << MES_CPLC_IC_TYPE);
		mes_cplc_to_bytes(&cp, b2);
		assert_int_equal(b2[2], 0);
		assert_int_equal(b2[3], 0);
		assert_string_equal(mes_cplc_field_name(MES_CPLC_IC_SERIAL),
				    "ic_serial");
		assert_int_equal(mes_cplc_field_len(MES_CPLC_PERSO_EQUIPMENT),
				 4);
		assert_null(mes_cplc_field_name(MES_CPLC_FIELDS));
		{
			size_t total = 0;
			for (int f = 0; f < MES_CPLC_FIELDS; f++)
				total +=
					mes_cplc_field_len((mes_cplc_field_t)f);
			assert_int_equal(total, MES_CPLC_LEN);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lots_and_wafers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_walks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genealogy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_rollback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_init_and_holders,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_no_holder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_claims_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_claim_kill_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup,
						teardown),
	};
	const char *name;

	pg_host = getenv("CARDFAB_MES_TEST_PG_HOST");
	pg_port = getenv("CARDFAB_MES_TEST_PG_PORT");
	pg_user = getenv("CARDFAB_MES_TEST_PG_USER");
	use_pg = pg_host && pg_host[0];
	if (use_pg) {
		if (!pg_port || !pg_port[0])
			pg_port = "5432";
		if (!pg_user || !pg_user[0])
			pg_user = "postgres";
		name = "mes_postgresql";
		printf("test_mes: PostgreSQL at %s port %s\n", pg_host,
		       pg_port);
	} else {
		name = "mes_sqlite";
		printf("test_mes: SQLite %s (PostgreSQL: test_mes_pg)\n",
		       sqlite3_libversion());
	}
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
