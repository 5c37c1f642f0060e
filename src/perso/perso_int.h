/*
 * perso_int.h - what initialization (init.c) and personalization
 * (perso.c) share: one card session's APDU exchange with checked status
 * words and step-naming errors, selection by the profile's paths, the chip
 * data, PIN encoding, the CPLC date and the diversified card keys brought
 * out of the token for one APDU. Not a public interface.
 *
 * Errors name the step, the command and the status word, never a value:
 * "file 'holder': UPDATE BINARY: SW 6982".
 */
#ifndef CARDFAB_PERSO_INT_H
#define CARDFAB_PERSO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "perso/scp03_host.h"
#include "perso/token.h"
#include "profile/profile.h"
#include "reader/reader.h"

typedef struct {
	reader_t *r;
	char *err;
	size_t errcap;
	scp03_host_t *sm; /* non-NULL: every command goes wrapped */
	uint8_t resp[COS_RAPDU_MAX];
	size_t rlen;	  /* data only */
	unsigned apdus;	  /* exchanged in this session */
	size_t bytes_out; /* command bytes sent (as wrapped) */
	size_t bytes_in;  /* response bytes, SW included */
} pc_ctx_t;

perso_status_t pc_fail(pc_ctx_t *c, perso_status_t st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A message into err (cap bytes; either may be NULL/0), returning st: the
 * error convention of every function of src/perso that takes err. */
perso_status_t pc_err(char *err, size_t cap, perso_status_t st, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

/* A short APDU: data (n bytes, n <= 255) if n > 0, Le if le >= 0. */
size_t pc_mk(uint8_t *out, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
	     const uint8_t *data, size_t n, int le);

/* Send one APDU (wrapped when c->sm is set); its SW must be want; the
 * response data is in c->resp, c->rlen. The APDU buffer is the caller's
 * to wipe when it carried a secret; the wrapped copy is wiped here. */
perso_status_t pc_xchg_sw(pc_ctx_t *c, const char *step, const char *cmd,
			  const uint8_t *a, size_t n, uint16_t want);
perso_status_t pc_xchg(pc_ctx_t *c, const char *step, const char *cmd,
		       const uint8_t *a, size_t n);
/* Like pc_xchg_sw but any SW is fine: *sw receives it. */
perso_status_t pc_xchg_any(pc_ctx_t *c, const char *step, const char *cmd,
			   const uint8_t *a, size_t n, uint16_t *sw);

perso_status_t pc_select_mf(pc_ctx_t *c, const char *step);
/* Select file index f (-1: the MF) by its path from the MF. */
perso_status_t pc_select(pc_ctx_t *c, const profile_t *p, int f,
			 const char *step);

/* GET DATA DF30: the life cycle (tag 81) and the serial (tag 83). */
perso_status_t pc_chip_data(pc_ctx_t *c, uint8_t *lcs,
			    uint8_t serial[PERSO_SERIAL_LEN]);

/* A PIN value (digits or characters, len bytes) in the PIN's format,
 * padded to its stored length (out: 16 bytes). 0 or -1 if it does not
 * fit. */
int pc_pin_encode(const profile_pin_t *pin, const char *value, size_t len,
		  uint8_t out[16]);


/* Today as a CPLC date (YDDD, BCD). */
void pc_yddd_today(uint8_t out[2]);

/* The clear value of card key k of the chip of that serial, diversified
 * in the token and unwrapped for one APDU (docs/perso.md), or its fixed
 * test value. The caller wipes clear (32 bytes). step names it in an
 * error. */
perso_status_t pc_card_key(pc_ctx_t *c, const profile_key_t *k,
			   perso_token_t *t, const char *wrap_label,
			   const uint8_t serial[PERSO_SERIAL_LEN],
			   uint8_t clear[32], const char *step);

/* The memory card's issuer PSC (3 bytes), and a read of its memory. */
#define PC_PSC 3
perso_status_t pc_issuer_psc(pc_ctx_t *c, const profile_t *p, perso_token_t *t,
			     const char *wrap_label,
			     const uint8_t serial[PERSO_SERIAL_LEN],
			     uint8_t psc[PC_PSC]);
perso_status_t pc_mc_read(pc_ctx_t *c, const char *step, unsigned addr,
			  unsigned len, uint8_t *out);

/* SoftHSM2's token.object, torn by a kill at a login, put back from a
 * copy before a login (after_login 0), the copy refreshed after one
 * (softhsm_guard.c says why). Only for a SoftHSM2 module. */
void pc_softhsm_guard(const char *module, int after_login);

/*
 * A CPLC stamp of 8 bytes, who (2) | date YDDD (2) | equipment (4), for
 * PUT DATA tag (DF43 at CPLC byte 26, DF44 at 34). The chip takes a stamp
 * once: a chip that carries one already (a run killed after it) keeps it
 * when it is ours (same who and equipment) and is refused otherwise.
 * check_only: the stamp must be there, and ours. Over c->sm when set.
 */
perso_status_t pc_cplc_stamp(pc_ctx_t *c, uint16_t tag, uint16_t who,
			     uint32_t equipment, int check_only);

/* Power the card up if it is not. */
perso_status_t pc_power(pc_ctx_t *c, const char *step);

#endif
