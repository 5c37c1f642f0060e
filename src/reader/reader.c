/*
 * reader.c - the reader API's front door (contracts in reader.h): the card
 * specification, dispatch to the backend (vcard.c, pcsc.c), error texts,
 * and reader_apdu(), which does the T=0 chores (61xx, 6Cxx) for host
 * programs on top of the raw reader_transmit().
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader/reader_int.h"

const char *reader_strerror(reader_status_t st)
{
	switch (st) {
	case READER_OK:
		return "success";
	case READER_ERR_PARAM:
		return "invalid argument";
	case READER_ERR_NOMEM:
		return "out of memory";
	case READER_ERR_NO_IMAGE:
		return "no such chip image";
	case READER_ERR_IMAGE_IO:
		return "chip image I/O error";
	case READER_ERR_LOCKED:
		return "chip image in use by another process";
	case READER_ERR_NOT_CHIP:
		return "not a chip image";
	case READER_ERR_CHIP:
		return "the chip failed";
	case READER_ERR_NOT_POWERED:
		return "the card is not powered";
	case READER_ERR_NO_SERVICE:
		return "pcscd is not running";
	case READER_ERR_NO_READER:
		return "no PC/SC reader";
	case READER_ERR_UNKNOWN_READER:
		return "no such PC/SC reader";
	case READER_ERR_NO_CARD:
		return "no card in the reader";
	case READER_ERR_REMOVED:
		return "card or reader removed";
	case READER_ERR_CARD_RESET:
		return "the card was reset by another program";
	case READER_ERR_SHARING:
		return "the card is in use by another program";
	case READER_ERR_MUTE:
		return "the card does not answer";
	case READER_ERR_UNSUPPORTED:
		return "not supported by this reader or card";
	case READER_ERR_BUFFER:
		return "response larger than the buffer";
	case READER_ERR_PCSC:
		return "PC/SC error";
	case READER_ERR_VPCD_REFUSED:
		return "vpcd refused the connection";
	case READER_ERR_NET:
		return "network error";
	}
	return "unknown reader error";
}

void reader_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

void reader_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n--)
		*v++ = 0;
}

reader_status_t reader_fail(reader_t *r, reader_status_t st, const char *fmt,
			    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof r->detail, fmt, ap);
	va_end(ap);
	return st;
}

reader_t *reader_new(const reader_ops_t *ops, const char *prefix,
		     const char *target)
{
	reader_t *r = calloc(1, sizeof *r);
	size_t n;

	if (r == NULL)
		return NULL;
	n = strlen(prefix) + strlen(target) + 1;
	r->name = malloc(n);
	r->target = strdup(target);
	if (r->name == NULL || r->target == NULL) {
		reader_free(r);
		return NULL;
	}
	snprintf(r->name, n, "%s%s", prefix, target);
	r->ops = ops;
	r->proto = READER_PROTO_T1;
	r->want_proto = READER_PROTO_ANY;
	return r;
}

void reader_free(reader_t *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->target);
	free(r);
}

reader_status_t reader_open(const char *spec, int proto, reader_t **out,
			    char *err, size_t err_cap)
{
	reader_errf(err, err_cap, "%s", "");
	if (out == NULL)
		return READER_ERR_PARAM;
	*out = NULL;
	if (spec == NULL) {
		reader_errf(err, err_cap, "no card given");
		return READER_ERR_PARAM;
	}
	if (proto != READER_PROTO_ANY && proto != READER_PROTO_T0 &&
	    proto != READER_PROTO_T1) {
		reader_errf(err, err_cap,
			    "%s: protocol %d: expected T=0 or T=1", spec,
			    proto);
		return READER_ERR_PARAM;
	}
	if (strncmp(spec, "pcsc:", 5) == 0)
		return reader_pcsc_open(spec + 5, proto, out, err, err_cap);
	if (strncmp(spec, "vcard:", 6) == 0)
		spec += 6;
	if (spec[0] == '\0') {
		reader_errf(err, err_cap,
			    "empty chip image path; expected vcard:PATH, PATH "
			    "or pcsc:READER");
		return READER_ERR_PARAM;
	}
	return reader_vcard_open(spec, proto, out, err, err_cap);
}

reader_status_t reader_close(reader_t *r, char *err, size_t err_cap)
{
	reader_status_t st;

	reader_errf(err, err_cap, "%s", "");
	if (r == NULL)
		return READER_OK;
	st = r->ops->close(r, err, err_cap);
	reader_free(r);
	return st;
}

reader_status_t reader_power_up(reader_t *r)
{
	if (r == NULL)
		return READER_ERR_PARAM;
	r->detail[0] = '\0';
	if (r->powered)
		return READER_OK;
	return r->ops->power_up(r);
}

reader_status_t reader_power_down(reader_t *r)
{
	if (r == NULL)
		return READER_ERR_PARAM;
	r->detail[0] = '\0';
	if (!r->powered)
		return READER_OK;
	return r->ops->power_down(r);
}

reader_status_t reader_reset(reader_t *r)
{
	if (r == NULL)
		return READER_ERR_PARAM;
	r->detail[0] = '\0';
	if (!r->powered)
		return r->ops->power_up(r);
	return r->ops->reset(r);
}

int reader_powered(const reader_t *r)
{
	return r != NULL && r->powered;
}

const uint8_t *reader_atr(const reader_t *r, size_t *len)
{
	*len = r->atr_len;
	return r->atr;
}

reader_status_t reader_set_protocol(reader_t *r, int proto)
{
	if (r == NULL)
		return READER_ERR_PARAM;
	r->detail[0] = '\0';
	if (proto != READER_PROTO_T0 && proto != READER_PROTO_T1)
		return reader_fail(r, READER_ERR_PARAM,
				   "%s: protocol %d: expected T=0 or T=1",
				   r->name, proto);
	return r->ops->set_protocol(r, proto);
}

int reader_protocol(const reader_t *r)
{
	return r->proto;
}

reader_status_t reader_transmit(reader_t *r, const uint8_t *capdu, size_t n,
				uint8_t *rapdu, size_t rapdu_cap, size_t *rlen)
{
	if (rlen != NULL)
		*rlen = 0;
	if (r == NULL || rlen == NULL || rapdu == NULL ||
	    (capdu == NULL && n > 0))
		return READER_ERR_PARAM;
	r->detail[0] = '\0';
	if (!r->powered)
		return reader_fail(r, READER_ERR_NOT_POWERED,
				   "%s: the card is powered down", r->name);
	return r->ops->transmit(r, capdu, n, rapdu, rapdu_cap, rlen);
}

/*
 * The command again with Le = le (1..256 in one byte, 0 meaning 256), per
 * its case (ISO/IEC 7816-3 12.1): Le is appended to a case 1 or 3 command
 * and replaced in a case 2 or 4 one, short or extended. 0 if the command
 * is not a well-formed APDU (then 6Cxx is given back as it is).
 */
static size_t with_le(const uint8_t *c, size_t n, uint8_t le, uint8_t *out,
		      size_t cap)
{
	size_t lc;

	if (n < 4 || n + 2 > cap)
		return 0;
	memcpy(out, c, n);
	if (n == 4) { /* case 1 */
		out[4] = le;
		return 5;
	}
	if (c[4] != 0 || n == 5) {
		if (n == 5) { /* case 2 short */
			out[4] = le;
			return 5;
		}
		lc = c[4];
		if (n == 5 + lc) { /* case 3 short */
			out[n] = le;
			return n + 1;
		}
		if (n == 6 + lc) { /* case 4 short */
			out[n - 1] = le;
			return n;
		}
		return 0;
	}
	/* c[4] == 0, n >= 6: extended */
	if (n == 7) { /* case 2 extended */
		out[5] = 0;
		out[6] = le;
		return 7;
	}
	if (n < 7)
		return 0;
	lc = (size_t)c[5] << 8 | c[6];
	if (lc == 0)
		return 0;
	if (n == 7 + lc) { /* case 3 extended */
		out[n] = 0;
		out[n + 1] = le;
		return n + 2;
	}
	if (n == 9 + lc) { /* case 4 extended */
		out[n - 2] = 0;
		out[n - 1] = le;
		return n;
	}
	return 0;
}

/* The class byte of a GET RESPONSE that follows a command of class cla:
 * interindustry, on the same logical channel. */
static uint8_t get_response_cla(uint8_t cla)
{
	if ((cla & 0xC0) == 0x40) /* further interindustry: channels 4-19 */
		return (uint8_t)(0x40 | (cla & 0x0F));
	return (uint8_t)(cla & 0x03);
}

reader_status_t reader_apdu(reader_t *r, const uint8_t *capdu, size_t n,
			    uint8_t *rapdu, size_t rapdu_cap, size_t *rlen)
{
	uint8_t *cmd = NULL, *resp = NULL;
	size_t cmd_len = n, got = 0, len, data;
	size_t cmd_used = n, resp_used = 0; /* what there is to wipe */
	int exchanges, le_fixed = 0, in_gr = 0;
	reader_status_t st = READER_OK;
	uint8_t sw1 = 0, sw2 = 0;

	if (rlen != NULL)
		*rlen = 0;
	if (r == NULL || rlen == NULL || rapdu == NULL || capdu == NULL ||
	    n < 4 || n > READER_CAPDU_MAX)
		return READER_ERR_PARAM;
	cmd = malloc(READER_CAPDU_MAX + 2);
	resp = malloc(READER_RAPDU_MAX);
	if (cmd == NULL || resp == NULL) {
		st = reader_fail(r, READER_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(cmd, capdu, n);
	for (exchanges = 0;; exchanges++) {
		if (exchanges == 64) {
			st = reader_fail(r, READER_ERR_PCSC,
					 "%s: the card still had data after "
					 "64 GET RESPONSE exchanges",
					 r->name);
			goto out;
		}
		st = reader_transmit(r, cmd, cmd_len, resp, READER_RAPDU_MAX,
				     &len);
		if (st != READER_OK)
			goto out;
		if (len > resp_used)
			resp_used = len;
		sw1 = resp[len - 2];
		sw2 = resp[len - 1];
		data = len - 2;
		if (sw1 == 0x6C && data == 0 && in_gr) {
			/* GET RESPONSE with a wrong Le: again with the card's
			 */
			cmd[4] = sw2;
			continue;
		}
		if (sw1 == 0x6C && data == 0 && !le_fixed && !in_gr) {
			/* Wrong Le: the command was not executed; again with
			 * the Le the card asks for (once). */
			size_t m = with_le(capdu, n, sw2, cmd,
					   READER_CAPDU_MAX + 2);
			if (m != 0) {
				cmd_len = m;
				if (m > cmd_used)
					cmd_used = m;
				le_fixed = 1;
				continue;
			}
		}
		if (got + data + 2 > rapdu_cap) {
			st = reader_fail(r, READER_ERR_BUFFER,
					 "%s: the response (%zu bytes and "
					 "more) is larger than the buffer "
					 "(%zu bytes)",
					 r->name, got + data + 2, rapdu_cap);
			goto out;
		}
		memcpy(rapdu + got, resp, data);
		got += data;
		if (sw1 != 0x61)
			break;
		cmd[0] = get_response_cla(capdu[0]);
		cmd[1] = 0xC0;
		cmd[2] = 0x00;
		cmd[3] = 0x00;
		cmd[4] = sw2;
		cmd_len = 5;
		if (cmd_used < 5)
			cmd_used = 5;
		in_gr = 1;
	}
	rapdu[got++] = sw1;
	rapdu[got++] = sw2;
	*rlen = got;
out:
	/* Only the bytes that held an APDU: a whole 64 KiB wipe a command
	 * was most of a short exchange's time. */
	if (cmd != NULL)
		reader_wipe(cmd, cmd_used);
	if (resp != NULL)
		reader_wipe(resp, resp_used);
	free(cmd);
	free(resp);
	if (st != READER_OK)
		*rlen = 0;
	return st;
}

const char *reader_error_detail(const reader_t *r)
{
	return r != NULL ? r->detail : "";
}

reader_kind_t reader_kind(const reader_t *r)
{
	return r->ops->kind;
}

const char *reader_name(const reader_t *r)
{
	return r->name;
}

const char *reader_target(const reader_t *r)
{
	return r->target;
}

const char *reader_chip_family(const reader_t *r)
{
	return r->ops->kind == READER_KIND_VCARD ? reader_vcard_family(r) :
						   NULL;
}

const cos_chip_t *reader_cos_chip(const reader_t *r)
{
	if (r == NULL || r->ops->kind != READER_KIND_VCARD || !r->powered)
		return NULL;
	return reader_vcard_cos(r);
}

const void *reader_vcard_chip(const reader_t *r)
{
	if (r == NULL || r->ops->kind != READER_KIND_VCARD || !r->powered)
		return NULL;
	return reader_vcard_ram(r);
}
