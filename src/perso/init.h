/*
 * init.h - initialization (part 6) of one chip through the reader API: the
 * interface of src/perso/init.c.
 *
 * perso_init_card() takes a chip in TRANSPORT to PERSONALIZATION:
 *
 *   SELECT MF, GET DATA DF30      the serial, the life cycle (TRANSPORT)
 *   VERIFY 1F                     the transport code, derived in the token
 *                                 from the transport master key and serial
 *   PUT DATA DF43                 the pre-personalizer's CPLC stamp
 *   CREATE FILE                   every file of the profile, parent selected
 *   PUT DATA DF01                 every PIN object (a value only if fixed)
 *   PUT DATA DF02                 every key object, the SCP03 set among them:
 *                                 diversified in the token, unwrapped just
 *                                 for the APDU (docs/perso.md)
 *   SET STATUS 07                 the fuse
 *
 * A memory chip (docs/perso.md): SELECT_CARD_TYPE, the serial (bytes
 * 8..15), the transport PSC (the first 3 bytes of the transport code), the
 * areas with data written and read back, the issuer's PSC (the first 3
 * bytes of an AES-128 card key diversified from the profile's PSC master)
 * by CHANGE_CODE, the areas protected at initialization.
 *
 * Every status word is checked; an unexpected one stops the run with
 * PERSO_ERR_CARD and a message naming the step, the command and the SW
 * (never a value). A run stopped half-way leaves a CPU chip in
 * INITIALIZATION: with opts.resume the next run completes it (the
 * transport code is spent; files already there are kept, PIN and key
 * objects put again, the CPLC stamp kept when it is ours). A memory card
 * stopped half-way (its transport PSC presented or changed) cannot be
 * resumed: it is rejected.
 */
#ifndef CARDFAB_PERSO_INIT_H
#define CARDFAB_PERSO_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "perso/token.h"
#include "profile/profile.h"
#include "reader/reader.h"

typedef struct {
	const char *tmk;	  /* transport master key label */
	const char *wrap_label;	  /* AES wrapping key for card keys */
	uint16_t prepersonalizer; /* CPLC DF43: who */
	uint32_t equipment;	  /* CPLC DF43: equipment ID */
	int resume; /* 1: a CPU chip left in INITIALIZATION by a stopped run
		       is completed (its files there kept, its objects put
		       again, its DF43 stamp kept if ours); 0: refused */
} perso_init_opts_t;

/*
 * Initialize the chip in r (powered up if it is not) per profile p, a CPU
 * chip or a memory card.
 * serial (may be NULL) receives the chip's serial. err receives a message
 * on failure (no secret in it).
 */
perso_status_t perso_init_card(reader_t *r, const profile_t *p,
			       perso_token_t *t, const perso_init_opts_t *o,
			       uint8_t serial[PERSO_SERIAL_LEN], char *err,
			       size_t errcap);

/* Card life cycle byte of GET DATA DF30 tag 81 and the serial (tag 83):
 * PERSO_OK, or PERSO_ERR_CARD with a message. */
perso_status_t perso_chip_data(reader_t *r, uint8_t *lcs,
			       uint8_t serial[PERSO_SERIAL_LEN], char *err,
			       size_t errcap);

#endif
