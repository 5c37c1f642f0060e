/*
 * cli.h - the subcommands of `cardfab`, one file each, and what one
 * subcommand lends another.
 *
 * A command is int cmd_NAME(int argc, char **argv): argv[0] is the command's
 * name, the rest its arguments; it returns CLI_OK, CLI_FAIL or CLI_USAGE
 * (cli_util.h), the process's exit status. usage_NAME(f) prints its full
 * help (for `cardfab help NAME` and `cardfab NAME --help`).
 */
#ifndef CARDFAB_CLI_H
#define CARDFAB_CLI_H

#include <stdio.h>

#include "cli/cli_util.h"

int cmd_chip(int argc, char **argv);
void usage_chip(FILE *f);
int cmd_apdu(int argc, char **argv);
void usage_apdu(FILE *f);
int cmd_script(int argc, char **argv);
void usage_script(FILE *f);
int cmd_demo(int argc, char **argv);
void usage_demo(FILE *f);
int cmd_vicc(int argc, char **argv);
void usage_vicc(FILE *f);
int cmd_readers(int argc, char **argv);
void usage_readers(FILE *f);
int cmd_profile(int argc, char **argv);
void usage_profile(FILE *f);
int cmd_keys(int argc, char **argv);
void usage_keys(FILE *f);
int cmd_prep(int argc, char **argv);
void usage_prep(FILE *f);
int cmd_init(int argc, char **argv);
void usage_init(FILE *f);
int cmd_run(int argc, char **argv);
void usage_run(FILE *f);
int cmd_station(int argc, char **argv);
void usage_station(FILE *f);

/* ---- run.c, for the demo ---- */

/* What `cardfab run` is given (docs/run.md). */
typedef struct {
	const char *order_file;
	const char *work;  /* NULL: ./NAME.work */
	const char *db;	   /* NULL: sqlite:WORK/cardfab.db */
	unsigned stations; /* 0: the order's */
	int prepare_only;  /* 1: stop before parts 6 and 7 */
	const char *token_dir, *token_module, *token_label, *pin_file,
		*pin_env; /* NULL: the work folder's own token */
} run_opts_t;

/* Run an order to the end (or resume it); CLI_OK or CLI_FAIL (printed). */
int run_order(const run_opts_t *ro);
int cmd_perso(int argc, char **argv);
void usage_perso(FILE *f);
int cmd_report(int argc, char **argv);
void usage_report(FILE *f);
int cmd_trace(int argc, char **argv);
void usage_trace(FILE *f);

/* ---- chip.c, for the demo ---- */

/*
 * Print what `cardfab chip info` prints about a powered card: model,
 * serial, life cycle, budget, files with their access conditions, PIN and
 * key objects (never a value), CPLC. Every line starts with indent.
 * CLI_OK or CLI_FAIL (printed).
 */
int chip_print_info(FILE *f, const cli_card_t *card, const char *indent);
/* The 42 CPLC bytes, one field a line, dates decoded. */
void chip_print_cplc(FILE *f, const uint8_t cplc[COS_CPLC_LEN],
		     const char *indent);
/*
 * The data field of FAB CLOSE (80 34): 80 serial, 81 transport code, 82
 * tries, 83 fabrication date, 84 batch. Returns its length (31 bytes).
 * out holds the transport code afterwards: the caller wipes it.
 */
size_t chip_fab_close_data(uint8_t out[32], const uint8_t serial[8],
			   const uint8_t tcode[8], uint8_t tries,
			   const uint8_t date[2], const uint8_t batch[2]);
/* Offset of the transport code within chip_fab_close_data's output. */
#define CHIP_FAB_CLOSE_TCODE_OFF 12u

#endif
