/*
 * line.c - the line simulator's runs: the handle, the chip store (image
 * files or RAM), the chip's steps over APDUs (FAB CLOSE, module test,
 * CPLC stamps) and the four parts with their records in the MES.
 *
 * Order of the writes, so that a kill at any point resumes cleanly:
 *
 *   fab       chip images made and closed first (a leftover image of a
 *             wafer the database lacks is made again: overwrite), then one
 *             transaction a wafer: wafer, dies, chips with the fab's CPLC
 *             fields, events, and the lot's "wafer probed" event that tells
 *             a rerun the wafer is done.
 *   modules,  the chip is stamped first (PUT DATA), then the records go in
 *   cards     a transaction of params.batch items; a rerun finds the stamp
 *             on the chip (6985), checks it holds the same value, and goes
 *             on.
 *
 * What each part finds done comes from the MES: the lot's events for the
 * fab, the genealogy of a wafer's first chip (mes_trace_chip) for its
 * grinding, and of each chip for its module and card body.
 */
#define _GNU_SOURCE /* strdup under -std=c11 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cos/cos.h"
#include "hal/hal_host.h"
#include "line/line_int.h"

/* ---------------------------------------------------------- handle */

typedef struct {
	uint64_t key; /* the serial as a number; 0: empty slot */
	hal_mem_t *mem;
} ram_slot_t;

struct line {
	line_params_t p;
	char order_name[MES_NAME_MAX];
	char profile_name[MES_NAME_MAX];
	char profile_hash[MES_HASH_MAX];
	char lot_prefix[24];
	char fab_name[MES_NAME_MAX];
	char model_name[MES_MODEL_MAX];
	char *chip_dir;
	const cos_model_t *model;
	mes_t *mes;
	int64_t order_id;
	int64_t *lot_ids; /* p.lots */
	int64_t day0;	  /* the fab's first day */
	ram_slot_t *ram;  /* open addressing, ram_cap slots */
	size_t ram_cap, ram_used;
	char detail[MES_DETAIL_MAX + 160];
};

static const char *const status_text[] = {
	[LINE_OK] = "success",
	[LINE_ERR_PARAM] = "bad parameter",
	[LINE_ERR_NOMEM] = "out of memory",
	[LINE_ERR_MES] = "production database error",
	[LINE_ERR_IMAGE] = "chip image error",
	[LINE_ERR_CHIP] = "the chip refused a step",
	[LINE_ERR_TRANSPORT] = "transport code function failed",
	[LINE_ERR_CONFLICT] = "the database holds another item under that name",
	[LINE_ERR_ORDER] = "an earlier part has not run",
};

const char *line_strerror(line_status_t st)
{
	if ((unsigned)st < sizeof status_text / sizeof status_text[0])
		return status_text[st];
	return "unknown error";
}

static line_status_t fail(line_t *l, line_status_t st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static line_status_t fail(line_t *l, line_status_t st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->detail, sizeof l->detail, fmt, ap);
	va_end(ap);
	return st;
}

static line_status_t mes_fail(line_t *l, mes_err_t e, const char *what)
{
	return fail(
		l, e == MES_ERR_CONSTRAINT ? LINE_ERR_CONFLICT : LINE_ERR_MES,
		"%s: %s (%s)", what, mes_strerror(e), mes_error_detail(l->mes));
}

const char *line_error_detail(const line_t *l)
{
	return l ? l->detail : "";
}

int64_t line_order_id(const line_t *l)
{
	return l ? l->order_id : 0;
}

void line_serial_hex(const uint8_t serial[8], char *buf)
{
	static const char hx[] = "0123456789ABCDEF";
	for (int i = 0; i < 8; i++) {
		buf[2 * i] = hx[serial[i] >> 4];
		buf[2 * i + 1] = hx[serial[i] & 15];
	}
	buf[16] = 0;
}

static uint64_t serial_key(const char *hex)
{
	uint64_t v = 0;
	for (int i = 0; i < 16 && hex[i]; i++) {
		char c = hex[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
			     c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) :
			     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) :
						    0;
		v = v << 4 | d;
	}
	return v;
}

void line_chip_path(const line_t *l, const char *serial_hex, char *buf,
		    size_t cap)
{
	if (!l || !l->chip_dir)
		snprintf(buf, cap, "%s", "");
	else
		snprintf(buf, cap, "%s/%s.img", l->chip_dir, serial_hex);
}

static ram_slot_t *ram_find(line_t *l, uint64_t key)
{
	if (!l->ram_cap)
		return NULL;
	size_t i =
		(size_t)(key * UINT64_C(0x9e3779b97f4a7c15) >> 20) % l->ram_cap;
	while (l->ram[i].key && l->ram[i].key != key)
		i = (i + 1) % l->ram_cap;
	return &l->ram[i];
}

static line_status_t ram_grow(line_t *l)
{
	size_t nc = l->ram_cap ? l->ram_cap * 2 : 1024;
	ram_slot_t *old = l->ram;
	size_t oc = l->ram_cap;
	l->ram = calloc(nc, sizeof *l->ram);
	if (!l->ram) {
		l->ram = old;
		return LINE_ERR_NOMEM;
	}
	l->ram_cap = nc;
	for (size_t i = 0; i < oc; i++)
		if (old[i].key)
			*ram_find(l, old[i].key) = old[i];
	free(old);
	return LINE_OK;
}

const hal_t *line_chip_hal(line_t *l, const char *serial_hex)
{
	if (!l || l->chip_dir || !serial_hex)
		return NULL;
	ram_slot_t *s = ram_find(l, serial_key(serial_hex));
	return s && s->key ? hal_mem_hal(s->mem) : NULL;
}

/* ---------------------------------------------------------- chips */

/* An open chip: powered, through either store. */
typedef struct {
	hal_file_t *file;
	const hal_t *hal;
	cos_chip_t chip;
	int powered;
	char serial[17];
} chip_t;

/* Opens a chip image; create: a new blank image (replacing a leftover). */
static line_status_t chip_open(line_t *l, const char *serial_hex, int create,
			       chip_t *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->serial, sizeof c->serial, "%s", serial_hex);
	if (l->chip_dir) {
		char path[4096];
		line_chip_path(l, serial_hex, path, sizeof path);
		hal_host_status_t h = HAL_HOST_OK;
		if (create)
			h = hal_file_create(path, l->model->nvm_size, 1);
		if (h == HAL_HOST_OK)
			h = hal_file_open(path, &c->file);
		if (h != HAL_HOST_OK)
			return fail(l, LINE_ERR_IMAGE, "chip %s: %s: %s",
				    serial_hex, path, hal_host_strerror(h));
		c->hal = hal_file_hal(c->file);
		return LINE_OK;
	}
	uint64_t key = serial_key(serial_hex);
	ram_slot_t *s = ram_find(l, key);
	if (create) {
		if (!s || !s->key) {
			if ((l->ram_used + 1) * 2 > l->ram_cap &&
			    ram_grow(l) != LINE_OK)
				return fail(l, LINE_ERR_NOMEM,
					    "chip %s: out of memory",
					    serial_hex);
			s = ram_find(l, key);
			if (hal_mem_new(l->model->nvm_size, key | 1, &s->mem) !=
			    HAL_HOST_OK)
				return fail(l, LINE_ERR_NOMEM,
					    "chip %s: out of memory",
					    serial_hex);
			s->key = key;
			l->ram_used++;
		} else {
			memset(hal_mem_image(s->mem), 0xFF,
			       hal_mem_size(s->mem));
		}
	} else if (!s || !s->key) {
		return fail(l, LINE_ERR_IMAGE,
			    "chip %s: no image in RAM (a run of another "
			    "process made it)",
			    serial_hex);
	}
	c->hal = hal_mem_hal(s->mem);
	return LINE_OK;
}

static line_status_t chip_close(line_t *l, chip_t *c)
{
	if (c->powered)
		cos_power_off(&c->chip);
	c->powered = 0;
	line_wipe(&c->chip, sizeof c->chip);
	if (c->file) {
		hal_host_status_t h = hal_file_close(c->file);
		c->file = NULL;
		if (h != HAL_HOST_OK)
			return fail(l, LINE_ERR_IMAGE, "chip %s: closing: %s",
				    c->serial, hal_host_strerror(h));
	}
	return LINE_OK;
}

static line_status_t chip_power(line_t *l, chip_t *c, uint8_t *atr,
				size_t *atr_len)
{
	uint8_t buf[COS_ATR_MAX];
	size_t n = 0;
	cos_status_t cs = cos_power_on(&c->chip, c->hal, atr ? atr : buf,
				       COS_ATR_MAX, atr_len ? atr_len : &n);
	if (cs != COS_OK)
		return fail(l, LINE_ERR_CHIP, "chip %s: power up: %s",
			    c->serial, cos_strerror(cs));
	c->powered = 1;
	return LINE_OK;
}

/* One APDU; *sw the status word, data (if rdata) copied out. */
static line_status_t chip_apdu(line_t *l, chip_t *c, const uint8_t *capdu,
			       size_t n, uint8_t *rdata, size_t rcap,
			       size_t *rlen, uint16_t *sw)
{
	uint8_t r[COS_RAPDU_MAX];
	size_t rl = 0;
	cos_status_t cs = cos_transmit(&c->chip, capdu, n, r, sizeof r, &rl);
	if (cs != COS_OK || rl < 2) {
		line_wipe(r, sizeof r);
		return fail(l, LINE_ERR_CHIP, "chip %s: transmit: %s",
			    c->serial, cos_strerror(cs));
	}
	*sw = (uint16_t)(r[rl - 2] << 8 | r[rl - 1]);
	if (rdata) {
		size_t k = rl - 2 < rcap ? rl - 2 : rcap;
		memcpy(rdata, r, k);
		*rlen = k;
	}
	line_wipe(r, sizeof r);
	return LINE_OK;
}

/* GET DATA 9F7F: the 42 bytes of the CPLC. */
static line_status_t chip_cplc(line_t *l, chip_t *c, uint8_t cplc[COS_CPLC_LEN])
{
	static const uint8_t get[] = { 0x80, 0xCA, 0x9F, 0x7F, 0x00 };
	uint8_t d[64];
	size_t n = 0;
	uint16_t sw = 0;
	line_status_t st =
		chip_apdu(l, c, get, sizeof get, d, sizeof d, &n, &sw);
	if (st != LINE_OK)
		return st;
	if (sw != 0x9000 || n != 3 + COS_CPLC_LEN || d[0] != 0x9F ||
	    d[1] != 0x7F || d[2] != COS_CPLC_LEN)
		return fail(l, LINE_ERR_CHIP,
			    "chip %s: GET DATA 9F7F answered %04X", c->serial,
			    sw);
	memcpy(cplc, d + 3, COS_CPLC_LEN);
	return LINE_OK;
}

/* PUT DATA of a CPLC stamp (DF41, DF42); a stamp already on the chip is
 * fine if it holds the same value (a rerun after a kill). */
static line_status_t chip_stamp(line_t *l, chip_t *c, uint16_t tag, size_t off,
				const uint8_t v[4])
{
	uint8_t cmd[9] = { 0x00, 0xDA, (uint8_t)(tag >> 8), (uint8_t)tag, 4 };
	memcpy(cmd + 5, v, 4);
	uint16_t sw = 0;
	line_status_t st = chip_apdu(l, c, cmd, sizeof cmd, NULL, 0, NULL, &sw);
	if (st != LINE_OK)
		return st;
	if (sw == 0x9000)
		return LINE_OK;
	if (sw == 0x6985) {
		uint8_t cplc[COS_CPLC_LEN];
		st = chip_cplc(l, c, cplc);
		if (st != LINE_OK)
			return st;
		if (!memcmp(cplc + off, v, 4))
			return LINE_OK;
	}
	return fail(l, LINE_ERR_CHIP, "chip %s: PUT DATA %04X answered %04X",
		    c->serial, tag, sw);
}

/* ---------------------------------------------------------- open, close */

static void copy_str(char *dst, size_t cap, const char *src, const char *def)
{
	snprintf(dst, cap, "%s", src ? src : def);
}

line_status_t line_open(const line_params_t *p, mes_t *mes, line_t **out,
			char *err, size_t errcap)
{
	char why[256] = "";
	line_status_t st;
	if (out)
		*out = NULL;
	if (!p || !mes || !out) {
		snprintf(err ? err : why, err ? errcap : sizeof why, "%s",
			 "line_open: NULL argument");
		return LINE_ERR_PARAM;
	}
	st = line_params_check(p, why, sizeof why);
	if (st == LINE_OK && (!p->order_name || !*p->order_name ||
			      strlen(p->order_name) >= MES_NAME_MAX)) {
		snprintf(why, sizeof why,
			 "order_name: expected 1 to %d "
			 "characters",
			 MES_NAME_MAX - 1);
		st = LINE_ERR_PARAM;
	}
	if (st == LINE_OK && !p->transport) {
		snprintf(why, sizeof why,
			 "transport: no transport code "
			 "function");
		st = LINE_ERR_PARAM;
	}
	const cos_model_t *model =
		cos_model_find(p->chip_model ? p->chip_model : "cf32");
	if (st == LINE_OK && !model) {
		snprintf(why, sizeof why, "chip_model: no model named %s",
			 p->chip_model);
		st = LINE_ERR_PARAM;
	}
	if (st == LINE_OK) {
		size_t n = 0;
		if (line_wafer_map(p, 0, 0, NULL, 0, &n) != LINE_OK) {
			snprintf(why, sizeof why,
				 "wafer and die sizes, probe_yield, edge_loss: "
				 "no die fits, more than 32767 on a wafer, or "
				 "the edge loss alone is below the target");
			st = LINE_ERR_PARAM;
		}
	}
	if (st != LINE_OK) {
		if (err)
			snprintf(err, errcap, "%s", why);
		return st;
	}
	line_t *l = calloc(1, sizeof *l);
	if (!l || !(l->lot_ids = calloc(p->lots, sizeof *l->lot_ids))) {
		free(l);
		if (err)
			snprintf(err, errcap, "out of memory");
		return LINE_ERR_NOMEM;
	}
	l->p = *p;
	l->mes = mes;
	l->model = model;
	copy_str(l->order_name, sizeof l->order_name, p->order_name, "");
	copy_str(l->profile_name, sizeof l->profile_name, p->profile_name,
		 "none");
	copy_str(l->profile_hash, sizeof l->profile_hash,
		 p->profile_hash && *p->profile_hash ? p->profile_hash : NULL,
		 "none");
	copy_str(l->fab_name, sizeof l->fab_name, p->fab_name, "cardfab-fab");
	copy_str(l->model_name, sizeof l->model_name, model->name, "cf32");
	l->p.order_name = l->order_name;
	l->p.profile_name = l->profile_name;
	l->p.profile_hash = l->profile_hash;
	l->p.fab_name = l->fab_name;
	l->p.chip_model = l->model_name;
	if (p->chip_dir) {
		l->chip_dir = strdup(p->chip_dir);
		if (!l->chip_dir) {
			line_close(l);
			return LINE_ERR_NOMEM;
		}
		if (mkdir(p->chip_dir, 0700) != 0 && errno != EEXIST) {
			if (err)
				snprintf(err, errcap,
					 "chip_dir %s: cannot create: %s",
					 p->chip_dir, strerror(errno));
			line_close(l);
			return LINE_ERR_IMAGE;
		}
	}
	l->p.chip_dir = l->chip_dir;
	if (!l->p.start_us)
		l->p.start_us = mes_now_us();
	l->day0 = line_day_of(l->p.start_us);
	if (!l->p.batch)
		l->p.batch = 256;

	/* The order. */
	mes_order_t o;
	mes_err_t e = mes_find_order(mes, l->order_name, &o);
	if (e == MES_ERR_NOT_FOUND) {
		memset(&o, 0, sizeof o);
		snprintf(o.name, sizeof o.name, "%s", l->order_name);
		snprintf(o.profile_name, sizeof o.profile_name, "%s",
			 l->profile_name);
		snprintf(o.profile_hash, sizeof o.profile_hash, "%s",
			 l->profile_hash);
		size_t dies = 0;
		(void)line_wafer_map(p, 0, 0, NULL, 0, &dies);
		o.quantity =
			p->quantity > 0 ?
				p->quantity :
				(int64_t)(p->cards_wanted ?
						  p->cards_wanted :
						  (uint64_t)p->lots *
							  p->wafers_per_lot *
							  dies);
		o.created_us = l->p.start_us;
		o.status = MES_ORDER_RUNNING;
		e = mes_add_order(mes, &o);
	}
	if (e != MES_OK) {
		if (err)
			snprintf(err, errcap, "order %s: %s (%s)",
				 l->order_name, mes_strerror(e),
				 mes_error_detail(mes));
		line_close(l);
		return LINE_ERR_MES;
	}
	l->order_id = o.id;
	if (p->lot_prefix && *p->lot_prefix)
		snprintf(l->lot_prefix, sizeof l->lot_prefix, "%s",
			 p->lot_prefix);
	else
		snprintf(l->lot_prefix, sizeof l->lot_prefix, "L%" PRId64,
			 o.id);
	l->p.lot_prefix = l->lot_prefix;
	*out = l;
	return LINE_OK;
}

void line_close(line_t *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ram_cap; i++)
		if (l->ram[i].key)
			hal_mem_free(l->ram[i].mem);
	free(l->ram);
	free(l->lot_ids);
	free(l->chip_dir);
	line_wipe(l, sizeof *l);
	free(l);
}

/* ---------------------------------------------------------- helpers */

/* snprintf that truncates quietly: names here are short by construction
 * (lot prefix <= 20 characters, serials 16 hex digits). */
static void fmt(char *buf, size_t cap, const char *f, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt(char *buf, size_t cap, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, cap, f, ap);
	va_end(ap);
}

#define DAY_US INT64_C(86400000000)
#define HOUR_US INT64_C(3600000000)

static void lot_name(const line_t *l, unsigned lot, char *buf, size_t cap)
{
	fmt(buf, cap, "%s-%04u", l->lot_prefix, lot + 1);
}

/* Simulated times: lot i is made on day0 + i; each wafer a quarter hour. */
static int64_t fab_time(const line_t *l, unsigned lot, unsigned wafer)
{
	return (l->day0 + lot) * DAY_US + 8 * HOUR_US +
	       (int64_t)wafer * 15 * 60 * INT64_C(1000000);
}

static int64_t part_time(const line_t *l, unsigned lot, unsigned wafer,
			 unsigned days)
{
	return fab_time(l, lot, wafer) + (int64_t)days * DAY_US;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void tx_abort(line_t *l)
{
	(void)mes_rollback(l->mes);
}

static int lot_cb(void *ctx, const mes_lot_t *lot)
{
	line_t *l = ctx;
	char name[MES_NAME_MAX];
	for (unsigned i = 0; i < l->p.lots; i++) {
		lot_name(l, i, name, sizeof name);
		if (!strcmp(name, lot->name))
			l->lot_ids[i] = lot->id;
	}
	return 0;
}

/* Finds the order's lots; create: adds those missing. */
static line_status_t find_lots(line_t *l, int create)
{
	for (unsigned i = 0; i < l->p.lots; i++)
		l->lot_ids[i] = 0;
	mes_err_t e = mes_list_lots(l->mes, l->order_id, lot_cb, l);
	if (e != MES_OK)
		return mes_fail(l, e, "listing the order's lots");
	for (unsigned i = 0; i < l->p.lots; i++) {
		if (l->lot_ids[i])
			continue;
		mes_lot_t lot;
		memset(&lot, 0, sizeof lot);
		lot_name(l, i, lot.name, sizeof lot.name);
		if (!create)
			return fail(l, LINE_ERR_ORDER,
				    "lot %s: not in the database (run the fab "
				    "first)",
				    lot.name);
		lot.order_id = l->order_id;
		fmt(lot.fab, sizeof lot.fab, "%s", l->fab_name);
		lot.created_us = fab_time(l, i, 0);
		e = mes_add_lots(l->mes, &lot, 1);
		if (e != MES_OK)
			return mes_fail(l, e, "adding a lot");
		l->lot_ids[i] = lot.id;
	}
	return LINE_OK;
}

static void ev_set(mes_event_t *ev, mes_item_t kind, int64_t id,
		   mes_part_t part, const char *step, mes_result_t r, int64_t t)
{
	memset(ev, 0, sizeof *ev);
	ev->item_kind = kind;
	ev->item_id = id;
	ev->part = part;
	fmt(ev->step, sizeof ev->step, "%s", step);
	ev->outcome = r;
	ev->time_us = t;
}

/* A wafer's dies: the map and the index of its first good die (-1: none). */
typedef struct {
	line_die_t *dies;
	size_t n, cap;
	long first_good;
	size_t good;
} wmap_t;

static line_status_t wmap_load(line_t *l, wmap_t *w, unsigned lot,
			       unsigned wafer)
{
	line_status_t st =
		line_wafer_map(&l->p, lot, wafer, w->dies, w->cap, &w->n);
	if (st != LINE_OK)
		return fail(l, st, "wafer map of lot %u wafer %u", lot + 1,
			    wafer + 1);
	w->first_good = -1;
	w->good = 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->dies[i].bin == LINE_BIN_GOOD) {
			if (w->first_good < 0)
				w->first_good = (long)i;
			w->good++;
		}
	return LINE_OK;
}

static line_status_t wmap_init(line_t *l, wmap_t *w)
{
	memset(w, 0, sizeof *w);
	(void)line_wafer_map(&l->p, 0, 0, NULL, 0, &w->cap);
	w->dies = calloc(w->cap, sizeof *w->dies);
	return w->dies ? LINE_OK : fail(l, LINE_ERR_NOMEM, "out of memory");
}

static line_status_t trace(line_t *l, const uint8_t serial[8],
			   mes_genealogy_t *g, int *found)
{
	char hex[17];
	line_serial_hex(serial, hex);
	mes_err_t e = mes_trace_chip(l->mes, hex, g);
	*found = e == MES_OK;
	if (e == MES_OK || e == MES_ERR_NOT_FOUND)
		return LINE_OK;
	return mes_fail(l, e, "tracing a chip");
}

static void progress(line_progress_fn fn, void *ctx, line_part_t part,
		     uint64_t done, uint64_t total)
{
	if (fn)
		fn(ctx, part, done, total);
}

/* ---------------------------------------------------------- part 2 */

/* Makes the chip of a good die: mask, FAB CLOSE, CPLC read back. */
static line_status_t make_chip(line_t *l, const line_die_t *d, unsigned lot,
			       mes_chip_t *out)
{
	char hex[17];
	line_serial_hex(d->serial, hex);
	chip_t c;
	line_status_t st = chip_open(l, hex, 1, &c);
	if (st != LINE_OK)
		return st;
	cos_status_t cs = cos_format(c.hal, l->model);
	if (cs != COS_OK) {
		chip_close(l, &c);
		return fail(l, LINE_ERR_IMAGE, "chip %s: format: %s", hex,
			    cos_strerror(cs));
	}
	st = chip_power(l, &c, NULL, NULL);
	if (st != LINE_OK) {
		chip_close(l, &c);
		return st;
	}
	uint8_t code[8];
	memset(out, 0, sizeof *out);
	if (l->p.transport(l->p.transport_ctx, d->serial, code,
			   out->transport_key_ref,
			   sizeof out->transport_key_ref) != 0) {
		line_wipe(code, sizeof code);
		chip_close(l, &c);
		return fail(l, LINE_ERR_TRANSPORT,
			    "chip %s: the transport code function failed", hex);
	}
	out->transport_key_ref[sizeof out->transport_key_ref - 1] = 0;
	uint8_t cmd[5 + 10 + 10 + 3 + 4 + 4];
	size_t n = 0;
	cmd[n++] = 0x80;
	cmd[n++] = 0x34;
	cmd[n++] = 0;
	cmd[n++] = 0;
	cmd[n++] = sizeof cmd - 5;
	cmd[n++] = 0x80;
	cmd[n++] = 8;
	memcpy(cmd + n, d->serial, 8);
	n += 8;
	cmd[n++] = 0x81;
	cmd[n++] = 8;
	memcpy(cmd + n, code, 8);
	n += 8;
	line_wipe(code, sizeof code);
	cmd[n++] = 0x82;
	cmd[n++] = 1;
	cmd[n++] = l->p.transport_tries;
	cmd[n++] = 0x83;
	cmd[n++] = 2;
	put16(cmd + n, line_yddd(l->day0 + lot));
	n += 2;
	cmd[n++] = 0x84;
	cmd[n++] = 2;
	put16(cmd + n, (uint16_t)(lot + 1));
	n += 2;
	uint16_t sw = 0;
	st = chip_apdu(l, &c, cmd, n, NULL, 0, NULL, &sw);
	line_wipe(cmd, sizeof cmd);
	if (st == LINE_OK && sw != 0x9000)
		st = fail(l, LINE_ERR_CHIP, "chip %s: FAB CLOSE answered %04X",
			  hex, sw);
	cos_info_t info;
	if (st == LINE_OK && (cos_get_info(&c.chip, &info) != COS_OK ||
			      info.lifecycle != COS_LC_TRANSPORT))
		st = fail(l, LINE_ERR_CHIP,
			  "chip %s: not in TRANSPORT after "
			  "FAB CLOSE",
			  hex);
	uint8_t cplc[COS_CPLC_LEN];
	if (st == LINE_OK)
		st = chip_cplc(l, &c, cplc);
	line_status_t cst = chip_close(l, &c);
	if (st != LINE_OK)
		return st;
	if (cst != LINE_OK)
		return cst;
	fmt(out->serial, sizeof out->serial, "%s", hex);
	fmt(out->model, sizeof out->model, "%s", l->model->name);
	mes_cplc_from_bytes(cplc, &out->cplc);
	out->cplc.set = (1u << (MES_CPLC_IC_BATCH + 1)) - 1; /* the fab's */
	return LINE_OK;
}

struct done_wafers {
	char prefix[MES_NAME_MAX];
	uint64_t mask;
};

static int done_cb(void *ctx, const mes_event_t *ev)
{
	struct done_wafers *d = ctx;
	size_t k = strlen(d->prefix);
	if (!strncmp(ev->event_id, d->prefix, k)) {
		unsigned w = (unsigned)atoi(ev->event_id + k);
		if (w >= 1 && w <= 64)
			d->mask |= UINT64_C(1) << (w - 1);
	}
	return 0;
}

line_status_t line_run_fab(line_t *l, line_progress_fn fn, void *ctx,
			   line_counts_t *counts)
{
	if (!l)
		return LINE_ERR_PARAM;
	line_counts_t cnt;
	memset(&cnt, 0, sizeof cnt);
	line_status_t st = find_lots(l, 1);
	if (st != LINE_OK)
		return st;
	wmap_t w;
	if (wmap_init(l, &w) != LINE_OK)
		return LINE_ERR_NOMEM;
	mes_die_t *dies = calloc(w.cap, sizeof *dies);
	mes_chip_t *chips = calloc(w.cap, sizeof *chips);
	size_t *chip_die = calloc(w.cap, sizeof *chip_die);
	mes_event_t *evs = calloc(2 * w.cap + 2, sizeof *evs);
	if (!dies || !chips || !chip_die || !evs) {
		st = fail(l, LINE_ERR_NOMEM, "out of memory");
		goto out;
	}
	uint64_t total = (uint64_t)l->p.lots * l->p.wafers_per_lot, done = 0;
	for (unsigned lot = 0; lot < l->p.lots && st == LINE_OK; lot++) {
		char ln[MES_NAME_MAX];
		lot_name(l, lot, ln, sizeof ln);
		struct done_wafers dw;
		fmt(dw.prefix, sizeof dw.prefix, "probed/%s/", ln);
		dw.mask = 0;
		mes_err_t e = mes_list_events(l->mes, MES_ITEM_LOT,
					      l->lot_ids[lot], done_cb, &dw);
		if (e != MES_OK) {
			st = mes_fail(l, e, "listing the lot's events");
			break;
		}
		for (unsigned wf = 0; wf < l->p.wafers_per_lot; wf++) {
			st = wmap_load(l, &w, lot, wf);
			if (st != LINE_OK)
				break;
			cnt.part[LINE_PART_FAB].in += w.n;
			cnt.part[LINE_PART_FAB].out += w.good;
			cnt.chips += w.good;
			progress(fn, ctx, LINE_PART_FAB, done++, total);
			if (dw.mask & (UINT64_C(1) << wf))
				continue;
			/* A chip of this wafer in the database while the
			 * wafer is not: another order's. */
			mes_genealogy_t g;
			int found = 0;
			if (w.first_good >= 0) {
				st = trace(l, w.dies[w.first_good].serial, &g,
					   &found);
				if (st != LINE_OK)
					break;
				if (found) {
					st = fail(l, LINE_ERR_CONFLICT,
						  "chip %s: in the database "
						  "already, in lot %s (serial "
						  "prefix used twice?)",
						  g.chip.serial, g.lot.name);
					break;
				}
			}
			size_t nc = 0;
			for (size_t i = 0; i < w.n && st == LINE_OK; i++) {
				if (w.dies[i].bin != LINE_BIN_GOOD)
					continue;
				st = make_chip(l, &w.dies[i], lot, &chips[nc]);
				chip_die[nc++] = i;
			}
			if (st != LINE_OK)
				break;
			/* One transaction: the wafer and all it holds. */
			int64_t t0 = fab_time(l, lot, wf);
			mes_wafer_t mw;
			memset(&mw, 0, sizeof mw);
			e = mes_begin(l->mes);
			if (e != MES_OK) {
				st = mes_fail(l, e, "beginning a transaction");
				break;
			}
			mw.lot_id = l->lot_ids[lot];
			mw.index = (int)wf + 1;
			mw.diameter_mm = l->p.wafer_diameter_mm;
			mw.die_w_mm = l->p.die_w_mm;
			mw.die_h_mm = l->p.die_h_mm;
			e = mes_add_wafers(l->mes, &mw, 1);
			for (size_t i = 0; e == MES_OK && i < w.n; i++) {
				const line_die_t *d = &w.dies[i];
				memset(&dies[i], 0, sizeof dies[i]);
				dies[i].wafer_id = mw.id;
				dies[i].x = d->x;
				dies[i].y = d->y;
				dies[i].bin = d->bin;
				dies[i].idd_ua = d->idd_ua;
				dies[i].vdd_v = d->vdd_v;
				dies[i].leakage_na = d->leakage_na;
				dies[i].probed_us = t0 + (int64_t)i * 200000;
			}
			if (e == MES_OK)
				e = mes_add_dies(l->mes, dies, w.n);
			for (size_t k = 0; e == MES_OK && k < nc; k++)
				chips[k].die_id = dies[chip_die[k]].id;
			if (e == MES_OK && nc)
				e = mes_add_chips(l->mes, chips, nc);
			size_t ne = 0;
			for (size_t i = 0; e == MES_OK && i < w.n; i++) {
				mes_event_t *ev = &evs[ne++];
				int good = w.dies[i].bin == LINE_BIN_GOOD;
				ev_set(ev, MES_ITEM_DIE, dies[i].id,
				       MES_PART_PROBE, "probe",
				       good ? MES_RESULT_PASS : MES_RESULT_FAIL,
				       dies[i].probed_us);
				fmt(ev->event_id, sizeof ev->event_id,
				    "probe/%s/%u/%d,%d", ln, wf + 1,
				    w.dies[i].x, w.dies[i].y);
				fmt(ev->detail, sizeof ev->detail, "bin %d",
				    w.dies[i].bin);
			}
			for (size_t k = 0; e == MES_OK && k < nc; k++) {
				mes_event_t *ev = &evs[ne++];
				ev_set(ev, MES_ITEM_CHIP, chips[k].id,
				       MES_PART_PROBE, "fab-close",
				       MES_RESULT_PASS,
				       dies[chip_die[k]].probed_us + 100000);
				fmt(ev->event_id, sizeof ev->event_id,
				    "fabclose/%s", chips[k].serial);
				fmt(ev->detail, sizeof ev->detail,
				    "TRANSPORT, %u tries, key %s",
				    l->p.transport_tries,
				    chips[k].transport_key_ref);
			}
			if (e == MES_OK) {
				mes_event_t *ev = &evs[ne++];
				ev_set(ev, MES_ITEM_WAFER, mw.id,
				       MES_PART_PROBE, "probe",
				       w.good ? MES_RESULT_PASS :
						MES_RESULT_FAIL,
				       t0 + (int64_t)w.n * 200000);
				fmt(ev->event_id, sizeof ev->event_id,
				    "probe/%s/%u", ln, wf + 1);
				fmt(ev->detail, sizeof ev->detail,
				    "%zu of %zu dies good%s", w.good, w.n,
				    w.good ? "" : ": wafer scrapped");
				ev = &evs[ne++];
				ev_set(ev, MES_ITEM_LOT, l->lot_ids[lot],
				       MES_PART_PROBE, "wafer-probed",
				       MES_RESULT_INFO,
				       t0 + (int64_t)w.n * 200000);
				fmt(ev->event_id, sizeof ev->event_id,
				    "probed/%s/%u", ln, wf + 1);
				fmt(ev->detail, sizeof ev->detail, "wafer %u",
				    wf + 1);
				e = mes_add_events(l->mes, evs, ne, NULL);
			}
			if (e == MES_OK)
				e = mes_commit(l->mes);
			if (e != MES_OK) {
				st = mes_fail(l, e, "recording a wafer");
				tx_abort(l);
				break;
			}
			cnt.part[LINE_PART_FAB].added += w.n;
			cnt.chips_added += nc;
		}
	}
	if (st == LINE_OK)
		progress(fn, ctx, LINE_PART_FAB, total, total);
out:
	free(w.dies);
	free(dies);
	if (chips)
		line_wipe(chips, w.cap * sizeof *chips);
	free(chips);
	free(chip_die);
	free(evs);
	if (counts) {
		counts->part[LINE_PART_FAB] = cnt.part[LINE_PART_FAB];
		counts->chips = cnt.chips;
		counts->chips_added = cnt.chips_added;
	}
	return st;
}

/* ---------------------------------------------------------- part 3 */

line_status_t line_run_grinding(line_t *l, line_progress_fn fn, void *ctx,
				line_counts_t *counts)
{
	if (!l)
		return LINE_ERR_PARAM;
	line_count_t cnt = { 0, 0, 0 };
	line_status_t st = find_lots(l, 0);
	if (st != LINE_OK)
		return st;
	wmap_t w;
	if (wmap_init(l, &w) != LINE_OK)
		return LINE_ERR_NOMEM;
	size_t cap = l->p.batch, np = 0;
	mes_grinding_t *gr = calloc(cap, sizeof *gr);
	mes_event_t *evs = calloc(cap, sizeof *evs);
	if (!gr || !evs) {
		st = fail(l, LINE_ERR_NOMEM, "out of memory");
		goto out;
	}
	uint64_t total = (uint64_t)l->p.lots * l->p.wafers_per_lot, done = 0;
	for (unsigned lot = 0; lot < l->p.lots && st == LINE_OK; lot++) {
		char ln[MES_NAME_MAX];
		lot_name(l, lot, ln, sizeof ln);
		for (unsigned wf = 0; wf < l->p.wafers_per_lot; wf++) {
			progress(fn, ctx, LINE_PART_GRINDING, done++, total);
			st = wmap_load(l, &w, lot, wf);
			if (st != LINE_OK)
				break;
			if (w.first_good < 0)
				continue; /* scrapped at probe */
			mes_genealogy_t g;
			int found;
			st = trace(l, w.dies[w.first_good].serial, &g, &found);
			if (st != LINE_OK)
				break;
			if (!found) {
				st = fail(l, LINE_ERR_ORDER,
					  "lot %s wafer %u: not probed yet "
					  "(run the fab first)",
					  ln, wf + 1);
				break;
			}
			cnt.in++;
			if (g.has_grinding) {
				cnt.out += g.grinding.pass ? 1 : 0;
				continue;
			}
			double th = line_sim_thickness(&l->p, lot, wf);
			int pass = th >= l->p.grind_min_um &&
				   th <= l->p.grind_max_um;
			mes_grinding_t *r = &gr[np];
			r->wafer_id = g.wafer.id;
			r->thickness_um = th;
			r->spec_min_um = l->p.grind_min_um;
			r->spec_max_um = l->p.grind_max_um;
			r->pass = pass;
			r->measured_us =
				part_time(l, lot, wf, l->p.days_grinding);
			ev_set(&evs[np], MES_ITEM_WAFER, g.wafer.id,
			       MES_PART_GRINDING, "thickness",
			       pass ? MES_RESULT_PASS : MES_RESULT_FAIL,
			       r->measured_us);
			fmt(evs[np].event_id, sizeof evs[np].event_id,
			    "grind/%s/%u", ln, wf + 1);
			fmt(evs[np].detail, sizeof evs[np].detail,
			    "%.1f um, spec %.1f to %.1f%s", th,
			    l->p.grind_min_um, l->p.grind_max_um,
			    pass ? "" : ": wafer scrapped");
			cnt.out += pass ? 1 : 0;
			np++;
			if (np == cap) {
				mes_err_t e = mes_begin(l->mes);
				if (e == MES_OK)
					e = mes_add_grindings(l->mes, gr, np);
				if (e == MES_OK)
					e = mes_add_events(l->mes, evs, np,
							   NULL);
				if (e == MES_OK)
					e = mes_commit(l->mes);
				if (e != MES_OK) {
					st = mes_fail(l, e,
						      "recording grinding");
					tx_abort(l);
					break;
				}
				cnt.added += np;
				np = 0;
			}
		}
	}
	if (st == LINE_OK && np) {
		mes_err_t e = mes_begin(l->mes);
		if (e == MES_OK)
			e = mes_add_grindings(l->mes, gr, np);
		if (e == MES_OK)
			e = mes_add_events(l->mes, evs, np, NULL);
		if (e == MES_OK)
			e = mes_commit(l->mes);
		if (e != MES_OK) {
			st = mes_fail(l, e, "recording grinding");
			tx_abort(l);
		} else {
			cnt.added += np;
		}
	}
	if (st == LINE_OK)
		progress(fn, ctx, LINE_PART_GRINDING, total, total);
out:
	free(w.dies);
	free(gr);
	free(evs);
	if (counts)
		counts->part[LINE_PART_GRINDING] = cnt;
	return st;
}

/* ---------------------------------------------------------- parts 4, 5 */

/* Pending records of the module or card body part. */
typedef struct {
	mes_module_t *mods;
	mes_card_t *cards;
	int64_t *chip_ids; /* for stamps */
	mes_cplc_t *stamps;
	size_t n, ns, cap;
} pend_t;

static line_status_t flush_modules(line_t *l, pend_t *pd, line_count_t *cnt)
{
	if (!pd->n)
		return LINE_OK;
	mes_event_t *evs = calloc(pd->n, sizeof *evs);
	if (!evs)
		return fail(l, LINE_ERR_NOMEM, "out of memory");
	mes_err_t e = mes_begin(l->mes);
	if (e == MES_OK)
		e = mes_add_modules(l->mes, pd->mods, pd->n);
	if (e == MES_OK && pd->ns)
		e = mes_stamp_cplc(l->mes, pd->chip_ids, pd->stamps, pd->ns);
	for (size_t i = 0; e == MES_OK && i < pd->n; i++) {
		const mes_module_t *m = &pd->mods[i];
		ev_set(&evs[i], MES_ITEM_MODULE, m->id, MES_PART_MODULE, "atr",
		       m->test_pass ? MES_RESULT_PASS : MES_RESULT_FAIL,
		       m->tested_us);
		fmt(evs[i].event_id, sizeof evs[i].event_id, "module/%s",
		    m->serial);
		fmt(evs[i].detail, sizeof evs[i].detail, "%s",
		    m->test_pass ? "valid ATR" : "no answer to reset");
	}
	if (e == MES_OK)
		e = mes_add_events(l->mes, evs, pd->n, NULL);
	if (e == MES_OK)
		e = mes_commit(l->mes);
	free(evs);
	if (e != MES_OK) {
		line_status_t st = mes_fail(l, e, "recording modules");
		tx_abort(l);
		return st;
	}
	cnt->added += pd->n;
	pd->n = pd->ns = 0;
	return LINE_OK;
}

static line_status_t flush_cards(line_t *l, pend_t *pd, line_count_t *cnt)
{
	if (!pd->n)
		return LINE_OK;
	mes_event_t *evs = calloc(pd->n, sizeof *evs);
	if (!evs)
		return fail(l, LINE_ERR_NOMEM, "out of memory");
	mes_err_t e = mes_begin(l->mes);
	if (e == MES_OK)
		e = mes_add_cards(l->mes, pd->cards, pd->n);
	if (e == MES_OK && pd->ns)
		e = mes_stamp_cplc(l->mes, pd->chip_ids, pd->stamps, pd->ns);
	for (size_t i = 0; e == MES_OK && i < pd->n; i++) {
		const mes_card_t *k = &pd->cards[i];
		int ok = k->embed_pass && k->print_pass;
		ev_set(&evs[i], MES_ITEM_CARD, k->id, MES_PART_CARD_BODY,
		       "embed-print", ok ? MES_RESULT_PASS : MES_RESULT_FAIL,
		       k->made_us);
		fmt(evs[i].event_id, sizeof evs[i].event_id, "card/%s",
		    k->serial);
		fmt(evs[i].detail, sizeof evs[i].detail,
		    "embedding %s, printing %s",
		    k->embed_pass ? "ok" : "failed",
		    k->print_pass ? "ok" : "failed");
	}
	if (e == MES_OK)
		e = mes_add_events(l->mes, evs, pd->n, NULL);
	if (e == MES_OK)
		e = mes_commit(l->mes);
	free(evs);
	if (e != MES_OK) {
		line_status_t st = mes_fail(l, e, "recording card bodies");
		tx_abort(l);
		return st;
	}
	cnt->added += pd->n;
	pd->n = pd->ns = 0;
	return LINE_OK;
}

static line_status_t pend_init(line_t *l, pend_t *pd)
{
	memset(pd, 0, sizeof *pd);
	pd->cap = l->p.batch;
	pd->mods = calloc(pd->cap, sizeof *pd->mods);
	pd->cards = calloc(pd->cap, sizeof *pd->cards);
	pd->chip_ids = calloc(pd->cap, sizeof *pd->chip_ids);
	pd->stamps = calloc(pd->cap, sizeof *pd->stamps);
	if (!pd->mods || !pd->cards || !pd->chip_ids || !pd->stamps)
		return fail(l, LINE_ERR_NOMEM, "out of memory");
	return LINE_OK;
}

static void pend_free(pend_t *pd)
{
	free(pd->mods);
	free(pd->cards);
	free(pd->chip_ids);
	free(pd->stamps);
}

/* Stamps a CPLC field pair (DF41 at offset 18, DF42 at 22) on a chip and
 * reads the CPLC back into the stamp record for the database. */
static line_status_t stamp_chip(line_t *l, chip_t *c, uint16_t tag, size_t off,
				uint16_t who, uint16_t date,
				mes_cplc_field_t f0, mes_cplc_t *rec)
{
	uint8_t v[4];
	put16(v, who);
	put16(v + 2, date);
	line_status_t st = chip_stamp(l, c, tag, off, v);
	uint8_t cplc[COS_CPLC_LEN];
	if (st == LINE_OK)
		st = chip_cplc(l, c, cplc);
	if (st != LINE_OK)
		return st;
	mes_cplc_from_bytes(cplc, rec);
	rec->set = 3u << f0;
	return LINE_OK;
}

/* Walks the good dies of the wafers that passed grinding, in order, with
 * their genealogy: fn returns 0 to go on, 1 to stop, or an error. */
typedef line_status_t (*die_fn)(line_t *l, unsigned lot, unsigned wafer,
				const line_die_t *d, unsigned idx,
				const mes_genealogy_t *g, void *arg, int *stop);

static line_status_t walk_chips(line_t *l, line_part_t part,
				line_progress_fn fn, void *ctx, die_fn each,
				void *arg)
{
	line_status_t st = find_lots(l, 0);
	if (st != LINE_OK)
		return st;
	wmap_t w;
	if (wmap_init(l, &w) != LINE_OK)
		return LINE_ERR_NOMEM;
	mes_genealogy_t *g = malloc(sizeof *g);
	if (!g) {
		free(w.dies);
		return fail(l, LINE_ERR_NOMEM, "out of memory");
	}
	uint64_t total = (uint64_t)l->p.lots * l->p.wafers_per_lot, done = 0;
	int stop = 0;
	for (unsigned lot = 0; lot < l->p.lots && st == LINE_OK && !stop;
	     lot++) {
		char ln[MES_NAME_MAX];
		lot_name(l, lot, ln, sizeof ln);
		for (unsigned wf = 0;
		     wf < l->p.wafers_per_lot && st == LINE_OK && !stop; wf++) {
			progress(fn, ctx, part, done++, total);
			st = wmap_load(l, &w, lot, wf);
			if (st != LINE_OK || w.first_good < 0)
				continue;
			int found;
			st = trace(l, w.dies[w.first_good].serial, g, &found);
			if (st == LINE_OK && (!found || !g->has_grinding))
				st = fail(l, LINE_ERR_ORDER,
					  "lot %s wafer %u: not ground yet "
					  "(run the fab and grinding first)",
					  ln, wf + 1);
			if (st != LINE_OK || !g->grinding.pass)
				continue; /* out of spec: dies scrapped */
			for (size_t i = 0; i < w.n && st == LINE_OK && !stop;
			     i++) {
				if (w.dies[i].bin != LINE_BIN_GOOD)
					continue;
				st = trace(l, w.dies[i].serial, g, &found);
				if (st == LINE_OK && !found)
					st = fail(l, LINE_ERR_ORDER,
						  "lot %s wafer %u: a chip "
						  "is missing",
						  ln, wf + 1);
				if (st == LINE_OK)
					st = each(l, lot, wf, &w.dies[i],
						  (unsigned)i, g, arg, &stop);
			}
		}
	}
	if (st == LINE_OK)
		progress(fn, ctx, part, total, total);
	free(g);
	free(w.dies);
	return st;
}

struct mod_arg {
	pend_t pd;
	line_count_t cnt;
};

static void atr_hex(const uint8_t *a, size_t n, char *buf)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = hx[a[i] >> 4];
		buf[2 * i + 1] = hx[a[i] & 15];
	}
	buf[2 * n] = 0;
}

static line_status_t module_one(line_t *l, unsigned lot, unsigned wafer,
				const line_die_t *d, unsigned idx,
				const mes_genealogy_t *g, void *arg, int *stop)
{
	struct mod_arg *a = arg;
	(void)stop;
	a->cnt.in++;
	if (g->module.id) {
		a->cnt.out += g->module.test_pass ? 1 : 0;
		return LINE_OK;
	}
	mes_module_t *m = &a->pd.mods[a->pd.n];
	memset(m, 0, sizeof *m);
	m->die_id = g->die.id;
	fmt(m->serial, sizeof m->serial, "M%s", g->chip.serial);
	m->tested_us = part_time(l, lot, wafer, l->p.days_module) +
		       (int64_t)idx * 500000;
	line_status_t st = LINE_OK;
	if (line_sim_module_ok(&l->p, lot, wafer, idx)) {
		/* Module test: power up, check the answer to reset. */
		chip_t c;
		st = chip_open(l, g->chip.serial, 0, &c);
		if (st != LINE_OK)
			return st;
		uint8_t atr[COS_ATR_MAX];
		size_t an = 0;
		st = chip_power(l, &c, atr, &an);
		if (st == LINE_OK && line_atr_valid(atr, an)) {
			m->test_pass = 1;
			atr_hex(atr, an, m->atr_hex);
			mes_cplc_t *rec = &a->pd.stamps[a->pd.ns];
			st = stamp_chip(
				l, &c, 0xDF41, 18, l->p.module_fabricator,
				line_yddd(l->day0 + lot + l->p.days_module),
				MES_CPLC_MODULE_FABRICATOR, rec);
			if (st == LINE_OK)
				a->pd.chip_ids[a->pd.ns++] = g->chip.id;
		} else if (st == LINE_OK) {
			atr_hex(atr, an, m->atr_hex);
		}
		line_status_t cst = chip_close(l, &c);
		if (st == LINE_OK)
			st = cst;
		if (st != LINE_OK)
			return st;
	}
	(void)d;
	a->cnt.out += m->test_pass ? 1 : 0;
	a->pd.n++;
	if (a->pd.n == a->pd.cap)
		return flush_modules(l, &a->pd, &a->cnt);
	return LINE_OK;
}

line_status_t line_run_modules(line_t *l, line_progress_fn fn, void *ctx,
			       line_counts_t *counts)
{
	if (!l)
		return LINE_ERR_PARAM;
	struct mod_arg a;
	memset(&a, 0, sizeof a);
	line_status_t st = pend_init(l, &a.pd);
	if (st == LINE_OK)
		st = walk_chips(l, LINE_PART_MODULE, fn, ctx, module_one, &a);
	if (st == LINE_OK)
		st = flush_modules(l, &a.pd, &a.cnt);
	pend_free(&a.pd);
	if (counts)
		counts->part[LINE_PART_MODULE] = a.cnt;
	return st;
}

struct card_arg {
	pend_t pd;
	line_count_t cnt;
};

static line_status_t card_one(line_t *l, unsigned lot, unsigned wafer,
			      const line_die_t *d, unsigned idx,
			      const mes_genealogy_t *g, void *arg, int *stop)
{
	struct card_arg *a = arg;
	(void)d;
	if (l->p.cards_wanted && a->cnt.out >= l->p.cards_wanted) {
		*stop = 1;
		return LINE_OK;
	}
	if (!g->module.id)
		return fail(l, LINE_ERR_ORDER,
			    "chip %s: no module yet (run the modules first)",
			    g->chip.serial);
	if (!g->module.test_pass)
		return LINE_OK; /* module scrapped */
	a->cnt.in++;
	if (g->card.id) {
		a->cnt.out += g->card.embed_pass && g->card.print_pass;
		return LINE_OK;
	}
	mes_card_t *k = &a->pd.cards[a->pd.n];
	memset(k, 0, sizeof *k);
	k->order_id = l->order_id;
	k->module_id = g->module.id;
	fmt(k->serial, sizeof k->serial, "C%s", g->chip.serial);
	k->made_us = part_time(l, lot, wafer, l->p.days_card_body) +
		     (int64_t)idx * 500000;
	line_sim_card(&l->p, lot, wafer, idx, &k->embed_pass, &k->print_pass);
	if (k->embed_pass) {
		chip_t c;
		line_status_t st = chip_open(l, g->chip.serial, 0, &c);
		if (st != LINE_OK)
			return st;
		st = chip_power(l, &c, NULL, NULL);
		mes_cplc_t *rec = &a->pd.stamps[a->pd.ns];
		if (st == LINE_OK)
			st = stamp_chip(
				l, &c, 0xDF42, 22, l->p.card_manufacturer,
				line_yddd(l->day0 + lot + l->p.days_card_body),
				MES_CPLC_ICC_MANUFACTURER, rec);
		line_status_t cst = chip_close(l, &c);
		if (st == LINE_OK)
			st = cst;
		if (st != LINE_OK)
			return st;
		a->pd.chip_ids[a->pd.ns++] = g->chip.id;
	}
	a->cnt.out += k->embed_pass && k->print_pass;
	a->pd.n++;
	if (a->pd.n == a->pd.cap)
		return flush_cards(l, &a->pd, &a->cnt);
	return LINE_OK;
}

line_status_t line_run_card_bodies(line_t *l, line_progress_fn fn, void *ctx,
				   line_counts_t *counts)
{
	if (!l)
		return LINE_ERR_PARAM;
	struct card_arg a;
	memset(&a, 0, sizeof a);
	line_status_t st = pend_init(l, &a.pd);
	if (st == LINE_OK)
		st = walk_chips(l, LINE_PART_CARD_BODY, fn, ctx, card_one, &a);
	if (st == LINE_OK)
		st = flush_cards(l, &a.pd, &a.cnt);
	pend_free(&a.pd);
	if (counts)
		counts->part[LINE_PART_CARD_BODY] = a.cnt;
	return st;
}

line_status_t line_run(line_t *l, line_progress_fn fn, void *ctx,
		       line_counts_t *counts)
{
	line_counts_t c;
	memset(&c, 0, sizeof c);
	line_status_t st = line_run_fab(l, fn, ctx, &c);
	if (st == LINE_OK)
		st = line_run_grinding(l, fn, ctx, &c);
	if (st == LINE_OK)
		st = line_run_modules(l, fn, ctx, &c);
	if (st == LINE_OK)
		st = line_run_card_bodies(l, fn, ctx, &c);
	if (counts)
		*counts = c;
	return st;
}
