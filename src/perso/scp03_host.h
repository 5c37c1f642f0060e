/*
 * scp03_host.h - GlobalPlatform SCP03, the host's side (GP Card
 * Specification v2.3, Amendment D), with OpenSSL's libcrypto.
 *
 * Shared by `cardfab demo` and personalization (src/perso). It is
 * written against Amendment D, not against the card OS, so that the demo is
 * a check of src/cos/scp03.c by an independent implementation.
 *
 * A session:
 *
 *     scp03_host_t s;
 *     scp03_host_begin(&s, &keys, host_challenge);     // random 8 bytes
 *     scp03_host_initialize_update(&s, apdu, ...);     // 80 50 kvn 00 08 ..
 *         ... send it, get 29 bytes + 9000 ...
 *     scp03_host_external_authenticate(&s, resp, n, level, apdu, ...);
 *         // checks the card cryptogram, builds 84 82 level 00 10 ..
 *         ... send it, 9000: the session is open ...
 *     scp03_host_wrap(&s, plain, n, wrapped, ...);     // each command
 *     scp03_host_end(&s);                              // wipes
 *
 * Supported: S8 mode, AES-128/192/256 keys, levels 01 (C-MAC) and 03
 * (C-MAC + C-DECRYPTION). No R-MAC or R-ENC (responses are taken as sent).
 *
 * Key derivation (Amendment D 4.1.5): NIST SP 800-108 KDF in counter mode,
 * PRF AES-CMAC; the fixed input is 11 zero bytes, the derivation constant,
 * 00, L (2 bytes, bits), the counter (1 byte) and host || card challenge.
 *   S-ENC = KDF(ENC, 04), S-MAC = KDF(MAC, 06), S-RMAC = KDF(MAC, 07)
 *   card cryptogram = KDF(S-MAC, 00, 64), host cryptogram = KDF(S-MAC, 01, 64)
 * C-MAC: first 8 bytes of CMAC(S-MAC, chaining value || CLA INS P1 P2 Lc
 * data), Lc counting the MAC; the full CMAC is the next chaining value.
 * C-DEC: the encryption counter is incremented for every command of the
 * session (data or not); ICV = AES(S-ENC, counter as 16 bytes big-endian);
 * data || 80 00.. is AES-CBC encrypted with S-ENC before the MAC.
 *
 * Secrets: session keys live in the scp03_host_t; scp03_host_end() and
 * every failure wipe them.
 */
#ifndef CARDFAB_PERSO_SCP03_HOST_H
#define CARDFAB_PERSO_SCP03_HOST_H

#include <stddef.h>
#include <stdint.h>

#define SCP03_HOST_C_MAC 0x01
#define SCP03_HOST_C_DEC 0x02

typedef enum {
	SCP03_HOST_OK = 0,
	SCP03_HOST_ERR_PARAM,	  /* bad argument, buffer too small, level */
	SCP03_HOST_ERR_STATE,	  /* call out of order */
	SCP03_HOST_ERR_RESPONSE,  /* INITIALIZE UPDATE response malformed,
				   * not SCP03, or another key version */
	SCP03_HOST_ERR_CARD_AUTH, /* the card cryptogram is wrong: the card
				   * does not hold these keys */
	SCP03_HOST_ERR_CRYPTO,	  /* libcrypto failed */
	SCP03_HOST_ERR_APDU,	  /* the command to wrap is not a valid APDU
				   * or too long once wrapped */
} scp03_host_status_t;

const char *scp03_host_strerror(scp03_host_status_t st);

/* Static keys of one key set. */
typedef struct {
	uint8_t kvn;	 /* key version number; 00 lets the card choose */
	uint8_t key_len; /* 16, 24 or 32 */
	uint8_t enc[32];
	uint8_t mac[32];
	uint8_t dek[32];
} scp03_host_keys_t;

typedef struct {
	int state; /* 0 none, 1 INITIALIZE UPDATE built, 2 EXT AUTH built */
	uint8_t level;
	uint8_t kvn;
	uint8_t key_len;
	uint8_t enc[32], mac[32]; /* static keys until the session keys */
	uint8_t s_enc[32], s_mac[32], s_rmac[32];
	uint8_t chain[16];
	uint8_t host_chal[8], card_chal[8];
	uint32_t counter;
} scp03_host_t;

/* Start a session with these keys and this host challenge. */
scp03_host_status_t scp03_host_begin(scp03_host_t *s,
				     const scp03_host_keys_t *keys,
				     const uint8_t host_chal[8]);

/* INITIALIZE UPDATE: 80 50 kvn 00 08 host-challenge 00 (14 bytes). */
scp03_host_status_t scp03_host_initialize_update(scp03_host_t *s, uint8_t *apdu,
						 size_t cap, size_t *len);

/*
 * Check the card's answer to INITIALIZE UPDATE (its data, without the SW),
 * derive the session keys and build EXTERNAL AUTHENTICATE at level
 * (SCP03_HOST_C_MAC, optionally | SCP03_HOST_C_DEC): 21 bytes.
 * When the card answers it with 9000, the session is open.
 */
scp03_host_status_t
scp03_host_external_authenticate(scp03_host_t *s, const uint8_t *resp,
				 size_t resp_len, uint8_t level, uint8_t *apdu,
				 size_t cap, size_t *len);

/*
 * Wrap a plain command APDU (cases 1 to 4, short or extended, CLA on the
 * basic channel) for the open session: CLA | 04, data encrypted (C-DEC),
 * C-MAC appended, Lc adjusted (extended when it no longer fits a byte).
 * out needs capacity n + 16 + 8 + 3.
 */
scp03_host_status_t scp03_host_wrap(scp03_host_t *s, const uint8_t *apdu,
				    size_t n, uint8_t *out, size_t cap,
				    size_t *out_len);

/* Forget the session; wipes every key. */
void scp03_host_end(scp03_host_t *s);

#endif
