/*
 * line.h - the line simulator (parts 2 to 5 of making a card): the whole
 * interface of src/line.
 *
 * With no factory attached, the line simulator produces what the equipment
 * of a card factory would report to the MES, with realistic yields and
 * defects, and a virtual chip for every good die, so that initialization
 * and personalization (parts 6 and 7) run for real on it:
 *
 *   part 2  fab: wafer lots, dies on a round wafer, probe bins with spatial
 *           defects (clustered kills, radial edge loss); every good die is
 *           formatted (cos_format) and closed through FAB CLOSE (serial,
 *           transport code, tries, fabrication date, batch): a chip image in
 *           TRANSPORT. A wafer whose every die failed is scrapped at probe.
 *   part 3  grinding: one thickness a wafer against the spec; the dies of an
 *           out-of-spec wafer are scrapped.
 *   part 4  modules: assembly defects (a mute module), module test (the chip
 *           is powered up through cos_power_on and its ATR checked: TS, T0,
 *           interface bytes, TCK); a passing module gets the module
 *           maker's CPLC stamp (PUT DATA DF41).
 *   part 5  card bodies: embedding and printing defects; an embedded module
 *           gets the card maker's stamp (PUT DATA DF42).
 *
 *     line_params_t p;
 *     line_params_default(&p);
 *     p.order_name = "ORD-1"; p.transport = my_code_fn; ...
 *     line_t *l;
 *     line_open(&p, mes, &l, err, sizeof err);
 *     line_run(l, progress, ctx, &counts);    // or line_run_fab() ... one by
 * one line_close(l);
 *
 * Reproducible: everything random comes from a small PRNG of this folder,
 * keyed by (seed, part, lot, wafer, die): a run gives the same bins, serials,
 * values and chip images bit for bit for a seed, and a part resumed after a
 * kill draws the same values for what is left. Simulated times come from
 * params.start_us, not the clock.
 *
 * Resumable and idempotent: each part asks the MES what it has already and
 * skips it; writes are batched (a transaction per wafer at the fab, per
 * params.batch items after); event ids name the step and the item
 * ("probe/LOT/W/X,Y"), so a rerun after a kill counts nothing twice. A
 * chip is stamped before its record is committed, and a stamp the chip
 * already carries with the same value is accepted: chip and database agree
 * whatever the point of the kill.
 *
 * Secrets: the transport code comes from the caller's callback (later a
 * PKCS#11 token deriving it from a master key and the serial), goes to the
 * chip in FAB CLOSE and is wiped; it is never stored (the MES keeps the
 * key reference the callback gives), logged, nor put in an error message.
 *
 * Errors: one enum, line_strerror(), and line_error_detail() for what failed
 * in the handle's last call (names the item, never a secret). A line_t is
 * used by one thread at a time.
 */
#ifndef CARDFAB_LINE_H
#define CARDFAB_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"
#include "mes/mes.h"

typedef enum {
	LINE_OK = 0,
	LINE_ERR_PARAM, /* a bad parameter (the detail names it) */
	LINE_ERR_NOMEM,
	LINE_ERR_MES,	/* the database refused or failed (detail says) */
	LINE_ERR_IMAGE, /* a chip image could not be made, opened, written */
	LINE_ERR_CHIP,	/* the card OS refused a step (detail: SW, serial) */
	LINE_ERR_TRANSPORT, /* the transport code callback failed */
	LINE_ERR_CONFLICT,  /* the database holds something else under a name
			       this run would use (another order's lot or chip)
			     */
	LINE_ERR_ORDER, /* parts run out of order (e.g. modules before fab) */
} line_status_t;

const char *line_strerror(line_status_t st);

/* Probe bins. 1 is the industry's hard bin 1 (MES_BIN_GOOD). */
#define LINE_BIN_GOOD 1	      /* passed every test */
#define LINE_BIN_FUNCTIONAL 2 /* killed by a defect: logic or NVM test */
#define LINE_BIN_SHORT 3      /* killed by a defect: supply short (IDD) */
#define LINE_BIN_LEAKAGE 4    /* parametric: leakage above the limit (edge) */
#define LINE_BINS 5	      /* bins are 1 .. LINE_BINS - 1 */

/* "good", "functional", "short", "leakage"; "unknown" for any other. */
const char *line_bin_name(int bin);

/*
 * The transport code of a chip, from its serial. Fills code (8 bytes) and
 * key_ref (the token object's label or id, NUL-terminated in key_ref_cap
 * bytes; may be left empty); returns 0 on success, anything else fails the
 * run with LINE_ERR_TRANSPORT. Must be deterministic per serial: a chip
 * remade after a kill gets the same code.
 */
typedef int (*line_transport_fn)(void *ctx, const uint8_t serial[8],
				 uint8_t code[8], char *key_ref,
				 size_t key_ref_cap);

/* Parts, for progress and counts. */
typedef enum {
	LINE_PART_FAB = 0,
	LINE_PART_GRINDING = 1,
	LINE_PART_MODULE = 2,
	LINE_PART_CARD_BODY = 3,
	LINE_PARTS = 4
} line_part_t;

/* Called now and then during a part (and once at its end, done == total). */
typedef void (*line_progress_fn)(void *ctx, line_part_t part, uint64_t done,
				 uint64_t total);

typedef struct {
	/* The order: found by name, or created (profile fields for a new one).
	 */
	const char *order_name;
	const char *profile_name; /* default "none" */
	const char *profile_hash; /* default "none" */
	int64_t quantity;	  /* cards ordered; 0: lots*wafers*dies */
	uint64_t seed;		  /* reproducibility */
	int64_t start_us;	  /* simulated first day of the fab, epoch
				     microseconds (0: now; set it for a
				     reproducible run) */

	/* Where chips go: one image a chip, chip_dir/<SERIAL>.img; chip_dir
	 * NULL: in RAM (line_chip_hal() reaches them; lost at line_close). */
	const char *chip_dir;
	const char *chip_model; /* default "cf32" */

	/* Part 2: lots and wafers. */
	const char *lot_prefix; /* lots "<prefix>-0001"; <= 20 characters;
				   default "L<order id>" */
	const char *fab_name;	/* default "cardfab-fab" */
	unsigned lots, wafers_per_lot; /* 1..4095, 1..32 */
	double wafer_diameter_mm;      /* default 200 */
	double edge_exclusion_mm;      /* default 3: no die printed there */
	double die_w_mm, die_h_mm;     /* default 4 x 4 (1,800-odd dies) */
	uint32_t serial_prefix; /* chip serial: prefix (4 bytes) | lot (12
				   bits) | wafer (5) | die index (15) */

	/* Probe yield model: the expected fraction of good dies is
	 * probe_yield. Defect kills follow a negative binomial model with
	 * clustering cluster_alpha (steps of 0.5; small: strong clusters)
	 * made spatial by a smooth random field of cluster_radius dies;
	 * edge loss: an extra survival factor 1 - edge_loss *
	 * exp(-d / edge_width_mm), d the die's distance to the usable edge. */
	double probe_yield;    /* default 0.85 */
	double cluster_alpha;  /* default 1.5, 0.5..8 */
	double cluster_radius; /* dies, default 2.5, 0..8 */
	double edge_loss;      /* default 0.5, 0..1 */
	double edge_width_mm;  /* default 6 */
	double short_fraction; /* of defect kills binned SHORT, def. 0.3 */

	/* Part 3: thickness after grinding, normal around the target. */
	double grind_target_um, grind_sigma_um; /* default 150, 4 */
	double grind_min_um, grind_max_um;	/* spec, default 140, 160 */

	/* Part 4 and 5 defect rates (0..1). */
	double module_defect_rate; /* mute module, default 0.01 */
	double embed_defect_rate;  /* default 0.005 */
	double print_defect_rate;  /* default 0.005 */

	/* CPLC and FAB CLOSE. */
	uint8_t transport_tries;    /* 1..15, default 3 */
	uint16_t module_fabricator; /* default 0x4D46 */
	uint16_t card_manufacturer; /* default 0x434D */
	unsigned days_grinding, days_module, days_card_body; /* after the
				       fab day: default 2, 5, 9 */

	/* Card bodies made until this many are BUILT (0: every module). */
	uint64_t cards_wanted;

	size_t batch; /* items per transaction after the fab,
			 default 256 */

	line_transport_fn transport; /* required */
	void *transport_ctx;
} line_params_t;

/* Defaults for everything but order_name and transport. */
void line_params_default(line_params_t *p);

typedef struct {
	uint64_t in;	/* units that entered the part (dies, wafers,
			   modules, card bodies), found or made */
	uint64_t out;	/* units that passed it */
	uint64_t added; /* units this call wrote to the database */
} line_count_t;

typedef struct {
	line_count_t part[LINE_PARTS];
	uint64_t chips;	      /* chips (good dies) of the order */
	uint64_t chips_added; /* chip images made by this call */
} line_counts_t;

typedef struct line line_t;

/*
 * Checks the parameters, finds or creates the order (its id is then
 * line_order_id()), and prepares the chip store. mes is the caller's, open
 * and migrated, not inside mes_begin(); it must outlive the line_t. The
 * strings of p are copied. err receives what failed.
 */
line_status_t line_open(const line_params_t *p, mes_t *mes, line_t **out,
			char *err, size_t errcap);
void line_close(line_t *l); /* NULL is fine; RAM chips are wiped */

const char *line_error_detail(const line_t *l);
int64_t line_order_id(const line_t *l);

/* The parts, in order; each resumes where the database stands. counts
 * (may be NULL) is filled for the part run (and chips for the fab). */
line_status_t line_run_fab(line_t *l, line_progress_fn fn, void *ctx,
			   line_counts_t *counts);
line_status_t line_run_grinding(line_t *l, line_progress_fn fn, void *ctx,
				line_counts_t *counts);
line_status_t line_run_modules(line_t *l, line_progress_fn fn, void *ctx,
			       line_counts_t *counts);
line_status_t line_run_card_bodies(line_t *l, line_progress_fn fn, void *ctx,
				   line_counts_t *counts);
/* All four. */
line_status_t line_run(line_t *l, line_progress_fn fn, void *ctx,
		       line_counts_t *counts);

/* ---- Inspecting what the line made ---- */

/* The 16 hex digits of a chip serial (buf at least 17 bytes). */
void line_serial_hex(const uint8_t serial[8], char *buf);

/* The image path of a chip (file mode), or "" in RAM mode. */
void line_chip_path(const line_t *l, const char *serial_hex, char *buf,
		    size_t cap);
/* The HAL of a chip kept in RAM (NULL if none or in file mode). Valid until
 * line_close(). */
const hal_t *line_chip_hal(line_t *l, const char *serial_hex);

/* One die of the simulated wafer map: a pure function of the parameters
 * (the same as the fab records), for tests and reports. */
typedef struct {
	int x, y;	     /* grid position, (0,0) nearest the center */
	double cx_mm, cy_mm; /* die center */
	double edge_mm;	     /* distance of its far corner to the usable edge */
	int bin;
	double idd_ua, vdd_v, leakage_na; /* NaN: not measured */
	uint8_t serial[8];		  /* meaningful for a good die */
} line_die_t;

/* The dies of wafer `wafer` (0-based) of lot `lot` (0-based), in a fixed
 * order. With dies NULL, *n receives the count only. LINE_ERR_PARAM if cap
 * is too small (*n says how many). */
line_status_t line_wafer_map(const line_params_t *p, unsigned lot,
			     unsigned wafer, line_die_t *dies, size_t cap,
			     size_t *n);

/* An SVG picture of a wafer map (dies colored by bin, a legend), as a
 * malloc'd NUL-terminated string the caller frees; NULL if out of memory. */
char *line_wafer_svg(const line_params_t *p, const line_die_t *dies, size_t n,
		     const char *title);

#endif
