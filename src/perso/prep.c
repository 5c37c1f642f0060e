/*
 * prep.c - data preparation: holder records (CSV) checked against a card
 * profile, and the batch of perso records (prep.h says what; the batch
 * format is in docs/perso.md).
 *
 * How it works: libcsv parses the holder file, fed one line at a time so
 * that every record knows the line it starts on; its field callback keeps
 * the cells of the record, its record callback checks them. The first
 * record is the header: each column names a profile field. Every cell is
 * checked by perso_prep_check_field() (type, character set, lengths,
 * dates, numbers), then unique fields against the values seen so far (an
 * open-addressing hash table a field). A bad record gives one report entry
 * a bad field; a good one goes to the caller's function.
 *
 * The batch writer is such a function: it writes one line a record to a
 * temporary file, secrets encrypted in the token (AES-GCM, prep.h), and
 * the file is renamed into place only when the run is good, after an
 * fsync. Cells are wiped when freed: they may hold secrets.
 */
#define _POSIX_C_SOURCE 200809L

#include "perso/prep.h"
#include "perso/perso_int.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* ---------------------------------------------------------------- report */

void perso_prep_report_free(perso_prep_report_t *r)
{
	if (r == NULL)
		return;
	free(r->v);
	memset(r, 0, sizeof *r);
}

static int add_reject(perso_prep_report_t *r, unsigned line, const char *field,
		      const char *fmt, ...)
{
	va_list ap;
	perso_reject_t *e;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		perso_reject_t *v = realloc(r->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	e = &r->v[r->n++];
	e->line = line;
	snprintf(e->field, sizeof e->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
	return 0;
}

/* ---------------------------------------------------------------- checks */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Decode one UTF-8 character at s (n bytes left): its code point, or -1
 * for a malformed sequence (overlong, surrogate, above U+10FFFF,
 * truncated). *adv gets its byte count.
 */
static long utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
	unsigned char c = s[0];
	size_t k, i;
	long cp, min;

	if (c < 0x80) {
		*adv = 1;
		return c;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		k = 2;
		cp = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		cp = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (n < k)
		return -1;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*adv = k;
	return cp;
}

static int check_text(const profile_field_t *f, const char *v, size_t len,
		      char *why, size_t cap)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t i = 0, chars = 0, stored = 0, adv;
	long cp;
	int c;

	while (i < len) {
		c = s[i];
		switch (f->encoding) {
		case PROFILE_ENC_ASCII:
			if (c < 0x20 || c > 0x7E)
				goto bad_char;
			adv = 1;
			cp = c;
			break;
		case PROFILE_ENC_ALNUM:
			if (!(is_digit(c) || (c >= 'A' && c <= 'Z') ||
			      (c >= 'a' && c <= 'z') || c == ' '))
				goto bad_char;
			adv = 1;
			cp = c;
			break;
		case PROFILE_ENC_UPPER:
			if (!((c >= 'A' && c <= 'Z') || c == ' ' || c == '-' ||
			      c == '\''))
				goto bad_char;
			adv = 1;
			cp = c;
			break;
		default: /* UTF-8 in, UTF-8 or Latin-1 stored */
			cp = utf8_next(s + i, len - i, &adv);
			if (cp < 0) {
				snprintf(why, cap,
					 "character %zu: not valid UTF-8",
					 chars + 1);
				return -1;
			}
			if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
				goto bad_char;
			if (f->encoding == PROFILE_ENC_LATIN1 && cp > 0xFF) {
				snprintf(why, cap,
					 "character %zu: not in ISO 8859-1 "
					 "(Latin-1)",
					 chars + 1);
				return -1;
			}
			break;
		}
		stored += f->encoding == PROFILE_ENC_LATIN1 ? 1 : adv;
		chars++;
		i += adv;
	}
	(void)cp;
	if (stored < f->min_length ||
	    (f->max_length && stored > f->max_length)) {
		snprintf(why, cap, "%zu bytes as stored, %u to %u expected",
			 stored, f->min_length, f->max_length);
		return -1;
	}
	return 0;
bad_char:
	if (f->encoding == PROFILE_ENC_ASCII ||
	    f->encoding == PROFILE_ENC_ALNUM ||
	    f->encoding == PROFILE_ENC_UPPER)
		snprintf(why, cap, "character %zu: not allowed in %s text",
			 chars + 1,
			 f->encoding == PROFILE_ENC_ASCII ?
				 "ascii (printable)" :
			 f->encoding == PROFILE_ENC_ALNUM ?
				 "alnum (A-Z a-z 0-9 "
				 "space)" :
				 "upper (A-Z, space, - "
				 "and ')");
	else
		snprintf(why, cap,
			 "character %zu: a control character (line break, "
			 "tab...)",
			 chars + 1);
	return -1;
}

static int days_in(unsigned y, unsigned m)
{
	static const unsigned char d[12] = { 31, 28, 31, 30, 31, 30,
					     31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

static int check_date(const profile_field_t *f, const char *v, size_t len,
		      char *why, size_t cap)
{
	unsigned y, m, d;
	size_t i;

	for (i = 0; i < len; i++)
		if (!(i == 4 || i == 7 ? v[i] == '-' : is_digit(v[i])))
			break;
	if (len != 10 || i != 10) {
		snprintf(why, cap, "a date YYYY-MM-DD expected");
		return -1;
	}
	y = (unsigned)((v[0] - '0') * 1000 + (v[1] - '0') * 100 +
		       (v[2] - '0') * 10 + (v[3] - '0'));
	m = (unsigned)((v[5] - '0') * 10 + (v[6] - '0'));
	d = (unsigned)((v[8] - '0') * 10 + (v[9] - '0'));
	if (y == 0 || m < 1 || m > 12 || d < 1 || d > (unsigned)days_in(y, m)) {
		snprintf(why, cap, "not a calendar date (YYYY-MM-DD)");
		return -1;
	}
	if (f->encoding == PROFILE_ENC_DATE_BCD_YYMMDD &&
	    (y < 2000 || y > 2099)) {
		snprintf(why, cap,
			 "a year 2000 to 2099 expected (stored as "
			 "YYMMDD)");
		return -1;
	}
	return 0;
}

static int check_number(const profile_field_t *f, const char *v, size_t len,
			char *why, size_t cap)
{
	unsigned long long x = 0, max;
	size_t i, digits;

	for (i = 0; i < len; i++)
		if (!is_digit(v[i])) {
			snprintf(why, cap,
				 "character %zu: an unsigned integer (digits "
				 "only) expected",
				 i + 1);
			return -1;
		}
	/* Leading zeros do not count against the size. */
	for (i = 0; i + 1 < len && v[i] == '0'; i++)
		;
	digits = len - i;
	switch (f->encoding) {
	case PROFILE_ENC_BE8:
		max = 0xFF;
		break;
	case PROFILE_ENC_BE16:
		max = 0xFFFF;
		break;
	case PROFILE_ENC_BCD6:
		max = 999999999999ULL;
		break;
	default:
		max = 0xFFFFFFFFULL;
		break;
	}
	if (digits > 12 && max == 999999999999ULL)
		goto too_big;
	if (digits > 19)
		goto too_big;
	for (; i < len; i++)
		x = x * 10 + (unsigned)(v[i] - '0');
	if (x > max)
		goto too_big;
	return 0;
too_big:
	snprintf(why, cap, "too large: at most %llu", max);
	return -1;
}

int perso_prep_check_field(const profile_field_t *f, const char *value,
			   char *why, size_t cap)
{
	size_t len, i;

	if (f == NULL || value == NULL || why == NULL || cap == 0)
		return -1;
	why[0] = '\0';
	len = strlen(value);
	if (len == 0) {
		if (f->required) {
			snprintf(why, cap, "required, and empty");
			return -1;
		}
		return 0;
	}
	switch (f->type) {
	case PROFILE_FIELD_TEXT:
		return check_text(f, value, len, why, cap);
	case PROFILE_FIELD_DIGITS:
		for (i = 0; i < len; i++)
			if (!is_digit(value[i])) {
				snprintf(why, cap,
					 "character %zu: a digit expected",
					 i + 1);
				return -1;
			}
		if (len < f->min_length ||
		    (f->max_length && len > f->max_length)) {
			snprintf(why, cap, "%zu digits, %u to %u expected", len,
				 f->min_length, f->max_length);
			return -1;
		}
		return 0;
	case PROFILE_FIELD_DATE:
		return check_date(f, value, len, why, cap);
	case PROFILE_FIELD_AMOUNT:
	case PROFILE_FIELD_NUMBER:
		return check_number(f, value, len, why, cap);
	case PROFILE_FIELD_BYTES:
		for (i = 0; i < len; i++)
			if (!is_hex(value[i])) {
				snprintf(why, cap,
					 "character %zu: a hex digit expected",
					 i + 1);
				return -1;
			}
		if (len % 2) {
			snprintf(why, cap, "an odd number of hex digits");
			return -1;
		}
		if (len / 2 < f->min_length ||
		    (f->max_length && len / 2 > f->max_length)) {
			snprintf(why, cap, "%zu bytes, %u to %u expected",
				 len / 2, f->min_length, f->max_length);
			return -1;
		}
		return 0;
	}
	snprintf(why, cap, "a field type data preparation does not know");
	return -1;
}

/* ---------------------------------------------------------------- unique */

typedef struct {
	char *val;
	unsigned line;
} uslot_t;

typedef struct {
	uslot_t *v;
	size_t cap, n;
} uset_t;

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* 0 and *first = 0: new (added); 0 and *first: seen at that line; -1
 * out of memory. */
static int uset_add(uset_t *u, const char *val, unsigned line, unsigned *first)
{
	size_t i;

	*first = 0;
	if (2 * (u->n + 1) > u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 64, j;
		uslot_t *v = calloc(cap, sizeof *v);
		if (v == NULL)
			return -1;
		for (j = 0; j < u->cap; j++) {
			if (u->v[j].val == NULL)
				continue;
			i = fnv(u->v[j].val) & (cap - 1);
			while (v[i].val != NULL)
				i = (i + 1) & (cap - 1);
			v[i] = u->v[j];
		}
		free(u->v);
		u->v = v;
		u->cap = cap;
	}
	i = fnv(val) & (u->cap - 1);
	while (u->v[i].val != NULL) {
		if (strcmp(u->v[i].val, val) == 0) {
			*first = u->v[i].line;
			return 0;
		}
		i = (i + 1) & (u->cap - 1);
	}
	u->v[i].val = strdup(val);
	if (u->v[i].val == NULL)
		return -1;
	u->v[i].line = line;
	u->n++;
	return 0;
}

static void uset_free(uset_t *u)
{
	size_t i;

	for (i = 0; i < u->cap; i++)
		if (u->v[i].val != NULL) {
			OPENSSL_cleanse(u->v[i].val, strlen(u->v[i].val));
			free(u->v[i].val);
		}
	free(u->v);
	memset(u, 0, sizeof *u);
}

/* ---------------------------------------------------------------- reader */

typedef struct {
	const profile_t *p;
	const profile_field_t *fields;
	size_t nf;
	const char *name;
	perso_prep_report_t *rep;
	perso_record_fn fn;
	void *ctx;

	int *col; /* column -> field index */
	size_t ncols;
	int header_done;

	char **cells; /* the current record */
	size_t *cell_len;
	size_t ncells, cellcap;
	unsigned line, rec_line;

	const char **values; /* field index -> value of a good record */
	uset_t *uniq;	     /* field index -> values seen */
	perso_status_t st;   /* first fatal error */
} rd_t;

static void fatal(rd_t *r, perso_status_t st, const char *fmt, ...)
{
	va_list ap;

	if (r->st != PERSO_OK)
		return;
	r->st = st;
	va_start(ap, fmt);
	vsnprintf(r->rep->fatal, sizeof r->rep->fatal, fmt, ap);
	va_end(ap);
}

static void clear_cells(rd_t *r)
{
	size_t i;

	for (i = 0; i < r->ncells; i++) {
		OPENSSL_cleanse(r->cells[i], r->cell_len[i]);
		free(r->cells[i]);
	}
	r->ncells = 0;
}

static void on_cell(void *s, size_t len, void *data)
{
	rd_t *r = data;
	char *c;
	size_t i, nl = 0;

	if (r->st != PERSO_OK)
		return;
	if (r->ncells == r->cellcap) {
		size_t cap = r->cellcap ? 2 * r->cellcap : 16;
		char **v = realloc(r->cells, cap * sizeof *v);
		size_t *l;
		if (v == NULL) {
			fatal(r, PERSO_ERR_NOMEM, "out of memory");
			return;
		}
		r->cells = v;
		l = realloc(r->cell_len, cap * sizeof *l);
		if (l == NULL) {
			fatal(r, PERSO_ERR_NOMEM, "out of memory");
			return;
		}
		r->cell_len = l;
		r->cellcap = cap;
	}
	c = malloc(len + 1);
	if (c == NULL) {
		fatal(r, PERSO_ERR_NOMEM, "out of memory");
		return;
	}
	if (len)
		memcpy(c, s, len);
	c[len] = '\0';
	for (i = 0; i < len; i++)
		nl += c[i] == '\n' ||
		      (c[i] == '\r' && (i + 1 == len || c[i + 1] != '\n'));
	/* The record starts on the line its first cell starts on. */
	if (r->ncells == 0)
		r->rec_line = r->line - (unsigned)nl;
	r->cells[r->ncells] = c;
	r->cell_len[r->ncells] = len;
	r->ncells++;
}

static void do_header(rd_t *r)
{
	size_t i, j;
	int k;

	r->header_done = 1;
	r->col = calloc(r->ncells + 1, sizeof *r->col);
	if (r->col == NULL) {
		fatal(r, PERSO_ERR_NOMEM, "out of memory");
		return;
	}
	r->ncols = r->ncells;
	for (i = 0; i < r->ncells; i++) {
		k = profile_field_find(r->p, r->cells[i]);
		if (k < 0) {
			fatal(r, PERSO_ERR_FORMAT,
			      "%s:%u: column %zu ('%.40s'): the profile has "
			      "no field of that name",
			      r->name, r->rec_line, i + 1, r->cells[i]);
			return;
		}
		for (j = 0; j < i; j++)
			if (r->col[j] == k) {
				fatal(r, PERSO_ERR_FORMAT,
				      "%s:%u: column %zu ('%s'): the same "
				      "field as column %zu",
				      r->name, r->rec_line, i + 1,
				      r->fields[k].name, j + 1);
				return;
			}
		r->col[i] = k;
	}
	for (k = 0; (size_t)k < r->nf; k++) {
		if (!r->fields[k].required)
			continue;
		for (j = 0; j < r->ncols && r->col[j] != k; j++)
			;
		if (j == r->ncols) {
			fatal(r, PERSO_ERR_FORMAT,
			      "%s:%u: no column for the required field '%s'",
			      r->name, r->rec_line, r->fields[k].name);
			return;
		}
	}
}

static void do_record(rd_t *r)
{
	perso_prep_report_t *rep = r->rep;
	size_t i, before = rep->n;
	char why[160];
	unsigned first;
	int k;

	rep->records++;
	if (r->ncells != r->ncols) {
		if (add_reject(rep, r->rec_line, "-",
			       "%zu columns, the header has %zu", r->ncells,
			       r->ncols) != 0)
			fatal(r, PERSO_ERR_NOMEM, "out of memory");
		rep->bad++;
		return;
	}
	for (k = 0; (size_t)k < r->nf; k++)
		r->values[k] = NULL;
	for (i = 0; i < r->ncells; i++) {
		const profile_field_t *f = &r->fields[r->col[i]];

		if (strlen(r->cells[i]) != r->cell_len[i]) {
			snprintf(why, sizeof why, "a NUL byte in the value");
		} else if (perso_prep_check_field(f, r->cells[i], why,
						  sizeof why) == 0) {
			if (r->cells[i][0] == '\0')
				continue;
			r->values[r->col[i]] = r->cells[i];
			if (!f->unique)
				continue;
			if (uset_add(&r->uniq[r->col[i]], r->cells[i],
				     r->rec_line, &first) != 0) {
				fatal(r, PERSO_ERR_NOMEM, "out of memory");
				return;
			}
			if (first == 0)
				continue;
			snprintf(why, sizeof why,
				 "unique, and the same as line %u's", first);
		}
		if (add_reject(rep, r->rec_line, f->name, "%s", why) != 0) {
			fatal(r, PERSO_ERR_NOMEM, "out of memory");
			return;
		}
	}
	if (rep->n != before) {
		rep->bad++;
		return;
	}
	rep->good++;
	if (r->fn != NULL && r->fn(r->ctx, r->rec_line, r->values, r->nf) != 0)
		fatal(r, PERSO_ERR_IO, "writing record of line %u failed",
		      r->rec_line);
}

static void on_record(int c, void *data)
{
	rd_t *r = data;

	(void)c;
	if (r->st == PERSO_OK) {
		if (!r->header_done)
			do_header(r);
		else
			do_record(r);
	}
	clear_cells(r);
}

perso_status_t perso_prep_read(const profile_t *p, const char *name,
			       const uint8_t *buf, size_t len,
			       perso_record_fn fn, void *ctx,
			       perso_prep_report_t *rep)
{
	struct csv_parser csv;
	rd_t r;
	size_t off = 0, end, k;

	if (p == NULL || rep == NULL || (buf == NULL && len != 0))
		return PERSO_ERR_PARAM;
	memset(&r, 0, sizeof r);
	r.p = p;
	r.fields = profile_fields(p, &r.nf);
	r.name = name ? name : "holders";
	r.rep = rep;
	r.fn = fn;
	r.ctx = ctx;
	r.line = 1;
	r.values = calloc(r.nf + 1, sizeof *r.values);
	r.uniq = calloc(r.nf + 1, sizeof *r.uniq);
	if (r.values == NULL || r.uniq == NULL) {
		free(r.values);
		free(r.uniq);
		return PERSO_ERR_NOMEM;
	}
	if (csv_init(&csv, CSV_STRICT | CSV_STRICT_FINI) != 0) {
		free(r.values);
		free(r.uniq);
		return PERSO_ERR_NOMEM;
	}
	/* A UTF-8 byte order mark is not part of the first column's name. */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		off = 3;
	while (off < len && r.st == PERSO_OK) {
		/* A line ends at LF, CR LF or a lone CR, as libcsv sees it. */
		int nl = 0;

		for (end = off; end < len; end++)
			if (buf[end] == '\n' || buf[end] == '\r') {
				nl = 1;
				if (buf[end] == '\r' && end + 1 < len &&
				    buf[end + 1] == '\n')
					end++;
				end++;
				break;
			}
		if (csv_parse(&csv, buf + off, end - off, on_cell, on_record,
			      &r) != end - off)
			fatal(&r, PERSO_ERR_FORMAT, "%s:%u: bad CSV: %s",
			      r.name, r.line, csv_strerror(csv_error(&csv)));
		if (nl)
			r.line++;
		off = end;
	}
	if (r.st == PERSO_OK && csv_fini(&csv, on_cell, on_record, &r) != 0)
		fatal(&r, PERSO_ERR_FORMAT,
		      "%s:%u: bad CSV: %s (a quote left open?)", r.name, r.line,
		      csv_strerror(csv_error(&csv)));
	if (r.st == PERSO_OK && !r.header_done)
		fatal(&r, PERSO_ERR_FORMAT,
		      "%s: empty: a header line naming the fields expected",
		      r.name);
	clear_cells(&r);
	csv_free(&csv);
	free(r.cells);
	free(r.cell_len);
	free(r.col);
	free(r.values);
	for (k = 0; k < r.nf; k++)
		uset_free(&r.uniq[k]);
	free(r.uniq);
	return r.st;
}

/* ---------------------------------------------------------------- batch */

typedef struct {
	perso_token_t *t;
	const profile_t *p;
	const char *key;
	FILE *f;
	size_t seq;
	perso_status_t st;
} wr_t;

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02X", p[i]);
}

/* "\tKIND:NAME=" and the value encrypted, AAD "SEQ:KIND:NAME". */
static int put_secret(wr_t *w, char kind, const char *name, const uint8_t *v,
		      size_t n)
{
	uint8_t out[512 + PERSO_GCM_OVERHEAD];
	char aad[128];
	size_t ol = 0;
	int al;

	if (n > 512) {
		w->st = PERSO_ERR_FORMAT;
		return -1;
	}
	al = snprintf(aad, sizeof aad, "%zu:%c:%s", w->seq, kind, name);
	if (al < 0 || (size_t)al >= sizeof aad) {
		w->st = PERSO_ERR_PARAM;
		return -1;
	}
	w->st = perso_encrypt(w->t, w->key, (const uint8_t *)aad, (size_t)al, v,
			      n, out, sizeof out, &ol);
	if (w->st != PERSO_OK)
		return -1;
	fprintf(w->f, "\t%c:%s=", kind, name);
	put_hex(w->f, out, ol);
	return 0;
}

static int record_items(wr_t *w, unsigned line, const char *const *values,
			size_t nvalues)
{
	size_t nf, np, i, k;
	const profile_field_t *fs = profile_fields(w->p, &nf);
	const profile_pin_t *ps = profile_pins(w->p, &np);
	char pin[40];
	uint8_t rnd;

	w->seq++;
	fprintf(w->f, "R\t%zu\t%u", w->seq, line);
	for (i = 0; i < nvalues && i < nf; i++) {
		if (values[i] == NULL)
			continue;
		if (fs[i].secret) {
			if (put_secret(w, 'S', fs[i].name,
				       (const uint8_t *)values[i],
				       strlen(values[i])) != 0)
				return -1;
		} else {
			fprintf(w->f, "\tF:%s=", fs[i].name);
			put_hex(w->f, (const uint8_t *)values[i],
				strlen(values[i]));
		}
	}
	for (i = 0; i < np; i++) {
		const char *v = NULL;

		memset(pin, 0, sizeof pin);
		switch (ps[i].source) {
		case PROFILE_SRC_HOLDER_FIELD:
			if (ps[i].field >= 0 && (size_t)ps[i].field < nvalues)
				v = values[ps[i].field];
			break;
		case PROFILE_SRC_FIXED:
			v = ps[i].fixed;
			break;
		case PROFILE_SRC_RANDOM:
			/* Uniform digits: bytes 250..255 are drawn again. */
			for (k = 0;
			     k < ps[i].random_digits && k < sizeof pin - 1;) {
				w->st = perso_random(w->t, &rnd, 1);
				if (w->st != PERSO_OK)
					return -1;
				if (rnd < 250)
					pin[k++] = (char)('0' + rnd % 10);
			}
			rnd = 0;
			v = pin;
			break;
		case PROFILE_SRC_NONE:
			break;
		}
		if (v != NULL && v[0] != '\0' &&
		    put_secret(w, 'P', ps[i].name, (const uint8_t *)v,
			       strlen(v)) != 0) {
			OPENSSL_cleanse(pin, sizeof pin);
			return -1;
		}
		OPENSSL_cleanse(pin, sizeof pin);
	}
	return ferror(w->f) ? -1 : 0;
}

/*
 * A record line, ended by its integrity item "M:record=HEX": AES-GCM under
 * the batch key of nothing, with the line before it as additional data,
 * so that a clear field altered or a record moved does not verify
 * (perso_batch_holder()).
 */
static int write_record(void *ctx, unsigned line, const char *const *values,
			size_t nvalues)
{
	wr_t *w = ctx;
	FILE *out = w->f;
	char *buf = NULL;
	size_t blen = 0, tl = 0;
	uint8_t tag[PERSO_GCM_OVERHEAD];
	int rc;

	w->f = open_memstream(&buf, &blen);
	if (w->f == NULL) {
		w->f = out;
		w->st = PERSO_ERR_NOMEM;
		return -1;
	}
	rc = record_items(w, line, values, nvalues);
	if (fflush(w->f) != 0)
		rc = -1;
	if (rc == 0) {
		w->st = perso_encrypt(w->t, w->key, (const uint8_t *)buf, blen,
				      tag, 0, tag, sizeof tag, &tl);
		if (w->st != PERSO_OK)
			rc = -1;
	}
	if (rc == 0) {
		fputs("\tM:record=", w->f);
		put_hex(w->f, tag, tl);
		fputc('\n', w->f);
	}
	if (fclose(w->f) != 0)
		rc = -1;
	w->f = out;
	if (rc == 0 && fwrite(buf, 1, blen, out) != blen)
		rc = -1;
	free(buf);
	return rc == 0 && !ferror(out) ? 0 : -1;
}

/* The folder of path, for its fsync. */
static void fsync_dir_of(const char *path)
{
	char dir[4096];
	char *slash;
	int fd;

	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Flush, fsync, close f; rename tmp to path; fsync the folder. */
static int commit(FILE *f, const char *tmp, const char *path)
{
	int rc = 0;

	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0) {
		unlink(tmp);
		return -1;
	}
	fsync_dir_of(path);
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *g;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			g = realloc(buf, cap);
			if (g == NULL) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = g;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

perso_status_t perso_prep_batch(perso_token_t *t, const profile_t *p,
				const char *holders_path, const char *out_path,
				const char *reject_path, const char *batch_key,
				int skip_bad, perso_prep_report_t *rep,
				char *err, size_t errcap)
{
	char tmp[4200], rtmp[4200];
	uint8_t *buf, kcv[3];
	size_t len = 0, i;
	wr_t w;
	FILE *rf;
	perso_status_t st;
	int fd;

	if (t == NULL || p == NULL || holders_path == NULL ||
	    out_path == NULL || batch_key == NULL || rep == NULL)
		return PERSO_ERR_PARAM;
	if (perso_key_kcv(t, batch_key, kcv) != PERSO_OK) {
		pc_err(err, errcap, PERSO_OK, "batch key: %s",
		       perso_token_error(t));
		return PERSO_ERR_NOT_FOUND;
	}
	buf = slurp(holders_path, &len);
	if (buf == NULL) {
		pc_err(err, errcap, PERSO_OK, "%s: %s", holders_path,
		       strerror(errno));
		return PERSO_ERR_IO;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out_path) >=
	    sizeof tmp) {
		free(buf);
		return PERSO_ERR_PARAM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	memset(&w, 0, sizeof w);
	w.f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (w.f == NULL) {
		pc_err(err, errcap, PERSO_OK, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(buf);
		return PERSO_ERR_IO;
	}
	w.t = t;
	w.p = p;
	w.key = batch_key;
	fprintf(w.f, "cardfab-batch 1\nprofile\t%s\nholders\t%s\n",
		profile_info(p)->name, holders_path);
	fprintf(w.f, "batch-key\t%s\t", batch_key);
	put_hex(w.f, kcv, 3);
	fprintf(w.f, "\nsecrets\taes-gcm\n");
	st = perso_prep_read(p, holders_path, buf, len, write_record, &w, rep);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (st == PERSO_ERR_IO && w.st != PERSO_OK) {
		pc_err(err, errcap, PERSO_OK, "encrypting a secret: %s",
		       perso_token_error(t));
		st = w.st;
	} else if (st != PERSO_OK) {
		pc_err(err, errcap, PERSO_OK, "%s", rep->fatal);
	} else if (rep->bad && !skip_bad) {
		pc_err(err, errcap, PERSO_OK,
		       "%zu bad record%s: nothing written (--skip-bad "
		       "writes the good ones)",
		       rep->bad, rep->bad == 1 ? "" : "s");
		st = PERSO_ERR_FORMAT;
	}
	if (st != PERSO_OK) {
		fclose(w.f);
		unlink(tmp);
		return st;
	}
	fprintf(w.f, "end\t%zu\n", w.seq);
	if (rep->bad && reject_path != NULL) {
		snprintf(rtmp, sizeof rtmp, "%s.tmp", reject_path);
		fd = open(rtmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		rf = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (rf == NULL) {
			pc_err(err, errcap, PERSO_OK, "%s: %s", rtmp,
			       strerror(errno));
			if (fd >= 0)
				close(fd);
			fclose(w.f);
			unlink(tmp);
			return PERSO_ERR_IO;
		}
		fprintf(rf, "# line\tfield\treason\n");
		for (i = 0; i < rep->n; i++)
			fprintf(rf, "%u\t%s\t%s\n", rep->v[i].line,
				rep->v[i].field, rep->v[i].reason);
		if (commit(rf, rtmp, reject_path) != 0) {
			pc_err(err, errcap, PERSO_OK, "%s: %s", reject_path,
			       strerror(errno));
			fclose(w.f);
			unlink(tmp);
			return PERSO_ERR_IO;
		}
	}
	if (commit(w.f, tmp, out_path) != 0) {
		pc_err(err, errcap, PERSO_OK, "%s: %s", out_path,
		       strerror(errno));
		return PERSO_ERR_IO;
	}
	return PERSO_OK;
}
