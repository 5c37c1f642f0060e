/*
 * scp03_host.c - GlobalPlatform SCP03, host side, on OpenSSL (contract and
 * the protocol in scp03_host.h).
 *
 * Every primitive is one libcrypto call: AES-CMAC through EVP_MAC ("CMAC"
 * with an AES-CBC cipher of the key's size), AES-ECB and AES-CBC through
 * EVP_CIPHER without padding (the protocol pads itself, ISO/IEC 9797-1
 * method 2).
 */
#define _POSIX_C_SOURCE 200809L

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "perso/scp03_host.h"

#define BLOCK 16u
#define HALF 8u

/* Derivation constants, Amendment D Table 4-1. */
#define DC_CARD_CRYPTOGRAM 0x00
#define DC_HOST_CRYPTOGRAM 0x01
#define DC_S_ENC 0x04
#define DC_S_MAC 0x06
#define DC_S_RMAC 0x07

const char *scp03_host_strerror(scp03_host_status_t st)
{
	switch (st) {
	case SCP03_HOST_OK:
		return "success";
	case SCP03_HOST_ERR_PARAM:
		return "invalid argument";
	case SCP03_HOST_ERR_STATE:
		return "SCP03 step out of order";
	case SCP03_HOST_ERR_RESPONSE:
		return "the card's INITIALIZE UPDATE response is not SCP03 "
		       "with this key version";
	case SCP03_HOST_ERR_CARD_AUTH:
		return "wrong card cryptogram: the card does not hold these "
		       "keys";
	case SCP03_HOST_ERR_CRYPTO:
		return "libcrypto failed";
	case SCP03_HOST_ERR_APDU:
		return "not a valid command APDU, or too long once wrapped";
	}
	return "unknown SCP03 host error";
}

static const char *cbc_name(size_t key_len)
{
	switch (key_len) {
	case 16:
		return "AES-128-CBC";
	case 24:
		return "AES-192-CBC";
	case 32:
		return "AES-256-CBC";
	default:
		return NULL;
	}
}

static const EVP_CIPHER *cipher_of(size_t key_len, int cbc)
{
	switch (key_len) {
	case 16:
		return cbc ? EVP_aes_128_cbc() : EVP_aes_128_ecb();
	case 24:
		return cbc ? EVP_aes_192_cbc() : EVP_aes_192_ecb();
	case 32:
		return cbc ? EVP_aes_256_cbc() : EVP_aes_256_ecb();
	default:
		return NULL;
	}
}

/* AES-CMAC over the concatenation of up to three parts. */
static int cmac3(const uint8_t *key, size_t key_len, const uint8_t *a,
		 size_t an, const uint8_t *b, size_t bn, const uint8_t *c,
		 size_t cn, uint8_t mac[BLOCK])
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[2];
	size_t out = 0;
	int ok = 0;

	if (ctx != NULL && cbc_name(key_len) != NULL) {
		params[0] = OSSL_PARAM_construct_utf8_string(
			OSSL_MAC_PARAM_CIPHER, (char *)cbc_name(key_len), 0);
		params[1] = OSSL_PARAM_construct_end();
		ok = EVP_MAC_init(ctx, key, key_len, params) == 1 &&
		     (an == 0 || EVP_MAC_update(ctx, a, an) == 1) &&
		     (bn == 0 || EVP_MAC_update(ctx, b, bn) == 1) &&
		     (cn == 0 || EVP_MAC_update(ctx, c, cn) == 1) &&
		     EVP_MAC_final(ctx, mac, &out, BLOCK) == 1 && out == BLOCK;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	return ok;
}

/* AES, no padding; iv NULL for ECB. */
static int aes(const uint8_t *key, size_t key_len, const uint8_t *iv,
	       const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *c = cipher_of(key_len, iv != NULL);
	int l1 = 0, l2 = 0, ok = 0;

	if (ctx != NULL && c != NULL && n % BLOCK == 0 && n <= 0x10000) {
		ok = EVP_EncryptInit_ex(ctx, c, NULL, key, iv) == 1 &&
		     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
		     EVP_EncryptUpdate(ctx, out, &l1, in, (int)n) == 1 &&
		     EVP_EncryptFinal_ex(ctx, out + l1, &l2) == 1 &&
		     (size_t)(l1 + l2) == n;
	}
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* out_len bytes of KDF(key, constant, host || card challenge). */
static int kdf(const scp03_host_t *s, const uint8_t *key, uint8_t constant,
	       uint8_t *out, size_t out_len)
{
	uint8_t in[16 + 16], blk[BLOCK];
	size_t done = 0, take;
	unsigned bits = (unsigned)out_len * 8u;
	uint8_t i;
	int ok = 1;

	memset(in, 0, sizeof in);
	in[11] = constant;
	in[12] = 0x00; /* separation indicator */
	in[13] = (uint8_t)(bits >> 8);
	in[14] = (uint8_t)bits;
	memcpy(in + 16, s->host_chal, 8);
	memcpy(in + 24, s->card_chal, 8);
	for (i = 1; ok && done < out_len; i++) {
		in[15] = i;
		ok = cmac3(key, s->key_len, in, sizeof in, NULL, 0, NULL, 0,
			   blk);
		take = out_len - done < BLOCK ? out_len - done : BLOCK;
		if (ok)
			memcpy(out + done, blk, take);
		done += take;
	}
	OPENSSL_cleanse(blk, sizeof blk);
	return ok;
}

void scp03_host_end(scp03_host_t *s)
{
	OPENSSL_cleanse(s, sizeof *s);
}

scp03_host_status_t scp03_host_begin(scp03_host_t *s,
				     const scp03_host_keys_t *keys,
				     const uint8_t host_chal[8])
{
	scp03_host_end(s);
	if (keys == NULL || cbc_name(keys->key_len) == NULL)
		return SCP03_HOST_ERR_PARAM;
	s->kvn = keys->kvn;
	s->key_len = keys->key_len;
	memcpy(s->enc, keys->enc, keys->key_len);
	memcpy(s->mac, keys->mac, keys->key_len);
	memcpy(s->host_chal, host_chal, 8);
	return SCP03_HOST_OK;
}

scp03_host_status_t scp03_host_initialize_update(scp03_host_t *s, uint8_t *apdu,
						 size_t cap, size_t *len)
{
	*len = 0;
	if (s->key_len == 0 || s->state != 0)
		return SCP03_HOST_ERR_STATE;
	if (cap < 14)
		return SCP03_HOST_ERR_PARAM;
	apdu[0] = 0x80;
	apdu[1] = 0x50;
	apdu[2] = s->kvn;
	apdu[3] = 0x00;
	apdu[4] = 0x08;
	memcpy(apdu + 5, s->host_chal, 8);
	apdu[13] = 0x00;
	*len = 14;
	s->state = 1;
	return SCP03_HOST_OK;
}

scp03_host_status_t
scp03_host_external_authenticate(scp03_host_t *s, const uint8_t *resp,
				 size_t resp_len, uint8_t level, uint8_t *apdu,
				 size_t cap, size_t *len)
{
	uint8_t expect[HALF], host_cgram[HALF], mac[BLOCK];
	scp03_host_status_t st;

	*len = 0;
	if (s->state != 1)
		return SCP03_HOST_ERR_STATE;
	if (cap < 21 || (level != SCP03_HOST_C_MAC &&
			 level != (SCP03_HOST_C_MAC | SCP03_HOST_C_DEC))) {
		st = SCP03_HOST_ERR_PARAM;
		goto fail;
	}
	/* divdata 10 | kvn | 03 | i | card challenge 8 | card cryptogram 8
	 * (| sequence counter 3 with pseudo-random challenges) */
	if ((resp_len != 29 && resp_len != 32) || resp[11] != 0x03 ||
	    (s->kvn != 0 && resp[10] != s->kvn) || (resp[12] & 0x01)) {
		st = SCP03_HOST_ERR_RESPONSE;
		goto fail;
	}
	memcpy(s->card_chal, resp + 13, 8);
	if (!kdf(s, s->enc, DC_S_ENC, s->s_enc, s->key_len) ||
	    !kdf(s, s->mac, DC_S_MAC, s->s_mac, s->key_len) ||
	    !kdf(s, s->mac, DC_S_RMAC, s->s_rmac, s->key_len) ||
	    !kdf(s, s->s_mac, DC_CARD_CRYPTOGRAM, expect, HALF) ||
	    !kdf(s, s->s_mac, DC_HOST_CRYPTOGRAM, host_cgram, HALF)) {
		st = SCP03_HOST_ERR_CRYPTO;
		goto fail;
	}
	/* The static keys are not needed any more. */
	OPENSSL_cleanse(s->enc, sizeof s->enc);
	OPENSSL_cleanse(s->mac, sizeof s->mac);
	if (CRYPTO_memcmp(expect, resp + 21, HALF) != 0) {
		st = SCP03_HOST_ERR_CARD_AUTH;
		goto fail;
	}
	apdu[0] = 0x84;
	apdu[1] = 0x82;
	apdu[2] = level;
	apdu[3] = 0x00;
	apdu[4] = 0x10;
	memcpy(apdu + 5, host_cgram, HALF);
	memset(s->chain, 0, sizeof s->chain);
	if (!cmac3(s->s_mac, s->key_len, s->chain, BLOCK, apdu, 13, NULL, 0,
		   mac)) {
		st = SCP03_HOST_ERR_CRYPTO;
		goto fail;
	}
	memcpy(s->chain, mac, BLOCK);
	memcpy(apdu + 13, mac, HALF);
	*len = 21;
	s->level = level;
	s->counter = 0;
	s->state = 2;
	OPENSSL_cleanse(mac, sizeof mac);
	return SCP03_HOST_OK;
fail:
	OPENSSL_cleanse(mac, sizeof mac);
	scp03_host_end(s);
	return st;
}

/* Split a command APDU into its parts (ISO/IEC 7816-3 cases). */
static int parse_apdu(const uint8_t *a, size_t n, size_t *lc, size_t *off,
		      int *has_le, size_t *le, int *ext)
{
	*lc = 0;
	*off = n;
	*has_le = 0;
	*le = 0;
	*ext = 0;
	if (n < 4)
		return -1;
	if (n == 4)
		return 0; /* case 1 */
	if (n == 5) {	  /* case 2 short */
		*has_le = 1;
		*le = a[4] ? a[4] : 256;
		return 0;
	}
	if (a[4] != 0) { /* case 3 or 4, short */
		*lc = a[4];
		*off = 5;
		if (n == 5 + *lc)
			return 0;
		if (n == 6 + *lc) {
			*has_le = 1;
			*le = a[n - 1] ? a[n - 1] : 256;
			return 0;
		}
		return -1;
	}
	*ext = 1;
	if (n == 7) { /* case 2 extended */
		*has_le = 1;
		*le = ((size_t)a[5] << 8 | a[6]);
		if (*le == 0)
			*le = 65536;
		return 0;
	}
	*lc = ((size_t)a[5] << 8 | a[6]);
	*off = 7;
	if (*lc == 0)
		return -1;
	if (n == 7 + *lc)
		return 0;
	if (n == 9 + *lc) {
		*has_le = 1;
		*le = ((size_t)a[n - 2] << 8 | a[n - 1]);
		if (*le == 0)
			*le = 65536;
		return 0;
	}
	return -1;
}

scp03_host_status_t scp03_host_wrap(scp03_host_t *s, const uint8_t *apdu,
				    size_t n, uint8_t *out, size_t cap,
				    size_t *out_len)
{
	uint8_t icv[BLOCK], ctr[BLOCK], mac[BLOCK];
	size_t lc, off, le, body, hl, pos;
	int has_le, ext;
	scp03_host_status_t st = SCP03_HOST_OK;

	*out_len = 0;
	if (s->state != 2)
		return SCP03_HOST_ERR_STATE;
	if (parse_apdu(apdu, n, &lc, &off, &has_le, &le, &ext) != 0 ||
	    (apdu[0] & 0x43) != 0 || (apdu[0] & 0x10) != 0)
		return SCP03_HOST_ERR_APDU; /* not CLA 0x/8x on channel 0 */
	s->counter++; /* every command of the session moves it */

	body = lc;
	if ((s->level & SCP03_HOST_C_DEC) && lc > 0)
		body = (lc / BLOCK + 1) * BLOCK;
	if (body + HALF > 0xFFFF)
		return SCP03_HOST_ERR_APDU;
	if (body + HALF > 255)
		ext = 1;
	hl = ext ? 7 : 5;
	if (cap < hl + body + HALF + (has_le ? (ext ? 2u : 1u) : 0u))
		return SCP03_HOST_ERR_PARAM;

	out[0] = (uint8_t)(apdu[0] | 0x04);
	out[1] = apdu[1];
	out[2] = apdu[2];
	out[3] = apdu[3];
	if (ext) {
		out[4] = 0x00;
		out[5] = (uint8_t)((body + HALF) >> 8);
		out[6] = (uint8_t)(body + HALF);
	} else {
		out[4] = (uint8_t)(body + HALF);
	}
	if (lc > 0)
		memcpy(out + hl, apdu + off, lc);
	if (body != lc) {
		/* C-DEC: pad (80 00..), ICV from the counter, AES-CBC. */
		out[hl + lc] = 0x80;
		memset(out + hl + lc + 1, 0, body - lc - 1);
		memset(ctr, 0, sizeof ctr);
		ctr[12] = (uint8_t)(s->counter >> 24);
		ctr[13] = (uint8_t)(s->counter >> 16);
		ctr[14] = (uint8_t)(s->counter >> 8);
		ctr[15] = (uint8_t)s->counter;
		if (!aes(s->s_enc, s->key_len, NULL, ctr, BLOCK, icv) ||
		    !aes(s->s_enc, s->key_len, icv, out + hl, body, out + hl)) {
			st = SCP03_HOST_ERR_CRYPTO;
			goto fail;
		}
	}
	if (!cmac3(s->s_mac, s->key_len, s->chain, BLOCK, out, hl + body, NULL,
		   0, mac)) {
		st = SCP03_HOST_ERR_CRYPTO;
		goto fail;
	}
	memcpy(s->chain, mac, BLOCK);
	pos = hl + body;
	memcpy(out + pos, mac, HALF);
	pos += HALF;
	if (has_le) {
		if (ext) {
			out[pos++] = (uint8_t)((le == 65536 ? 0 : le) >> 8);
			out[pos++] = (uint8_t)(le == 65536 ? 0 : le);
		} else {
			out[pos++] = (uint8_t)(le == 256 ? 0 : le);
		}
	}
	*out_len = pos;
	OPENSSL_cleanse(icv, sizeof icv);
	OPENSSL_cleanse(mac, sizeof mac);
	return SCP03_HOST_OK;
fail:
	OPENSSL_cleanse(out, cap);
	OPENSSL_cleanse(icv, sizeof icv);
	OPENSSL_cleanse(mac, sizeof mac);
	scp03_host_end(s);
	return st;
}
