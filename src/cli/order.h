/*
 * order.h - a production order file (YAML), as `cardfab run` reads it:
 * which card, for whom, how many, and how the simulated line makes them
 * (docs/run.md).
 *
 *     name: CAMPUS-2026-001             the order's reference (the MES's)
 *     profile: ../profiles/campus.yaml  relative to the order file
 *     holders: holders.csv              relative to the order file
 *     quantity: 1000
 *     seed: 2026                        the line simulator's seed
 *     stations: 2                       init and perso stations (threads)
 *     line: {lots: 1, wafers-per-lot: 2, wafer-diameter-mm: 150, ...}
 *     keys: {transport: TMK, wrap: CARD-WRAP, batch: BATCH-KEY,
 *            mailer: MAILER-KEY}
 *     ids: {prepersonalizer: 0x4346, init-equipment: 1,
 *           personalizer: 0x4346, perso-equipment: 2}
 *
 * Why a file of its own: an order is what a card bureau agrees with its
 * customer and runs for days; the command line only says where to run it.
 * Every key is checked: an unknown key, a value of the wrong kind or out
 * of range is reported as "FILE:LINE: FIELD: expected ...". What the file
 * leaves out comes from line_params_default() and the defaults below;
 * with no lots or wafers given, the line is sized from the quantity.
 */
#ifndef CARDFAB_CLI_ORDER_H
#define CARDFAB_CLI_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "line/line.h"

#define ORDER_DEFAULT_TMK "TMK"
#define ORDER_DEFAULT_WRAP "CARD-WRAP"
#define ORDER_DEFAULT_BATCH "BATCH-KEY"
#define ORDER_DEFAULT_MAILER "MAILER-KEY"
#define ORDER_DEFAULT_STATIONS 2u
#define ORDER_MAX_STATIONS 64u

typedef struct {
	char *file;    /* the order file as given */
	char *name;    /* name: */
	char *profile; /* the profile's path, resolved against the file */
	char *holders; /* the holder file's path, resolved likewise */
	int64_t quantity;
	uint64_t seed;
	unsigned stations;
	int line_sized;	    /* 1: lots or wafers-per-lot given in the file */
	int64_t fab_day_us; /* line.fab-date: (0: the order's creation) */

	line_params_t line; /* strings point into this order_t */
	char *lot_prefix, *fab_name;

	char *tmk, *wrap_key, *batch_key, *mailer_key;
	uint16_t prepersonalizer, personalizer;
	uint32_t init_equipment, perso_equipment;
} order_t;

/*
 * Read and check an order file. 0, or -1 with err (FILE:LINE: FIELD:
 * what was expected). The order is the caller's: order_free().
 */
int order_load(const char *path, order_t *o, char *err, size_t errcap);
void order_free(order_t *o);

/*
 * Size the line for the quantity when the file did not: enough wafers
 * of the file's geometry that the expected good card bodies (probe
 * yield, grinding, module, embedding and printing losses) cover the
 * quantity with a margin. Sets cards_wanted to the quantity (card bodies
 * are made until that many are built). 0, or -1 with err.
 */
int order_size_line(order_t *o, char *err, size_t errcap);

#endif
