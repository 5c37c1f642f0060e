/*
 * cli_util.c - the helpers every subcommand of `cardfab` uses (contracts in
 * cli_util.h): messages, hex, GlobalPlatform dates and the card.
 *
 * The card is whatever src/reader opens: a virtual chip in this process
 * ("vcard:PATH" or PATH) or a card in a PC/SC reader ("pcsc:NAME"); the
 * cli_card_* functions are a thin layer over reader_*() that prints the
 * reader's error detail as the command's message.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "hal/hal_host.h"
#include "reader/reader.h"

/* ---- messages ---- */

static const char *current_command = "";

void cli_set_command(const char *name)
{
	current_command = name ? name : "";
}

const char *cli_command(void)
{
	return current_command;
}

static void verror(const char *fmt, va_list ap)
{
	fflush(stdout);
	if (current_command[0])
		fprintf(stderr, "cardfab %s: ", current_command);
	else
		fputs("cardfab: ", stderr);
	vfprintf(stderr, fmt, ap);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *topic, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'cardfab help %s')\n", topic);
	return CLI_USAGE;
}

int cli_option_error(int c, char **argv, const char *topic)
{
	/* optind has moved past the element that holds the option. */
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	char name[64];

	if (arg != NULL && strncmp(arg, "--", 2) == 0) {
		/* a long option: its name, without any "=value" */
		snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="),
			 arg);
	} else if (optopt > 0 && optopt < 128) {
		snprintf(name, sizeof name, "-%c", optopt);
	} else {
		snprintf(name, sizeof name, "%s", arg ? arg : "?");
	}
	if (c == ':')
		return cli_usage_error(topic, "option %s needs a value", name);
	return cli_usage_error(topic, "unknown option '%s'", name);
}

void cli_getopt_reset(void)
{
	/* glibc: 0 re-initialises completely (also its permutation state). */
	optind = 0;
	opterr = 0;
}

/* ---- hex ---- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void printable(char out[8], unsigned char ch)
{
	if (ch >= 0x20 && ch < 0x7F)
		snprintf(out, 8, "'%c'", ch);
	else
		snprintf(out, 8, "0x%02X", ch);
}

int cli_hex_parse(const char *s, uint8_t *out, size_t cap, size_t *len,
		  char *why, size_t why_cap)
{
	size_t n = 0, i, digits = 0;
	int hi = -1, v;
	char shown[8];

	*len = 0;
	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == ' ' || ch == '\t') {
			if (hi >= 0) {
				snprintf(why, why_cap,
					 "a space at character %zu splits a "
					 "byte (two hex digits a byte)",
					 i + 1);
				return -1;
			}
			continue;
		}
		v = hexval(ch);
		if (v < 0) {
			printable(shown, ch);
			snprintf(why, why_cap,
				 "character %zu (%s) is not a hex digit", i + 1,
				 shown);
			return -1;
		}
		digits++;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap) {
			snprintf(why, why_cap, "too long: more than %zu bytes",
				 cap);
			return -1;
		}
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0) {
		snprintf(why, why_cap,
			 "odd number of hex digits (%zu): two digits a byte",
			 digits);
		return -1;
	}
	*len = n;
	return 0;
}

int cli_hex_parse_exact(const char *s, uint8_t *out, size_t n, char *why,
			size_t why_cap)
{
	size_t i, len = strlen(s);
	int hi, lo;
	char shown[8];

	for (i = 0; i < len; i++) {
		if (hexval((unsigned char)s[i]) < 0) {
			printable(shown, (unsigned char)s[i]);
			snprintf(why, why_cap,
				 "expected %zu hex digits, character %zu "
				 "(%s) is not a hex digit",
				 2 * n, i + 1, shown);
			return -1;
		}
	}
	if (len != 2 * n) {
		snprintf(why, why_cap, "expected %zu hex digits, got %zu",
			 2 * n, len);
		return -1;
	}
	for (i = 0; i < n; i++) {
		hi = hexval((unsigned char)s[2 * i]);
		lo = hexval((unsigned char)s[2 * i + 1]);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void cli_hex_str(const uint8_t *p, size_t n, char *out, size_t out_cap)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;

	if (out_cap == 0)
		return;
	for (i = 0; i < n && 2 * i + 2 < out_cap; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0F];
	}
	out[2 * i] = '\0';
}

void cli_hex_print(FILE *f, const uint8_t *p, size_t n, char sep)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (sep && i > 0)
			fputc(sep, f);
		fprintf(f, "%02X", p[i]);
	}
}

/* ---- GlobalPlatform dates ---- */

static int bcd_digit(uint8_t nibble)
{
	return nibble <= 9 ? nibble : -1;
}

void cli_yddd_today(uint8_t out[2])
{
	time_t now = time(NULL);
	struct tm tm;
	int y, d;

	localtime_r(&now, &tm);
	y = (tm.tm_year + 1900) % 10;
	d = tm.tm_yday + 1; /* 1..366 */
	out[0] = (uint8_t)(y << 4 | (d / 100));
	out[1] = (uint8_t)(((d / 10) % 10) << 4 | (d % 10));
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int cli_yddd_text(const uint8_t d[2], char *out, size_t cap)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	int y = bcd_digit(d[0] >> 4), d1 = bcd_digit(d[0] & 0x0F);
	int d2 = bcd_digit(d[1] >> 4), d3 = bcd_digit(d[1] & 0x0F);
	time_t now = time(NULL);
	struct tm tm;
	int year, day, m, ml;

	if (d[0] == 0 && d[1] == 0) {
		snprintf(out, cap, "not set");
		return 0;
	}
	if (y < 0 || d1 < 0 || d2 < 0 || d3 < 0)
		goto invalid;
	localtime_r(&now, &tm);
	year = tm.tm_year + 1900;
	year -= ((year % 10) - y + 10) % 10;
	day = d1 * 100 + d2 * 10 + d3;
	if (day < 1 || day > (is_leap(year) ? 366 : 365))
		goto invalid;
	for (m = 0; m < 12; m++) {
		ml = mdays[m] + (m == 1 && is_leap(year));
		if (day <= ml)
			break;
		day -= ml;
	}
	snprintf(out, cap, "%04d-%02d-%02d", year, m + 1, day);
	return 1;
invalid:
	snprintf(out, cap, "invalid (%02X%02X)", d[0], d[1]);
	return 0;
}

/* ---- the card ---- */

struct cli_card {
	reader_t *r;
};

int cli_card_open(const char *spec, int proto, cli_card_t **out)
{
	cli_card_t *card;
	char err[READER_DETAIL_MAX];
	reader_status_t st;
	const char *path;

	*out = NULL;
	card = calloc(1, sizeof *card);
	if (card == NULL) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	st = reader_open(spec, proto < 0 ? READER_PROTO_ANY : proto, &card->r,
			 err, sizeof err);
	if (st != READER_OK) {
		if (st == READER_ERR_NO_IMAGE) {
			path = strncmp(spec, "vcard:", 6) == 0 ? spec + 6 :
								 spec;
			cli_error("%s (make one with 'cardfab chip new --out "
				  "%s')",
				  err, path);
		} else {
			cli_error("%s", err[0] ? err : reader_strerror(st));
		}
		free(card);
		return CLI_FAIL;
	}
	*out = card;
	return CLI_OK;
}

int cli_card_open_image(const char *path, cli_card_t **out)
{
	size_t n = strlen(path) + 7;
	char *spec = malloc(n);
	int rc;

	*out = NULL;
	if (spec == NULL) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	snprintf(spec, n, "vcard:%s", path);
	rc = cli_card_open(spec, CLI_PROTO_ANY, out);
	free(spec);
	return rc;
}

int cli_card_close(cli_card_t *card)
{
	char err[READER_DETAIL_MAX];
	reader_status_t st;

	if (card == NULL)
		return CLI_OK;
	st = reader_close(card->r, err, sizeof err);
	free(card);
	if (st != READER_OK) {
		cli_error("%s", err[0] ? err : reader_strerror(st));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_card_reset(cli_card_t *card)
{
	reader_status_t st = reader_reset(card->r);

	if (st != READER_OK) {
		cli_error("%s", reader_error_detail(card->r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_parse_protocol(const char *s)
{
	if (strcmp(s, "T=0") == 0 || strcmp(s, "t=0") == 0 ||
	    strcmp(s, "0") == 0)
		return COS_PROTO_T0;
	if (strcmp(s, "T=1") == 0 || strcmp(s, "t=1") == 0 ||
	    strcmp(s, "1") == 0)
		return COS_PROTO_T1;
	return -1;
}

int cli_card_set_protocol(cli_card_t *card, int proto)
{
	reader_status_t st = reader_set_protocol(card->r, proto);

	if (st != READER_OK) {
		cli_error("%s: protocol T=%d refused: %s", reader_name(card->r),
			  proto, reader_error_detail(card->r));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_card_protocol(const cli_card_t *card)
{
	return reader_protocol(card->r);
}

const uint8_t *cli_card_atr(const cli_card_t *card, size_t *len)
{
	return reader_atr(card->r, len);
}

const cos_chip_t *cli_card_chip(const cli_card_t *card)
{
	return reader_cos_chip(card->r);
}

const char *cli_card_file(const cli_card_t *card)
{
	return reader_target(card->r);
}

reader_t *cli_card_reader(cli_card_t *card)
{
	return card->r;
}

const char *cli_card_name(const cli_card_t *card)
{
	return reader_name(card->r);
}

int cli_card_is_virtual(const cli_card_t *card)
{
	return reader_kind(card->r) == READER_KIND_VCARD;
}

const char *cli_card_family(const cli_card_t *card)
{
	return reader_chip_family(card->r);
}

int cli_card_transmit(cli_card_t *card, const uint8_t *capdu, size_t n,
		      uint8_t *rapdu, size_t cap, size_t *rlen)
{
	reader_status_t st;

	st = reader_transmit(card->r, capdu, n, rapdu, cap, rlen);
	if (st != READER_OK) {
		cli_error("%s", reader_error_detail(card->r));
		*rlen = 0;
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_card_apdu(cli_card_t *card, const uint8_t *capdu, size_t n,
		  uint8_t *rapdu, size_t cap, size_t *rlen)
{
	reader_status_t st;

	st = reader_apdu(card->r, capdu, n, rapdu, cap, rlen);
	if (st != READER_OK) {
		cli_error("%s", reader_error_detail(card->r));
		*rlen = 0;
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- chips ---- */

/* Message for a failed hal_file_* call on path. */
static void image_error(const char *path, hal_host_status_t st, int err)
{
	if (st == HAL_HOST_ERR_IO && err)
		cli_error("%s: %s: %s", path, hal_host_strerror(st),
			  strerror(err));
	else
		cli_error("%s: %s", path, hal_host_strerror(st));
}

int cli_chip_create(const char *path, const cos_model_t *model, int overwrite)
{
	hal_file_t *f = NULL;
	hal_host_status_t hst;
	cos_status_t st;

	errno = 0;
	hst = hal_file_create(path, model->nvm_size, overwrite);
	if (hst == HAL_HOST_ERR_EXISTS) {
		cli_error("%s: file exists; not overwritten (use --force to "
			  "replace it)",
			  path);
		return CLI_FAIL;
	}
	if (hst != HAL_HOST_OK) {
		image_error(path, hst, errno);
		return CLI_FAIL;
	}
	errno = 0;
	hst = hal_file_open(path, &f);
	if (hst != HAL_HOST_OK) {
		image_error(path, hst, errno);
		unlink(path);
		return CLI_FAIL;
	}
	st = cos_format(hal_file_hal(f), model);
	errno = 0;
	hst = hal_file_close(f);
	if (st != COS_OK || hst != HAL_HOST_OK) {
		if (st != COS_OK)
			cli_error("%s: loading the card OS failed: %s", path,
				  cos_strerror(st));
		else
			image_error(path, hst, errno);
		unlink(path);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_random(uint8_t *p, size_t n)
{
	if (hal_host_rng(NULL, p, n) != HAL_OK) {
		cli_error("no random bytes from the system: %s",
			  strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

void cli_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n--)
		*v++ = 0;
}

const char *cli_sw_text(uint16_t sw, char *buf, size_t cap)
{
	static const struct {
		uint16_t sw;
		const char *text;
	} table[] = {
		{ 0x9000, "success" },
		{ 0x6282, "end of file or record reached before Ne bytes" },
		{ 0x6283, "selected file deactivated" },
		{ 0x6285, "selected file terminated" },
		{ 0x6300, "authentication failed" },
		{ 0x6581, "memory failure" },
		{ 0x6700, "wrong length" },
		{ 0x6881, "logical channel not supported" },
		{ 0x6882, "secure messaging not supported" },
		{ 0x6884, "command chaining not supported" },
		{ 0x6981, "command incompatible with file structure" },
		{ 0x6982, "security status not satisfied" },
		{ 0x6983, "authentication method blocked" },
		{ 0x6984, "reference data not usable" },
		{ 0x6985, "conditions of use not satisfied" },
		{ 0x6986, "command not allowed (no current EF)" },
		{ 0x6988, "incorrect secure messaging data objects" },
		{ 0x6A80, "incorrect data field" },
		{ 0x6A82, "file not found" },
		{ 0x6A83, "record not found" },
		{ 0x6A84, "not enough memory" },
		{ 0x6A86, "incorrect P1-P2" },
		{ 0x6A88, "referenced data not found" },
		{ 0x6A89, "file already exists" },
		{ 0x6A8A, "DF name already exists" },
		{ 0x6B00, "offset outside the file" },
		{ 0x6D00, "instruction not supported" },
		{ 0x6E00, "class not supported" },
		{ 0x6F00, "no precise diagnosis" },
	};
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].sw == sw)
			return table[i].text;
	if ((sw & 0xFF00) == 0x6100)
		snprintf(buf, cap, "%u more bytes: GET RESPONSE",
			 (sw & 0xFF) ? (unsigned)(sw & 0xFF) : 256u);
	else if ((sw & 0xFFF0) == 0x63C0)
		snprintf(buf, cap, "wrong PIN, code or key, %u tries left",
			 (unsigned)(sw & 0x0F));
	else if ((sw & 0xFF00) == 0x6C00)
		snprintf(buf, cap, "wrong Le: %u expected",
			 (unsigned)(sw & 0xFF));
	else
		snprintf(buf, cap, "unknown status word");
	return buf;
}

const char *cli_gp_state_name(uint8_t gp)
{
	switch (gp) {
	case 0x01:
		return "OP_READY";
	case 0x07:
		return "INITIALIZED";
	case 0x0F:
		return "SECURED";
	case 0x7F:
		return "CARD_LOCKED";
	case 0xFF:
		return "TERMINATED";
	default:
		return "?";
	}
}

const char *cli_lcs_name(uint8_t lcs)
{
	switch (lcs) {
	case 0x00:
		return "no information";
	case 0x01:
		return "creation";
	case 0x03:
		return "initialisation";
	case 0x05:
	case 0x07:
		return "activated";
	case 0x04:
	case 0x06:
		return "deactivated";
	case 0x0C:
	case 0x0D:
	case 0x0E:
	case 0x0F:
		return "terminated";
	default:
		return "proprietary";
	}
}

int cli_write_durably(const char *path, const void *data, size_t n,
		      unsigned mode)
{
	char tmp[4200], dir[4200], *slash;
	const char *p = data;
	size_t done = 0;
	ssize_t w;
	int fd, dfd, rc = 0, e;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp ||
	    (size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -1;
	while (rc == 0 && done < n) {
		w = write(fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = -1;
		else
			done += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -1;
	e = errno;
	if (close(fd) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		errno = e;
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
