/*
 * batch.c - a prepared batch read back for personalization (contract in
 * perso.h, format in docs/perso.md "The batch file").
 *
 * The whole file is read and checked at load: header, profile name, every
 * record line (sequence numbers 1, 2, ... in order, items known to the
 * profile, hex well formed), and the end line with the count, so that a
 * station never starts on a batch that was cut short or belongs to
 * another profile. Secret items stay as their ciphertext until
 * perso_batch_holder() decrypts the one record a card needs.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "perso/perso.h"
#include "perso/perso_int.h"
#include "perso/prep.h"

typedef struct {
	char kind;  /* 'F', 'S', 'P' */
	int index;  /* field or PIN index of the profile */
	uint8_t *v; /* clear (F) or IV || ciphertext || tag */
	size_t n;
} item_t;

typedef struct {
	unsigned seq, line;
	item_t *items;
	size_t nitems;
	char ref[PERSO_REF_MAX];
	char *signed_text; /* the line before its M item */
	size_t signed_len;
	uint8_t *mac; /* the M item: GCM of nothing over signed_text */
	size_t mac_len;
} rec_t;

struct perso_batch {
	const profile_t *p;
	char key[PERSO_LABEL_MAX + 1];
	rec_t *recs;
	size_t n;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static uint8_t *unhex(const char *s, size_t len, size_t *n)
{
	uint8_t *out;
	size_t i;

	if (len % 2)
		return NULL;
	out = malloc(len / 2 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i += 2) {
		int hi = hexval((unsigned char)s[i]),
		    lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return out;
}

static void rec_free(rec_t *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++) {
		OPENSSL_cleanse(r->items[i].v, r->items[i].n);
		free(r->items[i].v);
	}
	free(r->items);
	r->items = NULL;
	r->nitems = 0;
	free(r->signed_text);
	free(r->mac);
	r->signed_text = NULL;
	r->mac = NULL;
}

void perso_batch_free(perso_batch_t *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		rec_free(&b->recs[i]);
	free(b->recs);
	free(b);
}

size_t perso_batch_count(const perso_batch_t *b)
{
	return b != NULL ? b->n : 0;
}

const char *perso_batch_key(const perso_batch_t *b)
{
	return b != NULL ? b->key : "";
}

const char *perso_batch_ref(const perso_batch_t *b, size_t i)
{
	return b != NULL && i < b->n ? b->recs[i].ref : NULL;
}

/* The field that names a holder: traced and unique, else traced. */
static int ref_field(const profile_t *p)
{
	size_t nf, i;
	const profile_field_t *fs = profile_fields(p, &nf);
	int first = -1;

	for (i = 0; i < nf; i++) {
		if (!fs[i].trace || fs[i].secret)
			continue;
		if (fs[i].unique)
			return (int)i;
		if (first < 0)
			first = (int)i;
	}
	return first;
}

/* One "KIND:NAME=HEX" item of record r. */
static perso_status_t parse_item(perso_batch_t *b, rec_t *r, char *tok,
				 const char *path, unsigned lineno, char *err,
				 size_t cap)
{
	char *eq = strchr(tok, '='), kind = tok[0];
	item_t *it;
	int idx;

	if (eq == NULL || tok[1] != ':' ||
	    (kind != 'F' && kind != 'S' && kind != 'P'))
		return pc_err(err, cap, PERSO_ERR_FORMAT,
			      "%s:%u: an item KIND:NAME=HEX expected", path,
			      lineno);
	*eq = '\0';
	if (kind == 'P')
		idx = profile_pin_find(b->p, tok + 2);
	else
		idx = profile_field_find(b->p, tok + 2);
	if (idx < 0)
		return pc_err(err, cap, PERSO_ERR_FORMAT,
			      "%s:%u: item %c:%s: the profile has no such %s",
			      path, lineno, kind, tok + 2,
			      kind == 'P' ? "PIN" : "field");
	it = realloc(r->items, (r->nitems + 1) * sizeof *it);
	if (it == NULL)
		return PERSO_ERR_NOMEM;
	r->items = it;
	it = &r->items[r->nitems];
	it->kind = kind;
	it->index = idx;
	it->v = unhex(eq + 1, strlen(eq + 1), &it->n);
	if (it->v == NULL)
		return pc_err(err, cap, PERSO_ERR_FORMAT,
			      "%s:%u: item %c:%s: hex digits, an even number, "
			      "expected",
			      path, lineno, kind, tok + 2);
	r->nitems++;
	/* Clear values are text from the holder file: never a NUL. */
	if (kind == 'F' && memchr(it->v, '\0', it->n) != NULL)
		return pc_err(err, cap, PERSO_ERR_FORMAT,
			      "%s:%u: item F:%s: a NUL byte in the value", path,
			      lineno, tok + 2);
	return PERSO_OK;
}

static perso_status_t parse_record(perso_batch_t *b, char *line,
				   const char *path, unsigned lineno,
				   int rfield, char *err, size_t cap)
{
	rec_t *r;
	char *save = NULL, *tok, *end, *mac;
	unsigned long seq, hl;
	size_t i;
	perso_status_t st;

	r = realloc(b->recs, (b->n + 1) * sizeof *r);
	if (r == NULL)
		return PERSO_ERR_NOMEM;
	b->recs = r;
	r = &b->recs[b->n];
	memset(r, 0, sizeof *r);
	b->n++;
	/* The integrity item ends the line; what it covers is kept whole
	 * before the line is cut into items. */
	mac = strstr(line, "\tM:");
	if (mac != NULL) {
		if (strncmp(mac, "\tM:record=", 10) != 0 ||
		    strchr(mac + 1, '\t') != NULL)
			return pc_err(err, cap, PERSO_ERR_FORMAT,
				      "%s:%u: the integrity item M:record=HEX "
				      "ends a record line",
				      path, lineno);
		r->signed_len = (size_t)(mac - line);
		r->signed_text = malloc(r->signed_len + 1);
		if (r->signed_text == NULL)
			return PERSO_ERR_NOMEM;
		memcpy(r->signed_text, line, r->signed_len);
		r->signed_text[r->signed_len] = '\0';
		r->mac = unhex(mac + 10, strlen(mac + 10), &r->mac_len);
		if (r->mac == NULL || r->mac_len != PERSO_GCM_OVERHEAD)
			return pc_err(err, cap, PERSO_ERR_FORMAT,
				      "%s:%u: item M:record: %d bytes of hex "
				      "expected",
				      path, lineno, PERSO_GCM_OVERHEAD);
		*mac = '\0';
	}
	tok = strtok_r(line, "\t", &save); /* "R" */
	tok = strtok_r(NULL, "\t", &save);
	seq = tok ? strtoul(tok, &end, 10) : 0;
	if (tok == NULL || *end != '\0' || seq != b->n)
		return pc_err(err, cap, PERSO_ERR_FORMAT,
			      "%s:%u: record number %zu expected", path, lineno,
			      b->n);
	tok = strtok_r(NULL, "\t", &save);
	hl = tok ? strtoul(tok, &end, 10) : 0;
	if (tok == NULL || *end != '\0' || hl == 0 || hl > 0xFFFFFFFFul)
		return pc_err(err, cap, PERSO_ERR_FORMAT,
			      "%s:%u: the holder file's line number expected",
			      path, lineno);
	r->seq = (unsigned)seq;
	r->line = (unsigned)hl;
	while ((tok = strtok_r(NULL, "\t", &save)) != NULL) {
		st = parse_item(b, r, tok, path, lineno, err, cap);
		if (st != PERSO_OK)
			return st;
	}
	snprintf(r->ref, sizeof r->ref, "#%u", r->seq);
	for (i = 0; rfield >= 0 && i < r->nitems; i++)
		if (r->items[i].kind == 'F' && r->items[i].index == rfield &&
		    r->items[i].n > 0 && r->items[i].n < sizeof r->ref) {
			memcpy(r->ref, r->items[i].v, r->items[i].n);
			r->ref[r->items[i].n] = '\0';
		}
	return PERSO_OK;
}

perso_status_t perso_batch_load(const char *path, const profile_t *p,
				perso_batch_t **out, char *err, size_t errcap)
{
	FILE *f;
	perso_batch_t *b;
	char *line = NULL, *nl, *end;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	unsigned long count;
	int ended = 0, rfield;
	perso_status_t st = PERSO_OK;

	if (out == NULL || path == NULL || p == NULL)
		return PERSO_ERR_PARAM;
	*out = NULL;
	f = fopen(path, "r");
	if (f == NULL)
		return pc_err(err, errcap, PERSO_ERR_IO, "%s: %s", path,
			      strerror(errno));
	b = calloc(1, sizeof *b);
	if (b == NULL) {
		fclose(f);
		return PERSO_ERR_NOMEM;
	}
	b->p = p;
	rfield = ref_field(p);
	while (st == PERSO_OK && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		nl = strchr(line, '\n');
		if (nl == NULL) {
			st = pc_err(err, errcap, PERSO_ERR_FORMAT,
				    "%s:%u: the line is cut short", path,
				    lineno);
			break;
		}
		*nl = '\0';
		if (ended) {
			st = pc_err(err, errcap, PERSO_ERR_FORMAT,
				    "%s:%u: text after the end line", path,
				    lineno);
		} else if (lineno == 1) {
			if (strcmp(line, "cardfab-batch 1") != 0)
				st = pc_err(
					err, errcap, PERSO_ERR_FORMAT,
					"%s:1: not a cardfab batch (version "
					"1)",
					path);
		} else if (strncmp(line, "profile\t", 8) == 0) {
			if (strcmp(line + 8, profile_info(p)->name) != 0)
				st = pc_err(err, errcap, PERSO_ERR_FORMAT,
					    "%s:%u: a batch for profile '%s', "
					    "not '%s'",
					    path, lineno, line + 8,
					    profile_info(p)->name);
		} else if (strncmp(line, "batch-key\t", 10) == 0) {
			char *k = line + 10, *tab = strchr(k, '\t');

			if (tab != NULL)
				*tab = '\0';
			if (strlen(k) == 0 || strlen(k) > PERSO_LABEL_MAX)
				st = pc_err(err, errcap, PERSO_ERR_FORMAT,
					    "%s:%u: a batch key label expected",
					    path, lineno);
			else
				strcpy(b->key, k);
		} else if (strncmp(line, "secrets\t", 8) == 0) {
			if (strcmp(line + 8, "aes-gcm") != 0)
				st = pc_err(err, errcap, PERSO_ERR_FORMAT,
					    "%s:%u: secrets 'aes-gcm' expected",
					    path, lineno);
		} else if (strncmp(line, "holders\t", 8) == 0) {
			/* where the records came from: informative */
		} else if (strncmp(line, "R\t", 2) == 0) {
			st = parse_record(b, line, path, lineno, rfield, err,
					  errcap);
		} else if (strncmp(line, "end\t", 4) == 0) {
			count = strtoul(line + 4, &end, 10);
			if (*end != '\0' || count != b->n)
				st = pc_err(err, errcap, PERSO_ERR_FORMAT,
					    "%s:%u: the end line counts %s "
					    "records, the batch has %zu",
					    path, lineno, line + 4, b->n);
			ended = 1;
		} else {
			st = pc_err(err, errcap, PERSO_ERR_FORMAT,
				    "%s:%u: unknown line", path, lineno);
		}
	}
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	if (st == PERSO_OK && ferror(f))
		st = pc_err(err, errcap, PERSO_ERR_IO, "%s: read error", path);
	fclose(f);
	if (st == PERSO_OK && lineno == 0)
		st = pc_err(err, errcap, PERSO_ERR_FORMAT, "%s: empty", path);
	if (st == PERSO_OK && !ended)
		st = pc_err(err, errcap, PERSO_ERR_FORMAT,
			    "%s: no end line: the batch was cut short", path);
	if (st == PERSO_OK && b->key[0] == '\0')
		st = pc_err(err, errcap, PERSO_ERR_FORMAT,
			    "%s: no batch-key line", path);
	if (st != PERSO_OK) {
		perso_batch_free(b);
		return st;
	}
	*out = b;
	return PERSO_OK;
}

void perso_holder_clear(perso_holder_t *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; h->values != NULL && i < h->nvalues; i++)
		if (h->values[i] != NULL) {
			OPENSSL_cleanse(h->values[i], strlen(h->values[i]));
			free(h->values[i]);
		}
	for (i = 0; h->pins != NULL && i < h->npins; i++)
		if (h->pins[i] != NULL) {
			OPENSSL_cleanse(h->pins[i], strlen(h->pins[i]));
			free(h->pins[i]);
		}
	free(h->values);
	free(h->pins);
	memset(h, 0, sizeof *h);
}

perso_status_t perso_batch_holder(perso_batch_t *b, size_t i, perso_token_t *t,
				  perso_holder_t *h, char *err, size_t errcap)
{
	const profile_field_t *fs;
	const profile_pin_t *ps;
	size_t nf, np, k, n;
	rec_t *r;
	uint8_t check[32];
	char aad[128], *v, **slot;
	const char *name;
	int al;
	perso_status_t st;

	if (b == NULL || h == NULL || i >= b->n)
		return PERSO_ERR_PARAM;
	memset(h, 0, sizeof *h);
	r = &b->recs[i];
	fs = profile_fields(b->p, &nf);
	ps = profile_pins(b->p, &np);
	/* The record as data preparation wrote it, or nothing. */
	if (r->mac == NULL)
		return pc_err(err, errcap, PERSO_ERR_FORMAT,
			      "record %u: no integrity item (M:record)",
			      r->seq);
	st = perso_decrypt(t, b->key, (const uint8_t *)r->signed_text,
			   r->signed_len, r->mac, r->mac_len, check,
			   sizeof check, &n);
	if (st != PERSO_OK)
		return pc_err(err, errcap, st,
			      "record %u was altered or is not this batch's: "
			      "%s",
			      r->seq, perso_token_error(t));
	h->seq = r->seq;
	h->line = r->line;
	snprintf(h->ref, sizeof h->ref, "%s", r->ref);
	h->values = calloc(nf ? nf : 1, sizeof *h->values);
	h->pins = calloc(np ? np : 1, sizeof *h->pins);
	h->nvalues = nf;
	h->npins = np;
	if (h->values == NULL || h->pins == NULL) {
		perso_holder_clear(h);
		return PERSO_ERR_NOMEM;
	}
	for (k = 0; k < r->nitems; k++) {
		item_t *it = &r->items[k];

		if (it->kind == 'P') {
			name = ps[it->index].name;
			slot = &h->pins[it->index];
		} else {
			name = fs[it->index].name;
			slot = &h->values[it->index];
		}
		v = malloc(it->n + 1);
		if (v == NULL) {
			perso_holder_clear(h);
			return PERSO_ERR_NOMEM;
		}
		if (it->kind == 'F') {
			memcpy(v, it->v, it->n);
			n = it->n;
		} else {
			al = snprintf(aad, sizeof aad, "%u:%c:%s", r->seq,
				      it->kind, name);
			st = (al < 0 || (size_t)al >= sizeof aad) ?
				     PERSO_ERR_PARAM :
				     perso_decrypt(t, b->key,
						   (const uint8_t *)aad,
						   (size_t)al, it->v, it->n,
						   (uint8_t *)v, it->n, &n);
			if (st != PERSO_OK) {
				OPENSSL_cleanse(v, it->n + 1);
				free(v);
				perso_holder_clear(h);
				return pc_err(err, errcap, st,
					      "record %u, item %c:%s: %s",
					      r->seq, it->kind, name,
					      perso_token_error(t));
			}
		}
		v[n] = '\0';
		if (memchr(v, '\0', n) != NULL) {
			OPENSSL_cleanse(v, n);
			free(v);
			perso_holder_clear(h);
			return pc_err(
				err, errcap, PERSO_ERR_FORMAT,
				"record %u, item %c:%s: a NUL byte in the "
				"value",
				r->seq, it->kind, name);
		}
		if (*slot != NULL) { /* the same item twice: keep none */
			OPENSSL_cleanse(v, n);
			free(v);
			perso_holder_clear(h);
			return pc_err(err, errcap, PERSO_ERR_FORMAT,
				      "record %u: item %c:%s twice", r->seq,
				      it->kind, name);
		}
		*slot = v;
	}
	return PERSO_OK;
}

/* JSON string escaping of UTF-8 text. */
static size_t json_str(char *buf, size_t cap, size_t k, const uint8_t *s,
		       size_t n)
{
	size_t i;

	if (k < cap)
		buf[k] = '"';
	k++;
	for (i = 0; i < n; i++) {
		char esc[8];
		size_t el = 0, j;

		if (s[i] == '"' || s[i] == '\\')
			esc[0] = '\\', esc[1] = (char)s[i], el = 2;
		else if (s[i] < 0x20)
			el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", s[i]);
		else
			esc[0] = (char)s[i], el = 1;
		for (j = 0; j < el; j++, k++)
			if (k < cap)
				buf[k] = esc[j];
	}
	if (k < cap)
		buf[k] = '"';
	return k + 1;
}

size_t perso_batch_trace_json(const perso_batch_t *b, size_t i, char *buf,
			      size_t cap)
{
	const profile_field_t *fs;
	size_t nf, k = 0, j;
	const rec_t *r;
	int first = 1;

	if (b == NULL || i >= b->n || buf == NULL || cap == 0)
		return 0;
	r = &b->recs[i];
	fs = profile_fields(b->p, &nf);
	if (k < cap)
		buf[k] = '{';
	k++;
	for (j = 0; j < r->nitems; j++) {
		const item_t *it = &r->items[j];
		const char *name;

		if (it->kind != 'F' || !fs[it->index].trace ||
		    fs[it->index].secret)
			continue;
		name = fs[it->index].name;
		if (!first) {
			if (k < cap)
				buf[k] = ',';
			k++;
		}
		first = 0;
		k = json_str(buf, cap, k, (const uint8_t *)name, strlen(name));
		if (k < cap)
			buf[k] = ':';
		k++;
		k = json_str(buf, cap, k, it->v, it->n);
	}
	if (k < cap)
		buf[k] = '}';
	k++;
	if (k >= cap) {
		buf[0] = '\0';
		return 0;
	}
	buf[k] = '\0';
	return k;
}
