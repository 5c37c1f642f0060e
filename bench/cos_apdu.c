/*
 * cos_apdu.c - APDUs per second through the card OS, in process, one thread.
 *
 * Builds a chip the way a factory does, through APDUs only: cos_format() on a
 * blank image (in RAM with hal_mem, or in a file with hal_file), FAB CLOSE,
 * the transport code, CREATE FILE of a 1,024-byte transparent EF (FID 0101,
 * READ and UPDATE 'always'), a PIN object (global 1, "1234"), an SCP03 key
 * set, the fuse (SET STATUS 07), then an SCP03 session whose SET STATUS 0F
 * takes the chip to OPERATIONAL; then a power cycle. So every figure is of a
 * chip in user mode, access conditions enforced (--state init stops before
 * the fuse, for a card OS whose SCP03 does not work yet).
 *
 * Then each APDU kind runs for a fixed wall time (CLOCK_MONOTONIC) and every
 * response is checked (length and status word), so that an error is never
 * counted as a fast success:
 *
 *   select     00 A4 00 0C 02 0101       9000
 *   read16     00 B0 00 00 10            16 bytes 9000
 *   read128    00 B0 00 00 80            128 bytes 9000
 *   read256    00 B0 00 00 00            256 bytes 9000
 *   update128  00 D6 00 00 80 <128>      9000 (two patterns in turn)
 *   verify     00 20 00 01 04 "1234"     9000
 *   unknown    00 10 00 00               6D00
 *
 * Output, one line a kind (bench/cos_apdu.sh joins it with the baseline,
 * bench/vsmartcard_apdu.py, which prints the same first five fields):
 *
 *   apdu <kind> <count> <seconds> <apdus_per_second> <nvm_writes_per_apdu>
 *
 * nvm_writes_per_apdu (hal_mem only, else -1) shows the work is real: an
 * UPDATE BINARY or a VERIFY must write NVM through the journal, a read none.
 *
 * Usage: cos_apdu [--seconds S] [--nvm mem|file] [--image PATH]
 *                 [--model cf32|cf64] [--state op|init] [--fill N]
 *                 [--kinds a,b,...]
 *
 * --fill N creates N other EFs in the MF before ours, so that finding it in
 * the file table (SELECT, and every command's current-file checks) costs
 * what it costs on a full card: cf32 holds 64 files, so --fill 62 is the
 * worst case.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cos/cos.h"
#include "hal/hal_host.h"

#define EF_FID 0x0101
#define EF_SIZE 1024
#define KVN 0x30

static const uint8_t pin_value[4] = { '1', '2', '3', '4' };
static const uint8_t transport_code[8] = { 0x54, 0x52, 0x41, 0x4E,
					   0x53, 0x50, 0x30, 0x31 };
static const uint8_t serial[8] = { 0xCF, 0x00, 0x00, 0x00,
				   0x00, 0x00, 0x00, 0x01 };
/* Static SCP03 keys: ENC, MAC, DEK (benchmark only, not secret). */
static const uint8_t scp_keys[3][16] = {
	{ 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A,
	  0x4B, 0x4C, 0x4D, 0x4E, 0x4F },
	{ 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A,
	  0x5B, 0x5C, 0x5D, 0x5E, 0x5F },
	{ 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A,
	  0x6B, 0x6C, 0x6D, 0x6E, 0x6F },
};

static cos_chip_t chip; /* 8 KiB of chip RAM: static, not on the stack */
static const hal_t *hal;
static hal_mem_t *mem;
static hal_file_t *file;
static unsigned fill_files; /* --fill N */
static char image_path[4096];
static int image_is_temp;

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "cos_apdu: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (file != NULL)
		hal_file_close(file);
	if (image_is_temp)
		unlink(image_path);
	exit(1);
}

static void hexprint(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02X", p[i]);
}

/* Send one APDU during setup; die unless the SW is `sw`. */
static size_t xmit(const char *what, const uint8_t *c, size_t n, uint8_t *r,
		   unsigned sw)
{
	size_t rl = 0;
	cos_status_t st = cos_transmit(&chip, c, n, r, COS_RAPDU_MAX, &rl);
	if (st != COS_OK)
		die("setup: %s: cos_transmit: %s", what, cos_strerror(st));
	if (rl < 2 || ((unsigned)r[rl - 2] << 8 | r[rl - 1]) != sw) {
		fprintf(stderr, "cos_apdu: setup: %s: ", what);
		hexprint(stderr, c, n);
		fprintf(stderr, " -> ");
		hexprint(stderr, r, rl);
		fprintf(stderr, " (expected SW %04X)\n", sw);
		die("setup failed");
	}
	return rl - 2;
}

/* ---- host side of SCP03 (GP Amendment D), AES-128, C-MAC only ---- */

static uint8_t s_mac[16], s_enc[16], mac_chain[16];

static void cmac(const uint8_t *key, const uint8_t *in, size_t n,
		 uint8_t out[16])
{
	if (hal_host_cmac(NULL, HAL_CIPHER_AES, key, 16, in, n, out) != HAL_OK)
		die("CMAC failed");
}

/* NIST SP 800-108 KDF in counter mode, PRF AES-CMAC, as SCP03 lays it out:
 * label (11 zero bytes, constant), separator 00, L (bits, 2 bytes), i = 1,
 * context = host challenge || card challenge. L <= 128 here. */
static void scp_kdf(const uint8_t *key, uint8_t constant, unsigned lbits,
		    const uint8_t ctx[16], uint8_t *out)
{
	uint8_t d[32] = { 0 }, m[16];
	d[11] = constant;
	d[12] = 0x00;
	d[13] = (uint8_t)(lbits >> 8);
	d[14] = (uint8_t)lbits;
	d[15] = 0x01;
	memcpy(d + 16, ctx, 16);
	cmac(key, d, sizeof d, m);
	memcpy(out, m, lbits / 8);
}

/* Wrap a short case 3 command with C-MAC: CLA |= 04, Lc += 8, MAC appended.
 * out receives the command; returns its length. */
static size_t scp_wrap(const uint8_t *cmd, size_t n, uint8_t *out)
{
	uint8_t buf[16 + 5 + 255], m[16];
	size_t nc = n > 4 ? cmd[4] : 0;
	if (n != 4 && n != 5 + nc)
		die("scp_wrap: not a short case 1 or 3 APDU");
	memcpy(buf, mac_chain, 16);
	buf[16] = cmd[0] | 0x04;
	memcpy(buf + 17, cmd + 1, 3);
	buf[20] = (uint8_t)(nc + 8);
	memcpy(buf + 21, cmd + 5, nc);
	cmac(s_mac, buf, 21 + nc, m);
	memcpy(mac_chain, m, 16);
	memcpy(out, buf + 16, 5 + nc);
	memcpy(out + 5 + nc, m, 8);
	return 5 + nc + 8;
}

static void scp_open(void)
{
	uint8_t c[64], r[COS_RAPDU_MAX], ctx[16], cc[8], hc[8];
	static const uint8_t host_chal[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t n;

	memcpy(c, (const uint8_t[]){ 0x80, 0x50, KVN, 0x00, 0x08 }, 5);
	memcpy(c + 5, host_chal, 8);
	c[13] = 0x00;
	n = xmit("INITIALIZE UPDATE", c, 14, r, 0x9000);
	if (n < 29)
		die("INITIALIZE UPDATE: %zu bytes, not 29", n);
	memcpy(ctx, host_chal, 8);
	memcpy(ctx + 8, r + 13, 8); /* card challenge */
	scp_kdf(scp_keys[0], 0x04, 128, ctx, s_enc);
	scp_kdf(scp_keys[1], 0x06, 128, ctx, s_mac);
	scp_kdf(s_mac, 0x00, 64, ctx, cc);
	if (memcmp(cc, r + 21, 8) != 0)
		die("INITIALIZE UPDATE: wrong card cryptogram");
	scp_kdf(s_mac, 0x01, 64, ctx, hc);
	memset(mac_chain, 0, sizeof mac_chain);
	uint8_t ea[5 + 8] = { 0x80, 0x82, 0x01, 0x00, 0x08 };
	memcpy(ea + 5, hc, 8);
	n = scp_wrap(ea, sizeof ea, c);
	xmit("EXTERNAL AUTHENTICATE", c, n, r, 0x9000);
}

/* ---- setup ---- */

static void power_on(void)
{
	uint8_t atr[COS_ATR_MAX];
	size_t atr_len;
	cos_status_t st = cos_power_on(&chip, hal, atr, sizeof atr, &atr_len);
	if (st != COS_OK)
		die("cos_power_on: %s", cos_strerror(st));
}

static void put_key(uint8_t ref)
{
	uint8_t c[64], r[COS_RAPDU_MAX];
	size_t n = 0;
	static const uint8_t head[] = { 0x00, 0xDA, 0xDF, 0x02, 0x00 };
	memcpy(c, head, sizeof head);
	n = sizeof head;
	const uint8_t tlv[] = { 0x80, 0x01, ref,  0x81, 0x01, KVN,  0x82,
				0x01, 0x88, 0x83, 0x01, 0x02, 0x84, 0x10 };
	memcpy(c + n, tlv, sizeof tlv);
	n += sizeof tlv;
	memcpy(c + n, scp_keys[ref - 1], 16);
	n += 16;
	c[4] = (uint8_t)(n - 5);
	xmit("PUT DATA key", c, n, r, 0x9000);
}

static void build_chip(int operational)
{
	uint8_t c[300], r[COS_RAPDU_MAX];
	size_t n;

	power_on();
	/* FAB CLOSE: serial, transport code, 3 tries. */
	n = 0;
	memcpy(c, (const uint8_t[]){ 0x80, 0x34, 0x00, 0x00, 0x00 }, 5);
	n = 5;
	c[n++] = 0x80;
	c[n++] = 8;
	memcpy(c + n, serial, 8);
	n += 8;
	c[n++] = 0x81;
	c[n++] = 8;
	memcpy(c + n, transport_code, 8);
	n += 8;
	memcpy(c + n, (const uint8_t[]){ 0x82, 0x01, 0x03 }, 3);
	n += 3;
	c[4] = (uint8_t)(n - 5);
	xmit("FAB CLOSE", c, n, r, 0x9000);

	/* Transport code: TRANSPORT -> INITIALIZATION. */
	memcpy(c, (const uint8_t[]){ 0x00, 0x20, 0x00, 0x1F, 0x08 }, 5);
	memcpy(c + 5, transport_code, 8);
	xmit("VERIFY transport code", c, 13, r, 0x9000);

	/* --fill: other EFs first, so that the file table search for ours
	 * (slot order: first fit) passes them all. */
	for (unsigned i = 0; i < fill_files; i++) {
		uint8_t cf[] = { 0x00,
				 0xE0,
				 0x00,
				 0x00,
				 0x0D,
				 0x62,
				 0x0B,
				 0x82,
				 0x01,
				 0x01,
				 0x83,
				 0x02,
				 (uint8_t)(0x20 + i / 256),
				 (uint8_t)i,
				 0x80,
				 0x02,
				 0x00,
				 0x08 };
		static const uint8_t mf[] = { 0x00, 0xA4, 0x00, 0x0C,
					      0x02, 0x3F, 0x00 };
		xmit("CREATE FILE (fill)", cf, sizeof cf, r, 0x9000);
		xmit("SELECT MF", mf, sizeof mf, r, 0x9000);
	}

	/* The EF: transparent, 1,024 bytes, READ and UPDATE always. */
	static const uint8_t create[] = {
		0x00,	      0xE0,	      0x00, 0x00,
		0x12,	      0x62,	      0x10, 0x82,
		0x01,	      0x01,	      0x83, 0x02,
		EF_FID >> 8,  EF_FID & 0xFF,  0x80, 0x02,
		EF_SIZE >> 8, EF_SIZE & 0xFF, 0x8C, 0x03,
		0x03,	      0x00,	      0x00
	};
	xmit("CREATE FILE", create, sizeof create, r, 0x9000);

	/* PIN object: global reference 1, 3 tries, 4 bytes, "1234". */
	static const uint8_t pin[] = { 0x00, 0xDA, 0xDF, 0x01, 0x0F, 0x80, 0x01,
				       0x01, 0x81, 0x01, 0x03, 0x82, 0x01, 0x04,
				       0x83, 0x04, '1',	 '2',  '3',  '4' };
	xmit("PUT DATA PIN", pin, sizeof pin, r, 0x9000);

	if (operational) {
		put_key(1);
		put_key(2);
		put_key(3);
		/* The fuse: INITIALIZATION -> PERSONALIZATION. */
		static const uint8_t fuse[] = { 0x80, 0xF0, 0x80, 0x07 };
		xmit("SET STATUS 07", fuse, sizeof fuse, r, 0x9000);
		/* SCP03, then SET STATUS 0F with C-MAC: OPERATIONAL. */
		scp_open();
		static const uint8_t op[] = { 0x80, 0xF0, 0x80, 0x0F };
		n = scp_wrap(op, sizeof op, c);
		xmit("SET STATUS 0F", c, n, r, 0x9000);
	}

	/* A power cycle: a fresh security status, no session. */
	cos_power_off(&chip);
	power_on();

	cos_info_t info;
	cos_status_t st = cos_get_info(&chip, &info);
	if (st != COS_OK)
		die("cos_get_info: %s", cos_strerror(st));
	cos_lifecycle_t want =
		operational ? COS_LC_OPERATIONAL : COS_LC_INITIALIZATION;
	if (info.lifecycle != want)
		die("chip in %s, not in %s", cos_lifecycle_name(info.lifecycle),
		    cos_lifecycle_name(want));
	const char *why = NULL;
	if (cos_check(&chip, &why) != COS_OK)
		die("cos_check: %s", why ? why : "?");
	printf("# chip: %s, %s, %u files, %u objects, %u of %u body bytes "
	       "used\n",
	       info.model->name, cos_lifecycle_name(info.lifecycle),
	       info.files_used, info.objects_used, (unsigned)info.fs_used,
	       (unsigned)info.fs_capacity);
}

/* ---- the timed runs ---- */

typedef struct {
	const char *name;
	uint8_t cmd[2][5 + 128];
	size_t len, ncmd;
	unsigned sw;
	size_t dlen; /* response data expected */
	const uint8_t
		*expect; /* the data expected (checked once, at the end) */
} kind_t;

/* What the EF holds during the reads. */
static uint8_t ef_pattern[EF_SIZE];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bad_response(const kind_t *k, const uint8_t *r, size_t rl)
{
	fprintf(stderr, "cos_apdu: %s: ", k->name);
	hexprint(stderr, k->cmd[0], k->len);
	fprintf(stderr, " -> ");
	hexprint(stderr, r, rl);
	fprintf(stderr, " (expected %zu data bytes and SW %04X)\n", k->dlen,
		k->sw);
	die("wrong response");
}

/* APDUs between clock reads: a read of the clock (~25 ns, vDSO) against an
 * APDU of a few hundred ns. */
#define BATCH 64

/* noinline: a profiler can collect this function alone (callgrind
 * --toggle-collect=run), without the setup. */
__attribute__((noinline)) static void run(const kind_t *k, double seconds)
{
	static uint8_t r[COS_RAPDU_MAX];
	size_t rl;
	uint64_t n = 0, w0 = mem ? hal_mem_writes(mem) : 0;
	const uint8_t sw1 = (uint8_t)(k->sw >> 8), sw2 = (uint8_t)k->sw;
	double t0 = now_s(), t = t0, end = t0 + seconds;

	while (t < end) {
		for (unsigned i = 0; i < BATCH; i++) {
			const uint8_t *c = k->cmd[(n + i) % k->ncmd];
			if (cos_transmit(&chip, c, k->len, r, sizeof r, &rl) !=
				    COS_OK ||
			    rl != k->dlen + 2 || r[rl - 2] != sw1 ||
			    r[rl - 1] != sw2)
				bad_response(k, r, rl);
		}
		n += BATCH;
		t = now_s();
	}
	double el = t - t0;
	double wpa =
		mem ? (double)(hal_mem_writes(mem) - w0) / (double)n : -1.0;
	if (k->expect != NULL && memcmp(r, k->expect, k->dlen) != 0)
		die("%s: the data read is not the file's", k->name);
	printf("apdu %s %llu %.6f %.1f %.2f\n", k->name, (unsigned long long)n,
	       el, (double)n / el, wpa);
	fflush(stdout);

	if (strcmp(k->name, "update128") == 0) {
		/* The last pattern written must be in the file. */
		static const uint8_t rd[] = { 0x00, 0xB0, 0x00, 0x00, 0x80 };
		const uint8_t *last = k->cmd[(n - 1) % k->ncmd];
		xmit("read back", rd, sizeof rd, r, 0x9000);
		if (memcmp(r, last + 5, 128) != 0)
			die("update128: data not in the file");
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: cos_apdu [--seconds S] [--nvm mem|file] [--image PATH]\n"
		"                [--model cf32|cf64] [--state op|init] "
		"[--fill N]\n"
		"                [--kinds select,read16,read128,read256,"
		"update128,verify,unknown]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = 1.0;
	const char *nvm = "mem", *model_name = "cf32", *kinds = NULL;
	int operational = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--seconds") == 0 && v) {
			seconds = atof(v);
			i++;
		} else if (strcmp(a, "--nvm") == 0 && v) {
			nvm = v;
			i++;
		} else if (strcmp(a, "--image") == 0 && v) {
			snprintf(image_path, sizeof image_path, "%s", v);
			i++;
		} else if (strcmp(a, "--model") == 0 && v) {
			model_name = v;
			i++;
		} else if (strcmp(a, "--state") == 0 && v) {
			if (strcmp(v, "op") == 0)
				operational = 1;
			else if (strcmp(v, "init") == 0)
				operational = 0;
			else
				usage();
			i++;
		} else if (strcmp(a, "--fill") == 0 && v) {
			fill_files = (unsigned)atoi(v);
			i++;
		} else if (strcmp(a, "--kinds") == 0 && v) {
			kinds = v;
			i++;
		} else {
			usage();
		}
	}
	if (!(seconds > 0))
		usage();

	const cos_model_t *model = cos_model_find(model_name);
	if (model == NULL)
		die("unknown chip model %s", model_name);

	if (strcmp(nvm, "mem") == 0) {
		hal_host_status_t hs = hal_mem_new(model->nvm_size, 1, &mem);
		if (hs != HAL_HOST_OK)
			die("hal_mem_new: %s", hal_host_strerror(hs));
		hal = hal_mem_hal(mem);
	} else if (strcmp(nvm, "file") == 0) {
		if (image_path[0] == '\0') {
			const char *tmp = getenv("TMPDIR");
			snprintf(image_path, sizeof image_path,
				 "%s/cos_apdu-%ld.img", tmp ? tmp : "/tmp",
				 (long)getpid());
			image_is_temp = 1;
		}
		hal_host_status_t hs =
			hal_file_create(image_path, model->nvm_size, 1);
		if (hs == HAL_HOST_OK)
			hs = hal_file_open(image_path, &file);
		if (hs != HAL_HOST_OK)
			die("hal_file: %s: %s", image_path,
			    hal_host_strerror(hs));
		hal = hal_file_hal(file);
	} else {
		usage();
	}

	cos_status_t st = cos_format(hal, model);
	if (st != COS_OK)
		die("cos_format: %s", cos_strerror(st));
	printf("# nvm: %s%s%s\n", nvm, file ? " " : "", file ? image_path : "");
	build_chip(operational);

	static kind_t k[7];
	size_t nk = 0;
	/* SELECT */
	k[nk] = (kind_t){ .name = "select", .len = 7, .ncmd = 1, .sw = 0x9000 };
	memcpy(k[nk++].cmd[0],
	       (const uint8_t[]){ 0x00, 0xA4, 0x00, 0x0C, 0x02, EF_FID >> 8,
				  EF_FID & 0xFF },
	       7);
	static const struct {
		const char *name;
		uint8_t le;
		size_t n;
	} reads[] = { { "read16", 0x10, 16 },
		      { "read128", 0x80, 128 },
		      { "read256", 0x00, 256 } };
	for (size_t i = 0; i < 3; i++) {
		k[nk] = (kind_t){ .name = reads[i].name,
				  .len = 5,
				  .ncmd = 1,
				  .sw = 0x9000,
				  .dlen = reads[i].n,
				  .expect = ef_pattern };
		memcpy(k[nk++].cmd[0],
		       (const uint8_t[]){ 0x00, 0xB0, 0x00, 0x00, reads[i].le },
		       5);
	}
	/* UPDATE BINARY: two patterns in turn, so that no write is a no-op. */
	k[nk] = (kind_t){
		.name = "update128", .len = 5 + 128, .ncmd = 2, .sw = 0x9000
	};
	for (unsigned p = 0; p < 2; p++) {
		uint8_t *c = k[nk].cmd[p];
		memcpy(c, (const uint8_t[]){ 0x00, 0xD6, 0x00, 0x00, 0x80 }, 5);
		for (unsigned i = 0; i < 128; i++)
			c[5 + i] = (uint8_t)(i * 7 + p + 1);
	}
	nk++;
	k[nk] = (kind_t){ .name = "verify", .len = 9, .ncmd = 1, .sw = 0x9000 };
	memcpy(k[nk].cmd[0], (const uint8_t[]){ 0x00, 0x20, 0x00, 0x01, 0x04 },
	       5);
	memcpy(k[nk++].cmd[0] + 5, pin_value, 4);
	k[nk] = (kind_t){
		.name = "unknown", .len = 4, .ncmd = 1, .sw = 0x6D00
	};
	memcpy(k[nk++].cmd[0], (const uint8_t[]){ 0x00, 0x10, 0x00, 0x00 }, 4);

	/* The EF is the current file for every kind from here on. */
	uint8_t r[COS_RAPDU_MAX];
	xmit("SELECT EF", k[0].cmd[0], k[0].len, r, 0x9000);
	/* Fill it with a pattern, which the reads must return. */
	for (unsigned off = 0; off < EF_SIZE; off += 128) {
		uint8_t c[5 + 128] = { 0x00, 0xD6, (uint8_t)(off >> 8),
				       (uint8_t)off, 0x80 };
		for (unsigned i = 0; i < 128; i++)
			ef_pattern[off + i] = (uint8_t)((off + i) * 13 + 5);
		memcpy(c + 5, ef_pattern + off, 128);
		xmit("UPDATE BINARY (fill)", c, sizeof c, r, 0x9000);
	}

	for (size_t i = 0; i < nk; i++) {
		if (kinds != NULL) {
			/* run only the kinds named in the comma list */
			size_t l = strlen(k[i].name);
			const char *p = kinds;
			int found = 0;
			while ((p = strstr(p, k[i].name)) != NULL) {
				if ((p == kinds || p[-1] == ',') &&
				    (p[l] == ',' || p[l] == '\0'))
					found = 1;
				p += l;
			}
			if (!found)
				continue;
		}
		run(&k[i], seconds);
	}

	const char *why = NULL;
	if (cos_check(&chip, &why) != COS_OK)
		die("cos_check after the runs: %s", why ? why : "?");
	cos_power_off(&chip);
	if (file != NULL && hal_file_close(file) != HAL_HOST_OK)
		die("hal_file_close failed");
	file = NULL;
	if (image_is_temp)
		unlink(image_path);
	hal_mem_free(mem);
	return 0;
}
