/*
 * hal.h - the chip's hardware abstraction layer.
 *
 * The card OS (src/cos) is firmware: it never calls the host. Everything it
 * needs from the silicon comes through one hal_t, filled in by whoever hosts
 * the chip (src/hal for a virtual chip on a PC, a test harness, a fuzzer):
 *
 *   - NVM: the chip's EEPROM, a fixed-size image. Reads go straight through
 *     `nvm` (EEPROM is memory-mapped on real chips); every change goes through
 *     nvm_write(). The card OS calls nvm_write() only from its journal
 *     (src/cos/nvm.c), so that power lost at any byte leaves the old state or
 *     the new one.
 *   - nvm_sync(): a barrier. Every write issued before it is in NVM before any
 *     write issued after it starts. The journal (src/cos/jrnl.c) calls it
 *     four times a transaction: after the log entries, after the commit
 *     record, after applying the entries in place, after retiring the
 *     record. At the first two the image outside the journal area is exactly
 *     the old state, at the last two exactly the new one: a harness that
 *     observes the barriers sees every legal state and no other.
 *   - RNG: true random bytes.
 *   - Crypto: the chip's coprocessor: AES (128/192/256) and two- or three-key
 *     3DES, ECB or CBC, and CMAC (NIST SP 800-38B).
 *
 * The chip has no clock: a smart card gets time only from its terminal, so
 * nothing in the card OS depends on time.
 *
 * Buffers: the caller owns every buffer it passes; lengths are explicit.
 * `in` and `out` of cipher() may be the same buffer.
 */
#ifndef CARDFAB_COS_HAL_H
#define CARDFAB_COS_HAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	HAL_OK = 0,
	HAL_ERR_IO,     /* NVM programming failed (worn cell, host I/O error);
			 * the chip answers 6581 and goes on */
	HAL_ERR_POWER,  /* power lost: nothing more reaches NVM */
	HAL_ERR_CRYPTO, /* bad key length, input not block-aligned, engine error */
	HAL_ERR_RNG,    /* no entropy */
	HAL_ERR_PARAM,  /* out-of-range offset or length */
} hal_status_t;

typedef enum {
	HAL_CIPHER_AES = 1, /* key 16, 24 or 32 bytes; block 16 */
	HAL_CIPHER_3DES,    /* key 16 (2-key) or 24 (3-key) bytes; block 8 */
} hal_cipher_t;

typedef enum {
	HAL_MODE_ECB = 1,
	HAL_MODE_CBC, /* iv: one block; a NULL iv means all zeros */
} hal_mode_t;

typedef struct hal {
	void *ctx; /* the host's, passed back to every call */

	const uint8_t *nvm; /* read-only view of the whole image */
	uint32_t nvm_size;  /* bytes */

	/* Program len bytes at off. off + len <= nvm_size. */
	hal_status_t (*nvm_write)(void *ctx, uint32_t off, const uint8_t *src,
				  uint32_t len);
	hal_status_t (*nvm_sync)(void *ctx);

	hal_status_t (*rng)(void *ctx, uint8_t *dst, size_t len);

	/* len is a multiple of the block size. */
	hal_status_t (*cipher)(void *ctx, hal_cipher_t alg, hal_mode_t mode,
			       int encrypt, const uint8_t *key, size_t key_len,
			       const uint8_t *iv, const uint8_t *in, size_t len,
			       uint8_t *out);

	/* mac receives one block (16 bytes for AES, 8 for 3DES). */
	hal_status_t (*cmac)(void *ctx, hal_cipher_t alg, const uint8_t *key,
			     size_t key_len, const uint8_t *in, size_t len,
			     uint8_t *mac);
} hal_t;

#endif
