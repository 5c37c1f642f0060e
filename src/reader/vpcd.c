/*
 * vpcd.c - serve a card to pcscd through vsmartcard's vpcd driver: the
 * card end of vsmartcard's protocol, as its own vicc (virtualsmartcard's
 * VirtualSmartcard.py) and vpcd (src/vpcd/vpcd.c) define it.
 *
 * The protocol. vpcd, loaded by pcscd, listens on a TCP port per virtual
 * reader slot (35963 for "Virtual PCD 00 00", 35964 for "... 00 01"); the
 * card connects. Each message either way is a 2-byte big-endian length and
 * that many bytes. From vpcd, a 1-byte message is a control: 00 power off,
 * 01 power on, 02 reset, 04 "your ATR?" (the only control answered: with
 * the ATR, framed); a longer message is a command APDU, answered with the
 * response APDU, framed. vpcd polls presence with 04 several times a
 * second; an empty answer to it means "no card". A card that closes the
 * socket has been pulled out of the reader; vpcd accepts a new one later.
 *
 * Latency. Debian's vpcd 3.3 writes the length and the APDU with two
 * send() calls, and does not disable Nagle's algorithm: its second write
 * waits for our ACK of the first, and Linux delays that ACK (up to ~40 ms)
 * hoping to piggyback it. So before every read the card re-arms
 * TCP_QUICKACK (the kernel clears it by itself), and its own answers go out
 * in one write with TCP_NODELAY. Without both, every APDU stalls ~44 ms.
 *
 * Robustness. Input from the socket is parsed by vpcd_frame() and
 * vpcd_handle() only (a fuzz target drives both); a malformed message is
 * reported (message number, stream offset, what) and answered so that vpcd
 * never waits forever. A lost connection (pcscd stopped or restarted)
 * powers the card down and the card connects again, with a growing pause,
 * telling the user once. A stop request (a signal handler sets *opts->stop)
 * is seen between messages: the message in hand is answered first, then
 * the card is powered down and serve returns.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* TCP_QUICKACK */

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reader/reader_int.h"

#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 2000
#define POLL_MS 250 /* longest wait before the stop flag is seen */
#define SILENCE_WARN_MS 5000

/* ---------------------------------------------------------------- engine */

void vpcd_report(const reader_vpcd_opts_t *o, reader_vpcd_event_t ev,
		 const char *fmt, ...)
{
	char line[READER_DETAIL_MAX + 128];
	va_list ap;

	if (o == NULL || o->report == NULL)
		return;
	if (ev == READER_VPCD_TRACE && !o->trace)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	o->report(o->report_arg, ev, line);
}

int vpcd_frame(const uint8_t *buf, size_t len, size_t *msg_len)
{
	size_t n;

	if (len < VPCD_HDR)
		return 0;
	n = (size_t)buf[0] << 8 | buf[1];
	if (len - VPCD_HDR < n)
		return 0;
	*msg_len = n;
	return 1;
}

/* Frame payload[0..n) into out. */
static size_t frame(uint8_t *out, const uint8_t *payload, size_t n)
{
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	memmove(out + VPCD_HDR, payload, n);
	return VPCD_HDR + n;
}

static void hex(char *out, size_t cap, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i, max = (cap - 4) / 2;

	for (i = 0; i < n && i < max; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0F];
	}
	if (i < n)
		memcpy(out + 2 * i, "...", 4);
	else
		out[2 * i] = '\0';
}

/* "message 12 (stream byte 345)" */
#define WHERE_FMT "vpcd message %llu (stream byte %llu)"
#define WHERE(e) \
	(unsigned long long)(e)->msg_no, (unsigned long long)(e)->stream_off

static void power_up(vpcd_engine_t *e, int reset)
{
	reader_status_t st;
	size_t n;

	e->stats->power_ups++;
	st = reset || reader_powered(e->card) ? reader_reset(e->card) :
						reader_power_up(e->card);
	if (st != READER_OK) {
		vpcd_report(e->opts, READER_VPCD_WARN,
			    "%s failed: %s (the card stays unpowered and "
			    "answers no ATR)",
			    reset ? "reset" : "power up",
			    reader_error_detail(e->card));
		reader_power_down(e->card);
		return;
	}
	reader_atr(e->card, &n);
	vpcd_report(e->opts, READER_VPCD_TRACE, "%s: ATR of %zu bytes",
		    reset ? "reset" : "power up", n);
}

void vpcd_handle(vpcd_engine_t *e, const uint8_t *msg, size_t n, uint8_t *out,
		 size_t *out_len)
{
	char shown[2 * 16 + 4];
	const uint8_t *atr;
	size_t atr_len, rlen;
	reader_status_t st;

	*out_len = 0;
	e->msg_no++;
	if (n == 0) {
		/* vpcd never sends one (vicc.py: "missing size parameter");
		 * it expects nothing back. */
		e->stats->bad_messages++;
		vpcd_report(e->opts, READER_VPCD_BAD_INPUT,
			    WHERE_FMT ": empty message (length 0), ignored",
			    WHERE(e));
		return;
	}
	if (n == 1) {
		switch (msg[0]) {
		case VPCD_CTRL_OFF:
			vpcd_report(e->opts, READER_VPCD_TRACE, "power off");
			reader_power_down(e->card);
			return;
		case VPCD_CTRL_ON:
			power_up(e, 0);
			return;
		case VPCD_CTRL_RESET:
			power_up(e, 1);
			return;
		case VPCD_CTRL_ATR:
			/* Asked powered or not (presence polling): the ATR of
			 * the last power up; none if the chip never gave one,
			 * which vpcd takes as "no card". */
			atr = reader_atr(e->card, &atr_len);
			*out_len = frame(out, atr, atr_len);
			return;
		default:
			e->stats->bad_messages++;
			vpcd_report(e->opts, READER_VPCD_BAD_INPUT,
				    WHERE_FMT
				    ": unknown control byte %02X "
				    "(expected 00 power off, 01 power on, 02 "
				    "reset or 04 ATR), ignored",
				    WHERE(e), msg[0]);
			return;
		}
	}
	/* A command APDU: whatever the bytes, it gets an answer. */
	if (!reader_powered(e->card)) {
		e->stats->bad_messages++;
		hex(shown, sizeof shown, msg, n);
		vpcd_report(e->opts, READER_VPCD_BAD_INPUT,
			    WHERE_FMT ": a %zu-byte APDU (%s) for a card that "
				      "is not powered; answered 6F00",
			    WHERE(e), n, shown);
		*out_len = frame(out, (const uint8_t *)"\x6F\x00", 2);
		return;
	}
	st = reader_transmit(e->card, msg, n, e->rapdu, sizeof e->rapdu, &rlen);
	if (st != READER_OK) {
		hex(shown, sizeof shown, msg, n);
		vpcd_report(e->opts, READER_VPCD_WARN,
			    WHERE_FMT ": APDU %s: %s; answered 6F00", WHERE(e),
			    shown, reader_error_detail(e->card));
		*out_len = frame(out, (const uint8_t *)"\x6F\x00", 2);
		return;
	}
	e->stats->apdus++;
	if (e->opts != NULL && e->opts->trace && e->opts->report != NULL) {
		char rshown[2 * 16 + 4];

		hex(shown, sizeof shown, msg, n);
		hex(rshown, sizeof rshown, e->rapdu, rlen);
		vpcd_report(e->opts, READER_VPCD_TRACE, "> %s  < %s", shown,
			    rshown);
	}
	*out_len = frame(out, e->rapdu, rlen);
	reader_wipe(e->rapdu, rlen);
}

/* ---------------------------------------------------------------- socket */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stopped(const reader_vpcd_opts_t *o)
{
	return o != NULL && o->stop != NULL && *o->stop;
}

/* Sleep ms, in slices, returning early when stopped. */
static void pause_ms(const reader_vpcd_opts_t *o, long ms)
{
	struct timespec ts;
	long slice;

	while (ms > 0 && !stopped(o)) {
		slice = ms < POLL_MS ? ms : POLL_MS;
		ts.tv_sec = slice / 1000;
		ts.tv_nsec = (slice % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

/* One connection attempt: the socket, or -1 with errno set. */
static int try_connect(const char *host, const char *port, int *gai_err)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, e = ECONNREFUSED, one = 1;
	struct timeval tv = { 0, POLL_MS * 1000 };

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	*gai_err = getaddrinfo(host, port, &hints, &res);
	if (*gai_err != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	/* Our answers leave at once, in one segment each. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Reads wake up at least every POLL_MS to see a stop request. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Connect, retrying with a growing pause; -1 when stopped or given up
 * (status in *st). */
static int connect_retry(reader_t *r, const reader_vpcd_opts_t *o,
			 const char *host, const char *port, int lost,
			 reader_status_t *st)
{
	long start = now_ms(), wait = RETRY_FIRST_MS;
	int fd, gai_err, told = 0, e;

	*st = READER_OK;
	for (;;) {
		if (stopped(o))
			return -1;
		fd = try_connect(host, port, &gai_err);
		if (fd >= 0) {
			vpcd_report(o, READER_VPCD_INFO,
				    "%sconnected to vpcd at %s:%s: the card is "
				    "in the reader",
				    lost ? "re" : "", host, port);
			return fd;
		}
		e = errno;
		if (stopped(o))
			return -1; /* a signal interrupted connect() */
		if (gai_err != 0) {
			*st = reader_fail(r, READER_ERR_NET,
					  "vpcd host '%s': %s", host,
					  gai_strerror(gai_err));
			return -1;
		}
		if (!told) {
			if (e == ECONNREFUSED)
				reader_fail(r, READER_ERR_VPCD_REFUSED,
					    "vpcd at %s:%s refused the "
					    "connection: nothing listens there "
					    "(is pcscd running, with "
					    "vsmartcard's vpcd driver, package "
					    "vsmartcard-vpcd? 'pcscd -f -i' "
					    "shows it starting 'Virtual PCD')",
					    host, port);
			else
				reader_fail(r, READER_ERR_NET,
					    "cannot connect to vpcd at %s:%s: "
					    "%s",
					    host, port, strerror(e));
		}
		if (o->give_up_ms >= 0 && now_ms() - start >= o->give_up_ms) {
			*st = e == ECONNREFUSED ? READER_ERR_VPCD_REFUSED :
						  READER_ERR_NET;
			return -1;
		}
		if (!told) {
			vpcd_report(o, READER_VPCD_WARN,
				    "%s; retrying until it does (every %d s "
				    "at most)",
				    r->detail, RETRY_MAX_MS / 1000);
			told = 1;
		}
		pause_ms(o, wait);
		wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
	}
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_fd(void *arg, const uint8_t *p, size_t n)
{
	return send_all(*(int *)arg, p, n);
}

vpcd_consume_t
vpcd_consume(vpcd_engine_t *e, uint8_t *in, size_t *have, uint8_t *out,
	     int (*send_fn)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	size_t off = 0, mlen, out_len;
	vpcd_consume_t res = VPCD_CONSUMED;

	while (vpcd_frame(in + off, *have - off, &mlen)) {
		vpcd_handle(e, in + off + VPCD_HDR, mlen, out, &out_len);
		e->stream_off += VPCD_HDR + mlen;
		off += VPCD_HDR + mlen;
		if (out_len > 0 && send_fn(arg, out, out_len) != 0) {
			res = VPCD_SEND_FAILED;
			break;
		}
		if (stopped(e->opts)) {
			res = VPCD_STOPPED;
			break;
		}
	}
	if (off > 0) {
		memmove(in, in + off, *have - off);
		*have -= off;
	}
	return res;
}

typedef enum {
	SESSION_STOP,
	SESSION_LOST
} session_end_t;

/* Serve one connection until it is lost or a stop is asked. */
static session_end_t session(vpcd_engine_t *e, int fd, uint8_t *in,
			     size_t in_cap, uint8_t *out)
{
	const reader_vpcd_opts_t *o = e->opts;
	size_t have = 0;
	long last = now_ms();
	int one = 1, warned = 0;
	ssize_t k;

	e->msg_no = 0;
	e->stream_off = 0;
	while (!stopped(o)) {
		/* Re-armed before every read: the kernel drops quick-ack
		 * mode by itself, and without it vpcd's split writes stall
		 * on our delayed ACK. */
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
		k = recv(fd, in + have, in_cap - have, 0);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK) {
				if (!warned && e->msg_no == 0 &&
				    now_ms() - last > SILENCE_WARN_MS) {
					vpcd_report(
						o, READER_VPCD_WARN,
						"vpcd accepted the connection "
						"but has said nothing for %d "
						"s: is another card already "
						"in that reader? (vpcd takes "
						"one card a port)",
						SILENCE_WARN_MS / 1000);
					warned = 1;
				}
				continue;
			}
			vpcd_report(o, READER_VPCD_WARN,
				    "reading from vpcd failed: %s",
				    strerror(errno));
			return SESSION_LOST;
		}
		if (k == 0) {
			if (have > 0) {
				e->stats->bad_messages++;
				vpcd_report(o, READER_VPCD_BAD_INPUT,
					    "vpcd message %llu (stream byte "
					    "%llu): the connection closed "
					    "inside a message (%zu of its "
					    "bytes received)",
					    (unsigned long long)e->msg_no + 1,
					    (unsigned long long)e->stream_off,
					    have);
			}
			return SESSION_LOST;
		}
		have += (size_t)k;
		switch (vpcd_consume(e, in, &have, out, send_fd, &fd)) {
		case VPCD_CONSUMED:
			break;
		case VPCD_SEND_FAILED:
			vpcd_report(o, READER_VPCD_WARN,
				    "answering vpcd failed: %s",
				    strerror(errno));
			return SESSION_LOST;
		case VPCD_STOPPED:
			return SESSION_STOP;
		}
	}
	return SESSION_STOP;
}

reader_status_t reader_vpcd_serve(reader_t *r, const reader_vpcd_opts_t *opts,
				  reader_vpcd_stats_t *stats)
{
	reader_vpcd_opts_t o;
	reader_vpcd_stats_t dummy;
	vpcd_engine_t *e = NULL;
	uint8_t *in = NULL, *out = NULL;
	char port[8];
	reader_status_t st = READER_OK;
	int fd, lost = 0;
	const size_t in_cap = VPCD_FRAME_MAX;

	if (r == NULL || opts == NULL)
		return READER_ERR_PARAM;
	o = *opts;
	if (o.host == NULL || o.host[0] == '\0')
		o.host = "127.0.0.1";
	if (o.port == 0)
		o.port = READER_VPCD_PORT;
	snprintf(port, sizeof port, "%u", (unsigned)o.port);
	if (stats == NULL)
		stats = &dummy;
	memset(stats, 0, sizeof *stats);
	r->detail[0] = '\0';

	e = calloc(1, sizeof *e);
	in = malloc(in_cap);
	out = malloc(VPCD_FRAME_MAX);
	if (e == NULL || in == NULL || out == NULL) {
		st = reader_fail(r, READER_ERR_NOMEM, "out of memory");
		goto done;
	}
	e->card = r;
	e->opts = &o;
	e->stats = stats;

	/* A card put in a reader is unpowered until the reader powers it. */
	reader_power_down(r);
	while (!stopped(&o)) {
		fd = connect_retry(r, &o, o.host, port, lost, &st);
		if (fd < 0)
			break;
		stats->connections++;
		r->detail[0] = '\0';
		if (session(e, fd, in, in_cap, out) == SESSION_STOP) {
			close(fd);
			break;
		}
		close(fd);
		/* Out of the reader: the card loses power. */
		reader_power_down(r);
		lost = 1;
		if (!stopped(&o))
			vpcd_report(&o, READER_VPCD_WARN,
				    "vpcd closed the connection (pcscd "
				    "stopped or restarted?): the card is out "
				    "of the reader, state kept; reconnecting");
	}
done:
	if (r->powered) {
		char keep[READER_DETAIL_MAX];

		memcpy(keep, r->detail, sizeof keep);
		reader_power_down(r);
		memcpy(r->detail, keep, sizeof keep);
	}
	if (e != NULL)
		reader_wipe(e, sizeof *e);
	if (in != NULL)
		reader_wipe(in, in_cap);
	if (out != NULL)
		reader_wipe(out, VPCD_FRAME_MAX);
	free(e);
	free(in);
	free(out);
	return st;
}
