/*
 * diag.c - the diagnostics of profile loading and checking, the error
 * enum's words, "did you mean" for typos, and the profile's memory: a pool
 * of strings freed with it and growable arrays.
 *
 * A diagnostic is one problem with a place: the file, line and column of
 * the YAML node, the field's path ("files[campus].files[holder].sfi") and
 * a message saying what was expected and what was found. They are kept in
 * the order found and printed in the order of their place, so that a user
 * reads them top to bottom like the file.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile_int.h"

const char *profile_strerror(profile_status_t st)
{
	switch (st) {
	case PROFILE_OK:
		return "success";
	case PROFILE_ERR_PARAM:
		return "invalid argument";
	case PROFILE_ERR_IO:
		return "cannot read the profile";
	case PROFILE_ERR_NOMEM:
		return "out of memory";
	case PROFILE_ERR_INVALID:
		return "the profile has errors";
	case PROFILE_ERR_SYNTAX:
		return "YAML syntax error";
	case PROFILE_ERR_UNKNOWN_KEY:
		return "unknown key";
	case PROFILE_ERR_DUP_KEY:
		return "duplicate key";
	case PROFILE_ERR_MISSING:
		return "missing required part";
	case PROFILE_ERR_TYPE:
		return "wrong kind of YAML node";
	case PROFILE_ERR_VALUE:
		return "bad value";
	case PROFILE_ERR_DUP_NAME:
		return "duplicate name";
	case PROFILE_ERR_DUP_FID:
		return "duplicate FID";
	case PROFILE_ERR_DUP_AID:
		return "duplicate AID";
	case PROFILE_ERR_DUP_SFI:
		return "duplicate SFI";
	case PROFILE_ERR_DUP_REF:
		return "duplicate PIN or key reference";
	case PROFILE_ERR_REF_RANGE:
		return "PIN or key reference out of range";
	case PROFILE_ERR_ACCESS:
		return "bad access condition";
	case PROFILE_ERR_UNDEFINED:
		return "undefined name";
	case PROFILE_ERR_PLACEMENT:
		return "field placed outside its file";
	case PROFILE_ERR_OVERLAP:
		return "overlapping bytes";
	case PROFILE_ERR_RECORD:
		return "bad record layout";
	case PROFILE_ERR_CAPACITY:
		return "over the chip's capacity";
	case PROFILE_ERR_FEATURE:
		return "feature not available";
	case PROFILE_ERR_CONFLICT:
		return "contradictory parts";
	}
	return "unknown error";
}

void profile_diags_init(profile_diags_t *d)
{
	if (d)
		memset(d, 0, sizeof *d);
}

void profile_diags_free(profile_diags_t *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free((void *)d->v[i].file);
		free((void *)d->v[i].field);
		free((void *)d->v[i].message);
	}
	free(d->v);
	memset(d, 0, sizeof *d);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void diag_add(profile_diags_t *d, profile_status_t kind, profile_severity_t sev,
	      const char *file, pos_t pos, const char *field, const char *fmt,
	      ...)
{
	if (!d)
		return;
	if (sev == PROFILE_SEV_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->n >= PROFILE_DIAGS_MAX) {
		d->dropped++;
		return;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		profile_diag_t *v = realloc(d->v, cap * sizeof *v);
		if (!v) {
			d->nomem = 1;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	profile_diag_t *g = &d->v[d->n];
	g->kind = kind;
	g->severity = sev;
	g->line = pos.line;
	g->col = pos.col;
	g->file = dup_or_null(file ? file : "(profile)");
	g->field = dup_or_null(field);
	g->message = strdup(msg);
	if (!g->file || !g->message || (field && !g->field)) {
		free((void *)g->file);
		free((void *)g->field);
		free((void *)g->message);
		d->nomem = 1;
		return;
	}
	d->n++;
}

static int by_place(const void *a, const void *b)
{
	const profile_diag_t *x = *(profile_diag_t *const *)a;
	const profile_diag_t *y = *(profile_diag_t *const *)b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	/* stable: the order found */
	return x < y ? -1 : x > y;
}

void profile_diags_print(FILE *f, const profile_diags_t *d)
{
	if (!f || !d || !d->n)
		return;
	const profile_diag_t **order = malloc(d->n * sizeof *order);
	for (size_t i = 0; i < d->n; i++)
		if (order)
			order[i] = &d->v[i];
	if (order)
		qsort(order, d->n, sizeof *order, by_place);
	for (size_t i = 0; i < d->n; i++) {
		const profile_diag_t *g = order ? order[i] : &d->v[i];
		fputs(g->file, f);
		if (g->line)
			fprintf(f, ":%u:%u", g->line, g->col);
		fprintf(f, ": %s: ",
			g->severity == PROFILE_SEV_ERROR ? "error" : "warning");
		if (g->field && g->field[0])
			fprintf(f, "%s: ", g->field);
		fprintf(f, "%s\n", g->message);
	}
	if (d->dropped)
		fprintf(f,
			"(%zu more diagnostics not shown: fix these first)\n",
			d->dropped);
	if (d->nomem)
		fputs("(some diagnostics were lost: out of memory)\n", f);
	free(order);
}

/* ---- paths ---- */

void diag_cat(char *dst, size_t cap, const char *a, const char *b,
	      const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t o = 0;
	for (int i = 0; i < 3; i++)
		for (const char *s = parts[i]; s && *s && o + 1 < cap; s++)
			dst[o++] = *s;
	if (cap)
		dst[o] = 0;
}

const char *diag_path(const char *path, const char *key)
{
	static char ring[32][256];
	static unsigned idx;
	char *b = ring[idx++ % 32];
	if (path && path[0])
		diag_cat(b, sizeof ring[0], path, ".", key);
	else
		diag_cat(b, sizeof ring[0], key, NULL, NULL);
	return b;
}

/* ---- did you mean ---- */

/* Levenshtein distance, capped: returns cap + 1 when at least that far. */
static unsigned edit_distance(const char *a, size_t la, const char *b,
			      size_t lb)
{
	unsigned row[64];
	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned v = diag + cost;
			if (row[j] + 1 < v)
				v = row[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
		}
	}
	return row[lb];
}

const char *diag_did_you_mean(const char *word, const char *list)
{
	static char best[64];
	unsigned best_d = 99;
	size_t lw = strlen(word);
	const char *s = list;
	while (*s) {
		while (*s == ' ')
			s++;
		const char *e = s;
		while (*e && *e != ' ')
			e++;
		size_t n = (size_t)(e - s);
		if (n && n < sizeof best) {
			unsigned dist = edit_distance(word, lw, s, n);
			if (dist < best_d) {
				best_d = dist;
				memcpy(best, s, n);
				best[n] = 0;
			}
		}
		s = e;
	}
	/* A typo: one or two edits, and not most of the word. */
	size_t lb = best_d < 99 ? strlen(best) : 0;
	size_t shorter = lw < lb ? lw : lb;
	if (best_d == 0 || best_d > 2 || (best_d == 2 && shorter < 5) ||
	    (best_d == 1 && shorter < 2))
		return NULL;
	return best;
}

/* ---- memory ---- */

void *pool_alloc(profile_t *p, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	pool_blk_t *b = p->pool;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 4000 ? n : 4000;
		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = p->pool;
		p->pool = b;
	}
	void *r = b->data + b->used;
	b->used += n;
	memset(r, 0, n);
	return r;
}

const char *pool_strdup(profile_t *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *r = pool_alloc(p, n);
	if (r)
		memcpy(r, s, n);
	return r;
}

const char *pool_printf(profile_t *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return pool_strdup(p, buf);
}

void *vec_push(vec_t *v, size_t size)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;
		void *nv = realloc(v->v, cap * size);
		if (!nv)
			return NULL;
		v->v = nv;
		v->cap = cap;
	}
	v->size = size;
	void *r = (char *)v->v + v->n * size;
	memset(r, 0, size);
	v->n++;
	return r;
}

void vec_free(vec_t *v)
{
	free(v->v);
	memset(v, 0, sizeof *v);
}
