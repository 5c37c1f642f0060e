/*
 * perso.h - personalization (part 7): a prepared batch read back, one card
 * personalized for one holder, the PIN mailer record, and the journal that
 * makes a station's outcomes durable (docs/perso.md).
 *
 *     perso_batch_t *b;
 *     perso_batch_load("run1.batch", profile, &b, err, sizeof err);
 *     for each record i:
 *         perso_holder_t h;
 *         perso_batch_holder(b, i, token, &h, err, sizeof err); // decrypts
 *         perso_card(reader, profile, token, &opts, &h, &info, err, ...);
 *         perso_holder_clear(&h);                              // wipes
 *     perso_batch_free(b);
 *
 * perso_card() takes a CPU chip in PERSONALIZATION to OPERATIONAL:
 *
 *   SELECT MF, GET DATA DF30     serial, life cycle
 *   INITIALIZE UPDATE,           an SCP03 session with the card's keys
 *   EXTERNAL AUTHENTICATE        (diversified in the token), at the
 *                                profile's level (C-MAC, C-DEC)
 *   UPDATE BINARY / RECORD,      every placed holder field, encoded as the
 *   APPEND RECORD                profile says, each file or record whole
 *   CHANGE REFERENCE DATA 01     every PIN with a value (C-DEC)
 *   PUT DATA DF44                the personalizer's CPLC stamp
 *   SET STATUS 0F                OPERATIONAL
 *   READ BINARY / RECORD,        every written byte read back and compared;
 *   VERIFY                       every PIN set is presented once (a right
 *                                PIN costs no try)
 *
 * and does the same on the memory card with its issuer PSC (areas written,
 * read back, protected when the profile says `protect: perso`).
 *
 * A chip found OPERATIONAL (a run killed after SET STATUS) is only
 * checked: the read-back and the PINs, nothing written; if they match the
 * holder, the card is good. A chip in any other state is refused.
 *
 * Secrets: PIN values and secret fields are decrypted in the token into
 * the perso_holder_t, and live there and in the APDU that carries them;
 * perso_holder_clear() wipes them. Card keys come out of the token for one
 * APDU (docs/perso.md) and are wiped at once. Messages name the step,
 * the command and the status word, never a value.
 */
#ifndef CARDFAB_PERSO_PERSO_H
#define CARDFAB_PERSO_PERSO_H

#include <stddef.h>
#include <stdint.h>

#include "perso/token.h"
#include "profile/profile.h"
#include "reader/reader.h"

/* ---------------------------------------------------------------- batch */

typedef struct perso_batch perso_batch_t;

/*
 * Read a batch written by perso_prep_batch() for profile p: its header
 * (the profile's name must match), every record line, and the end line
 * with the count (a batch without it was cut short). Secrets stay
 * encrypted until perso_batch_holder(). err names the file and line.
 */
perso_status_t perso_batch_load(const char *path, const profile_t *p,
				perso_batch_t **out, char *err, size_t errcap);
void perso_batch_free(perso_batch_t *b);

size_t perso_batch_count(const perso_batch_t *b);
const char *perso_batch_key(const perso_batch_t *b); /* the batch key */

#define PERSO_REF_MAX 64 /* a holder reference, NUL included */

/* One holder ready for the card. values[i] is the text of profile field
 * i (NULL: empty), secret fields decrypted; pins[j] the value of profile
 * PIN j as digits or characters (NULL: the PIN gets no value). */
typedef struct {
	unsigned seq;		 /* the record's number in the batch, 1.. */
	unsigned line;		 /* its line in the holder file */
	char ref[PERSO_REF_MAX]; /* the holder's reference: the first field
				    that is both traced and unique (else
				    the first traced one), else "#SEQ" */
	char **values;
	size_t nvalues;
	char **pins;
	size_t npins;
} perso_holder_t;

/*
 * Record i (0-based) of the batch, its secrets decrypted with the batch
 * key in the token (AES-GCM; a secret moved to another record or item, or
 * altered, does not decrypt: PERSO_ERR_FORMAT). h is the caller's, freed
 * and wiped with perso_holder_clear().
 */
perso_status_t perso_batch_holder(perso_batch_t *b, size_t i, perso_token_t *t,
				  perso_holder_t *h, char *err, size_t errcap);
/* The holder's reference of record i without decrypting anything. */
const char *perso_batch_ref(const perso_batch_t *b, size_t i);
/* The record's traced fields as a JSON object {"name":"value",...} in buf
 * (for the MES: never a secret). Returns its length, 0 if cap is too
 * small. */
size_t perso_batch_trace_json(const perso_batch_t *b, size_t i, char *buf,
			      size_t cap);

void perso_holder_clear(perso_holder_t *h);

/* ---------------------------------------------------------------- card */

/* The token's key type of a profile's key algorithm; 0 for none. */
perso_key_type_t perso_alg_key_type(profile_alg_t alg);

typedef struct {
	const char *wrap_label; /* AES wrapping key for card keys */
	uint16_t personalizer;	/* CPLC DF44: who */
	uint32_t equipment;	/* CPLC DF44: equipment ID */
} perso_card_opts_t;

typedef struct {
	uint8_t serial[PERSO_SERIAL_LEN];
	uint8_t lcs_before; /* CPU chip: life cycle found (04 or 05) */
	int checked_only;   /* 1: found OPERATIONAL, only checked */
	unsigned apdus;	    /* exchanged */
	size_t bytes_out;   /* command APDU bytes sent */
	size_t bytes_in;    /* response bytes received, SW included */
} perso_card_info_t;

/*
 * Lay out holder h's data for profile p as perso_card() writes it, without
 * a card: PERSO_OK (units receives the files, records and areas written,
 * bytes the bytes), or PERSO_ERR_FORMAT with err naming the field and what
 * is wrong. perso_card() does this first; it is public for checks ahead
 * of a run and for the fuzz target.
 */
perso_status_t perso_layout(const profile_t *p, const perso_holder_t *h,
			    size_t *units, size_t *bytes, char *err,
			    size_t errcap);

/*
 * Personalize the card in r (powered up if it is not) for holder h.
 * PERSO_OK: the card is OPERATIONAL and holds h's data, read back.
 * PERSO_ERR_CARD: the card refused a step or differs (err says which);
 * PERSO_ERR_IO: the reader failed; others: the token or the arguments.
 * info (may be NULL) is filled as far as the run got.
 */
perso_status_t perso_card(reader_t *r, const profile_t *p, perso_token_t *t,
			  const perso_card_opts_t *o, const perso_holder_t *h,
			  perso_card_info_t *info, char *err, size_t errcap);

/* The serial of the card in r (powered up if it is not), a CPU chip or a
 * memory card per the profile, before anything is written: a station
 * binds the card to a holder in its journal first. */
perso_status_t perso_card_serial(reader_t *r, const profile_t *p,
				 uint8_t serial[PERSO_SERIAL_LEN], char *err,
				 size_t errcap);

/* ---------------------------------------------------------------- outputs */

/*
 * The PIN mailer record of a holder and the card made for it, one line
 * for the mailer printer: "SEQ<TAB>REF<TAB>SERIAL<TAB>HEX" where HEX is
 * AES-GCM under mailer_key in the token (IV || ciphertext || tag; aad
 * "mailer:SERIAL") of the text "NAME=VALUE" for each PIN with a value,
 * separated by LF. *line is malloc'd (the caller frees it).
 */
perso_status_t perso_mailer_record(perso_token_t *t, const char *mailer_key,
				   const profile_t *p, const perso_holder_t *h,
				   const char *serial_hex, char **line);

/*
 * Append a mailer line (from perso_mailer_record) to the mailer file path
 * once: under an exclusive lock of the file, unless a line for that serial
 * is there already (a card resumed after a kill), then fsync. Several
 * threads and processes may share one file.
 */
perso_status_t perso_mailer_append(const char *path, const char *serial_hex,
				   const char *line, char *err, size_t errcap);

/* ---------------------------------------------------------------- journal */

/*
 * The journal of a personalization run (BATCH.journal): one line per step,
 * appended and fsync'd before the run goes on, so that a run killed at any
 * moment resumes with every holder issued exactly once:
 *
 *   B SEQ SERIAL        card SERIAL started for holder SEQ
 *   I SEQ SERIAL        issued: final
 *   R SEQ SERIAL REASON rejected: the card is final, holder SEQ is free
 *
 * A card started and never finished (the run was killed) is taken up
 * again for the same holder: perso_card() redoes it (PERSONALIZATION) or
 * checks it (OPERATIONAL). A torn last line is dropped on open.
 */
typedef struct perso_journal perso_journal_t;

typedef enum {
	PERSO_J_FREE = 0, /* holder not issued, no card started */
	PERSO_J_STARTED,  /* a card started for it (see serial) */
	PERSO_J_ISSUED,
} perso_j_state_t;

perso_status_t perso_journal_open(const char *path, size_t holders,
				  perso_journal_t **out, char *err,
				  size_t errcap);
void perso_journal_close(perso_journal_t *j);

/* Where holder seq (1..holders) stands; serial (17 bytes) receives the
 * card's serial in hex when STARTED or ISSUED. */
perso_j_state_t perso_journal_holder(const perso_journal_t *j, unsigned seq,
				     char *serial);
/* The card's outcome: 0 none, 'I' issued, 'R' rejected; else 'B' started
 * for *seq. */
int perso_journal_card(const perso_journal_t *j, const char *serial_hex,
		       unsigned *seq);

/*
 * The holder for the card serial_hex, and its start written durably, in
 * one step (stations share a journal; its calls are thread-safe): a card
 * started before and never finished gets its holder back (*resumed = 1);
 * a fresh card the first free holder. PERSO_ERR_EXISTS: the card has an
 * outcome already (never personalized twice); PERSO_ERR_NOT_FOUND: no
 * holder left.
 */
perso_status_t perso_journal_take(perso_journal_t *j, const char *serial_hex,
				  unsigned *seq, int *resumed);

/* Append one line and make it durable (fsync) before returning. Refuses
 * (PERSO_ERR_PARAM) a step that contradicts the journal: a second card
 * for an issued or started holder, an outcome for a card not started, an
 * outcome for a finished card. */
perso_status_t perso_journal_start(perso_journal_t *j, unsigned seq,
				   const char *serial_hex);
perso_status_t perso_journal_issued(perso_journal_t *j, unsigned seq,
				    const char *serial_hex);
perso_status_t perso_journal_rejected(perso_journal_t *j, unsigned seq,
				      const char *serial_hex,
				      const char *reason);

/* Counts: holders issued, cards rejected. */
void perso_journal_counts(const perso_journal_t *j, size_t *issued,
			  size_t *rejected);

#endif
