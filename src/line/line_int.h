/*
 * line_int.h - what the files of src/line share and nobody else sees: the
 * keyed PRNG, the wafer model's entry points, the handle.
 */
#ifndef CARDFAB_LINE_INT_H
#define CARDFAB_LINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "line/line.h"

/* ---- the PRNG: splitmix64, one stream per (seed, purpose, item) ----
 * Keyed streams make every value a function of what it is about, not of
 * how many values were drawn before: a resumed part draws what a clean
 * run draws for the items left. */
typedef struct {
	uint64_t s;
} line_rng_t;

enum {
	RNG_FIELD = 1, /* the clustering field of a wafer */
	RNG_DIE,       /* a die's probe */
	RNG_GRIND,     /* a wafer's thickness */
	RNG_MODULE,    /* a die's module assembly */
	RNG_CARD,      /* a module's card body */
};

void line_rng_init(line_rng_t *r, uint64_t seed, unsigned purpose, unsigned lot,
		   unsigned wafer, unsigned die);
uint64_t line_rng_next(line_rng_t *r);
double line_rng_unit(line_rng_t *r);   /* [0, 1) */
double line_rng_normal(line_rng_t *r); /* N(0, 1) */

/* Parameters checked (and defaults of zeroed fields NOT applied: callers
 * start from line_params_default). why receives what is wrong. */
line_status_t line_params_check(const line_params_t *p, char *why, size_t cap);

/* Thickness of a wafer after grinding, and the module and card body
 * outcomes of a die: pure functions of the parameters. */
double line_sim_thickness(const line_params_t *p, unsigned lot, unsigned wafer);
int line_sim_module_ok(const line_params_t *p, unsigned lot, unsigned wafer,
		       unsigned die);
void line_sim_card(const line_params_t *p, unsigned lot, unsigned wafer,
		   unsigned die, int *embed_ok, int *print_ok);

/* Days since the epoch of a time, and GlobalPlatform's YDDD (BCD) of a
 * day. */
int64_t line_day_of(int64_t us);
uint16_t line_yddd(int64_t day);

/* The ATR is well formed: TS, T0, interface bytes, historical bytes and,
 * when a protocol other than T=0 is offered, a TCK that checks. */
int line_atr_valid(const uint8_t *atr, size_t n);

void line_wipe(void *p, size_t n);

#endif
