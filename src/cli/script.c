/*
 * script.c - `cardfab script --card CARD [FILE]`: run an APDU script in the
 * format of pcsc-tools' scriptor, and print the exchanges the way scriptor
 * does, so that a script and its transcript work with either tool. CARD is
 * a virtual chip (vcard:PATH, PATH) or a card in a PC/SC reader (pcsc:NAME).
 *
 * What scriptor (pcsc-tools, a Perl script) does, and so what this does:
 *
 *   - stdout starts with "Using T=1 protocol" (or T=0).
 *   - Reading a FILE, every line is echoed as read, before anything else
 *     (from stdin, nothing is echoed).
 *   - A line containing "exit" anywhere, in any case, ends the script, even
 *     in a comment: scriptor tests for it first. Its echo is printed.
 *   - Blank lines, and lines whose first character is '#', are skipped.
 *   - A line containing "reset" (any case) resets the card: "> RESET", then
 *     "< OK: " and the ATR bytes each followed by a space.
 *   - A line without any space is split into pairs: "00A4" is "00 A4 ".
 *   - A line ending in '\' continues on the next one (its trailing spaces
 *     become one).
 *   - The command is printed as "> " and the line; the response as "< ",
 *     its bytes (SW included) in hex separated by spaces with a line break
 *     after each 16 bytes when more follow, " : " and the status word's
 *     meaning in scriptor's words (its ISO7816Error table, copied below
 *     text for text, typos included, so transcripts compare equal).
 *
 * A command line is read as scriptor reads it (Perl's split / / and a check
 * of each field): bytes of two hex digits separated by single spaces;
 * trailing spaces are ignored; a leading space, two spaces in a row, a tab
 * or a CR (CRLF line ends) make it malformed. Where scriptor dies with a
 * Perl error on such a line, this reports FILE:LINE and what is wrong, stops
 * and exits with status 1, after the output of the lines before it, which
 * is the same as scriptor's. Two differences, both on input scriptor
 * mishandles: a last line without a newline is echoed with one, and a script
 * that ends inside a continued command is malformed (scriptor silently drops
 * that command).
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "reader/reader.h"

#define TOPIC "script"

void usage_script(FILE *f)
{
	fputs("usage: cardfab script --card CARD [--protocol T=0|T=1] [FILE]\n"
	      "\n"
	      "Runs an APDU script in the format of pcsc-tools' scriptor and "
	      "prints the\n"
	      "exchanges as scriptor does. Without FILE (or with -), reads "
	      "stdin.\n"
	      "\n"
	      "  -c, --card CARD          vcard:PATH or PATH, a chip image; "
	      "pcsc:NAME, the card\n"
	      "                           in that PC/SC reader; pcsc: the "
	      "first with a card\n"
	      "  -p, --protocol T=0|T=1   protocol (default: T=1 for a "
	      "virtual chip, the\n"
	      "                           card's choice in a PC/SC reader)\n"
	      "\n"
	      "Script lines:\n"
	      "  00 A4 00 00 02 3F 00     one command APDU, hex bytes "
	      "separated by single\n"
	      "                           spaces (no tab, no leading or double "
	      "space, LF line ends)\n"
	      "  00A4000002 3F00          no: with spaces, each byte stands "
	      "alone\n"
	      "  00A40000023F00           a line without spaces is read two "
	      "digits a byte\n"
	      "  00 A4 00 00 \\            a trailing \\ continues the command "
	      "on the next line\n"
	      "  # comment                '#' in the first column\n"
	      "  reset                    reset the card, print its ATR (any "
	      "line containing\n"
	      "                           \"reset\" that is not a comment)\n"
	      "  exit                     stop (as in scriptor: any line "
	      "containing \"exit\",\n"
	      "                           even a comment)\n"
	      "\n"
	      "A malformed line stops the script with FILE:LINE and what is "
	      "wrong; exit\n"
	      "status 1.\n",
	      f);
}

/* ---- scriptor's status word texts (Chipcard::PCSC::Card::ISO7816Error) */

static void scriptor_sw_text(uint8_t sw1, uint8_t sw2, char *out, size_t cap)
{
	static const char *const t62[] = {
		[0x00] = "No information given.",
		[0x81] = "Part of returned data my be corrupted.",
		[0x82] = "End of file/record reached before reading Le bytes.",
		[0x83] = "Selected file invalidated.",
		[0x84] = "FCI not formated according to 5.1.5.",
	};
	static const char *const t69[] = {
		[0x81] = "Command incompatible with file structure.",
		[0x82] = "Security status not satisfied.",
		[0x83] = "Authentication method blocked.",
		[0x84] = "Referenced data invalidated.",
		[0x85] = "Conditions of use not satisfied.",
		[0x86] = "Command not allowed (no current EF).",
		[0x87] = "Expected SM data objects missing.",
		[0x88] = "SM data objects incorrect.",
	};
	static const char *const t6a[] = {
		[0x80] = "Incorrect parameters in the data field.",
		[0x81] = "Function not supported.",
		[0x82] = "File not found.",
		[0x83] = "Record not found.",
		[0x84] = "Not enough memory space in the file.",
		[0x85] = "Lc inconsistent with TLV structure.",
		[0x86] = "Incorrect parameters P1-P2.",
		[0x87] = "Lc inconsistent with P1-P2.",
		[0x88] = "Referenced data not found.",
	};
	const char *more = NULL;

#define PICK(table) \
	(sw2 < sizeof table / sizeof table[0] && table[sw2] ? table[sw2] : "")

	switch (sw1) {
	case 0x90:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ? "Normal processing." :
				       "Error not defined by ISO 7816");
		return;
	case 0x61:
		snprintf(out, cap, "0x%02X bytes of response still available.",
			 sw2);
		return;
	case 0x62:
		snprintf(out, cap, "State of non-volatile memory unchanged. %s",
			 PICK(t62));
		return;
	case 0x63:
		if (sw2 == 0x00)
			more = "No information given.";
		else if (sw2 == 0x81)
			more = "File filled up by the last write.";
		if ((sw2 >> 4) == 0x0C)
			snprintf(out, cap,
				 "State of non-volatile memory changed. "
				 "Counter: 0x%X",
				 sw2 & 0x0F);
		else
			snprintf(out, cap,
				 "State of non-volatile memory changed. %s",
				 more ? more : "");
		return;
	case 0x64:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ?
				 "State of non-volatile memory unchanged." :
				 "Error not defined by ISO 7816");
		return;
	case 0x65:
		snprintf(out, cap, "State of non-volatile memory changed. %s",
			 sw2 == 0x81 ? "Memory failure." : "");
		return;
	case 0x66:
		snprintf(out, cap, "Reserved for security-related issues.");
		return;
	case 0x67:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ? "Wrong length." :
				       "Error not defined by ISO 7816");
		return;
	case 0x68:
		snprintf(out, cap, "Functions in CLA not supported. %s",
			 sw2 == 0x81 ? "Logical channel not supported." :
			 sw2 == 0x82 ? "Secure messaging not supported." :
				       "");
		return;
	case 0x69:
		snprintf(out, cap, "Command not allowed. %s", PICK(t69));
		return;
	case 0x6A:
		snprintf(out, cap, "Wrong parameter(s) P1-P2. %s", PICK(t6a));
		return;
	case 0x6B:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ? "Wrong parameter(s) P1-P2." :
				       "Error not defined by ISO 7816");
		return;
	case 0x6C:
		snprintf(out, cap, "Wrong length Le: should be 0x%02X", sw2);
		return;
	case 0x6D:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ?
				 "Instruction code not supported or invalid." :
				 "Error not defined by ISO 7816");
		return;
	case 0x6E:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ? "Class not supported." :
				       "Error not defined by ISO 7816");
		return;
	case 0x6F:
		snprintf(out, cap, "%s",
			 sw2 == 0x00 ? "No precise diagnosis." :
				       "Error not defined by ISO 7816");
		return;
	default:
		snprintf(out, cap, "Error not defined by ISO 7816");
		return;
	}
#undef PICK
}

/* ---- the script ---- */

typedef struct {
	const char *name; /* for messages */
	cli_card_t *card;
	char *cmd; /* the command being assembled */
	size_t cmd_len, cmd_cap;
	unsigned long cmd_line; /* line where it started, 0 none */
} run_t;

static int contains_nocase(const char *s, const char *word)
{
	size_t n = strlen(word), i;

	for (; *s; s++) {
		for (i = 0; i < n; i++)
			if (tolower((unsigned char)s[i]) != word[i])
				break;
		if (i == n)
			return 1;
	}
	return 0;
}

static int is_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

static int cmd_append(run_t *r, const char *s, size_t n)
{
	char *p;

	if (r->cmd_len + n + 1 > r->cmd_cap) {
		size_t cap = (r->cmd_len + n + 1) * 2;

		p = realloc(r->cmd, cap);
		if (p == NULL) {
			cli_error("out of memory");
			return -1;
		}
		r->cmd = p;
		r->cmd_cap = cap;
	}
	memcpy(r->cmd + r->cmd_len, s, n);
	r->cmd_len += n;
	r->cmd[r->cmd_len] = '\0';
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	return (tolower((unsigned char)ch) - 'a' + 10) & 0x0F;
}

/* "< " + response bytes, a newline after each 16 when more follow. */
static void print_response(const uint8_t *r, size_t n)
{
	char text[160];
	size_t i;

	fputs("< ", stdout);
	for (i = 0; i < n; i++) {
		printf("%02X", r[i]);
		if (i + 1 < n)
			putchar(' ');
		if ((i + 1) % 16 == 0 && i + 1 < n)
			putchar('\n');
	}
	scriptor_sw_text(r[n - 2], r[n - 1], text, sizeof text);
	printf(" : %s\n", text);
}

/*
 * What is wrong with the token of `len` characters at tok (1-based column
 * col), or NULL if it is a byte. Tokens are what Perl's split / / gives
 * scriptor: single spaces separate bytes, so an empty token is a leading
 * or doubled space.
 */
static const char *bad_token(const char *tok, size_t len, size_t col, char *why,
			     size_t cap)
{
	size_t i;

	if (len == 0) {
		snprintf(why, cap,
			 col == 1 ? "the command starts with a space" :
				    "two spaces in a row at character %zu "
				    "(bytes are separated by one space)",
			 col);
		return why;
	}
	for (i = 0; i < len; i++) {
		if (tok[i] == '\t') {
			snprintf(why, cap,
				 "a tab at character %zu (bytes are separated "
				 "by one space)",
				 col + i);
			return why;
		}
		if (tok[i] == '\r') {
			snprintf(why, cap,
				 "a carriage return at character %zu (a CRLF "
				 "line end? scriptor reads LF line ends only)",
				 col + i);
			return why;
		}
	}
	if (len != 2 || !isxdigit((unsigned char)tok[0]) ||
	    !isxdigit((unsigned char)tok[1])) {
		/* Not echoed: the token may be part of a PIN. */
		snprintf(why, cap,
			 "character %zu: expected a byte as two hex digits, "
			 "got %zu character%s%s",
			 col, len, len == 1 ? "" : "s",
			 len == 2 ? " that are not both hex digits" : "");
		return why;
	}
	return NULL;
}

/* Parse r->cmd as scriptor does (bytes separated by single spaces,
 * trailing spaces ignored) and send it. */
static int send_command(run_t *r, unsigned long line)
{
	static uint8_t rapdu[READER_RAPDU_MAX];
	uint8_t capdu[COS_CAPDU_MAX];
	size_t n = 0, rlen, end, i, start;
	char where[48], why[256];

	if (r->cmd_line && r->cmd_line != line)
		snprintf(where, sizeof where, " (command from line %lu)",
			 r->cmd_line);
	else
		where[0] = '\0';
	/* Perl's split drops trailing empty fields: trailing spaces are
	 * harmless. */
	end = r->cmd_len;
	while (end > 0 && r->cmd[end - 1] == ' ')
		end--;
	if (end == 0) {
		cli_error("%s:%lu: empty command%s", r->name, line, where);
		return CLI_FAIL;
	}
	for (start = 0; start <= end; start = i + 1) {
		for (i = start; i < end && r->cmd[i] != ' '; i++)
			;
		if (bad_token(r->cmd + start, i - start, start + 1, why,
			      sizeof why) != NULL) {
			cli_error("%s:%lu: %s%s", r->name, line, why, where);
			return CLI_FAIL;
		}
		if (n >= sizeof capdu) {
			cli_error("%s:%lu: command longer than %zu bytes%s",
				  r->name, line, sizeof capdu, where);
			return CLI_FAIL;
		}
		capdu[n++] = (uint8_t)(hexval(r->cmd[start]) << 4 |
				       hexval(r->cmd[start + 1]));
	}
	printf("> %s\n", r->cmd);
	if (cli_card_transmit(r->card, capdu, n, rapdu, sizeof rapdu, &rlen) !=
	    CLI_OK) {
		cli_error("%s:%lu: no response from the card", r->name, line);
		return CLI_FAIL;
	}
	print_response(rapdu, rlen);
	fflush(stdout); /* one exchange at a time, even into a pipe */
	cli_wipe(capdu, sizeof capdu);
	cli_wipe(rapdu, rlen);
	r->cmd_len = 0;
	r->cmd[0] = '\0';
	r->cmd_line = 0;
	return CLI_OK;
}

static int do_reset(run_t *r)
{
	const uint8_t *atr;
	size_t n, i;

	fputs("> RESET\n", stdout);
	if (cli_card_reset(r->card) != CLI_OK) {
		/* scriptor prints "< KO: " and goes on; the card is mute. */
		fputs("< KO: the card did not answer to reset\n", stdout);
		return CLI_FAIL;
	}
	atr = cli_card_atr(r->card, &n);
	fputs("< OK: ", stdout);
	for (i = 0; i < n; i++)
		printf("%02X ", atr[i]);
	putchar('\n');
	return CLI_OK;
}

static int run(run_t *r, FILE *in, int echo)
{
	char *line = NULL, *expanded = NULL;
	size_t cap = 0, len, i, k;
	ssize_t got;
	unsigned long lineno = 0;
	int rc = CLI_OK;

	while ((got = getline(&line, &cap, in)) != -1) {
		lineno++;
		len = (size_t)got;
		if (echo) {
			fputs(line, stdout);
			if (len == 0 || line[len - 1] != '\n')
				putchar('\n');
		}
		if (contains_nocase(line, "exit"))
			break;
		if (is_blank(line) || line[0] == '#')
			continue;
		if (contains_nocase(line, "reset")) {
			if (do_reset(r) != CLI_OK) {
				rc = CLI_FAIL;
				break;
			}
			continue;
		}
		/* chomp */
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		/* No space at all: two digits a byte, "00A4" -> "00 A4 ". */
		if (strchr(line, ' ') == NULL) {
			free(expanded);
			expanded = malloc(len + len / 2 + 2);
			if (expanded == NULL) {
				cli_error("out of memory");
				rc = CLI_FAIL;
				break;
			}
			for (i = 0, k = 0; i < len; i++) {
				expanded[k++] = line[i];
				if (i % 2 == 1)
					expanded[k++] = ' ';
			}
			expanded[k] = '\0';
			free(line);
			line = expanded;
			cap = len + len / 2 + 2;
			expanded = NULL;
			len = k;
		}
		if (r->cmd_line == 0)
			r->cmd_line = lineno;
		if (len && line[len - 1] == '\\') {
			/* Continued: drop the '\', trailing spaces -> one. */
			line[--len] = '\0';
			while (len && line[len - 1] == ' ')
				line[--len] = '\0';
			if (cmd_append(r, line, len) != 0 ||
			    cmd_append(r, " ", 1) != 0) {
				rc = CLI_FAIL;
				break;
			}
			continue;
		}
		if (cmd_append(r, line, len) != 0) {
			rc = CLI_FAIL;
			break;
		}
		rc = send_command(r, lineno);
		if (rc != CLI_OK)
			break;
	}
	if (rc == CLI_OK && ferror(in)) {
		cli_error("%s: read error: %s", r->name, strerror(errno));
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK && got == -1 && r->cmd_line != 0) {
		cli_error("%s:%lu: the command continued with '\\' from line "
			  "%lu has no end: the file ends",
			  r->name, lineno, r->cmd_line);
		rc = CLI_FAIL;
	}
	free(line);
	free(expanded);
	return rc;
}

int cmd_script(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "card", required_argument, NULL, 'c' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *spec = NULL, *file = NULL;
	run_t r = { 0 };
	FILE *in = stdin;
	int c, proto = CLI_PROTO_ANY, rc;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":c:p:h", opts, NULL)) != -1) {
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
		case 'h':
			usage_script(stdout);
			return CLI_OK;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (spec == NULL)
		return cli_usage_error(TOPIC, "--card CARD is required");
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc)
		return cli_usage_error(TOPIC,
				       "one script file expected, got "
				       "'%s' too",
				       argv[optind]);
	if (file != NULL && strcmp(file, "-") != 0) {
		in = fopen(file, "r");
		if (in == NULL) {
			cli_error("%s: %s", file, strerror(errno));
			return CLI_FAIL;
		}
		r.name = file;
	} else {
		file = NULL;
		r.name = "<stdin>";
	}

	rc = cli_card_open(spec, proto, &r.card);
	if (rc != CLI_OK)
		goto out;
	proto = cli_card_protocol(r.card);
	/* As scriptor: the protocol on stdout, the rest on stderr. */
	fprintf(stderr, "Using given card reader: %s\n", spec);
	printf("Using T=%d protocol\n", proto == COS_PROTO_T0 ? 0 : 1);
	if (file != NULL)
		fprintf(stderr, "Using given file: %s\n", file);
	else
		fprintf(stderr, "Reading commands from STDIN\n");
	r.cmd = calloc(1, 64);
	r.cmd_cap = r.cmd ? 64 : 0;
	if (r.cmd == NULL) {
		cli_error("out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	rc = run(&r, in, file != NULL);
out:
	if (r.card != NULL && cli_card_close(r.card) != CLI_OK)
		rc = CLI_FAIL;
	if (r.cmd != NULL)
		cli_wipe(r.cmd, r.cmd_cap);
	free(r.cmd);
	if (in != stdin)
		fclose(in);
	if (fflush(stdout) != 0 && rc == CLI_OK) {
		cli_error("writing the transcript failed");
		rc = CLI_FAIL;
	}
	return rc;
}
