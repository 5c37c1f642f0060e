/*
 * demo.c - `cardfab demo`: the main job shown end to end, and one chip's
 * life told step by step.
 *
 * `cardfab demo` runs the shipped sample order (orders/demo.yaml: 1,000
 * campus cards for the made-up students of orders/demo-holders.csv)
 * through `cardfab run` in a fresh folder (./cardfab-demo by default) on
 * SQLite: the work folder's own token and keys, data preparation, the
 * line simulator for parts 2 to 5, init and perso stations for parts 6
 * and 7, and the yield report with the HTML report's path last. A folder
 * a previous demo left (it holds the marker file .cardfab-demo) is
 * removed first; any other folder that is not empty is refused.
 *
 * `cardfab demo --chip` (or `cardfab demo lifecycle`; --dir and --model
 * imply it) takes one fresh virtual chip through its whole life, told for
 * a person. Every step is one APDU, as the fab tester, the card maker,
 * the issuer and the card holder's terminal would send it: the command,
 * the card's answer and one sentence of what it means. Each answer is
 * checked against what docs/card-os.md promises; the first that differs
 * stops the demo with exit status 1, so the walkthrough is also an
 * end-to-end test of the card OS.
 *
 *   MANUFACTURING    mask, fab test (TEST NVM, READ NVM), FAB CLOSE
 *   TRANSPORT        test commands gone (6D00); module and card body stamp
 *                    the CPLC; a wrong transport code (63C2), the right one
 *   INITIALIZATION   DF with an AID, EFs (transparent, linear fixed,
 *                    cyclic), PIN and PUK, an SCP03 key set; the fuse
 *   PERSONALIZATION  a write without secure channel refused; an SCP03
 *                    session opened by the host (scp03_host.c) writes the
 *                    holder's data, sets the PIN, ACTIVATE
 *   OPERATIONAL      VERIFY wrong and right, data read back, CPLC, the
 *                    `chip info` summary, and no way back (6985)
 *
 * Secrets: the walkthrough's transport code, PIN, PUK and keys are fixed,
 * well-known demo values (the GlobalPlatform test key 40..4F for the key
 * set) and the output says so; still, no value is ever printed: APDUs
 * that carry one show "<demo PIN>" and the like in its place, and what
 * goes through the secure channel is shown in plain (redacted) and as
 * sent (encrypted). The sample order's keys and PINs are generated in
 * its own token and never printed either.
 */
#define _XOPEN_SOURCE 700 /* nftw, readlink */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "perso/scp03_host.h"

#define TOPIC "demo"

void usage_demo(FILE *f)
{
	fputs("usage: cardfab demo [--work DIR] [--order FILE] [--stations N]\n"
	      "       cardfab demo --chip [--dir DIR [--force]] [--model NAME]\n"
	      "\n"
	      "Runs the sample production order (orders/demo.yaml): 1,000 "
	      "campus cards\n"
	      "for 1,000 made-up students, from wafer lots to issued cards, "
	      "with 'cardfab\n"
	      "run' on SQLite in a fresh folder: keys in the folder's own "
	      "SoftHSM2 token,\n"
	      "data preparation, parts 2 to 5 on the line simulator, "
	      "initialization and\n"
	      "personalization on two stations, then the yields per part "
	      "and the HTML\n"
	      "report's path (docs/run.md).\n"
	      "\n"
	      "  --work DIR     the folder (default ./cardfab-demo); a "
	      "previous demo's folder\n"
	      "                 is replaced, any other folder must be empty "
	      "or absent\n"
	      "  --order FILE   another order file (default: orders/demo.yaml "
	      "beside the\n"
	      "                 build folder, or ./orders/demo.yaml)\n"
	      "  --stations N   stations (threads) for parts 6 and 7\n"
	      "\n"
	      "--chip (or 'lifecycle') takes one fresh virtual chip through "
	      "its whole life\n"
	      "cycle and tells each step: MANUFACTURING (mask, fab test, FAB "
	      "CLOSE),\n"
	      "TRANSPORT (module and card body, transport code), "
	      "INITIALIZATION (files, PIN,\n"
	      "keys, fuse), PERSONALIZATION (SCP03 secure channel, ACTIVATE), "
	      "OPERATIONAL\n"
	      "(PIN, data, CPLC, no way back). Every answer is checked; the "
	      "first\n"
	      "unexpected one stops the demo (exit 1).\n"
	      "\n"
	      "  -d, --dir DIR      make the chip in DIR (created if missing) "
	      "and keep it as\n"
	      "                     DIR/demo-chip.img; default: a temporary "
	      "folder, removed\n"
	      "                     at the end (implies --chip)\n"
	      "  -f, --force        replace DIR/demo-chip.img if it exists\n"
	      "  -m, --model NAME   chip model (default cf32; implies --chip)\n"
	      "\n"
	      "Keys, PINs and codes are never printed.\n",
	      f);
}

/* ---- demo values: well known, never printed ---- */

static const uint8_t demo_serial[8] = { 0x43, 0x46, 0x44, 0x45,
					0x4D, 0x4F, 0x00, 0x01 };
static const uint8_t demo_tcode[8] = { '1', '2', '3', '4', '5', '6', '7', '8' };
static const uint8_t wrong_tcode[8] = { 0 };
static const uint8_t demo_pin[4] = { '1', '2', '3', '4' };
static const uint8_t wrong_pin[4] = { '0', '0', '0', '0' };
static const uint8_t demo_puk[8] = { '8', '7', '6', '5', '4', '3', '2', '1' };
/* The GlobalPlatform test key: ENC = MAC = DEK = 40 41 .. 4F. */
#define DEMO_KVN 0x30
static const uint8_t demo_aid[8] = { 0xF0, 'C', 'A', 'R', 'D', 'F', 'A', 'B' };
static const char holder[] = "DEMO HOLDER, 1 DEMO STREET, CARDFAB CITY";
static const uint8_t account[16] = "ACCOUNT 0001    ";
static const uint8_t log_entry[8] = "LOGIN 01";

#define PIN_REF 0x01
#define PUK_REF 0x02

/* ---- output ---- */

typedef struct {
	size_t off, len;   /* bytes of the APDU not to show */
	const char *label; /* shown instead: "demo PIN" */
} redact_t;

typedef struct {
	cli_card_t *card;
	unsigned step;
	scp03_host_t sc;
	int sc_open;
	uint8_t resp[COS_RAPDU_MAX];
	size_t resp_len; /* data only, without SW */
	uint16_t sw;
} demo_t;

#define WIDTH 78
#define INDENT "     "

/* Print a sentence wrapped at WIDTH, every line indented. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char text[1024];
	const char *p = text, *end, *brk;
	size_t room = WIDTH - strlen(INDENT);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	while (*p) {
		end = p + strlen(p);
		if ((size_t)(end - p) > room) {
			end = p + room;
			for (brk = end; brk > p && *brk != ' '; brk--)
				;
			if (brk > p)
				end = brk;
		}
		printf("%s%.*s\n", INDENT, (int)(end - p), p);
		p = end;
		while (*p == ' ')
			p++;
	}
}

static void phase(const char *name, const char *what)
{
	printf("\n== %s: %s\n", name, what);
}

/* Hex, with redacted ranges as <label>, wrapped at WIDTH; *col is the
 * current column. */
static void print_bytes(const uint8_t *p, size_t from, size_t to,
			const redact_t *red, size_t *col)
{
	size_t i, w;

	for (i = from; i < to; i++) {
		w = (red && i == red->off) ? strlen(red->label) + 2 : 2;
		if (*col + w > WIDTH) {
			printf("\n" INDENT "  ");
			*col = strlen(INDENT) + 2;
		}
		if (red && i == red->off) {
			printf("<%s>", red->label);
			i += red->len - 1;
		} else {
			printf("%02X", p[i]);
		}
		*col += w;
	}
}

/* A short command APDU: header spaced, then Lc, data, Le. */
static void print_apdu(const char *prefix, const uint8_t *a, size_t n,
		       const redact_t *red)
{
	size_t lc, col = strlen(prefix) + 11;

	printf("%s%02X %02X %02X %02X", prefix, a[0], a[1], a[2], a[3]);
	if (n == 5) {
		printf(" %02X", a[4]);
	} else if (n > 5) {
		lc = a[4];
		printf(" %02X ", a[4]);
		col += 4;
		print_bytes(a, 5, 5 + lc < n ? 5 + lc : n, red, &col);
		if (n == 6 + lc)
			printf(" %02X", a[n - 1]);
	}
	putchar('\n');
}

/* "< data SW", the data 32 bytes a line. */
static void print_response(const demo_t *d)
{
	size_t i;

	printf(INDENT "< ");
	for (i = 0; i < d->resp_len; i++) {
		if (i > 0 && i % 32 == 0)
			printf("\n" INDENT "  ");
		printf("%02X", d->resp[i]);
	}
	printf("%s%04X\n", d->resp_len ? " " : "", d->sw);
}

/* The data as text if it is printable ASCII (trailing blanks cut). */
static const char *as_text(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t i;

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == 0))
		n--;
	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7F) ? (char)p[i] : '.';
	out[i] = '\0';
	return out;
}

/* ---- exchanges ---- */

static size_t mk(uint8_t *out, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
		 const uint8_t *data, size_t nc, int le)
{
	size_t n = 4;

	out[0] = cla;
	out[1] = ins;
	out[2] = p1;
	out[3] = p2;
	if (nc > 0) {
		out[n++] = (uint8_t)nc;
		memcpy(out + n, data, nc);
		n += nc;
	}
	if (le >= 0)
		out[n++] = (uint8_t)le;
	return n;
}

static int transmit(demo_t *d, const char *title, const uint8_t *capdu,
		    size_t n, uint16_t expect)
{
	uint8_t r[COS_RAPDU_MAX];
	size_t rlen;
	char b1[64], b2[64];

	if (cli_card_transmit(d->card, capdu, n, r, sizeof r, &rlen) != CLI_OK)
		return CLI_FAIL;
	d->sw = (uint16_t)(r[rlen - 2] << 8 | r[rlen - 1]);
	d->resp_len = rlen - 2;
	memcpy(d->resp, r, d->resp_len);
	print_response(d);
	if (d->sw != expect) {
		cli_error("step %u (%s): the card answered %04X (%s), "
			  "expected %04X (%s)",
			  d->step, title, d->sw,
			  cli_sw_text(d->sw, b1, sizeof b1), expect,
			  cli_sw_text(expect, b2, sizeof b2));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* One step: title, the command, the answer, checked against expect. */
static int xchg(demo_t *d, const char *title, const uint8_t *capdu, size_t n,
		const redact_t *red, uint16_t expect)
{
	d->step++;
	printf("\n[%u] %s\n", d->step, title);
	print_apdu(INDENT "> ", capdu, n, red);
	return transmit(d, title, capdu, n, expect);
}

/* The same through the SCP03 session: shown as sent and in plain. */
static int sxchg(demo_t *d, const char *title, const uint8_t *plain, size_t n,
		 const redact_t *red, uint16_t expect)
{
	uint8_t wire[COS_CAPDU_MAX];
	size_t wn;
	scp03_host_status_t st;
	int rc;

	d->step++;
	printf("\n[%u] %s, in the secure channel\n", d->step, title);
	st = scp03_host_wrap(&d->sc, plain, n, wire, sizeof wire, &wn);
	if (st != SCP03_HOST_OK) {
		cli_error("step %u (%s): SCP03 wrap failed: %s", d->step, title,
			  scp03_host_strerror(st));
		return CLI_FAIL;
	}
	print_apdu(INDENT "> ", wire, wn, NULL);
	print_apdu(INDENT "  plain: ", plain, n, red);
	rc = transmit(d, title, wire, wn, expect);
	cli_wipe(wire, sizeof wire);
	return rc;
}

/* A step without an APDU. */
static void note(demo_t *d, const char *title)
{
	d->step++;
	printf("\n[%u] %s\n", d->step, title);
}

/* GET DATA DF30 and a sentence about the state it reports. */
static int chip_data(demo_t *d, const char *title)
{
	uint8_t a[8];
	const uint8_t *p, *end;
	uint8_t lc = 0, gp = 0, tries = 0;
	uint32_t freeb = 0;
	size_t n = mk(a, 0x00, 0xCA, 0xDF, 0x30, NULL, 0, 0);

	if (xchg(d, title, a, n, NULL, 0x9000) != CLI_OK)
		return CLI_FAIL;
	/* DF30 len { 80 model, 81 lc, 82 gp, 83 serial, 84, 85, 86 } */
	if (d->resp_len < 3) {
		cli_error("step %u: GET DATA DF30 answered %zu bytes", d->step,
			  d->resp_len);
		return CLI_FAIL;
	}
	p = d->resp + 3;
	end = d->resp + d->resp_len;
	while (p + 2 <= end && p + 2 + p[1] <= end) {
		if (p[0] == 0x81 && p[1] == 1)
			lc = p[2];
		else if (p[0] == 0x82 && p[1] == 1)
			gp = p[2];
		else if (p[0] == 0x85 && p[1] == 4)
			freeb = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 |
				(uint32_t)p[4] << 8 | p[5];
		else if (p[0] == 0x86 && p[1] == 1)
			tries = p[2];
		p += 2 + p[1];
	}
	if (lc == COS_LC_TRANSPORT)
		say("Chip data: life cycle %s (GlobalPlatform %02X %s), %u "
		    "transport code tries left, %u bytes free for files.",
		    cos_lifecycle_name((cos_lifecycle_t)lc), gp,
		    cli_gp_state_name(gp), tries, (unsigned)freeb);
	else
		say("Chip data: life cycle %s (GlobalPlatform %02X %s), %u "
		    "bytes free for files.",
		    cos_lifecycle_name((cos_lifecycle_t)lc), gp,
		    cli_gp_state_name(gp), (unsigned)freeb);
	return CLI_OK;
}

static void show_atr(demo_t *d)
{
	const uint8_t *atr;
	size_t n, k, i;
	uint8_t lcs = 0;

	atr = cli_card_atr(d->card, &n);
	printf(INDENT "ATR ");
	cli_hex_print(stdout, atr, n, 0);
	putchar('\n');
	/* Historical bytes: the last K before TCK; after the category
	 * indicator 80, compact-TLV objects; 81 is the status indicator. */
	k = n > 2 ? (size_t)(atr[1] & 0x0F) : 0;
	if (n >= k + 2 && k > 0 && atr[n - 1 - k] == 0x80) {
		for (i = n - k; i < n - 1; i += 1 + (atr[i] & 0x0F))
			if (atr[i] == 0x81 && i + 1 < n - 1)
				lcs = atr[i + 1];
	}
	say("The answer to reset: direct convention, T=0 and T=1 offered, "
	    "historical bytes with the last four bytes of the serial and the "
	    "life cycle status byte %02X (%s).",
	    lcs, cli_lcs_name(lcs));
}

/* 8C compact access conditions from one condition per operation (bit 1
 * first); COS_AC_NEVER drops the operation's bit. Returns the length. */
static size_t compact_ac(const uint8_t ac[COS_AC_OPS], uint8_t *out)
{
	size_t n = 1;
	int bit;

	out[0] = 0;
	for (bit = COS_AC_OPS - 1; bit >= 0; bit--) {
		if (ac[bit] == COS_AC_NEVER)
			continue;
		out[0] = (uint8_t)(out[0] | 1u << bit);
		out[n++] = ac[bit];
	}
	return n;
}

/* CREATE FILE with FCP 62 { 82 .., 83 fid, [80 size], [84 aid], [88 sfi],
 * 8C .. } */
static int create_file(demo_t *d, const char *title, uint8_t fdb, uint16_t fid,
		       unsigned size, unsigned records, const uint8_t *aid,
		       size_t aid_len, uint8_t sfi,
		       const uint8_t ac[COS_AC_OPS])
{
	uint8_t fcp[96], a[128];
	size_t n = 2;

	fcp[0] = 0x62;
	fcp[n++] = 0x82;
	if (records) {
		fcp[n++] = 5;
		fcp[n++] = fdb;
		fcp[n++] = 0x21;
		fcp[n++] = 0x00;
		fcp[n++] = (uint8_t)size;
		fcp[n++] = (uint8_t)records;
	} else {
		fcp[n++] = 1;
		fcp[n++] = fdb;
	}
	fcp[n++] = 0x83;
	fcp[n++] = 2;
	fcp[n++] = (uint8_t)(fid >> 8);
	fcp[n++] = (uint8_t)fid;
	if (fdb == 0x01) {
		fcp[n++] = 0x80;
		fcp[n++] = 2;
		fcp[n++] = (uint8_t)(size >> 8);
		fcp[n++] = (uint8_t)size;
	}
	if (aid_len) {
		fcp[n++] = 0x84;
		fcp[n++] = (uint8_t)aid_len;
		memcpy(fcp + n, aid, aid_len);
		n += aid_len;
	}
	if (sfi) {
		fcp[n++] = 0x88;
		fcp[n++] = 1;
		fcp[n++] = (uint8_t)(sfi << 3);
	}
	fcp[n++] = 0x8C;
	fcp[n] = (uint8_t)compact_ac(ac, fcp + n + 1);
	n += 1 + fcp[n];
	fcp[1] = (uint8_t)(n - 2);
	return xchg(d, title, a, mk(a, 0x00, 0xE0, 0x00, 0x00, fcp, n, -1),
		    NULL, 0x9000);
}

static int select_fid(demo_t *d, int secure, uint16_t fid, const char *title)
{
	uint8_t a[16], f[2] = { (uint8_t)(fid >> 8), (uint8_t)fid };
	size_t n = mk(a, 0x00, 0xA4, 0x02, 0x0C, f, 2, -1);

	return secure ? sxchg(d, title, a, n, NULL, 0x9000) :
			xchg(d, title, a, n, NULL, 0x9000);
}

static int select_aid(demo_t *d, int secure, const char *title)
{
	uint8_t a[32];
	size_t n = mk(a, 0x00, 0xA4, 0x04, 0x0C, demo_aid, sizeof demo_aid, -1);

	return secure ? sxchg(d, title, a, n, NULL, 0x9000) :
			xchg(d, title, a, n, NULL, 0x9000);
}

/* PUT DATA DF02: one member of the SCP03 key set. */
static int put_key(demo_t *d, uint8_t id, const char *title)
{
	uint8_t data[32], a[48];
	size_t n = 0, k;
	redact_t red;
	int rc;

	data[n++] = 0x80, data[n++] = 1, data[n++] = id;
	data[n++] = 0x81, data[n++] = 1, data[n++] = DEMO_KVN;
	data[n++] = 0x82, data[n++] = 1, data[n++] = COS_ALG_AES;
	data[n++] = 0x83, data[n++] = 1, data[n++] = COS_KEY_USE_SCP03;
	data[n++] = 0x84, data[n++] = 16;
	red.off = 5 + n;
	red.len = 16;
	red.label = "demo key";
	for (k = 0; k < 16; k++)
		data[n++] = (uint8_t)(0x40 + k);
	n = mk(a, 0x00, 0xDA, 0xDF, 0x02, data, n, -1);
	cli_wipe(data, sizeof data);
	rc = xchg(d, title, a, n, &red, 0x9000);
	cli_wipe(a, sizeof a);
	return rc;
}

static int put_stamp(demo_t *d, uint16_t tag, uint16_t who, uint32_t equip,
		     int with_equip, int secure, uint16_t expect,
		     const char *title)
{
	uint8_t data[8], a[16], date[2];
	size_t n = 0;

	cli_yddd_today(date);
	data[n++] = (uint8_t)(who >> 8);
	data[n++] = (uint8_t)who;
	data[n++] = date[0];
	data[n++] = date[1];
	if (with_equip) {
		data[n++] = (uint8_t)(equip >> 24);
		data[n++] = (uint8_t)(equip >> 16);
		data[n++] = (uint8_t)(equip >> 8);
		data[n++] = (uint8_t)equip;
	}
	n = mk(a, 0x00, 0xDA, (uint8_t)(tag >> 8), (uint8_t)tag, data, n, -1);
	return secure ? sxchg(d, title, a, n, NULL, expect) :
			xchg(d, title, a, n, NULL, expect);
}

static int verify(demo_t *d, uint8_t ref, const uint8_t *v, size_t len,
		  const char *label, uint16_t expect, const char *title)
{
	uint8_t a[32];
	size_t n = mk(a, 0x00, 0x20, 0x00, ref, v, len, -1);
	redact_t red = { 5, len, label };
	int rc = xchg(d, title, a, n, &red, expect);

	cli_wipe(a, sizeof a);
	return rc;
}

/* ---- the story ---- */

#define TRY(x)                           \
	do {                             \
		if ((x) != CLI_OK)       \
			return CLI_FAIL; \
	} while (0)

static int manufacturing(demo_t *d, const char *path, const cos_model_t *m,
			 int force)
{
	uint8_t a[64], data[32], date[2], batch[2] = { 0x00, 0x01 };
	char serial[17], text[8];
	size_t n;
	redact_t red;
	int rc;

	phase("MANUFACTURING", "the chip fab (part 2)");
	note(d, "Mask: the card OS goes into a blank chip");
	TRY(cli_chip_create(path, m, force));
	say("A blank %s (%s) got the card OS: an empty file system (the MF "
	    "only), life cycle MANUFACTURING.",
	    m->name, m->summary);
	TRY(cli_card_open_image(path, &d->card));
	show_atr(d);

	TRY(chip_data(d, "GET DATA DF30: chip data"));

	n = mk(a, 0x80, 0x30, 0x00, 0x00, NULL, 0, 4);
	TRY(xchg(d, "TEST NVM: the fab's memory test", a, n, NULL, 0x9000));
	if (d->resp_len == 4)
		say("The probe station's test wrote 55 and AA over %u bytes of "
		    "free EEPROM, read them back and restored them: the die is "
		    "good.",
		    (unsigned)((uint32_t)d->resp[0] << 24 |
			       (uint32_t)d->resp[1] << 16 |
			       (uint32_t)d->resp[2] << 8 | d->resp[3]));

	n = mk(a, 0x80, 0x32, 0x00, 0x00, NULL, 0, 16);
	TRY(xchg(d, "READ NVM: raw EEPROM dump at offset 0000", a, n, NULL,
		 0x9000));
	say("The first bytes of the EEPROM, raw: the card OS's system area "
	    "(\"%s\" is its magic). Only a chip in MANUFACTURING shows its "
	    "memory like this.",
	    as_text(d->resp, d->resp_len < 4 ? d->resp_len : 4, text,
		    sizeof text));

	cli_yddd_today(date);
	n = chip_fab_close_data(data, demo_serial, demo_tcode, 3, date, batch);
	n = mk(a, 0x80, 0x34, 0x00, 0x00, data, n, -1);
	cli_wipe(data, sizeof data);
	red.off = 5 + CHIP_FAB_CLOSE_TCODE_OFF;
	red.len = 8;
	red.label = "demo transport code";
	rc = xchg(d,
		  "FAB CLOSE: serial and transport code, the test pads close",
		  a, n, &red, 0x9000);
	cli_wipe(a, sizeof a);
	TRY(rc);
	cli_hex_str(demo_serial, 8, serial, sizeof serial);
	say("The fab wrote the chip serial %s, the transport code (3 tries), "
	    "today's date and batch 0001 (the fab's CPLC fields), and closed "
	    "the chip: it leaves the fab in TRANSPORT.",
	    serial);
	return CLI_OK;
}

static int transport(demo_t *d)
{
	uint8_t a[16];
	size_t n;

	phase("TRANSPORT", "module, card body, on the way to the card maker "
			   "(parts 3 to 5)");
	n = mk(a, 0x80, 0x30, 0x00, 0x00, NULL, 0, 4);
	TRY(xchg(d, "TEST NVM again", a, n, NULL, 0x6D00));
	say("6D00: the test commands no longer exist. No sequence of APDUs "
	    "brings them back: the test pads are not a door.");
	n = mk(a, 0x80, 0x32, 0x00, 0x00, NULL, 0, 16);
	TRY(xchg(d, "READ NVM again", a, n, NULL, 0x6D00));
	say("No raw memory dump either: the transport code, and later the "
	    "keys, cannot leak that way.");

	n = mk(a, 0x00, 0xA4, 0x00, 0x0C, (const uint8_t *)"\x3F\x00", 2, -1);
	TRY(xchg(d, "SELECT MF", a, n, NULL, 0x9000));
	say("In TRANSPORT the chip still answers SELECT MF and GET DATA, so "
	    "that every station can identify it.");
	TRY(chip_data(d, "GET DATA DF30: chip data"));

	TRY(put_stamp(d, 0xDF41, 0x4D4F, 0, 0, 0, 0x9000,
		      "PUT DATA DF41: the module maker's CPLC stamp"));
	say("Part 4: the die is mounted on its 8-contact module; the module "
	    "maker stamps its code and the packaging date into the CPLC.");
	TRY(put_stamp(d, 0xDF42, 0x4342, 0, 0, 0, 0x9000,
		      "PUT DATA DF42: the card body maker's CPLC stamp"));
	say("Part 5: the module is embedded in the card body; the card maker "
	    "stamps its code and the embedding date.");
	TRY(put_stamp(d, 0xDF42, 0x4343, 0, 0, 0, 0x6985,
		      "PUT DATA DF42 once more"));
	say("6985: a stamp is written once, by its owner; nobody rewrites "
	    "the chip's history.");
	return CLI_OK;
}

static int initialization(demo_t *d)
{
	static const uint8_t ac_df[COS_AC_OPS] = {
		COS_AC_NEVER, COS_AC_SM, COS_AC_SM,    COS_AC_SM,
		COS_AC_SM,    COS_AC_SM, COS_AC_NEVER,
	};
	static const uint8_t ac_holder[COS_AC_OPS] = {
		COS_AC_ALWAYS, COS_AC_SM, COS_AC_NEVER, COS_AC_SM,
		COS_AC_SM,     COS_AC_SM, COS_AC_NEVER,
	};
	static const uint8_t ac_account[COS_AC_OPS] = {
		COS_AC_PIN | PIN_REF,
		COS_AC_SM,
		COS_AC_SM,
		COS_AC_SM,
		COS_AC_SM,
		COS_AC_SM,
		COS_AC_NEVER,
	};
	static const uint8_t ac_log[COS_AC_OPS] = {
		COS_AC_PIN | PIN_REF,
		COS_AC_NEVER,
		COS_AC_PIN | PIN_REF,
		COS_AC_SM,
		COS_AC_SM,
		COS_AC_SM,
		COS_AC_NEVER,
	};
	uint8_t data[48], a[64];
	size_t n;
	redact_t red;
	int rc;

	phase("INITIALIZATION", "the card maker (part 6)");
	TRY(verify(d, 0x1F, wrong_tcode, 8, "wrong transport code", 0x63C2,
		   "VERIFY the transport code: a wrong one"));
	say("63C2: wrong code, 2 tries left. The try was spent in EEPROM "
	    "before the compare; at 0 the chip would be dead for good.");
	TRY(verify(d, 0x1F, demo_tcode, 8, "demo transport code", 0x9000,
		   "VERIFY the transport code: the right one"));
	say("The chip reached the right card maker: INITIALIZATION. Access "
	    "conditions are not enforced while the card maker builds the "
	    "card.");
	TRY(chip_data(d, "GET DATA DF30: chip data"));
	TRY(put_stamp(d, 0xDF43, 0x4943, 0x00000001, 1, 0, 0x9000,
		      "PUT DATA DF43: the pre-personalizer's CPLC stamp"));
	say("The card maker (pre-personalizer) stamps its code, the date and "
	    "its equipment ID.");

	TRY(create_file(d, "CREATE FILE: DF 5000, the demo application", 0x38,
			0x5000, 0, 0, demo_aid, sizeof demo_aid, 0, ac_df));
	say("A DF named by the AID F0 + \"CARDFAB\" (an F0 AID is "
	    "proprietary, unregistered); it is now the current DF. Creating "
	    "in it later needs the secure channel.");
	TRY(create_file(d, "CREATE FILE: EF 5001, transparent, 64 bytes", 0x01,
			0x5001, 64, 0, NULL, 0, 1, ac_holder));
	say("The holder's data: anyone may read it, only the issuer's secure "
	    "channel may write it, nobody may delete it.");
	TRY(create_file(d,
			"CREATE FILE: EF 5002, linear fixed, 4 records of "
			"16 bytes",
			0x02, 0x5002, 16, 4, NULL, 0, 2, ac_account));
	say("The account records: read after PIN 1, written by the issuer "
	    "only.");
	TRY(create_file(d,
			"CREATE FILE: EF 5003, cyclic, 5 records of 8 "
			"bytes",
			0x06, 0x5003, 8, 5, NULL, 0, 3, ac_log));
	say("A log: each new record overwrites the oldest; the holder appends "
	    "and reads after PIN 1.");

	n = 0;
	data[n++] = 0x80, data[n++] = 1, data[n++] = PUK_REF;
	data[n++] = 0x81, data[n++] = 1, data[n++] = 10;
	data[n++] = 0x82, data[n++] = 1, data[n++] = sizeof demo_puk;
	data[n++] = 0x83, data[n++] = sizeof demo_puk;
	red.off = 5 + n;
	red.len = sizeof demo_puk;
	red.label = "demo PUK";
	memcpy(data + n, demo_puk, sizeof demo_puk);
	n += sizeof demo_puk;
	n = mk(a, 0x00, 0xDA, 0xDF, 0x01, data, n, -1);
	cli_wipe(data, sizeof data);
	rc = xchg(d, "PUT DATA DF01: PIN 02, the PUK", a, n, &red, 0x9000);
	cli_wipe(a, sizeof a);
	TRY(rc);
	say("The unblocking code (PUK): 8 digits, 10 tries, with its value.");

	n = 0;
	data[n++] = 0x80, data[n++] = 1, data[n++] = PIN_REF;
	data[n++] = 0x81, data[n++] = 1, data[n++] = 3;
	data[n++] = 0x82, data[n++] = 1, data[n++] = sizeof demo_pin;
	data[n++] = 0x84, data[n++] = 1, data[n++] = PUK_REF;
	n = mk(a, 0x00, 0xDA, 0xDF, 0x01, data, n, -1);
	TRY(xchg(d, "PUT DATA DF01: PIN 01, the holder's PIN", a, n, NULL,
		 0x9000));
	say("The holder's PIN: 4 digits, 3 tries, unblocked by PIN 02. No "
	    "value yet: the issuer sets it in personalization.");

	TRY(put_key(d, 1, "PUT DATA DF02: SCP03 key ENC (version 30)"));
	TRY(put_key(d, 2, "PUT DATA DF02: SCP03 key MAC (version 30)"));
	TRY(put_key(d, 3, "PUT DATA DF02: SCP03 key DEK (version 30)"));
	say("The issuer's SCP03 key set, AES-128, version 30. In this demo "
	    "they are GlobalPlatform's well-known test key, never to be used "
	    "on a real card; a real card gets card-unique keys diversified "
	    "from the issuer's master keys in an HSM.");

	n = mk(a, 0x80, 0xF0, 0x80, 0x07, NULL, 0, -1);
	TRY(xchg(d, "SET STATUS 07: burn the fuse", a, n, NULL, 0x9000));
	say("The fuse is burnt: PERSONALIZATION (GlobalPlatform INITIALIZED). "
	    "The transport code is erased; from now on every write needs the "
	    "issuer's secure channel. There is no way back.");
	return CLI_OK;
}

static int personalization(demo_t *d)
{
	static const scp03_host_keys_t keys_template = {
		DEMO_KVN, 16, { 0 }, { 0 }, { 0 }
	};
	scp03_host_keys_t keys = keys_template;
	uint8_t a[96], hc[8], fid[2] = { 0x3F, 0x00 };
	size_t n, k;
	scp03_host_status_t st;
	redact_t red;
	int rc;

	phase("PERSONALIZATION", "the issuer (part 7)");
	TRY(chip_data(d, "GET DATA DF30: chip data"));
	TRY(select_aid(d, 0, "SELECT the demo application by its AID"));
	TRY(select_fid(d, 0, 0x5001, "SELECT EF 5001"));
	n = mk(a, 0x00, 0xD6, 0x00, 0x00, (const uint8_t *)holder,
	       strlen(holder), -1);
	TRY(xchg(d, "UPDATE BINARY without a secure channel", a, n, NULL,
		 0x6982));
	say("6982: refused. In PERSONALIZATION only the issuer writes, and "
	    "only through its SCP03 secure channel.");

	for (k = 0; k < 16; k++)
		keys.enc[k] = keys.mac[k] = keys.dek[k] = (uint8_t)(0x40 + k);
	TRY(cli_random(hc, sizeof hc));
	st = scp03_host_begin(&d->sc, &keys, hc);
	cli_wipe(&keys, sizeof keys);
	if (st == SCP03_HOST_OK)
		st = scp03_host_initialize_update(&d->sc, a, sizeof a, &n);
	if (st != SCP03_HOST_OK) {
		cli_error("SCP03: %s", scp03_host_strerror(st));
		return CLI_FAIL;
	}
	d->sc_open = 1;
	TRY(xchg(d, "INITIALIZE UPDATE: open an SCP03 session, key version 30",
		 a, n, NULL, 0x9000));
	if (d->resp_len < 29) {
		cli_error("step %u: INITIALIZE UPDATE answered %zu bytes, "
			  "expected 29",
			  d->step, d->resp_len);
		return CLI_FAIL;
	}
	say("The card sent its key diversification data, key version %02X, "
	    "SCP%02X with i=%02X, its challenge and its cryptogram.",
	    d->resp[10], d->resp[11], d->resp[12]);
	st = scp03_host_external_authenticate(
		&d->sc, d->resp, d->resp_len,
		SCP03_HOST_C_MAC | SCP03_HOST_C_DEC, a, sizeof a, &n);
	if (st != SCP03_HOST_OK) {
		cli_error("step %u: %s", d->step, scp03_host_strerror(st));
		return CLI_FAIL;
	}
	say("The host derived the session keys from the demo key set (NIST SP "
	    "800-108 KDF with AES-CMAC) and checked the card's cryptogram: "
	    "this card holds the issuer's keys.");
	TRY(xchg(d, "EXTERNAL AUTHENTICATE: the host's cryptogram, level 03", a,
		 n, NULL, 0x9000));
	say("The card checked the host's cryptogram and C-MAC: the session is "
	    "open with C-MAC and C-DECRYPTION. Every command now carries a MAC "
	    "chained to the previous one and its data is encrypted.");

	TRY(select_aid(d, 1, "SELECT the demo application"));
	TRY(select_fid(d, 1, 0x5001, "SELECT EF 5001"));
	n = mk(a, 0x00, 0xD6, 0x00, 0x00, (const uint8_t *)holder,
	       strlen(holder), -1);
	TRY(sxchg(d, "UPDATE BINARY: the holder's data", a, n, NULL, 0x9000));
	say("Written: the same command that was refused a moment ago, now "
	    "MACed and encrypted by the issuer.");
	TRY(select_fid(d, 1, 0x5002, "SELECT EF 5002"));
	n = mk(a, 0x00, 0xE2, 0x00, 0x00, account, sizeof account, -1);
	TRY(sxchg(d, "APPEND RECORD: the account record", a, n, NULL, 0x9000));
	say("A record file starts empty: APPEND RECORD writes record 1.");

	n = mk(a, 0x00, 0x24, 0x01, PIN_REF, demo_pin, sizeof demo_pin, -1);
	red.off = 5;
	red.len = sizeof demo_pin;
	red.label = "demo PIN";
	rc = sxchg(d, "CHANGE REFERENCE DATA: set PIN 01", a, n, &red, 0x9000);
	cli_wipe(a, sizeof a);
	TRY(rc);
	say("The holder's PIN is set (here the demo PIN); it travelled "
	    "encrypted under the session key.");

	TRY(put_stamp(d, 0xDF44, 0x5045, 0x00000007, 1, 1, 0x9000,
		      "PUT DATA DF44: the personalizer's CPLC stamp"));
	say("The personalizer stamps its code, the date and its station's "
	    "equipment ID.");

	n = mk(a, 0x00, 0x44, 0x00, 0x00, fid, 2, -1);
	TRY(sxchg(d, "ACTIVATE FILE 3F00: user mode", a, n, NULL, 0x9000));
	say("The card is OPERATIONAL (GlobalPlatform SECURED): from now on "
	    "the access conditions hold as designed, for everybody.");
	scp03_host_end(&d->sc);
	d->sc_open = 0;
	return CLI_OK;
}

static int operational(demo_t *d)
{
	uint8_t a[64];
	char text[96];
	size_t n;

	phase("OPERATIONAL", "the card holder");
	note(d, "Reset: the card in the holder's terminal");
	TRY(cli_card_reset(d->card));
	show_atr(d);
	say("A reset wipes the chip's RAM: the session keys and every "
	    "security status are gone.");
	TRY(chip_data(d, "GET DATA DF30: chip data"));

	TRY(select_aid(d, 0, "SELECT the demo application by its AID"));
	n = mk(a, 0x00, 0xB0, 0x81, 0x00, NULL, 0, (int)strlen(holder));
	TRY(xchg(d, "READ BINARY, SFI 1: the holder's data", a, n, NULL,
		 0x9000));
	say("Readable by anyone: \"%s\".",
	    as_text(d->resp, d->resp_len, text, sizeof text));
	TRY(select_fid(d, 0, 0x5002, "SELECT EF 5002"));
	n = mk(a, 0x00, 0xB2, 0x01, 0x04, NULL, 0, 16);
	TRY(xchg(d, "READ RECORD 1 without the PIN", a, n, NULL, 0x6982));
	say("6982: the account records need PIN 01.");
	TRY(verify(d, PIN_REF, wrong_pin, sizeof wrong_pin, "wrong PIN", 0x63C2,
		   "VERIFY PIN 01: a wrong PIN"));
	say("63C2: wrong PIN, 2 tries left.");
	TRY(verify(d, PIN_REF, demo_pin, sizeof demo_pin, "demo PIN", 0x9000,
		   "VERIFY PIN 01: the demo PIN"));
	say("Right: the counter is back to 3 and PIN 01 is verified until the "
	    "next reset.");
	n = mk(a, 0x00, 0xB2, 0x01, 0x04, NULL, 0, 16);
	TRY(xchg(d, "READ RECORD 1", a, n, NULL, 0x9000));
	say("The account record the issuer wrote: \"%s\".",
	    as_text(d->resp, d->resp_len, text, sizeof text));
	TRY(select_fid(d, 0, 0x5003, "SELECT EF 5003"));
	n = mk(a, 0x00, 0xE2, 0x00, 0x00, log_entry, sizeof log_entry, -1);
	TRY(xchg(d, "APPEND RECORD: a log entry", a, n, NULL, 0x9000));
	n = mk(a, 0x00, 0xB2, 0x01, 0x04, NULL, 0, 8);
	TRY(xchg(d, "READ RECORD 1 of the cyclic log", a, n, NULL, 0x9000));
	say("Record 1 of a cyclic file is the most recent: \"%s\".",
	    as_text(d->resp, d->resp_len, text, sizeof text));

	n = mk(a, 0x00, 0xCA, 0x9F, 0x7F, NULL, 0, 0);
	TRY(xchg(d, "GET DATA 9F7F: the CPLC", a, n, NULL, 0x9000));
	say("The chip's production life, as each part stamped it:");
	if (d->resp_len == 3 + COS_CPLC_LEN)
		chip_print_cplc(stdout, d->resp + 3, INDENT "  ");

	note(d, "The card, as `cardfab chip info` shows it");
	TRY(chip_print_info(stdout, d->card, INDENT));

	n = mk(a, 0x80, 0xF0, 0x80, 0x07, NULL, 0, -1);
	TRY(xchg(d, "SET STATUS 07: try to go back to PERSONALIZATION", a, n,
		 NULL, 0x6985));
	say("6985: the life cycle only moves forward.");
	n = mk(a, 0x80, 0x30, 0x00, 0x00, NULL, 0, 4);
	TRY(xchg(d, "TEST NVM: try the fab's test command", a, n, NULL,
		 0x6D00));
	say("6D00: still gone, as it will stay.");
	return CLI_OK;
}

/* ---- the command ---- */

static int make_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return CLI_OK;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return CLI_OK;
	cli_error("--dir %s: %s", dir,
		  errno == EEXIST ? "exists and is not a folder" :
				    strerror(errno));
	return CLI_FAIL;
}

static int demo_chip(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "model", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *model_name = "cf32", *tmp;
	const cos_model_t *model;
	char tmpl[4096], path[4200];
	demo_t d;
	int c, rc, keep, force = 0;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":d:m:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'm':
			model_name = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			usage_demo(stdout);
			return CLI_OK;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (force && dir == NULL)
		return cli_usage_error(TOPIC, "--force goes with --dir DIR");
	model = cos_model_find(model_name);
	if (model == NULL)
		return cli_usage_error(TOPIC, "--model '%s': unknown model",
				       model_name);
	keep = dir != NULL;
	if (dir != NULL) {
		if (make_dir(dir) != CLI_OK)
			return CLI_FAIL;
	} else {
		tmp = getenv("TMPDIR");
		snprintf(tmpl, sizeof tmpl, "%s/cardfab-demo-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		dir = mkdtemp(tmpl);
		if (dir == NULL) {
			cli_error("%s: cannot make a temporary folder: %s",
				  tmpl, strerror(errno));
			return CLI_FAIL;
		}
	}
	snprintf(path, sizeof path, "%s/demo-chip.img", dir);

	memset(&d, 0, sizeof d);
	printf("cardfab demo: one chip, from the fab to the card holder\n");
	printf("chip image: %s%s\n", path, keep ? "" : " (removed at the end)");
	printf("The transport code, PIN, PUK and keys are fixed, well-known "
	       "demo values,\nnever to be used on a real card; they are not "
	       "printed.\n");

	rc = manufacturing(&d, path, model, force);
	if (rc == CLI_OK)
		rc = transport(&d);
	if (rc == CLI_OK)
		rc = initialization(&d);
	if (rc == CLI_OK)
		rc = personalization(&d);
	if (rc == CLI_OK)
		rc = operational(&d);
	scp03_host_end(&d.sc);
	if (cli_card_close(d.card) != CLI_OK)
		rc = CLI_FAIL;
	if (!keep) {
		unlink(path);
		rmdir(dir);
	}
	if (rc == CLI_OK)
		printf("\nDone: %u steps. The chip is OPERATIONAL, in the "
		       "holder's hands%s%s.\n",
		       d.step, keep ? "; its image is " : "", keep ? path : "");
	else
		printf("\nThe demo stopped at step %u.\n", d.step);
	fflush(stdout);
	return rc;
}

/* ---------------------------------------------------------------- order */

#define DEMO_MARKER ".cardfab-demo"
#define DEMO_WORK "cardfab-demo"

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * The demo's folder: made if absent; a previous demo's (its marker) is
 * removed and made again; any other folder must be empty.
 */
static int demo_folder(const char *work)
{
	char marker[4200];
	struct stat sb;
	DIR *dir;
	struct dirent *e;
	int empty = 1, fd;

	snprintf(marker, sizeof marker, "%s/" DEMO_MARKER, work);
	if (stat(work, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			cli_error("%s exists and is not a folder", work);
			return CLI_FAIL;
		}
		if (stat(marker, &sb) == 0) {
			printf("removing the previous demo in %s\n", work);
			if (nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS) !=
			    0) {
				cli_error("%s: cannot remove: %s", work,
					  strerror(errno));
				return CLI_FAIL;
			}
		} else {
			dir = opendir(work);
			if (dir == NULL) {
				cli_error("%s: %s", work, strerror(errno));
				return CLI_FAIL;
			}
			while ((e = readdir(dir)) != NULL)
				if (strcmp(e->d_name, ".") != 0 &&
				    strcmp(e->d_name, "..") != 0)
					empty = 0;
			closedir(dir);
			if (!empty) {
				cli_error("%s is not empty and not a demo's "
					  "folder: give another with --work "
					  "DIR",
					  work);
				return CLI_FAIL;
			}
		}
	}
	if (mkdir(work, 0700) != 0 && errno != EEXIST) {
		cli_error("%s: %s", work, strerror(errno));
		return CLI_FAIL;
	}
	fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		cli_error("%s: %s", marker, strerror(errno));
		return CLI_FAIL;
	}
	close(fd);
	return CLI_OK;
}

/* orders/demo.yaml: beside the build folder of this executable, else in
 * the current folder. */
static int find_order(char *out, size_t cap)
{
	char exe[4096], *slash, abs[4096];
	ssize_t n;
	struct stat sb;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(out, cap, "%s/../orders/demo.yaml", exe);
			if (realpath(out, abs) != NULL) {
				snprintf(out, cap, "%s", abs);
				return 0;
			}
			snprintf(out, cap,
				 "%s/../share/cardfab/orders/"
				 "demo.yaml",
				 exe);
			if (stat(out, &sb) == 0)
				return 0;
		}
	}
	snprintf(out, cap, "orders/demo.yaml");
	return stat(out, &sb) == 0 ? 0 : -1;
}

static int demo_order(int argc, char **argv)
{
	enum {
		O_WORK = 256,
		O_ORDER,
		O_STATIONS
	};
	static const struct option opts[] = {
		{ "work", required_argument, NULL, O_WORK },
		{ "order", required_argument, NULL, O_ORDER },
		{ "stations", required_argument, NULL, O_STATIONS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char order[4200], db[4300];
	const char *work = DEMO_WORK, *order_file = NULL;
	run_opts_t ro;
	unsigned long v;
	char *end;
	int c;

	memset(&ro, 0, sizeof ro);
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_demo(stdout);
			return CLI_OK;
		case O_WORK:
			work = optarg;
			break;
		case O_ORDER:
			order_file = optarg;
			break;
		case O_STATIONS:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno || v < 1 ||
			    v > 64)
				return cli_usage_error(TOPIC,
						       "--stations: 1 to 64 "
						       "expected, got '%s'",
						       optarg);
			ro.stations = (unsigned)v;
			break;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (order_file == NULL) {
		if (find_order(order, sizeof order) != 0) {
			cli_error("orders/demo.yaml not found beside the "
				  "build folder nor here: give --order FILE");
			return CLI_FAIL;
		}
		order_file = order;
	}
	if (demo_folder(work) != CLI_OK)
		return CLI_FAIL;
	snprintf(db, sizeof db, "sqlite:%s/cardfab.db", work);
	printf("cardfab demo: a production order from wafer lots to issued "
	       "cards\n"
	       "order file: %s\nfolder:     %s (its own SoftHSM2 token, "
	       "keys generated for the demo)\n\n",
	       order_file, work);
	fflush(stdout);
	ro.order_file = order_file;
	ro.work = work;
	ro.db = db;
	return run_order(&ro);
}

int cmd_demo(int argc, char **argv)
{
	int i, chip = 0, n = 0;
	char **args;
	int rc;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--chip") == 0 || strcmp(a, "lifecycle") == 0 ||
		    strcmp(a, "-d") == 0 || strncmp(a, "--dir", 5) == 0 ||
		    strcmp(a, "-m") == 0 || strncmp(a, "--model", 7) == 0 ||
		    strcmp(a, "-f") == 0 || strcmp(a, "--force") == 0 ||
		    (a[0] == '-' && a[1] != '-' && strpbrk(a + 1, "dmf")))
			chip = 1;
	}
	if (!chip)
		return demo_order(argc, argv);
	args = calloc((size_t)argc + 1, sizeof *args);
	if (args == NULL) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	for (i = 0; i < argc; i++)
		if (i == 0 || (strcmp(argv[i], "--chip") != 0 &&
			       strcmp(argv[i], "lifecycle") != 0))
			args[n++] = argv[i];
	rc = demo_chip(n, args);
	free(args);
	return rc;
}
