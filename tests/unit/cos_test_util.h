/*
 * cos_test_util.h - helpers of the card OS unit tests (tests/unit/test_cos*.c).
 *
 * The tests are written from the data sheet (docs/card-os.md), not from the
 * code of src/cos: they talk to a virtual chip (hal_mem: NVM in RAM, seeded
 * RNG, fault injection) through cos_transmit() only, and through the
 * introspection calls of cos.h (cos_get_info, cos_walk, cos_check) to look at
 * what the APDUs cannot show (try counters, LCS of every file).
 *
 * Header only (every function static and marked unused): each test program
 * is one translation unit linked with cardfab_cos, cardfab_hal, cmocka and
 * libcrypto.
 *
 *   tc_new("cf32", seed)        a formatted, powered chip in MANUFACTURING
 *   xfer(t, "00 A4 00 0C 02 3F00", rbuf, &rlen)   hex in (spaces allowed),
 *                               SW out; the response data (without SW) is
 *                               also kept in t->resp / t->rlen
 *   EXPECT_SW(t, 0x9000, "00 B0 00 00 %02X", n)   printf-style APDU, checks
 *                               the SW; on failure prints the APDU, the SW
 *                               got and expected and the response data
 *   EXPECT_SM(t, 0x9000, ...)   the same APDU wrapped in the open SCP03
 *                               session (CLA | 04, C-MAC, C-DEC per level)
 *   REQUIRE_SW / REQUIRE_SM     the same, always fatal (used by set-ups)
 *   tc_to_state(t, lc, build)   MANUFACTURING -> ... -> lc through APDUs only;
 *                               build(t) runs in INITIALIZATION to lay out
 *                               the files and objects of the test
 *
 * The host side of SCP03 (GlobalPlatform Card Specification v2.3 Amendment D:
 * NIST SP 800-108 counter-mode KDF with AES-CMAC, cryptograms, C-MAC chaining,
 * C-DECRYPTION with the ICV from the encryption counter) is written here with
 * OpenSSL directly, independently of src/cos/scp03.c, AES-128 only, short
 * APDUs only: enough to open a session at level 01 or 03 and wrap commands.
 *
 * Failures: by default a failed check ends the test (cmocka style). With
 * CT_KEEP_GOING=1 in the environment, EXPECT_* and CHECK* only print and
 * count, and the test fails in its teardown: one run then lists every
 * disagreement of a test, not only the first. REQUIRE_* stay fatal.
 * Every check is counted; ct_summary() prints the count.
 */
#ifndef CARDFAB_COS_TEST_UTIL_H
#define CARDFAB_COS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cos/cos.h"
#include "hal/hal_host.h"

#define CT_FN static __attribute__((unused))

/* ------------------------------------------------------------ accounting */

static unsigned long ct_checks;        /* checks run by this program */
static unsigned long ct_failed;        /* failed in the current test */
static unsigned long ct_failed_total;  /* failed in this program */
static int ct_keep_going_flag = -1;

CT_FN int ct_keep_going(void)
{
	if (ct_keep_going_flag < 0) {
		const char *e = getenv("CT_KEEP_GOING");
		ct_keep_going_flag = e && *e && strcmp(e, "0") != 0;
	}
	return ct_keep_going_flag;
}

/* A check failed: end the test, or count it and go on (CT_KEEP_GOING). */
CT_FN void ct_failure(const char *file, int line, int fatal)
{
	ct_failed++;
	ct_failed_total++;
	if (fatal || !ct_keep_going())
		_fail(file, line);
}

__attribute__((format(printf, 6, 7))) CT_FN void
ct_check_impl(int ok, const char *expr, const char *file, int line, int fatal,
	      const char *fmt, ...)
{
	ct_checks++;
	if (ok)
		return;
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	if (fmt && fmt[0]) {
		va_list ap;
		va_start(ap, fmt);
		fputs("    ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	ct_failure(file, line, fatal);
}

#define CHECK(cond) \
	ct_check_impl(!!(cond), #cond, __FILE__, __LINE__, 0, "%s", "")
#define CHECKF(cond, ...) \
	ct_check_impl(!!(cond), #cond, __FILE__, __LINE__, 0, __VA_ARGS__)
/* Sanity of the harness itself (hex strings, OpenSSL, malloc): fatal,
 * not counted as checks of the card OS. */
#define CT_ASSERT(cond, ...)                                                \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: harness: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			_fail(__FILE__, __LINE__);                          \
		}                                                           \
	} while (0)
#define REQUIRE(cond) \
	ct_check_impl(!!(cond), #cond, __FILE__, __LINE__, 1, "%s", "")
#define REQUIRE_F(cond, ...) \
	ct_check_impl(!!(cond), #cond, __FILE__, __LINE__, 1, __VA_ARGS__)

CT_FN void ct_summary(const char *prog)
{
	printf("%s: %lu checks run, %lu failed\n", prog, ct_checks,
	       ct_failed_total);
}

/* ------------------------------------------------------------ hex */

CT_FN int ct_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex to bytes; spaces, ':', '|' and newlines are ignored. Fatal on a bad
 * digit, an odd count or an overflow of cap. */
CT_FN size_t ct_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		if (*s == ' ' || *s == ':' || *s == '|' || *s == '\n' ||
		    *s == '\t')
			continue;
		int v = ct_hexval((unsigned char)*s);
		CT_ASSERT(v >= 0, "bad hex digit '%c' in \"%s\"", *s, s);
		if (hi < 0) {
			hi = v;
			continue;
		}
		CT_ASSERT(n < cap, "hex string longer than %zu bytes", cap);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	CT_ASSERT(hi < 0, "odd number of hex digits");
	return n;
}

/* Bytes to hex with spaces, into a caller buffer (3 chars a byte + 1). */
CT_FN const char *ct_tohex(const uint8_t *p, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && o + 4 <= cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%02X", i ? " " : "",
				      p[i]);
	return buf;
}

/* Bytes to hex without spaces, for building APDU strings. Static ring of
 * buffers, so that a few may appear in one printf. */
CT_FN const char *H(const uint8_t *p, size_t n)
{
	static char ring[8][2 * 1100 + 1];
	static unsigned idx;
	char *b = ring[idx++ % 8];
	size_t i;
	for (i = 0; i < n && i < 1100; i++)
		snprintf(b + 2 * i, 3, "%02X", p[i]);
	b[2 * i] = 0;
	return b;
}

CT_FN void ct_dump(const char *label, const uint8_t *p, size_t n)
{
	char buf[3 * 96 + 8];
	fprintf(stderr, "    %s (%zu bytes): %s%s\n", label, n,
		ct_tohex(p, n < 96 ? n : 96, buf, sizeof buf),
		n > 96 ? " ..." : "");
}

/* ------------------------------------------------------------ BER-TLV */

/* Reads one BER-TLV at p[*off..len): tag (1 to 3 bytes), length (1 to 3
 * bytes). Returns 0 at the end or on a malformed object. */
CT_FN int ct_tlv_next(const uint8_t *p, size_t len, size_t *off,
		      unsigned *tag, const uint8_t **val, size_t *vlen)
{
	size_t o = *off;
	if (o >= len)
		return 0;
	unsigned t = p[o++];
	if ((t & 0x1F) == 0x1F) {
		do {
			if (o >= len)
				return 0;
			t = t << 8 | p[o];
		} while (p[o++] & 0x80);
	}
	if (o >= len)
		return 0;
	size_t l = p[o++];
	if (l == 0x81) {
		if (o + 1 > len)
			return 0;
		l = p[o++];
	} else if (l == 0x82) {
		if (o + 2 > len)
			return 0;
		l = (size_t)p[o] << 8 | p[o + 1];
		o += 2;
	} else if (l > 0x80) {
		return 0;
	}
	if (l > len - o)
		return 0;
	*tag = t;
	*val = p + o;
	*vlen = l;
	*off = o + l;
	return 1;
}

/* Value of the first top-level object with this tag, or NULL. */
CT_FN const uint8_t *ct_tlv_find(const uint8_t *p, size_t len, unsigned tag,
				 size_t *vlen)
{
	size_t off = 0;
	unsigned t;
	const uint8_t *v;
	size_t l;
	while (ct_tlv_next(p, len, &off, &t, &v, &l)) {
		if (t == tag) {
			if (vlen)
				*vlen = l;
			return v;
		}
	}
	return NULL;
}

/* True if p[0..len) is exactly a sequence of well-formed TLVs. */
CT_FN int ct_tlv_wellformed(const uint8_t *p, size_t len)
{
	size_t off = 0;
	unsigned t;
	const uint8_t *v;
	size_t l;
	while (off < len)
		if (!ct_tlv_next(p, len, &off, &t, &v, &l))
			return 0;
	return 1;
}

CT_FN unsigned long ct_be(const uint8_t *p, size_t n)
{
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* ------------------------------------------------------------ host SCP03 */

#define CT_SCP_CMAC 0x01
#define CT_SCP_CDEC 0x02

typedef struct {
	uint8_t kvn;            /* key set version on the card */
	uint8_t enc[16], mac[16], dek[16]; /* static keys */
	int open;
	uint8_t level;
	uint8_t s_enc[16], s_mac[16], s_rmac[16];
	uint8_t chain[16];      /* MAC chaining value */
	uint32_t counter;       /* encryption counter, +1 before each command */
	uint8_t host_chal[8], card_chal[8];
	unsigned seq;           /* varies the host challenge */
} ct_scp_t;

CT_FN void ct_cmac(const char *cbc_name, const uint8_t *key, size_t klen,
		   const uint8_t *in, size_t len, uint8_t *out, size_t outlen)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	CT_ASSERT(mac != NULL, "mac != NULL");
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	CT_ASSERT(ctx != NULL, "ctx != NULL");
	OSSL_PARAM params[2];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
						     (char *)cbc_name, 0);
	params[1] = OSSL_PARAM_construct_end();
	size_t ol = 0;
	uint8_t full[16];
	CT_ASSERT(EVP_MAC_init(ctx, key, klen, params) == 1, "EVP_MAC_init(ctx, key, klen, params) == 1");
	CT_ASSERT(EVP_MAC_update(ctx, in, len) == 1, "EVP_MAC_update(ctx, in, len) == 1");
	CT_ASSERT(EVP_MAC_final(ctx, full, &ol, sizeof full) == 1, "EVP_MAC_final(ctx, full, &ol, sizeof full) == 1");
	memcpy(out, full, outlen < ol ? outlen : ol);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

CT_FN void ct_aes_cmac(const uint8_t key[16], const uint8_t *in, size_t len,
		       uint8_t out[16])
{
	ct_cmac("AES-128-CBC", key, 16, in, len, out, 16);
}

/* Raw block cipher, no padding. name: "AES-128-ECB", "AES-128-CBC",
 * "DES-EDE-ECB", "DES-EDE3-ECB", "DES-EDE-CBC", "DES-EDE3-CBC". */
CT_FN void ct_cipher(const char *name, int enc, const uint8_t *key,
		     const uint8_t *iv, const uint8_t *in, size_t len,
		     uint8_t *out)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
	CT_ASSERT(c != NULL, "OpenSSL has no %s", name);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	CT_ASSERT(ctx != NULL, "ctx != NULL");
	CT_ASSERT(EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) == 1, "EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) == 1");
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	int l1 = 0, l2 = 0;
	CT_ASSERT(EVP_CipherUpdate(ctx, out, &l1, in, (int)len) == 1, "EVP_CipherUpdate(ctx, out, &l1, in, (int)len) == 1");
	CT_ASSERT(EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1, "EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1");
	CT_ASSERT((size_t)(l1 + l2) == len, "(size_t)(l1 + l2) == len");
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
}

/* ISO/IEC 9797-1 padding method 2: 80 then 00 to a multiple of blk. */
CT_FN size_t ct_pad80(const uint8_t *in, size_t len, size_t blk, uint8_t *out)
{
	memcpy(out, in, len);
	out[len++] = 0x80;
	while (len % blk)
		out[len++] = 0;
	return len;
}

/* Amendment D 4.1.5: KDF in counter mode, PRF AES-CMAC. Input: label
 * (11 bytes 00 then the derivation constant), separation indicator 00,
 * L (2 bytes, bits), counter i (1 byte), context (host || card challenge).
 * Only L <= 128 (one PRF call): AES-128 session keys and cryptograms. */
CT_FN void ct_scp_kdf(const uint8_t key[16], uint8_t constant, uint16_t lbits,
		      const uint8_t context[16], uint8_t *out)
{
	uint8_t in[32] = {0};
	uint8_t blk[16];
	in[11] = constant;
	in[12] = 0x00;
	in[13] = (uint8_t)(lbits >> 8);
	in[14] = (uint8_t)lbits;
	in[15] = 0x01;
	memcpy(in + 16, context, 16);
	ct_aes_cmac(key, in, sizeof in, blk);
	memcpy(out, blk, lbits / 8);
}

/* ------------------------------------------------------------ the chip */

/* Lengths of the NVM writes while `on` (for torn-write sweeps). */
typedef struct {
	uint32_t *len, *off;
	size_t n, cap;
	int on;
} ct_wlog_t;

typedef struct tchip {
	hal_mem_t *mem;
	const hal_t *hal;       /* what the card OS is given: &whal */
	hal_t whal;             /* hal_mem's HAL, with writes logged */
	ct_wlog_t wlog;
	/* Called before every nvm_write() reaches hal_mem, if set. */
	void (*pre_write)(struct tchip *t, uint32_t off, uint32_t len);
	const cos_model_t *model;
	cos_chip_t chip;
	uint8_t atr[COS_ATR_MAX];
	size_t atr_len;
	cos_status_t st;        /* of the last cos_transmit */
	uint16_t sw;            /* of the last response, 0 if none */
	uint8_t resp[COS_RAPDU_MAX + 64]; /* last response data, no SW */
	size_t rlen;
	uint8_t capdu[COS_CAPDU_MAX + 64]; /* last command as given */
	size_t clen;
	uint8_t wapdu[COS_CAPDU_MAX + 64]; /* last command as sent (wrapped) */
	size_t wlen;
	int wrapped;
	ct_scp_t scp;
	/* What FAB CLOSE wrote. */
	uint8_t serial[8], tcode[8];
} tchip_t;

#define CT_MAX_CHIPS 16
static tchip_t *ct_chips[CT_MAX_CHIPS];

/* Defaults of the bring-up helpers. */
#define CT_SERIAL "C0FFEE0012345678"
#define CT_TCODE "5452414E53505254" /* "TRANSPRT" */
#define CT_FABDATE "5123"           /* 2025, day 123 */
#define CT_BATCH "0B07"
#define CT_KVN 0x30
#define CT_KEY_ENC "404142434445464748494A4B4C4D4E4F"
#define CT_KEY_MAC "505152535455565758595A5B5C5D5E5F"
#define CT_KEY_DEK "606162636465666768696A6B6C6D6E6F"
#define CT_ISD_AID "A000000151000000"

/* The HAL the card OS gets: hal_mem's, with every nvm_write() length
 * recorded while t->wlog.on. */
CT_FN hal_status_t ct_w_write(void *ctx, uint32_t off, const uint8_t *src,
			      uint32_t len)
{
	tchip_t *t = ctx;
	const hal_t *h = hal_mem_hal(t->mem);
	if (t->pre_write)
		t->pre_write(t, off, len);
	if (t->wlog.on) {
		if (t->wlog.n == t->wlog.cap) {
			size_t cap = t->wlog.cap ? 2 * t->wlog.cap : 1024;
			uint32_t *p = realloc(t->wlog.len, cap * sizeof *p);
			CT_ASSERT(p != NULL, "realloc");
			t->wlog.len = p;
			p = realloc(t->wlog.off, cap * sizeof *p);
			CT_ASSERT(p != NULL, "realloc");
			t->wlog.off = p;
			t->wlog.cap = cap;
		}
		t->wlog.off[t->wlog.n] = off;
		t->wlog.len[t->wlog.n++] = len;
	}
	return h->nvm_write(h->ctx, off, src, len);
}
CT_FN hal_status_t ct_w_sync(void *ctx)
{
	const hal_t *h = hal_mem_hal(((tchip_t *)ctx)->mem);
	return h->nvm_sync(h->ctx);
}
CT_FN hal_status_t ct_w_rng(void *ctx, uint8_t *dst, size_t len)
{
	const hal_t *h = hal_mem_hal(((tchip_t *)ctx)->mem);
	return h->rng(h->ctx, dst, len);
}
CT_FN hal_status_t ct_w_cipher(void *ctx, hal_cipher_t alg, hal_mode_t mode,
			       int encrypt, const uint8_t *key, size_t key_len,
			       const uint8_t *iv, const uint8_t *in, size_t len,
			       uint8_t *out)
{
	const hal_t *h = hal_mem_hal(((tchip_t *)ctx)->mem);
	return h->cipher(h->ctx, alg, mode, encrypt, key, key_len, iv, in, len,
			 out);
}
CT_FN hal_status_t ct_w_cmac(void *ctx, hal_cipher_t alg, const uint8_t *key,
			     size_t key_len, const uint8_t *in, size_t len,
			     uint8_t *mac)
{
	const hal_t *h = hal_mem_hal(((tchip_t *)ctx)->mem);
	return h->cmac(h->ctx, alg, key, key_len, in, len, mac);
}

CT_FN void tc_free(tchip_t *t)
{
	if (!t)
		return;
	for (int i = 0; i < CT_MAX_CHIPS; i++)
		if (ct_chips[i] == t)
			ct_chips[i] = NULL;
	cos_power_off(&t->chip);
	hal_mem_free(t->mem);
	free(t->wlog.len);
	free(t->wlog.off);
	free(t);
}

/* Memory of a test, freed by its teardown even when a check ends the test
 * early (so that LeakSanitizer reports only real leaks). */
#define CT_MAX_ALLOCS 64
static void *ct_allocs[CT_MAX_ALLOCS];
static void (*ct_cleanup_fn)(void);

CT_FN void *ct_alloc(size_t n)
{
	for (int i = 0; i < CT_MAX_ALLOCS; i++) {
		if (!ct_allocs[i]) {
			ct_allocs[i] = calloc(1, n ? n : 1);
			CT_ASSERT(ct_allocs[i] != NULL, "calloc(%zu)", n);
			return ct_allocs[i];
		}
	}
	CT_ASSERT(0, "too many allocations in one test");
	return NULL;
}

CT_FN void ct_release(void *p)
{
	for (int i = 0; i < CT_MAX_ALLOCS; i++)
		if (p && ct_allocs[i] == p) {
			free(p);
			ct_allocs[i] = NULL;
		}
}

CT_FN void ct_free_all(void)
{
	for (int i = 0; i < CT_MAX_CHIPS; i++)
		if (ct_chips[i])
			tc_free(ct_chips[i]);
	for (int i = 0; i < CT_MAX_ALLOCS; i++) {
		free(ct_allocs[i]);
		ct_allocs[i] = NULL;
	}
	if (ct_cleanup_fn) {
		void (*fn)(void) = ct_cleanup_fn;
		ct_cleanup_fn = NULL;
		fn();
	}
}

CT_FN int ct_setup(void **state)
{
	(void)state;
	ct_free_all();
	ct_failed = 0;
	return 0;
}

CT_FN int ct_teardown(void **state)
{
	(void)state;
	ct_free_all();
	if (ct_keep_going() && ct_failed) {
		fprintf(stderr, "    => %lu check(s) failed in this test\n",
			ct_failed);
		ct_failed = 0;
		return -1;
	}
	ct_failed = 0;
	return 0;
}

#define CT_TEST(f) cmocka_unit_test_setup_teardown(f, ct_setup, ct_teardown)

CT_FN void tc_power_on(tchip_t *t)
{
	t->atr_len = 0;
	cos_status_t st = cos_power_on(&t->chip, t->hal, t->atr,
				       sizeof t->atr, &t->atr_len);
	REQUIRE_F(st == COS_OK, "cos_power_on: %s", cos_strerror(st));
	t->scp.open = 0;
}

CT_FN void tc_power_cycle(tchip_t *t)
{
	cos_power_off(&t->chip);
	tc_power_on(t);
}

/* A chip of the model with an erased image, formatted, not powered. */
CT_FN tchip_t *tc_new_unpowered(const char *model, uint64_t seed)
{
	tchip_t *t = calloc(1, sizeof *t);
	CT_ASSERT(t != NULL, "calloc");
	int slot = -1;
	for (int i = 0; i < CT_MAX_CHIPS && slot < 0; i++)
		if (!ct_chips[i])
			slot = i;
	REQUIRE_F(slot >= 0, "too many chips in one test");
	ct_chips[slot] = t;
	t->model = cos_model_find(model);
	REQUIRE_F(t->model != NULL, "cos_model_find(\"%s\")", model);
	REQUIRE(hal_mem_new(t->model->nvm_size, seed ? seed : 1, &t->mem) ==
		HAL_HOST_OK);
	const hal_t *inner = hal_mem_hal(t->mem);
	t->whal = *inner;
	t->whal.ctx = t;
	t->whal.nvm_write = ct_w_write;
	t->whal.nvm_sync = ct_w_sync;
	t->whal.rng = ct_w_rng;
	t->whal.cipher = ct_w_cipher;
	t->whal.cmac = ct_w_cmac;
	t->hal = &t->whal;
	cos_status_t st = cos_format(t->hal, t->model);
	REQUIRE_F(st == COS_OK, "cos_format: %s", cos_strerror(st));
	t->scp.kvn = CT_KVN;
	ct_hex(CT_KEY_ENC, t->scp.enc, 16);
	ct_hex(CT_KEY_MAC, t->scp.mac, 16);
	ct_hex(CT_KEY_DEK, t->scp.dek, 16);
	ct_hex(CT_SERIAL, t->serial, 8);
	ct_hex(CT_TCODE, t->tcode, 8);
	return t;
}

/* A formatted, powered chip in MANUFACTURING. */
CT_FN tchip_t *tc_new(const char *model, uint64_t seed)
{
	tchip_t *t = tc_new_unpowered(model, seed);
	tc_power_on(t);
	return t;
}

CT_FN cos_info_t tc_info(tchip_t *t)
{
	cos_info_t info;
	memset(&info, 0, sizeof info);
	cos_status_t st = cos_get_info(&t->chip, &info);
	REQUIRE_F(st == COS_OK, "cos_get_info: %s", cos_strerror(st));
	return info;
}

CT_FN void tc_require_check(tchip_t *t, const char *file, int line)
{
	const char *why = NULL;
	cos_status_t st = cos_check(&t->chip, &why);
	ct_checks++;
	if (st != COS_OK) {
		fprintf(stderr, "%s:%d: cos_check: %s (%s)\n", file, line,
			cos_strerror(st), why ? why : "?");
		ct_failure(file, line, 0);
	}
}
#define CHECK_IMAGE(t) tc_require_check((t), __FILE__, __LINE__)

/* ------------------------------------------------------------ transmit */

/* Sends raw bytes. The response data goes to t->resp/t->rlen, the SW is
 * returned (0 if cos_transmit failed: t->st says why). */
CT_FN uint16_t tc_xferb(tchip_t *t, const uint8_t *c, size_t n)
{
	uint8_t r[COS_RAPDU_MAX + 64];
	size_t rl = 0;

	CT_ASSERT(n <= sizeof t->wapdu, "APDU too long");
	memcpy(t->wapdu, c, n);
	t->wlen = n;
	t->sw = 0;
	t->rlen = 0;
	t->st = cos_transmit(&t->chip, c, n, r, sizeof r, &rl);
	if (t->st != COS_OK)
		return 0;
	if (rl < 2 || rl > COS_RAPDU_MAX) {
		char b[3 * 16];
		fprintf(stderr, "    response of %zu bytes to %s...\n", rl,
			ct_tohex(c, n < 12 ? n : 12, b, sizeof b));
		ct_check_impl(0, "2 <= response length <= COS_RAPDU_MAX",
			      __FILE__, __LINE__, 0, "%s", "");
		return 0;
	}
	t->sw = (uint16_t)(r[rl - 2] << 8 | r[rl - 1]);
	t->rlen = rl - 2;
	memcpy(t->resp, r, rl - 2);
	return t->sw;
}

CT_FN uint16_t tc_xfer_plain(tchip_t *t, const uint8_t *c, size_t n)
{
	memcpy(t->capdu, c, n);
	t->clen = n;
	t->wrapped = 0;
	return tc_xferb(t, c, n);
}

/* The brief's interface: hex APDU in, SW out, data to rbuf (which must hold
 * COS_RAPDU_MAX bytes) if not NULL. */
CT_FN uint16_t xfer(tchip_t *t, const char *hex, uint8_t *rbuf, size_t *rlen)
{
	uint8_t c[COS_CAPDU_MAX + 64];
	size_t n = ct_hex(hex, c, sizeof c);
	uint16_t sw = tc_xfer_plain(t, c, n);
	if (rbuf)
		memcpy(rbuf, t->resp, t->rlen);
	if (rlen)
		*rlen = t->rlen;
	return sw;
}

__attribute__((format(printf, 2, 3))) CT_FN uint16_t
xferf(tchip_t *t, const char *fmt, ...)
{
	static char hex[8 * 1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hex, sizeof hex, fmt, ap);
	va_end(ap);
	return xfer(t, hex, NULL, NULL);
}

/* Wraps a short APDU for the open session (Amendment D 6.2.5, 6.2.6): the
 * counter is incremented for every command; with C-DEC a non-empty data
 * field is padded (method 2) and AES-CBC encrypted with S-ENC, ICV =
 * E(S-ENC, counter as 16 bytes big-endian); CLA gets b3; Lc grows by 8; the
 * C-MAC is CMAC(S-MAC, chain || header || Lc || data), truncated to 8, and
 * becomes the new chain (all 16 bytes). Le stays last. */
CT_FN size_t ct_scp_wrap(ct_scp_t *s, const uint8_t *c, size_t n, uint8_t *out)
{
	size_t lc = 0, has_le = 0;
	const uint8_t *data = NULL;
	uint8_t le = 0;

	CT_ASSERT(n >= 4, "APDU too short to wrap");
	if (n == 5) {
		has_le = 1;
		le = c[4];
	} else if (n > 5) {
		lc = c[4];
		CT_ASSERT(lc && (n == 5 + lc || n == 6 + lc),
			  "only short APDUs are wrapped");
		data = c + 5;
		if (n == 6 + lc) {
			has_le = 1;
			le = c[n - 1];
		}
	}
	s->counter++;

	uint8_t d[300];
	size_t dl = lc;
	if (lc)
		memcpy(d, data, lc);
	if ((s->level & CT_SCP_CDEC) && lc) {
		uint8_t ctr[16] = {0}, icv[16], p[300];
		ctr[12] = (uint8_t)(s->counter >> 24);
		ctr[13] = (uint8_t)(s->counter >> 16);
		ctr[14] = (uint8_t)(s->counter >> 8);
		ctr[15] = (uint8_t)s->counter;
		ct_cipher("AES-128-ECB", 1, s->s_enc, NULL, ctr, 16, icv);
		size_t pl = ct_pad80(data, lc, 16, p);
		ct_cipher("AES-128-CBC", 1, s->s_enc, icv, p, pl, d);
		dl = pl;
	}
	CT_ASSERT(dl + 8 <= 255, "wrapped data too long for a short APDU");

	size_t o = 0;
	out[o++] = c[0] | 0x04;
	out[o++] = c[1];
	out[o++] = c[2];
	out[o++] = c[3];
	out[o++] = (uint8_t)(dl + 8);
	memcpy(out + o, d, dl);
	o += dl;

	uint8_t macin[16 + 5 + 300], mac[16];
	memcpy(macin, s->chain, 16);
	memcpy(macin + 16, out, o);
	ct_aes_cmac(s->s_mac, macin, 16 + o, mac);
	memcpy(s->chain, mac, 16);
	memcpy(out + o, mac, 8);
	o += 8;
	if (has_le)
		out[o++] = le;
	return o;
}

CT_FN uint16_t tc_xfer_sm(tchip_t *t, const uint8_t *c, size_t n)
{
	uint8_t w[COS_CAPDU_MAX + 64];
	REQUIRE_F(t->scp.open, "no SCP03 session open to wrap the command");
	memcpy(t->capdu, c, n);
	t->clen = n;
	size_t wl = ct_scp_wrap(&t->scp, c, n, w);
	t->wrapped = 1;
	return tc_xferb(t, w, wl);
}

__attribute__((format(printf, 2, 3))) CT_FN uint16_t
xfer_smf(tchip_t *t, const char *fmt, ...)
{
	static char hex[8 * 1024];
	uint8_t c[COS_CAPDU_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hex, sizeof hex, fmt, ap);
	va_end(ap);
	size_t n = ct_hex(hex, c, sizeof c);
	return tc_xfer_sm(t, c, n);
}

CT_FN void ct_report(const char *file, int line, tchip_t *t,
		     const char *what)
{
	fprintf(stderr, "%s:%d: %s\n", file, line, what);
	ct_dump(t->wrapped ? "APDU (before wrapping)" : "APDU", t->capdu,
		t->clen);
	if (t->wrapped)
		ct_dump("APDU (as sent)", t->wapdu, t->wlen);
	if (t->st != COS_OK)
		fprintf(stderr, "    cos_transmit: %s\n", cos_strerror(t->st));
	else
		fprintf(stderr, "    SW got %04X\n", t->sw);
	if (t->rlen)
		ct_dump("response data", t->resp, t->rlen);
}

#define CT_F_FATAL 1
#define CT_F_SM 2
#define CT_F_NOT 4

/* Sends the APDU and checks its SW against want[0..nwant) (or, CT_F_NOT,
 * that it is none of them). */
CT_FN uint16_t ct_expect_core(const char *file, int line, int flags,
			      tchip_t *t, const uint16_t *want, int nwant,
			      const char *hex)
{
	uint8_t c[COS_CAPDU_MAX + 64];
	size_t n = ct_hex(hex, c, sizeof c);
	uint16_t got = (flags & CT_F_SM) ? tc_xfer_sm(t, c, n)
					 : tc_xfer_plain(t, c, n);
	int hit = 0;
	for (int i = 0; i < nwant; i++)
		hit |= got == want[i];
	int ok = t->st == COS_OK && ((flags & CT_F_NOT) ? !hit : hit);
	ct_checks++;
	if (ok)
		return got;
	char msg[160];
	int o = snprintf(msg, sizeof msg, "SW check failed: expected %s",
			 (flags & CT_F_NOT) ? "anything but " : "");
	for (int i = 0; i < nwant && o < (int)sizeof msg - 8; i++)
		o += snprintf(msg + o, sizeof msg - (size_t)o, "%s%04X",
			      i ? " or " : "", want[i]);
	ct_report(file, line, t, msg);
	ct_failure(file, line, flags & CT_F_FATAL);
	return got;
}

__attribute__((format(printf, 7, 8))) CT_FN uint16_t
ct_expect(const char *file, int line, int flags, tchip_t *t, uint16_t w1,
	  uint16_t w2, const char *fmt, ...)
{
	static char hex[8 * 1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hex, sizeof hex, fmt, ap);
	va_end(ap);
	uint16_t want[2] = {w1, w2};
	return ct_expect_core(file, line, flags, t, want, w2 ? 2 : 1, hex);
}

#define EXPECT_SW(t, sw, ...) \
	ct_expect(__FILE__, __LINE__, 0, (t), (sw), 0, __VA_ARGS__)
#define REQUIRE_SW(t, sw, ...) \
	ct_expect(__FILE__, __LINE__, CT_F_FATAL, (t), (sw), 0, __VA_ARGS__)
/* Either of two SWs (used only where the data sheet allows both). */
#define EXPECT_SW2(t, a, b, ...) \
	ct_expect(__FILE__, __LINE__, 0, (t), (a), (b), __VA_ARGS__)
#define EXPECT_NOT_SW(t, sw, ...) \
	ct_expect(__FILE__, __LINE__, CT_F_NOT, (t), (sw), 0, __VA_ARGS__)
#define EXPECT_SM(t, sw, ...) \
	ct_expect(__FILE__, __LINE__, CT_F_SM, (t), (sw), 0, __VA_ARGS__)
#define REQUIRE_SM(t, sw, ...)                                          \
	ct_expect(__FILE__, __LINE__, CT_F_SM | CT_F_FATAL, (t), (sw), 0, \
		  __VA_ARGS__)
#define EXPECT_NOT_SM(t, sw, ...)                                        \
	ct_expect(__FILE__, __LINE__, CT_F_SM | CT_F_NOT, (t), (sw), 0, \
		  __VA_ARGS__)

/* Checks the data of the last response against bytes. */
CT_FN void ct_expect_data(const char *file, int line, tchip_t *t,
			  const uint8_t *want, size_t n)
{
	ct_checks++;
	if (t->rlen == n && memcmp(t->resp, want, n) == 0)
		return;
	ct_report(file, line, t, "response data differs");
	ct_dump("expected", want, n);
	ct_failure(file, line, 0);
}
#define EXPECT_DATA_B(t, p, n) ct_expect_data(__FILE__, __LINE__, (t), (p), (n))

__attribute__((format(printf, 4, 5))) CT_FN void
ct_expect_data_hex(const char *file, int line, tchip_t *t, const char *fmt,
		   ...)
{
	static char hex[8 * 1024];
	uint8_t want[COS_RAPDU_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hex, sizeof hex, fmt, ap);
	va_end(ap);
	size_t n = ct_hex(hex, want, sizeof want);
	ct_expect_data(file, line, t, want, n);
}
#define EXPECT_DATA(t, ...) \
	ct_expect_data_hex(__FILE__, __LINE__, (t), __VA_ARGS__)

#define EXPECT_RLEN(t, n)                                                 \
	CHECKF((t)->rlen == (size_t)(n), "response data %zu bytes, expected %zu", \
	       (t)->rlen, (size_t)(n))

/* ------------------------------------------------------------ SCP03 open */

/*
 * INITIALIZE UPDATE (80 50 kvn 00 08 host-challenge 00) then EXTERNAL
 * AUTHENTICATE (84 82 level 00 10 host-cryptogram C-MAC). Checks the
 * response layout and the card cryptogram. Returns the SW of the first
 * command that did not answer 9000 (0x9000 when the session is open).
 */
CT_FN uint16_t ct_scp_open(tchip_t *t, uint8_t kvn, uint8_t level)
{
	ct_scp_t *s = &t->scp;
	uint8_t c[64];
	s->open = 0;
	s->seq++;
	for (int i = 0; i < 8; i++)
		s->host_chal[i] = (uint8_t)(0x10 * i + s->seq);

	c[0] = 0x80;
	c[1] = 0x50;
	c[2] = kvn;
	c[3] = 0x00;
	c[4] = 0x08;
	memcpy(c + 5, s->host_chal, 8);
	c[13] = 0x00;
	uint16_t sw = tc_xfer_plain(t, c, 14);
	if (sw != 0x9000)
		return sw;
	ct_check_impl(t->rlen == 29, "INITIALIZE UPDATE answers 29 bytes",
		      __FILE__, __LINE__, 0, "got %zu bytes", t->rlen);
	if (t->rlen < 29)
		return 0x6F00;
	ct_check_impl(t->resp[10] == s->kvn && t->resp[11] == 0x03,
		      "key information: kvn, SCP 03", __FILE__, __LINE__, 0,
		      "got %02X %02X", t->resp[10], t->resp[11]);
	memcpy(s->card_chal, t->resp + 13, 8);

	uint8_t ctx[16], card_crypt[8], host_crypt[8];
	memcpy(ctx, s->host_chal, 8);
	memcpy(ctx + 8, s->card_chal, 8);
	ct_scp_kdf(s->enc, 0x04, 0x0080, ctx, s->s_enc);
	ct_scp_kdf(s->mac, 0x06, 0x0080, ctx, s->s_mac);
	ct_scp_kdf(s->mac, 0x07, 0x0080, ctx, s->s_rmac);
	ct_scp_kdf(s->s_mac, 0x00, 0x0040, ctx, card_crypt);
	ct_scp_kdf(s->s_mac, 0x01, 0x0040, ctx, host_crypt);
	ct_check_impl(memcmp(card_crypt, t->resp + 21, 8) == 0,
		      "card cryptogram (Amendment D 6.2.2.2)", __FILE__,
		      __LINE__, 0, "card sent %s, host computed %s",
		      H(t->resp + 21, 8), H(card_crypt, 8));

	c[0] = 0x84;
	c[1] = 0x82;
	c[2] = level;
	c[3] = 0x00;
	c[4] = 0x10;
	memcpy(c + 5, host_crypt, 8);
	uint8_t macin[16 + 13], mac[16];
	memset(macin, 0, 16);
	memcpy(macin + 16, c, 13);
	ct_aes_cmac(s->s_mac, macin, sizeof macin, mac);
	memcpy(c + 13, mac, 8);
	sw = tc_xfer_plain(t, c, 21);
	if (sw != 0x9000)
		return sw;
	memcpy(s->chain, mac, 16);
	s->counter = 0;
	s->level = level;
	s->open = 1;
	return sw;
}

#define REQUIRE_SCP(t, kvn, level)                                          \
	do {                                                                \
		uint16_t sw_ = ct_scp_open((t), (kvn), (level));           \
		REQUIRE_F(sw_ == 0x9000, "SCP03 session (level %02X): SW %04X", \
			  (level), sw_);                                    \
	} while (0)

/* ------------------------------------------------------------ objects */

/* DF01 body: 80 ref, 81 max tries, 82 stored length, [83 value], [84 PUK]. */
CT_FN const char *ct_pin_data(uint8_t ref, uint8_t tries, uint8_t len,
			      const char *value_hex, uint8_t puk)
{
	static char ring[4][256];
	static unsigned idx;
	char *b = ring[idx++ % 4];
	uint8_t v[32];
	size_t vl = value_hex ? ct_hex(value_hex, v, sizeof v) : 0;
	int o = snprintf(b, 256, "80 01 %02X 81 01 %02X 82 01 %02X", ref,
			 tries, len);
	if (value_hex)
		o += snprintf(b + o, 256 - (size_t)o, " 83 %02X %s",
			      (unsigned)vl, H(v, vl));
	if (puk)
		snprintf(b + o, 256 - (size_t)o, " 84 01 %02X", puk);
	return b;
}

/* DF02 body: 80 ref, 81 kvn, 82 alg, 83 usage, 84 value, [85 max tries]. */
CT_FN const char *ct_key_data(uint8_t ref, uint8_t kvn, uint8_t alg,
			      uint8_t usage, const char *value_hex, int tries)
{
	static char ring[4][256];
	static unsigned idx;
	char *b = ring[idx++ % 4];
	uint8_t v[32];
	size_t vl = ct_hex(value_hex, v, sizeof v);
	int o = snprintf(b, 256,
			 "80 01 %02X 81 01 %02X 82 01 %02X 83 01 %02X 84 %02X %s",
			 ref, kvn, alg, usage, (unsigned)vl, H(v, vl));
	if (tries >= 0)
		snprintf(b + o, 256 - (size_t)o, " 85 01 %02X", tries);
	return b;
}

/* Byte length of a hex string (for Lc). */
CT_FN unsigned ct_hexlen(const char *hex)
{
	uint8_t b[COS_CAPDU_MAX + 64];
	return (unsigned)ct_hex(hex, b, sizeof b);
}

#define PUT_PIN(t, sw, ref, tries, len, val, puk)                        \
	do {                                                             \
		const char *d_ = ct_pin_data((ref), (tries), (len), (val), (puk)); \
		EXPECT_SW((t), (sw), "00 DA DF 01 %02X %s", ct_hexlen(d_), d_); \
	} while (0)
#define PUT_KEY(t, sw, ref, kvn, alg, use, val, tries)                        \
	do {                                                                  \
		const char *d_ = ct_key_data((ref), (kvn), (alg), (use), (val), (tries)); \
		EXPECT_SW((t), (sw), "00 DA DF 02 %02X %s", ct_hexlen(d_), d_); \
	} while (0)

/* ------------------------------------------------------------ files */

typedef struct {
	uint8_t fdb;        /* 38 DF, 01 transparent, 02/04/06 records */
	uint16_t fid;
	uint16_t size;      /* transparent */
	uint8_t reclen, nrec;
	uint8_t sfi;        /* 1..30, 0 none; coded in 88 as ISO does: sfi<<3 */
	const char *aid;    /* hex, DF name */
	const char *ac;     /* hex value of 8C (access mode byte + SC bytes) */
} ct_file_t;

#define CT_DF(fid_, aid_, ac_) \
	((ct_file_t){.fdb = 0x38, .fid = (fid_), .aid = (aid_), .ac = (ac_)})
#define CT_EF(fid_, size_, sfi_, ac_)                                      \
	((ct_file_t){.fdb = 0x01, .fid = (fid_), .size = (size_),          \
		     .sfi = (sfi_), .ac = (ac_)})
#define CT_REC(fdb_, fid_, reclen_, nrec_, sfi_, ac_)                      \
	((ct_file_t){.fdb = (fdb_), .fid = (fid_), .reclen = (reclen_),    \
		     .nrec = (nrec_), .sfi = (sfi_), .ac = (ac_)})

/* The CREATE FILE APDU of a file, as hex. */
CT_FN const char *ct_create_apdu(const ct_file_t *f)
{
	static char out[4][700];
	static unsigned idx;
	char *b = out[idx++ % 4];
	uint8_t fcp[300];
	size_t o = 0;
	uint8_t tmp[64];

	fcp[o++] = 0x82;
	if (f->fdb == 0x02 || f->fdb == 0x04 || f->fdb == 0x06) {
		fcp[o++] = 0x05;
		fcp[o++] = f->fdb;
		fcp[o++] = 0x21;
		fcp[o++] = 0x00;
		fcp[o++] = f->reclen;
		fcp[o++] = f->nrec;
	} else {
		fcp[o++] = 0x01;
		fcp[o++] = f->fdb;
	}
	fcp[o++] = 0x83;
	fcp[o++] = 0x02;
	fcp[o++] = (uint8_t)(f->fid >> 8);
	fcp[o++] = (uint8_t)f->fid;
	if (f->fdb == 0x01) {
		fcp[o++] = 0x80;
		fcp[o++] = 0x02;
		fcp[o++] = (uint8_t)(f->size >> 8);
		fcp[o++] = (uint8_t)f->size;
	}
	if (f->aid) {
		size_t n = ct_hex(f->aid, tmp, sizeof tmp);
		fcp[o++] = 0x84;
		fcp[o++] = (uint8_t)n;
		memcpy(fcp + o, tmp, n);
		o += n;
	}
	if (f->sfi) {
		fcp[o++] = 0x88;
		fcp[o++] = 0x01;
		fcp[o++] = (uint8_t)(f->sfi << 3);
	}
	if (f->ac) {
		size_t n = ct_hex(f->ac, tmp, sizeof tmp);
		fcp[o++] = 0x8C;
		fcp[o++] = (uint8_t)n;
		memcpy(fcp + o, tmp, n);
		o += n;
	}
	snprintf(b, 700, "00 E0 00 00 %02X 62 %02X %s", (unsigned)(o + 2),
		 (unsigned)o, H(fcp, o));
	return b;
}

#define CREATE(t, sw, f) EXPECT_SW((t), (sw), "%s", ct_create_apdu(&(f)))
#define REQUIRE_CREATE(t, f) REQUIRE_SW((t), 0x9000, "%s", ct_create_apdu(&(f)))
#define CREATE_SM(t, sw, f) EXPECT_SM((t), (sw), "%s", ct_create_apdu(&(f)))

/* SELECT by path from the MF (P1 08), no response data. */
#define SELECT_PATH(t, sw, path) EXPECT_SW((t), (sw), "00 A4 08 0C %02X %s", \
					   ct_hexlen(path), path)
#define SELECT_MF(t) REQUIRE_SW((t), 0x9000, "00 A4 00 0C 02 3F00")

/* ------------------------------------------------------------ walk */

typedef struct {
	uint16_t fid;
	int found;
	cos_file_info_t info;
} ct_find_file_t;

CT_FN int ct_find_file_cb(const cos_file_info_t *f, void *arg)
{
	ct_find_file_t *q = arg;
	if (f->fid == q->fid && !q->found) {
		q->info = *f;
		q->found = 1;
	}
	return 0;
}

/* The first file with this FID in walk order (tests keep FIDs unique). */
CT_FN int ct_file(tchip_t *t, uint16_t fid, cos_file_info_t *out)
{
	ct_find_file_t q;
	memset(&q, 0, sizeof q);
	q.fid = fid;
	cos_walk(&t->chip, ct_find_file_cb, NULL, &q);
	if (out)
		*out = q.info;
	return q.found;
}

typedef struct {
	cos_obj_kind_t kind;
	uint8_t ref;       /* number 1..31 */
	uint16_t owner;
	int found;
	cos_obj_info_t info;
} ct_find_obj_t;

CT_FN int ct_find_obj_cb(const cos_obj_info_t *o, void *arg)
{
	ct_find_obj_t *q = arg;
	if (o->kind == q->kind && (o->ref & 0x1F) == q->ref &&
	    o->owner_fid == q->owner && !q->found) {
		q->info = *o;
		q->found = 1;
	}
	return 0;
}

/* A PIN or key object by kind, number (b5-b1 of the reference) and owner. */
CT_FN int ct_obj(tchip_t *t, cos_obj_kind_t kind, uint8_t ref, uint16_t owner,
		 cos_obj_info_t *out)
{
	ct_find_obj_t q;
	memset(&q, 0, sizeof q);
	q.kind = kind;
	q.ref = ref & 0x1F;
	q.owner = owner;
	cos_walk(&t->chip, NULL, ct_find_obj_cb, &q);
	if (out)
		*out = q.info;
	return q.found;
}

/* Tries left of a PIN (global: owner 3F00), -1 if not found. */
CT_FN int ct_pin_tries(tchip_t *t, uint8_t ref, uint16_t owner)
{
	cos_obj_info_t o;
	if (!ct_obj(t, COS_OBJ_PIN, ref, owner, &o))
		return -1;
	return o.tries;
}

CT_FN int ct_count_cb(const cos_file_info_t *f, void *arg)
{
	(void)f;
	++*(unsigned *)arg;
	return 0;
}
CT_FN int ct_count_obj_cb(const cos_obj_info_t *o, void *arg)
{
	(void)o;
	++*(unsigned *)arg;
	return 0;
}

/* ------------------------------------------------------------ data objects */

/*
 * GET DATA DF30 and the value of one of its tags. The data sheet does not say
 * whether the answer is wrapped in DF30 (as 9F7F is): both are accepted.
 * Returns the value length, -1 if the tag is missing or GET DATA failed.
 */
/* Plain, or wrapped when an SCP03 session is open (the card OS ends a
 * session on an unwrapped command). */
CT_FN uint16_t ct_xfer_auto(tchip_t *t, const char *hex)
{
	return t->scp.open ? xfer_smf(t, "%s", hex) : xfer(t, hex, NULL, NULL);
}

CT_FN int ct_chipdata(tchip_t *t, unsigned tag, uint8_t *out, size_t cap)
{
	uint16_t sw = ct_xfer_auto(t, "00 CA DF 30 00");
	if (sw != 0x9000)
		return -1;
	const uint8_t *p = t->resp;
	size_t n = t->rlen, l;
	const uint8_t *inner = ct_tlv_find(p, n, 0xDF30, &l);
	if (inner) {
		p = inner;
		n = l;
	}
	const uint8_t *v = ct_tlv_find(p, n, tag, &l);
	if (!v)
		return -1;
	if (out)
		memcpy(out, v, l < cap ? l : cap);
	return (int)l;
}

CT_FN long ct_chipdata_u(tchip_t *t, unsigned tag)
{
	uint8_t v[16];
	int l = ct_chipdata(t, tag, v, sizeof v);
	if (l < 0 || l > 8)
		return -1;
	return (long)ct_be(v, (size_t)l);
}

/* GET DATA 9F7F: the 42 CPLC bytes into out; 0 on success. */
CT_FN int ct_cplc(tchip_t *t, uint8_t out[42])
{
	if (ct_xfer_auto(t, "00 CA 9F 7F 00") != 0x9000)
		return -1;
	size_t l;
	const uint8_t *v = ct_tlv_find(t->resp, t->rlen, 0x9F7F, &l);
	if (!v || l != 42)
		return -1;
	memcpy(out, v, 42);
	return 0;
}

/* ------------------------------------------------------------ life cycle */

CT_FN void ct_fab_close(tchip_t *t)
{
	REQUIRE_SW(t, 0x9000,
		   "80 34 00 00 1F 80 08 %s 81 08 %s 82 01 03 83 02 %s 84 02 %s",
		   H(t->serial, 8), H(t->tcode, 8), CT_FABDATE, CT_BATCH);
}

/* The three SCP03 keys (usage 02, ids 1 ENC, 2 MAC, 3 DEK) of t->scp. */
CT_FN void ct_put_scp03_keys(tchip_t *t)
{
	const uint8_t *k[3] = {t->scp.enc, t->scp.mac, t->scp.dek};
	for (int i = 0; i < 3; i++) {
		const char *d = ct_key_data((uint8_t)(i + 1), t->scp.kvn,
					    COS_ALG_AES, COS_KEY_USE_SCP03,
					    H(k[i], 16), -1);
		REQUIRE_SW(t, 0x9000, "00 DA DF 02 %02X %s", ct_hexlen(d), d);
	}
}

/* A small structure: EF 0101 (32 bytes, SFI 1) under the MF, DF 1000
 * (A0 00 00 00 01 01) with EF 1001 (64 bytes, SFI 2), PIN 01 (3 tries,
 * "1234"). No access conditions (everything "always"). */
CT_FN void ct_build_small(tchip_t *t)
{
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0101, 32, 1, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x1000, "A00000000101", NULL));
	REQUIRE_CREATE(t, CT_EF(0x1001, 64, 2, NULL));
	SELECT_MF(t);
	const char *d = ct_pin_data(0x01, 3, 4, "31323334", 0);
	REQUIRE_SW(t, 0x9000, "00 DA DF 01 %02X %s", ct_hexlen(d), d);
}

typedef void (*ct_build_fn)(tchip_t *t);

CT_FN void ct_require_state(tchip_t *t, cos_lifecycle_t lc)
{
	cos_info_t i = tc_info(t);
	REQUIRE_F(i.lifecycle == lc, "life cycle %d (%s), expected %d (%s)",
		  (int)i.lifecycle, cos_lifecycle_name(i.lifecycle), (int)lc,
		  cos_lifecycle_name(lc));
}

/*
 * From MANUFACTURING to lc, through APDUs only:
 *   TRANSPORT        FAB CLOSE (serial, transport code, 3 tries)
 *   INITIALIZATION   VERIFY 00 20 00 1F (transport code); then build(t)
 *   PERSONALIZATION  SCP03 key set (PUT DATA DF02), SET STATUS 80 F0 80 07
 *   OPERATIONAL      SCP03 session level 01, SET STATUS 0F (wrapped)
 *   TERMINATED       SCP03 session level 01, SET STATUS FF (wrapped)
 * The SCP03 session, if one was opened, is left closed (power cycle).
 */
CT_FN void tc_to_state(tchip_t *t, cos_lifecycle_t lc, ct_build_fn build)
{
	ct_require_state(t, COS_LC_MANUFACTURING);
	if (lc == COS_LC_MANUFACTURING)
		return;
	ct_fab_close(t);
	ct_require_state(t, COS_LC_TRANSPORT);
	if (lc == COS_LC_TRANSPORT)
		return;
	REQUIRE_SW(t, 0x9000, "00 20 00 1F 08 %s", H(t->tcode, 8));
	ct_require_state(t, COS_LC_INITIALIZATION);
	if (build)
		build(t);
	if (lc == COS_LC_INITIALIZATION)
		return;
	SELECT_MF(t);
	ct_put_scp03_keys(t);
	REQUIRE_SW(t, 0x9000, "80 F0 80 07");
	ct_require_state(t, COS_LC_PERSONALIZATION);
	if (lc == COS_LC_PERSONALIZATION)
		return;
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	REQUIRE_SM(t, 0x9000, "80 F0 80 0F");
	ct_require_state(t, COS_LC_OPERATIONAL);
	tc_power_cycle(t);
	if (lc == COS_LC_OPERATIONAL)
		return;
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	REQUIRE_SM(t, 0x9000, "80 F0 80 FF");
	ct_require_state(t, COS_LC_TERMINATED);
	tc_power_cycle(t);
}

/* ------------------------------------------------------------ images */

/* Bytes [256, 256 + 1536) of the image are the journal (docs/card-os.md). */
#define CT_JOURNAL_OFF 256u
#define CT_JOURNAL_LEN 1536u

/* Compares two images outside the journal; returns the first differing
 * offset or -1. */
CT_FN long ct_image_diff(const uint8_t *a, const uint8_t *b, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		if (i == CT_JOURNAL_OFF) {
			i += CT_JOURNAL_LEN - 1;
			continue;
		}
		if (a[i] != b[i])
			return (long)i;
	}
	return -1;
}

/* SHA-256 of the image outside the journal area. */
CT_FN void ct_image_hash(const uint8_t *img, uint32_t size, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned ol = 0;
	CT_ASSERT(c != NULL, "EVP_MD_CTX_new");
	int ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, img, CT_JOURNAL_OFF) == 1 &&
		 EVP_DigestUpdate(c, img + CT_JOURNAL_OFF + CT_JOURNAL_LEN,
				  size - CT_JOURNAL_OFF - CT_JOURNAL_LEN) == 1 &&
		 EVP_DigestFinal_ex(c, out, &ol) == 1;
	CT_ASSERT(ok, "SHA-256");
	EVP_MD_CTX_free(c);
}

#endif
