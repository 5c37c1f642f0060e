/*
 * init.c - initialization (part 6) of one chip (contract in init.h).
 *
 * Secrets: the transport code and the clear card keys exist in this
 * process only in the APDU being built and the few bytes they come from;
 * both are wiped right after the exchange, whatever its outcome. Error
 * messages name the step, the command and the status word only.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "perso/init.h"

#define RBUF COS_RAPDU_MAX

typedef struct {
	reader_t *r;
	char *err;
	size_t errcap;
	uint8_t resp[RBUF];
	size_t rlen; /* data only */
} ctx_t;

static perso_status_t fail(ctx_t *c, perso_status_t st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static perso_status_t fail(ctx_t *c, perso_status_t st, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errcap, fmt, ap);
		va_end(ap);
	}
	return st;
}

static size_t mk(uint8_t *out, uint8_t cla, uint8_t ins, uint8_t p1,
		 uint8_t p2, const uint8_t *data, size_t n, int le)
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

/* Send one APDU; its SW must be want. step and cmd name it in an
 * error. */
static perso_status_t xchg_sw(ctx_t *c, const char *step, const char *cmd,
			      const uint8_t *a, size_t n, uint16_t want)
{
	reader_status_t rs;
	size_t rl = 0;
	uint16_t sw;

	rs = reader_apdu(c->r, a, n, c->resp, sizeof c->resp, &rl);
	if (rs != READER_OK)
		return fail(c, PERSO_ERR_IO, "%s: %s: reader: %s: %s", step,
			    cmd, reader_strerror(rs),
			    reader_error_detail(c->r));
	if (rl < 2)
		return fail(c, PERSO_ERR_CARD, "%s: %s: no status word", step,
			    cmd);
	sw = (uint16_t)(c->resp[rl - 2] << 8 | c->resp[rl - 1]);
	c->rlen = rl - 2;
	if (sw != want)
		return fail(c, PERSO_ERR_CARD, "%s: %s: SW %04X", step, cmd,
			    sw);
	return PERSO_OK;
}

static perso_status_t xchg(ctx_t *c, const char *step, const char *cmd,
			   const uint8_t *a, size_t n)
{
	return xchg_sw(c, step, cmd, a, n, 0x9000);
}

static perso_status_t select_mf(ctx_t *c, const char *step)
{
	static const uint8_t mf[2] = { 0x3F, 0x00 };
	uint8_t a[16];

	return xchg(c, step, "SELECT MF", a,
		    mk(a, 0x00, 0xA4, 0x00, 0x0C, mf, 2, -1));
}

/* Select file index df (-1: the MF) by its path from the MF. */
static perso_status_t select_df(ctx_t *c, const profile_t *p, int df,
				const char *step)
{
	uint8_t path[32], a[48];
	size_t n;

	if (df < 0)
		return select_mf(c, step);
	n = profile_file_path(p, (size_t)df, path, sizeof path);
	if (n == 0)
		return fail(c, PERSO_ERR_PARAM, "%s: no path to file %d", step,
			    df);
	return xchg(c, step, "SELECT by path", a,
		    mk(a, 0x00, 0xA4, 0x08, 0x0C, path, n, -1));
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

static perso_status_t chip_data(ctx_t *c, uint8_t *lcs,
				uint8_t serial[PERSO_SERIAL_LEN])
{
	uint8_t a[8];
	const uint8_t *v, *body = c->resp;
	size_t n = 0, len, blen;
	perso_status_t st;

	st = xchg(c, "chip data", "GET DATA DF30", a,
		  mk(a, 0x00, 0xCA, 0xDF, 0x30, NULL, 0, 0));
	if (st != PERSO_OK)
		return st;
	blen = c->rlen;
	/* DF30 L value, or the value alone */
	if (blen >= 3 && body[0] == 0xDF && body[1] == 0x30) {
		n = body[2];
		if (3 + n > blen)
			return fail(c, PERSO_ERR_CARD,
				    "chip data: GET DATA DF30: bad answer");
		body += 3;
		blen = n;
	}
	v = tlv_find(body, blen, 0x81, &len);
	if (v == NULL || len != 1)
		return fail(c, PERSO_ERR_CARD,
			    "chip data: GET DATA DF30: no life cycle (81)");
	if (lcs != NULL)
		*lcs = v[0];
	v = tlv_find(body, blen, 0x83, &len);
	if (v == NULL || len != PERSO_SERIAL_LEN)
		return fail(c, PERSO_ERR_CARD,
			    "chip data: GET DATA DF30: no serial (83)");
	if (serial != NULL)
		memcpy(serial, v, PERSO_SERIAL_LEN);
	return PERSO_OK;
}

perso_status_t perso_chip_data(reader_t *r, uint8_t *lcs,
			       uint8_t serial[PERSO_SERIAL_LEN], char *err,
			       size_t errcap)
{
	ctx_t c;

	memset(&c, 0, sizeof c);
	c.r = r, c.err = err, c.errcap = errcap;
	if (r == NULL)
		return PERSO_ERR_PARAM;
	return chip_data(&c, lcs, serial);
}

/* A fixed PIN value in its format, padded to the stored length. */
static int pin_encode(const profile_pin_t *pin, uint8_t *out)
{
	size_t len = strlen(pin->fixed), i;

	if (pin->length == 0 || pin->length > 16)
		return -1;
	memset(out, pin->pad, pin->length);
	switch (pin->format) {
	case PROFILE_PIN_ASCII_NUMERIC:
	case PROFILE_PIN_ASCII:
		if (len > pin->length)
			return -1;
		memcpy(out, pin->fixed, len);
		return 0;
	case PROFILE_PIN_BCD:
		if (len > 2u * pin->length)
			return -1;
		memset(out, 0xFF, pin->length);
		for (i = 0; i < len; i++) {
			uint8_t d = (uint8_t)(pin->fixed[i] - '0');
			if (d > 9)
				return -1;
			out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] & 0xF0) | d :
						       (d << 4) | 0x0F);
		}
		return 0;
	case PROFILE_PIN_ISO9564_2:
		if (pin->length != 8 || len < 4 || len > 14)
			return -1;
		memset(out, 0xFF, 8);
		out[0] = (uint8_t)(0x20 | len);
		for (i = 0; i < len; i++) {
			uint8_t d = (uint8_t)(pin->fixed[i] - '0');
			size_t nib = 2 + i;
			if (d > 9)
				return -1;
			out[nib / 2] = (uint8_t)(nib % 2 ?
							 (out[nib / 2] & 0xF0) | d :
							 (d << 4) | 0x0F);
		}
		return 0;
	}
	return -1;
}

static perso_key_type_t key_type(profile_alg_t alg)
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

static perso_status_t put_pins(ctx_t *c, const profile_t *p, int with_puk)
{
	const profile_pin_t *pins;
	size_t np, i, n;
	uint8_t data[48], a[64], val[16];
	char step[96];
	perso_status_t st;

	pins = profile_pins(p, &np);
	for (i = 0; i < np; i++) {
		const profile_pin_t *pin = &pins[i];

		if ((pin->puk >= 0) != with_puk)
			continue;
		snprintf(step, sizeof step, "PIN '%s'", pin->name);
		st = select_df(c, p, pin->df, step);
		if (st != PERSO_OK)
			return st;
		n = 0;
		data[n++] = 0x80, data[n++] = 1, data[n++] = pin->ref;
		data[n++] = 0x81, data[n++] = 1, data[n++] = pin->tries;
		data[n++] = 0x82, data[n++] = 1, data[n++] = pin->length;
		if (pin->source == PROFILE_SRC_FIXED && pin->fixed != NULL) {
			if (pin_encode(pin, val) != 0) {
				OPENSSL_cleanse(val, sizeof val);
				return fail(c, PERSO_ERR_FORMAT,
					    "%s: the fixed value does not fit "
					    "its format",
					    step);
			}
			data[n++] = 0x83, data[n++] = pin->length;
			memcpy(data + n, val, pin->length);
			n += pin->length;
			OPENSSL_cleanse(val, sizeof val);
		}
		if (pin->puk >= 0) {
			data[n++] = 0x84, data[n++] = 1;
			data[n++] = pins[pin->puk].ref;
		}
		n = mk(a, 0x00, 0xDA, 0xDF, 0x01, data, n, -1);
		OPENSSL_cleanse(data, sizeof data);
		st = xchg(c, step, "PUT DATA DF01", a, n);
		OPENSSL_cleanse(a, sizeof a);
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

static perso_status_t put_keys(ctx_t *c, const profile_t *p, perso_token_t *t,
			       const perso_init_opts_t *o,
			       const uint8_t serial[PERSO_SERIAL_LEN])
{
	const profile_key_t *keys;
	size_t nk, i, n, wlen;
	uint8_t wrapped[PERSO_WRAPPED_MAX], clear[32], data[64], a[80];
	char step[96];
	perso_status_t st;

	keys = profile_keys(p, &nk);
	for (i = 0; i < nk; i++) {
		const profile_key_t *k = &keys[i];
		perso_key_type_t kt = key_type(k->alg);

		snprintf(step, sizeof step, "key '%s'", k->name);
		if (kt == 0 || k->key_len != perso_key_type_len(kt))
			return fail(c, PERSO_ERR_PARAM, "%s: bad algorithm",
				    step);
		if (k->master != NULL && k->method != PROFILE_DIV_NONE) {
			if (o->wrap_label == NULL)
				return fail(c, PERSO_ERR_PARAM,
					    "%s: no wrapping key given", step);
			st = perso_key_derive_wrapped(
				t, k->master, serial, kt, o->wrap_label,
				wrapped, sizeof wrapped, &wlen);
			if (st == PERSO_OK)
				st = perso_key_unwrap_clear(
					t, o->wrap_label, wrapped, wlen, kt,
					clear, sizeof clear);
			OPENSSL_cleanse(wrapped, sizeof wrapped);
			if (st != PERSO_OK)
				return fail(c, st, "%s: %s", step,
					    perso_token_error(t));
		} else if (k->fixed != NULL) {
			memcpy(clear, k->fixed, k->key_len);
		} else {
			return fail(c, PERSO_ERR_PARAM,
				    "%s: a master key used undiversified "
				    "cannot leave the token",
				    step);
		}
		st = select_df(c, p, k->df, step);
		if (st != PERSO_OK) {
			OPENSSL_cleanse(clear, sizeof clear);
			return st;
		}
		n = 0;
		data[n++] = 0x80, data[n++] = 1, data[n++] = k->ref;
		data[n++] = 0x81, data[n++] = 1, data[n++] = k->kvn;
		data[n++] = 0x82, data[n++] = 1, data[n++] = k->cos_alg;
		data[n++] = 0x83, data[n++] = 1, data[n++] = k->usage;
		data[n++] = 0x84, data[n++] = k->key_len;
		memcpy(data + n, clear, k->key_len);
		n += k->key_len;
		OPENSSL_cleanse(clear, sizeof clear);
		data[n++] = 0x85, data[n++] = 1, data[n++] = k->tries;
		n = mk(a, 0x00, 0xDA, 0xDF, 0x02, data, n, -1);
		OPENSSL_cleanse(data, sizeof data);
		st = xchg(c, step, "PUT DATA DF02", a, n);
		OPENSSL_cleanse(a, sizeof a);
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

static void yddd_today(uint8_t out[2])
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

/* ---- the memory card (ACS pseudo-APDUs, docs/memcard.md) ---- */

#define MC_PSC 3

static perso_status_t mc_read(ctx_t *c, const char *step, unsigned addr,
			      unsigned len, uint8_t *out)
{
	uint8_t a[8];
	perso_status_t st;

	st = xchg(c, step, "READ_MEMORY_CARD", a,
		  mk(a, 0xFF, 0xB0, 0x00, (uint8_t)addr, NULL, 0,
		     (int)(len & 0xFF)));
	if (st != PERSO_OK)
		return st;
	if (c->rlen != len)
		return fail(c, PERSO_ERR_CARD,
			    "%s: READ_MEMORY_CARD: %zu bytes, %u expected", step,
			    c->rlen, len);
	memcpy(out, c->resp, len);
	return PERSO_OK;
}

/* The issuer's PSC of the card of that serial: the first 3 bytes of the
 * AES-128 card key diversified from the profile's PSC master (docs/
 * perso.md), or the profile's fixed test PSC. */
static perso_status_t issuer_psc(ctx_t *c, const profile_t *p,
				 perso_token_t *t, const char *wrap_label,
				 const uint8_t serial[PERSO_SERIAL_LEN],
				 uint8_t psc[MC_PSC])
{
	const profile_psc_t *ps = profile_psc(p);
	uint8_t wrapped[PERSO_WRAPPED_MAX], clear[32];
	size_t wlen;
	perso_status_t st;

	if (ps == NULL || !ps->present)
		return fail(c, PERSO_ERR_PARAM, "issuer PSC: none in the "
						"profile");
	if (ps->master != NULL && ps->method != PROFILE_DIV_NONE) {
		if (wrap_label == NULL)
			return fail(c, PERSO_ERR_PARAM,
				    "issuer PSC: no wrapping key given");
		st = perso_key_derive_wrapped(t, ps->master, serial,
					      PERSO_KEY_AES128, wrap_label,
					      wrapped, sizeof wrapped, &wlen);
		if (st == PERSO_OK)
			st = perso_key_unwrap_clear(t, wrap_label, wrapped,
						    wlen, PERSO_KEY_AES128,
						    clear, sizeof clear);
		OPENSSL_cleanse(wrapped, sizeof wrapped);
		if (st != PERSO_OK) {
			OPENSSL_cleanse(clear, sizeof clear);
			return fail(c, st, "issuer PSC: %s",
				    perso_token_error(t));
		}
		memcpy(psc, clear, MC_PSC);
		OPENSSL_cleanse(clear, sizeof clear);
		return PERSO_OK;
	}
	if (ps->has_fixed) {
		memcpy(psc, ps->fixed, MC_PSC);
		return PERSO_OK;
	}
	return fail(c, PERSO_ERR_PARAM,
		    "issuer PSC: a master used undiversified cannot leave "
		    "the token");
}

static perso_status_t mc_init(ctx_t *c, const profile_t *p, perso_token_t *t,
			      const perso_init_opts_t *o,
			      uint8_t serial_out[PERSO_SERIAL_LEN])
{
	static const uint8_t card_type = 0x06;
	const profile_area_t *areas;
	uint8_t serial[PERSO_SERIAL_LEN], code[8], psc[MC_PSC], a[300];
	uint8_t back[256];
	size_t na, i, n;
	unsigned len;
	char step[96];
	perso_status_t st;

	st = xchg(c, "identify", "SELECT_CARD_TYPE", a,
		  mk(a, 0xFF, 0xA4, 0x00, 0x00, &card_type, 1, -1));
	if (st == PERSO_OK)
		st = mc_read(c, "identify", 8, PERSO_SERIAL_LEN, serial);
	if (st != PERSO_OK)
		return st;
	if (serial_out != NULL)
		memcpy(serial_out, serial, PERSO_SERIAL_LEN);

	/* The transport PSC: the first 3 bytes of the transport code. */
	st = perso_transport_code(t, o->tmk, serial, code);
	if (st != PERSO_OK)
		return fail(c, st, "transport PSC: %s", perso_token_error(t));
	n = mk(a, 0xFF, 0x20, 0x00, 0x00, code, MC_PSC, -1);
	OPENSSL_cleanse(code, sizeof code);
	st = xchg_sw(c, "transport PSC", "PRESENT_CODE_MEMORY_CARD", a, n,
		     0x9007);
	OPENSSL_cleanse(a, sizeof a);
	if (st != PERSO_OK)
		return st;

	/* The areas written at initialization, read back. */
	areas = profile_areas(p, &na);
	for (i = 0; i < na; i++) {
		if (areas[i].data == NULL || areas[i].data_len == 0)
			continue;
		snprintf(step, sizeof step, "area '%s'", areas[i].name);
		len = (unsigned)areas[i].data_len;
		if (areas[i].start + len > 256 || len > 255)
			return fail(c, PERSO_ERR_PARAM, "%s: out of memory",
				    step);
		st = xchg(c, step, "WRITE_MEMORY_CARD", a,
			  mk(a, 0xFF, 0xD0, 0x00, (uint8_t)areas[i].start,
			     areas[i].data, len, -1));
		if (st == PERSO_OK)
			st = mc_read(c, step, areas[i].start, len, back);
		if (st != PERSO_OK)
			return st;
		if (memcmp(back, areas[i].data, len) != 0)
			return fail(c, PERSO_ERR_CARD,
				    "%s: read back differs from what was "
				    "written",
				    step);
	}

	/* The issuer's PSC replaces the transport PSC. */
	st = issuer_psc(c, p, t, o->wrap_label, serial, psc);
	if (st != PERSO_OK)
		return st;
	n = mk(a, 0xFF, 0xD2, 0x00, 0x01, psc, MC_PSC, -1);
	OPENSSL_cleanse(psc, sizeof psc);
	st = xchg(c, "issuer PSC", "CHANGE_CODE_MEMORY_CARD", a, n);
	OPENSSL_cleanse(a, sizeof a);
	if (st != PERSO_OK)
		return st;

	/* Protection of the areas the profile protects at initialization:
	 * each byte compared with its current content. */
	for (i = 0; i < na; i++) {
		if (areas[i].protect != PROFILE_PROTECT_INIT)
			continue;
		snprintf(step, sizeof step, "protect area '%s'",
			 areas[i].name);
		if (areas[i].start >= 32 || areas[i].length == 0)
			return fail(c, PERSO_ERR_PARAM,
				    "%s: outside bytes 0..31", step);
		len = areas[i].length;
		if (areas[i].start + len > 32)
			len = 32 - areas[i].start;
		st = mc_read(c, step, areas[i].start, len, back);
		if (st == PERSO_OK)
			st = xchg(c, step, "WRITE_PROTECTION_MEMORY_CARD", a,
				  mk(a, 0xFF, 0xD1, 0x00,
				     (uint8_t)areas[i].start, back, len, -1));
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

perso_status_t perso_init_card(reader_t *r, const profile_t *p,
			       perso_token_t *t, const perso_init_opts_t *o,
			       uint8_t serial_out[PERSO_SERIAL_LEN], char *err,
			       size_t errcap)
{
	const profile_info_t *info;
	const profile_file_t *files;
	uint8_t serial[PERSO_SERIAL_LEN], code[8], a[128], fcp[96], stamp[8];
	uint8_t lcs = 0;
	size_t nf, i, n;
	char step[96];
	ctx_t c;
	perso_status_t st;
	reader_status_t rs;

	memset(&c, 0, sizeof c);
	c.r = r, c.err = err, c.errcap = errcap;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (r == NULL || p == NULL || t == NULL || o == NULL || o->tmk == NULL)
		return fail(&c, PERSO_ERR_PARAM, "init: missing argument");
	info = profile_info(p);
	if (info == NULL || (info->kind != PROFILE_CHIP_COS &&
			     info->kind != PROFILE_CHIP_MEMCARD))
		return fail(&c, PERSO_ERR_PARAM,
			    "init: the profile's chip is not known");
	if (!reader_powered(r)) {
		rs = reader_power_up(r);
		if (rs != READER_OK)
			return fail(&c, PERSO_ERR_IO, "init: power up: %s: %s",
				    reader_strerror(rs),
				    reader_error_detail(r));
	}
	if (info->kind == PROFILE_CHIP_MEMCARD)
		return mc_init(&c, p, t, o, serial_out);
	st = select_mf(&c, "identify");
	if (st == PERSO_OK)
		st = chip_data(&c, &lcs, serial);
	if (st != PERSO_OK)
		return st;
	if (serial_out != NULL)
		memcpy(serial_out, serial, PERSO_SERIAL_LEN);
	if (lcs != COS_LC_TRANSPORT)
		return fail(&c, PERSO_ERR_CARD,
			    "init: the chip is not in TRANSPORT (life cycle "
			    "%02X)",
			    lcs);

	/* The transport code: derived in the token, in this buffer and the
	 * APDU for one exchange. */
	st = perso_transport_code(t, o->tmk, serial, code);
	if (st != PERSO_OK)
		return fail(&c, st, "transport code: %s",
			    perso_token_error(t));
	n = mk(a, 0x00, 0x20, 0x00, 0x1F, code, 8, -1);
	OPENSSL_cleanse(code, sizeof code);
	st = xchg(&c, "transport code", "VERIFY 1F", a, n);
	OPENSSL_cleanse(a, sizeof a);
	if (st != PERSO_OK)
		return st;

	/* CPLC: the pre-personalizer's stamp. */
	stamp[0] = (uint8_t)(o->prepersonalizer >> 8);
	stamp[1] = (uint8_t)o->prepersonalizer;
	yddd_today(stamp + 2);
	stamp[4] = (uint8_t)(o->equipment >> 24);
	stamp[5] = (uint8_t)(o->equipment >> 16);
	stamp[6] = (uint8_t)(o->equipment >> 8);
	stamp[7] = (uint8_t)o->equipment;
	st = xchg(&c, "CPLC stamp", "PUT DATA DF43", a,
		  mk(a, 0x00, 0xDA, 0xDF, 0x43, stamp, 8, -1));
	if (st != PERSO_OK)
		return st;

	/* The structure, a DF before its children. */
	files = profile_files(p, &nf);
	for (i = 0; i < nf; i++) {
		snprintf(step, sizeof step, "file '%s'", files[i].name);
		st = select_df(&c, p, files[i].parent, step);
		if (st != PERSO_OK)
			return st;
		n = profile_file_fcp(p, i, fcp, sizeof fcp);
		if (n == 0 || n + 5 > sizeof a)
			return fail(&c, PERSO_ERR_PARAM, "%s: no FCP", step);
		st = xchg(&c, step, "CREATE FILE", a,
			  mk(a, 0x00, 0xE0, 0x00, 0x00, fcp, n, -1));
		if (st != PERSO_OK)
			return st;
	}

	/* PINs: the unblocking ones first, then those they unblock. */
	st = put_pins(&c, p, 0);
	if (st == PERSO_OK)
		st = put_pins(&c, p, 1);
	if (st == PERSO_OK)
		st = put_keys(&c, p, t, o, serial);
	if (st != PERSO_OK)
		return st;

	st = select_mf(&c, "fuse");
	if (st == PERSO_OK)
		st = xchg(&c, "fuse", "SET STATUS 07", a,
			  mk(a, 0x80, 0xF0, 0x80, 0x07, NULL, 0, -1));
	return st;
}
