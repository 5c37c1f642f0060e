/*
 * load.c - from YAML text to a profile_t, through libyaml's document API.
 *
 * libyaml parses the whole text into a node graph whose every node keeps
 * its start mark (line and column). This file walks that graph against the
 * schema of docs/profiles.md: every mapping's keys are checked (unknown
 * keys with a "did you mean", duplicates, missing required ones), every
 * value is typed and range-checked, and each problem becomes a diagnostic
 * at the node's place; the walk goes on after an error so that one run
 * lists them all.
 *
 * Values are read from the scalar's text, never from YAML's own typing:
 * FIDs, AIDs, tags and data are always hexadecimal ("1001" is 0x1001, not
 * one thousand and one), numbers are decimal or 0x-prefixed hexadecimal.
 *
 * Names (a PIN's DF, a field's file, an access condition's PIN) are kept as
 * written, with their places; check.c resolves them once everything is
 * read, so the order of the sections does not matter.
 *
 * Aliases are followed (an anchor may share an access block), but the walk
 * has a budget of items and a depth limit, so that a small hostile file
 * (nested aliases) cannot make it run for long or deep.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "memcard/memcard.h"
#include "profile/profile_int.h"

#define MAX_ITEMS 2048	     /* files + objects + fields + conditions */
#define MAX_NEST 16	     /* DFs within DFs while reading */
#define MAX_INPUT (4u << 20) /* bytes of YAML text */

typedef struct {
	profile_t *p;
	profile_diags_t *d;
	yaml_document_t doc;
	const char *file;
	unsigned items;
	int over_budget;
} ld_t;

static pos_t pos_of(const yaml_node_t *n)
{
	pos_t r = { 0, 0 };
	if (n) {
		r.line = (unsigned)n->start_mark.line + 1;
		r.col = (unsigned)n->start_mark.column + 1;
	}
	return r;
}

#define LERR(ld, kind, node, field, ...)                                       \
	diag_add((ld)->d, (kind), PROFILE_SEV_ERROR, (ld)->file, pos_of(node), \
		 (field), __VA_ARGS__)
#define LWARN(ld, kind, node, field, ...)                          \
	diag_add((ld)->d, (kind), PROFILE_SEV_WARNING, (ld)->file, \
		 pos_of(node), (field), __VA_ARGS__)

#define sub diag_path

/* "list[name]", or "list[index]" without a name. */
static void item_path(char *dst, size_t cap, const char *list, const char *name,
		      size_t index)
{
	char num[32];
	char inner[64];
	if (!name) {
		snprintf(num, sizeof num, "%zu", index);
		name = num;
	}
	diag_cat(inner, sizeof inner, "[", name, "]");
	diag_cat(dst, cap, list, inner, NULL);
}

static int budget(ld_t *ld, const yaml_node_t *n, const char *path)
{
	if (++ld->items <= MAX_ITEMS)
		return 1;
	if (!ld->over_budget)
		LERR(ld, PROFILE_ERR_CAPACITY, n, path,
		     "more than %u items (files, objects, fields, conditions) "
		     "in one profile: the rest is not read",
		     MAX_ITEMS);
	ld->over_budget = 1;
	return 0;
}

/* ---------------------------------------------------------------- nodes */

static yaml_node_t *node_at(ld_t *ld, int idx)
{
	return yaml_document_get_node(&ld->doc, idx);
}

static const char *kind_text(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return n->data.scalar.length ? "a value" : "an empty value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int is_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE;
}

static const char *text_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A scalar value with text (not an empty/null one). */
static const char *scalar(ld_t *ld, const yaml_node_t *n, const char *path,
			  const char *what)
{
	if (!is_scalar(n)) {
		LERR(ld, PROFILE_ERR_TYPE, n, path, "expected %s, got %s", what,
		     kind_text(n));
		return NULL;
	}
	if (n->data.scalar.length == 0 ||
	    strlen(text_of(n)) != n->data.scalar.length) {
		LERR(ld, PROFILE_ERR_VALUE, n, path, "expected %s, got %s",
		     what,
		     n->data.scalar.length ? "a value with a NUL byte" :
					     "an empty value");
		return NULL;
	}
	return text_of(n);
}

static int want_kind(ld_t *ld, const yaml_node_t *n, yaml_node_type_t t,
		     const char *path, const char *what)
{
	if (n && n->type == t)
		return 1;
	LERR(ld, PROFILE_ERR_TYPE, n, path, "expected %s, got %s", what,
	     kind_text(n));
	return 0;
}

/* The value of key in mapping n (first occurrence), or NULL. */
static yaml_node_t *map_get(ld_t *ld, const yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(ld, pr->key);
		if (is_scalar(k) && strcmp(text_of(k), key) == 0)
			return node_at(ld, pr->value);
	}
	return NULL;
}

static int in_list(const char *word, const char *list)
{
	size_t n = strlen(word);
	const char *s = list;
	while ((s = strstr(s, word)) != NULL) {
		if ((s == list || s[-1] == ' ') && (s[n] == ' ' || !s[n]))
			return 1;
		s += n;
	}
	return 0;
}

/* "a, b, c" from "a b c". */
static const char *commas(const char *list)
{
	static char buf[2][512];
	static unsigned idx;
	char *b = buf[idx++ % 2];
	size_t o = 0;
	for (const char *s = list; *s && o + 3 < sizeof buf[0]; s++) {
		if (*s == ' ') {
			b[o++] = ',';
			b[o++] = ' ';
		} else {
			b[o++] = *s;
		}
	}
	b[o] = 0;
	return b;
}

/*
 * Check a mapping's keys against keys (space separated): unknown ones
 * (with a did-you-mean and the list of valid keys), non-scalar ones,
 * duplicates. `hint`, if set, explains keys that belong elsewhere
 * (called with the unknown key; returns a message or NULL).
 * Returns 1 if n is a mapping.
 */
typedef const char *(*hint_fn)(const char *key, void *arg);

static int check_map(ld_t *ld, const yaml_node_t *n, const char *path,
		     const char *keys, const char *what, hint_fn hint,
		     void *arg)
{
	if (!want_kind(ld, n, YAML_MAPPING_NODE, path, what))
		return 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(ld, pr->key);
		if (!is_scalar(k) || !k->data.scalar.length) {
			LERR(ld, PROFILE_ERR_TYPE, k, path,
			     "expected a key name (one of %s), got %s",
			     commas(keys), kind_text(k));
			continue;
		}
		const char *name = text_of(k);
		if (!in_list(name, keys)) {
			const char *h = hint ? hint(name, arg) : NULL;
			const char *dym = diag_did_you_mean(name, keys);
			if (h)
				LERR(ld, PROFILE_ERR_UNKNOWN_KEY, k, path,
				     "unknown key '%s': %s", name, h);
			else if (dym)
				LERR(ld, PROFILE_ERR_UNKNOWN_KEY, k, path,
				     "unknown key '%s' (did you mean '%s'?); "
				     "valid keys here: %s",
				     name, dym, commas(keys));
			else
				LERR(ld, PROFILE_ERR_UNKNOWN_KEY, k, path,
				     "unknown key '%s'; valid keys here: %s",
				     name, commas(keys));
			continue;
		}
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr;
		     q++) {
			yaml_node_t *k2 = node_at(ld, q->key);
			if (is_scalar(k2) && strcmp(text_of(k2), name) == 0) {
				LERR(ld, PROFILE_ERR_DUP_KEY, k,
				     sub(path, name),
				     "'%s' appears twice in this mapping "
				     "(first at line %u): keep one",
				     name, pos_of(k2).line);
				break;
			}
		}
	}
	return 1;
}

/* The value of a required key, or NULL with a MISSING diagnostic. */
static yaml_node_t *need(ld_t *ld, const yaml_node_t *n, const char *path,
			 const char *key, const char *what)
{
	yaml_node_t *v = map_get(ld, n, key);
	if (!v)
		LERR(ld, PROFILE_ERR_MISSING, n, path, "missing '%s': %s", key,
		     what);
	return v;
}

/* ---------------------------------------------------------------- values */

/* Decimal or 0x hex, whole text. */
static int parse_num(const char *s, unsigned long *out)
{
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -1;
	for (const char *c = s; *c; c++) {
		int ok = base == 16 ? ((*c >= '0' && *c <= '9') ||
				       (*c >= 'a' && *c <= 'f') ||
				       (*c >= 'A' && *c <= 'F')) :
				      (*c >= '0' && *c <= '9');
		if (!ok)
			return -1;
	}
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int get_uint(ld_t *ld, const yaml_node_t *n, const char *path,
		    unsigned long lo, unsigned long hi, unsigned *out)
{
	char what[96];
	snprintf(what, sizeof what, "a number from %lu to %lu", lo, hi);
	const char *s = scalar(ld, n, path, what);
	if (!s)
		return 0;
	unsigned long v;
	if (parse_num(s, &v) < 0) {
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected %s (decimal, or hexadecimal with 0x), got '%s'",
		     what, s);
		return 0;
	}
	if (v < lo || v > hi) {
		LERR(ld, PROFILE_ERR_VALUE, n, path, "expected %s, got %lu",
		     what, v);
		return 0;
	}
	*out = (unsigned)v;
	return 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex bytes: optional 0x, spaces or ':' between bytes. -1: bad digit or
 * odd count; -2: longer than cap. */
static int parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;
	int hi = -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++) {
		if ((*s == ' ' || *s == ':') && hi < 0)
			continue;
		int v = hexval((unsigned char)*s);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap)
			return -2;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -1;
	*len = n;
	return 0;
}

static int get_hex(ld_t *ld, const yaml_node_t *n, const char *path, size_t lo,
		   size_t hi, uint8_t *out, size_t *len, const char *what)
{
	const char *s = scalar(ld, n, path, what);
	if (!s)
		return 0;
	size_t l = 0;
	int r = parse_hex(s, out, hi, &l);
	if (r == -1) {
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected %s: hexadecimal digits, two a byte, got '%s'",
		     what, s);
		return 0;
	}
	if (r == -2 || l < lo) {
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected %s: %zu to %zu bytes, got %s%zu", what, lo, hi,
		     r == -2 ? "more than " : "", r == -2 ? hi : l);
		return 0;
	}
	*len = l;
	return 1;
}

static int get_fid(ld_t *ld, const yaml_node_t *n, const char *path,
		   uint16_t *out)
{
	uint8_t b[2];
	size_t l;
	const char *s = scalar(ld, n, path, "a FID: 4 hex digits");
	if (!s)
		return 0;
	const char *t =
		(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
	if (strlen(t) != 4 || parse_hex(t, b, 2, &l) != 0 || l != 2) {
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected a FID: 4 hex digits (e.g. 1001 or 0x1001), "
		     "got '%s'",
		     s);
		return 0;
	}
	*out = (uint16_t)(b[0] << 8 | b[1]);
	return 1;
}

static int get_bool(ld_t *ld, const yaml_node_t *n, const char *path, int *out)
{
	const char *s = scalar(ld, n, path, "true or false");
	if (!s)
		return 0;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
		*out = 1;
		return 1;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
		*out = 0;
		return 1;
	}
	LERR(ld, PROFILE_ERR_VALUE, n, path, "expected true or false, got '%s'",
	     s);
	return 0;
}

/* One of the names (space separated) in list; *out its index. */
static int get_enum(ld_t *ld, const yaml_node_t *n, const char *path,
		    const char *list, int *out)
{
	char what[300];
	snprintf(what, sizeof what, "one of %s", commas(list));
	const char *s = scalar(ld, n, path, what);
	if (!s)
		return 0;
	int idx = 0;
	const char *w = list;
	size_t ls = strlen(s);
	while (*w) {
		const char *e = strchr(w, ' ');
		size_t l = e ? (size_t)(e - w) : strlen(w);
		if (l == ls && strncmp(w, s, l) == 0) {
			*out = idx;
			return 1;
		}
		idx++;
		if (!e)
			break;
		w = e + 1;
	}
	const char *dym = diag_did_you_mean(s, list);
	if (dym)
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected %s, got '%s' (did you mean '%s'?)", what, s,
		     dym);
	else
		LERR(ld, PROFILE_ERR_VALUE, n, path, "expected %s, got '%s'",
		     what, s);
	return 0;
}

/* A name: a letter, then letters, digits, '-' or '_'; 1..40 bytes. */
static const char *get_name(ld_t *ld, const yaml_node_t *n, const char *path)
{
	const char *what = "a name (a letter, then letters, digits, '-' or "
			   "'_', at most 40)";
	const char *s = scalar(ld, n, path, what);
	if (!s)
		return NULL;
	size_t l = strlen(s);
	int ok = l >= 1 && l <= 40 &&
		 ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'));
	for (size_t i = 0; ok && i < l; i++) {
		char c = s[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || c == '-' || c == '_';
	}
	if (!ok) {
		LERR(ld, PROFILE_ERR_VALUE, n, path, "expected %s, got '%s'",
		     what, s);
		return NULL;
	}
	return pool_strdup(ld->p, s);
}

/* Free text (descriptions, labels), at most max bytes. */
static const char *get_text(ld_t *ld, const yaml_node_t *n, const char *path,
			    size_t max)
{
	const char *s = scalar(ld, n, path, "a text");
	if (!s)
		return NULL;
	if (strlen(s) > max) {
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected a text of at most %zu bytes, got %zu", max,
		     strlen(s));
		return NULL;
	}
	return pool_strdup(ld->p, s);
}

static int get_mm(ld_t *ld, const yaml_node_t *n, const char *path, double lo,
		  double hi, double *out)
{
	char what[96];
	snprintf(what, sizeof what, "millimetres from %g to %g", lo, hi);
	const char *s = scalar(ld, n, path, what);
	if (!s)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v < lo || v > hi) {
		LERR(ld, PROFILE_ERR_VALUE, n, path, "expected %s, got '%s'",
		     what, s);
		return 0;
	}
	*out = v;
	return 1;
}

/* ---------------------------------------------------------------- top */

#define TOP_KEYS                                                           \
	"profile version description chip features files pins keys scp03 " \
	"areas psc fields face"

const char *const profile_feature_names[PROFILE_FEAT_COUNT] = {
	"df",
	"transparent",
	"linear-fixed",
	"linear-variable",
	"cyclic",
	"sfi",
	"pin",
	"puk",
	"external-auth",
	"internal-auth",
	"secure-messaging",
	"scp03",
	"aes",
	"3des",
	"psc",
	"protection",
};

const char *profile_feature_name(unsigned bit)
{
	return bit < PROFILE_FEAT_COUNT ? profile_feature_names[bit] : NULL;
}

#define FEATURE_LIST                                                       \
	"df transparent linear-fixed linear-variable cyclic sfi pin puk "  \
	"external-auth internal-auth secure-messaging scp03 aes 3des psc " \
	"protection"

static void load_features(ld_t *ld, const yaml_node_t *n)
{
	profile_t *p = ld->p;
	p->features_pos = pos_of(n);
	if (!want_kind(ld, n, YAML_SEQUENCE_NODE, "features",
		       "a list of card OS features, e.g. [transparent, pin]"))
		return;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = node_at(ld, *it);
		int idx;
		if (!get_enum(ld, v, "features", FEATURE_LIST, &idx))
			continue;
		if (p->info.features & (1u << idx)) {
			LERR(ld, PROFILE_ERR_DUP_NAME, v, "features",
			     "'%s' is listed twice", text_of(v));
			continue;
		}
		p->info.features |= 1u << idx;
		p->feature_text[idx] = profile_feature_names[idx];
		p->feature_pos[idx] = pos_of(v);
	}
}

static void load_chip(ld_t *ld, const yaml_node_t *n)
{
	profile_t *p = ld->p;
	p->chip_pos = pos_of(n);
	const char *s = scalar(ld, n, "chip", "a chip model");
	if (!s)
		return;
	p->info.chip = pool_strdup(p, s);
	p->has_chip = 1;
	const cos_model_t *cm = cos_model_find(s);
	if (cm) {
		p->info.kind = PROFILE_CHIP_COS;
		p->info.cos_model = cm;
		return;
	}
	if (mc_model_find(s)) {
		p->info.kind = PROFILE_CHIP_MEMCARD;
		return;
	}
	char list[256] = "";
	size_t nm = 0;
	const cos_model_t *models = cos_models(&nm);
	for (size_t i = 0; i < nm; i++) {
		strncat(list, models[i].name, sizeof list - strlen(list) - 1);
		strncat(list, " ", sizeof list - strlen(list) - 1);
	}
	const mc_model_t *mcm = mc_models(&nm);
	for (size_t i = 0; i < nm; i++) {
		if (i)
			strncat(list, " ", sizeof list - strlen(list) - 1);
		strncat(list, mcm[i].name, sizeof list - strlen(list) - 1);
	}
	const char *dym = diag_did_you_mean(s, list);
	LERR(ld, PROFILE_ERR_VALUE, n, "chip",
	     "unknown chip model '%s'%s%s%s; the models are: %s", s,
	     dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "",
	     commas(list));
}

/* ---------------------------------------------------------------- access */

static const char *const ef_ops[PROFILE_OP_COUNT] = { "read",	  "update",
						      "append",	  "deactivate",
						      "activate", "terminate",
						      "delete" };
static const char *const df_ops[PROFILE_OP_COUNT] = {
	"delete-child", "create-ef", "create-df", "deactivate",
	"activate",	"terminate", "delete"
};

const char *profile_op_name(int df, unsigned op)
{
	if (op >= PROFILE_OP_COUNT)
		return NULL;
	return df ? df_ops[op] : ef_ops[op];
}

#define AC_WHAT                                                           \
	"always, never, sm, pin:N or key:N (N a reference or a name), a " \
	"list of them (any one suffices) or {all: [...]} (all must hold)"

/* One term: "pin:1", "key:door", "sm", "always", "never", or {pin: 1}. */
static int load_term(ld_t *ld, const yaml_node_t *n, const char *path,
		     term_t *t)
{
	char buf[128];
	const char *s;
	t->pos = pos_of(n);
	if (n && n->type == YAML_MAPPING_NODE &&
	    n->data.mapping.pairs.top - n->data.mapping.pairs.start == 1) {
		/* [pin: 1] in a flow list is a one-pair mapping in YAML */
		yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		yaml_node_t *k = node_at(ld, pr->key);
		yaml_node_t *v = node_at(ld, pr->value);
		if (!is_scalar(k) || !is_scalar(v) || !v->data.scalar.length) {
			LERR(ld, PROFILE_ERR_ACCESS, n, path, "expected %s",
			     AC_WHAT);
			return 0;
		}
		snprintf(buf, sizeof buf, "%s:%s", text_of(k), text_of(v));
		s = buf;
	} else {
		s = scalar(ld, n, path, "an access condition");
		if (!s)
			return 0;
	}
	if (strcmp(s, "always") == 0) {
		t->kind = T_ALWAYS;
		return 1;
	}
	if (strcmp(s, "never") == 0) {
		t->kind = T_NEVER;
		return 1;
	}
	if (strcmp(s, "sm") == 0) {
		t->kind = T_SM;
		return 1;
	}
	const char *colon = strchr(s, ':');
	if (colon && ((colon - s == 3 && strncmp(s, "pin", 3) == 0) ||
		      (colon - s == 3 && strncmp(s, "key", 3) == 0))) {
		const char *arg = colon + 1;
		while (*arg == ' ')
			arg++;
		t->kind = s[0] == 'p' ? T_PIN : T_KEY;
		unsigned long v;
		if (parse_num(arg, &v) == 0) {
			if (v > 255) {
				LERR(ld, PROFILE_ERR_REF_RANGE, n, path,
				     "%s reference %lu: expected 1 to 30",
				     s[0] == 'p' ? "PIN" : "key", v);
				return 0;
			}
			t->num = (int)v;
			return 1;
		}
		int ok = *arg != 0 && strlen(arg) <= 40;
		for (const char *c = arg; ok && *c; c++)
			ok = (*c >= 'a' && *c <= 'z') ||
			     (*c >= 'A' && *c <= 'Z') ||
			     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_';
		if (ok) {
			t->num = -1;
			t->name = pool_strdup(ld->p, arg);
			return 1;
		}
	}
	/* a typo of a keyword, or of pin:/key: */
	char word[64];
	snprintf(word, sizeof word, "%.*s",
		 colon ? (int)(colon - s) : (int)strlen(s), s);
	const char *dym = diag_did_you_mean(word, "always never sm pin key");
	if (dym)
		LERR(ld, PROFILE_ERR_ACCESS, n, path,
		     "expected %s; got '%s' (did you mean '%s%s'?)", AC_WHAT, s,
		     dym, colon ? colon : "");
	else
		LERR(ld, PROFILE_ERR_ACCESS, n, path, "expected %s; got '%s'",
		     AC_WHAT, s);
	return 0;
}

static void load_ac_inner(ld_t *ld, const yaml_node_t *n, const char *path,
			  ac_src_t *ac)
{
	memset(ac, 0, sizeof *ac);
	ac->pos = pos_of(n);
	const yaml_node_t *list = NULL;
	if (n && n->type == YAML_SEQUENCE_NODE) {
		list = n;
	} else if (n && n->type == YAML_MAPPING_NODE &&
		   (map_get(ld, n, "all") || map_get(ld, n, "any"))) {
		if (!check_map(ld, n, path, "all any", AC_WHAT, NULL, NULL))
			return;
		if (n->data.mapping.pairs.top - n->data.mapping.pairs.start !=
		    1) {
			LERR(ld, PROFILE_ERR_ACCESS, n, path,
			     "expected {all: [...]} or {any: [...]}, not both");
			return;
		}
		ac->all = map_get(ld, n, "all") != NULL;
		list = ac->all ? map_get(ld, n, "all") : map_get(ld, n, "any");
		if (!list || list->type != YAML_SEQUENCE_NODE) {
			LERR(ld, PROFILE_ERR_ACCESS, list, path,
			     "expected a list of conditions after %s:",
			     ac->all ? "all" : "any");
			return;
		}
	}
	if (!list) {
		term_t t;
		memset(&t, 0, sizeof t);
		if (!load_term(ld, n, path, &t))
			return;
		ac->t[0] = t;
		ac->n = 1;
		ac->set = 1;
		return;
	}
	size_t count = (size_t)(list->data.sequence.items.top -
				list->data.sequence.items.start);
	if (count == 0) {
		LERR(ld, PROFILE_ERR_ACCESS, list, path,
		     "an empty list allows nothing: write never");
		return;
	}
	int ok = 1;
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		yaml_node_t *v = node_at(ld, *it);
		term_t t;
		memset(&t, 0, sizeof t);
		if (!budget(ld, v, path) || !load_term(ld, v, path, &t)) {
			ok = 0;
			continue;
		}
		if (t.kind == T_ALWAYS || t.kind == T_NEVER) {
			LERR(ld, PROFILE_ERR_ACCESS, v, path,
			     "'%s' stands alone, not in a list",
			     t.kind == T_ALWAYS ? "always" : "never");
			ok = 0;
			continue;
		}
		if (ac->n >= AC_TERMS) {
			LERR(ld, PROFILE_ERR_ACCESS, v, path,
			     "too many conditions: one access condition holds "
			     "at most one PIN, one key and sm");
			ok = 0;
			break;
		}
		ac->t[ac->n++] = t;
	}
	ac->set = ok;
}

static void load_ac(ld_t *ld, const yaml_node_t *n, const char *path,
		    ac_src_t *ac)
{
	load_ac_inner(ld, n, path, ac);
	ac->bad = !ac->set; /* reported: the checker stays quiet about it */
}

static void load_access(ld_t *ld, const yaml_node_t *n, const char *path,
			pfile_t *f, int df)
{
	const char *const *ops = df ? df_ops : ef_ops;
	char keys[200] = "";
	for (unsigned i = 0; i < PROFILE_OP_COUNT; i++) {
		strcat(keys, ops[i]);
		strcat(keys, " ");
	}
	strcat(keys, "default");
	f->has_access = 1;
	f->access_pos = pos_of(n);
	if (!check_map(ld, n, path, keys,
		       df ? "a mapping of DF operations to access conditions" :
			    "a mapping of EF operations to access conditions",
		       NULL, NULL))
		return;
	for (unsigned i = 0; i < PROFILE_OP_COUNT; i++) {
		yaml_node_t *v = map_get(ld, n, ops[i]);
		if (v)
			load_ac(ld, v, sub(path, ops[i]), &f->ac[i]);
	}
	yaml_node_t *v = map_get(ld, n, "default");
	if (v)
		load_ac(ld, v, sub(path, "default"), &f->ac_default);
}

/* ---------------------------------------------------------------- files */

#define FILE_TYPES "df transparent linear-fixed linear-variable cyclic"
#define KEYS_DF "name type fid aid access files description"
#define KEYS_TRANSPARENT "name type fid sfi size access description"
#define KEYS_RECORD "name type fid sfi record-length records access description"
#define KEYS_ANY_FILE                                                    \
	"name type fid aid sfi size record-length records access files " \
	"description"

static const char *file_key_hint(const char *key, void *arg)
{
	int type = *(int *)arg;
	int df = type == COS_FT_DF;
	int tr = type == COS_FT_EF_TRANSPARENT;
	if (strcmp(key, "size") == 0 && !tr)
		return df ? "a DF has no size: its files take the room" :
			    "a record EF has record-length and records, not "
			    "size";
	if (strcmp(key, "record-length") == 0 || strcmp(key, "records") == 0) {
		if (df)
			return "a DF has no records";
		if (tr)
			return "a transparent EF has a size, not records (use "
			       "linear-fixed, linear-variable or cyclic for "
			       "records)";
	}
	if (strcmp(key, "aid") == 0 && !df)
		return "only a DF has an AID (DF name)";
	if (strcmp(key, "files") == 0 && !df)
		return "only a DF holds files";
	if (strcmp(key, "sfi") == 0 && df)
		return "a DF has no SFI: short EF identifiers name EFs";
	return NULL;
}

static void load_files(ld_t *ld, const yaml_node_t *n, const char *path,
		       int parent, unsigned depth);

static void load_file(ld_t *ld, const yaml_node_t *n, const char *path,
		      size_t index, int parent, unsigned depth)
{
	profile_t *p = ld->p;
	pfile_t *f = vec_push(&p->files, sizeof(pfile_t));
	if (!f)
		return;
	size_t self = p->files.n - 1;
	f->pub.parent = parent;
	f->pub.depth = depth;
	f->pub.line = pos_of(n).line;
	f->pos = pos_of(n);
	f->pub.name = "";
	f->pub.description = "";

	/* The name first: it names the file in every later message. */
	yaml_node_t *vn = map_get(ld, n, "name");
	const char *name = NULL;
	if (n && n->type == YAML_MAPPING_NODE && vn)
		name = get_name(ld, vn, sub(path, "name"));
	char mypath[256];
	if (name)
		item_path(mypath, sizeof mypath, path, name, index);
	else
		item_path(mypath, sizeof mypath, path, NULL, index);
	f = VEC_AT(p->files, pfile_t, self);
	f->path = pool_strdup(p, mypath);
	if (name)
		f->pub.name = name;

	int type = 0;
	yaml_node_t *vt = n && n->type == YAML_MAPPING_NODE ?
				  map_get(ld, n, "type") :
				  NULL;
	if (vt) {
		int idx;
		f->type_pos = pos_of(vt);
		if (is_scalar(vt) && (strcmp(text_of(vt), "mf") == 0 ||
				      strcmp(text_of(vt), "MF") == 0)) {
			LERR(ld, PROFILE_ERR_VALUE, vt, sub(mypath, "type"),
			     "the MF (3F00) is implicit: list its DFs and EFs "
			     "under files");
		} else if (get_enum(ld, vt, sub(mypath, "type"), FILE_TYPES,
				    &idx)) {
			static const cos_file_type_t types[] = {
				COS_FT_DF, COS_FT_EF_TRANSPARENT,
				COS_FT_EF_LINEAR_FIXED,
				COS_FT_EF_LINEAR_VARIABLE, COS_FT_EF_CYCLIC
			};
			type = (int)types[idx];
		}
	}
	f->pub.type = (cos_file_type_t)type;
	const char *keys = type == COS_FT_DF		 ? KEYS_DF :
			   type == COS_FT_EF_TRANSPARENT ? KEYS_TRANSPARENT :
			   type				 ? KEYS_RECORD :
							   KEYS_ANY_FILE;
	if (!check_map(ld, n, mypath, keys,
		       "a file: a mapping with name, "
		       "type, fid...",
		       file_key_hint, &type))
		return;
	if (!name)
		need(ld, n, mypath, "name",
		     "the file's name, used by fields "
		     "and messages");
	if (!vt)
		need(ld, n, mypath, "type", "one of " FILE_TYPES);

	yaml_node_t *v =
		need(ld, n, mypath, "fid", "the file identifier, 4 hex digits");
	if (v) {
		f->fid_pos = pos_of(v);
		f->has_fid = get_fid(ld, v, sub(mypath, "fid"), &f->pub.fid);
	}
	v = map_get(ld, n, "description");
	if (v) {
		const char *s =
			get_text(ld, v, sub(mypath, "description"), 200);
		if (s)
			f->pub.description = s;
	}
	v = map_get(ld, n, "sfi");
	if (v && type != COS_FT_DF) {
		unsigned sfi;
		f->sfi_pos = pos_of(v);
		if (get_uint(ld, v, sub(mypath, "sfi"), 1, 30, &sfi)) {
			f->pub.sfi = (uint8_t)sfi;
			f->has_sfi = 1;
		}
	}
	if (type == COS_FT_DF) {
		v = map_get(ld, n, "aid");
		if (v) {
			size_t l;
			f->aid_pos = pos_of(v);
			f->has_aid = get_hex(ld, v, sub(mypath, "aid"), 5,
					     COS_AID_MAX, f->pub.aid, &l,
					     "an AID (DF name): a 5-byte RID "
					     "and up to 11 bytes of PIX");
			f->pub.aid_len = (uint8_t)(f->has_aid ? l : 0);
		} else {
			need(ld, n, mypath, "aid",
			     "the DF's AID (DF name), 5 to 16 bytes in hex");
		}
	}
	if (type == COS_FT_EF_TRANSPARENT) {
		v = need(ld, n, mypath, "size", "the EF's size in bytes");
		unsigned size;
		if (v) {
			f->size_pos = pos_of(v);
			if (get_uint(ld, v, sub(mypath, "size"), 1, 0x7FFF,
				     &size)) {
				f->pub.size = (uint16_t)size;
				f->has_size = 1;
			}
		}
	} else if (type) {
		if (type != COS_FT_DF) {
			unsigned rl, nr;
			v = need(ld, n, mypath, "record-length",
				 type == COS_FT_EF_LINEAR_VARIABLE ?
					 "the longest record, in bytes" :
					 "the record length, in bytes");
			if (v) {
				f->size_pos = pos_of(v);
				/* 1..255 is the OS's; read wider to say so */
				if (get_uint(ld, v,
					     sub(mypath, "record-length"), 0,
					     65535, &rl)) {
					f->size_raw = rl;
					f->pub.size = (uint16_t)rl;
					f->has_size = 1;
				}
			}
			v = need(ld, n, mypath, "records",
				 "the number of records");
			if (v) {
				f->rec_pos = pos_of(v);
				if (get_uint(ld, v, sub(mypath, "records"), 0,
					     65535, &nr)) {
					f->records_raw = nr;
					f->pub.records =
						(uint8_t)(nr > 255 ? 255 : nr);
					f->has_records = 1;
				}
			}
		}
	}
	v = map_get(ld, n, "access");
	if (v) {
		load_access(ld, v, sub(mypath, "access"), f, type == COS_FT_DF);
	} else {
		need(ld, n, mypath, "access",
		     "the access conditions of the file's operations "
		     "(read, update... or default)");
	}
	if (type == COS_FT_DF) {
		v = map_get(ld, n, "files");
		if (v) {
			if (depth >= MAX_NEST)
				LERR(ld, PROFILE_ERR_CAPACITY, v,
				     sub(mypath, "files"),
				     "DFs nested more than %u deep: not read",
				     MAX_NEST);
			else
				load_files(ld, v, sub(mypath, "files"),
					   (int)self, depth + 1);
		}
	}
}

static void load_files(ld_t *ld, const yaml_node_t *n, const char *path,
		       int parent, unsigned depth)
{
	if (!want_kind(ld, n, YAML_SEQUENCE_NODE, path,
		       "a list of files (DFs and EFs)"))
		return;
	char mypath[256];
	size_t index = 0;
	diag_cat(mypath, sizeof mypath, path, NULL, NULL);
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, index++) {
		yaml_node_t *v = node_at(ld, *it);
		if (!budget(ld, v, mypath))
			return;
		load_file(ld, v, mypath, index, parent, depth);
	}
}

/* ---------------------------------------------------------------- objects */

/* A list of mappings: calls fn for each, with the item's path
 * "section[name]" (or "[index]" when it has no readable name). */
typedef void (*item_fn)(ld_t *ld, const yaml_node_t *n, const char *path,
			const char *name);

static void load_list(ld_t *ld, const yaml_node_t *n, const char *section,
		      const char *what, item_fn fn)
{
	if (!want_kind(ld, n, YAML_SEQUENCE_NODE, section, what))
		return;
	size_t i = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node_at(ld, *it);
		if (!budget(ld, v, section))
			return;
		char path[256];
		const char *name = NULL;
		yaml_node_t *vn = map_get(ld, v, "name");
		if (vn && is_scalar(vn) && vn->data.scalar.length &&
		    vn->data.scalar.length < 48)
			item_path(path, sizeof path, section, text_of(vn), i);
		else
			item_path(path, sizeof path, section, NULL, i);
		if (vn)
			name = get_name(ld, vn, sub(path, "name"));
		fn(ld, v, path, name);
	}
}

static int get_ref(ld_t *ld, const yaml_node_t *n, const char *path,
		   const char *what, uint8_t *out)
{
	const char *s = scalar(ld, n, path, "a reference from 1 to 30");
	unsigned long v;
	if (!s)
		return 0;
	if (parse_num(s, &v) < 0) {
		LERR(ld, PROFILE_ERR_VALUE, n, path,
		     "expected a %s reference: a number from 1 to 30, got '%s'",
		     what, s);
		return 0;
	}
	if (v == 0x1F) {
		LERR(ld, PROFILE_ERR_REF_RANGE, n, path,
		     "%s reference 31 (1F) is reserved for the transport "
		     "code: expected 1 to 30",
		     what);
		return 0;
	}
	if (v < 1 || v > 30) {
		LERR(ld, PROFILE_ERR_REF_RANGE, n, path,
		     "%s reference %lu: expected 1 to 30 (b5-b1 of P2; 31 is "
		     "the transport code)",
		     what, v);
		return 0;
	}
	*out = (uint8_t)v;
	return 1;
}

#define PIN_KEYS                                                         \
	"name ref df length format pad min-digits max-digits tries puk " \
	"value description"
#define PIN_FORMATS "ascii-numeric ascii bcd iso9564-2"

static void load_pin(ld_t *ld, const yaml_node_t *n, const char *path,
		     const char *name)
{
	profile_t *p = ld->p;
	ppin_t *o = vec_push(&p->pins, sizeof(ppin_t));
	if (!o)
		return;
	o->pos = pos_of(n);
	o->pub.line = o->pos.line;
	o->path = pool_strdup(p, path);
	o->pub.name = name ? name : "";
	o->pub.df = -1;
	o->pub.puk = -1;
	o->pub.field = -1;
	o->pub.pad = 0xFF;
	if (!check_map(ld, n, path, PIN_KEYS, "a PIN: a mapping", NULL, NULL))
		return;
	if (!map_get(ld, n, "name"))
		need(ld, n, path, "name", "the PIN's name");
	yaml_node_t *v =
		need(ld, n, path, "ref", "the PIN's reference, 1 to 30");
	if (v) {
		o->ref_pos = pos_of(v);
		o->has_ref =
			get_ref(ld, v, sub(path, "ref"), "PIN", &o->pub.ref);
	}
	if ((v = map_get(ld, n, "df"))) {
		o->df_pos = pos_of(v);
		o->df_name = get_name(ld, v, sub(path, "df"));
	}
	unsigned u;
	if ((v = need(ld, n, path, "length",
		      "the stored length in bytes, 1 to 16"))) {
		o->len_pos = pos_of(v);
		if (get_uint(ld, v, sub(path, "length"), 1, 16, &u)) {
			o->pub.length = (uint8_t)u;
			o->has_length = 1;
		}
	}
	int idx;
	if ((v = need(ld, n, path, "format", "one of " PIN_FORMATS))) {
		o->fmt_pos = pos_of(v);
		if (get_enum(ld, v, sub(path, "format"), PIN_FORMATS, &idx)) {
			o->pub.format = (profile_pin_format_t)(idx + 1);
			o->has_format = 1;
		}
	}
	if ((v = map_get(ld, n, "pad")) &&
	    get_uint(ld, v, sub(path, "pad"), 0, 255, &u))
		o->pub.pad = (uint8_t)u;
	int dmin = 0, dmax = 0;
	unsigned mn = 0, mx = 0;
	if ((v = need(ld, n, path, "min-digits",
		      "the fewest digits (or characters) a PIN may have")))
		dmin = get_uint(ld, v, sub(path, "min-digits"), 1, 16, &mn);
	if ((v = need(ld, n, path, "max-digits",
		      "the most digits (or characters) a PIN may have")))
		dmax = get_uint(ld, v, sub(path, "max-digits"), 1, 32, &mx);
	if (dmin && dmax) {
		o->pub.min_digits = (uint8_t)mn;
		o->pub.max_digits = (uint8_t)mx;
		o->has_digits = 1;
	}
	if ((v = need(ld, n, path, "tries", "the retry counter, 1 to 15")) &&
	    get_uint(ld, v, sub(path, "tries"), 1, 15, &u)) {
		o->pub.tries = (uint8_t)u;
		o->has_tries = 1;
	}
	if ((v = map_get(ld, n, "puk"))) {
		o->puk_pos = pos_of(v);
		o->puk_name = get_name(ld, v, sub(path, "puk"));
	}
	v = need(ld, n, path, "value",
		 "where the value comes from: {holder-field: NAME}, "
		 "{random: DIGITS} or {fixed: \"1234\"} (test cards)");
	if (v) {
		const char *vp = sub(path, "value");
		o->value_pos = pos_of(v);
		if (check_map(ld, v, vp, "holder-field random fixed",
			      "{holder-field: NAME}, {random: DIGITS} or "
			      "{fixed: VALUE}",
			      NULL, NULL)) {
			size_t np = (size_t)(v->data.mapping.pairs.top -
					     v->data.mapping.pairs.start);
			yaml_node_t *w;
			if (np != 1) {
				LERR(ld, PROFILE_ERR_VALUE, v, vp,
				     "expected exactly one of holder-field, "
				     "random and fixed");
			} else if ((w = map_get(ld, v, "holder-field"))) {
				o->pub.source = PROFILE_SRC_HOLDER_FIELD;
				o->field_name = get_name(
					ld, w, sub(vp, "holder-field"));
			} else if ((w = map_get(ld, v, "random"))) {
				if (get_uint(ld, w, sub(vp, "random"), 1, 16,
					     &u)) {
					o->pub.source = PROFILE_SRC_RANDOM;
					o->pub.random_digits = (uint8_t)u;
				}
			} else if ((w = map_get(ld, v, "fixed"))) {
				const char *s =
					get_text(ld, w, sub(vp, "fixed"), 32);
				if (s) {
					o->pub.source = PROFILE_SRC_FIXED;
					o->pub.fixed = s;
					LWARN(ld, PROFILE_ERR_VALUE, w,
					      sub(vp, "fixed"),
					      "a fixed PIN value is for test "
					      "cards only: every card gets "
					      "the same");
				}
			}
		}
	}
	if ((v = map_get(ld, n, "description")))
		get_text(ld, v, sub(path, "description"), 200);
}

#define KEY_KEYS \
	"name ref kvn df algorithm usage tries diversify fixed description"
#define KEY_ALGS "aes128 aes192 aes256 3des2 3des3"
#define KEY_USAGES "auth internal-auth scp03-enc scp03-mac scp03-dek"
#define DIV_METHODS "aes-ecb-serial 3des-serial none"

static void load_diversify(ld_t *ld, const yaml_node_t *v, const char *dp,
			   const char **master, profile_div_t *method)
{
	if (!check_map(ld, v, dp, "master method",
		       "{master: TOKEN-LABEL, method: METHOD}", NULL, NULL))
		return;
	yaml_node_t *w = need(ld, v, dp, "master",
			      "the PKCS#11 label of the master key");
	if (w)
		*master = get_text(ld, w, sub(dp, "master"), 64);
	w = need(ld, v, dp, "method", "one of " DIV_METHODS);
	int idx;
	if (w && get_enum(ld, w, sub(dp, "method"), DIV_METHODS, &idx)) {
		static const profile_div_t m[] = { PROFILE_DIV_AES_ECB_SERIAL,
						   PROFILE_DIV_3DES_SERIAL,
						   PROFILE_DIV_NONE };
		*method = m[idx];
	}
}

static void load_key(ld_t *ld, const yaml_node_t *n, const char *path,
		     const char *name)
{
	profile_t *p = ld->p;
	pkey_t *k = vec_push(&p->keys, sizeof(pkey_t));
	if (!k)
		return;
	k->pos = pos_of(n);
	k->pub.line = k->pos.line;
	k->path = pool_strdup(p, path);
	k->pub.name = name ? name : "";
	k->pub.df = -1;
	if (!check_map(ld, n, path, KEY_KEYS, "a key: a mapping", NULL, NULL))
		return;
	if (!map_get(ld, n, "name"))
		need(ld, n, path, "name", "the key's name");
	yaml_node_t *v =
		need(ld, n, path, "ref", "the key's reference, 1 to 30");
	if (v) {
		k->ref_pos = pos_of(v);
		k->has_ref =
			get_ref(ld, v, sub(path, "ref"), "key", &k->pub.ref);
	}
	unsigned u;
	if ((v = map_get(ld, n, "kvn"))) {
		k->kvn_pos = pos_of(v);
		if (get_uint(ld, v, sub(path, "kvn"), 0, 255, &u)) {
			k->pub.kvn = (uint8_t)u;
			k->has_kvn = 1;
		}
	}
	if ((v = map_get(ld, n, "df"))) {
		k->df_pos = pos_of(v);
		k->df_name = get_name(ld, v, sub(path, "df"));
	}
	int idx;
	if ((v = need(ld, n, path, "algorithm", "one of " KEY_ALGS))) {
		k->alg_pos = pos_of(v);
		if (get_enum(ld, v, sub(path, "algorithm"), KEY_ALGS, &idx)) {
			static const uint8_t len[] = { 16, 24, 32, 16, 24 };
			k->pub.alg = (profile_alg_t)(idx + 1);
			k->pub.key_len = len[idx];
			k->pub.cos_alg = idx < 3 ? COS_ALG_AES : COS_ALG_3DES;
			k->has_alg = 1;
		}
	}
	if ((v = need(ld, n, path, "usage",
		      "what the key does: one or a list of " KEY_USAGES))) {
		k->usage_pos = pos_of(v);
		const yaml_node_t *one = v;
		yaml_node_item_t *it = NULL, *end = NULL;
		if (v->type == YAML_SEQUENCE_NODE) {
			it = v->data.sequence.items.start;
			end = v->data.sequence.items.top;
			one = it < end ? node_at(ld, *it) : NULL;
			if (!one)
				LERR(ld, PROFILE_ERR_VALUE, v,
				     sub(path, "usage"),
				     "expected at least one of %s",
				     commas(KEY_USAGES));
		}
		int ok = one != NULL;
		while (one) {
			if (get_enum(ld, one, sub(path, "usage"), KEY_USAGES,
				     &idx)) {
				if (idx == 0)
					k->pub.usage |= COS_KEY_USE_AUTH;
				else if (idx == 1)
					k->pub.usage |= COS_KEY_USE_CRYPTO;
				else {
					if (k->scp03_role &&
					    k->scp03_role != idx - 1)
						LERR(ld, PROFILE_ERR_CONFLICT,
						     one, sub(path, "usage"),
						     "a key is one member of "
						     "an SCP03 key set: ENC, "
						     "MAC or DEK");
					k->pub.usage |= COS_KEY_USE_SCP03;
					k->scp03_role = (uint8_t)(idx - 1);
				}
			} else {
				ok = 0;
			}
			if (!it || ++it >= end)
				break;
			one = node_at(ld, *it);
		}
		k->has_usage = ok;
	}
	if ((v = map_get(ld, n, "tries")) &&
	    get_uint(ld, v, sub(path, "tries"), 0, 15, &u))
		k->pub.tries = (uint8_t)u;
	yaml_node_t *div = map_get(ld, n, "diversify");
	yaml_node_t *fx = map_get(ld, n, "fixed");
	if (div && fx) {
		LERR(ld, PROFILE_ERR_CONFLICT, fx, sub(path, "fixed"),
		     "a key is either diversified from a master key or fixed, "
		     "not both");
	} else if (div) {
		k->div_pos = pos_of(div);
		load_diversify(ld, div, sub(path, "diversify"), &k->pub.master,
			       &k->pub.method);
		k->has_source = k->pub.master && k->pub.method;
	} else if (fx) {
		size_t l;
		k->div_pos = pos_of(fx);
		if (get_hex(ld, fx, sub(path, "fixed"), 16, 32, k->fixed, &l,
			    "a key value")) {
			k->pub.fixed = k->fixed;
			k->has_source = 1;
			if (k->has_alg && l != k->pub.key_len)
				LERR(ld, PROFILE_ERR_VALUE, fx,
				     sub(path, "fixed"),
				     "an %s key is %u bytes, got %zu",
				     text_of(map_get(ld, n, "algorithm")),
				     k->pub.key_len, l);
			LWARN(ld, PROFILE_ERR_VALUE, fx, sub(path, "fixed"),
			      "a fixed key is for test cards only: every card "
			      "gets the same, and the profile holds it in "
			      "clear");
		}
	} else {
		need(ld, n, path, "diversify",
		     "where the key comes from: {master: LABEL, method: "
		     "aes-ecb-serial | 3des-serial | none}");
	}
	if ((v = map_get(ld, n, "description")))
		get_text(ld, v, sub(path, "description"), 200);
}

static void load_scp03(ld_t *ld, const yaml_node_t *n)
{
	profile_t *p = ld->p;
	p->scp03_pos = pos_of(n);
	p->scp03.enc = p->scp03.mac = p->scp03.dek = -1;
	if (!check_map(ld, n, "scp03", "kvn level",
		       "the personalization key set: {kvn: N, level: [...]}",
		       NULL, NULL))
		return;
	p->scp03.present = 1;
	unsigned u;
	yaml_node_t *v = need(ld, n, "scp03", "kvn",
			      "the key version of the SCP03 key set, 1 to 255");
	if (v) {
		p->scp03_kvn_pos = pos_of(v);
		if (get_uint(ld, v, "scp03.kvn", 1, 255, &u))
			p->scp03.kvn = (uint8_t)u;
	}
	v = need(ld, n, "scp03", "level",
		 "the session's security: a list of c-mac, c-dec, r-mac, "
		 "r-enc");
	if (!v)
		return;
	p->scp03_level_pos = pos_of(v);
	static const uint8_t bits[] = { PROFILE_SCP03_C_MAC,
					PROFILE_SCP03_C_DEC,
					PROFILE_SCP03_R_MAC,
					PROFILE_SCP03_R_ENC };
	const yaml_node_t *one = v;
	yaml_node_item_t *it = NULL, *end = NULL;
	if (v->type == YAML_SEQUENCE_NODE) {
		it = v->data.sequence.items.start;
		end = v->data.sequence.items.top;
		one = it < end ? node_at(ld, *it) : NULL;
	}
	uint8_t level = 0;
	while (one) {
		int idx;
		if (get_enum(ld, one, "scp03.level", "c-mac c-dec r-mac r-enc",
			     &idx))
			level |= bits[idx];
		if (!it || ++it >= end)
			break;
		one = node_at(ld, *it);
	}
	p->scp03.level = level;
}

/* ---------------------------------------------------------------- memory card
 */

#define AREA_KEYS "name start length protect data description"

static void load_area(ld_t *ld, const yaml_node_t *n, const char *path,
		      const char *name)
{
	profile_t *p = ld->p;
	parea_t *a = vec_push(&p->areas, sizeof(parea_t));
	if (!a)
		return;
	a->pos = pos_of(n);
	a->pub.line = a->pos.line;
	a->path = pool_strdup(p, path);
	a->pub.name = name ? name : "";
	a->pub.description = "";
	if (!check_map(ld, n, path, AREA_KEYS, "a data area: a mapping", NULL,
		       NULL))
		return;
	if (!map_get(ld, n, "name"))
		need(ld, n, path, "name", "the area's name");
	unsigned u;
	yaml_node_t *v = need(ld, n, path, "start",
			      "the first byte's address, 0 to 255");
	if (v) {
		a->start_pos = pos_of(v);
		if (get_uint(ld, v, sub(path, "start"), 0, 65535, &u)) {
			a->pub.start = u;
			a->has_start = 1;
		}
	}
	v = need(ld, n, path, "length", "the area's length in bytes");
	if (v && get_uint(ld, v, sub(path, "length"), 1, 65535, &u)) {
		a->pub.length = u;
		a->has_length = 1;
	}
	if ((v = map_get(ld, n, "protect"))) {
		int idx;
		a->protect_pos = pos_of(v);
		if (get_enum(ld, v, sub(path, "protect"), "no init perso false",
			     &idx))
			a->pub.protect = idx == 1 ? PROFILE_PROTECT_INIT :
					 idx == 2 ? PROFILE_PROTECT_PERSO :
						    PROFILE_PROTECT_NO;
	}
	if ((v = map_get(ld, n, "data"))) {
		uint8_t buf[256];
		size_t l;
		a->data_pos = pos_of(v);
		if (get_hex(ld, v, sub(path, "data"), 1, sizeof buf, buf, &l,
			    "the bytes written at initialization")) {
			uint8_t *d = pool_alloc(p, l);
			if (d) {
				memcpy(d, buf, l);
				a->pub.data = d;
				a->pub.data_len = l;
			}
		}
	}
	if ((v = map_get(ld, n, "description"))) {
		const char *s = get_text(ld, v, sub(path, "description"), 200);
		if (s)
			a->pub.description = s;
	}
}

static void load_psc(ld_t *ld, const yaml_node_t *n)
{
	profile_t *p = ld->p;
	p->psc_pos = pos_of(n);
	if (!check_map(ld, n, "psc", "diversify fixed",
		       "{diversify: {master: LABEL, method: METHOD}} or "
		       "{fixed: HEX}",
		       NULL, NULL))
		return;
	yaml_node_t *div = map_get(ld, n, "diversify");
	yaml_node_t *fx = map_get(ld, n, "fixed");
	p->psc.present = 1;
	if (div && fx) {
		LERR(ld, PROFILE_ERR_CONFLICT, fx, "psc.fixed",
		     "the PSC is either diversified or fixed, not both");
	} else if (div) {
		load_diversify(ld, div, "psc.diversify", &p->psc.master,
			       &p->psc.method);
	} else if (fx) {
		size_t l;
		if (get_hex(ld, fx, "psc.fixed", 3, 3, p->psc.fixed, &l,
			    "a PSC: 3 bytes")) {
			p->psc.has_fixed = 1;
			LWARN(ld, PROFILE_ERR_VALUE, fx, "psc.fixed",
			      "a fixed PSC is for test cards only: every card "
			      "gets the same");
		}
	} else {
		LERR(ld, PROFILE_ERR_MISSING, n, "psc",
		     "missing 'diversify': where the PSC comes from, "
		     "{master: LABEL, method: aes-ecb-serial}");
	}
}

/* ---------------------------------------------------------------- fields */

#define FIELD_KEYS                                                         \
	"name type charset encoding min-length max-length required trace " \
	"secret unique place description"
#define FIELD_TYPES "text digits date amount number bytes"
#define PLACE_KEYS "file area record offset width tlv pad align"

static const struct {
	const char *list;
	profile_encoding_t enc[6];
} encodings[] = {
	/* text (charset) */
	{ "ascii alnum upper latin1 utf-8",
	  { PROFILE_ENC_ASCII, PROFILE_ENC_ALNUM, PROFILE_ENC_UPPER,
	    PROFILE_ENC_LATIN1, PROFILE_ENC_UTF8 } },
	/* digits */
	{ "ascii bcd", { PROFILE_ENC_ASCII, PROFILE_ENC_BCD } },
	/* date */
	{ "yyyymmdd iso bcd bcd-yymmdd",
	  { PROFILE_ENC_DATE_YYYYMMDD, PROFILE_ENC_DATE_ISO,
	    PROFILE_ENC_DATE_BCD, PROFILE_ENC_DATE_BCD_YYMMDD } },
	/* amount */
	{ "be16 be32 bcd6",
	  { PROFILE_ENC_BE16, PROFILE_ENC_BE32, PROFILE_ENC_BCD6 } },
	/* number */
	{ "be8 be16 be32",
	  { PROFILE_ENC_BE8, PROFILE_ENC_BE16, PROFILE_ENC_BE32 } },
	/* bytes */
	{ "binary", { PROFILE_ENC_BINARY } },
};

static const profile_encoding_t default_enc[] = {
	PROFILE_ENC_UTF8, PROFILE_ENC_ASCII, PROFILE_ENC_DATE_ISO,
	PROFILE_ENC_BE32, PROFILE_ENC_BE32,  PROFILE_ENC_BINARY
};

static int parse_tag(const char *s, uint32_t *out)
{
	uint8_t b[4];
	size_t l;
	if (parse_hex(s, b, 3, &l) != 0 || l == 0)
		return -1;
	if (b[0] == 0x00 || b[0] == 0xFF)
		return -1;
	if ((b[0] & 0x1F) == 0x1F) {
		if (l < 2)
			return -1;
		for (size_t i = 1; i < l; i++)
			if (((b[i] & 0x80) != 0) != (i < l - 1))
				return -1;
		if (b[1] == 0x80)
			return -1;
	} else if (l != 1) {
		return -1;
	}
	uint32_t t = 0;
	for (size_t i = 0; i < l; i++)
		t = t << 8 | b[i];
	*out = t;
	return 0;
}

static void load_place(ld_t *ld, const yaml_node_t *n, const char *path,
		       pfield_t *f)
{
	profile_place_t *pl = &f->pub.place;
	f->place_pos = pos_of(n);
	pl->line = f->place_pos.line;
	pl->file = pl->area = -1;
	if (!check_map(ld, n, path, PLACE_KEYS,
		       "where the field goes: {file: NAME, offset: N, width: "
		       "N}, {file: NAME, record: N, ...}, {file: NAME, tlv: "
		       "[TAGS]} or {area: NAME, offset: N}",
		       NULL, NULL))
		return;
	yaml_node_t *vf = map_get(ld, n, "file");
	yaml_node_t *va = map_get(ld, n, "area");
	yaml_node_t *vt = map_get(ld, n, "tlv");
	yaml_node_t *v;
	unsigned u;
	if (vf && va) {
		LERR(ld, PROFILE_ERR_CONFLICT, va, sub(path, "area"),
		     "a field goes to a file (CPU chip) or an area (memory "
		     "card), not both");
		return;
	}
	if (!vf && !va) {
		LERR(ld, PROFILE_ERR_MISSING, n, path,
		     "missing 'file' (a CPU chip's EF) or 'area' (a memory "
		     "card's data area)");
		return;
	}
	if (vf)
		f->file_name = get_name(ld, vf, sub(path, "file"));
	else
		f->area_name = get_name(ld, va, sub(path, "area"));
	pl->kind = va			    ? PROFILE_PLACE_AREA :
		   vt			    ? PROFILE_PLACE_TLV :
		   map_get(ld, n, "record") ? PROFILE_PLACE_RECORD :
					      PROFILE_PLACE_BINARY;
	if ((v = map_get(ld, n, "record"))) {
		f->record_pos = pos_of(v);
		if (va)
			LERR(ld, PROFILE_ERR_CONFLICT, v, sub(path, "record"),
			     "a memory card area has no records");
		else if (get_uint(ld, v, sub(path, "record"), 1, 254, &u)) {
			pl->record = u;
			f->has_record = 1;
		}
	}
	if ((v = map_get(ld, n, "offset"))) {
		f->offset_pos = pos_of(v);
		if (get_uint(ld, v, sub(path, "offset"), 0, 65535, &u)) {
			pl->offset = u;
			f->has_offset = 1;
		}
	}
	if ((v = map_get(ld, n, "width"))) {
		f->width_pos = pos_of(v);
		if (vt)
			LERR(ld, PROFILE_ERR_CONFLICT, v, sub(path, "width"),
			     "a TLV object's length follows its value: no "
			     "width");
		else if (get_uint(ld, v, sub(path, "width"), 1, 65535, &u)) {
			pl->width = u;
			f->has_width = 1;
		}
	}
	if ((v = map_get(ld, n, "pad")) &&
	    get_uint(ld, v, sub(path, "pad"), 0, 255, &u))
		pl->pad = (uint8_t)u;
	else if (!v)
		pl->pad = f->pub.type == PROFILE_FIELD_TEXT ? 0x20 :
			  f->pub.type == PROFILE_FIELD_DIGITS &&
					  f->pub.encoding == PROFILE_ENC_ASCII ?
							      0x20 :
			  f->pub.encoding == PROFILE_ENC_BCD ? 0xFF :
							       0x00;
	int idx;
	if ((v = map_get(ld, n, "align")) &&
	    get_enum(ld, v, sub(path, "align"), "left right", &idx))
		pl->align_right = idx;
	if (vt) {
		f->tlv_pos = pos_of(vt);
		const char *tp = sub(path, "tlv");
		if (!want_kind(ld, vt, YAML_SEQUENCE_NODE, tp,
			       "a list of BER-TLV tags in hex: templates, "
			       "then the field's tag, e.g. [70, 5F20]"))
			return;
		for (yaml_node_item_t *it = vt->data.sequence.items.start;
		     it < vt->data.sequence.items.top; it++) {
			yaml_node_t *w = node_at(ld, *it);
			const char *s = scalar(ld, w, tp, "a tag in hex");
			uint32_t tag;
			if (!s)
				return;
			if (pl->ntags >= PROFILE_TLV_DEPTH) {
				LERR(ld, PROFILE_ERR_VALUE, w, tp,
				     "at most %d tags (templates nested %d "
				     "deep)",
				     PROFILE_TLV_DEPTH, PROFILE_TLV_DEPTH - 1);
				return;
			}
			if (parse_tag(s, &tag) < 0) {
				LERR(ld, PROFILE_ERR_VALUE, w, tp,
				     "expected a BER-TLV tag in hex (1 to 3 "
				     "bytes: 5F20, 70, 9F7F...), got '%s'",
				     s);
				return;
			}
			pl->tags[pl->ntags++] = tag;
		}
		if (!pl->ntags)
			LERR(ld, PROFILE_ERR_VALUE, vt, tp,
			     "expected at least the field's own tag");
	}
}

static void load_field(ld_t *ld, const yaml_node_t *n, const char *path,
		       const char *name)
{
	profile_t *p = ld->p;
	pfield_t *f = vec_push(&p->fields, sizeof(pfield_t));
	if (!f)
		return;
	f->pos = pos_of(n);
	f->pub.line = f->pos.line;
	f->path = pool_strdup(p, path);
	f->pub.name = name ? name : "";
	f->pub.description = "";
	f->pub.required = 1;
	f->pub.place.file = f->pub.place.area = -1;
	if (!check_map(ld, n, path, FIELD_KEYS, "a field: a mapping", NULL,
		       NULL))
		return;
	if (!map_get(ld, n, "name"))
		need(ld, n, path, "name",
		     "the field's name (the column of "
		     "the holder file)");
	int idx = -1;
	yaml_node_t *v = need(ld, n, path, "type", "one of " FIELD_TYPES);
	if (v && get_enum(ld, v, sub(path, "type"), FIELD_TYPES, &idx)) {
		f->pub.type = (profile_field_type_t)(idx + 1);
		f->has_type = 1;
		f->pub.encoding = default_enc[idx];
	}
	yaml_node_t *vc = map_get(ld, n, "charset");
	yaml_node_t *ve = map_get(ld, n, "encoding");
	if (vc && idx >= 0 && idx != 0)
		LERR(ld, PROFILE_ERR_CONFLICT, vc, sub(path, "charset"),
		     "only text has a charset; %s has an encoding (%s)",
		     text_of(v), commas(encodings[idx].list));
	else if (ve && idx == 0)
		LERR(ld, PROFILE_ERR_CONFLICT, ve, sub(path, "encoding"),
		     "text has a charset (%s), not an encoding",
		     commas(encodings[0].list));
	else if (idx >= 0 && (vc || ve)) {
		int e;
		yaml_node_t *w = vc ? vc : ve;
		if (get_enum(ld, w, sub(path, vc ? "charset" : "encoding"),
			     encodings[idx].list, &e))
			f->pub.encoding = encodings[idx].enc[e];
	}
	unsigned u;
	int lenless =
		idx == 2 || idx == 3 || idx == 4; /* date, amount, number */
	if ((v = map_get(ld, n, "max-length"))) {
		if (lenless)
			LERR(ld, PROFILE_ERR_CONFLICT, v,
			     sub(path, "max-length"),
			     "a %s's length follows from its encoding",
			     text_of(map_get(ld, n, "type")));
		else if (get_uint(ld, v, sub(path, "max-length"), 1, 4096,
				  &u)) {
			f->pub.max_length = u;
			f->has_max = 1;
		}
	} else if (idx >= 0 && !lenless) {
		need(ld, n, path, "max-length",
		     "the longest value (characters, digits or bytes)");
	}
	if ((v = map_get(ld, n, "min-length"))) {
		if (lenless)
			LERR(ld, PROFILE_ERR_CONFLICT, v,
			     sub(path, "min-length"),
			     "a %s's length follows from its encoding",
			     text_of(map_get(ld, n, "type")));
		else if (get_uint(ld, v, sub(path, "min-length"), 0, 4096, &u))
			f->pub.min_length = u;
	}
	int b;
	if ((v = map_get(ld, n, "required")) &&
	    get_bool(ld, v, sub(path, "required"), &b))
		f->pub.required = b;
	if ((v = map_get(ld, n, "trace"))) {
		f->trace_pos = pos_of(v);
		if (get_bool(ld, v, sub(path, "trace"), &b))
			f->pub.trace = b;
	}
	if ((v = map_get(ld, n, "secret"))) {
		f->secret_pos = pos_of(v);
		if (get_bool(ld, v, sub(path, "secret"), &b))
			f->pub.secret = b;
	}
	if ((v = map_get(ld, n, "unique")) &&
	    get_bool(ld, v, sub(path, "unique"), &b))
		f->pub.unique = b;
	if ((v = map_get(ld, n, "description"))) {
		const char *s = get_text(ld, v, sub(path, "description"), 200);
		if (s)
			f->pub.description = s;
	}
	if ((v = map_get(ld, n, "place")))
		load_place(ld, v, sub(path, "place"), f);
}

/* ---------------------------------------------------------------- face */

#define FACE_KEYS "width height items"
#define ITEM_KEYS "field text side box font-size align bold"

static void load_face_item(ld_t *ld, const yaml_node_t *n, const char *path,
			   const char *name)
{
	profile_t *p = ld->p;
	(void)name;
	pface_t *it = vec_push(&p->face_items, sizeof(pface_t));
	if (!it)
		return;
	it->pos = pos_of(n);
	it->pub.line = it->pos.line;
	it->path = pool_strdup(p, path);
	it->pub.field = -1;
	it->pub.font_size = 3.0;
	if (!check_map(ld, n, path, ITEM_KEYS, "a face item: a mapping", NULL,
		       NULL))
		return;
	yaml_node_t *vf = map_get(ld, n, "field");
	yaml_node_t *vt = map_get(ld, n, "text");
	if (vf && vt)
		LERR(ld, PROFILE_ERR_CONFLICT, vt, sub(path, "text"),
		     "an item prints a field or a fixed text, not both");
	else if (vf) {
		it->field_pos = pos_of(vf);
		it->field_name = get_name(ld, vf, sub(path, "field"));
	} else if (vt) {
		it->pub.text = get_text(ld, vt, sub(path, "text"), 200);
	} else {
		LERR(ld, PROFILE_ERR_MISSING, n, path,
		     "missing 'field' (a cardholder field) or 'text' (fixed "
		     "text)");
	}
	int idx;
	yaml_node_t *v;
	if ((v = map_get(ld, n, "side")) &&
	    get_enum(ld, v, sub(path, "side"), "front back", &idx))
		it->pub.back = idx;
	if ((v = map_get(ld, n, "align")) &&
	    get_enum(ld, v, sub(path, "align"), "left centre center right",
		     &idx))
		it->pub.align = idx == 0 ? 0 : idx == 3 ? 2 : 1;
	int b;
	if ((v = map_get(ld, n, "bold")) &&
	    get_bool(ld, v, sub(path, "bold"), &b))
		it->pub.bold = b;
	if ((v = map_get(ld, n, "font-size")))
		get_mm(ld, v, sub(path, "font-size"), 0.5, 30,
		       &it->pub.font_size);
	v = need(ld, n, path, "box", "where: [x, y, width, height] in mm");
	if (!v)
		return;
	it->box_pos = pos_of(v);
	const char *bp = sub(path, "box");
	if (!want_kind(ld, v, YAML_SEQUENCE_NODE, bp,
		       "[x, y, width, height] in mm from the top left corner"))
		return;
	if (v->data.sequence.items.top - v->data.sequence.items.start != 4) {
		LERR(ld, PROFILE_ERR_VALUE, v, bp,
		     "expected 4 numbers: [x, y, width, height] in mm");
		return;
	}
	double *dst[4] = { &it->pub.x, &it->pub.y, &it->pub.w, &it->pub.h };
	for (int i = 0; i < 4; i++)
		get_mm(ld, node_at(ld, v->data.sequence.items.start[i]), bp, 0,
		       200, dst[i]);
}

static void load_face(ld_t *ld, const yaml_node_t *n)
{
	profile_t *p = ld->p;
	p->face_pos = pos_of(n);
	if (!check_map(ld, n, "face", FACE_KEYS,
		       "the card face: {items: [...]}", NULL, NULL))
		return;
	yaml_node_t *v;
	if ((v = map_get(ld, n, "width")))
		get_mm(ld, v, "face.width", 10, 200, &p->face.width);
	if ((v = map_get(ld, n, "height")))
		get_mm(ld, v, "face.height", 10, 200, &p->face.height);
	v = need(ld, n, "face", "items", "the list of what is printed where");
	if (v)
		load_list(ld, v, "face.items",
			  "a list of items: {field: NAME, box: [x, y, w, h]}",
			  load_face_item);
}

/* ---------------------------------------------------------------- document */

static const char *top_hint(const char *key, void *arg)
{
	(void)arg;
	if (strcmp(key, "memory") == 0)
		return "a memory card's data areas are the list 'areas'";
	if (strcmp(key, "mf") == 0 || strcmp(key, "MF") == 0)
		return "the MF is implicit: its children are the list 'files'";
	return NULL;
}

/* Where key is written in mapping n (for messages about a whole section). */
static pos_t key_pos(ld_t *ld, const yaml_node_t *n, const char *key)
{
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(ld, pr->key);
		if (is_scalar(k) && strcmp(text_of(k), key) == 0)
			return pos_of(k);
	}
	return pos_of(n);
}

static void load_root(ld_t *ld, const yaml_node_t *root)
{
	profile_t *p = ld->p;
	if (!check_map(ld, root, "", TOP_KEYS,
		       "a card profile: a mapping with profile, version, "
		       "chip...",
		       top_hint, NULL))
		return;
	yaml_node_t *v = need(ld, root, "", "profile",
			      "the profile's name, e.g. profile: campus");
	if (v)
		p->info.name = get_name(ld, v, "profile");
	v = need(ld, root, "", "version", "the schema version: version: 1");
	unsigned u;
	if (v) {
		p->version_pos = pos_of(v);
		if (get_uint(ld, v, "version", 0, 1000, &u) && u != 1)
			LERR(ld, PROFILE_ERR_VALUE, v, "version",
			     "this cardfab reads profile version 1, got %u", u);
	}
	if ((v = map_get(ld, root, "description"))) {
		const char *s = get_text(ld, v, "description", 400);
		if (s)
			p->info.description = s;
	}
	v = need(ld, root, "", "chip",
		 "the chip model: cf32, cf64 (CPU chips) or sle4442 (memory "
		 "card)");
	if (v)
		load_chip(ld, v);
	v = need(ld, root, "", "features",
		 "the card OS features the design uses, e.g. [transparent, "
		 "pin, scp03]");
	if (v)
		load_features(ld, v);
	if ((v = map_get(ld, root, "files"))) {
		p->has_files_section = 1;
		p->files_pos = key_pos(ld, root, "files");
		load_files(ld, v, "files", -1, 1);
	}
	if ((v = map_get(ld, root, "pins"))) {
		p->has_pins_section = 1;
		p->pins_pos = key_pos(ld, root, "pins");
		load_list(ld, v, "pins", "a list of PINs", load_pin);
	}
	if ((v = map_get(ld, root, "keys"))) {
		p->has_keys_section = 1;
		p->keys_pos = key_pos(ld, root, "keys");
		load_list(ld, v, "keys", "a list of keys", load_key);
	}
	p->scp03.enc = p->scp03.mac = p->scp03.dek = -1;
	if ((v = map_get(ld, root, "scp03")))
		load_scp03(ld, v);
	if ((v = map_get(ld, root, "areas"))) {
		p->has_memory_section = 1;
		p->memory_pos = key_pos(ld, root, "areas");
		load_list(ld, v, "areas", "a list of data areas", load_area);
	}
	if ((v = map_get(ld, root, "psc")))
		load_psc(ld, v);
	if ((v = map_get(ld, root, "fields"))) {
		p->has_fields_section = 1;
		p->fields_pos = key_pos(ld, root, "fields");
		load_list(ld, v, "fields", "a list of cardholder fields",
			  load_field);
	}
	if ((v = map_get(ld, root, "face")))
		load_face(ld, v);
}

static const char *problem_text(const yaml_parser_t *ps)
{
	return ps->problem ? ps->problem : "malformed YAML";
}

profile_status_t profile_load_mem(const char *name, const char *buf, size_t len,
				  profile_t **out, profile_diags_t *d)
{
	if (!out || (!buf && len))
		return PROFILE_ERR_PARAM;
	*out = NULL;
	if (!name)
		name = "(profile)";
	size_t errors0 = d ? d->errors : 0;
	profile_diags_t local;
	profile_diags_init(&local);
	if (!d)
		d = &local;

	profile_t *p = calloc(1, sizeof *p);
	if (!p)
		return PROFILE_ERR_NOMEM;
	p->info.file = pool_strdup(p, name);
	p->info.name = "";
	p->info.description = "";
	p->info.chip = "";
	p->face.width = 85.60;
	p->face.height = 53.98;
	p->scp03.enc = p->scp03.mac = p->scp03.dek = -1;
	if (!p->info.file) {
		profile_free(p);
		profile_diags_free(&local);
		return PROFILE_ERR_NOMEM;
	}

	ld_t ld;
	memset(&ld, 0, sizeof ld);
	ld.p = p;
	ld.d = d;
	ld.file = p->info.file;
	pos_t none = { 0, 0 };

	if (len > MAX_INPUT) {
		diag_add(d, PROFILE_ERR_CAPACITY, PROFILE_SEV_ERROR, ld.file,
			 none, NULL,
			 "%zu bytes: a profile is at most %u bytes of YAML",
			 len, MAX_INPUT);
		profile_free(p);
		profile_diags_free(&local);
		return PROFILE_ERR_INVALID;
	}

	yaml_parser_t ps;
	if (!yaml_parser_initialize(&ps)) {
		profile_free(p);
		profile_diags_free(&local);
		return PROFILE_ERR_NOMEM;
	}
	yaml_parser_set_input_string(
		&ps, (const unsigned char *)(buf ? buf : ""), len);
	if (!yaml_parser_load(&ps, &ld.doc)) {
		pos_t at = { (unsigned)ps.problem_mark.line + 1,
			     (unsigned)ps.problem_mark.column + 1 };
		if (ps.error == YAML_MEMORY_ERROR) {
			yaml_parser_delete(&ps);
			profile_free(p);
			profile_diags_free(&local);
			return PROFILE_ERR_NOMEM;
		}
		if (ps.context)
			diag_add(d, PROFILE_ERR_SYNTAX, PROFILE_SEV_ERROR,
				 ld.file, at, NULL, "%s %s (line %u)",
				 problem_text(&ps), ps.context,
				 (unsigned)ps.context_mark.line + 1);
		else
			diag_add(d, PROFILE_ERR_SYNTAX, PROFILE_SEV_ERROR,
				 ld.file, at, NULL, "%s", problem_text(&ps));
		yaml_parser_delete(&ps);
		profile_free(p);
		profile_diags_free(&local);
		return PROFILE_ERR_INVALID;
	}
	yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
	if (!root) {
		diag_add(d, PROFILE_ERR_MISSING, PROFILE_SEV_ERROR, ld.file,
			 none, NULL,
			 "the file is empty: a profile starts with profile:, "
			 "version:, chip:");
	} else {
		/* A second document in the stream is not read: say so. */
		yaml_document_t more;
		if (yaml_parser_load(&ps, &more)) {
			yaml_node_t *r2 = yaml_document_get_root_node(&more);
			if (r2)
				LERR(&ld, PROFILE_ERR_SYNTAX, r2, NULL,
				     "a second YAML document: a profile is "
				     "one document");
			yaml_document_delete(&more);
		}
		load_root(&ld, root);
	}
	yaml_document_delete(&ld.doc);
	yaml_parser_delete(&ps);
	if (!root || d->nomem) {
		int nomem = d->nomem;
		profile_free(p);
		profile_diags_free(&local);
		return nomem ? PROFILE_ERR_NOMEM : PROFILE_ERR_INVALID;
	}
	if (profile_views(p) < 0) {
		profile_free(p);
		profile_diags_free(&local);
		return PROFILE_ERR_NOMEM;
	}
	int failed = d->errors > errors0;
	p->load_errors = d->errors - errors0;
	profile_diags_free(&local);
	*out = p;
	return failed ? PROFILE_ERR_INVALID : PROFILE_OK;
}

profile_status_t profile_load_file(const char *path, profile_t **out,
				   profile_diags_t *d)
{
	if (!path || !out)
		return PROFILE_ERR_PARAM;
	*out = NULL;
	pos_t none = { 0, 0 };
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		diag_add(d, PROFILE_ERR_MISSING, PROFILE_SEV_ERROR, path, none,
			 NULL, "cannot open: %s", strerror(e));
		errno = e;
		return PROFILE_ERR_IO;
	}
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);
	int err = 0;
	while (buf) {
		if (n == cap) {
			if (cap > MAX_INPUT)
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			err = ferror(f) ? errno : 0;
			break;
		}
	}
	fclose(f);
	if (!buf)
		return PROFILE_ERR_NOMEM;
	if (err) {
		diag_add(d, PROFILE_ERR_MISSING, PROFILE_SEV_ERROR, path, none,
			 NULL, "cannot read: %s", strerror(err));
		free(buf);
		errno = err;
		return PROFILE_ERR_IO;
	}
	profile_status_t st = profile_load_mem(path, buf, n, out, d);
	free(buf);
	return st;
}

void profile_free(profile_t *p)
{
	if (!p)
		return;
	vec_free(&p->files);
	vec_free(&p->pins);
	vec_free(&p->keys);
	vec_free(&p->areas);
	vec_free(&p->fields);
	vec_free(&p->face_items);
	free(p->file_view);
	free(p->pin_view);
	free(p->key_view);
	free(p->area_view);
	free(p->field_view);
	free(p->face_view);
	while (p->pool) {
		pool_blk_t *next = p->pool->next;
		free(p->pool);
		p->pool = next;
	}
	free(p);
}
