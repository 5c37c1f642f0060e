/*
 * fuzz_apdu.c - libFuzzer target on the card OS's APDU entry point,
 * cos_transmit().
 *
 * On the first call it builds one chip in RAM (hal_mem, fixed seed) through
 * APDUs only, the way a factory does, and keeps a snapshot of its NVM image
 * at every life cycle state:
 *
 *   0 MANUFACTURING    fresh from cos_format()
 *   1 TRANSPORT        after FAB CLOSE
 *   2 INITIALIZATION   after the transport code, with the whole structure:
 *                      MF; EF 0101 transparent 256 (SFI 1, always); EF 0102
 *                      transparent 32 (PIN / SM / never conditions); DF 1000
 *                      with an AID and EFs of every type: 1001 transparent
 *                      64, 1002 linear fixed 5 x 16, 1003 linear variable
 *                      6 x <= 32, 1004 cyclic 4 x 8, records written; PIN 1
 *                      ("1234", PUK 2), PUK 2, AES key 4, 3DES key 5, SCP03
 *                      key set 30 (keys 1, 2, 3)
 *   3 PERSONALIZATION  after SET STATUS 07 (the fuse)
 *   4 OPERATIONAL      after SET STATUS 0F in an SCP03 session
 *   5 TERMINATED       after SET STATUS FF in an SCP03 session
 *
 * Input format (robust: any byte string is a valid input):
 *
 *   byte 0      mode: b3-b1 snapshot (modulo the number of snapshots),
 *               b4 T=0 instead of T=1, b7-b5 an SCP03 session the harness
 *               opens first and then wraps every command in (0 none, 1 C-MAC,
 *               2 C-MAC + C-DEC, 3 C-MAC + R-MAC, 4 C-MAC + C-DEC + R-MAC,
 *               5 all four, 6 none; 7: the input goes to the memory card
 *               instead, see memcard_fuzz.h), b8 power cut armed:
 *   [byte 1-2]  if b8: cut the power during NVM write number byte 1 (1-256)
 *               after byte 2 bytes of it; the harness then powers the chip
 *               back on (journal recovery), checks it, and goes on
 *   then        up to 16 APDUs, each a 2-byte big-endian length (11 bits:
 *               0-2047) and that many bytes (fewer if the input ends)
 *
 * Each APDU is copied to a buffer of exactly its length (so that reading past
 * it is an ASan error) and sent with cos_transmit() into a buffer of exactly
 * COS_RAPDU_MAX. The harness aborts when:
 *   - cos_transmit() fails, except COS_ERR_POWER right after the armed cut;
 *   - a response is shorter than 2 bytes or longer than its buffer;
 *   - the status word is not 9000 and SW1 is not in 61-6F;
 *   - an error status word (SW1 64-6F) comes with response data;
 *   - a test command (80 30/32/34) answers data or success outside
 *     MANUFACTURING (the test pads must not be a door);
 *   - a TERMINATED chip answers success to anything but GET DATA;
 *   - the life cycle state goes down;
 *   - cos_check() fails after a power up (recovery), after the sequence, or
 *     after a final power cycle; cos_walk() reports an impossible file or
 *     object (type, depth, records, tries).
 *
 * FUZZ_APDU_TRACE=1 in the environment prints every command and response
 * (to read a reproducer: fuzz_apdu crash-file).
 *
 * The RNG is the harness's (splitmix64 reset for every input) so that an
 * input replays exactly: challenges and SCP03 card challenges included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cos/cos.h"
#include "hal/hal_host.h"

#include "memcard_fuzz.h"

#define MAX_APDUS 16
#define MAX_SNAPS 6
#define KVN 0x30

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr,                                 \
				"fuzz_apdu: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);             \
			fprintf(stderr, __VA_ARGS__);                   \
			fputc('\n', stderr);                            \
			abort();                                        \
		}                                                       \
	} while (0)

static const uint8_t scp_keys[3][16] = {
	{ 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A,
	  0x4B, 0x4C, 0x4D, 0x4E, 0x4F },
	{ 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A,
	  0x5B, 0x5C, 0x5D, 0x5E, 0x5F },
	{ 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A,
	  0x6B, 0x6C, 0x6D, 0x6E, 0x6F },
};

static hal_mem_t *mem;
static hal_t hal; /* hal_mem's, with the harness's RNG */
static cos_chip_t chip;
static uint8_t *snap[MAX_SNAPS];
static cos_lifecycle_t snap_lc[MAX_SNAPS];
static unsigned nsnaps;
static uint32_t nvm_size;
static uint8_t *rbuf; /* exactly COS_RAPDU_MAX bytes */

/* ---- deterministic RNG, reset for every input ---- */

static uint64_t rng_state;

static hal_status_t fuzz_rng(void *ctx, uint8_t *dst, size_t len)
{
	(void)ctx;
	while (len > 0) {
		uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		z ^= z >> 31;
		for (unsigned i = 0; i < 8 && len > 0; i++, len--)
			*dst++ = (uint8_t)(z >> (8 * i));
	}
	return HAL_OK;
}

/* ---- helpers ---- */

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "%s (%zu):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02X", p[i]);
	fputc('\n', stderr);
}

static void power_on(void)
{
	uint8_t atr[COS_ATR_MAX];
	size_t atr_len = 0;
	cos_status_t st = cos_power_on(&chip, &hal, atr, sizeof atr, &atr_len);
	CHECK(st == COS_OK, "cos_power_on: %s", cos_strerror(st));
	CHECK(atr_len >= 2 && atr_len <= COS_ATR_MAX && atr[0] == 0x3B,
	      "bad ATR (%zu bytes)", atr_len);
	const char *why = NULL;
	CHECK(cos_check(&chip, &why) == COS_OK, "cos_check after power on: %s",
	      why ? why : "?");
}

static cos_lifecycle_t lifecycle(void)
{
	cos_info_t info;
	cos_status_t st = cos_get_info(&chip, &info);
	CHECK(st == COS_OK, "cos_get_info: %s", cos_strerror(st));
	return info.lifecycle;
}

/* Setup: send, require the SW. Returns the response data length. */
static size_t xmit(const char *what, const uint8_t *c, size_t n, unsigned sw)
{
	size_t rl = 0;
	cos_status_t st = cos_transmit(&chip, c, n, rbuf, COS_RAPDU_MAX, &rl);
	if (st != COS_OK || rl < 2 ||
	    ((unsigned)rbuf[rl - 2] << 8 | rbuf[rl - 1]) != sw) {
		fprintf(stderr, "fuzz_apdu: setup: %s: %s\n", what,
			cos_strerror(st));
		hexdump("command", c, n);
		hexdump("response", rbuf, rl);
		abort();
	}
	return rl - 2;
}

/* Setup: an APDU given in hex, case 1 or 3: "80F08007", or "00A4000C 3F00"
 * where the first space marks the data (Lc is computed) and further spaces
 * are ignored. */
static size_t xmit_hex(const char *what, const char *hex, unsigned sw)
{
	uint8_t c[300];
	size_t n = 0;
	int data_at = -1;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			/* the first space marks the data; others are for
			 * reading */
			if (data_at < 0) {
				data_at = (int)n;
				c[n++] = 0; /* Lc, set below */
			}
			p++;
			continue;
		}
		unsigned v;
		CHECK(sscanf(p, "%2x", &v) == 1, "bad hex in %s", what);
		c[n++] = (uint8_t)v;
		p += 2;
	}
	if (data_at >= 0)
		c[data_at] = (uint8_t)(n - (size_t)data_at - 1);
	return xmit(what, c, n, sw);
}

/* ---- host side of SCP03 (GP Amendment D), AES-128, S8 ---- */

typedef struct {
	int open;
	uint8_t level;
	uint8_t s_enc[16], s_mac[16];
	uint8_t chain[16];
	uint32_t counter;
} host_scp_t;

static host_scp_t scp;

static void cmac(const uint8_t *key, const uint8_t *in, size_t n,
		 uint8_t out[16])
{
	CHECK(hal_host_cmac(NULL, HAL_CIPHER_AES, key, 16, in, n, out) ==
		      HAL_OK,
	      "host CMAC");
}

static void scp_kdf(const uint8_t *key, uint8_t constant, unsigned lbits,
		    const uint8_t ctx[16], uint8_t *out)
{
	uint8_t d[32] = { 0 }, m[16];
	d[11] = constant;
	d[13] = (uint8_t)(lbits >> 8);
	d[14] = (uint8_t)lbits;
	d[15] = 0x01;
	memcpy(d + 16, ctx, 16);
	cmac(key, d, sizeof d, m);
	memcpy(out, m, lbits / 8);
}

/*
 * Wrap a command for the open session: returns the length of out, or 0 if
 * the command is not a short case 1-4 APDU that can be wrapped (it is then
 * sent as it is). C-DEC: data || 80 00.. encrypted, ICV = E(S-ENC, counter).
 */
static size_t scp_wrap(const uint8_t *c, size_t n, uint8_t *out, size_t cap)
{
	size_t nc = 0, le_len = 0;
	if (n == 4) {
		nc = 0;
	} else if (n == 5) {
		le_len = 1;
	} else if (n > 5 && c[4] != 0 && n == 5u + c[4]) {
		nc = c[4];
	} else if (n > 5 && c[4] != 0 && n == 6u + c[4]) {
		nc = c[4];
		le_len = 1;
	} else {
		return 0;
	}
	if (c[1] == 0xC0) /* GET RESPONSE is transport: never wrapped */
		return 0;
	uint8_t body[16 + 5 + 256 + 16], m[16], icv[16], blk[16];
	size_t bl = nc;
	memcpy(body + 21, c + 5, nc);
	scp.counter++;
	if ((scp.level & 0x02) && nc > 0) {
		body[21 + bl++] = 0x80;
		while (bl % 16)
			body[21 + bl++] = 0x00;
		memset(blk, 0, 16);
		blk[12] = (uint8_t)(scp.counter >> 24);
		blk[13] = (uint8_t)(scp.counter >> 16);
		blk[14] = (uint8_t)(scp.counter >> 8);
		blk[15] = (uint8_t)scp.counter;
		CHECK(hal_host_cipher(NULL, HAL_CIPHER_AES, HAL_MODE_ECB, 1,
				      scp.s_enc, 16, NULL, blk, 16,
				      icv) == HAL_OK,
		      "host AES");
		CHECK(hal_host_cipher(NULL, HAL_CIPHER_AES, HAL_MODE_CBC, 1,
				      scp.s_enc, 16, icv, body + 21, bl,
				      body + 21) == HAL_OK,
		      "host AES-CBC");
	}
	if (bl + 8 > 255 || 5 + bl + 8 + le_len > cap)
		return 0;
	memcpy(body, scp.chain, 16);
	body[16] = (uint8_t)(c[0] | 0x04);
	memcpy(body + 17, c + 1, 3);
	body[20] = (uint8_t)(bl + 8);
	cmac(scp.s_mac, body, 21 + bl, m);
	memcpy(scp.chain, m, 16);
	memcpy(out, body + 16, 5 + bl);
	memcpy(out + 5 + bl, m, 8);
	if (le_len)
		out[5 + bl + 8] = c[n - 1];
	return 5 + bl + 8 + le_len;
}

/* Open a session at `level`. Returns 0 if the chip has no key set to open
 * it with in this state (the SW of INITIALIZE UPDATE is then not 9000). */
static int scp_open(uint8_t level, int must)
{
	static const uint8_t host_chal[8] = { 0xA1, 0xA2, 0xA3, 0xA4,
					      0xA5, 0xA6, 0xA7, 0xA8 };
	uint8_t c[32], ctx[16], cc[8], hc[8];
	size_t rl = 0;

	memset(&scp, 0, sizeof scp);
	memcpy(c, (const uint8_t[]){ 0x80, 0x50, KVN, 0x00, 0x08 }, 5);
	memcpy(c + 5, host_chal, 8);
	c[13] = 0x00;
	if (!must) {
		cos_status_t st =
			cos_transmit(&chip, c, 14, rbuf, COS_RAPDU_MAX, &rl);
		CHECK(st == COS_OK, "INITIALIZE UPDATE: %s", cos_strerror(st));
		if (rl != 31 || rbuf[29] != 0x90 || rbuf[30] != 0x00)
			return 0;
	} else {
		rl = xmit("INITIALIZE UPDATE", c, 14, 0x9000) + 2;
		CHECK(rl == 31, "INITIALIZE UPDATE answered %zu bytes", rl);
	}
	memcpy(ctx, host_chal, 8);
	memcpy(ctx + 8, rbuf + 13, 8);
	scp_kdf(scp_keys[0], 0x04, 128, ctx, scp.s_enc);
	scp_kdf(scp_keys[1], 0x06, 128, ctx, scp.s_mac);
	scp_kdf(scp.s_mac, 0x00, 64, ctx, cc);
	CHECK(memcmp(cc, rbuf + 21, 8) == 0, "wrong card cryptogram");
	scp_kdf(scp.s_mac, 0x01, 64, ctx, hc);

	uint8_t ea[13] = { 0x80, 0x82, level, 0x00, 0x08 };
	memcpy(ea + 5, hc, 8);
	uint8_t w[32];
	/* EXTERNAL AUTHENTICATE is MACed but never encrypted, and does not
	 * move the counter. */
	uint8_t body[16 + 5 + 8], m[16];
	memcpy(body, scp.chain, 16);
	body[16] = 0x84;
	memcpy(body + 17, ea + 1, 3);
	body[20] = 16;
	memcpy(body + 21, hc, 8);
	cmac(scp.s_mac, body, sizeof body, m);
	memcpy(scp.chain, m, 16);
	memcpy(w, body + 16, 13);
	memcpy(w + 13, m, 8);
	xmit("EXTERNAL AUTHENTICATE", w, 21, 0x9000);
	scp.open = 1;
	scp.level = level;
	return 1;
}

/* ---- building the chip ---- */

/* CREATE FILE with the FCP content given in hex (tag 62 added here). */
static void create(const char *what, const char *fcp_hex)
{
	char hex[600];
	size_t l = 0;
	for (const char *p = fcp_hex; *p; p++)
		l += *p != ' ';
	snprintf(hex, sizeof hex, "00E00000 62%02zX%s", l / 2, fcp_hex);
	/* the FCP's own spaces would be taken for the data mark: drop them */
	char *w = hex + 10;
	for (const char *p = hex + 10; *p; p++)
		if (*p != ' ')
			*w++ = *p;
	*w = '\0';
	xmit_hex(what, hex, 0x9000);
}

static void take_snapshot(void)
{
	CHECK(nsnaps < MAX_SNAPS, "too many snapshots");
	/* A power cycle first: the image is what NVM holds, nothing pending,
	 * and the chip recovers from it. */
	cos_power_off(&chip);
	power_on();
	snap_lc[nsnaps] = lifecycle();
	snap[nsnaps] = malloc(nvm_size);
	CHECK(snap[nsnaps] != NULL, "malloc");
	memcpy(snap[nsnaps], hal_mem_image(mem), nvm_size);
	nsnaps++;
}

static void build(void)
{
	const cos_model_t *model = cos_model_find("cf32");
	CHECK(model != NULL, "no cf32 model");
	nvm_size = model->nvm_size;
	CHECK(hal_mem_new(nvm_size, 0xC0FFEEu, &mem) == HAL_HOST_OK,
	      "hal_mem_new");
	hal = *hal_mem_hal(mem);
	hal.rng = fuzz_rng;
	rng_state = 1;
	rbuf = malloc(COS_RAPDU_MAX);
	CHECK(rbuf != NULL, "malloc");

	cos_status_t st = cos_format(&hal, model);
	CHECK(st == COS_OK, "cos_format: %s", cos_strerror(st));
	power_on();
	take_snapshot(); /* MANUFACTURING */

	/* FAB CLOSE: serial, transport code "TRANSP01", 3 tries, date,
	 * batch. */
	xmit_hex("FAB CLOSE",
		 "80340000 8008CF00000000000042"
		 "81085452414E53503031"
		 "820103"
		 "83020123"
		 "84020042",
		 0x9000);
	take_snapshot(); /* TRANSPORT */

	xmit_hex("VERIFY transport code", "0020001F 5452414E53503031", 0x9000);
	CHECK(lifecycle() == COS_LC_INITIALIZATION, "not in INITIALIZATION");

	/* PUK (global 2, "12345678", 10 tries), PIN (global 1, "1234", 3
	 * tries, PUK 2). */
	xmit_hex("PUT DATA PUK",
		 "00DADF01 800102 81010A 820108 83083132333435363738", 0x9000);
	xmit_hex("PUT DATA PIN",
		 "00DADF01 800101 810103 820104 830431323334 840102", 0x9000);
	/* AES key 4 and 3DES key 5: authenticate + internal authenticate. */
	xmit_hex("PUT DATA AES key",
		 "00DADF02 800104 810101 820188 830105"
		 "8410000102030405060708090A0B0C0D0E0F 850105",
		 0x9000);
	xmit_hex("PUT DATA 3DES key",
		 "00DADF02 800105 810101 820180 830105"
		 "84100123456789ABCDEFFEDCBA9876543210 850100",
		 0x9000);
	/* SCP03 key set, version 30: ENC 1, MAC 2, DEK 3. */
	for (unsigned k = 0; k < 3; k++) {
		char hex[200];
		int l = snprintf(
			hex, sizeof hex,
			"00DADF02 8001%02X 8101%02X 820188 830102 8410", k + 1,
			KVN);
		for (unsigned i = 0; i < 16; i++)
			l += snprintf(hex + l, sizeof hex - (size_t)l, "%02X",
				      scp_keys[k][i]);
		xmit_hex("PUT DATA SCP03 key", hex, 0x9000);
	}

	/* MF: EF 0101 transparent 256, SFI 1 (88 01 08), always; EF 0102
	 * transparent 32: read PIN 1, update SM, deactivate/activate PIN 1,
	 * never terminate or delete. */
	create("EF 0101", "820101 83020101 80020100 880108");
	xmit_hex("UPDATE BINARY 0101", "00D60000 0102030405060708", 0x9000);
	xmit_hex("SELECT MF", "00A4000C 3F00", 0x9000);
	create("EF 0102", "820101 83020102 80020020 8C087FFFFF1111004011");
	xmit_hex("SELECT MF", "00A4000C 3F00", 0x9000);

	/* DF 1000, AID A0000009990102: create DF SM, create EF PIN 1, delete
	 * child PIN 1. It becomes the current DF. */
	create("DF 1000", "820138 83021000 8407A0000009990102 8C0407401111");
	create("EF 1001 transparent",
	       "820101 83021001 80020040 880110 8C03031100");
	xmit_hex("UPDATE BINARY 1001",
		 "00D60000 00112233445566778899AABBCCDDEEFF", 0x9000);
	create("EF 1002 linear fixed",
	       "82050221001005 83021002 880118 8C0407244000");
	xmit_hex("APPEND 1002", "00E20000 31313131313131313131313131313131",
		 0x9000);
	xmit_hex("APPEND 1002", "00E20000 32323232323232323232323232323232",
		 0x9000);
	create("EF 1003 linear variable",
	       "82050421002006 83021003 880120 8C0407111100");
	xmit_hex("APPEND 1003", "00E20000 414243", 0x9000);
	xmit_hex("APPEND 1003", "00E20000 4445464748494A4B4C4D", 0x9000);
	create("EF 1004 cyclic",
	       "82050621000804 83021004 880128 8C054700000000");
	xmit_hex("APPEND 1004", "00E20000 0101010101010101", 0x9000);
	xmit_hex("APPEND 1004", "00E20000 0202020202020202", 0x9000);
	xmit_hex("APPEND 1004", "00E20000 0303030303030303", 0x9000);
	xmit_hex("SELECT MF", "00A4000C 3F00", 0x9000);
	take_snapshot(); /* INITIALIZATION */

	xmit_hex("SET STATUS 07", "80F08007", 0x9000);
	take_snapshot(); /* PERSONALIZATION */

	scp_open(0x01, 1);
	uint8_t w[32];
	static const uint8_t op[] = { 0x80, 0xF0, 0x80, 0x0F };
	size_t n = scp_wrap(op, sizeof op, w, sizeof w);
	xmit("SET STATUS 0F", w, n, 0x9000);
	scp.open = 0;
	take_snapshot(); /* OPERATIONAL */
	CHECK(snap_lc[nsnaps - 1] == COS_LC_OPERATIONAL, "not OPERATIONAL");

	/* TERMINATED: SET STATUS FF in an SCP03 session. */
	scp_open(0x01, 1);
	static const uint8_t term[] = { 0x80, 0xF0, 0x80, 0xFF };
	n = scp_wrap(term, sizeof term, w, sizeof w);
	xmit("SET STATUS FF", w, n, 0x9000);
	scp.open = 0;
	take_snapshot();
	CHECK(snap_lc[nsnaps - 1] == COS_LC_TERMINATED, "not TERMINATED");
	for (unsigned i = 0; i < nsnaps; i++)
		fprintf(stderr, "fuzz_apdu: snapshot %u: %s\n", i,
			cos_lifecycle_name(snap_lc[i]));
}

/* ---- what the chip reports about itself ---- */

static int walk_file(const cos_file_info_t *f, void *arg)
{
	(void)arg;
	CHECK(f->type >= COS_FT_MF && f->type <= COS_FT_EF_CYCLIC,
	      "file %04X of type %d", f->fid, (int)f->type);
	CHECK((f->depth == 0) == (f->type == COS_FT_MF) && f->depth <= 8,
	      "file %04X at depth %u", f->fid, f->depth);
	CHECK(f->aid_len <= COS_AID_MAX, "file %04X: AID of %u bytes", f->fid,
	      f->aid_len);
	CHECK(f->records <= f->max_records, "file %04X: %u of %u records",
	      f->fid, f->records, f->max_records);
	return 0;
}

static int walk_obj(const cos_obj_info_t *o, void *arg)
{
	(void)arg;
	CHECK(o->kind == COS_OBJ_PIN || o->kind == COS_OBJ_KEY,
	      "object of kind %d", (int)o->kind);
	CHECK(o->max_tries == 0 || o->tries <= o->max_tries,
	      "object %02X: %u of %u tries", o->ref, o->tries, o->max_tries);
	CHECK(o->len <= 32, "object %02X of %u bytes", o->ref, o->len);
	return 0;
}

/* ---- one input ---- */

static const uint8_t scp_levels[8] = { 0, 0x01, 0x03, 0x11, 0x13, 0x33, 0, 0 };

static void restore(unsigned idx)
{
	cos_power_off(&chip);
	hal_mem_cut_at(mem, 0, 0);
	hal_mem_fail_at(mem, 0);
	hal_mem_power_restore(mem);
	memcpy(hal_mem_image(mem), snap[idx], nvm_size);
	hal_mem_reset_counters(mem);
	rng_state = 0x5EED0000u + idx;
	memset(&scp, 0, sizeof scp);
	power_on();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int built, trace;
	if (!built) {
		build();
		built = 1;
		trace = getenv("FUZZ_APDU_TRACE") != NULL;
	}
	if (size < 1)
		return 0;

	const uint8_t mode = data[0];
	size_t pos = 1;
	/* SCP03 "level" 7 would duplicate "none": it selects the memory card
	 * instead, so one target covers both chips of cardfab. */
	if ((mode & 0x70) == 0x70) {
		memcard_fuzz_one(data + 1, size - 1);
		return 0;
	}
	unsigned idx = (mode & 0x07) % nsnaps;
	int t0 = (mode & 0x08) != 0;
	uint8_t level = scp_levels[(mode >> 4) & 0x07];
	uint64_t cut_n = 0;
	uint32_t cut_torn = 0;
	if ((mode & 0x80) && size >= 3) {
		cut_n = (uint64_t)data[1] + 1;
		cut_torn = data[2];
		pos = 3;
	}

	restore(idx);
	cos_lifecycle_t lc = lifecycle();
	if (trace)
		fprintf(stderr,
			"fuzz_apdu: %s%s, SCP03 level %02X, cut at "
			"write %llu after %u bytes\n",
			cos_lifecycle_name(lc), t0 ? ", T=0" : "", level,
			(unsigned long long)cut_n, (unsigned)cut_torn);
	CHECK(lc == snap_lc[idx], "snapshot %u restored as %s", idx,
	      cos_lifecycle_name(lc));
	if (level != 0 && lc >= COS_LC_INITIALIZATION &&
	    lc <= COS_LC_OPERATIONAL)
		scp_open(level, 1);
	if (t0)
		CHECK(cos_set_protocol(&chip, COS_PROTO_T0) == COS_OK,
		      "cos_set_protocol");
	if (cut_n)
		hal_mem_cut_at(mem, cut_n, cut_torn);

	for (unsigned i = 0; i < MAX_APDUS && pos + 2 <= size; i++) {
		size_t len = ((size_t)data[pos] << 8 | data[pos + 1]) & 0x7FF;
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		const uint8_t *apdu = data + pos;
		pos += len;

		/* The command in a buffer of exactly its length. */
		uint8_t wrapped[300];
		size_t wl = scp.open ? scp_wrap(apdu, len, wrapped,
						sizeof wrapped) :
				       0;
		size_t cl = wl ? wl : len;
		uint8_t *cmd = malloc(cl ? cl : 1);
		CHECK(cmd != NULL, "malloc");
		memcpy(cmd, wl ? wrapped : apdu, cl);

		size_t rl = 0;
		cos_status_t st =
			cos_transmit(&chip, cmd, cl, rbuf, COS_RAPDU_MAX, &rl);
		if (st == COS_ERR_POWER) {
			if (trace)
				hexdump("fuzz_apdu: >> (power cut)", cmd, cl);
			CHECK(hal_mem_power_lost(mem),
			      "COS_ERR_POWER with the power on");
			free(cmd);
			hal_mem_power_restore(mem);
			cos_power_off(&chip);
			power_on(); /* recovery, then cos_check */
			memset(&scp, 0, sizeof scp);
			cos_lifecycle_t now = lifecycle();
			CHECK(now >= lc,
			      "life cycle went down from %s to %s "
			      "across a power cut",
			      cos_lifecycle_name(lc), cos_lifecycle_name(now));
			lc = now;
			continue;
		}
		if (trace) {
			hexdump("fuzz_apdu: >>", cmd, cl);
			if (st == COS_OK)
				hexdump("fuzz_apdu: <<", rbuf, rl);
		}
		CHECK(st == COS_OK, "cos_transmit: %s", cos_strerror(st));
		CHECK(rl >= 2 && rl <= COS_RAPDU_MAX, "response of %zu bytes",
		      rl);
		const uint8_t sw1 = rbuf[rl - 2], sw2 = rbuf[rl - 1];
		const uint8_t ins = len > 1 ? apdu[1] : 0;
		CHECK((sw1 >= 0x61 && sw1 <= 0x6F) ||
			      (sw1 == 0x90 && sw2 == 0x00),
		      "status word %02X%02X", sw1, sw2);
		CHECK(sw1 < 0x64 || sw1 > 0x6F || rl == 2,
		      "error status %02X%02X with %zu data bytes", sw1, sw2,
		      rl - 2);
		const int ok = sw1 == 0x90 || sw1 == 0x61;
		if (len > 1 && (ins == 0x30 || ins == 0x32 || ins == 0x34) &&
		    lc != COS_LC_MANUFACTURING)
			CHECK(!ok && rl == 2,
			      "test command %02X answered %02X%02X with %zu "
			      "bytes in %s",
			      ins, sw1, sw2, rl - 2, cos_lifecycle_name(lc));
		if (lc == COS_LC_TERMINATED && len > 1 && ins != 0xCA &&
		    ins != 0xC0)
			CHECK(!ok,
			      "TERMINATED chip answered %02X%02X to "
			      "INS %02X",
			      sw1, sw2, ins);
		free(cmd);

		cos_lifecycle_t now = lifecycle();
		CHECK(now >= lc, "life cycle went down from %s to %s",
		      cos_lifecycle_name(lc), cos_lifecycle_name(now));
		lc = now;
	}

	const char *why = NULL;
	CHECK(cos_check(&chip, &why) == COS_OK, "cos_check: %s",
	      why ? why : "?");
	CHECK(cos_walk(&chip, walk_file, walk_obj, NULL) == 0, "cos_walk");
	/* Whatever the sequence did is in NVM: a power cycle keeps it. */
	hal_mem_cut_at(mem, 0, 0);
	hal_mem_power_restore(mem);
	cos_power_off(&chip);
	power_on();
	cos_lifecycle_t now = lifecycle();
	CHECK(now >= lc, "life cycle went down across a power cycle");
	return 0;
}
