/*
 * perso.c - personalization (part 7) of one card for one holder (contract
 * in perso.h, steps in docs/perso.md).
 *
 * The holder's data is laid out first, without the card: every placed
 * field encoded as its profile says and put at its place in a "unit" (a
 * transparent file, a record, a memory card area), TLV fields of a unit
 * nested in their templates in field order. Then each unit goes to the
 * card whole (transparent files: the spans the fields cover, merged;
 * records: the whole record), over the SCP03 session, and is read back
 * after the card is OPERATIONAL. Doing the layout first means a holder
 * whose data cannot be encoded is refused before the card is touched.
 *
 * Secrets: PIN values exist in the holder (the caller wipes it) and in
 * the APDU that carries them, wiped here after the exchange; the SCP03
 * keys in the session, wiped by scp03_host_end().
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "perso/perso.h"
#include "perso/perso_int.h"
#include "perso/prep.h"
#include "perso/scp03_host.h"

/* ---------------------------------------------------------------- layout */

/* A record (255 bytes at most), or the first bytes of a transparent file
 * that fields may be placed in. */
#define UNIT_MAX 1024
/* Data bytes an APDU carries: with C-DEC padding (16) and the C-MAC (8) a
 * wrapped command still has a short Lc. */
#define CHUNK 224
#define SPANS_MAX 32

typedef struct {
	int file;	 /* file index (CPU chip) or area index (memory card) */
	unsigned record; /* 0: transparent file or area */
	unsigned len;	 /* bytes of data (records: the record's length) */
	uint8_t data[UNIT_MAX];
	/* Transparent files and areas: the byte spans to write. */
	struct {
		unsigned off, len;
	} span[SPANS_MAX];
	unsigned nspan;
	unsigned base; /* offset of data[0] in the file (transparent) */
} unit_t;

typedef struct {
	const profile_t *p;
	unit_t *u;
	size_t n, cap;
	char *err;
	size_t errcap;
} layout_t;

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* UTF-8 to ISO 8859-1; -1 for a character above U+00FF or bad UTF-8. */
static int latin1(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = 0;

	while (*u) {
		unsigned cp;

		if (*u < 0x80) {
			cp = *u++;
		} else if ((*u & 0xE0) == 0xC0 && (u[1] & 0xC0) == 0x80) {
			cp = (unsigned)(*u & 0x1F) << 6 | (u[1] & 0x3F);
			u += 2;
		} else {
			return -1;
		}
		if (cp > 0xFF || k >= cap)
			return -1;
		out[k++] = (uint8_t)cp;
	}
	*n = k;
	return 0;
}

static void bcd_digits(const char *d, size_t n, uint8_t *out, size_t outlen)
{
	size_t i;

	memset(out, 0xFF, outlen);
	for (i = 0; i < n && i / 2 < outlen; i++) {
		uint8_t v = (uint8_t)(d[i] - '0');

		out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] & 0xF0) | v :
					       (v << 4) | 0x0F);
	}
}

/*
 * The bytes of field f for the text v as the card stores them. Returns 0,
 * or -1 with why. Values were checked by data preparation; this checks
 * again what the encoding needs, so a hand-made batch cannot write junk.
 */
static int encode(const profile_field_t *f, const char *v, uint8_t *out,
		  size_t cap, size_t *n, const char **why)
{
	size_t len = strlen(v), i;
	unsigned long long x = 0;
	char digits[16];

	*why = "cannot be encoded";
	switch (f->type) {
	case PROFILE_FIELD_TEXT:
		if (f->encoding == PROFILE_ENC_LATIN1) {
			if (latin1(v, out, cap, n) != 0) {
				*why = "not ISO 8859-1 text that fits";
				return -1;
			}
			return 0;
		}
		if (len > cap)
			return -1;
		memcpy(out, v, len);
		*n = len;
		return 0;
	case PROFILE_FIELD_DIGITS:
		for (i = 0; i < len; i++)
			if (v[i] < '0' || v[i] > '9') {
				*why = "digits expected";
				return -1;
			}
		if (f->encoding == PROFILE_ENC_BCD) {
			if ((len + 1) / 2 > cap)
				return -1;
			bcd_digits(v, len, out, (len + 1) / 2);
			*n = (len + 1) / 2;
			return 0;
		}
		if (len > cap)
			return -1;
		memcpy(out, v, len);
		*n = len;
		return 0;
	case PROFILE_FIELD_DATE:
		if (len != 10 || v[4] != '-' || v[7] != '-') {
			*why = "a date YYYY-MM-DD expected";
			return -1;
		}
		memcpy(digits, v, 4);
		memcpy(digits + 4, v + 5, 2);
		memcpy(digits + 6, v + 8, 2);
		for (i = 0; i < 8; i++)
			if (digits[i] < '0' || digits[i] > '9') {
				*why = "a date YYYY-MM-DD expected";
				return -1;
			}
		switch (f->encoding) {
		case PROFILE_ENC_DATE_YYYYMMDD:
			*n = 8;
			if (cap < 8)
				return -1;
			memcpy(out, digits, 8);
			return 0;
		case PROFILE_ENC_DATE_BCD:
			*n = 4;
			if (cap < 4)
				return -1;
			bcd_digits(digits, 8, out, 4);
			return 0;
		case PROFILE_ENC_DATE_BCD_YYMMDD:
			*n = 3;
			if (cap < 3)
				return -1;
			bcd_digits(digits + 2, 6, out, 3);
			return 0;
		default: /* ISO */
			*n = 10;
			if (cap < 10)
				return -1;
			memcpy(out, v, 10);
			return 0;
		}
	case PROFILE_FIELD_AMOUNT:
	case PROFILE_FIELD_NUMBER:
		if (len == 0 || len > 12) {
			*why = "a number of 1 to 12 digits expected";
			return -1;
		}
		for (i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9') {
				*why = "digits expected";
				return -1;
			}
			x = x * 10 + (unsigned)(v[i] - '0');
		}
		switch (f->encoding) {
		case PROFILE_ENC_BE8:
			*n = 1;
			break;
		case PROFILE_ENC_BE16:
			*n = 2;
			break;
		case PROFILE_ENC_BCD6:
			if (cap < 6)
				return -1;
			memset(digits, '0', 12);
			memcpy(digits + 12 - len, v, len);
			bcd_digits(digits, 12, out, 6);
			*n = 6;
			return 0;
		default:
			*n = 4;
			break;
		}
		if (*n > cap || (*n < 8 && x >> (8 * *n)) != 0) {
			*why = "out of the encoding's range";
			return -1;
		}
		for (i = 0; i < *n; i++)
			out[i] = (uint8_t)(x >> (8 * (*n - 1 - i)));
		return 0;
	case PROFILE_FIELD_BYTES:
		if (len % 2 || len / 2 > cap) {
			*why = "hex digits, an even number, expected";
			return -1;
		}
		for (i = 0; i < len; i += 2) {
			int hi = hexv((unsigned char)v[i]),
			    lo = hexv((unsigned char)v[i + 1]);
			if (hi < 0 || lo < 0) {
				*why = "hex digits expected";
				return -1;
			}
			out[i / 2] = (uint8_t)(hi << 4 | lo);
		}
		*n = len / 2;
		return 0;
	}
	return -1;
}

static int lay_fail(layout_t *l, const char *fmt, const char *a, const char *b)
{
	if (l->err != NULL && l->errcap > 0)
		snprintf(l->err, l->errcap, fmt, a, b);
	return -1;
}

static unit_t *unit_get(layout_t *l, int file, unsigned record, unsigned len)
{
	size_t i;
	unit_t *u;

	for (i = 0; i < l->n; i++)
		if (l->u[i].file == file && l->u[i].record == record)
			return &l->u[i];
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 8;

		u = realloc(l->u, nc * sizeof *u);
		if (u == NULL)
			return NULL;
		l->u = u;
		l->cap = nc;
	}
	u = &l->u[l->n++];
	memset(u, 0, sizeof *u);
	u->file = file;
	u->record = record;
	u->len = len;
	return u;
}

/* Mark bytes off..off+len of a transparent unit to be written. */
static int span_add(unit_t *u, unsigned off, unsigned len)
{
	if (u->nspan == SPANS_MAX)
		return -1;
	u->span[u->nspan].off = off;
	u->span[u->nspan].len = len;
	u->nspan++;
	return 0;
}

/* ---- BER-TLV ---- */

static size_t tag_put(uint32_t tag, uint8_t *out)
{
	size_t n = tag > 0xFFFFFF ? 4 :
		   tag > 0xFFFF	  ? 3 :
		   tag > 0xFF	  ? 2 :
				    1,
	       i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(tag >> (8 * (n - 1 - i)));
	return n;
}

static size_t len_put(size_t len, uint8_t *out)
{
	if (len < 0x80) {
		out[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		out[0] = 0x81, out[1] = (uint8_t)len;
		return 2;
	}
	out[0] = 0x82, out[1] = (uint8_t)(len >> 8), out[2] = (uint8_t)len;
	return 3;
}

typedef struct {
	const profile_place_t *pl;
	const uint8_t *v;
	size_t n;
} tlv_item_t;

/* Encode items a..b (sharing tags[0..d-1]) at depth d into out; returns
 * the length, or (size_t)-1 when cap is too small. */
static size_t tlv_enc(const tlv_item_t *it, size_t a, size_t b, unsigned d,
		      uint8_t *out, size_t cap)
{
	uint8_t hdr[8], tmp[UNIT_MAX];
	size_t k = 0, i = a, j, h, inner;

	while (i < b) {
		uint32_t tag = it[i].pl->tags[d];

		if (it[i].pl->ntags == d + 1) { /* a leaf */
			h = tag_put(tag, hdr);
			h += len_put(it[i].n, hdr + h);
			if (k + h + it[i].n > cap)
				return (size_t)-1;
			memcpy(out + k, hdr, h);
			memcpy(out + k + h, it[i].v, it[i].n);
			k += h + it[i].n;
			i++;
			continue;
		}
		/* A template: the run of items under the same tag. */
		for (j = i + 1; j < b && it[j].pl->ntags > d + 1 &&
				it[j].pl->tags[d] == tag;
		     j++)
			;
		inner = tlv_enc(it, i, j, d + 1, tmp, sizeof tmp);
		if (inner == (size_t)-1)
			return inner;
		h = tag_put(tag, hdr);
		h += len_put(inner, hdr + h);
		if (k + h + inner > cap)
			return (size_t)-1;
		memcpy(out + k, hdr, h);
		memcpy(out + k + h, tmp, inner);
		k += h + inner;
		i = j;
	}
	return k;
}

/* The size of a file's or record's TLV area: every TLV field of it at its
 * longest. */
static size_t tlv_reserved(const profile_t *p, int file, unsigned record,
			   unsigned offset)
{
	static const uint8_t big[UNIT_MAX];
	const profile_field_t *fs;
	tlv_item_t it[64];
	size_t nf, i, n = 0, r;
	uint8_t out[UNIT_MAX];

	fs = profile_fields(p, &nf);
	for (i = 0; i < nf && n < 64; i++) {
		const profile_place_t *pl = &fs[i].place;

		if (pl->kind != PROFILE_PLACE_TLV || pl->file != file ||
		    pl->record != record || pl->offset != offset)
			continue;
		it[n].pl = pl;
		it[n].v = big;
		it[n].n = fs[i].size < UNIT_MAX ? fs[i].size : UNIT_MAX;
		n++;
	}
	r = tlv_enc(it, 0, n, 0, out, sizeof out);
	return r == (size_t)-1 ? 0 : r;
}

/* Lay out the holder's data (CPU chip). */
static int layout_cos(layout_t *l, const perso_holder_t *h)
{
	const profile_t *p = l->p;
	const profile_file_t *files;
	const profile_field_t *fs;
	size_t nf, nfiles, i, j, n;
	uint8_t enc[UNIT_MAX];
	const char *why;
	unit_t *u;

	files = profile_files(p, &nfiles);
	fs = profile_fields(p, &nf);
	for (i = 0; i < nf; i++) {
		const profile_place_t *pl = &fs[i].place;
		const profile_file_t *file;
		unsigned len, w;

		if (pl->kind == PROFILE_PLACE_NONE || fs[i].secret)
			continue;
		if (pl->kind == PROFILE_PLACE_AREA || pl->file < 0 ||
		    (size_t)pl->file >= nfiles)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"no file to place it in");
		file = &files[pl->file];
		len = file->type == COS_FT_EF_TRANSPARENT ? file->size :
							    file->size;
		if (file->type == COS_FT_EF_TRANSPARENT) {
			if (file->size > UNIT_MAX)
				len = UNIT_MAX; /* spans carry the offsets */
			u = unit_get(l, pl->file, 0, len);
		} else {
			u = unit_get(l, pl->file, pl->record, file->size);
		}
		if (u == NULL)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"out of memory");
		if (pl->kind == PROFILE_PLACE_TLV)
			continue; /* below, all of the unit's at once */
		n = 0;
		if (i < h->nvalues && h->values[i] != NULL &&
		    encode(&fs[i], h->values[i], enc, sizeof enc, &n, &why) !=
			    0)
			return lay_fail(l, "field '%s': %s", fs[i].name, why);
		w = pl->width ? pl->width : fs[i].size;
		if (n > w || pl->offset + w > UNIT_MAX ||
		    (file->type != COS_FT_EF_TRANSPARENT &&
		     pl->offset + w > u->len))
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"does not fit its place");
		memset(u->data + pl->offset, pl->pad, w);
		memcpy(u->data + pl->offset + (pl->align_right ? w - n : 0),
		       enc, n);
		if (file->type == COS_FT_EF_TRANSPARENT &&
		    span_add(u, pl->offset, w) != 0)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"too many fields in one file");
	}
	/* TLV areas: per unit and offset, the fields in order. */
	for (i = 0; i < nf; i++) {
		const profile_place_t *pl = &fs[i].place;
		tlv_item_t it[64];
		uint8_t vals[64][UNIT_MAX];
		size_t ni = 0, res, got;
		int dup = 0;

		if (pl->kind != PROFILE_PLACE_TLV || fs[i].secret)
			continue;
		for (j = 0; j < i; j++) /* done with an earlier field */
			if (fs[j].place.kind == PROFILE_PLACE_TLV &&
			    fs[j].place.file == pl->file &&
			    fs[j].place.record == pl->record &&
			    fs[j].place.offset == pl->offset)
				dup = 1;
		if (dup)
			continue;
		for (j = i; j < nf && ni < 64; j++) {
			const profile_place_t *q = &fs[j].place;

			if (q->kind != PROFILE_PLACE_TLV ||
			    q->file != pl->file || q->record != pl->record ||
			    q->offset != pl->offset || fs[j].secret ||
			    j >= h->nvalues || h->values[j] == NULL)
				continue;
			if (encode(&fs[j], h->values[j], vals[ni], UNIT_MAX,
				   &it[ni].n, &why) != 0)
				return lay_fail(l, "field '%s': %s", fs[j].name,
						why);
			it[ni].pl = q;
			it[ni].v = vals[ni];
			ni++;
		}
		u = unit_get(l, pl->file, pl->record,
			     files[pl->file].size > UNIT_MAX ?
				     UNIT_MAX :
				     files[pl->file].size);
		res = tlv_reserved(p, pl->file, pl->record, pl->offset);
		if (u == NULL || res == 0 || pl->offset + res > UNIT_MAX)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"its TLV objects do not fit");
		memset(u->data + pl->offset, 0, res);
		got = tlv_enc(it, 0, ni, 0, u->data + pl->offset, res);
		if (got == (size_t)-1)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"its TLV objects do not fit");
		if (files[pl->file].type == COS_FT_EF_TRANSPARENT &&
		    span_add(u, pl->offset, (unsigned)res) != 0)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"too many fields in one file");
	}
	return 0;
}

/* Lay out the holder's data (memory card areas). */
static int layout_mc(layout_t *l, const perso_holder_t *h)
{
	const profile_area_t *areas;
	const profile_field_t *fs;
	size_t na, nf, i, n;
	uint8_t enc[UNIT_MAX];
	const char *why;
	unit_t *u;

	areas = profile_areas(l->p, &na);
	fs = profile_fields(l->p, &nf);
	for (i = 0; i < nf; i++) {
		const profile_place_t *pl = &fs[i].place;
		const profile_area_t *a;
		unsigned w;

		if (pl->kind == PROFILE_PLACE_NONE || fs[i].secret)
			continue;
		if (pl->kind != PROFILE_PLACE_AREA || pl->area < 0 ||
		    (size_t)pl->area >= na)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"no area to place it in");
		a = &areas[pl->area];
		u = unit_get(l, pl->area, 0, a->length);
		if (u == NULL)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"out of memory");
		n = 0;
		if (i < h->nvalues && h->values[i] != NULL &&
		    encode(&fs[i], h->values[i], enc, sizeof enc, &n, &why) !=
			    0)
			return lay_fail(l, "field '%s': %s", fs[i].name, why);
		w = pl->width ? pl->width : fs[i].size;
		if (n > w || pl->offset + w > a->length)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"does not fit its place");
		memset(u->data + pl->offset, pl->pad, w);
		memcpy(u->data + pl->offset + (pl->align_right ? w - n : 0),
		       enc, n);
		if (span_add(u, pl->offset, w) != 0)
			return lay_fail(l, "field '%s': %s", fs[i].name,
					"too many fields in one area");
	}
	return 0;
}

static int span_cmp(const void *a, const void *b)
{
	const unsigned *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sort and merge the spans of each unit that touch or overlap. */
static void spans_merge(layout_t *l)
{
	size_t i, j, k;

	for (i = 0; i < l->n; i++) {
		unit_t *u = &l->u[i];

		if (u->nspan == 0)
			continue;
		qsort(u->span, u->nspan, sizeof u->span[0], span_cmp);
		for (j = 1, k = 0; j < u->nspan; j++) {
			unsigned end = u->span[k].off + u->span[k].len;

			if (u->span[j].off <= end) {
				unsigned e2 = u->span[j].off + u->span[j].len;
				if (e2 > end)
					u->span[k].len = e2 - u->span[k].off;
			} else {
				u->span[++k] = u->span[j];
			}
		}
		u->nspan = (unsigned)k + 1;
	}
}

/* ---------------------------------------------------------------- card */

typedef struct {
	pc_ctx_t c;
	const profile_t *p;
	perso_token_t *t;
	const perso_card_opts_t *o;
	const perso_holder_t *h;
	uint8_t serial[PERSO_SERIAL_LEN];
	layout_t l;
} run_t;

/* Open the SCP03 session with the card's diversified keys. */
static perso_status_t open_session(run_t *r, scp03_host_t *s)
{
	const profile_scp03_t *sc = profile_scp03(r->p);
	const profile_key_t *keys;
	scp03_host_keys_t k;
	uint8_t chal[8], a[64], level;
	size_t nk, n;
	scp03_host_status_t hs;
	perso_status_t st;

	keys = profile_keys(r->p, &nk);
	if (sc == NULL || !sc->present || sc->enc < 0 || sc->mac < 0 ||
	    sc->dek < 0)
		return pc_fail(&r->c, PERSO_ERR_PARAM,
			       "secure channel: the profile has no SCP03 key "
			       "set");
	memset(&k, 0, sizeof k);
	k.kvn = sc->kvn;
	k.key_len = keys[sc->enc].key_len;
	st = pc_card_key(&r->c, &keys[sc->enc], r->t, r->o->wrap_label,
			 r->serial, k.enc, "secure channel");
	if (st == PERSO_OK)
		st = pc_card_key(&r->c, &keys[sc->mac], r->t, r->o->wrap_label,
				 r->serial, k.mac, "secure channel");
	if (st != PERSO_OK) {
		OPENSSL_cleanse(&k, sizeof k);
		return st;
	}
	if (RAND_bytes(chal, sizeof chal) != 1) {
		OPENSSL_cleanse(&k, sizeof k);
		return pc_fail(&r->c, PERSO_ERR_TOKEN,
			       "secure channel: no random host challenge");
	}
	hs = scp03_host_begin(s, &k, chal);
	OPENSSL_cleanse(&k, sizeof k);
	if (hs == SCP03_HOST_OK)
		hs = scp03_host_initialize_update(s, a, sizeof a, &n);
	if (hs != SCP03_HOST_OK)
		return pc_fail(&r->c, PERSO_ERR_PARAM, "secure channel: %s",
			       scp03_host_strerror(hs));
	st = pc_xchg(&r->c, "secure channel", "INITIALIZE UPDATE", a, n);
	if (st != PERSO_OK) {
		scp03_host_end(s);
		return st;
	}
	level = (uint8_t)(sc->level & (SCP03_HOST_C_MAC | SCP03_HOST_C_DEC));
	hs = scp03_host_external_authenticate(s, r->c.resp, r->c.rlen, level, a,
					      sizeof a, &n);
	if (hs != SCP03_HOST_OK) {
		scp03_host_end(s);
		return pc_fail(&r->c, PERSO_ERR_CARD, "secure channel: %s",
			       scp03_host_strerror(hs));
	}
	st = pc_xchg(&r->c, "secure channel", "EXTERNAL AUTHENTICATE", a, n);
	if (st != PERSO_OK) {
		scp03_host_end(s);
		return st;
	}
	r->c.sm = s;
	return PERSO_OK;
}

static perso_status_t write_unit(run_t *r, const unit_t *u)
{
	const profile_file_t *f = &profile_files(r->p, NULL)[u->file];
	uint8_t a[UNIT_MAX + 8];
	char step[96];
	uint16_t sw = 0;
	unsigned i;
	perso_status_t st;

	snprintf(step, sizeof step, "file '%s'", f->name);
	st = pc_select(&r->c, r->p, u->file, step);
	if (st != PERSO_OK)
		return st;
	if (u->record == 0) {
		for (i = 0; i < u->nspan; i++) {
			unsigned off = u->span[i].off,
				 end = off + u->span[i].len;

			for (; off < end; off += CHUNK) {
				unsigned len =
					end - off < CHUNK ? end - off : CHUNK;

				st = pc_xchg(&r->c, step, "UPDATE BINARY", a,
					     pc_mk(a, 0x00, 0xD6,
						   (uint8_t)(off >> 8 & 0x7F),
						   (uint8_t)off, u->data + off,
						   len, -1));
				if (st != PERSO_OK)
					return st;
			}
		}
		return PERSO_OK;
	}
	/* Records start empty (APPEND adds them): the records before this
	 * one are made empty-filled first, in order. */
	snprintf(step, sizeof step, "file '%s' record %u", f->name, u->record);
	st = pc_xchg_any(&r->c, step, "UPDATE RECORD", a,
			 pc_mk(a, 0x00, 0xDC, (uint8_t)u->record, 0x04, u->data,
			       u->len, -1),
			 &sw);
	if (st != PERSO_OK || sw == 0x9000)
		return st;
	if (sw != 0x6A83)
		return pc_fail(&r->c, PERSO_ERR_CARD,
			       "%s: UPDATE RECORD: SW %04X", step, sw);
	for (i = 1; i < u->record; i++) {
		static const uint8_t zero[UNIT_MAX];

		st = pc_xchg_any(
			&r->c, step, "READ RECORD", a,
			pc_mk(a, 0x00, 0xB2, (uint8_t)i, 0x04, NULL, 0, 0),
			&sw);
		if (st != PERSO_OK)
			return st;
		if (sw == 0x6A83) {
			st = pc_xchg(&r->c, step, "APPEND RECORD", a,
				     pc_mk(a, 0x00, 0xE2, 0x00, 0x00, zero,
					   u->len, -1));
			if (st != PERSO_OK)
				return st;
		}
	}
	return pc_xchg(&r->c, step, "APPEND RECORD", a,
		       pc_mk(a, 0x00, 0xE2, 0x00, 0x00, u->data, u->len, -1));
}

static perso_status_t check_unit(run_t *r, const unit_t *u)
{
	const profile_file_t *f = &profile_files(r->p, NULL)[u->file];
	uint8_t a[16];
	char step[96];
	unsigned i;
	perso_status_t st;

	snprintf(step, sizeof step, "read back file '%s'", f->name);
	st = pc_select(&r->c, r->p, u->file, step);
	if (st != PERSO_OK)
		return st;
	if (u->record == 0) {
		for (i = 0; i < u->nspan; i++) {
			unsigned off = u->span[i].off,
				 end = off + u->span[i].len;

			for (; off < end; off += CHUNK) {
				unsigned len =
					end - off < CHUNK ? end - off : CHUNK;

				st = pc_xchg(&r->c, step, "READ BINARY", a,
					     pc_mk(a, 0x00, 0xB0,
						   (uint8_t)(off >> 8 & 0x7F),
						   (uint8_t)off, NULL, 0,
						   (int)len));
				if (st != PERSO_OK)
					return st;
				if (r->c.rlen != len ||
				    memcmp(r->c.resp, u->data + off, len) != 0)
					return pc_fail(
						&r->c, PERSO_ERR_CARD,
						"%s: bytes %u..%u differ "
						"from what was written",
						step, off, off + len - 1);
			}
		}
		return PERSO_OK;
	}
	st = pc_xchg(
		&r->c, step, "READ RECORD", a,
		pc_mk(a, 0x00, 0xB2, (uint8_t)u->record, 0x04, NULL, 0, 0));
	if (st != PERSO_OK)
		return st;
	if (r->c.rlen != u->len || memcmp(r->c.resp, u->data, u->len) != 0)
		return pc_fail(&r->c, PERSO_ERR_CARD,
			       "%s: record %u differs from what was written",
			       step, u->record);
	return PERSO_OK;
}

/* Set (or, check == 1, present) every PIN the holder has a value for. */
static perso_status_t pins(run_t *r, int check)
{
	const profile_pin_t *ps;
	size_t np, i, n;
	uint8_t val[16], a[32];
	char step[96];
	perso_status_t st;

	ps = profile_pins(r->p, &np);
	for (i = 0; i < np && i < r->h->npins; i++) {
		const char *v = r->h->pins[i];

		if (v == NULL)
			continue;
		snprintf(step, sizeof step, "%sPIN '%s'", check ? "check " : "",
			 ps[i].name);
		st = pc_select(&r->c, r->p, ps[i].df, step);
		if (st != PERSO_OK)
			return st;
		if (pc_pin_encode(&ps[i], v, strlen(v), val) != 0) {
			OPENSSL_cleanse(val, sizeof val);
			return pc_fail(&r->c, PERSO_ERR_FORMAT,
				       "%s: the value does not fit its format",
				       step);
		}
		n = pc_mk(a, 0x00, check ? 0x20 : 0x24, check ? 0x00 : 0x01,
			  ps[i].ref, val, ps[i].length, -1);
		OPENSSL_cleanse(val, sizeof val);
		st = pc_xchg(&r->c, step,
			     check ? "VERIFY" : "CHANGE REFERENCE DATA", a, n);
		OPENSSL_cleanse(a, sizeof a);
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

static perso_status_t perso_cos(run_t *r, perso_card_info_t *info)
{
	scp03_host_t s;
	uint8_t lcs = 0, a[16];
	size_t i;
	perso_status_t st;

	st = pc_select_mf(&r->c, "identify");
	if (st == PERSO_OK)
		st = pc_chip_data(&r->c, &lcs, r->serial);
	if (st != PERSO_OK)
		return st;
	memcpy(info->serial, r->serial, PERSO_SERIAL_LEN);
	info->lcs_before = lcs;
	if (lcs != COS_LC_PERSONALIZATION && lcs != COS_LC_OPERATIONAL)
		return pc_fail(&r->c, PERSO_ERR_CARD,
			       "identify: the chip is not in PERSONALIZATION "
			       "(life cycle %02X)",
			       lcs);
	info->checked_only = lcs == COS_LC_OPERATIONAL;
	memset(&s, 0, sizeof s);
	st = open_session(r, &s);
	if (st != PERSO_OK)
		return st;
	if (!info->checked_only) {
		for (i = 0; st == PERSO_OK && i < r->l.n; i++)
			st = write_unit(r, &r->l.u[i]);
		if (st == PERSO_OK)
			st = pins(r, 0);
		if (st == PERSO_OK)
			st = pc_cplc_stamp(&r->c, 0xDF44, r->o->personalizer,
					   r->o->equipment, 0);
		if (st == PERSO_OK)
			st = pc_select_mf(&r->c, "activate");
		if (st == PERSO_OK)
			st = pc_xchg(
				&r->c, "activate", "SET STATUS 0F", a,
				pc_mk(a, 0x80, 0xF0, 0x80, 0x0F, NULL, 0, -1));
	} else {
		st = pc_cplc_stamp(&r->c, 0xDF44, r->o->personalizer,
				   r->o->equipment, 1);
	}
	/* Read back in the user's state, still over the session. */
	for (i = 0; st == PERSO_OK && i < r->l.n; i++)
		st = check_unit(r, &r->l.u[i]);
	if (st == PERSO_OK)
		st = pins(r, 1);
	if (st == PERSO_OK) {
		/* Still wrapped: the card takes nothing else while the
		 * session is open. */
		st = pc_select_mf(&r->c, "check");
		if (st == PERSO_OK)
			st = pc_chip_data(&r->c, &lcs, NULL);
		if (st == PERSO_OK && lcs != COS_LC_OPERATIONAL)
			st = pc_fail(&r->c, PERSO_ERR_CARD,
				     "check: the chip is not OPERATIONAL (life "
				     "cycle %02X)",
				     lcs);
	}
	r->c.sm = NULL;
	scp03_host_end(&s);
	return st;
}

static perso_status_t perso_mc(run_t *r, perso_card_info_t *info)
{
	static const uint8_t card_type = 0x06;
	const profile_area_t *areas;
	uint8_t psc[PC_PSC], a[300], back[256];
	size_t na, i;
	unsigned j, len;
	char step[96];
	perso_status_t st;

	areas = profile_areas(r->p, &na);
	st = pc_xchg(&r->c, "identify", "SELECT_CARD_TYPE", a,
		     pc_mk(a, 0xFF, 0xA4, 0x00, 0x00, &card_type, 1, -1));
	if (st == PERSO_OK)
		st = pc_mc_read(&r->c, "identify", 8, PERSO_SERIAL_LEN,
				r->serial);
	if (st != PERSO_OK)
		return st;
	memcpy(info->serial, r->serial, PERSO_SERIAL_LEN);
	st = pc_issuer_psc(&r->c, r->p, r->t, r->o->wrap_label, r->serial, psc);
	if (st != PERSO_OK)
		return st;
	i = pc_mk(a, 0xFF, 0x20, 0x00, 0x00, psc, PC_PSC, -1);
	OPENSSL_cleanse(psc, sizeof psc);
	st = pc_xchg_sw(&r->c, "issuer PSC", "PRESENT_CODE_MEMORY_CARD", a, i,
			0x9007);
	OPENSSL_cleanse(a, sizeof a);
	if (st != PERSO_OK)
		return st;
	for (i = 0; i < r->l.n; i++) {
		const unit_t *u = &r->l.u[i];
		const profile_area_t *ar = &areas[u->file];

		snprintf(step, sizeof step, "area '%s'", ar->name);
		for (j = 0; j < u->nspan; j++) {
			unsigned addr = ar->start + u->span[j].off;

			len = u->span[j].len;
			st = pc_mc_read(&r->c, step, addr, len, back);
			if (st != PERSO_OK)
				return st;
			/* A byte protected by an earlier run holds its value:
			 * write only what differs. */
			if (memcmp(back, u->data + u->span[j].off, len) == 0)
				continue;
			if (addr + len > 256)
				return pc_fail(&r->c, PERSO_ERR_PARAM,
					       "%s: out of memory", step);
			st = pc_xchg(&r->c, step, "WRITE_MEMORY_CARD", a,
				     pc_mk(a, 0xFF, 0xD0, 0x00, (uint8_t)addr,
					   u->data + u->span[j].off, len, -1));
			if (st == PERSO_OK)
				st = pc_mc_read(&r->c, step, addr, len, back);
			if (st != PERSO_OK)
				return st;
			if (memcmp(back, u->data + u->span[j].off, len) != 0)
				return pc_fail(
					&r->c, PERSO_ERR_CARD,
					"%s: read back differs from what "
					"was written",
					step);
		}
	}
	for (i = 0; i < na; i++) {
		if (areas[i].protect != PROFILE_PROTECT_PERSO)
			continue;
		snprintf(step, sizeof step, "protect area '%s'", areas[i].name);
		if (areas[i].start >= 32)
			return pc_fail(&r->c, PERSO_ERR_PARAM,
				       "%s: outside bytes 0..31", step);
		len = areas[i].length;
		if (areas[i].start + len > 32)
			len = 32 - areas[i].start;
		st = pc_mc_read(&r->c, step, areas[i].start, len, back);
		if (st == PERSO_OK)
			st = pc_xchg(
				&r->c, step, "WRITE_PROTECTION_MEMORY_CARD", a,
				pc_mk(a, 0xFF, 0xD1, 0x00,
				      (uint8_t)areas[i].start, back, len, -1));
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

perso_status_t perso_layout(const profile_t *p, const perso_holder_t *h,
			    size_t *units, size_t *bytes, char *err,
			    size_t errcap)
{
	const profile_info_t *pi = profile_info(p);
	layout_t l;
	size_t i, j, n = 0;
	int rc;

	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (pi == NULL || h == NULL ||
	    (pi->kind != PROFILE_CHIP_COS && pi->kind != PROFILE_CHIP_MEMCARD))
		return PERSO_ERR_PARAM;
	memset(&l, 0, sizeof l);
	l.p = p, l.err = err, l.errcap = errcap;
	rc = pi->kind == PROFILE_CHIP_COS ? layout_cos(&l, h) :
					    layout_mc(&l, h);
	if (rc == 0) {
		spans_merge(&l);
		for (i = 0; i < l.n; i++) {
			if (l.u[i].record != 0)
				n += l.u[i].len;
			for (j = 0; j < l.u[i].nspan; j++)
				n += l.u[i].span[j].len;
		}
	}
	if (units != NULL)
		*units = rc == 0 ? l.n : 0;
	if (bytes != NULL)
		*bytes = rc == 0 ? n : 0;
	OPENSSL_cleanse(l.u, l.n * sizeof *l.u);
	free(l.u);
	return rc == 0 ? PERSO_OK : PERSO_ERR_FORMAT;
}

perso_status_t perso_card(reader_t *rd, const profile_t *p, perso_token_t *t,
			  const perso_card_opts_t *o, const perso_holder_t *h,
			  perso_card_info_t *info, char *err, size_t errcap)
{
	const profile_info_t *pi;
	perso_card_info_t dummy;
	run_t r;
	perso_status_t st;

	if (info == NULL)
		info = &dummy;
	memset(info, 0, sizeof *info);
	memset(&r, 0, sizeof r);
	r.c.r = rd, r.c.err = err, r.c.errcap = errcap;
	r.p = p, r.t = t, r.o = o, r.h = h;
	r.l.p = p, r.l.err = err, r.l.errcap = errcap;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (rd == NULL || p == NULL || t == NULL || o == NULL || h == NULL)
		return pc_fail(&r.c, PERSO_ERR_PARAM,
			       "perso: missing argument");
	pi = profile_info(p);
	if (pi == NULL ||
	    (pi->kind != PROFILE_CHIP_COS && pi->kind != PROFILE_CHIP_MEMCARD))
		return pc_fail(&r.c, PERSO_ERR_PARAM,
			       "perso: the profile's chip is not known");
	/* The holder's data first: a holder that cannot be encoded is
	 * refused before the card is touched. */
	if ((pi->kind == PROFILE_CHIP_COS ? layout_cos(&r.l, h) :
					    layout_mc(&r.l, h)) != 0) {
		free(r.l.u);
		return PERSO_ERR_FORMAT;
	}
	spans_merge(&r.l);
	st = pc_power(&r.c, "perso");
	if (st == PERSO_OK)
		st = pi->kind == PROFILE_CHIP_COS ? perso_cos(&r, info) :
						    perso_mc(&r, info);
	info->apdus = r.c.apdus;
	info->bytes_out = r.c.bytes_out;
	info->bytes_in = r.c.bytes_in;
	OPENSSL_cleanse(r.l.u, r.l.n * sizeof *r.l.u);
	free(r.l.u);
	return st;
}

perso_status_t perso_card_serial(reader_t *rd, const profile_t *p,
				 uint8_t serial[PERSO_SERIAL_LEN], char *err,
				 size_t errcap)
{
	static const uint8_t card_type = 0x06;
	const profile_info_t *pi = profile_info(p);
	uint8_t a[8];
	pc_ctx_t c;
	perso_status_t st;

	memset(&c, 0, sizeof c);
	c.r = rd, c.err = err, c.errcap = errcap;
	if (rd == NULL || pi == NULL || serial == NULL)
		return PERSO_ERR_PARAM;
	st = pc_power(&c, "identify");
	if (st != PERSO_OK)
		return st;
	if (pi->kind == PROFILE_CHIP_MEMCARD) {
		st = pc_xchg(
			&c, "identify", "SELECT_CARD_TYPE", a,
			pc_mk(a, 0xFF, 0xA4, 0x00, 0x00, &card_type, 1, -1));
		if (st == PERSO_OK)
			st = pc_mc_read(&c, "identify", 8, PERSO_SERIAL_LEN,
					serial);
		return st;
	}
	st = pc_select_mf(&c, "identify");
	if (st == PERSO_OK)
		st = pc_chip_data(&c, NULL, serial);
	return st;
}

/* ---------------------------------------------------------------- mailer */

perso_status_t perso_mailer_record(perso_token_t *t, const char *mailer_key,
				   const profile_t *p, const perso_holder_t *h,
				   const char *serial_hex, char **line)
{
	const profile_pin_t *ps;
	size_t np, i, k = 0, ol = 0, need;
	char plain[512], aad[64];
	uint8_t enc[512 + PERSO_GCM_OVERHEAD];
	char *out;
	int n;
	perso_status_t st;

	if (t == NULL || mailer_key == NULL || p == NULL || h == NULL ||
	    serial_hex == NULL || line == NULL)
		return PERSO_ERR_PARAM;
	*line = NULL;
	ps = profile_pins(p, &np);
	for (i = 0; i < np && i < h->npins; i++) {
		if (h->pins[i] == NULL)
			continue;
		n = snprintf(plain + k, sizeof plain - k, "%s%s=%s",
			     k ? "\n" : "", ps[i].name, h->pins[i]);
		if (n < 0 || (size_t)n >= sizeof plain - k) {
			OPENSSL_cleanse(plain, sizeof plain);
			return PERSO_ERR_PARAM;
		}
		k += (size_t)n;
	}
	n = snprintf(aad, sizeof aad, "mailer:%s", serial_hex);
	if (n < 0 || (size_t)n >= sizeof aad) {
		OPENSSL_cleanse(plain, sizeof plain);
		return PERSO_ERR_PARAM;
	}
	st = perso_encrypt(t, mailer_key, (const uint8_t *)aad, (size_t)n,
			   (const uint8_t *)plain, k, enc, sizeof enc, &ol);
	OPENSSL_cleanse(plain, sizeof plain);
	if (st != PERSO_OK)
		return st;
	need = 32 + strlen(h->ref) + strlen(serial_hex) + 2 * ol;
	out = malloc(need);
	if (out == NULL)
		return PERSO_ERR_NOMEM;
	n = snprintf(out, need, "%u\t%s\t%s\t", h->seq, h->ref, serial_hex);
	k = (size_t)n;
	for (i = 0; i < ol; i++, k += 2)
		snprintf(out + k, need - k, "%02X", enc[i]);
	*line = out;
	return PERSO_OK;
}

perso_status_t perso_mailer_append(const char *path, const char *serial_hex,
				   const char *line, char *err, size_t errcap)
{
	FILE *f;
	char *buf = NULL, *tab;
	size_t cap = 0, n;
	int fd, found = 0;
	perso_status_t st = PERSO_OK;

	if (path == NULL || serial_hex == NULL || line == NULL)
		return PERSO_ERR_PARAM;
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		if (err != NULL && errcap > 0)
			snprintf(err, errcap, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return PERSO_ERR_IO;
	}
	f = fdopen(fd, "r+");
	if (f == NULL) {
		close(fd);
		return PERSO_ERR_NOMEM;
	}
	/* SEQ<TAB>REF<TAB>SERIAL<TAB>...: the third item */
	while (!found && getline(&buf, &cap, f) >= 0) {
		tab = strchr(buf, '\t');
		tab = tab ? strchr(tab + 1, '\t') : NULL;
		n = strlen(serial_hex);
		if (tab != NULL && strncmp(tab + 1, serial_hex, n) == 0 &&
		    tab[1 + n] == '\t')
			found = 1;
	}
	free(buf);
	if (!found) {
		n = strlen(line);
		if (fseek(f, 0, SEEK_END) != 0 || fwrite(line, 1, n, f) != n ||
		    fputc('\n', f) == EOF || fflush(f) != 0 || fsync(fd) != 0)
			st = PERSO_ERR_IO;
	}
	if (fclose(f) != 0)
		st = PERSO_ERR_IO;
	if (st != PERSO_OK && err != NULL && errcap > 0)
		snprintf(err, errcap, "%s: cannot append the mailer line",
			 path);
	return st;
}
