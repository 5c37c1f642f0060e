/*
 * hal_crypto.c - the chip's crypto coprocessor and RNG, on the host.
 *
 * Both NVM back ends (hal_file.c, hal_mem.c) point their hal_t's rng, cipher
 * and cmac here; the ctx argument is ignored.
 *
 *   rng     getrandom(2) on the kernel's CSPRNG, looping over EINTR and
 *           short reads (getrandom returns at most 32 MiB - 1 per call and
 *           may be interrupted for requests above 256 bytes).
 *   cipher  OpenSSL EVP: AES-128/192/256 and two- or three-key 3DES
 *           (DES-EDE, DES-EDE3), ECB or CBC, no padding. The card OS pads
 *           itself (ISO/IEC 9797-1 method 2 for secure messaging), so a
 *           length that is not a multiple of the block is a bug on its side
 *           and fails with HAL_ERR_CRYPTO rather than being padded silently.
 *   cmac    NIST SP 800-38B through OpenSSL 3's EVP_MAC "CMAC", parametrised
 *           by the CBC cipher's name (the MAC's block is the cipher's).
 *
 * This sits on the APDU hot path of a secure channel (every SCP03 command
 * costs one or two CMACs and a CBC pass), so the EVP_CIPHER and EVP_MAC
 * method objects are fetched once, under pthread_once, and kept for the life
 * of the process: an implicit fetch by name on every call goes through
 * OpenSSL's method store (a lock and a hash lookup). The per-call context
 * (EVP_CIPHER_CTX / EVP_MAC_CTX) is still allocated and freed each time:
 * keeping it around would keep a key schedule alive between calls.
 * One fetch remains per CMAC: OpenSSL 3's CMAC takes its cipher by name and
 * resolves it at every EVP_MAC_init; only the deprecated CMAC_Init() takes
 * an EVP_CIPHER. Measured on the dev box, a 16-byte AES-CMAC costs ~1.4 us
 * (~0.55 us of it that lookup), an AES-CBC pass over 256 bytes ~0.6 us:
 * noise beside an APDU's round trip.
 * Freeing a context cleanses its key schedule inside OpenSSL; our own
 * temporaries holding key-derived bytes are wiped with OPENSSL_cleanse.
 *
 * Thread-safety: every function here is safe to call from many threads at
 * once (the cached method objects are immutable and reference-counted).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hal/hal_host.h"

#define AES_BLOCK 16
#define DES_BLOCK 8

/* ---- RNG ---- */

hal_status_t hal_host_rng(void *ctx, uint8_t *dst, size_t len)
{
	(void)ctx;
	if (len == 0)
		return HAL_OK;
	if (!dst)
		return HAL_ERR_PARAM;

	size_t done = 0;
	while (done < len) {
		/* flags 0: block until the pool is initialised at boot, never
		 * after; that is what we want from a chip's TRNG. */
		ssize_t n = getrandom(dst + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return HAL_ERR_RNG;
		}
		done += (size_t)n;
	}
	return HAL_OK;
}

/* ---- Method objects, fetched once ---- */

/*
 * Index into the cipher table: [alg/key size][mode]. The table order is the
 * one cipher_index() computes; a NULL entry (fetch failed, e.g. a FIPS-only
 * configuration without 3DES) makes every call with it fail HAL_ERR_CRYPTO.
 */
enum {
	CI_AES128,
	CI_AES192,
	CI_AES256,
	CI_DES_EDE,  /* two-key 3DES, 16-byte key */
	CI_DES_EDE3, /* three-key 3DES, 24-byte key */
	CI_COUNT
};

static const char *const cipher_names[CI_COUNT][2] = {
	[CI_AES128] = { "AES-128-ECB", "AES-128-CBC" },
	[CI_AES192] = { "AES-192-ECB", "AES-192-CBC" },
	[CI_AES256] = { "AES-256-ECB", "AES-256-CBC" },
	[CI_DES_EDE] = { "DES-EDE-ECB", "DES-EDE-CBC" },
	[CI_DES_EDE3] = { "DES-EDE3-ECB", "DES-EDE3-CBC" },
};

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *ciphers[CI_COUNT][2];
static EVP_MAC *cmac_method;

static void fetch_methods(void)
{
	for (int i = 0; i < CI_COUNT; i++)
		for (int m = 0; m < 2; m++)
			ciphers[i][m] = EVP_CIPHER_fetch(
				NULL, cipher_names[i][m], NULL);
	cmac_method = EVP_MAC_fetch(NULL, "CMAC", NULL);
	/* A failed fetch leaves an error on this thread's OpenSSL error
	 * queue; it is reported through HAL_ERR_CRYPTO at use, so drop it
	 * rather than let it surface in some unrelated later call. */
	ERR_clear_error();
}

/* The table row for (alg, key_len), or -1 if the pair is not supported. */
static int cipher_index(hal_cipher_t alg, size_t key_len)
{
	switch (alg) {
	case HAL_CIPHER_AES:
		switch (key_len) {
		case 16:
			return CI_AES128;
		case 24:
			return CI_AES192;
		case 32:
			return CI_AES256;
		}
		return -1;
	case HAL_CIPHER_3DES:
		switch (key_len) {
		case 16:
			return CI_DES_EDE;
		case 24:
			return CI_DES_EDE3;
		}
		return -1;
	}
	return -1;
}

static size_t block_size(hal_cipher_t alg)
{
	return alg == HAL_CIPHER_AES ? AES_BLOCK : DES_BLOCK;
}

/* ---- Block cipher ---- */

hal_status_t hal_host_cipher(void *ctx, hal_cipher_t alg, hal_mode_t mode,
			     int encrypt, const uint8_t *key, size_t key_len,
			     const uint8_t *iv, const uint8_t *in, size_t len,
			     uint8_t *out)
{
	static const uint8_t zero_iv[AES_BLOCK];
	(void)ctx;

	int row = cipher_index(alg, key_len);
	if (row < 0)
		return HAL_ERR_CRYPTO;
	if (mode != HAL_MODE_ECB && mode != HAL_MODE_CBC)
		return HAL_ERR_CRYPTO;
	if (len % block_size(alg) != 0)
		return HAL_ERR_CRYPTO;
	if (!key || (len && (!in || !out)))
		return HAL_ERR_PARAM;
	/* EVP_CipherUpdate takes an int length. */
	if (len > (size_t)INT32_MAX)
		return HAL_ERR_PARAM;
	if (len == 0)
		return HAL_OK;

	pthread_once(&fetch_once, fetch_methods);
	const EVP_CIPHER *c = ciphers[row][mode == HAL_MODE_CBC];
	if (!c)
		return HAL_ERR_CRYPTO;

	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	if (!cc)
		return HAL_ERR_CRYPTO;

	hal_status_t st = HAL_ERR_CRYPTO;
	int outl = 0, finl = 0;
	/* ECB takes no IV; CBC's NULL IV means zeros (hal.h), passed
	 * explicitly rather than trusting whatever a fresh context holds. */
	const uint8_t *ivp = mode == HAL_MODE_CBC ? (iv ? iv : zero_iv) : NULL;
	if (EVP_CipherInit_ex2(cc, c, key, ivp, encrypt ? 1 : 0, NULL) != 1)
		goto out;
	if (EVP_CIPHER_CTX_set_padding(cc, 0) != 1)
		goto out;
	/* in == out is fine for EVP (in place); partial overlap is refused
	 * by OpenSSL and comes back as HAL_ERR_CRYPTO. */
	if (EVP_CipherUpdate(cc, out, &outl, in, (int)len) != 1)
		goto out;
	/* Without padding and with whole blocks, Final emits nothing; it is
	 * still called so that a misaligned length can never pass unseen. */
	if (EVP_CipherFinal_ex(cc, out + outl, &finl) != 1)
		goto out;
	if ((size_t)outl + (size_t)finl != len)
		goto out;
	st = HAL_OK;
out:
	EVP_CIPHER_CTX_free(cc); /* cleanses the key schedule */
	if (st != HAL_OK)
		ERR_clear_error();
	return st;
}

/* ---- CMAC ---- */

hal_status_t hal_host_cmac(void *ctx, hal_cipher_t alg, const uint8_t *key,
			   size_t key_len, const uint8_t *in, size_t len,
			   uint8_t *mac)
{
	(void)ctx;

	int row = cipher_index(alg, key_len);
	if (row < 0)
		return HAL_ERR_CRYPTO;
	if (!key || !mac || (len && !in))
		return HAL_ERR_PARAM;

	pthread_once(&fetch_once, fetch_methods);
	if (!cmac_method)
		return HAL_ERR_CRYPTO;

	EVP_MAC_CTX *mc = EVP_MAC_CTX_new(cmac_method);
	if (!mc)
		return HAL_ERR_CRYPTO;

	/* CMAC is defined over the CBC variant of the cipher; the name is
	 * copied by the provider, so a string literal is fine. */
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(
			OSSL_MAC_PARAM_CIPHER, (char *)cipher_names[row][1], 0),
		OSSL_PARAM_construct_end(),
	};

	hal_status_t st = HAL_ERR_CRYPTO;
	size_t bs = block_size(alg), outl = 0;
	uint8_t tag[AES_BLOCK]; /* largest block; final writes here first */
	if (EVP_MAC_init(mc, key, key_len, params) != 1)
		goto out;
	if (len && EVP_MAC_update(mc, in, len) != 1)
		goto out;
	if (EVP_MAC_final(mc, tag, &outl, sizeof tag) != 1)
		goto out;
	if (outl != bs)
		goto out;
	memcpy(mac, tag, bs);
	st = HAL_OK;
out:
	OPENSSL_cleanse(tag, sizeof tag);
	EVP_MAC_CTX_free(mc); /* cleanses the key schedule and state */
	if (st != HAL_OK)
		ERR_clear_error();
	return st;
}
