/*
 * reader.h - the host side of the card interface: the whole interface of
 * src/reader.
 *
 * One API whatever holds the card. A reader is opened from a string:
 *
 *   vcard:PATH    a virtual chip in this process: PATH is its EEPROM image
 *   PATH          the same (a bare path is a virtual chip)
 *   pcsc:NAME     a PC/SC reader through pcsc-lite (pcscd): a real reader, or
 *                 a virtual one such as vsmartcard's "Virtual PCD 00 00".
 *                 NAME is the reader's full name or a prefix that names one
 *                 reader only.
 *   pcsc:         the first reader that holds a card
 *
 * and then driven the same way: power up and down, reset, the answer to
 * reset, raw APDUs (reader_transmit) or APDUs with the T=0 chores done
 * (reader_apdu: 61xx answered with GET RESPONSE, 6Cxx with the right Le).
 *
 * A virtual chip is chip-agnostic: the image is probed and driven by the
 * family it belongs to (the card OS of src/cos, a CPU chip; the memory card
 * of src/memcard when this build has it). Its image is locked while open
 * (one process a chip), every write lands in it at once (a killed process
 * leaves the chip where its own journal got), power cycles keep the state
 * in the image, and reader_close() flushes it to disk.
 *
 * The other way round, reader_vpcd_serve() serves an open reader (normally
 * a virtual chip) to pcscd through vsmartcard's vpcd driver, so that every
 * PC/SC program sees it as a card in a reader (`cardfab vicc`).
 *
 * Errors: every function returns a reader_status_t; reader_strerror() says
 * what the code means, reader_error_detail() what happened to this reader
 * in words a user can act on ("pcscd is not running", "no reader named X;
 * readers present: ..."). reader_open() and reader_close() write that
 * detail into the caller's buffer instead, as there is no reader before
 * the one and none after the other.
 *
 * Buffers: the caller owns every buffer it passes in; a capacity goes in,
 * the length comes out, and the length is 0 on any error. Not thread-safe:
 * one thread drives one reader_t (different readers in different threads
 * is fine).
 */
#ifndef CARDFAB_READER_H
#define CARDFAB_READER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cos/cos.h"

typedef enum {
	READER_OK = 0,
	READER_ERR_PARAM, /* a bad argument or card specification */
	READER_ERR_NOMEM,
	READER_ERR_NO_IMAGE, /* vcard: no such image file */
	READER_ERR_IMAGE_IO, /* vcard: reading or flushing the image failed */
	READER_ERR_LOCKED,   /* vcard: another process has the image open */
	READER_ERR_NOT_CHIP, /* vcard: the file is not a chip image */
	READER_ERR_CHIP,     /* the chip failed: corrupt image, NVM failure */
	READER_ERR_NOT_POWERED,	   /* the card is powered down */
	READER_ERR_NO_SERVICE,	   /* pcsc: pcscd is not running */
	READER_ERR_NO_READER,	   /* pcsc: pcscd sees no reader at all */
	READER_ERR_UNKNOWN_READER, /* pcsc: no reader of that name */
	READER_ERR_NO_CARD,	   /* no card in the reader */
	READER_ERR_REMOVED,	   /* card or reader removed (or pcscd stopped)
				    * during the session */
	READER_ERR_CARD_RESET,	   /* another program reset the card: the
				    * security status is lost */
	READER_ERR_SHARING,	 /* another program has the card exclusively */
	READER_ERR_MUTE,	 /* the card does not answer */
	READER_ERR_UNSUPPORTED,	 /* this backend or card does not offer it */
	READER_ERR_BUFFER,	 /* the response is larger than the buffer */
	READER_ERR_PCSC,	 /* any other PC/SC failure (see the detail) */
	READER_ERR_VPCD_REFUSED, /* vpcd: nothing listens at host:port */
	READER_ERR_NET,		 /* vpcd: any other network failure */
} reader_status_t;

/* What the code means, in a few words ("pcscd is not running"). */
const char *reader_strerror(reader_status_t st);

typedef struct reader reader_t;

typedef enum {
	READER_KIND_VCARD = 1, /* a virtual chip in this process */
	READER_KIND_PCSC,      /* a PC/SC reader */
} reader_kind_t;

/* Protocols (the same values as COS_PROTO_T0 and COS_PROTO_T1). */
#define READER_PROTO_T0 0
#define READER_PROTO_T1 1
#define READER_PROTO_ANY (-1) /* whatever the card prefers */

/* Capacities a caller may size its buffers with. */
#define READER_DETAIL_MAX 512u /* error detail, NUL included */
#define READER_ATR_MAX 33u     /* ISO/IEC 7816-3 */
#define READER_CAPDU_MAX (4u + 3u + 65535u + 3u) /* extended case 4 */
#define READER_RAPDU_MAX (65536u + 2u)		 /* Ne 65536, SW1 SW2 */

/*
 * Open the reader named by spec (see the top of this file) with protocol
 * proto (READER_PROTO_T0, _T1 or _ANY), and power the card up: a virtual
 * chip recovers its NVM journal and answers to reset; a PC/SC card is
 * connected (shared: other programs may use it between our commands).
 * *out is the caller's to close. On failure *out is NULL and err (capacity
 * err_cap, may be NULL) says what went wrong, naming the image or reader.
 */
reader_status_t reader_open(const char *spec, int proto, reader_t **out,
			    char *err, size_t err_cap);

/*
 * Power the card down and close: a virtual chip's image is flushed to disk
 * and unlocked; a PC/SC card is reset and released (so that no security
 * status outlives the session, as with a virtual chip). NULL is accepted.
 * Everything is released even on failure; err (may be NULL) says why.
 */
reader_status_t reader_close(reader_t *r, char *err, size_t err_cap);

/* Power the card up (the answer to reset is read again) or down. Powering
 * up a powered card, or down an unpowered one, does nothing. */
reader_status_t reader_power_up(reader_t *r);
reader_status_t reader_power_down(reader_t *r);
/* A reset: the card's RAM and security status are lost, it answers to
 * reset again. A virtual chip is powered off and on; a PC/SC card gets a
 * warm reset. An unpowered card is powered up. */
reader_status_t reader_reset(reader_t *r);
int reader_powered(const reader_t *r);

/* The answer to reset of the last power up (TS to TCK); *len is 0 if the
 * card never answered. Valid until the next power up or reset. */
const uint8_t *reader_atr(const reader_t *r, size_t *len);

/*
 * Choose the protocol after the answer to reset: a virtual CPU chip models
 * the PPS exchange (cos_set_protocol); a PC/SC card is reconnected with
 * only that protocol allowed (READER_ERR_UNSUPPORTED if the card or reader
 * refuses it). Kept across resets and power cycles.
 */
reader_status_t reader_set_protocol(reader_t *r, int proto);
/* The protocol in use: READER_PROTO_T0 or READER_PROTO_T1. */
int reader_protocol(const reader_t *r);

/*
 * One command APDU in, the card's response out, as they are: data, then
 * SW1 SW2 (*rlen >= 2 on success). rapdu_cap should be READER_RAPDU_MAX
 * for any card; a virtual CPU chip needs at least COS_RAPDU_MAX. A response
 * larger than the buffer is READER_ERR_BUFFER.
 */
reader_status_t reader_transmit(reader_t *r, const uint8_t *capdu, size_t n,
				uint8_t *rapdu, size_t rapdu_cap, size_t *rlen);

/*
 * reader_transmit() with the T=0 chores done, for host programs: a 61xx
 * answer is followed by GET RESPONSE (00 C0 00 00 xx, the logical channel
 * of the command's class kept) until the data is complete; a 6Cxx answer
 * makes it send the command again with Le = xx. The data of all the parts
 * and the last status word go to rapdu. At most 64 exchanges for one call.
 */
reader_status_t reader_apdu(reader_t *r, const uint8_t *capdu, size_t n,
			    uint8_t *rapdu, size_t rapdu_cap, size_t *rlen);

/* What went wrong in the last failed call on r, naming the reader or image
 * and what to do; "" if nothing failed yet. Valid until the next call. */
const char *reader_error_detail(const reader_t *r);

reader_kind_t reader_kind(const reader_t *r);
/* "vcard:PATH" or "pcsc:READER NAME" (the reader actually opened). */
const char *reader_name(const reader_t *r);
/* vcard: the image's path; pcsc: the reader's name. */
const char *reader_target(const reader_t *r);
/* vcard: the chip family ("card OS", "memory card"); pcsc: NULL. */
const char *reader_chip_family(const reader_t *r);
/* A virtual CPU chip, powered, for introspection (cos_get_info, cos_walk,
 * cos_check); NULL for anything else (a PC/SC card, a memory card). */
const cos_chip_t *reader_cos_chip(const reader_t *r);
/* A powered virtual chip of any family, for introspection by the family's
 * own library: a cos_chip_t for "card OS", an mc_chip_t (memcard/memcard.h)
 * for "memory card"; NULL for a PC/SC card or an unpowered chip. */
const void *reader_vcard_chip(const reader_t *r);

/*
 * List the PC/SC readers pcscd knows, with whether each holds a card:
 * names (capacity names_cap) receives "NAME\tcard|empty\n" lines.
 * Returns READER_OK (no reader: "" and READER_OK), or the error, with err
 * saying why (pcscd not running...).
 */
reader_status_t reader_pcsc_list(char *names, size_t names_cap, char *err,
				 size_t err_cap);

/* ---- Serving a card to pcscd through vsmartcard's vpcd ---- */

/* What reader_vpcd_serve() tells its user: one line, no newline. */
typedef enum {
	READER_VPCD_INFO = 1,  /* connected, powered, stopped... */
	READER_VPCD_WARN,      /* refused, lost connection: it retries */
	READER_VPCD_BAD_INPUT, /* a malformed message from vpcd (where, what) */
	READER_VPCD_TRACE,     /* each message and answer (verbose) */
} reader_vpcd_event_t;

typedef struct {
	const char *host; /* vpcd's host, default "127.0.0.1" */
	uint16_t port;	  /* vpcd's port, default 35963 ("Virtual PCD 00 00") */
	/* Set (by a signal handler) to stop: the message being handled is
	 * finished and answered, the card powered down, and serve returns
	 * READER_OK. NULL: runs until an error. */
	volatile sig_atomic_t *stop;
	/* Gives up when vpcd cannot be reached for this long, in ms
	 * (READER_ERR_VPCD_REFUSED or READER_ERR_NET); -1 retries forever,
	 * 0 gives up at the first failed attempt. The wait between attempts
	 * grows from 100 ms to 2 s. A connection lost after it was made is
	 * always retried (pcscd restarting). */
	long give_up_ms;
	int trace; /* also report every message (READER_VPCD_TRACE) */
	void (*report)(void *arg, reader_vpcd_event_t ev, const char *line);
	void *report_arg;
} reader_vpcd_opts_t;

/* What a serving session did, for the user at the end. */
typedef struct {
	uint64_t apdus;	       /* command APDUs answered */
	uint64_t power_ups;    /* power on and reset messages */
	uint64_t connections;  /* successful connections to vpcd */
	uint64_t bad_messages; /* malformed messages reported */
} reader_vpcd_stats_t;

#define READER_VPCD_PORT 35963u

/*
 * Serve r to vpcd: connect to host:port (the card connects, vpcd listens),
 * answer vpcd's messages (power off, power on, reset, ATR, APDUs) until
 * *opts->stop is set, and on a lost connection power the card down and
 * connect again. The card is powered down when serve returns. stats may be
 * NULL. Returns READER_OK when stopped, else the error that ended it
 * (detail in reader_error_detail(r)).
 */
reader_status_t reader_vpcd_serve(reader_t *r, const reader_vpcd_opts_t *opts,
				  reader_vpcd_stats_t *stats);

#endif
