/*
 * main.c - the `cardfab` command: a table of subcommands and the dispatch.
 *
 * Each subcommand lives in its own file (chip.c, apdu.c, script.c, demo.c,
 * vicc.c, readers.c)
 * and is thin: it parses its options, calls the libraries, prints. Exit
 * status: 0 success, 1 failure, 2 usage error (cli_util.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef CARDFAB_VERSION
#define CARDFAB_VERSION "0.1.0"
#endif

typedef struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help; /* one line */
	void (*usage)(FILE *f);
} command_t;

static int cmd_help(int argc, char **argv);
static void usage_help(FILE *f);

static const command_t commands[] = {
	{ "chip", cmd_chip, "make a virtual chip, or show what one holds",
	  usage_chip },
	{ "apdu", cmd_apdu, "send APDUs to a card and print the responses",
	  usage_apdu },
	{ "script", cmd_script,
	  "run an APDU script (pcsc-tools scriptor format)", usage_script },
	{ "demo", cmd_demo,
	  "run the sample order: 1,000 campus cards (--chip: one chip's life)",
	  usage_demo },
	{ "vicc", cmd_vicc,
	  "serve a virtual chip to pcscd (a card in 'Virtual PCD 00 00')",
	  usage_vicc },
	{ "readers", cmd_readers, "list the PC/SC readers and their cards",
	  usage_readers },
	{ "profile", cmd_profile,
	  "check a card profile (YAML) against its chip, show its design",
	  usage_profile },
	{ "keys", cmd_keys,
	  "master keys in a PKCS#11 token: init, create, import, list",
	  usage_keys },
	{ "prep", cmd_prep,
	  "data preparation: holder records (CSV) -> a batch of perso records",
	  usage_prep },
	{ "init", cmd_init,
	  "initialize one chip in TRANSPORT per a profile (part 6)",
	  usage_init },
	{ "perso", cmd_perso,
	  "personalize cards for a prepared batch (part 7), many stations",
	  usage_perso },
	{ "report", cmd_report,
	  "yields of an order per part, lot and wafer; an HTML report",
	  usage_report },
	{ "trace", cmd_trace,
	  "what made a card and for whom (chip, card or holder)",
	  usage_trace },
	{ "run", cmd_run, "run a production order: prep, parts 2 to 7, report",
	  usage_run },
	{ "station", cmd_station,
	  "one init or perso station of an order (many hosts, one MES)",
	  usage_station },
	{ "help", cmd_help, "show the help of a command", usage_help },
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const command_t *find(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fputs("usage: cardfab COMMAND [ARGS...]\n"
	      "       cardfab help COMMAND | --help | --version\n"
	      "\n"
	      "cardfab makes IC cards: it takes a chip from the fab to the "
	      "card holder.\n"
	      "\n"
	      "commands:\n",
	      f);
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fputs("\n"
	      "A card (--card) is a virtual chip, vcard:PATH or PATH, PATH its "
	      "EEPROM image\n"
	      "(made by 'cardfab chip new'), or a card in a PC/SC reader: "
	      "pcsc:NAME (the\n"
	      "reader's name or a unique prefix), pcsc: (the first reader "
	      "with a card).\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      f);
}

static void usage_help(FILE *f)
{
	fputs("usage: cardfab help [COMMAND]\n"
	      "\n"
	      "Shows the help of COMMAND, or the list of commands.\n",
	      f);
}

static int cmd_help(int argc, char **argv)
{
	const command_t *c;

	(void)argv;
	if (argc < 2) {
		usage(stdout);
		return CLI_OK;
	}
	if (argc > 2)
		return cli_usage_error("help",
				       "one command name expected, "
				       "got %d arguments",
				       argc - 1);
	c = find(argv[1]);
	if (c == NULL)
		return cli_usage_error("help", "unknown command '%s'", argv[1]);
	c->usage(stdout);
	return CLI_OK;
}

int main(int argc, char **argv)
{
	const command_t *c;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("cardfab %s\n", CARDFAB_VERSION);
		return CLI_OK;
	}
	if (argv[1][0] == '-') {
		fprintf(stderr,
			"cardfab: unknown option '%s' (see 'cardfab --help')\n",
			argv[1]);
		return CLI_USAGE;
	}
	c = find(argv[1]);
	if (c == NULL) {
		fprintf(stderr,
			"cardfab: unknown command '%s' (see 'cardfab --help')\n",
			argv[1]);
		return CLI_USAGE;
	}
	cli_set_command(c->name);
	return c->fn(argc - 1, argv + 1);
}
