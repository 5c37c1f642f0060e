/*
 * report.c - `cardfab report`: the yields of an order per part, per lot and
 * per wafer, and its counts, printed as tables and written as one HTML
 * file with bar charts and wafer maps.
 *
 *   cardfab report [ORDER] [--all] [--db URL] [--html FILE]
 *
 * Thin: src/line/report.c reads the database and draws; every number comes
 * from the database, so the report matches a query of it.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "line/report.h"
#include "mes/mes.h"

/* Also in cli.h. */
int cmd_report(int argc, char **argv);
void usage_report(FILE *f);

#define TOPIC "report"
#define DEFAULT_DB "cardfab.db"
#define HTML_NAME "cardfab-report.html"

void usage_report(FILE *f)
{
	fputs("usage: cardfab report [ORDER] [--all] [--db URL] "
	      "[--html FILE]\n"
	      "\n"
	      "Prints the yields of ORDER (an order's name; default the "
	      "latest order) per\n"
	      "part (probe, grinding, module, card body, init, perso), per "
	      "lot and per\n"
	      "wafer, and the counts of its records; writes the same as one "
	      "HTML file\n"
	      "with a yield chart per part and a wafer map per wafer, and "
	      "prints its\n"
	      "path as the last line: 'HTML report: PATH'.\n"
	      "\n"
	      "  --all        every order of the database instead of one\n"
	      "  --db URL     the database: a SQLite file (PATH or "
	      "sqlite:PATH) or\n"
	      "               postgresql://... [CARDFAB_DB] (default " DEFAULT_DB
	      ")\n"
	      "  --html FILE  where the HTML goes (default " HTML_NAME
	      " beside a SQLite\n"
	      "               database, in the current folder for "
	      "PostgreSQL)\n"
	      "\n"
	      "Exit status: 0 report written, 1 failure (no such order or "
	      "database), 2\n"
	      "usage error.\n",
	      f);
}

int cmd_report(int argc, char **argv)
{
	enum { O_DB = 256, O_HTML, O_ALL };
	static const struct option lopts[] = {
		{ "db", required_argument, NULL, O_DB },
		{ "html", required_argument, NULL, O_HTML },
		{ "all", no_argument, NULL, O_ALL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = getenv("CARDFAB_DB"), *html = NULL, *order = NULL;
	char latest[MES_NAME_MAX], path[4096], err[MES_DETAIL_MAX + 128];
	report_status_t st;
	mes_t *m = NULL;
	int c, all = 0;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_report(stdout);
			return CLI_OK;
		case O_DB:
			db = optarg;
			break;
		case O_HTML:
			html = optarg;
			break;
		case O_ALL:
			all = 1;
			break;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind < argc)
		order = argv[optind++];
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (all && order)
		return cli_usage_error(TOPIC, "an ORDER or --all, not both");
	if (html && !html[0])
		return cli_usage_error(TOPIC, "--html: empty file name");
	if (!db || !db[0])
		db = DEFAULT_DB;
	if (!html) {
		if (report_default_html_path(db, HTML_NAME, path, sizeof path))
			return cli_usage_error(TOPIC, "--db: path too long");
		html = path;
	}

	st = report_open_db(db, &m, err, sizeof err);
	if (st != REPORT_OK) {
		cli_error("%s (--db or CARDFAB_DB)", err);
		return CLI_FAIL;
	}
	if (!order && !all) {
		st = report_latest_order(m, latest, sizeof latest, err,
					 sizeof err);
		if (st != REPORT_OK)
			goto out;
		order = latest;
	}
	st = report_text(m, order, stdout, err, sizeof err);
	if (st != REPORT_OK)
		goto out;
	st = report_html(m, order, html, err, sizeof err);
	if (st == REPORT_OK)
		printf("\nHTML report: %s\n", html);
out:
	if (st != REPORT_OK)
		cli_error("%s", err);
	mes_close(m);
	if (fflush(stdout) != 0) {
		cli_error("writing the report: standard output failed");
		return CLI_FAIL;
	}
	return st == REPORT_OK ? CLI_OK : CLI_FAIL;
}
