/*
 * cli_util.h - what the files of src/cli share: exit statuses, messages,
 * option errors, hex parsing and printing, GlobalPlatform dates, and the
 * card a command talks to.
 *
 * The card: `--card` takes what src/reader opens: "vcard:PATH" or a bare
 * PATH, a virtual chip whose EEPROM lives in the image file PATH; or
 * "pcsc:NAME" / "pcsc:", a card in a PC/SC reader. Opening a card powers it
 * up (a virtual chip recovers its NVM journal if a write was interrupted);
 * closing it powers it down (a PC/SC card is reset) and flushes the image.
 * A virtual chip's state persists in its image between commands.
 *
 * Messages: every error goes to stderr as "cardfab CMD: what went wrong",
 * naming the file, option, argument or line and what was expected. Secrets
 * (transport codes, PINs, keys) never appear in a message.
 */
#ifndef CARDFAB_CLI_UTIL_H
#define CARDFAB_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cos/cos.h"

/* Exit statuses of every command. */
#define CLI_OK 0
#define CLI_FAIL 1  /* the command ran and failed (I/O, card, check) */
#define CLI_USAGE 2 /* the command line was wrong */

/* The command being run, for messages ("chip new", "apdu", ...). */
void cli_set_command(const char *name);
const char *cli_command(void);

/* "cardfab CMD: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, then "(see 'cardfab help TOPIC')"; returns CLI_USAGE. */
int cli_usage_error(const char *topic, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Report what getopt_long() returned for a bad option ('?' or ':', with an
 * optstring that starts with ':' and opterr = 0) and return CLI_USAGE.
 */
int cli_option_error(int c, char **argv, const char *topic);

/* Reset getopt_long() for a fresh argument vector. */
void cli_getopt_reset(void);

/* ---- hex ---- */

/*
 * Parse hex digits into out (capacity cap), *len receives the byte count.
 * Spaces and tabs are allowed between bytes, not inside one. Returns 0, or
 * -1 with why (capacity why_cap) saying what is wrong and where (1-based
 * character positions), e.g. "character 5 ('G') is not a hex digit".
 */
int cli_hex_parse(const char *s, uint8_t *out, size_t cap, size_t *len,
		  char *why, size_t why_cap);
/* Exactly n bytes (2n digits, no spaces). -1 with why on anything else. */
int cli_hex_parse_exact(const char *s, uint8_t *out, size_t n, char *why,
			size_t why_cap);

/* Uppercase hex, no separator, NUL-terminated; out_cap >= 2n + 1. */
void cli_hex_str(const uint8_t *p, size_t n, char *out, size_t out_cap);
/* Uppercase hex to f: sep 0 none, else that character between bytes. */
void cli_hex_print(FILE *f, const uint8_t *p, size_t n, char sep);

/* ---- GlobalPlatform dates (YDDD in BCD: last digit of the year, day of
 * the year) ---- */

/* Today (local time) as YDDD. */
void cli_yddd_today(uint8_t out[2]);
/*
 * Decode a YDDD date into text: "2025-11-22" for the most recent year not
 * after this one that ends in Y, "not set" for 0000, "invalid (XXXX)" for
 * anything that is not BCD or not a day of that year. Returns 1 if valid.
 */
int cli_yddd_text(const uint8_t d[2], char *out, size_t cap);

/* ---- the card ---- */

typedef struct cli_card cli_card_t;

/* Protocol argument of cli_card_open(): what the card prefers (T=1 for a
 * virtual chip), or COS_PROTO_T0 / COS_PROTO_T1. */
#define CLI_PROTO_ANY (-1)

/* Open and power up the card named by spec with protocol proto. Returns
 * CLI_OK with *out, or CLI_FAIL with the reason printed (naming the image
 * or reader, and what to do). */
int cli_card_open(const char *spec, int proto, cli_card_t **out);
/* The virtual chip whose image is path (whatever its name looks like:
 * "pcsc:x" here is a file). */
int cli_card_open_image(const char *path, cli_card_t **out);
/* Power down, flush, close; NULL is accepted. CLI_OK or CLI_FAIL. */
int cli_card_close(cli_card_t *card);
/* A card reset: RAM and security status are lost, the card answers to
 * reset again. CLI_OK or CLI_FAIL (printed). */
int cli_card_reset(cli_card_t *card);
/* "T=0" or "T=1" (also "0", "1") to COS_PROTO_T0 / T1; -1 if neither. */
int cli_parse_protocol(const char *s);
/* COS_PROTO_T0 or COS_PROTO_T1 (kept across cli_card_reset()). */
int cli_card_set_protocol(cli_card_t *card, int proto);
int cli_card_protocol(const cli_card_t *card);
const uint8_t *cli_card_atr(const cli_card_t *card, size_t *len);
/* The powered virtual CPU chip behind the card, for introspection; NULL
 * for a PC/SC card or a chip of another family (a memory card). */
const cos_chip_t *cli_card_chip(const cli_card_t *card);
/* The image's path, or the PC/SC reader's name. */
const char *cli_card_file(const cli_card_t *card);
/* The reader behind the card (src/reader/reader.h), for commands that use
 * more of it than these functions give. */
struct reader *cli_card_reader(cli_card_t *card);
/* "vcard:PATH" or "pcsc:READER". */
const char *cli_card_name(const cli_card_t *card);
/* 1 for a virtual chip in this process, 0 for a PC/SC card. */
int cli_card_is_virtual(const cli_card_t *card);
/* The chip family of a virtual chip ("card OS", "memory card"); NULL for
 * a PC/SC card. */
const char *cli_card_family(const cli_card_t *card);

/*
 * Send one command APDU; rapdu (capacity >= COS_RAPDU_MAX) receives the
 * response, data then SW1 SW2, *rlen >= 2. CLI_OK, or CLI_FAIL with the
 * reason printed (the chip lost power, the card was removed...).
 */
int cli_card_transmit(cli_card_t *card, const uint8_t *capdu, size_t n,
		      uint8_t *rapdu, size_t cap, size_t *rlen);
/* The same, following 61xx with GET RESPONSE and 6Cxx with the right Le
 * (reader_apdu): the whole data and the final status word. */
int cli_card_apdu(cli_card_t *card, const uint8_t *capdu, size_t n,
		  uint8_t *rapdu, size_t cap, size_t *rlen);

/* ---- chips ---- */

/*
 * Create a chip image of the model at path (overwrite an existing file
 * only if asked) and load the card OS into it (the mask): MANUFACTURING.
 * CLI_OK or CLI_FAIL (printed).
 */
int cli_chip_create(const char *path, const cos_model_t *model, int overwrite);

/* Fill bytes from the host RNG. CLI_OK or CLI_FAIL (printed). */
int cli_random(uint8_t *p, size_t n);

/* Wipe memory that held a secret (not optimised away). */
void cli_wipe(void *p, size_t n);

/* Meaning of a status word in a few words, per docs/card-os.md ("success",
 * "wrong PIN, code or key, 2 tries left", "file not found", ...). */
const char *cli_sw_text(uint16_t sw, char *buf, size_t cap);

/* Names: "OP_READY", "INITIALIZED", "SECURED", "CARD_LOCKED",
 * "TERMINATED", else "?". */
const char *cli_gp_state_name(uint8_t gp);
/* ISO/IEC 7816-4 LCS byte: "creation", "initialisation", "activated",
 * "deactivated", "terminated", ... */
const char *cli_lcs_name(uint8_t lcs);

/* ---- the token options (keys.c) ----
 *
 * --dir, --module, --token, --pin-file, --pin-env: the PKCS#11 token of
 * every command that uses one (docs/perso.md, The token). A command puts
 * CLI_TOKEN_LONGOPTS in its long options and hands what getopt_long()
 * returns to cli_token_option() in its switch's default case.
 */
typedef struct {
	const char *dir, *module, *token, *pin_file, *pin_env;
} cli_token_opts_t;

enum {
	CLI_O_TOKEN_DIR = 0x1000,
	CLI_O_TOKEN_MODULE,
	CLI_O_TOKEN_LABEL,
	CLI_O_TOKEN_PIN_FILE,
	CLI_O_TOKEN_PIN_ENV,
};

#define CLI_TOKEN_LONGOPTS                                                     \
	{ "dir", required_argument, NULL, CLI_O_TOKEN_DIR },                   \
		{ "module", required_argument, NULL, CLI_O_TOKEN_MODULE },     \
		{ "token", required_argument, NULL, CLI_O_TOKEN_LABEL },       \
		{ "pin-file", required_argument, NULL, CLI_O_TOKEN_PIN_FILE }, \
	{                                                                      \
		"pin-env", required_argument, NULL, CLI_O_TOKEN_PIN_ENV        \
	}

/* 1 if c is a token option (its argument kept in o), else 0. */
int cli_token_option(int c, const char *arg, cli_token_opts_t *o);

struct perso_token;
/* Open the token from o, the environment falling in for what o lacks (as
 * `cardfab keys` does). CLI_OK or CLI_FAIL (printed). */
int cli_token_open(const cli_token_opts_t *o, struct perso_token **t);

/* ---- files ---- */

/*
 * Write n bytes to path durably: a temporary file beside it (mode), fsync,
 * rename over path, fsync of the folder; a crash leaves the old file or
 * the whole new one. 0, or -1 with errno set.
 */
int cli_write_durably(const char *path, const void *data, size_t n,
		      unsigned mode);

#endif
