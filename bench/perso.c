/*
 * perso.c - personalization throughput (part 7): cards per hour for 1, 2
 * and 4 stations on in-process virtual chips, beside the token's own cost
 * per card, the link time of the same APDUs at ISO/IEC 7816-3 speeds, and
 * data preparation beside its token operations alone; all measured in the
 * same run.
 *
 * Setup (not timed), in a fresh folder (default under /dev/shm, a tmpfs,
 * when it is writable; --dir to choose):
 *
 *   - a SoftHSM2 token of its own (softhsm2.conf with directories.tokendir
 *     in the folder, SOFTHSM2_CONF pointing at it: the user's SoftHSM2
 *     configuration is never read), random PINs never printed;
 *   - in it: every master key the profile names (generated), the transport
 *     master key TMK, the card-key wrapping key CARD-WRAP, the batch key
 *     BATCH-KEY and the PIN mailer key MAILER-KEY (batch role);
 *   - N chip images made as `cardfab chip new --transport-key TMK` makes
 *     them (cos_format, FAB CLOSE with the transport code derived in the
 *     token), then initialized with perso_init_card(): PERSONALIZATION;
 *   - a holder file of N holders, values generated for the profile's
 *     fields (every optional field filled).
 *
 * Timed:
 *
 *   prep     perso_prep_batch() of the N holders (read, checked, PINs drawn
 *            from the token's RNG, secrets encrypted, the batch written
 *            durably), beside its token operations alone: the same
 *            perso_random() draws (a byte a digit, 250..255 drawn again)
 *            and perso_encrypt() calls (same key, same AAD and lengths).
 *            Two rounds each, alternating; the best of each.
 *   perso    for 1, 2 and 4 stations (threads, each its own
 *            perso_token_session() of the one logged-in token): each
 *            station takes the next chip, opens it (reader_open vcard:,
 *            T=1), gets its holder from the batch (perso_batch_holder: the
 *            PINs decrypted in the token), personalizes it (perso_card:
 *            SCP03 with keys diversified in the token, data, PINs, CPLC,
 *            OPERATIONAL, everything read back), makes its PIN mailer line
 *            (perso_mailer_record: encrypted in the token) and closes the
 *            reader. Every call must succeed, every chip be found in
 *            PERSONALIZATION and left OPERATIONAL (checked again after the
 *            round, not timed), else the bench stops. The chips are fresh
 *            copies of the initialized set for each round (not timed).
 *            The journal and the outputs' files are not part of it.
 *   token    the token operations perso_card and the station do for a card,
 *            without the card, with as many threads: two diversified keys
 *            (perso_key_derive_wrapped + perso_key_unwrap_clear, the SCP03
 *            ENC and MAC keys), perso_batch_holder (its decryptions) and
 *            perso_mailer_record (one encryption).
 *
 * Computed: the ISO/IEC 7816-3 T=1 link time of each card's APDUs (see
 * link_time()), at 9,600 bit/s and at the fastest rate a TA1 allows.
 *
 * Output: markdown tables on stdout, each figure beside its baseline, the
 * three goals of the issue marked met or not met, and the command that
 * reproduces the run; progress on stderr. "CPUs busy" is the process's CPU
 * time over the round's wall time.
 *
 * Usage: perso [-n N] [--profile PATH] [--dir DIR] [--module PATH]
 *              [--stations LIST] [--keep]
 *   -n N             cards (and holders) per round (default 2000)
 *   --profile PATH   a CPU-chip profile (default profiles/campus.yaml of
 *                    the source tree this was built from)
 *   --dir DIR        where the run's folder is made (default /dev/shm if
 *                    writable, else $TMPDIR, else /tmp)
 *   --module PATH    PKCS#11 module (default SoftHSM2's)
 *   --stations LIST  station counts, comma separated (default 1,2,4)
 *   --keep           keep the run's folder
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cos/cos.h"
#include "hal/hal_host.h"
#include "perso/init.h"
#include "perso/perso.h"
#include "perso/prep.h"
#include "perso/token.h"
#include "profile/profile.h"
#include "reader/reader.h"

#define TOKEN_LABEL "cardfab-bench"
#define TMK "TMK"
#define WRAP "CARD-WRAP"
#define BATCH_KEY "BATCH-KEY"
#define MAILER_KEY "MAILER-KEY"
#define MAX_STATIONS 64
#define MAX_ROUNDS 8

/* ---------------------------------------------------------------- util */

static char run_dir[4096];
static int keep_dir;

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "perso bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (run_dir[0] != '\0')
		fprintf(stderr,
			"perso bench: FAILED; the run's folder is "
			"left in %s\n",
			run_dir);
	exit(1);
}

/* CPU time of the whole process, every thread, user and system. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1234567.8 -> "1,234,568" */
static const char *grp(double v, char *buf, size_t cap)
{
	char tmp[64];
	double a = v < 0 ? -v : v;
	unsigned long long u = (unsigned long long)(a + 0.5);
	size_t n, i, k = 0;

	snprintf(tmp, sizeof tmp, "%llu", u);
	n = strlen(tmp);
	if (v < 0 && k + 1 < cap)
		buf[k++] = '-';
	for (i = 0; i < n && k + 2 < cap; i++) {
		buf[k++] = tmp[i];
		if ((n - i - 1) % 3 == 0 && i + 1 < n)
			buf[k++] = ',';
	}
	buf[k] = '\0';
	return buf;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

static void copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t r;

	if (in < 0)
		die("%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		die("%s: %s", to, strerror(errno));
	while ((r = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)r) != r)
			die("%s: %s", to, strerror(errno));
	if (r < 0)
		die("%s: %s", from, strerror(errno));
	close(in);
	if (close(out) != 0)
		die("%s: %s", to, strerror(errno));
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", p[i]);
}

/* ---------------------------------------------------------------- link */

/*
 * ISO/IEC 7816-3:2006, Table 7 (Fi and fmax, indexed by the high nibble
 * of TA1) and Table 8 (Di, by the low nibble); 0: reserved for future use.
 */
static const unsigned fi_tab[16] = { 372, 372, 558, 744,  1116, 1488, 1860, 0,
				     0,	  512, 768, 1024, 1536, 2048, 0,    0 };
static const double fmax_tab[16] = {
	4e6, 5e6, 6e6,	 8e6,  12e6, 16e6, 20e6, 0,
	0,   5e6, 7.5e6, 10e6, 15e6, 20e6, 0,	 0
};
static const unsigned di_tab[16] = { 0,	 1,  2, 4, 8, 16, 32, 64,
				     12, 20, 0, 0, 0, 0,  0,  0 };

/* Bits per second of TA1 at its fmax; 0 for a reserved code. */
static double ta1_rate(uint8_t ta1)
{
	unsigned fi = fi_tab[ta1 >> 4], di = di_tab[ta1 & 15];

	if (fi == 0 || di == 0)
		return 0;
	return fmax_tab[ta1 >> 4] * di / fi;
}

/* The TA1 with the highest bit rate: every Fi/fmax, Di pair of the two
 * tables tried. fmax/Fi is 10,753 Hz for every Fi of the 372 family at
 * its fmax (4 MHz/372, 6 MHz/558, ... 20 MHz/1860), 9,766 Hz for the 512
 * family (5 MHz/512 ... 20 MHz/2048), and 13,441 Hz for Fi 372 at fmax
 * 5 MHz (code 1) alone; the largest Di is 64 (code 7). So TA1 = 17:
 * 5 MHz x 64 / 372 = 860,215 bit/s, an etu of 1.1625 us. */
static uint8_t fastest_ta1(void)
{
	unsigned a;
	uint8_t best = 0x11;

	for (a = 0; a < 256; a++)
		if (ta1_rate((uint8_t)a) > ta1_rate(best))
			best = (uint8_t)a;
	return best;
}

/*
 * The time on the I/O line of a card's APDUs under T=1, etu seconds an
 * elementary time unit: each APDU is one I-block each way (the chip's ATR
 * announces IFSC 254 in TA3 and the reader's IFSD is 254; every APDU of a
 * profile whose units are at most 254 - 5 - 16 - 8 bytes fits: checked in
 * main), a block being prologue (NAD, PCB, LEN) + information field +
 * epilogue (LRC): 4 bytes more than the APDU. A character takes 11 etu at
 * least: the character guard time under T=1 is 11 etu when TC1 = FF
 * (N = 255; with N = 0 it is 12 etu, 12 + N otherwise). Two blocks in
 * opposite directions are at least BGT = 22 etu apart, leading edge to
 * leading edge: 11 etu more than a character, at each of the two
 * turnarounds of an exchange. The card's processing (its block waiting
 * time) and the reset are not counted: this is the line's floor.
 */
static double link_time(double apdus, double bytes_out, double bytes_in,
			double etu)
{
	double chars = bytes_out + bytes_in + 8.0 * apdus;

	return (chars * 11.0 + apdus * 2.0 * 11.0) * etu;
}

/* ---------------------------------------------------------------- setup */

static void key_create(perso_token_t *t, const char *label,
		       perso_key_type_t type, perso_key_role_t role)
{
	perso_status_t st = perso_key_create(t, label, type, role);

	if (st != PERSO_OK && st != PERSO_ERR_EXISTS)
		die("key %s: %s", label, perso_token_error(t));
}

/* Letters for number i (A..Z, base 26, w of them). */
static void letters(size_t i, char *out, size_t w)
{
	size_t k;

	for (k = 0; k < w; k++) {
		out[w - 1 - k] = (char)('A' + i % 26);
		i /= 26;
	}
	out[w] = '\0';
}

/* A value of field f for holder i (0-based), valid for the field's checks;
 * unique fields get distinct values. */
static void field_value(const profile_field_t *f, size_t i, char *out,
			size_t cap)
{
	char l[8];
	unsigned len, k;

	switch (f->type) {
	case PROFILE_FIELD_TEXT:
		/* letters and spaces only: good in every charset */
		letters(i, l, 6);
		snprintf(out, cap, "%s HOLDER EXAMPLE OF THE BENCH", l);
		len = f->max_length && f->max_length < strlen(out) ?
			      f->max_length :
			      (unsigned)strlen(out);
		out[len] = '\0';
		for (k = len; k < f->min_length && k + 1 < cap; k++)
			out[k] = 'A';
		if (k >= len)
			out[k] = '\0';
		break;
	case PROFILE_FIELD_DIGITS:
		len = f->max_length ? f->max_length : 10;
		if (len > 19)
			len = f->min_length > 19 ? f->min_length : 19;
		snprintf(out, cap, "%0*zu", (int)len, i + 1);
		out[0] = '2';
		break;
	case PROFILE_FIELD_DATE:
		snprintf(out, cap, "2030-09-30");
		break;
	case PROFILE_FIELD_AMOUNT:
	case PROFILE_FIELD_NUMBER:
		snprintf(out, cap, "%zu", (i % 200) + 1);
		break;
	case PROFILE_FIELD_BYTES:
		len = f->min_length ? f->min_length :
				      (f->max_length < 8 ? f->max_length : 8);
		for (k = 0; k < len && 2 * k + 2 < cap; k++)
			snprintf(out + 2 * k, 3, "%02X",
				 (unsigned)((i >> (8 * (k % 4))) & 0xFF));
		break;
	default:
		out[0] = '\0';
	}
}

static void write_holders(const profile_t *p, size_t n, const char *path)
{
	size_t nf, i, k;
	const profile_field_t *fs = profile_fields(p, &nf);
	char v[512];
	FILE *f = fopen(path, "w");

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	for (k = 0; k < nf; k++)
		fprintf(f, "%s%s", k ? "," : "", fs[k].name);
	fputc('\n', f);
	for (i = 0; i < n; i++) {
		for (k = 0; k < nf; k++) {
			field_value(&fs[k], i, v, sizeof v);
			fprintf(f, "%s%s", k ? "," : "", v);
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* YDDD of today, as the CPLC and FAB CLOSE have it. */
static void yddd_today(uint8_t out[2])
{
	time_t now = time(NULL);
	struct tm tm;
	int y, d;

	gmtime_r(&now, &tm);
	y = (tm.tm_year + 1900) % 10;
	d = tm.tm_yday + 1;
	out[0] = (uint8_t)(y << 4 | (d / 100));
	out[1] = (uint8_t)(((d / 10) % 10) << 4 | (d % 10));
}

static void chip_serial(size_t i, uint8_t s[PERSO_SERIAL_LEN])
{
	static const uint8_t head[4] = { 0x43, 0x46, 0x42, 0x50 };

	memcpy(s, head, 4);
	s[4] = (uint8_t)(i >> 24);
	s[5] = (uint8_t)(i >> 16);
	s[6] = (uint8_t)(i >> 8);
	s[7] = (uint8_t)i;
}

/*
 * One chip as the fab makes it (`cardfab chip new --transport-key TMK`):
 * the card OS on a blank image, FAB CLOSE with serial, the transport code
 * derived in the token, 3 tries, today's date, batch 0001; then
 * initialized (perso_init_card) to PERSONALIZATION. *atr_len gets the
 * chip's ATR (T=1 session).
 */
static void make_chip(perso_token_t *t, const profile_t *p, const char *path,
		      size_t i, uint8_t *atr, size_t *atr_len)
{
	const cos_model_t *m = profile_info(p)->cos_model;
	hal_file_t *hf = NULL;
	reader_t *r = NULL;
	uint8_t serial[8], got[8], code[8], c[64], resp[COS_RAPDU_MAX];
	uint8_t date[2];
	char spec[4500], err[READER_DETAIL_MAX];
	size_t n = 0, rl = 0;
	const uint8_t *a;
	perso_init_opts_t io = { .tmk = TMK,
				 .wrap_label = WRAP,
				 .prepersonalizer = 0x4346,
				 .equipment = 1 };
	perso_status_t pst;
	reader_status_t rs;
	cos_status_t cst;

	chip_serial(i, serial);
	if (hal_file_create(path, m->nvm_size, 1) != HAL_HOST_OK ||
	    hal_file_open(path, &hf) != HAL_HOST_OK)
		die("%s: cannot create the image", path);
	cst = cos_format(hal_file_hal(hf), m);
	if (cst != COS_OK)
		die("%s: cos_format: %s", path, cos_strerror(cst));
	if (hal_file_close(hf) != HAL_HOST_OK)
		die("%s: closing the image failed", path);
	snprintf(spec, sizeof spec, "vcard:%s", path);
	rs = reader_open(spec, READER_PROTO_T1, &r, err, sizeof err);
	if (rs != READER_OK)
		die("%s: %s", spec, err);
	if (perso_transport_code(t, TMK, serial, code) != PERSO_OK)
		die("transport code: %s", perso_token_error(t));
	yddd_today(date);
	memcpy(c, (const uint8_t[]){ 0x80, 0x34, 0x00, 0x00, 0x00 }, 5);
	n = 5;
	c[n++] = 0x80, c[n++] = 8;
	memcpy(c + n, serial, 8), n += 8;
	c[n++] = 0x81, c[n++] = 8;
	memcpy(c + n, code, 8), n += 8;
	c[n++] = 0x82, c[n++] = 1, c[n++] = 3;
	c[n++] = 0x83, c[n++] = 2, c[n++] = date[0], c[n++] = date[1];
	c[n++] = 0x84, c[n++] = 2, c[n++] = 0x00, c[n++] = 0x01;
	c[4] = (uint8_t)(n - 5);
	rs = reader_transmit(r, c, n, resp, sizeof resp, &rl);
	OPENSSL_cleanse(code, sizeof code);
	OPENSSL_cleanse(c, sizeof c);
	if (rs != READER_OK || rl != 2 || resp[0] != 0x90 || resp[1] != 0x00)
		die("%s: FAB CLOSE failed (%s)", path,
		    rs != READER_OK ? reader_error_detail(r) : "status word");
	pst = perso_init_card(r, p, t, &io, got, err, sizeof err);
	if (pst != PERSO_OK)
		die("%s: perso_init_card: %s: %s", path, perso_strerror(pst),
		    err);
	if (memcmp(got, serial, 8) != 0)
		die("%s: the chip answered another serial", path);
	if (atr != NULL) {
		a = reader_atr(r, &n);
		memcpy(atr, a, n);
		*atr_len = n;
	}
	if (reader_close(r, err, sizeof err) != READER_OK)
		die("%s: %s", path, err);
}

/* The life cycle of the chip in image path. */
static cos_lifecycle_t chip_state(const char *path)
{
	reader_t *r = NULL;
	char spec[4500], err[READER_DETAIL_MAX];
	const cos_chip_t *chip;
	cos_info_t info;

	snprintf(spec, sizeof spec, "vcard:%s", path);
	if (reader_open(spec, READER_PROTO_T1, &r, err, sizeof err) !=
	    READER_OK)
		die("%s: %s", spec, err);
	chip = reader_cos_chip(r);
	if (chip == NULL || cos_get_info(chip, &info) != COS_OK)
		die("%s: no chip information", path);
	if (reader_close(r, err, sizeof err) != READER_OK)
		die("%s: %s", path, err);
	return info.lifecycle;
}

/* ---------------------------------------------------------------- rounds */

typedef enum {
	MODE_CARDS,
	MODE_TOKEN
} bench_mode_t;

typedef struct {
	/* shared, read only during a round */
	bench_mode_t mode;
	const profile_t *p;
	perso_batch_t *b;
	perso_token_t *t;
	const char *chips; /* the round's chip folder */
	size_t n;
	const char *enc_master, *mac_master;
	perso_key_type_t enc_type, mac_type;
	pthread_barrier_t go;
	pthread_mutex_t mu;
	atomic_size_t next;
	double t0;
} round_t;

typedef struct {
	round_t *r;
	pthread_t th;
	size_t cards;
	unsigned long long apdus, bytes_out, bytes_in;
	unsigned apdus_min, apdus_max;
	double end;
} station_t;

static void card_fail(size_t i, const char *what, perso_status_t st,
		      const char *err) __attribute__((noreturn));
static void card_fail(size_t i, const char *what, perso_status_t st,
		      const char *err)
{
	die("card %zu: %s: %s: %s", i + 1, what, perso_strerror(st),
	    err ? err : "");
}

static void one_card(station_t *s, perso_token_t *t, size_t i)
{
	round_t *r = s->r;
	perso_card_opts_t o = { .wrap_label = WRAP,
				.personalizer = 0x4346,
				.equipment = 1 };
	uint8_t serial[8];
	char spec[4200], err[512], sh[17], *line = NULL;
	reader_t *rd = NULL;
	perso_holder_t h;
	perso_card_info_t info;
	perso_status_t st;
	reader_status_t rs;

	chip_serial(i, serial);
	hex(serial, 8, sh);
	snprintf(spec, sizeof spec, "vcard:%s/c%06zu.img", r->chips, i);
	rs = reader_open(spec, READER_PROTO_T1, &rd, err, sizeof err);
	if (rs != READER_OK)
		die("card %zu: %s: %s", i + 1, spec, err);
	st = perso_batch_holder(r->b, i, t, &h, err, sizeof err);
	if (st != PERSO_OK)
		card_fail(i, "perso_batch_holder", st, err);
	st = perso_card(rd, r->p, t, &o, &h, &info, err, sizeof err);
	if (st != PERSO_OK)
		card_fail(i, "perso_card", st, err);
	if (info.checked_only || info.lcs_before != COS_LC_PERSONALIZATION ||
	    memcmp(info.serial, serial, 8) != 0)
		die("card %zu: not a fresh chip of serial %s (life cycle %02X)",
		    i + 1, sh, info.lcs_before);
	st = perso_mailer_record(t, MAILER_KEY, r->p, &h, sh, &line);
	if (st != PERSO_OK || line == NULL)
		card_fail(i, "perso_mailer_record", st, perso_token_error(t));
	free(line);
	perso_holder_clear(&h);
	if (reader_close(rd, err, sizeof err) != READER_OK)
		die("card %zu: reader_close: %s", i + 1, err);
	s->cards++;
	s->apdus += info.apdus;
	s->bytes_out += info.bytes_out;
	s->bytes_in += info.bytes_in;
	if (s->cards == 1 || info.apdus < s->apdus_min)
		s->apdus_min = info.apdus;
	if (info.apdus > s->apdus_max)
		s->apdus_max = info.apdus;
}

/* The token's share of one card, without the card. */
static void one_token(station_t *s, perso_token_t *t, size_t i)
{
	round_t *r = s->r;
	uint8_t serial[8], w[PERSO_WRAPPED_MAX], clear[32];
	char sh[17], err[512], *line = NULL;
	size_t wl = 0;
	perso_holder_t h;
	perso_status_t st;

	chip_serial(i, serial);
	hex(serial, 8, sh);
	st = perso_key_derive_wrapped(t, r->enc_master, serial, r->enc_type,
				      WRAP, w, sizeof w, &wl);
	if (st == PERSO_OK)
		st = perso_key_unwrap_clear(t, WRAP, w, wl, r->enc_type, clear,
					    sizeof clear);
	if (st == PERSO_OK)
		st = perso_key_derive_wrapped(t, r->mac_master, serial,
					      r->mac_type, WRAP, w, sizeof w,
					      &wl);
	if (st == PERSO_OK)
		st = perso_key_unwrap_clear(t, WRAP, w, wl, r->mac_type, clear,
					    sizeof clear);
	OPENSSL_cleanse(clear, sizeof clear);
	if (st != PERSO_OK)
		card_fail(i, "card keys", st, perso_token_error(t));
	st = perso_batch_holder(r->b, i, t, &h, err, sizeof err);
	if (st != PERSO_OK)
		card_fail(i, "perso_batch_holder", st, err);
	st = perso_mailer_record(t, MAILER_KEY, r->p, &h, sh, &line);
	if (st != PERSO_OK || line == NULL)
		card_fail(i, "perso_mailer_record", st, perso_token_error(t));
	free(line);
	perso_holder_clear(&h);
	s->cards++;
}

static void *station_main(void *arg)
{
	station_t *s = arg;
	round_t *r = s->r;
	perso_token_t *t = NULL;
	size_t i;

	pthread_mutex_lock(&r->mu);
	if (perso_token_session(r->t, &t) != PERSO_OK)
		die("station: token: %s", perso_token_error(r->t));
	pthread_mutex_unlock(&r->mu);
	pthread_barrier_wait(&r->go);
	while ((i = atomic_fetch_add(&r->next, 1)) < r->n) {
		if (r->mode == MODE_CARDS)
			one_card(s, t, i);
		else
			one_token(s, t, i);
	}
	s->end = now_s();
	pthread_mutex_lock(&r->mu);
	perso_token_close(t);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

typedef struct {
	double wall, cpu; /* cpu: CPU seconds of the round, all threads */
	size_t cards;
	unsigned long long apdus, bytes_out, bytes_in;
	unsigned apdus_min, apdus_max;
} result_t;

static result_t run_round(round_t *r, unsigned nst)
{
	static station_t st[MAX_STATIONS];
	result_t res;
	double end = 0;
	unsigned k;

	memset(&res, 0, sizeof res);
	memset(st, 0, sizeof st);
	atomic_store(&r->next, 0);
	if (pthread_barrier_init(&r->go, NULL, nst + 1) != 0)
		die("pthread_barrier_init failed");
	for (k = 0; k < nst; k++) {
		st[k].r = r;
		if (pthread_create(&st[k].th, NULL, station_main, &st[k]) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&r->go);
	r->t0 = now_s();
	res.cpu = cpu_s();
	for (k = 0; k < nst; k++) {
		pthread_join(st[k].th, NULL);
		if (st[k].end > end)
			end = st[k].end;
		res.cards += st[k].cards;
		res.apdus += st[k].apdus;
		res.bytes_out += st[k].bytes_out;
		res.bytes_in += st[k].bytes_in;
		if (st[k].cards &&
		    (res.apdus_min == 0 || st[k].apdus_min < res.apdus_min))
			res.apdus_min = st[k].apdus_min;
		if (st[k].apdus_max > res.apdus_max)
			res.apdus_max = st[k].apdus_max;
	}
	pthread_barrier_destroy(&r->go);
	res.wall = end - r->t0;
	res.cpu = cpu_s() - res.cpu;
	if (res.cards != r->n)
		die("%zu cards done of %zu", res.cards, r->n);
	return res;
}

/* ---------------------------------------------------------------- prep */

/* The token operations of perso_prep_batch() for n holders, alone: the
 * same draws and encryptions, in the same order, nothing else. */
static unsigned long long alone_draws, alone_encs;
/* The lengths of the record lines of the batch written (the additional
 * data of each record's integrity item). */
static size_t *line_lens, nline_lens;
static uint8_t line_aad[8192];

static void read_line_lens(const char *batch)
{
	FILE *f = fopen(batch, "r");
	char *l = NULL, *m;
	size_t cap = 0;

	if (f == NULL)
		die("%s: %s", batch, strerror(errno));
	nline_lens = 0;
	while (getline(&l, &cap, f) >= 0) {
		if (strncmp(l, "R\t", 2) != 0 ||
		    (m = strstr(l, "\tM:")) == NULL)
			continue;
		line_lens = realloc(line_lens,
				    (nline_lens + 1) * sizeof *line_lens);
		if (line_lens == NULL)
			die("out of memory");
		line_lens[nline_lens++] = (size_t)(m - l);
	}
	free(l);
	fclose(f);
}

static double prep_token_alone(perso_token_t *t, const profile_t *p, size_t n)
{
	size_t nf, np, i, k, d, ol;
	const profile_field_t *fs = profile_fields(p, &nf);
	const profile_pin_t *ps = profile_pins(p, &np);
	char v[512], aad[128];
	uint8_t out[512 + PERSO_GCM_OVERHEAD], rnd;
	const char *val;
	double t0 = now_s();
	int al;

	alone_draws = alone_encs = 0;
	for (i = 0; i < n; i++) {
		/* The record's integrity item: GCM of nothing over the
		 * record line, as long as the batch's (or 400 bytes before
		 * a batch was written). */
		size_t ll = i < nline_lens ? line_lens[i] : 400;

		if (ll > sizeof line_aad)
			ll = sizeof line_aad;
		if (perso_encrypt(t, BATCH_KEY, line_aad, ll, out, 0, out,
				  sizeof out, &ol) != PERSO_OK)
			die("perso_encrypt: %s", perso_token_error(t));
		alone_encs++;
		for (k = 0; k < nf; k++) {
			if (!fs[k].secret)
				continue;
			field_value(&fs[k], i, v, sizeof v);
			al = snprintf(aad, sizeof aad, "%zu:S:%s", i + 1,
				      fs[k].name);
			if (perso_encrypt(t, BATCH_KEY, (const uint8_t *)aad,
					  (size_t)al, (const uint8_t *)v,
					  strlen(v), out, sizeof out,
					  &ol) != PERSO_OK)
				die("perso_encrypt: %s", perso_token_error(t));
			alone_encs++;
		}
		for (k = 0; k < np; k++) {
			val = NULL;
			if (ps[k].source == PROFILE_SRC_RANDOM) {
				for (d = 0; d < ps[k].random_digits &&
					    d < sizeof v - 1;) {
					if (perso_random(t, &rnd, 1) !=
					    PERSO_OK)
						die("perso_random: %s",
						    perso_token_error(t));
					alone_draws++;
					if (rnd < 250)
						v[d++] = (char)('0' + rnd % 10);
				}
				v[d] = '\0';
				val = v;
			} else if (ps[k].source == PROFILE_SRC_FIXED) {
				val = ps[k].fixed;
			} else if (ps[k].source == PROFILE_SRC_HOLDER_FIELD &&
				   ps[k].field >= 0) {
				field_value(&fs[ps[k].field], i, v, sizeof v);
				val = v;
			}
			if (val == NULL || val[0] == '\0')
				continue;
			al = snprintf(aad, sizeof aad, "%zu:P:%s", i + 1,
				      ps[k].name);
			if (perso_encrypt(t, BATCH_KEY, (const uint8_t *)aad,
					  (size_t)al, (const uint8_t *)val,
					  strlen(val), out, sizeof out,
					  &ol) != PERSO_OK)
				die("perso_encrypt: %s", perso_token_error(t));
			alone_encs++;
		}
	}
	return now_s() - t0;
}

static double prep_real(perso_token_t *t, const profile_t *p,
			const char *holders, const char *batch, size_t n)
{
	perso_prep_report_t rep;
	char err[512];
	perso_status_t st;
	double t0, el;

	memset(&rep, 0, sizeof rep);
	t0 = now_s();
	st = perso_prep_batch(t, p, holders, batch, NULL, BATCH_KEY, 0, &rep,
			      err, sizeof err);
	el = now_s() - t0;
	if (st != PERSO_OK)
		die("perso_prep_batch: %s: %s", perso_strerror(st), err);
	if (rep.good != n || rep.bad != 0)
		die("perso_prep_batch: %zu good, %zu bad records of %zu",
		    rep.good, rep.bad, n);
	perso_prep_report_free(&rep);
	return el;
}

/* ---------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr, "usage: perso [-n N] [--profile PATH] [--dir DIR] "
			"[--module PATH]\n"
			"             [--stations LIST] [--keep]\n");
	exit(2);
}

static const char *default_profile(char *buf, size_t cap)
{
#ifdef CARDFAB_SOURCE_DIR
	snprintf(buf, cap, "%s/profiles/campus.yaml", CARDFAB_SOURCE_DIR);
#else
	/* This file is bench/perso.c of the source tree. */
	const char *f = __FILE__, *s = strrchr(f, '/');
	size_t n;

	if (f[0] != '/' || s == NULL) {
		snprintf(buf, cap, "profiles/campus.yaml");
		return buf;
	}
	n = (size_t)(s - f);
	while (n > 0 && f[n - 1] != '/')
		n--; /* drop "bench" */
	snprintf(buf, cap, "%.*sprofiles/campus.yaml", (int)n, f);
	if (access(buf, R_OK) != 0)
		snprintf(buf, cap, "profiles/campus.yaml");
#endif
	return buf;
}

int main(int argc, char **argv)
{
	size_t n = 2000, i, nk, nf;
	const char *profile_path = NULL, *module = NULL, *base = NULL;
	const char *stations_arg = "1,2,4";
	unsigned nst[MAX_ROUNDS], nrounds = 0, k;
	char dflt[4200], path[4400], path2[4400], conf[4400], text[9000];
	char pin[33], so[33], err[512], g1[32], g2[32];
	uint8_t rb[16], atr[COS_ATR_MAX];
	size_t atr_len = 0;
	profile_t *p = NULL;
	profile_diags_t d;
	perso_token_t *t = NULL;
	perso_status_t st;
	const profile_key_t *keys;
	const profile_scp03_t *sc;
	const profile_file_t *files;
	round_t r;
	result_t res[MAX_ROUNDS], tok[MAX_ROUNDS];
	struct utsname un;
	double t0;

	for (int a = 1; a < argc; a++) {
		const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(o, "-n") == 0 && v) {
			n = (size_t)strtoul(v, NULL, 10);
			a++;
		} else if (strcmp(o, "--profile") == 0 && v) {
			profile_path = v;
			a++;
		} else if (strcmp(o, "--dir") == 0 && v) {
			base = v;
			a++;
		} else if (strcmp(o, "--module") == 0 && v) {
			module = v;
			a++;
		} else if (strcmp(o, "--stations") == 0 && v) {
			stations_arg = v;
			a++;
		} else if (strcmp(o, "--keep") == 0) {
			keep_dir = 1;
		} else {
			usage();
		}
	}
	if (n == 0 || n > 999999)
		usage();
	{
		const char *s = stations_arg;
		char *end;

		while (*s && nrounds < MAX_ROUNDS) {
			unsigned long v = strtoul(s, &end, 10);

			if (end == s || v == 0 || v > MAX_STATIONS)
				usage();
			nst[nrounds++] = (unsigned)v;
			s = *end == ',' ? end + 1 : end;
			if (*end != ',' && *end != '\0')
				usage();
		}
		if (nrounds == 0)
			usage();
	}
	if (profile_path == NULL)
		profile_path = default_profile(dflt, sizeof dflt);
	if (base == NULL) {
		if (access("/dev/shm", W_OK) == 0)
			base = "/dev/shm";
		else
			base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	}

	/* ---- the profile */
	profile_diags_init(&d);
	profile_open(profile_path, &p, &d);
	profile_diags_print(stderr, &d);
	profile_diags_free(&d);
	if (p == NULL)
		die("%s: not a valid profile", profile_path);
	if (profile_info(p)->kind != PROFILE_CHIP_COS ||
	    profile_info(p)->cos_model == NULL)
		die("%s: a CPU chip profile expected", profile_path);
	keys = profile_keys(p, &nk);
	sc = profile_scp03(p);
	if (sc == NULL || !sc->present || sc->enc < 0 || sc->mac < 0 ||
	    keys[sc->enc].master == NULL || keys[sc->mac].master == NULL)
		die("%s: no SCP03 key set diversified from masters",
		    profile_path);
	/* One I-block each way (link_time): the largest unit a placed field
	 * is written and read back in (a record, or a transparent file's
	 * bytes up to 256), with the APDU header, C-DEC padding and C-MAC. */
	files = profile_files(p, &nf);
	{
		size_t nfl, q;
		const profile_field_t *fl = profile_fields(p, &nfl);

		for (q = 0; q < nfl; q++) {
			int fi = fl[q].place.file;
			unsigned u;

			if (fl[q].place.kind == PROFILE_PLACE_NONE ||
			    fl[q].place.kind == PROFILE_PLACE_AREA || fi < 0 ||
			    (size_t)fi >= nf)
				continue;
			u = files[fi].size < 256 ? files[fi].size : 256;
			if (5 + u + 16 + 8 > 254)
				die("%s: file '%s': an APDU of over 254 bytes "
				    "is more than one T=1 block: the link "
				    "time is not modelled for it",
				    profile_path, files[fi].name);
		}
	}

	/* ---- the folder and the token */
	snprintf(run_dir, sizeof run_dir, "%s/cardfab-bench-perso.XXXXXX",
		 base);
	if (mkdtemp(run_dir) == NULL) {
		run_dir[0] = '\0';
		die("mkdtemp in %s: %s", base, strerror(errno));
	}
	snprintf(path, sizeof path, "%s/tokens", run_dir);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", run_dir);
	if (mkdir(path, 0700) != 0)
		die("%s: %s", path, strerror(errno));
	snprintf(text, sizeof text,
		 "directories.tokendir = %s\nobjectstore.backend = file\n"
		 "log.level = ERROR\nslots.removable = false\n",
		 path);
	write_file(conf, text, strlen(text));
	setenv("SOFTHSM2_CONF", conf, 1);
	if (RAND_bytes(rb, sizeof rb) != 1)
		die("RAND_bytes failed");
	hex(rb, 8, pin);
	hex(rb + 8, 8, so);
	OPENSSL_cleanse(rb, sizeof rb);
	st = perso_token_init(module, TOKEN_LABEL, so, pin, err, sizeof err);
	if (st != PERSO_OK)
		die("perso_token_init: %s", err);
	st = perso_token_open(module, TOKEN_LABEL, pin, &t, err, sizeof err);
	OPENSSL_cleanse(pin, sizeof pin);
	OPENSSL_cleanse(so, sizeof so);
	if (st != PERSO_OK)
		die("perso_token_open: %s", err);
	for (i = 0; i < nk; i++)
		if (keys[i].master != NULL &&
		    keys[i].method != PROFILE_DIV_NONE)
			key_create(t, keys[i].master,
				   perso_alg_key_type(keys[i].alg),
				   PERSO_ROLE_MASTER);
	key_create(t, TMK, PERSO_KEY_AES128, PERSO_ROLE_MASTER);
	key_create(t, WRAP, PERSO_KEY_AES256, PERSO_ROLE_WRAP);
	key_create(t, BATCH_KEY, PERSO_KEY_AES256, PERSO_ROLE_BATCH);
	key_create(t, MAILER_KEY, PERSO_KEY_AES256, PERSO_ROLE_BATCH);

	uname(&un);
	printf("# perso bench: %zu cards a round, profile %s (%s, chip %s)\n",
	       n, profile_info(p)->name, profile_path, profile_info(p)->chip);
	printf("# machine: %ld CPUs online, %s %s %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), un.sysname, un.release,
	       un.machine);
	printf("# folder: %s (%s); token: SoftHSM2 (%s)\n", run_dir,
	       strncmp(run_dir, "/dev/shm/", 9) == 0 ? "tmpfs" : "as mounted",
	       module ? module : PERSO_DEFAULT_MODULE);
	printf("# command: %s -n %zu --stations %s%s%s\n", argv[0], n,
	       stations_arg, profile_path == dflt ? "" : " --profile ",
	       profile_path == dflt ? "" : profile_path);
	fflush(stdout);

	/* ---- data preparation, twice each, alternating */
	snprintf(path, sizeof path, "%s/holders.csv", run_dir);
	snprintf(path2, sizeof path2, "%s/run.batch", run_dir);
	write_holders(p, n, path);
	double prep_best = 1e30, alone_best = 1e30, e;
	for (k = 0; k < 2; k++) {
		e = prep_token_alone(t, p, n);
		if (e < alone_best)
			alone_best = e;
		e = prep_real(t, p, path, path2, n);
		if (e < prep_best)
			prep_best = e;
		read_line_lens(path2);
	}

	/* ---- the chips: one initialized set, copied before each round */
	snprintf(path, sizeof path, "%s/pristine", run_dir);
	if (mkdir(path, 0700) != 0)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof path, "%s/chips", run_dir);
	if (mkdir(path, 0700) != 0)
		die("%s: %s", path, strerror(errno));
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/pristine/c%06zu.img", run_dir,
			 i);
		make_chip(t, p, path, i, i == 0 ? atr : NULL, &atr_len);
	}
	double setup_s = now_s() - t0;

	/* ---- rounds */
	memset(&r, 0, sizeof r);
	r.p = p;
	r.t = t;
	r.n = n;
	snprintf(path, sizeof path, "%s/run.batch", run_dir);
	st = perso_batch_load(path, p, &r.b, err, sizeof err);
	if (st != PERSO_OK)
		die("perso_batch_load: %s", err);
	if (perso_batch_count(r.b) != n)
		die("the batch holds %zu records, not %zu",
		    perso_batch_count(r.b), n);
	snprintf(text, sizeof text, "%s/chips", run_dir);
	r.chips = text;
	r.enc_master = keys[sc->enc].master;
	r.mac_master = keys[sc->mac].master;
	r.enc_type = perso_alg_key_type(keys[sc->enc].alg);
	r.mac_type = perso_alg_key_type(keys[sc->mac].alg);
	pthread_mutex_init(&r.mu, NULL);
	for (k = 0; k < nrounds; k++) {
		for (i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/pristine/c%06zu.img",
				 run_dir, i);
			snprintf(path2, sizeof path2, "%s/chips/c%06zu.img",
				 run_dir, i);
			copy_file(path, path2);
		}
		r.mode = MODE_TOKEN;
		tok[k] = run_round(&r, nst[k]);
		r.mode = MODE_CARDS;
		res[k] = run_round(&r, nst[k]);
		for (i = 0; i < n; i++) {
			snprintf(path2, sizeof path2, "%s/chips/c%06zu.img",
				 run_dir, i);
			if (chip_state(path2) != COS_LC_OPERATIONAL)
				die("chip %zu not OPERATIONAL after the round",
				    i + 1);
		}
		fprintf(stderr, "perso bench: %u station%s: %.3f s\n", nst[k],
			nst[k] == 1 ? "" : "s", res[k].wall);
	}
	/* ---- the report */
	const result_t *one = NULL;
	double best_ch = 0, sw_card, tok_card, ap, bo, bi;
	unsigned best_s = 0;

	for (k = 0; k < nrounds; k++)
		if (nst[k] == 1 && one == NULL)
			one = &res[k];
	if (one == NULL)
		one = &res[0]; /* no 1-station round: per station of the first
				*/
	ap = (double)one->apdus / (double)n;
	bo = (double)one->bytes_out / (double)n;
	bi = (double)one->bytes_in / (double)n;
	for (k = 0; k < nrounds; k++)
		if (res[k].apdus != one->apdus ||
		    res[k].bytes_out != one->bytes_out ||
		    res[k].bytes_in != one->bytes_in)
			die("rounds exchanged different APDUs");
	sw_card = one->wall * (double)(one == &res[0] ? nst[0] : 1) / (double)n;

	printf("# setup, not timed: %zu chips made and initialized in %.1f s "
	       "(%.2f ms each)\n",
	       n, setup_s, setup_s * 1e3 / (double)n);
	printf("\n## data preparation: %zu holders, best of 2 rounds each\n\n",
	       n);
	printf("| what | s | us/holder | holders/h |\n|---|---:|---:|---:|\n");
	printf("| perso_prep_batch (read, check, draw, encrypt, write "
	       "durably) | %.3f | %.1f | %s |\n",
	       prep_best, prep_best * 1e6 / (double)n,
	       grp(3600.0 * (double)n / prep_best, g1, sizeof g1));
	printf("| its token operations alone (%llu perso_random, %llu "
	       "perso_encrypt) | %.3f | %.1f | %s |\n",
	       alone_draws, alone_encs, alone_best,
	       alone_best * 1e6 / (double)n,
	       grp(3600.0 * (double)n / alone_best, g1, sizeof g1));
	if (alone_draws + alone_encs == 0)
		printf("\nthe profile has no secret to draw or encrypt: no "
		       "token operation to compare with\n");
	else
		printf("\nprep / token alone: **%.2f** (goal < 1.5: **%s**)\n",
		       prep_best / alone_best,
		       prep_best / alone_best < 1.5 ? "met" : "not met");

	printf("\n## personalization: %zu cards a round; a card: %.1f APDUs "
	       "(%u..%u), %.0f bytes out, %.0f bytes in\n\n",
	       n, ap, one->apdus_min, one->apdus_max, bo, bi);
	printf("| stations | wall s | CPUs busy | cards/h | vs 1 station | "
	       "ms/card/station | token alone, same threads: cards/h | "
	       "cards / token alone |\n"
	       "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (k = 0; k < nrounds; k++) {
		double ch = 3600.0 * (double)n / res[k].wall;
		double tch = 3600.0 * (double)n / tok[k].wall;

		if (ch > best_ch)
			best_ch = ch, best_s = nst[k];
		printf("| %u | %.3f | %.2f | %s | %.2f | %.3f | %s | %.0f %% "
		       "|\n",
		       nst[k], res[k].wall, res[k].cpu / res[k].wall,
		       grp(ch, g1, sizeof g1), ch / (3600.0 / sw_card),
		       res[k].wall * nst[k] * 1e3 / (double)n,
		       grp(tch, g2, sizeof g2), 100.0 * ch / tch);
	}
	printf("\ncards/h goal >= 1,000,000 on this machine: **%s** (%s at %u "
	       "station%s; production machines: a few thousand)\n",
	       best_ch >= 1e6 ? "met" : "not met", grp(best_ch, g1, sizeof g1),
	       best_s, best_s == 1 ? "" : "s");

	tok_card = 0;
	for (k = 0; k < nrounds; k++)
		if (nst[k] == 1)
			tok_card = tok[k].wall / (double)n;
	if (tok_card == 0)
		tok_card = tok[0].wall * nst[0] / (double)n;
	printf("\n## the token's cost per card, alone, 1 thread\n\n");
	printf("2 x (perso_key_derive_wrapped + perso_key_unwrap_clear), "
	       "perso_batch_holder\n(its decryptions), perso_mailer_record: "
	       "**%.1f us** a card, **%.0f %%** of a card's %.1f us at 1 "
	       "station\n",
	       tok_card * 1e6, 100.0 * tok_card / sw_card, sw_card * 1e6);
	printf("the rest, %.1f us: the card OS, the reader (the chip image "
	       "opened and closed),\nSCP03 on both sides, the holder's "
	       "data laid out and compared\n",
	       (sw_card - tok_card) * 1e6);

	/* Link */
	uint8_t ta1_chip = 0x11, ta1_fast = fastest_ta1();
	if (atr_len > 2 && (atr[1] & 0x10))
		ta1_chip = atr[2];
	struct {
		const char *what;
		char ta1[8];
		double bps;
	} rates[3];
	double etu0 = 372.0 / 3.5712e6; /* F 372, D 1: 9,600 bit/s */
	rates[0].what = "9,600 bit/s: Fd 372, Dd 1, f 3.5712 MHz";
	snprintf(rates[0].ta1, sizeof rates[0].ta1, "none");
	rates[0].bps = 1.0 / etu0;
	rates[1].what = "the chip's own TA1 (its ATR) at its fmax";
	snprintf(rates[1].ta1, sizeof rates[1].ta1, "%02X", ta1_chip);
	rates[1].bps = ta1_rate(ta1_chip);
	rates[2].what = "the fastest TA1: Fi 372 at fmax 5 MHz, Di 64";
	snprintf(rates[2].ta1, sizeof rates[2].ta1, "%02X", ta1_fast);
	rates[2].bps = ta1_rate(ta1_fast);
	printf("\n## link: the same APDUs on an ISO/IEC 7816-3 T=1 line\n\n"
	       "A card's APDUs, one I-block each way (+4 bytes: NAD PCB LEN, "
	       "LRC), 11 etu a\ncharacter (CGT with TC1 = FF; 12 etu with "
	       "N = 0), BGT 22 etu at each turnaround;\nthe card's own "
	       "processing, the reset and PPS not counted: the line's "
	       "floor.\n\n");
	printf("| rate | TA1 | bit/s | link ms/card | cards/h a station, link "
	       "alone | software time / link time |\n"
	       "|---|---|---:|---:|---:|---:|\n");
	for (k = 0; k < 3; k++) {
		double lt = link_time(ap, bo, bi, 1.0 / rates[k].bps);

		printf("| %s | %s | %s | %.2f | %s | %.2f %% |\n",
		       rates[k].what, rates[k].ta1,
		       grp(rates[k].bps, g1, sizeof g1), lt * 1e3,
		       grp(3600.0 / lt, g2, sizeof g2), 100.0 * sw_card / lt);
	}
	double lt_fast = link_time(ap, bo, bi, 1.0 / rates[2].bps);
	printf("\nsoftware time per card at 1 station: %.1f us = **%.2f %%** "
	       "of the link time at the fastest rate (goal < 10 %%: **%s**)\n",
	       sw_card * 1e6, 100.0 * sw_card / lt_fast,
	       sw_card / lt_fast < 0.10 ? "met" : "not met");
	printf("not in the link time: the answer to reset (%zu bytes) and a "
	       "PPS (4 bytes each way),\n12 etu a character at Fd 372: %.1f "
	       "ms a card at 3.5712 MHz, %.1f ms at 5 MHz\n",
	       atr_len, (double)(atr_len + 8) * 12.0 * 372.0 / 3.5712e6 * 1e3,
	       (double)(atr_len + 8) * 12.0 * 372.0 / 5e6 * 1e3);

	printf("\nreproduce: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
	       "cmake --build build --target perso && build/bench/perso -n "
	       "%zu%s%s%s%s\n",
	       n, strcmp(stations_arg, "1,2,4") ? " --stations " : "",
	       strcmp(stations_arg, "1,2,4") ? stations_arg : "",
	       profile_path == dflt ? "" : " --profile ",
	       profile_path == dflt ? "" : profile_path);

	perso_batch_free(r.b);
	pthread_mutex_destroy(&r.mu);
	perso_token_close(t);
	profile_free(p);
	if (!keep_dir) {
		nftw(run_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		printf("# kept %s\n", run_dir);
	}
	run_dir[0] = '\0';
	return 0;
}
