/*
 * test_scp03.c - unit tests of the card side of GlobalPlatform SCP03
 * (src/cos/scp03.c).
 *
 * Three kinds of test:
 *
 *  1. Published vectors: the SCP03 traces of Osmocom pySim's unit tests
 *     (osmocom/pysim, tests/unittests/test_globalplatform.py, classes
 *     SCP03_Test_AES{128,192,256}_{11,03,33}; GPL-2.0, only the hex data is
 *     used here). They are INITIALIZE UPDATE / EXTERNAL AUTHENTICATE
 *     exchanges with a real card (i = 70, pseudo-random challenge, hence the
 *     3-byte sequence counter at the end of the responses, which our card
 *     does not send), a wrapped GET DATA (EID) and its R-MAC / R-ENC
 *     response, then four wrapped commands (ISO cases 1 to 4) in the same
 *     session. Our RNG is scripted to give the trace's card challenge; the
 *     card must produce the trace's card cryptogram, accept the host's
 *     cryptogram and C-MACs, decrypt to the plain commands, and wrap the
 *     plain response into exactly the trace's protected response.
 *
 *  2. An independent host side written here on OpenSSL (its own KDF, C-MAC,
 *     encryption and R-MAC checks; nothing from scp03.c) opening sessions at
 *     every level with AES-128, -192 and -256 keys and exchanging commands
 *     with and without data, short and extended, and responses with and
 *     without data, success, warning and error status words.
 *
 *  3. Negative paths: wrong host cryptogram, wrong C-MAC, commands out of
 *     order, bad padding, unsupported levels, replay, truncated MACs, HAL
 *     failures at every crypto call (the session must close and its keys be
 *     wiped).
 *
 * The HAL here is the test's own: OpenSSL EVP for AES/3DES and CMAC, a
 * scripted-then-deterministic RNG, and a crypto fault injector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cos/scp03.h"

/* ------------------------------------------------------------------ */
/* Test HAL                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
	uint8_t nvm[256];   /* unused by SCP03, present for completeness */
	uint8_t script[64]; /* RNG bytes to hand out first */
	size_t script_len, script_pos;
	uint64_t rng_state; /* then xorshift64 */
	int rng_fail;
	long crypto_calls; /* cipher() and cmac() calls so far */
	long fail_at;	   /* fail call number N (1-based); 0: never */
} th_t;

static th_t th;
static hal_t hal;

static int crypto_fault(void)
{
	th.crypto_calls++;
	return th.fail_at != 0 && th.crypto_calls == th.fail_at;
}

static const EVP_CIPHER *pick_cipher(hal_cipher_t alg, hal_mode_t mode,
				     size_t kl)
{
	int cbc = mode == HAL_MODE_CBC;

	if (alg == HAL_CIPHER_AES) {
		if (kl == 16)
			return cbc ? EVP_aes_128_cbc() : EVP_aes_128_ecb();
		if (kl == 24)
			return cbc ? EVP_aes_192_cbc() : EVP_aes_192_ecb();
		if (kl == 32)
			return cbc ? EVP_aes_256_cbc() : EVP_aes_256_ecb();
	} else if (alg == HAL_CIPHER_3DES) {
		if (kl == 16)
			return cbc ? EVP_des_ede_cbc() : EVP_des_ede_ecb();
		if (kl == 24)
			return cbc ? EVP_des_ede3_cbc() : EVP_des_ede3_ecb();
	}
	return NULL;
}

/* Raw OpenSSL block cipher, no padding; used by the HAL and the host. */
static int ossl_cipher(hal_cipher_t alg, hal_mode_t mode, int enc,
		       const uint8_t *key, size_t kl, const uint8_t *iv,
		       const uint8_t *in, size_t len, uint8_t *out)
{
	static const uint8_t zero[16];
	const EVP_CIPHER *c = pick_cipher(alg, mode, kl);
	size_t bs = alg == HAL_CIPHER_AES ? 16 : 8;
	EVP_CIPHER_CTX *x;
	int ol = 0, fl = 0, ok;

	if (c == NULL || len % bs != 0)
		return 0;
	x = EVP_CIPHER_CTX_new();
	ok = x != NULL &&
	     EVP_CipherInit_ex(x, c, NULL, key,
			       mode == HAL_MODE_CBC ? (iv ? iv : zero) : NULL,
			       enc) == 1 &&
	     EVP_CIPHER_CTX_set_padding(x, 0) == 1 &&
	     EVP_CipherUpdate(x, out, &ol, in, (int)len) == 1 &&
	     EVP_CipherFinal_ex(x, out + ol, &fl) == 1 &&
	     (size_t)(ol + fl) == len;
	EVP_CIPHER_CTX_free(x);
	return ok;
}

static int ossl_cmac(hal_cipher_t alg, const uint8_t *key, size_t kl,
		     const uint8_t *in, size_t len, uint8_t *mac)
{
	const char *name = NULL;
	uint8_t k3[24];
	EVP_MAC *m;
	EVP_MAC_CTX *c = NULL;
	OSSL_PARAM p[2];
	size_t ol = 0;
	int ok;

	if (alg == HAL_CIPHER_AES)
		name = kl == 16 ? "AES-128-CBC" :
		       kl == 24 ? "AES-192-CBC" :
		       kl == 32 ? "AES-256-CBC" :
				  NULL;
	else if (alg == HAL_CIPHER_3DES && (kl == 16 || kl == 24)) {
		name = "DES-EDE3-CBC";
		memcpy(k3, key, 16);
		memcpy(k3 + 16, kl == 24 ? key + 16 : key, 8);
		key = k3;
		kl = 24;
	}
	if (name == NULL)
		return 0;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
						(char *)name, 0);
	p[1] = OSSL_PARAM_construct_end();
	m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	ok = m != NULL && (c = EVP_MAC_CTX_new(m)) != NULL &&
	     EVP_MAC_init(c, key, kl, p) == 1 &&
	     EVP_MAC_update(c, in, len) == 1 &&
	     EVP_MAC_final(c, mac, &ol, 16) == 1;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	return ok;
}

static hal_status_t th_cipher(void *ctx, hal_cipher_t alg, hal_mode_t mode,
			      int encrypt, const uint8_t *key, size_t key_len,
			      const uint8_t *iv, const uint8_t *in, size_t len,
			      uint8_t *out)
{
	(void)ctx;
	if (crypto_fault())
		return HAL_ERR_CRYPTO;
	return ossl_cipher(alg, mode, encrypt, key, key_len, iv, in, len, out) ?
		       HAL_OK :
		       HAL_ERR_CRYPTO;
}

static hal_status_t th_cmac(void *ctx, hal_cipher_t alg, const uint8_t *key,
			    size_t key_len, const uint8_t *in, size_t len,
			    uint8_t *mac)
{
	(void)ctx;
	if (crypto_fault())
		return HAL_ERR_CRYPTO;
	return ossl_cmac(alg, key, key_len, in, len, mac) ? HAL_OK :
							    HAL_ERR_CRYPTO;
}

static hal_status_t th_rng(void *ctx, uint8_t *dst, size_t len)
{
	(void)ctx;
	if (th.rng_fail)
		return HAL_ERR_RNG;
	while (len--) {
		if (th.script_pos < th.script_len) {
			*dst++ = th.script[th.script_pos++];
			continue;
		}
		th.rng_state ^= th.rng_state << 13;
		th.rng_state ^= th.rng_state >> 7;
		th.rng_state ^= th.rng_state << 17;
		*dst++ = (uint8_t)(th.rng_state >> 24);
	}
	return HAL_OK;
}

static hal_status_t th_nvm_write(void *ctx, uint32_t off, const uint8_t *src,
				 uint32_t len)
{
	(void)ctx;
	if (off > sizeof th.nvm || len > sizeof th.nvm - off)
		return HAL_ERR_PARAM;
	memcpy(th.nvm + off, src, len);
	return HAL_OK;
}

static hal_status_t th_nvm_sync(void *ctx)
{
	(void)ctx;
	return HAL_OK;
}

static int setup(void **state)
{
	(void)state;
	memset(&th, 0, sizeof th);
	memset(th.nvm, 0xFF, sizeof th.nvm);
	th.rng_state = 0x9E3779B97F4A7C15ull;
	hal.ctx = &th;
	hal.nvm = th.nvm;
	hal.nvm_size = sizeof th.nvm;
	hal.nvm_write = th_nvm_write;
	hal.nvm_sync = th_nvm_sync;
	hal.rng = th_rng;
	hal.cipher = th_cipher;
	hal.cmac = th_cmac;
	return 0;
}

static void script_rng(const uint8_t *b, size_t n)
{
	assert_true(n <= sizeof th.script);
	memcpy(th.script, b, n);
	th.script_len = n;
	th.script_pos = 0;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (h[0] && h[1]) {
		assert_int_equal(sscanf(h, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

/* A wire APDU split as the dispatcher would: header, data field, ext. */
typedef struct {
	uint8_t hdr[4];
	uint8_t data[1100];
	size_t len;
	int ext;
} capdu_t;

static void parse_apdu(const uint8_t *w, size_t wl, capdu_t *c)
{
	size_t lc = 0, off = 4;

	assert_true(wl >= 4);
	memcpy(c->hdr, w, 4);
	c->ext = 0;
	if (wl > 5 && w[4] != 0) { /* short Lc */
		lc = w[4];
		off = 5;
	} else if (wl > 7 && w[4] == 0) { /* extended Lc */
		lc = ((size_t)w[5] << 8) | w[6];
		off = 7;
		c->ext = 1;
	}
	assert_true(off + lc <= wl);
	assert_true(lc <= sizeof c->data);
	memcpy(c->data, w + off, lc);
	c->len = lc;
}

static const uint8_t zero32[32];

static void assert_wiped(const scp03_t *s)
{
	assert_int_equal(s->state, SCP03_STATE_NONE);
	assert_memory_equal(s->s_enc, zero32, 32);
	assert_memory_equal(s->s_mac, zero32, 32);
	assert_memory_equal(s->s_rmac, zero32, 32);
	assert_memory_equal(s->mac_chain, zero32, 16);
}

/* ------------------------------------------------------------------ */
/* 1. pySim's SCP03 traces                                             */
/* ------------------------------------------------------------------ */

typedef struct {
	const char *name;
	const char *keyset; /* "128", "192", "256" */
	const char *iu_cmd, *iu_rsp, *ea_cmd, *eid_cmd, *eid_rsp;
	const char *c1, *c2, *c3, *c4;
} trace_t;

/* osmocom/pysim tests/unittests/test_globalplatform.py */
static const trace_t traces[] = {
	{ "AES128_11", "128", "8050300008b13e5f938fc108c400",
	  "000000000000000000003003703eb51047495b249f66c484c1d2ef1948000002",
	  "84821100107d5f5826a993ebc89eea24957fa0b3ce",
	  "84e291000ebf3e035c015a558d036518a2829700",
	  "bf3e125a1089882119900000000000000000000005971be68992dbbdfa",
	  "84f220020863a63f8959827fb2", "84ca006608a0c6a4a74166f7ce00",
	  "84f22002124f0212345c054f9f70c52249b50272656536",
	  "84f280020a4f00e91443f6dce6b8ed00" },
	{ "AES128_03", "128", "80503000088e1552d0513c60f300",
	  "0000000000000000000030037030760cd2c47c1dd395065fe5ead8a9d7000001",
	  "8482030010fd4721a14d9b07003c451d2f8ae6bb21",
	  "84e2910018ca9c00f6713d79bc8baa642bdff51c3f6a4082d3bd9ad26c00",
	  "bf3e125a1089882119900000000000000000000005",
	  "84f2200208c9811b11f1264cf1", "84ca006608e10ab60b3054798800",
	  "84f22002184e2908bdb48b2315a55482e9e936ca122d6ecfae7d17416e",
	  "84f28002180dd10a6b6193e5340b9e77d32d5a179cd710ac2773aefb2800" },
	{ "AES128_33", "128", "8050300008fdf38259a1e0de4400",
	  "000000000000000000003003703b1aca81e821f219081cdc01c26b372d000003",
	  "84823300108c36f96bcc00724a4e13ad591d7da3f0",
	  "84e2910018267a85dfe4a98fca6fb0527e0dfecce4914e40401433c87f00",
	  "f3ba2b1013aa6224f5e1c138d71805c569e5439b47576260b75fc021b25097cb"
	  "2e68f8a0144975b9",
	  "84f2200208ac6a59024bed84cc", "84ca006608409912ad8fb7aed000",
	  "84f22002185f3dafc3ac14c381536a488bf44e06d056df9d74dbd21e5a",
	  "84f280021865165105be3373347d0424d4400af2ac393f569ec779389e00" },
	{ "AES192_11", "192", "80503100087396430b768b085b00",
	  "000000000000000000003103708cfc23522ffdbf1e5df5542cac8fd866000003",
	  "84821100102145ed30b146f5db252fb7e624cec244",
	  "84e291000ebf3e035c015aff42cf801d14394400",
	  "bf3e125a1089882119900000000000000000000005162fbd33e04940a9",
	  "84f22002084584e4f6784811ee", "84ca006608937776ebe190fa3000",
	  "84f22002124f0212345c054f9f70c59a52bddf3040368c",
	  "84f280020a4f009804b11411f7393d00" },
	{ "AES192_03", "192", "805031000869c65da8202bf19f00",
	  "00000000000000000000310370b570a67be38446717729d6dd3d2ec5b1000001",
	  "848203001065df4f1a356a887905466516d9e5b7c1",
	  "84e2910018d2c6fb477c5d4afe4fd4d21f17eff10d3578ec1774a12a2d00",
	  "bf3e125a1089882119900000000000000000000005",
	  "84f2200208964e188f0b1bb697", "84ca006608f0820035a41d3e1800",
	  "84f220021806b076ed452cd1fa84f77f5c08a146aa77a9286757dea791",
	  "84f2800218d06527e39222dce091fabdb8e9b898417a67a6852d3577db00" },
	{ "AES192_33", "192", "80503100089b3f2eef0e8c937400",
	  "00000000000000000000310370f6bb305a15bae1a68f79fb08212fbed7000002",
	  "84823300109100bc22d58b45b86a26365ce39ff3cf",
	  "84e29100188f7f946c84f70d17994bc6e8791251bb1bb1bf02cf8de58900",
	  "c05176c1b6f72aae50c32cbee63b0e95998928fd4dfb2be9f27ffde8c8476f59"
	  "09b4805cc4039599",
	  "84f2200208d5d97754b6b3d2ba", "84ca006608516c82b8e30adbeb00",
	  "84f2200218cc247f4761e6944277a4e0d6e32e44025b1e31537e2fc668",
	  "84f2800218ba22b63d509bef5d093b43e5eaed03ed23144ab2d9cb51de00" },
	{ "AES256_11", "256", "805032000811666d57866c6f5400",
	  "0000000000000000000032037053ea8847efa7674e41498a4d66cf0dee000003",
	  "84821100102f2ad190eff2fafc4908996d1cebd310",
	  "84e291000ebf3e035c015af4b680372542b59d00",
	  "bf3e125a10898821199000000000000000000000058012dd7f01f1c4c1",
	  "84f2200208d618b7da68d5fe52", "84ca0066088f3e055db23ad5e500",
	  "84f22002124f0212345c054f9f70c5b6e15cc42404915e",
	  "84f280020a4f00aa124aa74afe7f7500" },
	{ "AES256_03", "256", "8050320008c6066990fc426e1d00",
	  "000000000000000000003203708682cd81bbd8919f2de3f2664581f118000001",
	  "848203001077c493b632edadaf865a1e64acc07ce9",
	  "84e29100183ddaa60594963befaada3525b492ede23c2ab2c1ce3afe4400",
	  "bf3e125a1089882119900000000000000000000005",
	  "84f2200208480ddc8e419da38d", "84ca0066083e9d6a6c0b2d732000",
	  "84f22002183ebfef2da8b04af2a85f491f299b76973df76ff08a4031be",
	  "84f2800218783fff80990f5585b1055010ea95094a26e4a8f1ef4b18e100" },
	{ "AES256_33", "256", "805032000897b2055fe58599fd00",
	  "00000000000000000000320370a8439a22cedf045fa9f1903b2834f26e000002",
	  "8482330010508a0fd959d2e547c6b33154a6be2057",
	  "84e29100187a5ef717eaf1e135ae92fe54429d0e465decda65f5fe5aea00",
	  "ea90dbfa648a67c5eb6abc57f8530b97d0cd5647c5e8732016b55203b078dd2a"
	  "ce7f8bc5d1c1cd99",
	  "84f2200208bcc5c17275545d93", "84ca00660804806aba9d543bb600",
	  "84f2200218717222491556ec81a45f49ce48be33320024801a1c4cb0e0",
	  "84f2800218561f105bccd3a1642904b251ccc1228beb80a82370a8637000" },
};

/* pySim's key sets: ENC 00 01 .., MAC 10 11 .., DEK 20 21 .., each
 * pattern of 16 repeated to the key length. */
static void pysim_keyset(const char *bits, uint8_t kvn, scp03_keyset_t *ks)
{
	size_t i;

	memset(ks, 0, sizeof *ks);
	ks->kvn = kvn;
	ks->key_len = strcmp(bits, "128") == 0 ? 16 :
		      strcmp(bits, "192") == 0 ? 24 :
						 32;
	for (i = 0; i < ks->key_len; i++) {
		ks->enc[i] = (uint8_t)(0x00 + i % 16);
		ks->mac[i] = (uint8_t)(0x10 + i % 16);
		ks->dek[i] = (uint8_t)(0x20 + i % 16);
	}
}

static void trace_cmd(scp03_t *s, const char *wire_hex, const char *plain_hex)
{
	uint8_t w[300], p[300];
	size_t wl = unhex(wire_hex, w, sizeof w);
	size_t pl = unhex(plain_hex, p, sizeof p);
	capdu_t c;

	parse_apdu(w, wl, &c);
	assert_int_equal(scp03_unwrap(s, &hal, c.hdr, c.data, &c.len, c.ext),
			 0x9000);
	assert_int_equal(s->cmd_macked, 1);
	assert_memory_equal(c.hdr, p, 4);
	assert_int_equal(c.len, pl - 4);
	if (c.len)
		assert_memory_equal(c.data, p + 4, c.len);
}

static void test_pysim_traces(void **state)
{
	size_t t;

	(void)state;
	for (t = 0; t < sizeof traces / sizeof traces[0]; t++) {
		const trace_t *tr = &traces[t];
		uint8_t iu_cmd[32], iu_rsp[64], ea[32], rsp[64], want[64];
		uint8_t out[64];
		size_t iu_rsp_len, ea_len, out_len, want_len, len;
		scp03_keyset_t ks;
		scp03_t s;

		print_message("trace %s\n", tr->name);
		unhex(tr->iu_cmd, iu_cmd, sizeof iu_cmd);
		iu_rsp_len = unhex(tr->iu_rsp, iu_rsp, sizeof iu_rsp);
		assert_int_equal(iu_rsp_len, 32); /* 29 + sequence counter */
		ea_len = unhex(tr->ea_cmd, ea, sizeof ea);
		pysim_keyset(tr->keyset, iu_cmd[2], &ks);

		scp03_reset(&s);
		script_rng(iu_rsp + 13, 8); /* the trace's card challenge */
		assert_int_equal(scp03_initialize_update(&s, &hal, &ks, iu_rsp,
							 iu_cmd + 5, out,
							 sizeof out, &out_len),
				 0x9000);
		assert_int_equal(out_len, 29);
		assert_memory_equal(out, iu_rsp, 11); /* divdata, kvn */
		assert_int_equal(out[11], 0x03);
		assert_int_equal(out[12], SCP03_I_PARAM);
		/* card challenge and card cryptogram */
		assert_memory_equal(out + 13, iu_rsp + 13, 16);

		assert_int_equal(
			scp03_external_authenticate(&s, &hal, ea, ea_len),
			0x9000);
		assert_int_equal(s.state, SCP03_STATE_OPEN);
		assert_int_equal(s.level, ea[2]);

		/* GET DATA EID, then its response. */
		trace_cmd(&s, tr->eid_cmd, "80E29100BF3E035C015A");
		len = unhex("bf3e125a1089882119900000000000000000000005", rsp,
			    sizeof rsp);
		want_len = unhex(tr->eid_rsp, want, sizeof want);
		assert_int_equal(
			scp03_wrap(&s, &hal, rsp, &len, sizeof rsp, 0x9000),
			0x9000);
		assert_int_equal(len, want_len);
		assert_memory_equal(rsp, want, len);

		/* ISO cases 1 to 4, same session. */
		trace_cmd(&s, tr->c1, "80F22002");
		trace_cmd(&s, tr->c2, "80CA0066");
		trace_cmd(&s, tr->c3, "80F220024F0212345C054F9F70C5");
		trace_cmd(&s, tr->c4, "80F280024F00");
		scp03_reset(&s);
		assert_wiped(&s);
	}
}

/* ------------------------------------------------------------------ */
/* 2. An independent host side                                         */
/* ------------------------------------------------------------------ */

typedef struct {
	const scp03_keyset_t *ks; /* static keys (the host knows them too) */
	size_t kl;
	uint8_t level;
	uint8_t hc[8], cc[8];
	uint8_t senc[32], smac[32], srmac[32];
	uint8_t chain[16];
	uint8_t ctr[16]; /* the encryption counter as a 128-bit block */
} host_t;

/* SP 800-108 counter mode, fixed data split around the counter byte as
 * Amendment D 4.1.5 lays it out. */
static void host_derive(const uint8_t *key, size_t kl, uint8_t constant,
			const uint8_t *hc, const uint8_t *cc, size_t nbytes,
			uint8_t *out)
{
	uint8_t dd[32], blk[16];
	size_t got = 0;
	uint16_t lbits = (uint16_t)(nbytes * 8);
	uint8_t i = 0;

	while (got < nbytes) {
		size_t n = 0;

		memset(dd, 0, sizeof dd);
		n = 11;
		dd[n++] = constant;
		dd[n++] = 0;
		dd[n++] = (uint8_t)(lbits >> 8);
		dd[n++] = (uint8_t)(lbits & 0xFF);
		dd[n++] = ++i;
		memcpy(dd + n, hc, 8);
		memcpy(dd + n + 8, cc, 8);
		assert_true(ossl_cmac(HAL_CIPHER_AES, key, kl, dd, 32, blk));
		memcpy(out + got, blk, nbytes - got < 16 ? nbytes - got : 16);
		got += 16;
	}
}

static void host_ctr_inc(host_t *h)
{
	int i;

	for (i = 15; i >= 0; i--)
		if (++h->ctr[i] != 0)
			break;
}

/* INITIALIZE UPDATE on the card and the host's checks of its answer. */
static void host_init_update(host_t *h, scp03_t *s, const scp03_keyset_t *ks)
{
	static const uint8_t divdata[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	uint8_t resp[40], cg[8];
	size_t rl;
	size_t i;

	memset(h, 0, sizeof *h);
	h->ks = ks;
	h->kl = ks->key_len;
	for (i = 0; i < 8; i++)
		h->hc[i] = (uint8_t)(0xA0 + i + ks->key_len);
	assert_int_equal(scp03_initialize_update(s, &hal, ks, divdata, h->hc,
						 resp, sizeof resp, &rl),
			 0x9000);
	assert_int_equal(rl, 29);
	assert_memory_equal(resp, divdata, 10);
	assert_int_equal(resp[10], ks->kvn);
	assert_int_equal(resp[11], 0x03);
	assert_int_equal(resp[12], 0x60);
	memcpy(h->cc, resp + 13, 8);
	host_derive(ks->enc, h->kl, 0x04, h->hc, h->cc, h->kl, h->senc);
	host_derive(ks->mac, h->kl, 0x06, h->hc, h->cc, h->kl, h->smac);
	host_derive(ks->mac, h->kl, 0x07, h->hc, h->cc, h->kl, h->srmac);
	host_derive(h->smac, h->kl, 0x00, h->hc, h->cc, 8, cg);
	assert_memory_equal(resp + 21, cg, 8);
}

/*
 * Wrap a command as a host does: C-DEC (if the level has it and there is
 * data), then C-MAC. Always MACs (even at level 00, to test that path).
 * Writes the wire APDU (no Le) to w; returns its length.
 */
static size_t host_wrap(host_t *h, const uint8_t hdr[4], const uint8_t *data,
			size_t n, int ext, int encrypt, uint8_t *w)
{
	uint8_t body[1100], icv[16], mac[16];
	uint8_t macin[16 + 7 + 1100];
	size_t bl = n, lc, hl, ml;

	if (h->level & SCP03_C_DEC)
		host_ctr_inc(h); /* every command, data or not */
	memcpy(body, data, n);
	if (encrypt && n > 0) {
		body[n] = 0x80;
		bl = (n / 16 + 1) * 16;
		memset(body + n + 1, 0, bl - n - 1);
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_ECB, 1,
					h->senc, h->kl, NULL, h->ctr, 16, icv));
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_CBC, 1,
					h->senc, h->kl, icv, body, bl, body));
	}
	lc = bl + 8;
	w[0] = (uint8_t)(hdr[0] | ((hdr[0] & 0x40) ? 0x20 : 0x04));
	memcpy(w + 1, hdr + 1, 3);
	if (ext) {
		w[4] = 0;
		w[5] = (uint8_t)(lc >> 8);
		w[6] = (uint8_t)lc;
		hl = 7;
	} else {
		assert_true(lc <= 255);
		w[4] = (uint8_t)lc;
		hl = 5;
	}
	memcpy(w + hl, body, bl);
	/* MAC input: chain, header with channel 0, Lc as sent, data */
	memcpy(macin, h->chain, 16);
	memcpy(macin + 16, w, hl);
	macin[16] = (uint8_t)((w[0] & 0xF0) | 0x04);
	memcpy(macin + 16 + hl, body, bl);
	ml = 16 + hl + bl;
	assert_true(ossl_cmac(HAL_CIPHER_AES, h->smac, h->kl, macin, ml, mac));
	memcpy(h->chain, mac, 16);
	memcpy(w + hl + bl, mac, 8);
	return hl + bl + 8;
}

static size_t host_ext_auth(host_t *h, uint8_t level, uint8_t *w)
{
	static const uint8_t hdr[4] = { 0x80, 0x82, 0, 0 };
	uint8_t hh[4], cg[8];

	memcpy(hh, hdr, 4);
	hh[2] = level;
	host_derive(h->smac, h->kl, 0x01, h->hc, h->cc, 8, cg);
	memset(h->chain, 0, 16);
	h->level = 0; /* EXT AUTH is never encrypted, moves no counter */
	return host_wrap(h, hh, cg, 8, 0, 0, w);
}

static void host_open(host_t *h, scp03_t *s, const scp03_keyset_t *ks,
		      uint8_t level)
{
	uint8_t w[64];
	size_t wl;

	scp03_reset(s);
	host_init_update(h, s, ks);
	wl = host_ext_auth(h, level, w);
	assert_int_equal(scp03_external_authenticate(s, &hal, w, wl), 0x9000);
	h->level = level;
	assert_int_equal(s->state, SCP03_STATE_OPEN);
	assert_int_equal(s->level, level);
}

/* Check a protected response and recover its data. */
static void host_unwrap(const host_t *h, const uint8_t *r, size_t rl,
			uint16_t sw, uint8_t *plain, size_t *pl)
{
	uint8_t macin[16 + 1100 + 2], mac[16], icv[16], blk[16];
	uint8_t sw1 = (uint8_t)(sw >> 8);
	size_t n;

	if (!(h->level & SCP03_R_MAC)) {
		memcpy(plain, r, rl);
		*pl = rl;
		return;
	}
	if (!(sw == 0x9000 || sw1 == 0x62 || sw1 == 0x63)) {
		assert_int_equal(rl, 0); /* error: SW only */
		*pl = 0;
		return;
	}
	assert_true(rl >= 8);
	n = rl - 8;
	memcpy(macin, h->chain, 16);
	memcpy(macin + 16, r, n);
	macin[16 + n] = sw1;
	macin[17 + n] = (uint8_t)sw;
	assert_true(
		ossl_cmac(HAL_CIPHER_AES, h->srmac, h->kl, macin, n + 18, mac));
	assert_memory_equal(r + n, mac, 8);
	if ((h->level & SCP03_R_ENC) && n > 0) {
		assert_int_equal(n % 16, 0);
		memcpy(blk, h->ctr, 16);
		blk[0] = 0x80;
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_ECB, 1,
					h->senc, h->kl, NULL, blk, 16, icv));
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_CBC, 0,
					h->senc, h->kl, icv, r, n, plain));
		while (n > 0 && plain[n - 1] == 0)
			n--;
		assert_true(n > 0);
		assert_int_equal(plain[n - 1], 0x80);
		n--;
	} else {
		memcpy(plain, r, n);
	}
	*pl = n;
}

static void make_keyset(size_t kl, uint8_t kvn, scp03_keyset_t *ks)
{
	size_t i;

	memset(ks, 0, sizeof *ks);
	ks->kvn = kvn;
	ks->key_len = (uint8_t)kl;
	for (i = 0; i < kl; i++) {
		ks->enc[i] = (uint8_t)(0x40 + i * 3 + kl);
		ks->mac[i] = (uint8_t)(0x91 ^ (i * 7 + kl));
		ks->dek[i] = (uint8_t)(0x13 + i * 5);
	}
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 17 + (i >> 3));
}

/* One command through host wrap -> card unwrap -> card response -> card
 * wrap -> host unwrap, checking each side. */
static void exchange(host_t *h, scp03_t *s, size_t n, int ext, size_t rn,
		     uint16_t sw)
{
	static unsigned seed = 1;
	uint8_t hdr[4] = { 0x80, 0xE2, 0x00, 0x00 };
	uint8_t data[1100], w[1200], r[1200], plain[1200], got[1200];
	size_t wl, rl, pl;
	capdu_t c;
	int protect = h->level != 0;

	hdr[2] = (uint8_t)seed;
	fill(data, n, seed++);
	if (protect) {
		wl = host_wrap(h, hdr, data, n, ext,
			       (h->level & SCP03_C_DEC) != 0, w);
	} else { /* level 00: the host sends it plain */
		memcpy(w, hdr, 4);
		w[4] = (uint8_t)n;
		memcpy(w + 5, data, n);
		wl = n ? 5 + n : 4;
		assert_false(ext);
	}
	parse_apdu(w, wl, &c);
	assert_int_equal(c.ext, ext && wl > 5);
	assert_int_equal(scp03_unwrap(s, &hal, c.hdr, c.data, &c.len, c.ext),
			 0x9000);
	assert_int_equal(s->cmd_macked, protect);
	assert_memory_equal(c.hdr, hdr, 4);
	assert_int_equal(c.len, n);
	if (n)
		assert_memory_equal(c.data, data, n);

	fill(r, rn, seed++);
	memcpy(plain, r, rn);
	rl = rn;
	assert_int_equal(scp03_wrap(s, &hal, r, &rl, sizeof r, sw), 0x9000);
	host_unwrap(h, r, rl, sw, got, &pl);
	if ((h->level & SCP03_R_MAC) && (sw >> 8) != 0x90 &&
	    (sw >> 8) != 0x62 && (sw >> 8) != 0x63)
		assert_int_equal(pl, 0);
	else {
		assert_int_equal(pl, rn);
		if (rn)
			assert_memory_equal(got, plain, rn);
	}
}

static const uint8_t all_levels[] = { 0x00, 0x01, 0x03, 0x11, 0x13, 0x33 };

static void test_sessions_all_levels(void **state)
{
	static const size_t kls[] = { 16, 24, 32 };
	static const size_t cmd_lens[] = { 0, 1, 15, 16, 17, 31, 32, 100, 200 };
	static const size_t rsp_lens[] = { 0, 1, 15, 16, 17, 255 };
	size_t k, l, i;

	(void)state;
	for (k = 0; k < 3; k++) {
		for (l = 0; l < sizeof all_levels; l++) {
			scp03_keyset_t ks;
			host_t h;
			scp03_t s;
			uint8_t lv = all_levels[l];

			print_message("AES-%zu level %02X\n", kls[k] * 8, lv);
			make_keyset(kls[k], (uint8_t)(0x30 + k), &ks);
			host_open(&h, &s, &ks, lv);
			for (i = 0; i < sizeof cmd_lens / sizeof cmd_lens[0];
			     i++)
				exchange(&h, &s, cmd_lens[i], 0,
					 rsp_lens[i % 6], 0x9000);
			/* largest short command with C-DEC: 239 -> 240 + 8 */
			exchange(&h, &s, lv & SCP03_C_DEC ? 239 : 247, 0, 3,
				 0x9000);
			if (lv != 0) {
				/* extended length, small and large */
				exchange(&h, &s, 5, 1, 40, 0x9000);
				exchange(&h, &s, 300, 1, 0, 0x9000);
				exchange(&h, &s, 1000, 1, 1000, 0x9000);
				exchange(&h, &s, 0, 1, 2, 0x9000);
			}
			/* warnings are protected, errors are SW only */
			exchange(&h, &s, 4, 0, 7, 0x6283);
			exchange(&h, &s, 4, 0, 0, 0x63C2);
			exchange(&h, &s, 4, 0, 9, 0x6A82);
			exchange(&h, &s, 2, 0, 5, 0x9000);
			assert_int_equal(s.state, SCP03_STATE_OPEN);
			scp03_reset(&s);
			assert_wiped(&s);
		}
	}
}

/* A level-00 session still accepts and verifies a C-MACed command. */
static void test_level00_macked_command(void **state)
{
	static const uint8_t hdr[4] = { 0x80, 0xCA, 0x00, 0x66 };
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	uint8_t w[64];
	capdu_t c;

	(void)state;
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x00);
	exchange(&h, &s, 3, 0, 3, 0x9000); /* plain */
	parse_apdu(w, host_wrap(&h, hdr, (const uint8_t *)"abc", 3, 0, 0, w),
		   &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x9000);
	assert_int_equal(s.cmd_macked, 1);
	assert_int_equal(c.len, 3);
	assert_memory_equal(c.data, "abc", 3);
	/* and a wrong one closes the session */
	parse_apdu(w, host_wrap(&h, hdr, (const uint8_t *)"abc", 3, 0, 0, w),
		   &c);
	c.data[c.len - 1] ^= 1;
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6982);
	assert_wiped(&s);
}

/* The C-MAC covers Lc as encoded: the same bytes told as short fail. */
static void test_extended_lc_in_mac(void **state)
{
	static const uint8_t hdr[4] = { 0x80, 0xE2, 0x90, 0x00 };
	uint8_t data[20], w[64];
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	capdu_t c;

	(void)state;
	fill(data, sizeof data, 7);
	make_keyset(32, 0x32, &ks);
	host_open(&h, &s, &ks, 0x01);
	parse_apdu(w, host_wrap(&h, hdr, data, 20, 1, 0, w), &c);
	assert_int_equal(c.ext, 1);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6982);
	assert_wiped(&s);
}

/* Logical channel 1: CLA 81 -> wire 85; the MAC uses channel 0. */
static void test_logical_channel_cla(void **state)
{
	static const uint8_t hdr[4] = { 0x81, 0xE2, 0x90, 0x00 };
	uint8_t w[64];
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	capdu_t c;

	(void)state;
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x03);
	parse_apdu(w, host_wrap(&h, hdr, (const uint8_t *)"xy", 2, 0, 1, w),
		   &c);
	assert_int_equal(c.hdr[0], 0x85);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x9000);
	assert_int_equal(c.hdr[0], 0x81);
	assert_int_equal(c.len, 2);
	assert_memory_equal(c.data, "xy", 2);
}

/* ------------------------------------------------------------------ */
/* 3. Negative paths                                                   */
/* ------------------------------------------------------------------ */

static void test_wrong_host_cryptogram(void **state)
{
	scp03_keyset_t ks, other;
	host_t h;
	scp03_t s;
	uint8_t w[64];
	size_t wl;

	(void)state;
	make_keyset(16, 0x30, &ks);
	scp03_reset(&s);
	host_init_update(&h, &s, &ks);
	/* a host with another MAC key: its cryptogram is wrong */
	other = ks;
	other.mac[0] ^= 0x01;
	host_derive(other.mac, 16, 0x06, h.hc, h.cc, 16, h.smac);
	wl = host_ext_auth(&h, 0x01, w);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6300);
	assert_wiped(&s);
	/* the handshake is over: a retry needs INITIALIZE UPDATE */
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6985);
}

static void test_wrong_ea_mac(void **state)
{
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	uint8_t w[64];
	size_t wl;

	(void)state;
	make_keyset(24, 0x31, &ks);
	scp03_reset(&s);
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x33, w);
	w[wl - 1] ^= 0x80;
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6982);
	assert_wiped(&s);
}

static void test_ea_without_iu(void **state)
{
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	uint8_t w[64];
	size_t wl;

	(void)state;
	scp03_reset(&s);
	wl = unhex("84821100107d5f5826a993ebc89eea24957fa0b3ce", w, sizeof w);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6985);
	assert_wiped(&s);

	/* nor twice in a session: the second closes it */
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x01);
	wl = host_ext_auth(&h, 0x01, w);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6985);
	assert_wiped(&s);
}

static void test_ea_bad_params(void **state)
{
	static const uint8_t bad_levels[] = { 0x02, 0x10,	 0x12, 0x20,
					      0x23, 0x30,	 0x31, 0x32,
					      0x21, 0x13 | 0x80, 0x40, 0xFF,
					      0x04, 0x05 };
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	uint8_t w[64];
	size_t wl, i;

	(void)state;
	make_keyset(16, 0x30, &ks);
	for (i = 0; i < sizeof bad_levels; i++) {
		scp03_reset(&s);
		host_init_update(&h, &s, &ks);
		wl = host_ext_auth(&h, bad_levels[i], w);
		assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl),
				 0x6A86);
		assert_wiped(&s);
	}
	/* P2 != 00 */
	scp03_reset(&s);
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x01, w);
	w[3] = 0x01;
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6A86);
	/* Lc != 16, and truncated */
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x01, w);
	w[4] = 0x0F;
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl - 1),
			 0x6700);
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x01, w);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl - 1),
			 0x6700);
	host_init_update(&h, &s, &ks);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, 4), 0x6700);
	/* trailing Le accepted, more is not */
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x01, w);
	w[wl] = 0x00;
	w[wl + 1] = 0x00;
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl + 2),
			 0x6700);
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x01, w);
	w[wl] = 0x00;
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl + 1),
			 0x9000);
	/* CLA without the SM bit */
	host_init_update(&h, &s, &ks);
	wl = host_ext_auth(&h, 0x01, w);
	w[0] = 0x80;
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6982);
	assert_wiped(&s);
}

/* Corrupt one bit of a wrapped command at each position. */
static void test_wrong_cmac_closes(void **state)
{
	static const uint8_t hdr[4] = { 0x80, 0xE2, 0x00, 0x01 };
	uint8_t data[20], w[80], w2[80];
	scp03_keyset_t ks;
	host_t h, h0;
	scp03_t s, s0;
	size_t wl, pos;
	capdu_t c;

	(void)state;
	fill(data, sizeof data, 3);
	make_keyset(16, 0x30, &ks);
	host_open(&h0, &s0, &ks, 0x13);
	for (pos = 0; pos < 4 + 1 + 32 + 8; pos++) {
		if (pos == 4)
			continue; /* Lc: changes the parse, tested below */
		h = h0;
		s = s0;
		wl = host_wrap(&h, hdr, data, sizeof data, 0, 1, w);
		assert_int_equal(wl, 4 + 1 + 32 + 8);
		memcpy(w2, w, wl);
		/* CLA: flip b5 (chaining), which the MAC covers; the channel
		 * bits are not MACed (see test_logical_channel_cla) */
		w2[pos] ^= (pos == 0) ? 0x10 : 0x40;
		parse_apdu(w2, wl, &c);
		assert_int_equal(
			scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			0x6982);
		assert_int_equal(s.cmd_macked, 0);
		assert_wiped(&s);
		/* a good command now meets no session */
		parse_apdu(w, wl, &c);
		assert_int_equal(
			scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			0x6982);
	}
	/* Lc one short (MAC bytes shifted) */
	h = h0;
	s = s0;
	wl = host_wrap(&h, hdr, data, sizeof data, 0, 1, w);
	parse_apdu(w, wl, &c);
	c.len--;
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6982);
	assert_wiped(&s);
}

static void test_short_mac(void **state)
{
	uint8_t hdr[4] = { 0x84, 0xE2, 0x00, 0x00 }, d[8] = { 0 };
	size_t n, len;
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;

	(void)state;
	make_keyset(16, 0x30, &ks);
	for (n = 0; n < 8; n++) {
		host_open(&h, &s, &ks, 0x01);
		len = n;
		assert_int_equal(scp03_unwrap(&s, &hal, hdr, d, &len, 0),
				 0x6982);
		assert_wiped(&s);
	}
}

static void test_plain_command_in_mac_session(void **state)
{
	uint8_t hdr[4] = { 0x00, 0xA4, 0x04, 0x00 }, d[4] = { 1, 2, 3, 4 };
	size_t n = 4;
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;

	(void)state;
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x01);
	assert_int_equal(scp03_unwrap(&s, &hal, hdr, d, &n, 0), 0x6982);
	assert_wiped(&s);
	/* with no session, plain commands pass and are not "macked" */
	assert_int_equal(scp03_unwrap(&s, &hal, hdr, d, &n, 0), 0x9000);
	assert_int_equal(s.cmd_macked, 0);
	assert_int_equal(n, 4);
}

static void test_command_after_iu_abandons(void **state)
{
	uint8_t hdr[4] = { 0x80, 0xCA, 0x00, 0x66 }, w[64];
	size_t n = 0, wl;
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;

	(void)state;
	make_keyset(16, 0x30, &ks);
	scp03_reset(&s);
	host_init_update(&h, &s, &ks);
	assert_int_equal(scp03_unwrap(&s, &hal, hdr, NULL, &n, 0), 0x9000);
	assert_wiped(&s);
	wl = host_ext_auth(&h, 0x01, w);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6985);
}

static void test_replay(void **state)
{
	static const uint8_t hdr[4] = { 0x80, 0xE8, 0x00, 0x00 };
	uint8_t data[10], w[64];
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	size_t wl;
	capdu_t c;

	(void)state;
	fill(data, sizeof data, 9);
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x03);
	wl = host_wrap(&h, hdr, data, sizeof data, 0, 1, w);
	parse_apdu(w, wl, &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x9000);
	parse_apdu(w, wl, &c); /* the very same bytes again */
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6982);
	assert_wiped(&s);

	/* and a recorded EXTERNAL AUTHENTICATE does not open a new session
	 * (the card challenge is new) */
	host_open(&h, &s, &ks, 0x03);
	wl = host_ext_auth(&h, 0x03, w);
	scp03_reset(&s);
	host_init_update(&h, &s, &ks);
	assert_int_equal(scp03_external_authenticate(&s, &hal, w, wl), 0x6300);
}

/* Encrypt arbitrary bytes (no padding added) and MAC them. */
static size_t host_wrap_raw_enc(host_t *h, const uint8_t hdr[4],
				const uint8_t *ct_plain, size_t n, uint8_t *w)
{
	uint8_t body[64], icv[16];
	host_t tmp;
	size_t wl;

	host_ctr_inc(h);
	memcpy(body, ct_plain, n);
	if (n % 16 == 0) {
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_ECB, 1,
					h->senc, h->kl, NULL, h->ctr, 16, icv));
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_CBC, 1,
					h->senc, h->kl, icv, body, n, body));
	}
	/* MAC only: a level without C-DEC so host_wrap neither encrypts nor
	 * moves the counter again */
	tmp = *h;
	tmp.level = SCP03_C_MAC;
	wl = host_wrap(&tmp, hdr, body, n, 0, 0, w);
	memcpy(h->chain, tmp.chain, 16);
	return wl;
}

static void test_bad_padding(void **state)
{
	static const uint8_t hdr[4] = { 0x80, 0xE2, 0x00, 0x00 };
	uint8_t p[32], w[80];
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;
	capdu_t c;

	(void)state;
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x03);

	/* no 80 at all */
	fill(p, 16, 1);
	p[15] = 0x41;
	parse_apdu(w, host_wrap_raw_enc(&h, hdr, p, 16, w), &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6988);
	assert_int_equal(s.cmd_macked, 0);
	/* all zeros */
	memset(p, 0, 32);
	parse_apdu(w, host_wrap_raw_enc(&h, hdr, p, 32, w), &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6988);
	/* 80 followed by a non-zero byte */
	fill(p, 16, 2);
	p[14] = 0x80;
	p[15] = 0x01;
	parse_apdu(w, host_wrap_raw_enc(&h, hdr, p, 16, w), &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6988);
	/* 80 in the block before a block of zeros (over-long padding) */
	fill(p, 32, 3);
	p[15] = 0x80;
	memset(p + 16, 0, 16);
	parse_apdu(w, host_wrap_raw_enc(&h, hdr, p, 32, w), &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6988);
	/* not a whole number of blocks */
	fill(p, 17, 4);
	parse_apdu(w, host_wrap_raw_enc(&h, hdr, p, 17, w), &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x6988);
	/* the MAC verified each time: the session goes on */
	assert_int_equal(s.state, SCP03_STATE_OPEN);
	exchange(&h, &s, 10, 0, 0, 0x9000);
	/* a full block of padding is fine */
	memset(p, 0, 16);
	p[0] = 0x80;
	parse_apdu(w, host_wrap_raw_enc(&h, hdr, p, 16, w), &c);
	assert_int_equal(scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0),
			 0x9000);
	assert_int_equal(c.len, 0);
}

static void test_iu_errors(void **state)
{
	static const uint8_t dd[10], hc[8];
	uint8_t resp[40];
	size_t rl = 99;
	scp03_keyset_t ks;
	scp03_t s;

	(void)state;
	make_keyset(16, 0x30, &ks);
	scp03_reset(&s);
	ks.key_len = 20;
	assert_int_equal(scp03_initialize_update(&s, &hal, &ks, dd, hc, resp,
						 sizeof resp, &rl),
			 0x6A88);
	assert_int_equal(rl, 0);
	assert_int_equal(scp03_initialize_update(&s, &hal, NULL, dd, hc, resp,
						 sizeof resp, &rl),
			 0x6A88);
	ks.key_len = 16;
	assert_int_equal(
		scp03_initialize_update(&s, &hal, &ks, dd, hc, resp, 28, &rl),
		0x6F00);
	th.rng_fail = 1;
	assert_int_equal(scp03_initialize_update(&s, &hal, &ks, dd, hc, resp,
						 sizeof resp, &rl),
			 0x6F00);
	assert_wiped(&s);
	th.rng_fail = 0;
	/* two INITIALIZE UPDATEs give two card challenges */
	assert_int_equal(scp03_initialize_update(&s, &hal, &ks, dd, hc, resp,
						 sizeof resp, &rl),
			 0x9000);
	memcpy(resp + 32, resp + 13, 8);
	assert_int_equal(scp03_initialize_update(&s, &hal, &ks, dd, hc, resp,
						 sizeof resp, &rl),
			 0x9000);
	assert_memory_not_equal(resp + 32, resp + 13, 8);
	assert_int_equal(s.state, SCP03_STATE_INIT);
}

static void test_wrap_limits(void **state)
{
	uint8_t r[64];
	size_t rl;
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;

	(void)state;
	make_keyset(16, 0x30, &ks);
	host_open(&h, &s, &ks, 0x33);
	exchange(&h, &s, 0, 0, 0, 0x9000);
	/* 16 bytes of data need 32 + 8 with R-ENC */
	rl = 16;
	memset(r, 0x55, rl);
	assert_int_equal(scp03_wrap(&s, &hal, r, &rl, 39, 0x9000), 0x6F00);
	rl = 16;
	assert_int_equal(scp03_wrap(&s, &hal, r, &rl, 40, 0x9000), 0x9000);
	assert_int_equal(rl, 40);
	/* R-MAC only: data + 8 */
	host_open(&h, &s, &ks, 0x11);
	exchange(&h, &s, 0, 0, 0, 0x9000);
	rl = 10;
	assert_int_equal(scp03_wrap(&s, &hal, r, &rl, 17, 0x9000), 0x6F00);
	rl = 10;
	assert_int_equal(scp03_wrap(&s, &hal, r, &rl, 18, 0x9000), 0x9000);
	assert_int_equal(rl, 18);
	/* without R-MAC, or without a session, nothing changes */
	host_open(&h, &s, &ks, 0x03);
	rl = 10;
	assert_int_equal(scp03_wrap(&s, &hal, r, &rl, 10, 0x9000), 0x9000);
	assert_int_equal(rl, 10);
	scp03_reset(&s);
	assert_int_equal(scp03_wrap(&s, &hal, r, &rl, 10, 0x6A82), 0x9000);
	assert_int_equal(rl, 10);
}

static void test_dek_decrypt(void **state)
{
	uint8_t plain[48], buf[48];
	scp03_keyset_t ks;
	size_t kl;

	(void)state;
	for (kl = 16; kl <= 32; kl += 8) {
		make_keyset(kl, 0x30, &ks);
		fill(plain, sizeof plain, (unsigned)kl);
		assert_true(ossl_cipher(HAL_CIPHER_AES, HAL_MODE_CBC, 1, ks.dek,
					kl, NULL, plain, sizeof plain, buf));
		assert_int_equal(scp03_dek_decrypt(&hal, &ks, buf, sizeof buf),
				 0x9000);
		assert_memory_equal(buf, plain, sizeof plain);
	}
	assert_int_equal(scp03_dek_decrypt(&hal, &ks, buf, 15), 0x6A80);
	assert_int_equal(scp03_dek_decrypt(&hal, &ks, buf, 0), 0x6A80);
	ks.key_len = 8;
	assert_int_equal(scp03_dek_decrypt(&hal, &ks, buf, 16), 0x6A88);
	ks.key_len = 16;
	th.fail_at = th.crypto_calls + 1;
	assert_int_equal(scp03_dek_decrypt(&hal, &ks, buf, 16), 0x6F00);
}

/*
 * Fail the Nth crypto call of a whole session (IU, EA, a C-DEC command, an
 * R-ENC response), for every N until the session completes untouched. The
 * step that meets the failure answers 6F00 and the session is closed and
 * wiped.
 */
static void test_crypto_fault_sweep(void **state)
{
	static const uint8_t dd[10];
	static const uint8_t hdr[4] = { 0x80, 0xE2, 0x00, 0x00 };
	static const size_t kls[] = { 16, 24, 32 };
	size_t k;

	(void)state;
	for (k = 0; k < 3; k++) {
		long n;
		int completed = 0;

		for (n = 1; !completed; n++) {
			scp03_keyset_t ks;
			host_t h;
			scp03_t s;
			uint8_t w[96], r[96], resp[40];
			size_t wl, rl, l;
			uint16_t sw;
			capdu_t c;

			assert_true(n < 500);
			make_keyset(kls[k], 0x30, &ks);
			scp03_reset(&s);
			memset(&h, 0, sizeof h);
			h.ks = &ks;
			h.kl = kls[k];
			th.crypto_calls = 0;
			th.fail_at = n;
			sw = scp03_initialize_update(&s, &hal, &ks, dd, h.hc,
						     resp, sizeof resp, &l);
			if (sw != 0x9000)
				goto failed;
			memcpy(h.cc, resp + 13, 8);
			host_derive(ks.enc, h.kl, 4, h.hc, h.cc, h.kl, h.senc);
			host_derive(ks.mac, h.kl, 6, h.hc, h.cc, h.kl, h.smac);
			host_derive(ks.mac, h.kl, 7, h.hc, h.cc, h.kl, h.srmac);
			wl = host_ext_auth(&h, 0x33, w);
			sw = scp03_external_authenticate(&s, &hal, w, wl);
			if (sw != 0x9000)
				goto failed;
			h.level = 0x33;
			wl = host_wrap(&h, hdr,
				       (const uint8_t *)"0123456789"
							"0123456789",
				       20, 0, 1, w);
			parse_apdu(w, wl, &c);
			sw = scp03_unwrap(&s, &hal, c.hdr, c.data, &c.len, 0);
			if (sw != 0x9000)
				goto failed;
			rl = 20;
			memset(r, 0x33, rl);
			sw = scp03_wrap(&s, &hal, r, &rl, sizeof r, 0x9000);
			if (sw != 0x9000) {
				assert_int_equal(rl, 0);
				goto failed;
			}
			assert_true(th.crypto_calls < n);
			completed = 1;
			host_unwrap(&h, r, rl, 0x9000, w, &l);
			assert_int_equal(l, 20);
			continue;
failed:
			assert_int_equal(sw, 0x6F00);
			assert_int_equal(th.crypto_calls, n);
			assert_wiped(&s);
		}
		print_message("AES-%zu: %ld crypto calls swept\n", kls[k] * 8,
			      n - 2);
	}
	th.fail_at = 0;
}

static void test_reset_wipes(void **state)
{
	scp03_keyset_t ks;
	host_t h;
	scp03_t s;

	(void)state;
	make_keyset(32, 0x30, &ks);
	host_open(&h, &s, &ks, 0x33);
	exchange(&h, &s, 5, 0, 5, 0x9000);
	assert_memory_not_equal(s.s_enc, zero32, 32);
	scp03_reset(&s);
	assert_wiped(&s);
	assert_int_equal(s.level, 0);
	assert_int_equal(s.enc_counter, 0);
	assert_int_equal(s.cmd_macked, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_pysim_traces, setup),
		cmocka_unit_test_setup(test_sessions_all_levels, setup),
		cmocka_unit_test_setup(test_level00_macked_command, setup),
		cmocka_unit_test_setup(test_extended_lc_in_mac, setup),
		cmocka_unit_test_setup(test_logical_channel_cla, setup),
		cmocka_unit_test_setup(test_wrong_host_cryptogram, setup),
		cmocka_unit_test_setup(test_wrong_ea_mac, setup),
		cmocka_unit_test_setup(test_ea_without_iu, setup),
		cmocka_unit_test_setup(test_ea_bad_params, setup),
		cmocka_unit_test_setup(test_wrong_cmac_closes, setup),
		cmocka_unit_test_setup(test_short_mac, setup),
		cmocka_unit_test_setup(test_plain_command_in_mac_session,
				       setup),
		cmocka_unit_test_setup(test_command_after_iu_abandons, setup),
		cmocka_unit_test_setup(test_replay, setup),
		cmocka_unit_test_setup(test_bad_padding, setup),
		cmocka_unit_test_setup(test_iu_errors, setup),
		cmocka_unit_test_setup(test_wrap_limits, setup),
		cmocka_unit_test_setup(test_dek_decrypt, setup),
		cmocka_unit_test_setup(test_crypto_fault_sweep, setup),
		cmocka_unit_test_setup(test_reset_wipes, setup),
	};

	return cmocka_run_group_tests_name("scp03", tests, NULL, NULL);
}
