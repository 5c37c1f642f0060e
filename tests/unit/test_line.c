/*
 * test_line.c - unit tests of the line simulator (src/line): the probe
 * yield model (target yield, edge loss, clustering), reproducibility, the
 * chips it makes (TRANSPORT, CPLC stamps equal to the MES), grinding spec
 * accounting, reruns that add nothing, resume after a partial run, and
 * the transport code kept out of the database. SQLite in a temporary
 * folder through the MES API.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cos/cos.h"
#include "hal/hal_host.h"
#include "line/line.h"
#include "line/line_int.h"
#include "mes/mes.h"

/* ---------------------------------------------------------- helpers */

static int test_code(void *ctx, const uint8_t serial[8], uint8_t code[8],
		     char *key_ref, size_t cap)
{
	int *calls = ctx;
	if (calls)
		(*calls)++;
	for (int i = 0; i < 8; i++)
		code[i] = (uint8_t)(serial[i] ^ 0xA5 ^ (0x11 * i));
	char hex[17];
	line_serial_hex(serial, hex);
	snprintf(key_ref, cap, "transport/%s", hex);
	return 0;
}

static int failing_code(void *ctx, const uint8_t serial[8], uint8_t code[8],
			char *key_ref, size_t cap)
{
	(void)ctx;
	(void)serial;
	(void)code;
	(void)key_ref;
	(void)cap;
	return -1;
}

/* A small line: 100 mm wafers, 8 x 8 mm dies (about 90 a wafer). */
static void small_params(line_params_t *p, const char *order)
{
	line_params_default(p);
	p->order_name = order;
	p->seed = 42;
	p->start_us = INT64_C(1790000000) * 1000000; /* 2026-09-21 */
	p->lots = 1;
	p->wafers_per_lot = 2;
	p->wafer_diameter_mm = 100;
	p->die_w_mm = 8;
	p->die_h_mm = 8;
	p->edge_width_mm = 4;
	p->module_defect_rate = 0.05;
	p->embed_defect_rate = 0.05;
	p->print_defect_rate = 0.05;
	p->transport = test_code;
	p->batch = 16;
}

typedef struct {
	char dir[256];
	char db[300];
	mes_t *m;
} env_t;

static void env_open(env_t *e)
{
	snprintf(e->dir, sizeof e->dir, "linetest.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->db, sizeof e->db, "%s/mes.db", e->dir);
	char err[256];
	assert_int_equal(mes_open(e->db, &e->m, err, sizeof err), MES_OK);
	assert_int_equal(mes_migrate(e->m, NULL, NULL), MES_OK);
}

static void env_reopen(env_t *e)
{
	mes_close(e->m);
	char err[256];
	assert_int_equal(mes_open(e->db, &e->m, err, sizeof err), MES_OK);
}

static void env_close(env_t *e)
{
	mes_close(e->m);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

static line_t *open_line(const line_params_t *p, mes_t *m)
{
	line_t *l = NULL;
	char err[256] = "";
	line_status_t st = line_open(p, m, &l, err, sizeof err);
	if (st != LINE_OK)
		fail_msg("line_open: %s: %s", line_strerror(st), err);
	return l;
}

static void run_ok(line_t *l, line_counts_t *c)
{
	line_status_t st = line_run(l, NULL, NULL, c);
	if (st != LINE_OK)
		fail_msg("line_run: %s: %s", line_strerror(st),
			 line_error_detail(l));
}

/* ---------------------------------------------------------- the model */

/* Yield near the target over thousands of dies; edge dies fail more;
 * defects cluster: a failing die's neighbour fails more often than any
 * die does, and not so without clustering. */
static void stats(const line_params_t *p, unsigned wafers, double *yield,
		  double *edge_yield, double *center_yield, double *neigh_ratio)
{
	size_t cap = 0;
	assert_int_equal(line_wafer_map(p, 0, 0, NULL, 0, &cap), LINE_OK);
	line_die_t *d = calloc(cap, sizeof *d);
	assert_non_null(d);
	uint64_t n = 0, good = 0, en = 0, eg = 0, cn = 0, cg = 0;
	uint64_t pairs = 0, both_fail = 0, fails_left = 0;
	for (unsigned lot = 0; lot < p->lots; lot++)
		for (unsigned w = 0; w < wafers; w++) {
			size_t k;
			assert_int_equal(line_wafer_map(p, lot, w, d, cap, &k),
					 LINE_OK);
			for (size_t i = 0; i < k; i++) {
				int ok = d[i].bin == LINE_BIN_GOOD;
				n++;
				good += ok;
				if (d[i].edge_mm < 4) {
					en++;
					eg += ok;
				} else if (d[i].edge_mm > 25) {
					cn++;
					cg += ok;
				}
				/* Right neighbours are next in a row. */
				if (i + 1 < k && d[i + 1].y == d[i].y &&
				    d[i + 1].x == d[i].x + 1 &&
				    d[i].edge_mm > 10 &&
				    d[i + 1].edge_mm > 10) {
					pairs++;
					int f1 = !ok;
					int f2 = d[i + 1].bin != LINE_BIN_GOOD;
					fails_left += f1;
					both_fail += f1 && f2;
				}
			}
		}
	free(d);
	assert_true(n > 2000);
	*yield = (double)good / (double)n;
	*edge_yield = (double)eg / (double)en;
	*center_yield = (double)cg / (double)cn;
	/* P(right fails | left fails) / P(fail), center dies only. */
	double pf = (double)fails_left / (double)pairs;
	*neigh_ratio = ((double)both_fail / (double)fails_left) / pf;
}

static void test_yield_model(void **state)
{
	(void)state;
	line_params_t p;
	line_params_default(&p);
	p.order_name = "x";
	p.transport = test_code;
	p.lots = 3;
	p.wafers_per_lot = 4;
	double y, ey, cy, ratio;
	stats(&p, 4, &y, &ey, &cy, &ratio);
	print_message("yield %.4f (target %.2f), edge %.3f, center %.3f, "
		      "neighbour fail ratio %.2f\n",
		      y, p.probe_yield, ey, cy, ratio);
	assert_true(fabs(y - p.probe_yield) < 0.04);
	assert_true(ey < cy - 0.15);
	assert_true(ratio > 1.3);

	/* Another target. */
	p.probe_yield = 0.6;
	stats(&p, 4, &y, &ey, &cy, &ratio);
	print_message("yield %.4f (target 0.60)\n", y);
	assert_true(fabs(y - 0.6) < 0.05);

	/* Without clustering (radius 0, alpha 8) and without edge loss:
	 * neighbours independent, edge like center. */
	p.probe_yield = 0.85;
	p.cluster_radius = 0;
	p.cluster_alpha = 8;
	p.edge_loss = 0;
	stats(&p, 4, &y, &ey, &cy, &ratio);
	print_message("no clusters: yield %.4f, edge %.3f, center %.3f, "
		      "ratio %.2f\n",
		      y, ey, cy, ratio);
	assert_true(fabs(y - 0.85) < 0.02);
	assert_true(fabs(ratio - 1.0) < 0.15);
	assert_true(fabs(ey - cy) < 0.05);
}

static void test_wafer_map_reproducible(void **state)
{
	(void)state;
	line_params_t p;
	line_params_default(&p);
	p.lots = 2;
	p.wafers_per_lot = 3;
	size_t cap = 0, n1, n2;
	assert_int_equal(line_wafer_map(&p, 1, 2, NULL, 0, &cap), LINE_OK);
	line_die_t *a = calloc(cap, sizeof *a), *b = calloc(cap, sizeof *b);
	assert_int_equal(line_wafer_map(&p, 1, 2, a, cap, &n1), LINE_OK);
	assert_int_equal(line_wafer_map(&p, 1, 2, b, cap, &n2), LINE_OK);
	assert_int_equal(n1, n2);
	assert_memory_equal(a, b, n1 * sizeof *a);
	/* Serials: prefix, lot, wafer, index; unique on the wafer. */
	assert_int_equal(a[0].serial[0], 0x43);
	for (size_t i = 1; i < n1; i++)
		assert_memory_not_equal(a[i].serial, a[i - 1].serial, 8);
	/* Another seed, another map. */
	p.seed = 2;
	assert_int_equal(line_wafer_map(&p, 1, 2, b, cap, &n2), LINE_OK);
	size_t diff = 0;
	for (size_t i = 0; i < n1; i++)
		diff += a[i].bin != b[i].bin;
	assert_true(diff > 0);
	/* Out of range. */
	assert_int_equal(line_wafer_map(&p, 2, 0, a, cap, &n2), LINE_ERR_PARAM);
	assert_int_equal(line_wafer_map(&p, 0, 0, a, 3, &n2), LINE_ERR_PARAM);

	char *svg = line_wafer_svg(&p, a, n1, "lot <1> wafer 3");
	assert_non_null(svg);
	assert_non_null(strstr(svg, "<svg"));
	assert_non_null(strstr(svg, "&lt;1&gt;"));
	assert_non_null(strstr(svg, "</svg>"));
	free(svg);
	free(a);
	free(b);
}

static void test_atr_and_dates(void **state)
{
	(void)state;
	hal_mem_t *hm;
	assert_int_equal(hal_mem_new(32768, 7, &hm), HAL_HOST_OK);
	const hal_t *hal = hal_mem_hal(hm);
	assert_int_equal(cos_format(hal, cos_model_find("cf32")), COS_OK);
	static cos_chip_t chip;
	uint8_t atr[COS_ATR_MAX];
	size_t n = 0;
	assert_int_equal(cos_power_on(&chip, hal, atr, sizeof atr, &n), COS_OK);
	assert_true(line_atr_valid(atr, n));
	atr[n - 1] ^= 1; /* TCK */
	assert_false(line_atr_valid(atr, n));
	atr[n - 1] ^= 1;
	assert_false(line_atr_valid(atr, n - 1));
	atr[0] = 0x3A;
	assert_false(line_atr_valid(atr, n));
	static const uint8_t t0only[] = { 0x3B, 0x02, 0x14, 0x50 };
	assert_true(line_atr_valid(t0only, sizeof t0only));
	cos_power_off(&chip);
	hal_mem_free(hm);

	/* YDDD: 2026-01-01 is day 1, 2024-12-31 is day 366. */
	assert_int_equal(line_yddd(20454), 0x6001);
	assert_int_equal(line_yddd(20088), 0x4366);
	assert_int_equal(line_yddd(line_day_of(INT64_C(1790000000) * 1000000)),
			 0x6264);
}

static void test_params(void **state)
{
	(void)state;
	env_t e;
	env_open(&e);
	line_params_t p;
	small_params(&p, "ORD-P");
	line_t *l = NULL;
	char err[256];
	p.transport = NULL;
	assert_int_equal(line_open(&p, e.m, &l, err, sizeof err),
			 LINE_ERR_PARAM);
	assert_null(l);
	assert_non_null(strstr(err, "transport"));
	small_params(&p, "ORD-P");
	p.probe_yield = 1.5;
	assert_int_equal(line_open(&p, e.m, &l, err, sizeof err),
			 LINE_ERR_PARAM);
	assert_non_null(strstr(err, "probe_yield"));
	small_params(&p, "ORD-P");
	p.chip_model = "nope";
	assert_int_equal(line_open(&p, e.m, &l, err, sizeof err),
			 LINE_ERR_PARAM);
	/* An edge loss the target cannot absorb. */
	small_params(&p, "ORD-P");
	p.probe_yield = 0.99;
	p.edge_loss = 0.9;
	p.edge_width_mm = 40;
	assert_int_equal(line_open(&p, e.m, &l, err, sizeof err),
			 LINE_ERR_PARAM);
	/* Parts out of order. */
	small_params(&p, "ORD-P");
	l = open_line(&p, e.m);
	assert_int_equal(line_run_modules(l, NULL, NULL, NULL), LINE_ERR_ORDER);
	assert_int_equal(line_run_fab(l, NULL, NULL, NULL), LINE_OK);
	assert_int_equal(line_run_modules(l, NULL, NULL, NULL), LINE_ERR_ORDER);
	assert_non_null(strstr(line_error_detail(l), "ground"));
	line_close(l);
	/* A failing transport code function stops the fab. */
	small_params(&p, "ORD-Q");
	p.lot_prefix = "Q";
	p.serial_prefix = 0x51000000;
	p.transport = failing_code;
	l = open_line(&p, e.m);
	assert_int_equal(line_run_fab(l, NULL, NULL, NULL), LINE_ERR_TRANSPORT);
	line_close(l);
	/* Another order with the same serial prefix: its chips collide. */
	small_params(&p, "ORD-R");
	p.lot_prefix = "R";
	l = open_line(&p, e.m);
	assert_int_equal(line_run_fab(l, NULL, NULL, NULL), LINE_ERR_CONFLICT);
	line_close(l);
	assert_string_equal(line_bin_name(LINE_BIN_GOOD), "good");
	assert_string_equal(line_bin_name(99), "unknown");
	assert_string_equal(line_strerror(LINE_ERR_ORDER),
			    "an earlier part has not run");
	env_close(&e);
}

/* ---------------------------------------------------------- the chips */

struct chk {
	line_t *l;
	mes_t *m;
	int ram;
	size_t chips, modules, cards;
};

/* GET DATA through cos_transmit. */
static size_t get_data(cos_chip_t *chip, uint16_t tag, uint8_t *out)
{
	uint8_t cmd[5] = { 0x80, 0xCA, (uint8_t)(tag >> 8), (uint8_t)tag, 0 };
	uint8_t r[COS_RAPDU_MAX];
	size_t rl = 0;
	assert_int_equal(cos_transmit(chip, cmd, 5, r, sizeof r, &rl), COS_OK);
	assert_true(rl >= 2);
	assert_int_equal(r[rl - 2] << 8 | r[rl - 1], 0x9000);
	memcpy(out, r, rl - 2);
	return rl - 2;
}

/* Every die: a good one is a chip in TRANSPORT whose CPLC equals the
 * database's; a bad one is no chip. Stamps present exactly where the
 * genealogy says a module passed and a card body was embedded. */
static void check_chips(struct chk *k, const line_params_t *p)
{
	size_t cap = 0;
	assert_int_equal(line_wafer_map(p, 0, 0, NULL, 0, &cap), LINE_OK);
	line_die_t *d = calloc(cap, sizeof *d);
	mes_genealogy_t *g = malloc(sizeof *g);
	static cos_chip_t chip;
	for (unsigned lot = 0; lot < p->lots; lot++)
		for (unsigned w = 0; w < p->wafers_per_lot; w++) {
			size_t n;
			assert_int_equal(line_wafer_map(p, lot, w, d, cap, &n),
					 LINE_OK);
			for (size_t i = 0; i < n; i++) {
				char hex[17];
				line_serial_hex(d[i].serial, hex);
				mes_err_t e = mes_trace_chip(k->m, hex, g);
				if (d[i].bin != LINE_BIN_GOOD) {
					assert_int_equal(e, MES_ERR_NOT_FOUND);
					if (k->ram) {
						assert_null(line_chip_hal(k->l,
									  hex));
					} else {
						char path[512];
						line_chip_path(k->l, hex, path,
							       sizeof path);
						assert_int_not_equal(
							access(path, F_OK), 0);
					}
					continue;
				}
				assert_int_equal(e, MES_OK);
				assert_int_equal(g->die.bin, MES_BIN_GOOD);
				assert_int_equal(g->die.x, d[i].x);
				assert_int_equal(g->die.y, d[i].y);
				assert_string_equal(g->chip.model, "cf32");
				char ref[64];
				snprintf(ref, sizeof ref, "transport/%s", hex);
				assert_string_equal(g->chip.transport_key_ref,
						    ref);
				k->chips++;
				hal_file_t *f = NULL;
				const hal_t *hal;
				if (k->ram) {
					hal = line_chip_hal(k->l, hex);
				} else {
					char path[512];
					line_chip_path(k->l, hex, path,
						       sizeof path);
					assert_int_equal(
						hal_file_open_ro(path, &f),
						HAL_HOST_OK);
					hal = hal_file_hal(f);
				}
				assert_non_null(hal);
				uint8_t atr[COS_ATR_MAX], b[300];
				size_t an;
				assert_int_equal(cos_power_on(&chip, hal, atr,
							      sizeof atr, &an),
						 COS_OK);
				size_t bn = get_data(&chip, 0x9F7F, b);
				assert_int_equal(bn, 3 + COS_CPLC_LEN);
				uint8_t db[MES_CPLC_LEN];
				mes_cplc_to_bytes(&g->chip.cplc, db);
				assert_memory_equal(b + 3, db, MES_CPLC_LEN);
				/* Fab fields always; module, card per the
				 * genealogy. */
				uint32_t fab = (1u << 8) - 1;
				assert_int_equal(g->chip.cplc.set & fab, fab);
				int mod = g->module.id && g->module.test_pass;
				int card = g->card.id && g->card.embed_pass;
				assert_int_equal(
					!!(g->chip.cplc.set &
					   (1u << MES_CPLC_MODULE_FABRICATOR)),
					mod);
				assert_int_equal(
					!!(g->chip.cplc.set &
					   (1u << MES_CPLC_ICC_MANUFACTURER)),
					card);
				if (mod) {
					k->modules++;
					assert_int_equal(
						g->chip.cplc.v
							[MES_CPLC_MODULE_FABRICATOR],
						p->module_fabricator);
					assert_true(strlen(g->module.atr_hex) >
						    4);
					assert_memory_equal(g->module.atr_hex,
							    "3B9E", 4);
				}
				if (card) {
					k->cards++;
					assert_int_equal(
						g->chip.cplc.v
							[MES_CPLC_ICC_MANUFACTURER],
						p->card_manufacturer);
				}
				assert_int_equal(
					g->chip.cplc.v[MES_CPLC_IC_BATCH],
					lot + 1);
				/* The chip in TRANSPORT, its serial. */
				bn = get_data(&chip, 0xDF30, b);
				assert_int_equal(b[0], 0xDF);
				assert_int_equal(b[6], 0x81);
				assert_int_equal(b[8], COS_LC_TRANSPORT);
				cos_info_t info;
				assert_int_equal(cos_get_info(&chip, &info),
						 COS_OK);
				assert_int_equal(info.lifecycle,
						 COS_LC_TRANSPORT);
				assert_memory_equal(info.serial, d[i].serial,
						    8);
				assert_int_equal(info.transport_tries,
						 p->transport_tries);
				cos_power_off(&chip);
				if (f)
					hal_file_close(f);
			}
		}
	free(g);
	free(d);
}

static void test_run_ram(void **state)
{
	(void)state;
	env_t e;
	env_open(&e);
	line_params_t p;
	small_params(&p, "ORD-RAM");
	p.lots = 2;
	p.wafers_per_lot = 3;
	int calls = 0;
	p.transport_ctx = &calls;
	line_t *l = open_line(&p, e.m);
	line_counts_t c;
	run_ok(l, &c);
	print_message("dies %" PRIu64 " good %" PRIu64 "; wafers %" PRIu64
		      "/%" PRIu64 "; modules %" PRIu64 "/%" PRIu64
		      "; cards %" PRIu64 "/%" PRIu64 "\n",
		      c.part[0].in, c.part[0].out, c.part[1].in, c.part[1].out,
		      c.part[2].in, c.part[2].out, c.part[3].in, c.part[3].out);
	assert_int_equal(c.chips, c.part[LINE_PART_FAB].out);
	assert_int_equal(c.chips_added, c.chips);
	assert_int_equal((uint64_t)calls, c.chips);
	struct chk k = { l, e.m, 1, 0, 0, 0 };
	check_chips(&k, &p);
	assert_int_equal(k.chips, c.chips);
	assert_int_equal(k.modules, c.part[LINE_PART_MODULE].out);
	assert_true(k.cards >= c.part[LINE_PART_CARD_BODY].out);

	/* The database's yields and counts agree with the run's. */
	mes_yields_t y;
	assert_int_equal(mes_yields_order(e.m, line_order_id(l), &y), MES_OK);
	for (int i = 0; i < LINE_PARTS; i++) {
		assert_int_equal(y.part[i].in, (int64_t)c.part[i].in);
		assert_int_equal(y.part[i].out, (int64_t)c.part[i].out);
	}
	mes_counts_t mc;
	assert_int_equal(mes_counts(e.m, line_order_id(l), &mc), MES_OK);
	assert_int_equal(mc.chips, (int64_t)c.chips);
	assert_int_equal(mc.built, (int64_t)c.part[LINE_PART_CARD_BODY].out);

	/* Events: one a die, chip, wafer (2), module, card body. */
	int64_t want = (int64_t)(c.part[0].in + c.chips +
				 2 * p.lots * p.wafers_per_lot + c.part[1].in +
				 c.part[2].in + c.part[3].in);
	assert_int_equal(mc.events, want);

	/* The same seed in another database: the same chips, bit for bit. */
	env_t e2;
	env_open(&e2);
	line_t *l2 = open_line(&p, e2.m);
	line_counts_t c2;
	run_ok(l2, &c2);
	assert_memory_equal(&c, &c2, sizeof c);
	size_t cap = 0, n;
	assert_int_equal(line_wafer_map(&p, 1, 2, NULL, 0, &cap), LINE_OK);
	line_die_t *d = calloc(cap, sizeof *d);
	assert_int_equal(line_wafer_map(&p, 1, 2, d, cap, &n), LINE_OK);
	size_t compared = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i].bin != LINE_BIN_GOOD)
			continue;
		char hex[17];
		line_serial_hex(d[i].serial, hex);
		const hal_t *h1 = line_chip_hal(l, hex),
			    *h2 = line_chip_hal(l2, hex);
		assert_non_null(h1);
		assert_non_null(h2);
		assert_memory_equal(h1->nvm, h2->nvm, h1->nvm_size);
		compared++;
	}
	assert_true(compared > 10);
	free(d);
	line_close(l2);
	env_close(&e2);
	line_close(l);
	env_close(&e);
}

/* Grinding: wafers out of spec are counted, their dies never become
 * modules; the fraction out of spec follows the normal law. */
static void test_grinding_spec(void **state)
{
	(void)state;
	env_t e;
	env_open(&e);
	line_params_t p;
	small_params(&p, "ORD-GRIND");
	p.die_w_mm = 12;
	p.die_h_mm = 12;
	p.lots = 8;
	p.wafers_per_lot = 25;
	p.grind_sigma_um = 10; /* spec +-10: 68% in */
	p.module_defect_rate = 0;
	p.batch = 64;
	line_t *l = open_line(&p, e.m);
	line_counts_t c;
	memset(&c, 0, sizeof c);
	assert_int_equal(line_run_fab(l, NULL, NULL, &c), LINE_OK);
	assert_int_equal(line_run_grinding(l, NULL, NULL, &c), LINE_OK);
	assert_int_equal(line_run_modules(l, NULL, NULL, &c), LINE_OK);
	double frac = (double)c.part[LINE_PART_GRINDING].out /
		      (double)c.part[LINE_PART_GRINDING].in;
	print_message("grinding: %" PRIu64 " of %" PRIu64 " wafers in spec "
		      "(%.3f, expected 0.683)\n",
		      c.part[1].out, c.part[1].in, frac);
	assert_true(fabs(frac - 0.6827) < 0.08);
	/* Module count = good dies of wafers in spec, none else. */
	size_t cap = 0, n;
	assert_int_equal(line_wafer_map(&p, 0, 0, NULL, 0, &cap), LINE_OK);
	line_die_t *d = calloc(cap, sizeof *d);
	mes_genealogy_t *g = malloc(sizeof *g);
	uint64_t want_modules = 0, scrapped = 0;
	for (unsigned lot = 0; lot < p.lots; lot++)
		for (unsigned w = 0; w < p.wafers_per_lot; w++) {
			assert_int_equal(line_wafer_map(&p, lot, w, d, cap, &n),
					 LINE_OK);
			double th = line_sim_thickness(&p, lot, w);
			int in = th >= p.grind_min_um && th <= p.grind_max_um;
			for (size_t i = 0; i < n; i++) {
				if (d[i].bin != LINE_BIN_GOOD)
					continue;
				char hex[17];
				line_serial_hex(d[i].serial, hex);
				assert_int_equal(mes_trace_chip(e.m, hex, g),
						 MES_OK);
				assert_int_equal(g->has_grinding, 1);
				assert_int_equal(g->grinding.pass, in);
				assert_true(fabs(g->grinding.thickness_um -
						 th) < 1e-9);
				if (in) {
					want_modules++;
					assert_true(g->module.id > 0);
				} else {
					scrapped++;
					assert_int_equal(g->module.id, 0);
				}
			}
		}
	assert_int_equal(c.part[LINE_PART_MODULE].in, want_modules);
	assert_int_equal(c.part[LINE_PART_MODULE].out, want_modules);
	assert_true(scrapped > 0);
	free(g);
	free(d);
	line_close(l);
	env_close(&e);
}

/* Files, a rerun that adds nothing, and a run resumed part by part that
 * ends where a clean run ends. */
static void test_files_rerun_resume(void **state)
{
	(void)state;
	env_t e;
	env_open(&e);
	line_params_t p;
	small_params(&p, "ORD-FILE");
	char chips[300];
	snprintf(chips, sizeof chips, "%s/chips", e.dir);
	p.chip_dir = chips;
	p.cards_wanted = 100;
	line_t *l = open_line(&p, e.m);
	line_counts_t c;
	run_ok(l, &c);
	assert_true(c.part[LINE_PART_CARD_BODY].out <= 100);
	struct chk k = { l, e.m, 0, 0, 0, 0 };
	check_chips(&k, &p);
	line_close(l);
	mes_counts_t before, after;
	assert_int_equal(mes_counts(e.m, 0, &before), MES_OK);

	/* Rerun: same counts, nothing added, database unchanged. */
	env_reopen(&e);
	l = open_line(&p, e.m);
	line_counts_t c2;
	run_ok(l, &c2);
	for (int i = 0; i < LINE_PARTS; i++) {
		assert_int_equal(c2.part[i].in, c.part[i].in);
		assert_int_equal(c2.part[i].out, c.part[i].out);
		assert_int_equal(c2.part[i].added, 0);
	}
	assert_int_equal(c2.chips_added, 0);
	assert_int_equal(mes_counts(e.m, 0, &after), MES_OK);
	assert_memory_equal(&before, &after, sizeof before);
	line_close(l);

	/* Resume: another order run in steps, with a new line_t between
	 * parts and a chip stamped before its record (a kill between the
	 * PUT DATA and the commit), ends like a clean run. */
	line_params_t q = p;
	q.order_name = "ORD-FILE2";
	q.lot_prefix = "F2";
	q.serial_prefix = 0x46320000;
	l = open_line(&q, e.m);
	line_counts_t cq;
	memset(&cq, 0, sizeof cq);
	assert_int_equal(line_run_fab(l, NULL, NULL, &cq), LINE_OK);
	assert_int_equal(line_run_grinding(l, NULL, NULL, &cq), LINE_OK);
	line_close(l);
	/* Pre-stamp the first good chip that will pass its module test. */
	size_t cap = 0, n;
	assert_int_equal(line_wafer_map(&q, 0, 0, NULL, 0, &cap), LINE_OK);
	line_die_t *d = calloc(cap, sizeof *d);
	assert_int_equal(line_wafer_map(&q, 0, 0, d, cap, &n), LINE_OK);
	for (size_t i = 0; i < n; i++) {
		if (d[i].bin != LINE_BIN_GOOD ||
		    !line_sim_module_ok(&q, 0, 0, (unsigned)i))
			continue;
		char hex[17], path[512];
		line_serial_hex(d[i].serial, hex);
		snprintf(path, sizeof path, "%s/%s.img", chips, hex);
		hal_file_t *f;
		assert_int_equal(hal_file_open(path, &f), HAL_HOST_OK);
		static cos_chip_t chip;
		uint8_t atr[COS_ATR_MAX], r[COS_RAPDU_MAX];
		size_t an, rl;
		assert_int_equal(cos_power_on(&chip, hal_file_hal(f), atr,
					      sizeof atr, &an),
				 COS_OK);
		uint16_t date =
			line_yddd(line_day_of(q.start_us) + q.days_module);
		uint8_t put[9] = { 0x00,
				   0xDA,
				   0xDF,
				   0x41,
				   4,
				   (uint8_t)(q.module_fabricator >> 8),
				   (uint8_t)q.module_fabricator,
				   (uint8_t)(date >> 8),
				   (uint8_t)date };
		assert_int_equal(cos_transmit(&chip, put, 9, r, sizeof r, &rl),
				 COS_OK);
		assert_int_equal(r[0] << 8 | r[1], 0x9000);
		cos_power_off(&chip);
		hal_file_close(f);
		break;
	}
	free(d);
	l = open_line(&q, e.m);
	line_counts_t cr;
	run_ok(l, &cr);
	assert_int_equal(cr.part[LINE_PART_FAB].added, 0);
	assert_int_equal(cr.part[LINE_PART_GRINDING].added, 0);
	assert_int_equal(cr.part[LINE_PART_MODULE].added,
			 cr.part[LINE_PART_MODULE].in);
	/* Same figures as the first order's clean run (same seed, same
	 * parameters but names and serials). */
	for (int i = 0; i < LINE_PARTS; i++) {
		assert_int_equal(cr.part[i].in, c.part[i].in);
		assert_int_equal(cr.part[i].out, c.part[i].out);
	}
	struct chk k2 = { l, e.m, 0, 0, 0, 0 };
	check_chips(&k2, &q);
	mes_counts_t o1, o2;
	assert_int_equal(mes_counts(e.m, 1, &o1), MES_OK);
	assert_int_equal(mes_counts(e.m, line_order_id(l), &o2), MES_OK);
	o1.events = o2.events = 0;
	assert_memory_equal(&o1, &o2, sizeof o1);
	line_close(l);
	env_close(&e);
}

/* The transport code: never in the database, yet it opens the chip. */
static void test_transport_secret(void **state)
{
	(void)state;
	env_t e;
	env_open(&e);
	line_params_t p;
	small_params(&p, "ORD-SECRET");
	p.wafers_per_lot = 1;
	line_t *l = open_line(&p, e.m);
	line_counts_t c;
	run_ok(l, &c);
	mes_close(e.m);
	e.m = NULL;
	/* Every code, searched in the database file and its WAL. */
	size_t cap = 0, n;
	assert_int_equal(line_wafer_map(&p, 0, 0, NULL, 0, &cap), LINE_OK);
	line_die_t *d = calloc(cap, sizeof *d);
	assert_int_equal(line_wafer_map(&p, 0, 0, d, cap, &n), LINE_OK);
	const char *files[] = { "mes.db", "mes.db-wal" };
	size_t checked = 0;
	for (int fi = 0; fi < 2; fi++) {
		char path[400];
		snprintf(path, sizeof path, "%s/%s", e.dir, files[fi]);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		uint8_t *buf = malloc((size_t)sz + 1);
		assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
		fclose(f);
		for (size_t i = 0; i < n; i++) {
			if (d[i].bin != LINE_BIN_GOOD)
				continue;
			uint8_t code[8];
			char ref[64];
			test_code(NULL, d[i].serial, code, ref, sizeof ref);
			assert_null(memmem(buf, (size_t)sz, code, 8));
			char hx[17];
			line_serial_hex(code, hx);
			assert_null(memmem(buf, (size_t)sz, hx, 16));
			checked++;
		}
		free(buf);
	}
	assert_true(checked > 0);
	/* The code opens a chip: VERIFY P2 1F -> INITIALIZATION. */
	for (size_t i = 0; i < n; i++) {
		if (d[i].bin != LINE_BIN_GOOD)
			continue;
		char hex[17];
		line_serial_hex(d[i].serial, hex);
		const hal_t *hal = line_chip_hal(l, hex);
		assert_non_null(hal);
		static cos_chip_t chip;
		uint8_t atr[COS_ATR_MAX], r[COS_RAPDU_MAX],
			cmd[13] = { 0x00, 0x20, 0x00, 0x1F, 8 };
		size_t an, rl;
		char ref[64];
		assert_int_equal(cos_power_on(&chip, hal, atr, sizeof atr, &an),
				 COS_OK);
		test_code(NULL, d[i].serial, cmd + 5, ref, sizeof ref);
		assert_int_equal(cos_transmit(&chip, cmd, 13, r, sizeof r, &rl),
				 COS_OK);
		assert_int_equal(r[rl - 2] << 8 | r[rl - 1], 0x9000);
		cos_info_t info;
		assert_int_equal(cos_get_info(&chip, &info), COS_OK);
		assert_int_equal(info.lifecycle, COS_LC_INITIALIZATION);
		cos_power_off(&chip);
		break;
	}
	free(d);
	line_close(l);
	char err[256];
	assert_int_equal(mes_open(e.db, &e.m, err, sizeof err), MES_OK);
	env_close(&e);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs the whole line on a database and chip folder in a child process,
 * killed with SIGKILL after delay_s (never if < 0). */
static void run_child(const env_t *e, line_params_t *p, double delay_s)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		mes_t *m;
		char err[256];
		if (mes_open(e->db, &m, err, sizeof err) != MES_OK)
			_exit(2);
		line_t *l = NULL;
		if (line_open(p, m, &l, err, sizeof err) != LINE_OK)
			_exit(3);
		line_status_t st = line_run(l, NULL, NULL, NULL);
		line_close(l);
		mes_close(m);
		_exit(st == LINE_OK ? 0 : 4);
	}
	if (delay_s >= 0) {
		struct timespec ts = {
			(time_t)delay_s,
			(long)((delay_s - (double)(time_t)delay_s) * 1e9)
		};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (delay_s < 0)
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* SIGKILL at several points of a run, then a rerun: the database and the
 * chips end as a clean run leaves them. */
static void test_kill_resume(void **state)
{
	(void)state;
	line_params_t p;
	small_params(&p, "ORD-KILL");
	p.lots = 2;
	p.wafers_per_lot = 2;
	p.batch = 8;
	env_t clean;
	env_open(&clean);
	char chips[300];
	snprintf(chips, sizeof chips, "%s/chips", clean.dir);
	p.chip_dir = chips;
	double t0 = now_s();
	run_child(&clean, &p, -1);
	double took = now_s() - t0;
	env_reopen(&clean);
	mes_counts_t want;
	assert_int_equal(mes_counts(clean.m, 0, &want), MES_OK);
	line_t *cl = open_line(&p, clean.m);
	const double frac[] = { 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95 };
	for (size_t i = 0; i < sizeof frac / sizeof frac[0]; i++) {
		env_t e;
		env_open(&e);
		char dir[300];
		snprintf(dir, sizeof dir, "%s/chips", e.dir);
		line_params_t q = p;
		q.chip_dir = dir;
		run_child(&e, &q, took * frac[i]);
		run_child(&e, &q, -1);
		env_reopen(&e);
		mes_counts_t got;
		assert_int_equal(mes_counts(e.m, 0, &got), MES_OK);
		assert_memory_equal(&want, &got, sizeof want);
		line_t *l = open_line(&q, e.m);
		struct chk k = { l, e.m, 0, 0, 0, 0 };
		check_chips(&k, &q);
		/* The chip images equal the clean run's, byte for byte. */
		size_t cap = 0, n;
		assert_int_equal(line_wafer_map(&q, 1, 1, NULL, 0, &cap),
				 LINE_OK);
		line_die_t *d = calloc(cap, sizeof *d);
		assert_int_equal(line_wafer_map(&q, 1, 1, d, cap, &n), LINE_OK);
		for (size_t j = 0; j < n; j++) {
			if (d[j].bin != LINE_BIN_GOOD)
				continue;
			char hex[17], pa[512], pb[512];
			line_serial_hex(d[j].serial, hex);
			line_chip_path(cl, hex, pa, sizeof pa);
			line_chip_path(l, hex, pb, sizeof pb);
			hal_file_t *fa, *fb;
			assert_int_equal(hal_file_open_ro(pa, &fa),
					 HAL_HOST_OK);
			assert_int_equal(hal_file_open_ro(pb, &fb),
					 HAL_HOST_OK);
			const hal_t *ha = hal_file_hal(fa),
				    *hb = hal_file_hal(fb);
			/* Same CPLC and state; the journal area may differ
			 * after a recovery, so compare what the chip says. */
			static cos_chip_t ca, cb;
			uint8_t atr[COS_ATR_MAX];
			size_t an;
			assert_int_equal(
				cos_power_on(&ca, ha, atr, sizeof atr, &an),
				COS_OK);
			assert_int_equal(
				cos_power_on(&cb, hb, atr, sizeof atr, &an),
				COS_OK);
			cos_info_t ia, ib;
			assert_int_equal(cos_get_info(&ca, &ia), COS_OK);
			assert_int_equal(cos_get_info(&cb, &ib), COS_OK);
			assert_memory_equal(ia.cplc, ib.cplc, COS_CPLC_LEN);
			assert_memory_equal(ia.serial, ib.serial, 8);
			assert_int_equal(ia.lifecycle, ib.lifecycle);
			cos_power_off(&ca);
			cos_power_off(&cb);
			hal_file_close(fa);
			hal_file_close(fb);
		}
		free(d);
		line_close(l);
		env_close(&e);
	}
	print_message("clean run %.3f s; killed at 7 points, resumed\n", took);
	line_close(cl);
	env_close(&clean);
}

static void progress_cb(void *ctx, line_part_t part, uint64_t done,
			uint64_t total)
{
	uint64_t *last = ctx;
	assert_true(done <= total);
	last[part] = done;
	last[LINE_PARTS] = total;
}

static void test_progress(void **state)
{
	(void)state;
	env_t e;
	env_open(&e);
	line_params_t p;
	small_params(&p, "ORD-PROG");
	line_t *l = open_line(&p, e.m);
	uint64_t last[LINE_PARTS + 1] = { 0 };
	assert_int_equal(line_run(l, progress_cb, last, NULL), LINE_OK);
	for (int i = 0; i < LINE_PARTS; i++)
		assert_int_equal(last[i], p.lots * p.wafers_per_lot);
	line_close(l);
	env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yield_model),
		cmocka_unit_test(test_wafer_map_reproducible),
		cmocka_unit_test(test_atr_and_dates),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_run_ram),
		cmocka_unit_test(test_grinding_spec),
		cmocka_unit_test(test_files_rerun_resume),
		cmocka_unit_test(test_transport_secret),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_kill_resume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
