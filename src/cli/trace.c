/*
 * trace.c - `cardfab trace`: the genealogy of a chip or a card (order, lot,
 * wafer, die and its probe values, grinding, module and its ATR, card body,
 * CPLC stamps, init and perso runs, holder), or of the card issued to a
 * holder.
 *
 *   cardfab trace SERIAL [--db URL]
 *   cardfab trace --holder ID [--order NAME] [--db URL]
 *
 * Thin: the MES answers in one query (mes_trace_*); src/line/report.c
 * prints it.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "line/report.h"
#include "mes/mes.h"

/* Also in cli.h. */
int cmd_trace(int argc, char **argv);
void usage_trace(FILE *f);

#define TOPIC "trace"
#define DEFAULT_DB "cardfab.db"

void usage_trace(FILE *f)
{
	fputs("usage: cardfab trace SERIAL [--db URL]\n"
	      "       cardfab trace --holder ID [--order NAME] [--db URL]\n"
	      "\n"
	      "Prints what made a card, one fact a line: its order, wafer "
	      "lot, wafer, die\n"
	      "(position, probe bin, test values), grinding, module and its "
	      "ATR, card\n"
	      "body, the CPLC fields stamped, the latest initialization and "
	      "personalization\n"
	      "runs (station, times, outcome), and the holder it was issued "
	      "to with the\n"
	      "holder's fields. SERIAL is a chip serial (16 hex digits) or a "
	      "card body\n"
	      "serial; --holder finds the card issued to a holder id (in "
	      "ORDER, or the\n"
	      "latest issued in any order).\n"
	      "\n"
	      "  --db URL       the database [CARDFAB_DB] (default " DEFAULT_DB
	      ")\n"
	      "  --holder ID    a holder's id instead of a serial\n"
	      "  --order NAME   with --holder: the order\n"
	      "\n"
	      "Exit status: 0 found, 1 unknown serial or holder, or failure, "
	      "2 usage\n"
	      "error.\n",
	      f);
}

int cmd_trace(int argc, char **argv)
{
	enum { O_DB = 256, O_HOLDER, O_ORDER };
	static const struct option lopts[] = {
		{ "db", required_argument, NULL, O_DB },
		{ "holder", required_argument, NULL, O_HOLDER },
		{ "order", required_argument, NULL, O_ORDER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = getenv("CARDFAB_DB"), *holder = NULL, *order = NULL,
		   *serial = NULL;
	char err[MES_DETAIL_MAX + 128];
	report_status_t st;
	mes_t *m = NULL;
	int c;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_trace(stdout);
			return CLI_OK;
		case O_DB:
			db = optarg;
			break;
		case O_HOLDER:
			holder = optarg;
			break;
		case O_ORDER:
			order = optarg;
			break;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind < argc)
		serial = argv[optind++];
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (!serial == !holder)
		return cli_usage_error(TOPIC, "a SERIAL or --holder ID "
					      "expected (one of them)");
	if ((serial && !serial[0]) || (holder && !holder[0]))
		return cli_usage_error(TOPIC, "empty serial or holder id");
	if (order && !holder)
		return cli_usage_error(TOPIC, "--order goes with --holder");
	if (!db || !db[0])
		db = DEFAULT_DB;

	st = report_open_db(db, &m, err, sizeof err);
	if (st != REPORT_OK) {
		cli_error("%s (--db or CARDFAB_DB)", err);
		return CLI_FAIL;
	}
	if (serial)
		st = report_trace_serial(m, serial, stdout, err, sizeof err);
	else
		st = report_trace_holder(m, order, holder, stdout, err,
					 sizeof err);
	if (st != REPORT_OK)
		cli_error("%s", err);
	mes_close(m);
	return st == REPORT_OK ? CLI_OK : CLI_FAIL;
}
