/*
 * pcsc.c - the PC/SC backend: a card in a reader that pcscd (pcsc-lite)
 * manages, a real one or a virtual one (vsmartcard's vpcd).
 *
 * A session is one SCardEstablishContext and one shared SCardConnect:
 * other programs may use the card between our commands, as with OpenSC or
 * pyscard. Power down is a disconnect that unpowers the card, power up a
 * new connect, reset a reconnect with SCARD_RESET_CARD, and closing resets
 * the card so that no security status outlives the session.
 *
 * Every PC/SC error is turned into a reader_status_t and a sentence naming
 * the reader and what to do: pcscd not running, no reader, no reader of
 * that name (with the names present), no card, card or reader removed
 * during the session, card in use, card mute.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winscard.h>

#include "reader/reader_int.h"

typedef struct {
	SCARDCONTEXT ctx;
	int have_ctx;
	SCARDHANDLE h;
	int connected;
} pcsc_t;

#define NO_SERVICE_HINT                                                   \
	"pcscd is not running (nothing answers on its socket, "           \
	"/run/pcscd/pcscd.comm): start it ('pcscd', or 'systemctl start " \
	"pcscd.socket'), and for virtual chips 'cardfab vicc'"

static int is_no_service(LONG rv)
{
	return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED;
}

static DWORD protocols(int proto)
{
	switch (proto) {
	case READER_PROTO_T0:
		return SCARD_PROTOCOL_T0;
	case READER_PROTO_T1:
		return SCARD_PROTOCOL_T1;
	default:
		return SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
	}
}

static const char *proto_name(int proto)
{
	return proto == READER_PROTO_T0 ? "T=0" :
	       proto == READER_PROTO_T1 ? "T=1" :
					  "T=0 or T=1";
}

/* The readers pcscd knows: a multi-string (NUL-separated, empty string
 * last), malloc'd, in *readers. */
static LONG list_readers(SCARDCONTEXT ctx, char **readers, DWORD *len)
{
	LONG rv;

	*readers = NULL;
	*len = 0;
	rv = SCardListReaders(ctx, NULL, NULL, len);
	if (rv != SCARD_S_SUCCESS)
		return rv;
	*readers = calloc(1, *len + 1);
	if (*readers == NULL)
		return SCARD_E_NO_MEMORY;
	rv = SCardListReaders(ctx, NULL, *readers, len);
	if (rv != SCARD_S_SUCCESS) {
		free(*readers);
		*readers = NULL;
	}
	return rv;
}

/* The states of all readers (timeout 0: as they are now). */
static LONG reader_states(SCARDCONTEXT ctx, const char *readers,
			  SCARD_READERSTATE **out, size_t *count)
{
	const char *p;
	size_t n = 0, i;
	SCARD_READERSTATE *st;
	LONG rv;

	for (p = readers; *p; p += strlen(p) + 1)
		n++;
	*out = NULL;
	*count = n;
	if (n == 0)
		return SCARD_S_SUCCESS;
	st = calloc(n, sizeof *st);
	if (st == NULL)
		return SCARD_E_NO_MEMORY;
	for (p = readers, i = 0; *p; p += strlen(p) + 1, i++) {
		st[i].szReader = p;
		st[i].dwCurrentState = SCARD_STATE_UNAWARE;
	}
	rv = SCardGetStatusChange(ctx, 0, st, (DWORD)n);
	if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
		free(st);
		return rv;
	}
	*out = st;
	return SCARD_S_SUCCESS;
}

/* "'A' (card), 'B' (empty)" into out. */
static void describe_readers(const SCARD_READERSTATE *st, size_t n, char *out,
			     size_t cap)
{
	size_t i, used = 0;
	int w;

	out[0] = '\0';
	for (i = 0; i < n && used < cap; i++) {
		const char *what =
			(st[i].dwEventState & SCARD_STATE_MUTE) ? "mute card" :
			(st[i].dwEventState & SCARD_STATE_PRESENT) ? "card" :
								     "empty";
		w = snprintf(out + used, cap - used, "%s'%s' (%s)",
			     i ? ", " : "", st[i].szReader, what);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static LONG establish(SCARDCONTEXT *ctx, char *err, size_t err_cap,
		      reader_status_t *st)
{
	LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, ctx);

	if (rv == SCARD_S_SUCCESS) {
		*st = READER_OK;
	} else if (is_no_service(rv)) {
		reader_errf(err, err_cap, NO_SERVICE_HINT);
		*st = READER_ERR_NO_SERVICE;
	} else {
		reader_errf(err, err_cap, "PC/SC: SCardEstablishContext: %s",
			    pcsc_stringify_error(rv));
		*st = READER_ERR_PCSC;
	}
	return rv;
}

/*
 * Pick the reader: name "" the first holding a card, else the reader of
 * that name or the only one whose name starts with it. *chosen is malloc'd.
 */
static reader_status_t choose(SCARDCONTEXT ctx, const char *name, char **chosen,
			      char *err, size_t err_cap)
{
	char *readers = NULL, desc[1024];
	SCARD_READERSTATE *st = NULL;
	size_t n = 0, i, hits = 0, hit = 0;
	DWORD len;
	LONG rv;
	reader_status_t res = READER_OK;

	*chosen = NULL;
	rv = list_readers(ctx, &readers, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE) {
		reader_errf(err, err_cap,
			    "pcsc:%s: pcscd runs but sees no reader at all "
			    "(plug one in; for a virtual chip, pcscd needs "
			    "vsmartcard's vpcd driver: package "
			    "vsmartcard-vpcd)",
			    name);
		return READER_ERR_NO_READER;
	}
	if (is_no_service(rv)) {
		reader_errf(err, err_cap, NO_SERVICE_HINT);
		return READER_ERR_NO_SERVICE;
	}
	if (rv != SCARD_S_SUCCESS) {
		reader_errf(err, err_cap, "PC/SC: SCardListReaders: %s",
			    pcsc_stringify_error(rv));
		return READER_ERR_PCSC;
	}
	rv = reader_states(ctx, readers, &st, &n);
	if (rv != SCARD_S_SUCCESS) {
		reader_errf(err, err_cap, "PC/SC: SCardGetStatusChange: %s",
			    pcsc_stringify_error(rv));
		res = is_no_service(rv) ? READER_ERR_NO_SERVICE :
					  READER_ERR_PCSC;
		goto out;
	}
	if (n == 0) {
		reader_errf(err, err_cap, "pcsc:%s: pcscd sees no reader",
			    name);
		res = READER_ERR_NO_READER;
		goto out;
	}
	describe_readers(st, n, desc, sizeof desc);
	if (name[0] == '\0') {
		for (i = 0; i < n; i++)
			if ((st[i].dwEventState & SCARD_STATE_PRESENT) &&
			    !(st[i].dwEventState & SCARD_STATE_MUTE))
				break;
		if (i == n) {
			reader_errf(err, err_cap,
				    "pcsc: no card in any reader (readers: "
				    "%s)",
				    desc);
			res = READER_ERR_NO_CARD;
			goto out;
		}
		hit = i;
	} else {
		for (i = 0; i < n; i++) {
			if (strcmp(st[i].szReader, name) == 0) {
				hits = 1;
				hit = i;
				break;
			}
			if (strncmp(st[i].szReader, name, strlen(name)) == 0) {
				hits++;
				hit = i;
			}
		}
		if (hits == 0) {
			reader_errf(err, err_cap,
				    "pcsc:%s: no reader of that name; readers "
				    "present: %s",
				    name, desc);
			res = READER_ERR_UNKNOWN_READER;
			goto out;
		}
		if (hits > 1) {
			reader_errf(err, err_cap,
				    "pcsc:%s: %zu readers have names starting "
				    "with it; give the whole name: %s",
				    name, hits, desc);
			res = READER_ERR_UNKNOWN_READER;
			goto out;
		}
	}
	*chosen = strdup(st[hit].szReader);
	if (*chosen == NULL) {
		reader_errf(err, err_cap, "out of memory");
		res = READER_ERR_NOMEM;
	}
out:
	free(st);
	free(readers);
	return res;
}

/* Is the card out of the reader (or the reader gone), now or within
 * GONE_WAIT_MS? pcscd polls some readers (vpcd: every 400 ms). */
#define GONE_WAIT_MS 1500
static int card_gone(pcsc_t *p, const char *reader)
{
	SCARD_READERSTATE rs;
	const DWORD gone = SCARD_STATE_EMPTY | SCARD_STATE_UNAVAILABLE |
			   SCARD_STATE_UNKNOWN;
	LONG rv;

	memset(&rs, 0, sizeof rs);
	rs.szReader = reader;
	rs.dwCurrentState = SCARD_STATE_UNAWARE;
	rv = SCardGetStatusChange(p->ctx, 0, &rs, 1);
	if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
		return 1;
	if (rs.dwEventState & gone)
		return 1;
	rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
	rv = SCardGetStatusChange(p->ctx, GONE_WAIT_MS, &rs, 1);
	if (rv == SCARD_E_TIMEOUT)
		return 0;
	return rv != SCARD_S_SUCCESS || (rs.dwEventState & gone) != 0;
}

/* A PC/SC failure of call on r, as a status and a sentence. */
static reader_status_t pcsc_error(reader_t *r, LONG rv, const char *call)
{
	pcsc_t *p = r->be;

	switch (rv) {
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
		return reader_fail(r,
				   r->powered ? READER_ERR_REMOVED :
						READER_ERR_NO_SERVICE,
				   "%s: pcscd stopped (%s: %s)", r->name, call,
				   pcsc_stringify_error(rv));
	case SCARD_E_NO_SMARTCARD:
		return reader_fail(r, READER_ERR_NO_CARD,
				   "%s: no card in the reader", r->name);
	case SCARD_W_REMOVED_CARD:
		if (!r->powered)
			return reader_fail(r, READER_ERR_NO_CARD,
					   "%s: no card in the reader",
					   r->name);
		return reader_fail(r, READER_ERR_REMOVED,
				   "%s: the card was removed during the "
				   "session (%s)",
				   r->name, call);
	case SCARD_E_READER_UNAVAILABLE:
	case SCARD_E_UNKNOWN_READER:
		return reader_fail(r, READER_ERR_REMOVED,
				   "%s: the reader is gone (removed, or its "
				   "driver stopped) (%s: %s)",
				   r->name, call, pcsc_stringify_error(rv));
	case SCARD_W_RESET_CARD:
		return reader_fail(r, READER_ERR_CARD_RESET,
				   "%s: another program reset the card: its "
				   "security status is lost (%s)",
				   r->name, call);
	case SCARD_W_UNRESPONSIVE_CARD:
	case SCARD_W_UNPOWERED_CARD:
		return reader_fail(r, READER_ERR_MUTE,
				   "%s: the card does not answer to reset "
				   "(%s)",
				   r->name, call);
	case SCARD_E_SHARING_VIOLATION:
		return reader_fail(r, READER_ERR_SHARING,
				   "%s: another program has the card "
				   "exclusively (%s)",
				   r->name, call);
	case SCARD_E_PROTO_MISMATCH:
		return reader_fail(r, READER_ERR_UNSUPPORTED,
				   "%s: the card or reader does not offer %s "
				   "(%s)",
				   r->name, proto_name(r->want_proto), call);
	case SCARD_E_INSUFFICIENT_BUFFER:
		return reader_fail(r, READER_ERR_BUFFER,
				   "%s: the response is larger than the "
				   "buffer (%s)",
				   r->name, call);
	case SCARD_E_NOT_TRANSACTED:
	case SCARD_F_COMM_ERROR:
		/* Was the card pulled out under the command? pcscd may not
		 * have noticed yet: give it a moment to say so. */
		if (p != NULL && card_gone(p, r->target))
			return reader_fail(r, READER_ERR_REMOVED,
					   "%s: the card was removed during "
					   "the command (%s: %s)",
					   r->name, call,
					   pcsc_stringify_error(rv));
		return reader_fail(r, READER_ERR_MUTE,
				   "%s: the card did not answer the command "
				   "(%s: %s)",
				   r->name, call, pcsc_stringify_error(rv));
	default:
		return reader_fail(r, READER_ERR_PCSC, "%s: %s: %s", r->name,
				   call, pcsc_stringify_error(rv));
	}
}

static int active_proto(DWORD active)
{
	return active == SCARD_PROTOCOL_T0 ? READER_PROTO_T0 : READER_PROTO_T1;
}

/* The ATR of the connected card into r. */
static reader_status_t read_atr(reader_t *r)
{
	pcsc_t *p = r->be;
	DWORD state = 0, proto = 0, rlen = 0, alen = sizeof r->atr;
	LONG rv;

	rv = SCardStatus(p->h, NULL, &rlen, &state, &proto, r->atr, &alen);
	if (rv != SCARD_S_SUCCESS) {
		r->atr_len = 0;
		return pcsc_error(r, rv, "SCardStatus");
	}
	r->atr_len = alen;
	return READER_OK;
}

static reader_status_t pc_power_up(reader_t *r)
{
	pcsc_t *p = r->be;
	DWORD active = 0;
	LONG rv;
	reader_status_t st;

	rv = SCardConnect(p->ctx, r->target, SCARD_SHARE_SHARED,
			  protocols(r->want_proto), &p->h, &active);
	if (rv != SCARD_S_SUCCESS)
		return pcsc_error(r, rv, "SCardConnect");
	p->connected = 1;
	r->proto = active_proto(active);
	st = read_atr(r);
	if (st != READER_OK) {
		SCardDisconnect(p->h, SCARD_LEAVE_CARD);
		p->connected = 0;
		return st;
	}
	r->powered = 1;
	return READER_OK;
}

static reader_status_t pc_power_down(reader_t *r)
{
	pcsc_t *p = r->be;
	LONG rv = SCARD_S_SUCCESS;

	if (p->connected)
		rv = SCardDisconnect(p->h, SCARD_UNPOWER_CARD);
	p->connected = 0;
	r->powered = 0;
	r->atr_len = 0;
	if (rv != SCARD_S_SUCCESS)
		return pcsc_error(r, rv, "SCardDisconnect");
	return READER_OK;
}

static reader_status_t pc_reconnect(reader_t *r, DWORD init, const char *why)
{
	pcsc_t *p = r->be;
	DWORD active = 0;
	LONG rv;

	rv = SCardReconnect(p->h, SCARD_SHARE_SHARED, protocols(r->want_proto),
			    init, &active);
	if (rv != SCARD_S_SUCCESS) {
		reader_status_t st = pcsc_error(r, rv, why);

		if (st == READER_ERR_REMOVED || st == READER_ERR_NO_CARD) {
			r->powered = 0;
			r->atr_len = 0;
		}
		return st;
	}
	r->proto = active_proto(active);
	return read_atr(r);
}

static reader_status_t pc_reset(reader_t *r)
{
	return pc_reconnect(r, SCARD_RESET_CARD, "SCardReconnect (reset)");
}

static reader_status_t pc_set_protocol(reader_t *r, int proto)
{
	int old = r->want_proto;
	reader_status_t st;

	r->want_proto = proto;
	if (!r->powered) {
		r->proto = proto;
		return READER_OK;
	}
	st = pc_reconnect(r, SCARD_LEAVE_CARD, "SCardReconnect");
	if (st == READER_ERR_UNSUPPORTED || st == READER_ERR_PCSC)
		/* A protocol is chosen once a reset: try with one. */
		st = pc_reconnect(r, SCARD_RESET_CARD,
				  "SCardReconnect (reset)");
	if (st == READER_OK && r->proto != proto)
		st = reader_fail(r, READER_ERR_UNSUPPORTED,
				 "%s: the card runs %s, %s was refused",
				 r->name, proto_name(r->proto),
				 proto_name(proto));
	if (st != READER_OK)
		r->want_proto = old;
	return st;
}

static reader_status_t pc_transmit(reader_t *r, const uint8_t *capdu, size_t n,
				   uint8_t *rapdu, size_t cap, size_t *rlen)
{
	pcsc_t *p = r->be;
	DWORD len = (DWORD)cap;
	LONG rv;

	rv = SCardTransmit(
		p->h, r->proto == READER_PROTO_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1,
		capdu, (DWORD)n, NULL, rapdu, &len);
	if (rv != SCARD_S_SUCCESS) {
		*rlen = 0;
		return pcsc_error(r, rv, "SCardTransmit");
	}
	if (len < 2) {
		*rlen = 0;
		return reader_fail(r, READER_ERR_MUTE,
				   "%s: the card answered %lu bytes, no status "
				   "word",
				   r->name, (unsigned long)len);
	}
	*rlen = len;
	return READER_OK;
}

static reader_status_t pc_close(reader_t *r, char *err, size_t err_cap)
{
	pcsc_t *p = r->be;
	LONG rv;

	(void)err;
	(void)err_cap;
	if (p == NULL)
		return READER_OK;
	if (p->connected) {
		/* Reset: no security status outlives the session. */
		rv = SCardDisconnect(p->h, SCARD_RESET_CARD);
		if (rv != SCARD_S_SUCCESS)
			SCardDisconnect(p->h, SCARD_LEAVE_CARD);
	}
	if (p->have_ctx)
		SCardReleaseContext(p->ctx);
	free(p);
	r->be = NULL;
	r->powered = 0;
	return READER_OK;
}

static const reader_ops_t pcsc_ops = {
	READER_KIND_PCSC, pc_power_up, pc_power_down, pc_reset,
	pc_set_protocol,  pc_transmit, pc_close,
};

reader_status_t reader_pcsc_open(const char *name, int proto, reader_t **out,
				 char *err, size_t err_cap)
{
	SCARDCONTEXT ctx;
	char *chosen = NULL;
	reader_t *r;
	pcsc_t *p;
	reader_status_t st;

	*out = NULL;
	establish(&ctx, err, err_cap, &st);
	if (st != READER_OK)
		return st;
	st = choose(ctx, name, &chosen, err, err_cap);
	if (st != READER_OK) {
		SCardReleaseContext(ctx);
		return st;
	}
	r = reader_new(&pcsc_ops, "pcsc:", chosen);
	free(chosen);
	p = calloc(1, sizeof *p);
	if (r == NULL || p == NULL) {
		reader_free(r);
		free(p);
		SCardReleaseContext(ctx);
		reader_errf(err, err_cap, "out of memory");
		return READER_ERR_NOMEM;
	}
	p->ctx = ctx;
	p->have_ctx = 1;
	r->be = p;
	r->want_proto = proto;
	st = pc_power_up(r);
	if (st != READER_OK) {
		reader_errf(err, err_cap, "%s", r->detail);
		pc_close(r, NULL, 0);
		reader_free(r);
		return st;
	}
	*out = r;
	return READER_OK;
}

reader_status_t reader_pcsc_list(char *names, size_t names_cap, char *err,
				 size_t err_cap)
{
	SCARDCONTEXT ctx;
	SCARD_READERSTATE *st = NULL;
	char *readers = NULL;
	size_t n = 0, i, used = 0;
	DWORD len;
	LONG rv;
	reader_status_t res;
	int w;

	reader_errf(err, err_cap, "%s", "");
	if (names == NULL || names_cap == 0)
		return READER_ERR_PARAM;
	names[0] = '\0';
	establish(&ctx, err, err_cap, &res);
	if (res != READER_OK)
		return res;
	rv = list_readers(ctx, &readers, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE) {
		SCardReleaseContext(ctx);
		return READER_OK;
	}
	if (rv == SCARD_S_SUCCESS)
		rv = reader_states(ctx, readers, &st, &n);
	if (rv != SCARD_S_SUCCESS) {
		reader_errf(err, err_cap, "%s",
			    is_no_service(rv) ? NO_SERVICE_HINT :
						pcsc_stringify_error(rv));
		res = is_no_service(rv) ? READER_ERR_NO_SERVICE :
					  READER_ERR_PCSC;
		goto out;
	}
	for (i = 0; i < n; i++) {
		w = snprintf(names + used, names_cap - used, "%s\t%s\n",
			     st[i].szReader,
			     (st[i].dwEventState & SCARD_STATE_MUTE) ? "mute" :
			     (st[i].dwEventState & SCARD_STATE_PRESENT) ?
								       "card" :
								       "empty");
		if (w < 0 || (size_t)w >= names_cap - used) {
			res = READER_ERR_BUFFER;
			break;
		}
		used += (size_t)w;
	}
out:
	free(st);
	free(readers);
	SCardReleaseContext(ctx);
	return res;
}
