/*
 * station_loop.h - the init (part 6) and perso (part 7) stations of an
 * order, shared by `cardfab run` (threads, one process) and `cardfab
 * station` (one process of many, on many hosts sharing a PostgreSQL MES).
 *
 * A station takes cards from the MES (mes_claim: FOR UPDATE SKIP LOCKED
 * on PostgreSQL, BEGIN IMMEDIATE on SQLite), works the chip through the
 * reader API (the line simulator's chip image WORK/chips/SERIAL.img),
 * stamps the CPLC fields the chip got into the MES, and records the
 * outcome durably (mes_claim_finish) before it takes the next card:
 *
 *   init:  perso_init_card; a card claimed before (token > 1) is checked
 *          first: PERSONALIZATION means init finished (OK), TRANSPORT
 *          that it never started (initialized now), INITIALIZATION that
 *          it was cut after the transport code (completed: init's
 *          resume), anything else: rejected.
 *   perso: the holder the claim reserved, found in the prepared batch by
 *          its reference; perso_card (a chip found OPERATIONAL is only
 *          checked); the PIN mailer line appended to WORK/mailer.txt
 *          (fsync'd, under a lock, once a card: a card claimed before is
 *          looked up first); the card face WORK/faces/SERIAL.svg.
 *
 * A card the chip refuses (PERSO_ERR_CARD) is rejected with the reason;
 * anything else (the token, the database, the batch) is the station's
 * fault, not the card's: the claim is given back and the station stops
 * with the error, so that a broken station does not reject good cards.
 *
 * Threads: each opens its own mes_t and perso_token_t. PKCS#11 logs in a
 * process, not a handle: the caller keeps one token open (the first one)
 * until station_loop_run() returns. Station names are "NAME-1",
 * "NAME-2"... (or NAME itself for one thread): a station restarted under
 * its name gets back the card it held when it was killed.
 */
#ifndef CARDFAB_CLI_STATION_LOOP_H
#define CARDFAB_CLI_STATION_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "cli/progress.h"
#include "mes/mes.h"
#include "perso/token.h"
#include "profile/profile.h"

typedef struct {
	const char *db_url;
	const char *order_name;
	mes_part_t part;	  /* MES_PART_INIT or MES_PART_PERSO */
	const char *work;	  /* chips/, mailer.txt, faces/ */
	const char *batch_path;	  /* perso: the prepared batch */
	const profile_t *profile; /* shared, read only */

	/* The token every thread opens (module NULL: the default). */
	const char *token_module, *token_label, *token_pin;

	const char *tmk, *wrap_key, *mailer_key;
	uint16_t prepersonalizer, personalizer;
	uint32_t init_equipment, perso_equipment;

	unsigned threads;	  /* >= 1 */
	const char *station_name; /* see the top */
	const char *host;	  /* recorded with the station */
	int follow;		  /* 1: when no card is left, wait for more
				     (a factory's station) until the order
				     is done or cancelled (perso: every
				     holder issued); 0: return */
	int64_t lease_ms;	  /* 0: 60 s */
	progress_t *progress;	  /* may be NULL */
} station_cfg_t;

typedef struct {
	uint64_t ok, rejected; /* cards this call finished */
} station_result_t;

/*
 * Run the stations until the part has no card left for them (see
 * docs/run.md: init stops when no card awaits initialization; perso when
 * every holder is issued or no card awaits personalization, with
 * follow = 0), or station_loop_stop() is called. 0, or -1 with err (the
 * first station's failure).
 */
int station_loop_run(const station_cfg_t *cfg, station_result_t *res, char *err,
		     size_t errcap);

/* Ask running stations to stop after their current card (from a signal
 * handler too). */
void station_loop_stop(void);
int station_loop_stopping(void);

/*
 * The token a run or a station uses. A work folder's own token (made by
 * `cardfab run`: WORK/hsm/softhsm2.conf, its user PIN in WORK/hsm/user-pin)
 * unless token options name another, as for `cardfab keys`: --dir
 * [CARDFAB_TOKEN_DIR], --module [CARDFAB_PKCS11_MODULE], --token
 * [CARDFAB_TOKEN], --pin-file [CARDFAB_TOKEN_PIN_FILE], --pin-env VAR
 * (default CARDFAB_TOKEN_PIN).
 */
typedef struct {
	const char *dir, *module, *label, *pin_file, *pin_env; /* options */
	int external;  /* 1: options or environment name a token */
	char pin[256]; /* the user PIN, once resolved (wipe it) */
} station_token_t;

/* Fill the defaults from the environment; external says whether a token
 * other than the work folder's is named (--dir or --module, or their
 * variables). */
void station_token_env(station_token_t *ts);
/*
 * Resolve the PIN and SOFTHSM2_CONF: for the work folder's token from
 * WORK/hsm, else from the options. 0, or -1 with err.
 */
int station_token_pin(station_token_t *ts, const char *work, char *err,
		      size_t errcap);

/*
 * For a progress bar: the cards of the order that went through the part
 * already (before) and those it still has to take (left: cards awaiting
 * init; for perso, cards awaiting it, at most the holders not issued).
 */
int station_part_figures(mes_t *m, int64_t order_id, mes_part_t part,
			 uint64_t *before, uint64_t *left);

/* WORK/chips/SERIAL.img: where the line simulator keeps a chip. */
void station_chip_path(const char *work, const char *serial_hex, char *buf,
		       size_t cap);

#endif
