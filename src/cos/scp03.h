/*
 * scp03.h - GlobalPlatform Secure Channel Protocol '03', card side
 * (GlobalPlatform Card Specification v2.3, Amendment D).
 *
 * Internal to src/cos. The command dispatcher owns one scp03_t per chip (in
 * RAM, wiped at power off: call scp03_reset() at power on and power off) and
 * routes to it:
 *
 *   80 50  INITIALIZE UPDATE       -> scp03_initialize_update(), whatever the
 *          (CLA 80..83, no SM bit)    state: it always starts a new session.
 *   84 82  EXTERNAL AUTHENTICATE   -> scp03_external_authenticate(), with the
 *          (CLA 84..87)               whole APDU as received.
 *   any other command while s->state != SCP03_STATE_NONE
 *                                  -> scp03_unwrap() before the command is
 *                                     processed (it may refuse it), then
 *                                     scp03_wrap() on its response (before
 *                                     any 61xx / GET RESPONSE splitting for
 *                                     T=0).
 *
 * GET RESPONSE (00 C0) is transport, not a command: the dispatcher serves it
 * from the already wrapped response and does not pass it to scp03_unwrap().
 *
 * Keys: AES-128, AES-192 or AES-256 (all three of one key set the same
 * length). Session keys come from the static keys with the NIST SP 800-108
 * KDF in counter mode, PRF = AES-CMAC, as Amendment D 4.1.5 specifies. The
 * card challenge is random (hal->rng), so no sequence counter is kept in NVM.
 * C-MAC, C-DECRYPTION, R-MAC and R-ENCRYPTION are supported in S8 mode
 * (8-byte challenges, cryptograms and MACs); the "i" parameter reported in
 * INITIALIZE UPDATE is SCP03_I_PARAM and says so.
 *
 * Security: a session proves only that the host knew the keys when it opened
 * the session. What proves that *this command* comes from that host is
 * s->cmd_macked, set by scp03_unwrap() for a command whose C-MAC verified.
 * Access conditions that require secure messaging must test cmd_macked, never
 * the session state alone (a level '00' session is open but protects
 * nothing).
 *
 * Every function returns an ISO/IEC 7816-4 status word (0x9000 on success).
 * No function allocates; all buffers are the caller's. All crypto and
 * randomness go through the hal_t.
 */
#ifndef CARDFAB_COS_SCP03_H
#define CARDFAB_COS_SCP03_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"

/* Security level bits (EXTERNAL AUTHENTICATE P1). The levels accepted are
 * those of Amendment D Table 7-6: 00, 01, 03, 11, 13 and 33. */
#define SCP03_C_MAC 0x01
#define SCP03_C_DEC 0x02
#define SCP03_R_MAC 0x10
#define SCP03_R_ENC 0x20

/* The "i" parameter (Amendment D Table 5-1): b5 = 0 random card challenge,
 * b7 b6 = 1 1 R-MAC and R-ENCRYPTION support, b1 = 0 S8 mode. */
#define SCP03_I_PARAM 0x60

/* Length of the INITIALIZE UPDATE response data. */
#define SCP03_IU_RESP_LEN 29u

/* What scp03_wrap() may add to response data: up to 16 bytes of padding
 * (R-ENC) and the 8-byte R-MAC. A dispatcher whose responses fill its
 * buffer must keep this much room. */
#define SCP03_WRAP_OVERHEAD 24u

/* scp03_t.state */
#define SCP03_STATE_NONE 0 /* no session */
#define SCP03_STATE_INIT 1 /* INITIALIZE UPDATE done, awaiting EXT AUTH */
#define SCP03_STATE_OPEN 2 /* session open at s->level */

typedef struct {
	uint8_t kvn;	 /* key version number */
	uint8_t key_len; /* 16, 24 or 32 */
	uint8_t enc[32]; /* static keys */
	uint8_t mac[32];
	uint8_t dek[32];
} scp03_keyset_t;

typedef struct {
	uint8_t state; /* SCP03_STATE_* */
	uint8_t level; /* SCP03_* bits of the open session */
	uint8_t kvn;
	uint8_t key_len;
	uint8_t s_enc[32], s_mac[32], s_rmac[32];
	uint8_t mac_chain[16]; /* MAC chaining value */
	uint8_t host_chal[8], card_chal[8];
	uint32_t enc_counter; /* for the ICV of C-DEC and R-ENC */
	uint8_t cmd_macked;   /* the command last passed to scp03_unwrap()
			       * carried a C-MAC that verified */
} scp03_t;

/* Forget the session: wipes keys, chaining value and challenges; state
 * becomes SCP03_STATE_NONE. Call it at power on and power off too. */
void scp03_reset(scp03_t *s);

/*
 * INITIALIZE UPDATE (80 50 kvn 00 08 host-challenge). The dispatcher checks
 * P2 == 00 (6A86), Lc == 8 (6700), finds the key set by P1 (00: its default
 * key set; none: 6A88) and passes it here with the host challenge.
 * divdata: the 10 bytes of key diversification data the card reports (e.g.
 * from its serial number).
 *
 * Any previous session is closed first. On success resp receives key
 * diversification data (10) || key information (3: kvn, 0x03, i) || card
 * challenge (8) || card cryptogram (8): SCP03_IU_RESP_LEN bytes, and the
 * session awaits EXTERNAL AUTHENTICATE. resp_cap >= SCP03_IU_RESP_LEN.
 * Errors: 6A88 bad key set, 6F00 RNG or crypto failure (or resp_cap too
 * small); the session is then closed.
 */
uint16_t scp03_initialize_update(scp03_t *s, const hal_t *hal,
				 const scp03_keyset_t *ks,
				 const uint8_t divdata[10],
				 const uint8_t host_chal[8], uint8_t *resp,
				 size_t resp_cap, size_t *resp_len);

/*
 * EXTERNAL AUTHENTICATE, the whole command APDU as received: CLA 84 INS 82
 * P1 level P2 00, Lc 10 (short, or extended 00 00 10), host cryptogram 8,
 * C-MAC 8, and optionally Le. Opens the session at the level of P1.
 * Errors (every one closes the session: the host starts again with
 * INITIALIZE UPDATE): 6985 no INITIALIZE UPDATE before it, 6982 no SM bit in
 * CLA or wrong C-MAC, 6A86 P2 != 00 or unsupported level, 6700 wrong Lc,
 * 6300 wrong host cryptogram, 6F00 crypto failure.
 */
uint16_t scp03_external_authenticate(scp03_t *s, const hal_t *hal,
				     const uint8_t *apdu, size_t apdu_len);

/*
 * Unwrap a command received while s->state != SCP03_STATE_NONE (every
 * command but INITIALIZE UPDATE, EXTERNAL AUTHENTICATE and GET RESPONSE).
 * After INITIALIZE UPDATE only EXTERNAL AUTHENTICATE may follow: any other
 * command first abandons the pending handshake (state NONE), then is
 * treated as below.
 *
 * hdr is CLA INS P1 P2 as received; data/len the command data field as
 * received, Lc bytes; ext: the command used extended length (the C-MAC
 * covers Lc as it was encoded). On 9000, hdr[0] has its secure messaging
 * bit cleared and data/len hold the plain data (in place).
 *
 *  - CLA with the SM bit (b3 for CLA 0x/8x, b6 for 4x..7x/Cx..Fx): the
 *    C-MAC is verified (even at level 00) and stripped, the data decrypted
 *    when the level has C-DEC; cmd_macked = 1.
 *  - CLA without it: passed through with cmd_macked = 0 when the level is
 *    00; rejected (session closed, 6982) when the level requires C-MAC.
 *
 * Errors: 6982 wrong or missing C-MAC (the session is closed), also any
 * SM command while no session is open; 6988 C-DEC data not block-aligned
 * or badly padded (after the MAC verified; the session stays open); 6700
 * inconsistent length; 6F00 crypto failure (session closed).
 */
uint16_t scp03_unwrap(scp03_t *s, const hal_t *hal, uint8_t hdr[4],
		      uint8_t *data, size_t *len, int ext);

/*
 * Wrap the response to a command that scp03_unwrap() passed: when the
 * level has R-ENC, pad and encrypt the data (if any); when it has R-MAC,
 * append the R-MAC over data || SW. data/len in place; cap is the buffer's
 * size (keep SCP03_WRAP_OVERHEAD free). sw is the response's status word;
 * it is sent unchanged after the wrapped data.
 *
 * For an error status word (anything but 9000, 62xx and 63xx) no
 * protection applies and *len is set to 0: only the SW goes out
 * (Amendment D 6.2.5). Without an open session or without R-MAC, nothing
 * changes. Returns 9000; otherwise the dispatcher sends that status word
 * alone instead of the response: 6F00 buffer too small or crypto failure
 * (the latter closes the session).
 */
uint16_t scp03_wrap(scp03_t *s, const hal_t *hal, uint8_t *data, size_t *len,
		    size_t cap, uint16_t sw);

/* Decrypt sensitive data (e.g. keys in PUT KEY / STORE DATA) with the static
 * DEK of the key set, AES-CBC with a zero ICV, in place. len a non-zero
 * multiple of 16 (else 6A80); 6A88 bad key set; 6F00 crypto failure. */
uint16_t scp03_dek_decrypt(const hal_t *hal, const scp03_keyset_t *ks,
			   uint8_t *data, size_t len);

#endif
