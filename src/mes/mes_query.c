/*
 * mes_query.c - reading the MES: the genealogy of a chip, a card or a
 * holder's card (one query), yields per part of an order or a lot, counts
 * for reports, and the walks a report makes down an order (orders, the
 * wafers of a lot, the dies of a wafer, its grinding).
 *
 * A walk hands each row to the caller's function as it is read, so its
 * memory does not grow with the wafer; the function must not call the MES
 * itself (the backend is still reading the rows): collect, then query.
 */
#include <string.h>

#include "mes/mes_int.h"

/* Column positions of TRACE_SELECT (mes_sql.c). */
enum {
	TR_CHIP = 0,	  /* id, die_id, serial, model, key ref */
	TR_CPLC = 5,	  /* 18 fields */
	TR_DIE = 23,	  /* wafer_id, x, y, bin, idd, vdd, leakage, time */
	TR_WAFER = 31,	  /* lot_id, idx, diameter, die w, die h */
	TR_LOT = 36,	  /* order_id, name, fab, created */
	TR_GRINDING = 40, /* wafer_id, thickness, min, max, pass, time */
	TR_MODULE = 46,	  /* id, serial, test_pass, atr, time */
	TR_CARD = 51,	  /* id, order_id, serial, embed, print, made, stage */
	TR_INIT = 58,	  /* id, station, start, end, outcome, reason */
	TR_PERSO = 64,
	TR_HOLDER = 70, /* id, order_id, ref, fields */
	TR_ORDER = 74,	/* id, name, profile, hash, qty, created, status */
	TR_COLS = 81
};

static int64_t int_or0(mes_t *m, int col)
{
	return mes_col_null(m, col) ? 0 : mes_col_int(m, col);
}

static void read_run(mes_t *m, int col, mes_run_info_t *r)
{
	r->id = int_or0(m, col);
	if (!r->id)
		return;
	mes_col_copy(m, col + 1, r->station, sizeof r->station);
	r->start_us = mes_col_int(m, col + 2);
	r->end_us = mes_col_int(m, col + 3);
	r->outcome = (mes_run_outcome_t)mes_col_int(m, col + 4);
	mes_col_copy(m, col + 5, r->reason, sizeof r->reason);
}

static int read_trace(mes_t *m, void *ctx)
{
	mes_genealogy_t *g = ctx;
	int c;

	c = TR_CHIP;
	g->chip.id = mes_col_int(m, c);
	g->chip.die_id = mes_col_int(m, c + 1);
	mes_col_copy(m, c + 2, g->chip.serial, sizeof g->chip.serial);
	mes_col_copy(m, c + 3, g->chip.model, sizeof g->chip.model);
	mes_col_copy(m, c + 4, g->chip.transport_key_ref,
		     sizeof g->chip.transport_key_ref);
	for (int f = 0; f < MES_CPLC_FIELDS; f++) {
		if (!mes_col_null(m, TR_CPLC + f)) {
			g->chip.cplc.v[f] =
				(uint32_t)mes_col_int(m, TR_CPLC + f);
			g->chip.cplc.set |= 1u << f;
		}
	}

	c = TR_DIE;
	g->die.id = g->chip.die_id;
	g->die.wafer_id = mes_col_int(m, c);
	g->die.x = (int)mes_col_int(m, c + 1);
	g->die.y = (int)mes_col_int(m, c + 2);
	g->die.bin = (int)mes_col_int(m, c + 3);
	g->die.idd_ua = mes_col_real(m, c + 4);
	g->die.vdd_v = mes_col_real(m, c + 5);
	g->die.leakage_na = mes_col_real(m, c + 6);
	g->die.probed_us = mes_col_int(m, c + 7);

	c = TR_WAFER;
	g->wafer.id = g->die.wafer_id;
	g->wafer.lot_id = mes_col_int(m, c);
	g->wafer.index = (int)mes_col_int(m, c + 1);
	g->wafer.diameter_mm = mes_col_real(m, c + 2);
	g->wafer.die_w_mm = mes_col_real(m, c + 3);
	g->wafer.die_h_mm = mes_col_real(m, c + 4);

	c = TR_LOT;
	g->lot.id = g->wafer.lot_id;
	g->lot.order_id = mes_col_int(m, c);
	mes_col_copy(m, c + 1, g->lot.name, sizeof g->lot.name);
	mes_col_copy(m, c + 2, g->lot.fab, sizeof g->lot.fab);
	g->lot.created_us = mes_col_int(m, c + 3);

	c = TR_GRINDING;
	g->has_grinding = !mes_col_null(m, c);
	if (g->has_grinding) {
		g->grinding.wafer_id = mes_col_int(m, c);
		g->grinding.thickness_um = mes_col_real(m, c + 1);
		g->grinding.spec_min_um = mes_col_real(m, c + 2);
		g->grinding.spec_max_um = mes_col_real(m, c + 3);
		g->grinding.pass = (int)mes_col_int(m, c + 4);
		g->grinding.measured_us = mes_col_int(m, c + 5);
	}

	c = TR_MODULE;
	g->module.id = int_or0(m, c);
	if (g->module.id) {
		g->module.die_id = g->die.id;
		mes_col_copy(m, c + 1, g->module.serial,
			     sizeof g->module.serial);
		g->module.test_pass = (int)mes_col_int(m, c + 2);
		mes_col_copy(m, c + 3, g->module.atr_hex,
			     sizeof g->module.atr_hex);
		g->module.tested_us = mes_col_int(m, c + 4);
	}

	c = TR_CARD;
	g->card.id = int_or0(m, c);
	if (g->card.id) {
		g->card.module_id = g->module.id;
		g->card.order_id = mes_col_int(m, c + 1);
		mes_col_copy(m, c + 2, g->card.serial, sizeof g->card.serial);
		g->card.embed_pass = (int)mes_col_int(m, c + 3);
		g->card.print_pass = (int)mes_col_int(m, c + 4);
		g->card.made_us = mes_col_int(m, c + 5);
		g->card.stage = (mes_stage_t)mes_col_int(m, c + 6);
	}

	read_run(m, TR_INIT, &g->init);
	read_run(m, TR_PERSO, &g->perso);

	c = TR_HOLDER;
	g->holder.id = int_or0(m, c);
	if (g->holder.id) {
		g->holder.order_id = mes_col_int(m, c + 1);
		mes_col_copy(m, c + 2, g->holder.ref, sizeof g->holder.ref);
		mes_col_copy(m, c + 3, g->holder.fields,
			     sizeof g->holder.fields);
	}

	c = TR_ORDER;
	g->order.id = int_or0(m, c);
	if (g->order.id) {
		mes_col_copy(m, c + 1, g->order.name, sizeof g->order.name);
		mes_col_copy(m, c + 2, g->order.profile_name,
			     sizeof g->order.profile_name);
		mes_col_copy(m, c + 3, g->order.profile_hash,
			     sizeof g->order.profile_hash);
		g->order.quantity = mes_col_int(m, c + 4);
		g->order.created_us = mes_col_int(m, c + 5);
		g->order.status = (mes_order_status_t)mes_col_int(m, c + 6);
	}
	return 1;
}

static mes_err_t trace(mes_t *m, int sid, const char *what, const char *serial,
		       mes_genealogy_t *g)
{
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!serial || !g)
		return mes_fail(m, MES_ERR_PARAM,
				"trace: no %s serial or no "
				"output",
				what);
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(g, 0, sizeof *g);
	p[0] = mv_text(serial);
	st = m->be->query(m, sid, p, read_trace, g);
	if (st == MES_OK && g->chip.id == 0)
		return mes_fail(m, MES_ERR_NOT_FOUND, "no %s with serial %s",
				what, serial);
	return st;
}

mes_err_t mes_trace_chip(mes_t *m, const char *serial, mes_genealogy_t *g)
{
	return trace(m, SID_TRACE_CHIP, "chip", serial, g);
}

static int read_serial(mes_t *m, void *ctx)
{
	mes_col_copy(m, 0, ctx, MES_SERIAL_MAX);
	return 1;
}

mes_err_t mes_trace_card(mes_t *m, const char *serial, mes_genealogy_t *g)
{
	char chip[MES_SERIAL_MAX] = "";
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!serial || !g)
		return mes_fail(m, MES_ERR_PARAM,
				"trace: no card serial or no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	p[0] = mv_text(serial);
	st = m->be->query(m, SID_CARD_SERIAL_CHIP, p, read_serial, chip);
	if (st != MES_OK)
		return st;
	if (!chip[0])
		return mes_fail(m, MES_ERR_NOT_FOUND, "no card with serial %s",
				serial);
	return mes_trace_chip(m, chip, g);
}

mes_err_t mes_trace_holder(mes_t *m, int64_t order_id, const char *ref,
			   mes_genealogy_t *g)
{
	char serial[MES_SERIAL_MAX] = "";
	mes_val_t p[2];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!ref || !g)
		return mes_fail(m, MES_ERR_PARAM,
				"trace: no holder id or no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	p[0] = mv_int(order_id);
	p[1] = mv_text(ref);
	st = m->be->query(m, SID_HOLDER_CHIP, p, read_serial, serial);
	if (st != MES_OK)
		return st;
	if (!serial[0])
		return mes_fail(m, MES_ERR_NOT_FOUND,
				"no card issued to holder %s", ref);
	return mes_trace_chip(m, serial, g);
}

/* ---------------------------------------------------------- yields */

static int read_yield(mes_t *m, void *ctx)
{
	mes_yields_t *y = ctx;
	int64_t part = mes_col_int(m, 0);
	mes_yield_t *p;

	if (part < MES_PART_PROBE || part > MES_PART_PERSO)
		return 0;
	p = &y->part[part - MES_PART_PROBE];
	p->in = mes_col_int(m, 1);
	p->out = mes_col_int(m, 2);
	p->pct = p->in ? 100.0 * (double)p->out / (double)p->in : 0.0;
	return 0;
}

static mes_err_t yields(mes_t *m, int sid, int64_t id, mes_yields_t *y)
{
	static const char *const units[MES_YIELD_PARTS] = { "die",    "wafer",
							    "module", "card",
							    "card",   "card" };
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!y)
		return mes_fail(m, MES_ERR_PARAM, "yields: no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(y, 0, sizeof *y);
	for (int i = 0; i < MES_YIELD_PARTS; i++) {
		y->part[i].part = (mes_part_t)(MES_PART_PROBE + i);
		y->part[i].unit = units[i];
	}
	p[0] = mv_int(id);
	return m->be->query(m, sid, p, read_yield, y);
}

mes_err_t mes_yields_order(mes_t *m, int64_t order_id, mes_yields_t *y)
{
	return yields(m, SID_YIELDS_ORDER, order_id, y);
}

mes_err_t mes_yields_lot(mes_t *m, int64_t lot_id, mes_yields_t *y)
{
	return yields(m, SID_YIELDS_LOT, lot_id, y);
}

/* ---------------------------------------------------------- counts */

static int read_counts(mes_t *m, void *ctx)
{
	mes_counts_t *c = ctx;
	int64_t *f[] = { &c->lots,	 &c->wafers,	     &c->dies,
			 &c->good_dies,	 &c->chips,	     &c->modules,
			 &c->cards,	 &c->built,	     &c->initialized,
			 &c->issued,	 &c->rejected,	     &c->claimed,
			 &c->holders,	 &c->holders_issued, &c->init_runs,
			 &c->perso_runs, &c->events };

	for (int i = 0; i < (int)(sizeof f / sizeof f[0]); i++)
		*f[i] = mes_col_int(m, i);
	return 1;
}

mes_err_t mes_counts(mes_t *m, int64_t order_id, mes_counts_t *c)
{
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!c)
		return mes_fail(m, MES_ERR_PARAM, "counts: no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(c, 0, sizeof *c);
	p[0] = mv_int(order_id);
	return m->be->query(m, SID_COUNTS, p, read_counts, c);
}

/* ---------------------------------------------------------- walks */

/* The caller's function of a walk, and the row type it takes. */
typedef struct {
	int (*order)(void *ctx, const mes_order_t *o);
	int (*wafer)(void *ctx, const mes_wafer_t *w);
	int (*die)(void *ctx, const mes_die_t *d);
	void *ctx;
} walk_t;

static int read_order_row(mes_t *m, void *ctx)
{
	walk_t *w = ctx;
	mes_order_t o;

	memset(&o, 0, sizeof o);
	o.id = mes_col_int(m, 0);
	mes_col_copy(m, 1, o.name, sizeof o.name);
	mes_col_copy(m, 2, o.profile_name, sizeof o.profile_name);
	mes_col_copy(m, 3, o.profile_hash, sizeof o.profile_hash);
	o.quantity = mes_col_int(m, 4);
	o.created_us = mes_col_int(m, 5);
	o.status = (mes_order_status_t)mes_col_int(m, 6);
	return w->order(w->ctx, &o) != 0;
}

static int read_wafer_row(mes_t *m, void *ctx)
{
	walk_t *w = ctx;
	mes_wafer_t r;

	memset(&r, 0, sizeof r);
	r.id = mes_col_int(m, 0);
	r.lot_id = mes_col_int(m, 1);
	r.index = (int)mes_col_int(m, 2);
	r.diameter_mm = mes_col_real(m, 3);
	r.die_w_mm = mes_col_real(m, 4);
	r.die_h_mm = mes_col_real(m, 5);
	return w->wafer(w->ctx, &r) != 0;
}

static int read_die_row(mes_t *m, void *ctx)
{
	walk_t *w = ctx;
	mes_die_t d;

	memset(&d, 0, sizeof d);
	d.id = mes_col_int(m, 0);
	d.wafer_id = mes_col_int(m, 1);
	d.x = (int)mes_col_int(m, 2);
	d.y = (int)mes_col_int(m, 3);
	d.bin = (int)mes_col_int(m, 4);
	d.idd_ua = mes_col_real(m, 5);
	d.vdd_v = mes_col_real(m, 6);
	d.leakage_na = mes_col_real(m, 7);
	d.probed_us = mes_col_int(m, 8);
	return w->die(w->ctx, &d) != 0;
}

/* The checks every walk starts with. */
static mes_err_t walk_start(mes_t *m, int has_fn, const char *what)
{
	if (!has_fn)
		return mes_fail(m, MES_ERR_PARAM, "%s: no callback", what);
	return mes_need_schema(m);
}

mes_err_t mes_list_orders(mes_t *m,
			  int (*fn)(void *ctx, const mes_order_t *order),
			  void *ctx)
{
	walk_t w = { .order = fn, .ctx = ctx };
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	st = walk_start(m, fn != NULL, "list orders");
	if (st != MES_OK)
		return st;
	return m->be->query(m, SID_ORDER_LIST, NULL, read_order_row, &w);
}

mes_err_t mes_list_wafers(mes_t *m, int64_t lot_id,
			  int (*fn)(void *ctx, const mes_wafer_t *wafer),
			  void *ctx)
{
	walk_t w = { .wafer = fn, .ctx = ctx };
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	st = walk_start(m, fn != NULL, "list wafers");
	if (st != MES_OK)
		return st;
	p[0] = mv_int(lot_id);
	return m->be->query(m, SID_WAFER_LIST, p, read_wafer_row, &w);
}

mes_err_t mes_list_dies(mes_t *m, int64_t wafer_id,
			int (*fn)(void *ctx, const mes_die_t *die), void *ctx)
{
	walk_t w = { .die = fn, .ctx = ctx };
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	st = walk_start(m, fn != NULL, "list dies");
	if (st != MES_OK)
		return st;
	p[0] = mv_int(wafer_id);
	return m->be->query(m, SID_DIE_LIST, p, read_die_row, &w);
}

static int read_grinding(mes_t *m, void *ctx)
{
	mes_grinding_t *g = ctx;

	g->wafer_id = mes_col_int(m, 0);
	g->thickness_um = mes_col_real(m, 1);
	g->spec_min_um = mes_col_real(m, 2);
	g->spec_max_um = mes_col_real(m, 3);
	g->pass = (int)mes_col_int(m, 4);
	g->measured_us = mes_col_int(m, 5);
	return 1;
}

mes_err_t mes_find_grinding(mes_t *m, int64_t wafer_id, mes_grinding_t *out)
{
	mes_val_t p[1];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!out)
		return mes_fail(m, MES_ERR_PARAM, "find grinding: no output");
	st = mes_need_schema(m);
	if (st != MES_OK)
		return st;
	memset(out, 0, sizeof *out);
	p[0] = mv_int(wafer_id);
	st = m->be->query(m, SID_GRINDING_FIND, p, read_grinding, out);
	if (st == MES_OK && out->wafer_id == 0)
		return mes_fail(m, MES_ERR_NOT_FOUND,
				"wafer %lld has no grinding record",
				(long long)wafer_id);
	return st;
}
