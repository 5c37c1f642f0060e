/*
 * mes_records.c - writing production facts: orders, stations, lots,
 * wafers, dies, grinding, chips and their CPLC stamps, modules, card
 * bodies, holders, runs recorded after the fact, and the event log; and
 * the lookups of single records.
 *
 * Every add function checks all its rows first (nothing is written if one
 * is bad), then writes them as one unit (mes_unit_begin/end): a
 * transaction of its own, or a savepoint inside the caller's. Rows go to
 * the backend in chunks of CHUNK, so a million rows need no more memory
 * than a few thousand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mes/mes_int.h"

#define CHUNK 4096
#define MAX_PARAMS_ROW 24

/* A batch of one statement over n caller rows. fill() writes row i's
 * parameters and where its id goes (or NULL). */
typedef struct {
	int sid;
	void (*fill)(const void *rows, size_t i, int64_t now, mes_val_t *v,
		     int64_t **id_out);
	const void *rows;
	int64_t now;
} batch_t;

static mes_err_t run_batch(mes_t *m, const batch_t *b, size_t n,
			   int64_t *changes)
{
	mes_val_t *vals;
	mes_call_t *calls;
	size_t chunk = n < CHUNK ? n : CHUNK;
	int64_t total = 0;
	mes_err_t st = MES_OK;

	if (n == 0) {
		if (changes)
			*changes = 0;
		return MES_OK;
	}
	vals = malloc(chunk * MAX_PARAMS_ROW * sizeof *vals);
	calls = malloc(chunk * sizeof *calls);
	if (!vals || !calls) {
		free(vals);
		free(calls);
		return mes_fail(m, MES_ERR_NOMEM, "%s: out of memory",
				mes_stmts[b->sid].name);
	}
	for (size_t at = 0; at < n && st == MES_OK; at += chunk) {
		size_t k = n - at < chunk ? n - at : chunk;
		int64_t ch = 0;
		for (size_t i = 0; i < k; i++) {
			mes_val_t *v = vals + i * MAX_PARAMS_ROW;
			calls[i].sid = b->sid;
			calls[i].p = v;
			calls[i].id_out = NULL;
			calls[i].expect = -1;
			calls[i].row = at + i;
			b->fill(b->rows, at + i, b->now, v, &calls[i].id_out);
		}
		st = m->be->run(m, calls, k, &ch);
		total += ch;
	}
	free(vals);
	free(calls);
	if (changes)
		*changes = total;
	return st;
}

/* One batch as a whole unit. */
static mes_err_t write_batch(mes_t *m, const batch_t *b, size_t n,
			     int64_t *changes)
{
	mes_err_t st = mes_need_schema(m);

	if (st != MES_OK)
		return st;
	st = mes_unit_begin(m, 0);
	if (st != MES_OK)
		return st;
	return mes_unit_end(m, 0, run_batch(m, b, n, changes));
}

static int64_t when(int64_t t, int64_t now)
{
	return t ? t : now;
}

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond))                                            \
			return mes_fail(m, MES_ERR_PARAM, __VA_ARGS__); \
	} while (0)

#define CHECK_STR(row, field, s, required)                                    \
	do {                                                                  \
		mes_err_t e_ =                                                \
			mes_check_str(m, row, field, s, sizeof(s), required); \
		if (e_ != MES_OK)                                             \
			return e_;                                            \
	} while (0)

static int bool_ok(int b)
{
	return b == 0 || b == 1;
}

/* ---------------------------------------------------------- orders */

static void fill_order(const void *rows, size_t i, int64_t now, mes_val_t *v,
		       int64_t **id)
{
	mes_order_t *o = (mes_order_t *)rows + i;

	v[0] = mv_text(o->name);
	v[1] = mv_text(o->profile_name);
	v[2] = mv_text(o->profile_hash);
	v[3] = mv_int(o->quantity);
	v[4] = mv_int(when(o->created_us, now));
	v[5] = mv_int(o->status);
	*id = &o->id;
}

mes_err_t mes_add_order(mes_t *m, mes_order_t *o)
{
	batch_t b = { SID_ORDER_ADD, fill_order, o, mes_now_us() };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(o, "add order: no order");
	CHECK_STR(0, "order name", o->name, 1);
	CHECK_STR(0, "profile name", o->profile_name, 1);
	CHECK_STR(0, "profile hash", o->profile_hash, 1);
	CHECK(o->quantity > 0, "order %s: quantity %lld: must be > 0", o->name,
	      (long long)o->quantity);
	CHECK(o->status >= MES_ORDER_OPEN && o->status <= MES_ORDER_CANCELLED,
	      "order %s: unknown status %d", o->name, (int)o->status);
	return write_batch(m, &b, 1, NULL);
}

static int read_order(mes_t *m, void *ctx)
{
	mes_order_t *o = ctx;

	o->id = mes_col_int(m, 0);
	mes_col_copy(m, 1, o->name, sizeof o->name);
	mes_col_copy(m, 2, o->profile_name, sizeof o->profile_name);
	mes_col_copy(m, 3, o->profile_hash, sizeof o->profile_hash);
	o->quantity = mes_col_int(m, 4);
	o->created_us = mes_col_int(m, 5);
	o->status = (mes_order_status_t)mes_col_int(m, 6);
	return 1;
}

mes_err_t mes_find_order(mes_t *m, const char *name, mes_order_t *out)
{
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(name && out, "find order: no name or no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(out, 0, sizeof *out);
	p[0] = mv_text(name);
	st = m->be->query(m, SID_ORDER_FIND, p, read_order, out);
	if (st == MES_OK && out->id == 0)
		return mes_fail(m, MES_ERR_NOT_FOUND, "no order named \"%s\"",
				name);
	return st;
}

mes_err_t mes_set_order_status(mes_t *m, int64_t order_id,
			       mes_order_status_t status)
{
	mes_val_t p[2];
	mes_call_t c = { SID_ORDER_STATUS, p, NULL, 1, 0 };
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(status >= MES_ORDER_OPEN && status <= MES_ORDER_CANCELLED,
	      "order %lld: unknown status %d", (long long)order_id,
	      (int)status);
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	p[0] = mv_int(order_id);
	p[1] = mv_int(status);
	st = mes_unit_begin(m, 0);
	if (st != MES_OK)
		return st;
	st = m->be->run(m, &c, 1, NULL);
	if (st == MES_ERR_STATE)
		st = mes_fail(m, MES_ERR_NOT_FOUND, "no order with id %lld",
			      (long long)order_id);
	return mes_unit_end(m, 0, st);
}

/* ---------------------------------------------------------- stations */

static void fill_station(const void *rows, size_t i, int64_t now, mes_val_t *v,
			 int64_t **id)
{
	mes_station_t *s = (mes_station_t *)rows + i;

	(void)now;
	v[0] = mv_text(s->name);
	v[1] = mv_int(s->kind);
	v[2] = mv_text(s->host);
	*id = &s->id;
}

mes_err_t mes_register_station(mes_t *m, mes_station_t *s)
{
	batch_t b = { SID_STATION_UPSERT, fill_station, s, 0 };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(s, "register station: no station");
	CHECK_STR(0, "station name", s->name, 1);
	CHECK_STR(0, "station host", s->host, 0);
	CHECK(s->kind >= MES_STATION_PROBE && s->kind <= MES_STATION_OTHER,
	      "station %s: unknown kind %d", s->name, (int)s->kind);
	return write_batch(m, &b, 1, NULL);
}

/* ---------------------------------------------------------- lots */

static void fill_lot(const void *rows, size_t i, int64_t now, mes_val_t *v,
		     int64_t **id)
{
	mes_lot_t *l = (mes_lot_t *)rows + i;

	v[0] = mv_int(l->order_id);
	v[1] = mv_text(l->name);
	v[2] = mv_text(l->fab);
	v[3] = mv_int(when(l->created_us, now));
	*id = &l->id;
}

mes_err_t mes_add_lots(mes_t *m, mes_lot_t *lots, size_t n)
{
	batch_t b = { SID_LOT_ADD, fill_lot, lots, mes_now_us() };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(lots || n == 0, "add lots: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(lots[i].order_id > 0, "row %zu: lot without order", i);
		CHECK_STR(i, "lot name", lots[i].name, 1);
		CHECK_STR(i, "lot fab", lots[i].fab, 0);
	}
	return write_batch(m, &b, n, NULL);
}

typedef struct {
	int (*fn)(void *ctx, const mes_lot_t *lot);
	void *ctx;
} lot_cb_t;

static int read_lot(mes_t *m, void *ctx)
{
	lot_cb_t *cb = ctx;
	mes_lot_t l;

	memset(&l, 0, sizeof l);
	l.id = mes_col_int(m, 0);
	l.order_id = mes_col_int(m, 1);
	mes_col_copy(m, 2, l.name, sizeof l.name);
	mes_col_copy(m, 3, l.fab, sizeof l.fab);
	l.created_us = mes_col_int(m, 4);
	return cb->fn(cb->ctx, &l) != 0;
}

mes_err_t mes_list_lots(mes_t *m, int64_t order_id,
			int (*fn)(void *ctx, const mes_lot_t *lot), void *ctx)
{
	lot_cb_t cb = { fn, ctx };
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(fn, "list lots: no callback");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	p[0] = mv_int(order_id);
	return m->be->query(m, SID_LOT_LIST, p, read_lot, &cb);
}

/* ---------------------------------------------------------- wafers, dies */

static void fill_wafer(const void *rows, size_t i, int64_t now, mes_val_t *v,
		       int64_t **id)
{
	mes_wafer_t *w = (mes_wafer_t *)rows + i;

	(void)now;
	v[0] = mv_int(w->lot_id);
	v[1] = mv_int(w->index);
	v[2] = mv_real(w->diameter_mm);
	v[3] = mv_real(w->die_w_mm);
	v[4] = mv_real(w->die_h_mm);
	*id = &w->id;
}

mes_err_t mes_add_wafers(mes_t *m, mes_wafer_t *wafers, size_t n)
{
	batch_t b = { SID_WAFER_ADD, fill_wafer, wafers, 0 };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(wafers || n == 0, "add wafers: no rows");
	for (size_t i = 0; i < n; i++) {
		const mes_wafer_t *w = &wafers[i];
		CHECK(w->lot_id > 0, "row %zu: wafer without lot", i);
		CHECK(w->index >= 0, "row %zu: wafer index %d < 0", i,
		      w->index);
		CHECK(w->diameter_mm > 0 && w->die_w_mm > 0 && w->die_h_mm > 0,
		      "row %zu: wafer diameter and die size must be > 0", i);
	}
	return write_batch(m, &b, n, NULL);
}

static void fill_die(const void *rows, size_t i, int64_t now, mes_val_t *v,
		     int64_t **id)
{
	mes_die_t *d = (mes_die_t *)rows + i;

	v[0] = mv_int(d->wafer_id);
	v[1] = mv_int(d->x);
	v[2] = mv_int(d->y);
	v[3] = mv_int(d->bin);
	v[4] = mv_real(d->idd_ua);
	v[5] = mv_real(d->vdd_v);
	v[6] = mv_real(d->leakage_na);
	v[7] = mv_int(when(d->probed_us, now));
	*id = &d->id;
}

mes_err_t mes_add_dies(mes_t *m, mes_die_t *dies, size_t n)
{
	batch_t b = { SID_DIE_ADD, fill_die, dies, mes_now_us() };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(dies || n == 0, "add dies: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(dies[i].wafer_id > 0, "row %zu: die without wafer", i);
		CHECK(dies[i].bin >= 0, "row %zu: probe bin %d < 0", i,
		      dies[i].bin);
	}
	return write_batch(m, &b, n, NULL);
}

static void fill_grinding(const void *rows, size_t i, int64_t now, mes_val_t *v,
			  int64_t **id)
{
	const mes_grinding_t *g = (const mes_grinding_t *)rows + i;

	v[0] = mv_int(g->wafer_id);
	v[1] = mv_real(g->thickness_um);
	v[2] = mv_real(g->spec_min_um);
	v[3] = mv_real(g->spec_max_um);
	v[4] = mv_int(g->pass);
	v[5] = mv_int(when(g->measured_us, now));
	*id = NULL;
}

mes_err_t mes_add_grindings(mes_t *m, const mes_grinding_t *g, size_t n)
{
	batch_t b = { SID_GRINDING_ADD, fill_grinding, g, mes_now_us() };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(g || n == 0, "add grindings: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(g[i].wafer_id > 0, "row %zu: grinding without wafer", i);
		CHECK(bool_ok(g[i].pass), "row %zu: pass must be 0 or 1", i);
		CHECK(g[i].thickness_um == g[i].thickness_um &&
			      g[i].spec_min_um <= g[i].spec_max_um,
		      "row %zu: thickness not measured or spec min > max", i);
	}
	return write_batch(m, &b, n, NULL);
}

/* ---------------------------------------------------------- chips */

static mes_err_t check_cplc(mes_t *m, size_t row, const mes_cplc_t *c)
{
	CHECK((c->set >> MES_CPLC_FIELDS) == 0,
	      "row %zu: CPLC: unknown fields in the set mask", row);
	for (int f = 0; f < MES_CPLC_FIELDS; f++)
		CHECK(!((c->set >> f) & 1) ||
			      mes_cplc_field_len((mes_cplc_field_t)f) == 4 ||
			      c->v[f] <= 0xFFFF,
		      "row %zu: CPLC %s: 0x%X does not fit 2 bytes", row,
		      mes_cplc_field_name((mes_cplc_field_t)f),
		      (unsigned)c->v[f]);
	return MES_OK;
}

static void cplc_vals(const mes_cplc_t *c, mes_val_t *v)
{
	for (int f = 0; f < MES_CPLC_FIELDS; f++)
		v[f] = (c->set >> f) & 1 ? mv_int(c->v[f]) : mv_ref(0);
}

static void fill_chip(const void *rows, size_t i, int64_t now, mes_val_t *v,
		      int64_t **id)
{
	mes_chip_t *c = (mes_chip_t *)rows + i;

	(void)now;
	v[0] = mv_text(c->serial);
	v[1] = mv_int(c->die_id);
	v[2] = mv_text(c->model);
	v[3] = mv_text(c->transport_key_ref);
	cplc_vals(&c->cplc, v + 4);
	*id = &c->id;
}

mes_err_t mes_add_chips(mes_t *m, mes_chip_t *chips, size_t n)
{
	batch_t b = { SID_CHIP_ADD, fill_chip, chips, 0 };
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(chips || n == 0, "add chips: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(chips[i].die_id > 0, "row %zu: chip without die", i);
		CHECK_STR(i, "chip serial", chips[i].serial, 1);
		CHECK_STR(i, "chip model", chips[i].model, 1);
		CHECK_STR(i, "transport key reference",
			  chips[i].transport_key_ref, 0);
		st = check_cplc(m, i, &chips[i].cplc);
		if (st != MES_OK)
			return st;
	}
	return write_batch(m, &b, n, NULL);
}

static int read_chip(mes_t *m, void *ctx)
{
	mes_chip_t *c = ctx;

	c->id = mes_col_int(m, 0);
	c->die_id = mes_col_int(m, 1);
	mes_col_copy(m, 2, c->serial, sizeof c->serial);
	mes_col_copy(m, 3, c->model, sizeof c->model);
	mes_col_copy(m, 4, c->transport_key_ref, sizeof c->transport_key_ref);
	c->cplc.set = 0;
	for (int f = 0; f < MES_CPLC_FIELDS; f++) {
		if (mes_col_null(m, 5 + f)) {
			c->cplc.v[f] = 0;
		} else {
			c->cplc.v[f] = (uint32_t)mes_col_int(m, 5 + f);
			c->cplc.set |= 1u << f;
		}
	}
	return 1;
}

mes_err_t mes_find_chip(mes_t *m, const char *serial, mes_chip_t *out)
{
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(serial && out, "find chip: no serial or no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(out, 0, sizeof *out);
	p[0] = mv_text(serial);
	st = m->be->query(m, SID_CHIP_FIND, p, read_chip, out);
	if (st == MES_OK && out->id == 0)
		return mes_fail(m, MES_ERR_NOT_FOUND, "no chip with serial %s",
				serial);
	return st;
}

mes_err_t mes_stamp_cplc(mes_t *m, const int64_t *chip_ids,
			 const mes_cplc_t *cplc, size_t n)
{
	mes_val_t *vals;
	mes_call_t *calls;
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK((chip_ids && cplc) || n == 0, "stamp CPLC: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(chip_ids[i] > 0, "row %zu: no chip id", i);
		st = check_cplc(m, i, &cplc[i]);
		if (st != MES_OK)
			return st;
	}
	st = mes_need_schema(m);
	if (st != MES_OK || n == 0)
		return st;
	vals = malloc(n * (MES_CPLC_FIELDS + 1) * sizeof *vals);
	calls = malloc(n * sizeof *calls);
	if (!vals || !calls) {
		free(vals);
		free(calls);
		return mes_fail(m, MES_ERR_NOMEM, "stamp CPLC: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		mes_val_t *v = vals + i * (MES_CPLC_FIELDS + 1);
		v[0] = mv_int(chip_ids[i]);
		cplc_vals(&cplc[i], v + 1);
		calls[i] = (mes_call_t){ SID_CPLC_STAMP, v, NULL, 1, i };
	}
	st = mes_unit_begin(m, 0);
	if (st == MES_OK) {
		st = m->be->run(m, calls, n, NULL);
		if (st == MES_ERR_STATE) {
			char why[MES_DETAIL_MAX];
			memcpy(why, m->detail, sizeof why);
			st = mes_fail(m, MES_ERR_CONSTRAINT,
				      "stamp CPLC: a chip is unknown or has a "
				      "field stamped with another value "
				      "already [%.300s]",
				      why);
		}
		st = mes_unit_end(m, 0, st);
	}
	free(vals);
	free(calls);
	return st;
}

/* ---------------------------------------------------------- modules, cards */

static int hex_ok(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return 0;
	return n % 2 == 0;
}

static void fill_module(const void *rows, size_t i, int64_t now, mes_val_t *v,
			int64_t **id)
{
	mes_module_t *mo = (mes_module_t *)rows + i;

	v[0] = mv_text(mo->serial);
	v[1] = mv_int(mo->die_id);
	v[2] = mv_int(mo->test_pass);
	v[3] = mv_text(mo->atr_hex);
	v[4] = mv_int(when(mo->tested_us, now));
	*id = &mo->id;
}

mes_err_t mes_add_modules(mes_t *m, mes_module_t *mods, size_t n)
{
	batch_t b = { SID_MODULE_ADD, fill_module, mods, mes_now_us() };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(mods || n == 0, "add modules: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(mods[i].die_id > 0, "row %zu: module without die", i);
		CHECK_STR(i, "module serial", mods[i].serial, 1);
		CHECK_STR(i, "module ATR", mods[i].atr_hex, 0);
		CHECK(hex_ok(mods[i].atr_hex),
		      "row %zu: module ATR: not hex bytes", i);
		CHECK(bool_ok(mods[i].test_pass),
		      "row %zu: test_pass must be 0 or 1", i);
	}
	return write_batch(m, &b, n, NULL);
}

static void fill_card(const void *rows, size_t i, int64_t now, mes_val_t *v,
		      int64_t **id)
{
	mes_card_t *k = (mes_card_t *)rows + i;

	k->stage = k->embed_pass && k->print_pass ? MES_STAGE_BUILT :
						    MES_STAGE_REJECTED;
	v[0] = mv_text(k->serial);
	v[1] = mv_int(k->order_id);
	v[2] = mv_int(k->module_id);
	v[3] = mv_int(k->embed_pass);
	v[4] = mv_int(k->print_pass);
	v[5] = mv_int(when(k->made_us, now));
	v[6] = mv_int(k->stage);
	*id = &k->id;
}

mes_err_t mes_add_cards(mes_t *m, mes_card_t *cards, size_t n)
{
	batch_t b = { SID_CARD_ADD, fill_card, cards, mes_now_us() };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(cards || n == 0, "add cards: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(cards[i].order_id > 0 && cards[i].module_id > 0,
		      "row %zu: card without order or module", i);
		CHECK_STR(i, "card serial", cards[i].serial, 1);
		CHECK(bool_ok(cards[i].embed_pass) &&
			      bool_ok(cards[i].print_pass),
		      "row %zu: embed_pass and print_pass must be 0 or 1", i);
	}
	return write_batch(m, &b, n, NULL);
}

static int read_card(mes_t *m, void *ctx)
{
	mes_card_t *k = ctx;

	k->id = mes_col_int(m, 0);
	k->order_id = mes_col_int(m, 1);
	k->module_id = mes_col_int(m, 2);
	mes_col_copy(m, 3, k->serial, sizeof k->serial);
	k->embed_pass = (int)mes_col_int(m, 4);
	k->print_pass = (int)mes_col_int(m, 5);
	k->made_us = mes_col_int(m, 6);
	k->stage = (mes_stage_t)mes_col_int(m, 7);
	return 1;
}

mes_err_t mes_find_card(mes_t *m, const char *serial, mes_card_t *out)
{
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(serial && out, "find card: no serial or no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(out, 0, sizeof *out);
	p[0] = mv_text(serial);
	st = m->be->query(m, SID_CARD_FIND, p, read_card, out);
	if (st == MES_OK && out->id == 0)
		return mes_fail(m, MES_ERR_NOT_FOUND, "no card with serial %s",
				serial);
	return st;
}

/* ---------------------------------------------------------- holders */

static void fill_holder(const void *rows, size_t i, int64_t now, mes_val_t *v,
			int64_t **id)
{
	mes_holder_t *h = (mes_holder_t *)rows + i;

	(void)now;
	v[0] = mv_int(h->order_id);
	v[1] = mv_text(h->ref);
	v[2] = mv_text(h->fields);
	*id = &h->id;
}

mes_err_t mes_add_holders(mes_t *m, mes_holder_t *holders, size_t n)
{
	batch_t b = { SID_HOLDER_ADD, fill_holder, holders, 0 };

	if (!m)
		return MES_ERR_PARAM;
	CHECK(holders || n == 0, "add holders: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK(holders[i].order_id > 0, "row %zu: holder without order",
		      i);
		CHECK_STR(i, "holder id", holders[i].ref, 1);
		CHECK_STR(i, "holder fields", holders[i].fields, 0);
	}
	return write_batch(m, &b, n, NULL);
}

/* ---------------------------------------------------------- runs */

static void fill_init_run(const void *rows, size_t i, int64_t now, mes_val_t *v,
			  int64_t **id)
{
	mes_run_t *r = (mes_run_t *)rows + i;

	v[0] = mv_int(r->card_id);
	v[1] = mv_ref(r->station_id);
	v[2] = mv_int(0);
	v[3] = mv_int(when(r->start_us, now));
	v[4] = mv_int(when(r->end_us, now));
	v[5] = mv_int(r->outcome);
	v[6] = mv_text(r->reason);
	*id = &r->id;
}

static void fill_perso_run(const void *rows, size_t i, int64_t now,
			   mes_val_t *v, int64_t **id)
{
	mes_run_t *r = (mes_run_t *)rows + i;

	v[0] = mv_int(r->card_id);
	v[1] = mv_ref(r->station_id);
	v[2] = mv_ref(r->outcome == MES_RUN_OK ? r->holder_id : 0);
	v[3] = mv_int(0);
	v[4] = mv_int(when(r->start_us, now));
	v[5] = mv_int(when(r->end_us, now));
	v[6] = mv_int(r->outcome);
	v[7] = mv_text(r->reason);
	*id = &r->id;
}

/* Holder links of issued cards. */
static void fill_link(const void *rows, size_t i, int64_t now, mes_val_t *v,
		      int64_t **id)
{
	const mes_run_t *r = ((const mes_run_t *const *)rows)[i];

	v[0] = mv_int(r->card_id);
	v[1] = mv_int(r->holder_id);
	v[2] = mv_int(when(r->end_us, now));
	*id = NULL;
}

/*
 * Runs `UPDATE ... WHERE id IN (ids)` (statement sid, the id list its
 * last parameter, fixed parameters before it) over ids in chunks of id
 * lists ("[1,2]" or "{1,2}": the backend's form); each chunk must change as
 * many rows as it has ids.
 */
static mes_err_t update_set(mes_t *m, int sid, const mes_val_t *fixed,
			    int nfixed, const int64_t *ids, size_t n,
			    const char *what)
{
	char *list = malloc(CHUNK * 21 + 3);
	mes_err_t st = MES_OK;

	if (!list)
		return mes_fail(m, MES_ERR_NOMEM, "%s: out of memory", what);
	for (size_t at = 0; at < n && st == MES_OK; at += CHUNK) {
		size_t k = n - at < CHUNK ? n - at : CHUNK, len = 0;
		mes_val_t p[4];
		mes_call_t c = { sid, p, NULL, (int64_t)k, at };
		list[len++] = m->be->ids_lb;
		for (size_t i = 0; i < k; i++)
			len += (size_t)sprintf(list + len, "%s%lld",
					       i ? "," : "",
					       (long long)ids[at + i]);
		list[len++] = m->be->ids_rb;
		list[len] = '\0';
		for (int i = 0; i < nfixed; i++)
			p[i] = fixed[i];
		p[nfixed] = mv_text(list);
		st = m->be->run(m, &c, 1, NULL);
		if (st == MES_ERR_STATE)
			st = mes_fail(m, MES_ERR_STATE, "%s", what);
	}
	free(list);
	return st;
}

static mes_err_t add_runs(mes_t *m, mes_run_t *runs, size_t n, int perso)
{
	const char *kind = perso ? "perso run" : "init run";
	mes_stage_t from = perso ? MES_STAGE_INITIALIZED : MES_STAGE_BUILT;
	mes_stage_t ok_to = perso ? MES_STAGE_ISSUED : MES_STAGE_INITIALIZED;
	batch_t b = { perso ? SID_PERSO_RUN_ADD : SID_INIT_RUN_ADD,
		      perso ? fill_perso_run : fill_init_run, runs,
		      mes_now_us() };
	int64_t *ok_ids = NULL, *rej_ids = NULL, *holders = NULL;
	const mes_run_t **issued = NULL;
	size_t nok = 0, nrej = 0;
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(runs || n == 0, "add %ss: no rows", kind);
	for (size_t i = 0; i < n; i++) {
		CHECK(runs[i].card_id > 0, "row %zu: %s without card", i, kind);
		CHECK(runs[i].station_id >= 0, "row %zu: bad station id", i);
		CHECK(runs[i].outcome == MES_RUN_OK ||
			      runs[i].outcome == MES_RUN_REJECTED,
		      "row %zu: %s: unknown outcome %d", i, kind,
		      (int)runs[i].outcome);
		CHECK(!perso || runs[i].outcome != MES_RUN_OK ||
			      runs[i].holder_id > 0,
		      "row %zu: an issued card needs its holder", i);
		CHECK_STR(i, "reason", runs[i].reason, 0);
	}
	st = mes_need_schema(m);
	if (st != MES_OK || n == 0)
		return st;
	ok_ids = malloc(n * sizeof *ok_ids);
	rej_ids = malloc(n * sizeof *rej_ids);
	holders = malloc(n * sizeof *holders);
	issued = malloc(n * sizeof *issued);
	if (!ok_ids || !rej_ids || !holders || !issued) {
		st = mes_fail(m, MES_ERR_NOMEM, "add %ss: out of memory", kind);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (runs[i].outcome == MES_RUN_OK) {
			holders[nok] = runs[i].holder_id;
			issued[nok] = &runs[i];
			ok_ids[nok++] = runs[i].card_id;
		} else {
			rej_ids[nrej++] = runs[i].card_id;
		}
	}
	st = mes_unit_begin(m, 0);
	if (st != MES_OK)
		goto out;
	st = run_batch(m, &b, n, NULL);
	if (st == MES_OK) {
		mes_val_t fx[2] = { mv_int(ok_to), mv_int(from) };
		st = update_set(m, SID_CARD_STAGE_SET, fx, 2, ok_ids, nok,
				perso ? "perso runs: a card is not "
					"INITIALIZED, is claimed by a "
					"station, or appears twice" :
					"init runs: a card is not BUILT, is "
					"claimed by a station, or appears "
					"twice");
	}
	if (st == MES_OK) {
		mes_val_t fx[2] = { mv_int(MES_STAGE_REJECTED), mv_int(from) };
		st = update_set(m, SID_CARD_STAGE_SET, fx, 2, rej_ids, nrej,
				perso ? "perso runs: a rejected card is not "
					"INITIALIZED, is claimed, or appears "
					"twice" :
					"init runs: a rejected card is not "
					"BUILT, is claimed, or appears twice");
	}
	if (perso && st == MES_OK) {
		batch_t lb = { SID_LINK_ADD, fill_link, issued, b.now };
		st = run_batch(m, &lb, nok, NULL);
	}
	if (perso && st == MES_OK)
		st = update_set(m, SID_HOLDERS_ISSUE, NULL, 0, holders, nok,
				"perso runs: a holder is issued already, "
				"claimed by a station, or appears twice");
	st = mes_unit_end(m, 0, st);
out:
	free(ok_ids);
	free(rej_ids);
	free(holders);
	free(issued);
	return st;
}

mes_err_t mes_add_init_runs(mes_t *m, mes_run_t *runs, size_t n)
{
	return add_runs(m, runs, n, 0);
}

mes_err_t mes_add_perso_runs(mes_t *m, mes_run_t *runs, size_t n)
{
	return add_runs(m, runs, n, 1);
}

/* ---------------------------------------------------------- events */

static void fill_event(const void *rows, size_t i, int64_t now, mes_val_t *v,
		       int64_t **id)
{
	const mes_event_t *e = (const mes_event_t *)rows + i;

	v[0] = mv_text(e->event_id);
	v[1] = mv_int(e->item_kind);
	v[2] = mv_int(e->item_id);
	v[3] = mv_int(e->part);
	v[4] = mv_text(e->step);
	v[5] = mv_int(e->outcome);
	v[6] = mv_int(when(e->time_us, now));
	v[7] = mv_ref(e->station_id);
	v[8] = mv_text(e->detail);
	*id = NULL;
}

mes_err_t mes_add_events(mes_t *m, const mes_event_t *ev, size_t n,
			 size_t *inserted)
{
	batch_t b = { SID_EVENT_ADD, fill_event, ev, mes_now_us() };
	int64_t ch = 0;
	mes_err_t st;

	if (inserted)
		*inserted = 0;
	if (!m)
		return MES_ERR_PARAM;
	CHECK(ev || n == 0, "add events: no rows");
	for (size_t i = 0; i < n; i++) {
		CHECK_STR(i, "event id", ev[i].event_id, 1);
		CHECK_STR(i, "event step", ev[i].step, 1);
		CHECK_STR(i, "event detail", ev[i].detail, 0);
		CHECK(ev[i].item_kind >= MES_ITEM_ORDER &&
			      ev[i].item_kind <= MES_ITEM_STATION,
		      "row %zu: event %s: unknown item kind %d", i,
		      ev[i].event_id, (int)ev[i].item_kind);
		CHECK(ev[i].part >= MES_PART_DESIGN &&
			      ev[i].part <= MES_PART_PERSO,
		      "row %zu: event %s: unknown part %d", i, ev[i].event_id,
		      (int)ev[i].part);
		CHECK(ev[i].outcome >= MES_RESULT_INFO &&
			      ev[i].outcome <= MES_RESULT_FAIL,
		      "row %zu: event %s: unknown outcome %d", i,
		      ev[i].event_id, (int)ev[i].outcome);
		CHECK(ev[i].station_id >= 0, "row %zu: bad station id", i);
	}
	st = write_batch(m, &b, n, &ch);
	if (st == MES_OK && inserted)
		*inserted = (size_t)ch;
	return st;
}

typedef struct {
	int (*fn)(void *ctx, const mes_event_t *ev);
	void *ctx;
} ev_cb_t;

static int read_event(mes_t *m, void *ctx)
{
	ev_cb_t *cb = ctx;
	mes_event_t e;

	memset(&e, 0, sizeof e);
	mes_col_copy(m, 0, e.event_id, sizeof e.event_id);
	e.item_kind = (mes_item_t)mes_col_int(m, 1);
	e.item_id = mes_col_int(m, 2);
	e.part = (mes_part_t)mes_col_int(m, 3);
	mes_col_copy(m, 4, e.step, sizeof e.step);
	e.outcome = (mes_result_t)mes_col_int(m, 5);
	e.time_us = mes_col_int(m, 6);
	e.station_id = mes_col_null(m, 7) ? 0 : mes_col_int(m, 7);
	mes_col_copy(m, 8, e.detail, sizeof e.detail);
	return cb->fn(cb->ctx, &e) != 0;
}

mes_err_t mes_list_events(mes_t *m, mes_item_t kind, int64_t item_id,
			  int (*fn)(void *ctx, const mes_event_t *ev),
			  void *ctx)
{
	ev_cb_t cb = { fn, ctx };
	mes_val_t p[2];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	CHECK(fn, "list events: no callback");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	p[0] = mv_int(kind);
	p[1] = mv_int(item_id);
	return m->be->query(m, SID_EVENT_LIST, p, read_event, &cb);
}
