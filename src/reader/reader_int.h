/*
 * reader_int.h - what the files of src/reader share and nobody else sees
 * (tests and fuzz targets excepted): the reader object, the backend table,
 * the virtual chip families, and the vpcd protocol engine without its
 * socket.
 *
 *   reader.c   spec parsing, dispatch to the backend, errors, reader_apdu
 *   vcard.c    virtual chip backend; one vcard_family_t a chip family
 *   pcsc.c     pcsc-lite backend
 *   vpcd.c     vsmartcard's vpcd protocol: framing, the message engine
 *              (vpcd_handle), the socket loop (reader_vpcd_serve)
 */
#ifndef CARDFAB_READER_INT_H
#define CARDFAB_READER_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"
#include "reader/reader.h"

/* ---- backends ---- */

typedef struct reader_ops {
	reader_kind_t kind;
	reader_status_t (*power_up)(reader_t *r);
	reader_status_t (*power_down)(reader_t *r);
	reader_status_t (*reset)(reader_t *r);
	reader_status_t (*set_protocol)(reader_t *r, int proto);
	reader_status_t (*transmit)(reader_t *r, const uint8_t *capdu, size_t n,
				    uint8_t *rapdu, size_t cap, size_t *rlen);
	/* Release everything; err gets the reason of a failure. */
	reader_status_t (*close)(reader_t *r, char *err, size_t err_cap);
} reader_ops_t;

struct reader {
	const reader_ops_t *ops;
	void *be;     /* the backend's own state */
	char *name;   /* "vcard:PATH", "pcsc:NAME" */
	char *target; /* PATH or NAME */
	int powered;
	int proto;	/* READER_PROTO_T0 or _T1 in use */
	int want_proto; /* what the user asked: READER_PROTO_* */
	uint8_t atr[READER_ATR_MAX];
	size_t atr_len;
	char detail[READER_DETAIL_MAX];
};

/* Set r->detail from the format and return st. */
reader_status_t reader_fail(reader_t *r, reader_status_t st, const char *fmt,
			    ...) __attribute__((format(printf, 3, 4)));
/* snprintf into err (NULL or cap 0: nothing). */
void reader_errf(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wipe memory that held APDUs (they may carry PINs and keys). */
void reader_wipe(void *p, size_t n);

/* A new reader_t with name prefix:target, or NULL (out of memory). */
reader_t *reader_new(const reader_ops_t *ops, const char *prefix,
		     const char *target);
void reader_free(reader_t *r);

/* vcard.c: open the image at path and power the chip up. */
reader_status_t reader_vcard_open(const char *path, int proto, reader_t **out,
				  char *err, size_t err_cap);
/* The same on a chip whose NVM is any hal_t the caller keeps alive until
 * reader_close() (tests, fuzzing); name is used in messages. */
reader_status_t reader_vcard_open_hal(const hal_t *hal, const char *name,
				      int proto, reader_t **out, char *err,
				      size_t err_cap);
const char *reader_vcard_family(const reader_t *r);
const cos_chip_t *reader_vcard_cos(const reader_t *r);
const void *reader_vcard_ram(const reader_t *r);

/* pcsc.c: connect to the reader named name ("" the first holding a card). */
reader_status_t reader_pcsc_open(const char *name, int proto, reader_t **out,
				 char *err, size_t err_cap);

/* ---- vsmartcard's vpcd protocol (vpcd.c) ----
 *
 * vpcd <-> card, over TCP: every message is a 2-byte big-endian length and
 * that many bytes. From vpcd, a 1-byte message is a control: 00 power off,
 * 01 power on, 02 reset, 04 send the ATR (answered with the ATR, framed);
 * anything longer is a command APDU, answered with the response APDU,
 * framed. Nothing else is ever answered.
 */

#define VPCD_CTRL_OFF 0x00
#define VPCD_CTRL_ON 0x01
#define VPCD_CTRL_RESET 0x02
#define VPCD_CTRL_ATR 0x04
#define VPCD_HDR 2u
#define VPCD_MSG_MAX 0xFFFFu
#define VPCD_FRAME_MAX (VPCD_HDR + VPCD_MSG_MAX)

/*
 * Find the first whole message in buf[0..len): returns 1 and sets *msg_len
 * (the payload starts at buf + VPCD_HDR; the frame is VPCD_HDR + *msg_len
 * bytes), or 0 if more bytes are needed.
 */
int vpcd_frame(const uint8_t *buf, size_t len, size_t *msg_len);

/* The engine: a reader, a count of messages for "where", reports. */
typedef struct {
	reader_t *card;
	const reader_vpcd_opts_t *opts;
	reader_vpcd_stats_t *stats;
	uint64_t msg_no;     /* messages since the connection was made */
	uint64_t stream_off; /* bytes since the connection was made */
	uint8_t rapdu[READER_RAPDU_MAX];
} vpcd_engine_t;

/*
 * Handle one message (payload msg[0..n), n <= VPCD_MSG_MAX) and write the
 * framed answer, if any, to out (capacity >= VPCD_FRAME_MAX): *out_len is 0
 * when the message gets no answer. Never fails: a malformed message is
 * reported (READER_VPCD_BAD_INPUT) and answered so that vpcd never waits
 * forever for an answer it expects.
 */
void vpcd_handle(vpcd_engine_t *e, const uint8_t *msg, size_t n, uint8_t *out,
		 size_t *out_len);

typedef enum {
	VPCD_CONSUMED = 0, /* every whole message handled */
	VPCD_SEND_FAILED,  /* send_fn failed (errno set by it) */
	VPCD_STOPPED,	   /* *opts->stop was set after a message */
} vpcd_consume_t;

/*
 * Handle every whole message in in[0..*have) (capacity >= VPCD_FRAME_MAX),
 * in order, passing each answer to send_fn (0 on success); the bytes of an
 * unfinished message move to the front and *have becomes their number. out
 * is the answer's buffer (capacity >= VPCD_FRAME_MAX).
 */
vpcd_consume_t
vpcd_consume(vpcd_engine_t *e, uint8_t *in, size_t *have, uint8_t *out,
	     int (*send_fn)(void *arg, const uint8_t *p, size_t n), void *arg);

/* Report one line through opts->report (printf format). */
void vpcd_report(const reader_vpcd_opts_t *o, reader_vpcd_event_t ev,
		 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
