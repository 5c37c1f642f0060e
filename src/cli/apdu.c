/*
 * apdu.c - `cardfab apdu --card CARD HEX...`: send command APDUs, print the
 * responses. CARD is a virtual chip (vcard:PATH, PATH) or a card in a PC/SC
 * reader (pcsc:NAME, pcsc:).
 *
 * Every argument is one command APDU in hex (spaces allowed between bytes).
 * All arguments are checked before the chip is powered, so a typo in the
 * third APDU sends nothing at all. Each response is one line: the data in
 * uppercase hex without spaces, a space, the status word ("9000"); a
 * response without data is just its status word. Whatever the card answers,
 * the command succeeds when every APDU got a response; a virtual chip's
 * state persists in its image. With --get-response, 61xx and 6Cxx are
 * followed up (reader_apdu) and only the final answer is printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "reader/reader.h"

#define TOPIC "apdu"

void usage_apdu(FILE *f)
{
	fputs("usage: cardfab apdu --card CARD [--protocol T=0|T=1] [--atr] "
	      "[--get-response]\n"
	      "                    HEX...\n"
	      "\n"
	      "Powers the card up, sends each HEX argument as one command "
	      "APDU and prints\n"
	      "one line per response: the data in hex, a space, the status "
	      "word (\"9000\");\n"
	      "a response without data prints only the status word. Spaces "
	      "are allowed\n"
	      "between the bytes of one argument: '00 A4 00 00 02 3F00'.\n"
	      "\n"
	      "  -c, --card CARD          vcard:PATH or PATH: a virtual chip's "
	      "image ('cardfab\n"
	      "                           chip new'); pcsc:NAME: the card in "
	      "that PC/SC reader\n"
	      "                           (full name or a unique prefix); "
	      "pcsc: the first\n"
	      "                           reader holding a card\n"
	      "  -p, --protocol T=0|T=1   protocol after the answer to reset "
	      "(default: T=1 for a\n"
	      "                           virtual chip, the card's choice in "
	      "a PC/SC reader;\n"
	      "                           in T=0 case 4 commands answer 61xx: "
	      "GET RESPONSE)\n"
	      "  -g, --get-response       follow 61xx with GET RESPONSE and "
	      "6Cxx with the\n"
	      "                           right Le; print the final answer "
	      "only\n"
	      "      --atr                first print the answer to reset "
	      "(hex, one line);\n"
	      "                           then HEX arguments are optional\n"
	      "\n"
	      "example:\n"
	      "  cardfab apdu --card chip.img 00A4000C023F00 00CA9F7F00\n"
	      "  cardfab apdu --card 'pcsc:Virtual PCD 00 00' --atr "
	      "00CADF3000\n",
	      f);
}

int cmd_apdu(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "card", required_argument, NULL, 'c' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "atr", no_argument, NULL, 'a' },
		{ "get-response", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *spec = NULL;
	cli_card_t *card = NULL;
	static uint8_t rapdu[READER_RAPDU_MAX];
	uint8_t *capdus = NULL;
	size_t *lens = NULL, rlen, n, i;
	char why[128];
	const uint8_t *atr;
	size_t atr_len;
	int c, proto = CLI_PROTO_ANY, rc = CLI_OK, first, show_atr = 0;
	int follow = 0;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":c:p:gh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			spec = optarg;
			break;
		case 'p':
			proto = cli_parse_protocol(optarg);
			if (proto < 0)
				return cli_usage_error(TOPIC,
						       "--protocol '%s': "
						       "expected T=0 or T=1",
						       optarg);
			break;
		case 'a':
			show_atr = 1;
			break;
		case 'g':
			follow = 1;
			break;
		case 'h':
			usage_apdu(stdout);
			return CLI_OK;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (spec == NULL)
		return cli_usage_error(TOPIC, "--card CARD is required");
	first = optind;
	n = (size_t)(argc - first);
	if (n == 0 && !show_atr)
		return cli_usage_error(TOPIC, "no APDU given: expected one or "
					      "more hex arguments");

	/* Parse everything first: nothing is sent if one is wrong. */
	capdus = malloc(n ? n * COS_CAPDU_MAX : 1);
	lens = malloc(n ? n * sizeof *lens : 1);
	if (capdus == NULL || lens == NULL) {
		cli_error("out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *arg = argv[first + (int)i];

		if (cli_hex_parse(arg, capdus + i * COS_CAPDU_MAX,
				  COS_CAPDU_MAX, &lens[i], why,
				  sizeof why) != 0) {
			/* The argument is not echoed: it may hold a PIN. */
			rc = cli_usage_error(TOPIC, "APDU %zu: %s", i + 1, why);
			goto out;
		}
		if (lens[i] < 4) {
			rc = cli_usage_error(TOPIC,
					     "APDU %zu: %zu bytes; a command "
					     "APDU has at least 4 (CLA INS P1 "
					     "P2)",
					     i + 1, lens[i]);
			goto out;
		}
	}

	rc = cli_card_open(spec, proto, &card);
	if (rc != CLI_OK)
		goto out;
	if (show_atr) {
		atr = cli_card_atr(card, &atr_len);
		cli_hex_print(stdout, atr, atr_len, 0);
		putchar('\n');
	}
	for (i = 0; i < n; i++) {
		rc = follow ?
			     cli_card_apdu(card, capdus + i * COS_CAPDU_MAX,
					   lens[i], rapdu, sizeof rapdu,
					   &rlen) :
			     cli_card_transmit(card, capdus + i * COS_CAPDU_MAX,
					       lens[i], rapdu, sizeof rapdu,
					       &rlen);
		if (rc != CLI_OK) {
			cli_error("APDU %zu: no response", i + 1);
			break;
		}
		if (rlen > 2) {
			cli_hex_print(stdout, rapdu, rlen - 2, 0);
			putchar(' ');
		}
		cli_hex_print(stdout, rapdu + rlen - 2, 2, 0);
		putchar('\n');
	}
out:
	if (card != NULL && cli_card_close(card) != CLI_OK && rc == CLI_OK)
		rc = CLI_FAIL;
	if (capdus != NULL)
		cli_wipe(capdus, n * COS_CAPDU_MAX);
	cli_wipe(rapdu, sizeof rapdu);
	free(capdus);
	free(lens);
	if (fflush(stdout) != 0 && rc == CLI_OK) {
		cli_error("writing the responses failed");
		rc = CLI_FAIL;
	}
	return rc;
}
