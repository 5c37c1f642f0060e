/*
 * card_io.c - the card session that initialization and personalization
 * share (contract in perso_int.h): checked exchanges, selection, chip
 * data, PIN encoding, card keys out of the token for one APDU.
 *
 * Secrets: a clear key or PIN lives in the caller's buffer and the APDU
 * built from it; the wrapped copy of a secure-messaging command is wiped
 * here after the exchange.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "perso/perso.h"
#include "perso/perso_int.h"

perso_status_t pc_fail(pc_ctx_t *c, perso_status_t st, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errcap, fmt, ap);
		va_end(ap);
	}
	return st;
}

perso_status_t pc_err(char *err, size_t cap, perso_status_t st, const char *fmt,
		      ...)
{
	va_list ap;

	if (err != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return st;
}

size_t pc_mk(uint8_t *out, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
	     const uint8_t *data, size_t n, int le)
{
	size_t k = 4;

	out[0] = cla, out[1] = ins, out[2] = p1, out[3] = p2;
	if (n > 0) {
		out[k++] = (uint8_t)n;
		memcpy(out + k, data, n);
		k += n;
	}
	if (le >= 0)
		out[k++] = (uint8_t)le;
	return k;
}

perso_status_t pc_xchg_any(pc_ctx_t *c, const char *step, const char *cmd,
			   const uint8_t *a, size_t n, uint16_t *sw)
{
	uint8_t w[COS_CAPDU_MAX + 32];
	reader_status_t rs;
	scp03_host_status_t hs;
	size_t rl = 0, wl = 0;

	c->rlen = 0;
	if (c->sm != NULL) {
		hs = scp03_host_wrap(c->sm, a, n, w, sizeof w, &wl);
		if (hs != SCP03_HOST_OK) {
			OPENSSL_cleanse(w, sizeof w);
			return pc_fail(c, PERSO_ERR_PARAM,
				       "%s: %s: secure channel: %s", step, cmd,
				       scp03_host_strerror(hs));
		}
		a = w, n = wl;
	}
	rs = reader_apdu(c->r, a, n, c->resp, sizeof c->resp, &rl);
	if (c->sm != NULL)
		OPENSSL_cleanse(w, sizeof w);
	c->apdus++;
	c->bytes_out += n;
	c->bytes_in += rl;
	if (rs != READER_OK)
		return pc_fail(c, PERSO_ERR_IO, "%s: %s: reader: %s: %s", step,
			       cmd, reader_strerror(rs),
			       reader_error_detail(c->r));
	if (rl < 2)
		return pc_fail(c, PERSO_ERR_CARD, "%s: %s: no status word",
			       step, cmd);
	*sw = (uint16_t)(c->resp[rl - 2] << 8 | c->resp[rl - 1]);
	c->rlen = rl - 2;
	return PERSO_OK;
}

perso_status_t pc_xchg_sw(pc_ctx_t *c, const char *step, const char *cmd,
			  const uint8_t *a, size_t n, uint16_t want)
{
	uint16_t sw = 0;
	perso_status_t st;

	st = pc_xchg_any(c, step, cmd, a, n, &sw);
	if (st != PERSO_OK)
		return st;
	if (sw != want)
		return pc_fail(c, PERSO_ERR_CARD, "%s: %s: SW %04X", step, cmd,
			       sw);
	return PERSO_OK;
}

perso_status_t pc_xchg(pc_ctx_t *c, const char *step, const char *cmd,
		       const uint8_t *a, size_t n)
{
	return pc_xchg_sw(c, step, cmd, a, n, 0x9000);
}

perso_status_t pc_select_mf(pc_ctx_t *c, const char *step)
{
	static const uint8_t mf[2] = { 0x3F, 0x00 };
	uint8_t a[16];

	return pc_xchg(c, step, "SELECT MF", a,
		       pc_mk(a, 0x00, 0xA4, 0x00, 0x0C, mf, 2, -1));
}

perso_status_t pc_select(pc_ctx_t *c, const profile_t *p, int f,
			 const char *step)
{
	uint8_t path[32], a[48];
	size_t n;

	if (f < 0)
		return pc_select_mf(c, step);
	n = profile_file_path(p, (size_t)f, path, sizeof path);
	if (n == 0)
		return pc_fail(c, PERSO_ERR_PARAM, "%s: no path to file %d",
			       step, f);
	return pc_xchg(c, step, "SELECT by path", a,
		       pc_mk(a, 0x00, 0xA4, 0x08, 0x0C, path, n, -1));
}

static const uint8_t *tlv_find(const uint8_t *p, size_t n, uint8_t tag,
			       size_t *len)
{
	size_t i = 0;

	while (i + 2 <= n) {
		uint8_t t = p[i], l = p[i + 1];

		if (i + 2 + l > n)
			return NULL;
		if (t == tag) {
			*len = l;
			return p + i + 2;
		}
		i += 2u + l;
	}
	return NULL;
}

perso_status_t pc_chip_data(pc_ctx_t *c, uint8_t *lcs,
			    uint8_t serial[PERSO_SERIAL_LEN])
{
	uint8_t a[8];
	const uint8_t *v, *body = c->resp;
	size_t n = 0, len, blen;
	perso_status_t st;

	st = pc_xchg(c, "chip data", "GET DATA DF30", a,
		     pc_mk(a, 0x00, 0xCA, 0xDF, 0x30, NULL, 0, 0));
	if (st != PERSO_OK)
		return st;
	blen = c->rlen;
	/* DF30 L value, or the value alone */
	if (blen >= 3 && body[0] == 0xDF && body[1] == 0x30) {
		n = body[2];
		if (3 + n > blen)
			return pc_fail(c, PERSO_ERR_CARD,
				       "chip data: GET DATA DF30: bad answer");
		body += 3;
		blen = n;
	}
	v = tlv_find(body, blen, 0x81, &len);
	if (v == NULL || len != 1)
		return pc_fail(c, PERSO_ERR_CARD,
			       "chip data: GET DATA DF30: no life cycle (81)");
	if (lcs != NULL)
		*lcs = v[0];
	v = tlv_find(body, blen, 0x83, &len);
	if (v == NULL || len != PERSO_SERIAL_LEN)
		return pc_fail(c, PERSO_ERR_CARD,
			       "chip data: GET DATA DF30: no serial (83)");
	if (serial != NULL)
		memcpy(serial, v, PERSO_SERIAL_LEN);
	return PERSO_OK;
}

perso_status_t perso_chip_data(reader_t *r, uint8_t *lcs,
			       uint8_t serial[PERSO_SERIAL_LEN], char *err,
			       size_t errcap)
{
	pc_ctx_t c;

	memset(&c, 0, sizeof c);
	c.r = r, c.err = err, c.errcap = errcap;
	if (r == NULL)
		return PERSO_ERR_PARAM;
	return pc_chip_data(&c, lcs, serial);
}

/* Digit i of a BCD string of nibbles starting at nibble first. */
static void put_nibble(uint8_t *out, size_t nib, uint8_t d)
{
	out[nib / 2] = (uint8_t)(nib % 2 ? (out[nib / 2] & 0xF0) | d :
					   (d << 4) | (out[nib / 2] & 0x0F));
}

int pc_pin_encode(const profile_pin_t *pin, const char *value, size_t len,
		  uint8_t out[16])
{
	size_t i;

	if (pin->length == 0 || pin->length > 16)
		return -1;
	memset(out, pin->pad, pin->length);
	switch (pin->format) {
	case PROFILE_PIN_ASCII_NUMERIC:
	case PROFILE_PIN_ASCII:
		if (len > pin->length)
			return -1;
		memcpy(out, value, len);
		return 0;
	case PROFILE_PIN_BCD:
		if (len > 2u * pin->length)
			return -1;
		memset(out, 0xFF, pin->length);
		for (i = 0; i < len; i++) {
			uint8_t d = (uint8_t)(value[i] - '0');
			if (d > 9)
				return -1;
			put_nibble(out, i, d);
		}
		return 0;
	case PROFILE_PIN_ISO9564_2:
		if (pin->length != 8 || len < 4 || len > 14)
			return -1;
		memset(out, 0xFF, 8);
		out[0] = (uint8_t)(0x20 | len);
		for (i = 0; i < len; i++) {
			uint8_t d = (uint8_t)(value[i] - '0');
			if (d > 9)
				return -1;
			put_nibble(out, 2 + i, d);
		}
		return 0;
	}
	return -1;
}

perso_key_type_t perso_alg_key_type(profile_alg_t alg)
{
	switch (alg) {
	case PROFILE_ALG_AES128:
		return PERSO_KEY_AES128;
	case PROFILE_ALG_AES192:
		return PERSO_KEY_AES192;
	case PROFILE_ALG_AES256:
		return PERSO_KEY_AES256;
	case PROFILE_ALG_3DES2:
		return PERSO_KEY_3DES2;
	case PROFILE_ALG_3DES3:
		return PERSO_KEY_3DES3;
	}
	return (perso_key_type_t)0;
}

void pc_yddd_today(uint8_t out[2])
{
	time_t now = time(NULL);
	struct tm tm;
	int y, d;

	gmtime_r(&now, &tm);
	y = (tm.tm_year + 1900) % 10;
	d = tm.tm_yday + 1;
	out[0] = (uint8_t)(y << 4 | (d / 100));
	out[1] = (uint8_t)(((d / 10) % 10) << 4 | (d % 10));
}

/* Derived in the token, wrapped, unwrapped into clear for one APDU. */
static perso_status_t diversified(pc_ctx_t *c, perso_token_t *t,
				  const char *master, perso_key_type_t kt,
				  const char *wrap_label,
				  const uint8_t serial[PERSO_SERIAL_LEN],
				  uint8_t clear[32], const char *step)
{
	uint8_t wrapped[PERSO_WRAPPED_MAX];
	size_t wlen;
	perso_status_t st;

	if (wrap_label == NULL)
		return pc_fail(c, PERSO_ERR_PARAM, "%s: no wrapping key given",
			       step);
	st = perso_key_derive_wrapped(t, master, serial, kt, wrap_label,
				      wrapped, sizeof wrapped, &wlen);
	if (st == PERSO_OK)
		st = perso_key_unwrap_clear(t, wrap_label, wrapped, wlen, kt,
					    clear, 32);
	OPENSSL_cleanse(wrapped, sizeof wrapped);
	if (st != PERSO_OK) {
		OPENSSL_cleanse(clear, 32);
		return pc_fail(c, st, "%s: %s", step, perso_token_error(t));
	}
	return PERSO_OK;
}

perso_status_t pc_card_key(pc_ctx_t *c, const profile_key_t *k,
			   perso_token_t *t, const char *wrap_label,
			   const uint8_t serial[PERSO_SERIAL_LEN],
			   uint8_t clear[32], const char *step)
{
	perso_key_type_t kt = perso_alg_key_type(k->alg);

	if (kt == 0 || k->key_len != perso_key_type_len(kt))
		return pc_fail(c, PERSO_ERR_PARAM, "%s: bad algorithm", step);
	if (k->master != NULL && k->method != PROFILE_DIV_NONE)
		return diversified(c, t, k->master, kt, wrap_label, serial,
				   clear, step);
	if (k->fixed != NULL) {
		memcpy(clear, k->fixed, k->key_len);
		return PERSO_OK;
	}
	return pc_fail(c, PERSO_ERR_PARAM,
		       "%s: a master key used undiversified cannot leave the "
		       "token",
		       step);
}

/* The issuer's PSC of the card of that serial: the first 3 bytes of the
 * AES-128 card key diversified from the profile's PSC master (docs/
 * perso.md), or the profile's fixed test PSC. */
perso_status_t pc_issuer_psc(pc_ctx_t *c, const profile_t *p, perso_token_t *t,
			     const char *wrap_label,
			     const uint8_t serial[PERSO_SERIAL_LEN],
			     uint8_t psc[PC_PSC])
{
	const profile_psc_t *ps = profile_psc(p);
	uint8_t clear[32];
	perso_status_t st;

	if (ps == NULL || !ps->present)
		return pc_fail(c, PERSO_ERR_PARAM,
			       "issuer PSC: none in the profile");
	if (ps->master != NULL && ps->method != PROFILE_DIV_NONE) {
		st = diversified(c, t, ps->master, PERSO_KEY_AES128, wrap_label,
				 serial, clear, "issuer PSC");
		if (st != PERSO_OK)
			return st;
		memcpy(psc, clear, PC_PSC);
		OPENSSL_cleanse(clear, sizeof clear);
		return PERSO_OK;
	}
	if (ps->has_fixed) {
		memcpy(psc, ps->fixed, PC_PSC);
		return PERSO_OK;
	}
	return pc_fail(c, PERSO_ERR_PARAM,
		       "issuer PSC: a master used undiversified cannot leave "
		       "the token");
}

perso_status_t pc_mc_read(pc_ctx_t *c, const char *step, unsigned addr,
			  unsigned len, uint8_t *out)
{
	uint8_t a[8];
	perso_status_t st;

	st = pc_xchg(c, step, "READ_MEMORY_CARD", a,
		     pc_mk(a, 0xFF, 0xB0, 0x00, (uint8_t)addr, NULL, 0,
			   (int)(len & 0xFF)));
	if (st != PERSO_OK)
		return st;
	if (c->rlen != len)
		return pc_fail(c, PERSO_ERR_CARD,
			       "%s: READ_MEMORY_CARD: %zu bytes, %u expected",
			       step, c->rlen, len);
	memcpy(out, c->resp, len);
	return PERSO_OK;
}

perso_status_t pc_cplc_stamp(pc_ctx_t *c, uint16_t tag, uint16_t who,
			     uint32_t equipment, int check_only)
{
	uint8_t s[8], a[16], cmd[20];
	const uint8_t *v;
	unsigned off = tag == 0xDF43 ? 26 : 34, k;
	const char *cmd_name =
		tag == 0xDF43 ? "PUT DATA DF43" : "PUT DATA DF44";
	uint16_t sw = 0;
	int set = 0;
	perso_status_t st;

	s[0] = (uint8_t)(who >> 8);
	s[1] = (uint8_t)who;
	pc_yddd_today(s + 2);
	s[4] = (uint8_t)(equipment >> 24);
	s[5] = (uint8_t)(equipment >> 16);
	s[6] = (uint8_t)(equipment >> 8);
	s[7] = (uint8_t)equipment;
	if (!check_only) {
		/* The stamp first: only a chip that carries one already
		 * (6985, a stamp is written once) costs a read. */
		st = pc_xchg_any(c, "CPLC stamp", cmd_name, cmd,
				 pc_mk(cmd, 0x00, 0xDA, (uint8_t)(tag >> 8),
				       (uint8_t)tag, s, 8, -1),
				 &sw);
		if (st != PERSO_OK || sw == 0x9000)
			return st;
		if (sw != 0x6985)
			return pc_fail(c, PERSO_ERR_CARD,
				       "CPLC stamp: %s: SW %04X", cmd_name, sw);
	}
	st = pc_xchg(c, "CPLC stamp", "GET DATA 9F7F", a,
		     pc_mk(a, 0x80, 0xCA, 0x9F, 0x7F, NULL, 0, 0));
	if (st != PERSO_OK)
		return st;
	v = c->resp;
	if (c->rlen == 45 && v[0] == 0x9F && v[1] == 0x7F)
		v += 3;
	else if (c->rlen != 42)
		return pc_fail(c, PERSO_ERR_CARD,
			       "CPLC stamp: GET DATA 9F7F: %zu bytes", c->rlen);
	for (k = 0; k < 8; k++)
		set |= v[off + k] != 0;
	if (set) {
		/* The date is not compared: a run resumed the next day. */
		if (memcmp(v + off, s, 2) != 0 ||
		    memcmp(v + off + 4, s + 4, 4) != 0)
			return pc_fail(c, PERSO_ERR_CARD,
				       "CPLC stamp: the chip carries another "
				       "%s stamp",
				       tag == 0xDF43 ? "pre-personalizer's" :
						       "personalizer's");
		return PERSO_OK;
	}
	if (check_only)
		return pc_fail(c, PERSO_ERR_CARD,
			       "CPLC stamp: the chip carries none (%04X)", tag);
	return pc_fail(c, PERSO_ERR_CARD,
		       "CPLC stamp: %s: SW 6985: the chip is not in the life "
		       "cycle state this stamp belongs to",
		       cmd_name);
}

perso_status_t pc_power(pc_ctx_t *c, const char *step)
{
	reader_status_t rs;

	if (reader_powered(c->r))
		return PERSO_OK;
	rs = reader_power_up(c->r);
	if (rs != READER_OK)
		return pc_fail(c, PERSO_ERR_IO, "%s: power up: %s: %s", step,
			       reader_strerror(rs), reader_error_detail(c->r));
	return PERSO_OK;
}
