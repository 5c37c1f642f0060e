/*
 * scp03.c - GlobalPlatform SCP03, card side (GP Card Specification v2.3,
 * Amendment D). The contract is in scp03.h; this block says how it works.
 *
 * Session opening (explicit, S8 mode):
 *
 *   INITIALIZE UPDATE carries an 8-byte host challenge. The card draws an
 *   8-byte card challenge from hal->rng and derives three session keys from
 *   its static keys with the Amendment D KDF (below), context = host
 *   challenge || card challenge:
 *       S-ENC  = KDF(static ENC, 04)    S-MAC = KDF(static MAC, 06)
 *       S-RMAC = KDF(static MAC, 07)
 *   and answers with its card cryptogram = KDF(S-MAC, 00, 64 bits). The host
 *   checks it and sends EXTERNAL AUTHENTICATE with its host cryptogram =
 *   KDF(S-MAC, 01, 64 bits), C-MACed (chaining value 16 zero bytes). The card
 *   checks both; the session is then open at the level of P1.
 *
 * The KDF (Amendment D 4.1.5) is NIST SP 800-108 in counter mode with
 * AES-CMAC as PRF, the counter in the middle of the fixed input:
 *     label (11 x 00, derivation constant) || 00 || L (2 bytes, bits)
 *     || i (1 byte, from 1) || context
 * and as many 16-byte blocks as L needs (two for AES-192 and AES-256 keys).
 *
 * Commands (Amendment D 6.2.4, 6.2.6):
 *   C-MAC = first 8 bytes of CMAC(S-MAC, chaining value || CLA' INS P1 P2
 *   || Lc || data), where Lc counts the MAC and is encoded as received (one
 *   byte, or 00 hi lo for extended length), data is the data field as sent
 *   (encrypted when C-DEC), and CLA' is the CLA with the logical channel set
 *   to zero, b4 = 0 and b3 = 1 (Amendment D's literal rule; on channel 0 it
 *   is the CLA as received). The full 16-byte CMAC is the next chaining
 *   value, so every command's MAC depends on all those before it: replaying
 *   an old command fails.
 *   C-DEC: an encryption counter starts at 0 when the session opens and is
 *   incremented for every C-MACed command, data or not; ICV = AES(S-ENC,
 *   counter as a 16-byte big-endian block); data = AES-CBC(S-ENC, ICV,
 *   data || 80 00..) (ISO/IEC 9797-1 padding method 2). MAC is computed over
 *   the ciphertext, so the card verifies the MAC before it decrypts: bad
 *   padding can only come from the authenticated host, never from an
 *   attacker probing for a padding oracle.
 *
 * Responses (Amendment D 6.2.5, 6.2.7):
 *   R-ENC: ICV = AES(S-ENC, the command's counter block with its first byte
 *   set to 80); data || 80 00.. encrypted with AES-CBC, nothing if no data.
 *   R-MAC = first 8 bytes of CMAC(S-RMAC, the command's chaining value ||
 *   data || SW1 SW2). The R-MAC does not change the chaining value.
 *   Error status words (not 9000, 62xx, 63xx) get neither.
 *
 * CMAC over an APDU: the MAC input is the chaining value, a rebuilt header
 * and the caller's data, which are not contiguous; copying them into one
 * buffer would cost up to 1 KiB of RAM. So APDU MACs use a streaming CMAC
 * (NIST SP 800-38B) built on the HAL's AES-ECB: a 16-byte state, one block
 * held back until it is known whether it is the last one. The KDF's input is
 * 32 contiguous bytes and goes to hal->cmac directly.
 *
 * Secrets: session keys live in the scp03_t; every failure on the
 * authentication path and every MAC failure wipes it (scp03_reset).
 * Temporaries that hold key material (KDF blocks, CMAC subkeys) are wiped
 * before returning. MACs and cryptograms are compared in constant time.
 *
 * Freestanding: no libc but the compiler's memcpy/memset builtins.
 */
#include "cos/scp03.h"

#define MEMCPY __builtin_memcpy
#define MEMSET __builtin_memset

#define SW_OK 0x9000u
#define SW_WRONG_LENGTH 0x6700u
#define SW_AUTH_FAILED 0x6300u
#define SW_SECURITY 0x6982u
#define SW_CONDITIONS 0x6985u
#define SW_SM_INCORRECT 0x6988u
#define SW_WRONG_DATA 0x6A80u
#define SW_WRONG_P1P2 0x6A86u
#define SW_NOT_FOUND 0x6A88u
#define SW_UNKNOWN 0x6F00u

/* Derivation constants, Amendment D Table 4-1. */
#define DC_CARD_CRYPTOGRAM 0x00
#define DC_HOST_CRYPTOGRAM 0x01
#define DC_S_ENC 0x04
#define DC_S_MAC 0x06
#define DC_S_RMAC 0x07

#define BLOCK 16u
#define MAC_LEN 8u
#define CHAL_LEN 8u

/* ---- small helpers ---- */

/* A zeroing loop the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = (volatile uint8_t *)p;

	while (n--)
		*v++ = 0;
}

/* 1 if equal, 0 if not; time depends on n only. */
static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d = (uint8_t)(d | (a[i] ^ b[i]));
	return (int)(1u & (((unsigned)d - 1u) >> 8));
}

static int key_len_ok(size_t n)
{
	return n == 16 || n == 24 || n == 32;
}

/* The levels of Amendment D Table 7-6. */
static int level_ok(uint8_t l)
{
	return l == 0x00 || l == 0x01 || l == 0x03 || l == 0x11 || l == 0x13 ||
	       l == 0x33;
}

/* GP class byte: first interindustry (0x/8x) has the SM bit in b3 and the
 * logical channel in b2 b1; further interindustry (4x-7x, Cx-Fx) has it in
 * b6 and the channel in b4..b1. */
static uint8_t cla_sm_bit(uint8_t cla)
{
	return (cla & 0x40) ? 0x20 : 0x04;
}

/* CLA as it enters the C-MAC (Amendment D 6.2.4): logical channel number
 * set to zero, b4 = 0, b3 = 1. */
static uint8_t cla_for_mac(uint8_t cla)
{
	return (uint8_t)((cla & 0xF0) | 0x04);
}

/* Error status words carry no R-MAC and no R-ENC (Amendment D 6.2.5). */
static int sw_is_error(uint16_t sw)
{
	uint8_t sw1 = (uint8_t)(sw >> 8);

	return !(sw == SW_OK || sw1 == 0x62 || sw1 == 0x63);
}

static hal_status_t aes_ecb(const hal_t *hal, const uint8_t *key,
			    size_t key_len, const uint8_t in[BLOCK],
			    uint8_t out[BLOCK])
{
	return hal->cipher(hal->ctx, HAL_CIPHER_AES, HAL_MODE_ECB, 1, key,
			   key_len, NULL, in, BLOCK, out);
}

/* ---- streaming AES-CMAC (NIST SP 800-38B) on the HAL's AES-ECB ---- */

typedef struct {
	const hal_t *hal;
	const uint8_t *key;
	size_t key_len;
	uint8_t x[BLOCK];   /* CBC-MAC state */
	uint8_t buf[BLOCK]; /* bytes not yet absorbed: the last block is held
			     * back until more data proves it is not last */
	size_t n;	    /* bytes in buf */
	hal_status_t st;    /* first failure; later calls do nothing */
} cmac_t;

static void cmac_init(cmac_t *c, const hal_t *hal, const uint8_t *key,
		      size_t key_len)
{
	c->hal = hal;
	c->key = key;
	c->key_len = key_len;
	MEMSET(c->x, 0, BLOCK);
	c->n = 0;
	c->st = HAL_OK;
}

static void cmac_update(cmac_t *c, const uint8_t *p, size_t len)
{
	size_t i, take;

	while (len > 0 && c->st == HAL_OK) {
		if (c->n == BLOCK) {
			/* A full block with more data after it: absorb. */
			for (i = 0; i < BLOCK; i++)
				c->x[i] ^= c->buf[i];
			c->st = aes_ecb(c->hal, c->key, c->key_len, c->x, c->x);
			c->n = 0;
		}
		take = BLOCK - c->n;
		if (take > len)
			take = len;
		MEMCPY(c->buf + c->n, p, take);
		c->n += take;
		p += take;
		len -= take;
	}
}

/* Doubling in GF(2^128), without a data-dependent branch. */
static void cmac_dbl(uint8_t k[BLOCK])
{
	uint8_t carry = (uint8_t)(0u - (k[0] >> 7)); /* 00 or FF */
	size_t i;

	for (i = 0; i < BLOCK - 1; i++)
		k[i] = (uint8_t)((k[i] << 1) | (k[i + 1] >> 7));
	k[BLOCK - 1] = (uint8_t)((k[BLOCK - 1] << 1) ^ (carry & 0x87));
}

/* Full 16-byte MAC; wipes the context. */
static hal_status_t cmac_final(cmac_t *c, uint8_t mac[BLOCK])
{
	uint8_t k[BLOCK];
	hal_status_t st = c->st;
	size_t i;

	if (st == HAL_OK) {
		MEMSET(k, 0, BLOCK);
		st = aes_ecb(c->hal, c->key, c->key_len, k, k); /* L */
	}
	if (st == HAL_OK) {
		cmac_dbl(k); /* K1 */
		if (c->n < BLOCK) {
			cmac_dbl(k); /* K2 */
			c->buf[c->n] = 0x80;
			for (i = c->n + 1; i < BLOCK; i++)
				c->buf[i] = 0x00;
		}
		for (i = 0; i < BLOCK; i++)
			c->x[i] ^= (uint8_t)(c->buf[i] ^ k[i]);
		st = aes_ecb(c->hal, c->key, c->key_len, c->x, mac);
	}
	wipe(k, sizeof k);
	wipe(c, sizeof *c);
	return st;
}

/* ---- KDF, Amendment D 4.1.5 ---- */

/*
 * out_len bytes of KDF(key, constant, context = host || card challenge),
 * L = out_len * 8. out_len <= 32.
 */
static hal_status_t kdf(const hal_t *hal, const uint8_t *key, size_t key_len,
			uint8_t constant, const uint8_t host_chal[CHAL_LEN],
			const uint8_t card_chal[CHAL_LEN], uint8_t *out,
			size_t out_len)
{
	uint8_t in[16 + 2 * CHAL_LEN];
	uint8_t blk[BLOCK];
	size_t done = 0, take;
	unsigned bits = (unsigned)out_len * 8u;
	hal_status_t st = HAL_OK;
	uint8_t i;

	MEMSET(in, 0, 11);
	in[11] = constant;
	in[12] = 0x00; /* separation indicator */
	in[13] = (uint8_t)(bits >> 8);
	in[14] = (uint8_t)bits;
	MEMCPY(in + 16, host_chal, CHAL_LEN);
	MEMCPY(in + 16 + CHAL_LEN, card_chal, CHAL_LEN);
	for (i = 1; done < out_len && st == HAL_OK; i++) {
		in[15] = i;
		st = hal->cmac(hal->ctx, HAL_CIPHER_AES, key, key_len, in,
			       sizeof in, blk);
		take = out_len - done;
		if (take > BLOCK)
			take = BLOCK;
		if (st == HAL_OK)
			MEMCPY(out + done, blk, take);
		done += take;
	}
	wipe(blk, sizeof blk);
	return st;
}

/* 16-byte block of the encryption counter, big-endian; first byte 80 for
 * R-ENC. The counter is 32 bits here: the session closes long before. */
static void counter_block(uint32_t ctr, int response, uint8_t b[BLOCK])
{
	MEMSET(b, 0, BLOCK);
	if (response)
		b[0] = 0x80;
	b[12] = (uint8_t)(ctr >> 24);
	b[13] = (uint8_t)(ctr >> 16);
	b[14] = (uint8_t)(ctr >> 8);
	b[15] = (uint8_t)ctr;
}

/* ICV for C-DEC (response = 0) or R-ENC (response = 1). */
static hal_status_t make_icv(const scp03_t *s, const hal_t *hal, int response,
			     uint8_t icv[BLOCK])
{
	uint8_t b[BLOCK];

	counter_block(s->enc_counter, response, b);
	return aes_ecb(hal, s->s_enc, s->key_len, b, icv);
}

/* Lc as it was encoded: 1 byte, or 00 hi lo for extended length. */
static size_t encode_lc(size_t lc, int ext, uint8_t out[3])
{
	if (!ext) {
		out[0] = (uint8_t)lc;
		return 1;
	}
	out[0] = 0x00;
	out[1] = (uint8_t)(lc >> 8);
	out[2] = (uint8_t)lc;
	return 3;
}

/* CMAC(S-MAC, chain || CLA' INS P1 P2 || Lc || body): full 16 bytes. */
static hal_status_t command_mac(const scp03_t *s, const hal_t *hal,
				const uint8_t hdr[4], size_t lc, int ext,
				const uint8_t *body, size_t body_len,
				uint8_t mac[BLOCK])
{
	cmac_t c;
	uint8_t h[4 + 3];
	size_t hl;

	h[0] = cla_for_mac(hdr[0]);
	h[1] = hdr[1];
	h[2] = hdr[2];
	h[3] = hdr[3];
	hl = 4 + encode_lc(lc, ext, h + 4);
	cmac_init(&c, hal, s->s_mac, s->key_len);
	cmac_update(&c, s->mac_chain, BLOCK);
	cmac_update(&c, h, hl);
	cmac_update(&c, body, body_len);
	return cmac_final(&c, mac);
}

/* ---- the interface ---- */

void scp03_reset(scp03_t *s)
{
	wipe(s, sizeof *s);
	s->state = SCP03_STATE_NONE;
}

uint16_t scp03_initialize_update(scp03_t *s, const hal_t *hal,
				 const scp03_keyset_t *ks,
				 const uint8_t divdata[10],
				 const uint8_t host_chal[8], uint8_t *resp,
				 size_t resp_cap, size_t *resp_len)
{
	uint8_t cgram[MAC_LEN];
	size_t kl;
	hal_status_t st;

	*resp_len = 0;
	scp03_reset(s); /* INITIALIZE UPDATE always starts afresh */
	if (ks == NULL || !key_len_ok(ks->key_len))
		return SW_NOT_FOUND;
	if (resp_cap < SCP03_IU_RESP_LEN)
		return SW_UNKNOWN;
	kl = ks->key_len;

	s->kvn = ks->kvn;
	s->key_len = ks->key_len;
	MEMCPY(s->host_chal, host_chal, CHAL_LEN);
	st = hal->rng(hal->ctx, s->card_chal, CHAL_LEN);
	if (st == HAL_OK)
		st = kdf(hal, ks->enc, kl, DC_S_ENC, s->host_chal, s->card_chal,
			 s->s_enc, kl);
	if (st == HAL_OK)
		st = kdf(hal, ks->mac, kl, DC_S_MAC, s->host_chal, s->card_chal,
			 s->s_mac, kl);
	if (st == HAL_OK)
		st = kdf(hal, ks->mac, kl, DC_S_RMAC, s->host_chal,
			 s->card_chal, s->s_rmac, kl);
	if (st == HAL_OK)
		st = kdf(hal, s->s_mac, kl, DC_CARD_CRYPTOGRAM, s->host_chal,
			 s->card_chal, cgram, MAC_LEN);
	if (st != HAL_OK) {
		scp03_reset(s);
		return SW_UNKNOWN;
	}

	MEMCPY(resp, divdata, 10);
	resp[10] = ks->kvn;
	resp[11] = 0x03;
	resp[12] = SCP03_I_PARAM;
	MEMCPY(resp + 13, s->card_chal, CHAL_LEN);
	MEMCPY(resp + 21, cgram, MAC_LEN);
	*resp_len = SCP03_IU_RESP_LEN;
	s->state = SCP03_STATE_INIT;
	return SW_OK;
}

uint16_t scp03_external_authenticate(scp03_t *s, const hal_t *hal,
				     const uint8_t *apdu, size_t apdu_len)
{
	uint8_t expect[MAC_LEN];
	uint8_t mac[BLOCK];
	const uint8_t *body;
	size_t lc, off;
	int ext;
	uint16_t sw;

	if (s->state != SCP03_STATE_INIT) {
		sw = SW_CONDITIONS;
		goto fail;
	}
	if (apdu_len < 5) {
		sw = SW_WRONG_LENGTH;
		goto fail;
	}
	/* Lc: short, or extended (00 hi lo) when the first byte is 00. */
	ext = apdu[4] == 0x00;
	if (ext) {
		if (apdu_len < 7) {
			sw = SW_WRONG_LENGTH;
			goto fail;
		}
		lc = ((size_t)apdu[5] << 8) | apdu[6];
		off = 7;
	} else {
		lc = apdu[4];
		off = 5;
	}
	/* Data, then at most an Le field (1 byte short, 2 extended). */
	if (lc != 2 * MAC_LEN || apdu_len < off + lc ||
	    apdu_len > off + lc + (ext ? 2u : 1u)) {
		sw = SW_WRONG_LENGTH;
		goto fail;
	}
	if (!(apdu[0] & cla_sm_bit(apdu[0]))) {
		sw = SW_SECURITY;
		goto fail;
	}
	if (apdu[3] != 0x00 || !level_ok(apdu[2])) {
		sw = SW_WRONG_P1P2;
		goto fail;
	}
	body = apdu + off;

	if (kdf(hal, s->s_mac, s->key_len, DC_HOST_CRYPTOGRAM, s->host_chal,
		s->card_chal, expect, MAC_LEN) != HAL_OK) {
		sw = SW_UNKNOWN;
		goto fail;
	}
	if (!ct_equal(expect, body, MAC_LEN)) {
		sw = SW_AUTH_FAILED;
		goto fail;
	}
	/* The chaining value is 16 zero bytes: scp03_reset left it so. */
	if (command_mac(s, hal, apdu, lc, ext, body, MAC_LEN, mac) != HAL_OK) {
		sw = SW_UNKNOWN;
		goto fail;
	}
	if (!ct_equal(mac, body + MAC_LEN, MAC_LEN)) {
		sw = SW_SECURITY;
		goto fail;
	}
	MEMCPY(s->mac_chain, mac, BLOCK);
	wipe(mac, sizeof mac);
	s->level = apdu[2];
	s->enc_counter = 0;
	s->cmd_macked = 0;
	s->state = SCP03_STATE_OPEN;
	return SW_OK;

fail:
	wipe(mac, sizeof mac);
	scp03_reset(s);
	return sw;
}

uint16_t scp03_unwrap(scp03_t *s, const hal_t *hal, uint8_t hdr[4],
		      uint8_t *data, size_t *len, int ext)
{
	uint8_t mac[BLOCK];
	uint8_t icv[BLOCK];
	uint8_t smbit = cla_sm_bit(hdr[0]);
	size_t n, i, pad;
	hal_status_t st;

	s->cmd_macked = 0;
	if (s->state == SCP03_STATE_INIT) {
		/* EXTERNAL AUTHENTICATE must come right after INITIALIZE
		 * UPDATE: anything else abandons the handshake. */
		scp03_reset(s);
	}
	if (!(hdr[0] & smbit)) {
		/* Plain command: fine only where no C-MAC is expected. */
		if (s->state == SCP03_STATE_OPEN && (s->level & SCP03_C_MAC)) {
			scp03_reset(s);
			return SW_SECURITY;
		}
		return SW_OK;
	}
	if (s->state != SCP03_STATE_OPEN)
		return SW_SECURITY;
	if (*len > (ext ? 0xFFFFu : 0xFFu))
		return SW_WRONG_LENGTH;
	if (*len < MAC_LEN) {
		scp03_reset(s);
		return SW_SECURITY;
	}
	n = *len - MAC_LEN;

	if (command_mac(s, hal, hdr, *len, ext, data, n, mac) != HAL_OK) {
		wipe(mac, sizeof mac);
		scp03_reset(s);
		return SW_UNKNOWN;
	}
	if (!ct_equal(mac, data + n, MAC_LEN) ||
	    s->enc_counter == 0xFFFFFFFFu) {
		wipe(mac, sizeof mac);
		scp03_reset(s);
		return SW_SECURITY;
	}
	MEMCPY(s->mac_chain, mac, BLOCK);
	wipe(mac, sizeof mac);
	/* Every C-MACed command moves the counter, with data or without
	 * (Amendment D 6.2.6), so that R-ENC of its response has its own
	 * ICV. */
	s->enc_counter++;

	if ((s->level & SCP03_C_DEC) && n > 0) {
		if (n % BLOCK != 0)
			return SW_SM_INCORRECT;
		st = make_icv(s, hal, 0, icv);
		if (st == HAL_OK)
			st = hal->cipher(hal->ctx, HAL_CIPHER_AES, HAL_MODE_CBC,
					 0, s->s_enc, s->key_len, icv, data, n,
					 data);
		if (st != HAL_OK) {
			wipe(data, n);
			scp03_reset(s);
			return SW_UNKNOWN;
		}
		/* Strip 80 00..: the 80 must be within the last block. */
		pad = 0;
		for (i = n; i > n - BLOCK; i--) {
			if (data[i - 1] != 0x00) {
				pad = data[i - 1] == 0x80 ? n - (i - 1) : 0;
				break;
			}
		}
		if (pad == 0) {
			wipe(data, n);
			return SW_SM_INCORRECT;
		}
		n -= pad;
	}
	*len = n;
	hdr[0] = (uint8_t)(hdr[0] & ~smbit);
	s->cmd_macked = 1;
	return SW_OK;
}

uint16_t scp03_wrap(scp03_t *s, const hal_t *hal, uint8_t *data, size_t *len,
		    size_t cap, uint16_t sw)
{
	uint8_t icv[BLOCK];
	uint8_t mac[BLOCK];
	uint8_t swb[2];
	cmac_t c;
	size_t n = *len, padded, i;
	hal_status_t st = HAL_OK;

	if (s->state != SCP03_STATE_OPEN || !(s->level & SCP03_R_MAC))
		return SW_OK;
	if (sw_is_error(sw)) {
		*len = 0;
		return SW_OK;
	}

	if ((s->level & SCP03_R_ENC) && n > 0) {
		padded = (n / BLOCK + 1) * BLOCK;
		if (padded > cap || cap - padded < MAC_LEN)
			return SW_UNKNOWN;
		data[n] = 0x80;
		for (i = n + 1; i < padded; i++)
			data[i] = 0x00;
		st = make_icv(s, hal, 1, icv);
		if (st == HAL_OK)
			st = hal->cipher(hal->ctx, HAL_CIPHER_AES, HAL_MODE_CBC,
					 1, s->s_enc, s->key_len, icv, data,
					 padded, data);
		if (st != HAL_OK) {
			wipe(data, padded);
			goto fail;
		}
		n = padded;
	}
	if (n > cap || cap - n < MAC_LEN) {
		wipe(data, n);
		*len = 0;
		return SW_UNKNOWN;
	}

	swb[0] = (uint8_t)(sw >> 8);
	swb[1] = (uint8_t)sw;
	cmac_init(&c, hal, s->s_rmac, s->key_len);
	cmac_update(&c, s->mac_chain, BLOCK);
	cmac_update(&c, data, n);
	cmac_update(&c, swb, 2);
	if (cmac_final(&c, mac) != HAL_OK) {
		wipe(data, n);
		goto fail;
	}
	MEMCPY(data + n, mac, MAC_LEN);
	*len = n + MAC_LEN;
	return SW_OK;

fail:
	*len = 0;
	scp03_reset(s);
	return SW_UNKNOWN;
}

uint16_t scp03_dek_decrypt(const hal_t *hal, const scp03_keyset_t *ks,
			   uint8_t *data, size_t len)
{
	if (ks == NULL || !key_len_ok(ks->key_len))
		return SW_NOT_FOUND;
	if (len == 0 || len % BLOCK != 0)
		return SW_WRONG_DATA;
	if (hal->cipher(hal->ctx, HAL_CIPHER_AES, HAL_MODE_CBC, 0, ks->dek,
			ks->key_len, NULL, data, len, data) != HAL_OK) {
		wipe(data, len);
		return SW_UNKNOWN;
	}
	return SW_OK;
}
