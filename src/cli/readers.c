/*
 * readers.c - `cardfab readers`: the PC/SC readers pcscd knows, one a line,
 * with whether each holds a card, and the --card string that names it.
 * What to type after --card pcsc: when the reader's name is not known.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "reader/reader.h"

#define TOPIC "readers"

void usage_readers(FILE *f)
{
	fputs("usage: cardfab readers\n"
	      "\n"
	      "Lists the PC/SC readers pcscd knows, one a line: whether it "
	      "holds a card\n"
	      "(card, empty, mute), then the reader's name, to use as --card "
	      "'pcsc:NAME'.\n"
	      "Exit status 1 if pcscd is not running.\n",
	      f);
}

int cmd_readers(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char list[8192], err[READER_DETAIL_MAX], *line, *tab, *save = NULL;
	reader_status_t st;
	int c;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage_readers(stdout);
			return CLI_OK;
		}
		return cli_option_error(c, argv, TOPIC);
	}
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	st = reader_pcsc_list(list, sizeof list, err, sizeof err);
	if (st != READER_OK && st != READER_ERR_BUFFER) {
		cli_error("%s", err[0] ? err : reader_strerror(st));
		return CLI_FAIL;
	}
	if (list[0] == '\0') {
		cli_error("pcscd runs but sees no reader");
		return CLI_OK;
	}
	for (line = strtok_r(list, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		tab = strchr(line, '\t');
		if (tab == NULL)
			continue;
		*tab = '\0';
		printf("%-6s pcsc:%s\n", tab + 1, line);
	}
	return CLI_OK;
}
