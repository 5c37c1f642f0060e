/*
 * order.c - reading a production order file (contract in order.h).
 *
 * libyaml's document API keeps the line of every node, so that each
 * message points at the line to fix. Keys are matched against tables:
 * one entry a key, with the kind of value it takes and where it goes; an
 * unknown key is an error (a typo must not silently fall back to a
 * default in a production order).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli/order.h"

typedef enum {
	K_STR,	  /* char ** */
	K_INT,	  /* int64_t, >= min, <= max */
	K_UINT,	  /* unsigned, min..max */
	K_U64,	  /* uint64_t */
	K_U16,	  /* uint16_t */
	K_U32,	  /* uint32_t */
	K_U8,	  /* uint8_t, min..max */
	K_DOUBLE, /* double, min..max */
	K_DATE,	  /* int64_t microseconds, YYYY-MM-DD (UTC midnight) */
} kind_t;

typedef struct {
	const char *key;
	kind_t kind;
	size_t off; /* offset in order_t */
	double min, max;
	const char *what; /* what is expected, for messages */
} field_t;

#define OFF(f) offsetof(order_t, f)
#define LOFF(f) (offsetof(order_t, line) + offsetof(line_params_t, f))

static const field_t top_fields[] = {
	{ "name", K_STR, OFF(name), 1, 60,
	  "the order's name (1 to 60 characters)" },
	{ "profile", K_STR, OFF(profile), 1, 4000, "the card profile's path" },
	{ "holders", K_STR, OFF(holders), 1, 4000,
	  "the holder file's path (CSV)" },
	{ "quantity", K_INT, OFF(quantity), 1, 10000000,
	  "a number of cards, 1 to 10,000,000" },
	{ "seed", K_U64, OFF(seed), 0, 0, "an unsigned number" },
	{ "stations", K_UINT, OFF(stations), 1, ORDER_MAX_STATIONS,
	  "1 to 64 stations" },
};

static const field_t line_fields[] = {
	{ "lots", K_UINT, LOFF(lots), 1, 4095, "1 to 4095 lots" },
	{ "wafers-per-lot", K_UINT, LOFF(wafers_per_lot), 1, 32,
	  "1 to 32 wafers" },
	{ "wafer-diameter-mm", K_DOUBLE, LOFF(wafer_diameter_mm), 25, 450,
	  "a diameter of 25 to 450 mm" },
	{ "edge-exclusion-mm", K_DOUBLE, LOFF(edge_exclusion_mm), 0, 50,
	  "0 to 50 mm" },
	{ "die-width-mm", K_DOUBLE, LOFF(die_w_mm), 0.5, 30, "0.5 to 30 mm" },
	{ "die-height-mm", K_DOUBLE, LOFF(die_h_mm), 0.5, 30, "0.5 to 30 mm" },
	{ "serial-prefix", K_U32, LOFF(serial_prefix), 0, 0,
	  "4 bytes, e.g. 0x43460001" },
	{ "lot-prefix", K_STR, OFF(lot_prefix), 1, 20, "1 to 20 characters" },
	{ "fab", K_STR, OFF(fab_name), 1, 60,
	  "the fab's name (1 to 60 characters)" },
	{ "fab-date", K_DATE, OFF(fab_day_us), 0, 0, "a date YYYY-MM-DD" },
	{ "probe-yield", K_DOUBLE, LOFF(probe_yield), 0.01, 1,
	  "a fraction, 0.01 to 1" },
	{ "cluster-alpha", K_DOUBLE, LOFF(cluster_alpha), 0.5, 8,
	  "0.5 to 8 (steps of 0.5)" },
	{ "cluster-radius", K_DOUBLE, LOFF(cluster_radius), 0, 8,
	  "0 to 8 dies" },
	{ "edge-loss", K_DOUBLE, LOFF(edge_loss), 0, 1, "a fraction, 0 to 1" },
	{ "edge-width-mm", K_DOUBLE, LOFF(edge_width_mm), 0.1, 100,
	  "0.1 to 100 mm" },
	{ "short-fraction", K_DOUBLE, LOFF(short_fraction), 0, 1,
	  "a fraction, 0 to 1" },
	{ "grind-target-um", K_DOUBLE, LOFF(grind_target_um), 10, 1000,
	  "10 to 1000 um" },
	{ "grind-sigma-um", K_DOUBLE, LOFF(grind_sigma_um), 0, 100,
	  "0 to 100 um" },
	{ "grind-min-um", K_DOUBLE, LOFF(grind_min_um), 0, 1000,
	  "0 to 1000 um" },
	{ "grind-max-um", K_DOUBLE, LOFF(grind_max_um), 0, 1000,
	  "0 to 1000 um" },
	{ "module-defect-rate", K_DOUBLE, LOFF(module_defect_rate), 0, 1,
	  "a fraction, 0 to 1" },
	{ "embed-defect-rate", K_DOUBLE, LOFF(embed_defect_rate), 0, 1,
	  "a fraction, 0 to 1" },
	{ "print-defect-rate", K_DOUBLE, LOFF(print_defect_rate), 0, 1,
	  "a fraction, 0 to 1" },
	{ "transport-tries", K_U8, LOFF(transport_tries), 1, 15,
	  "1 to 15 tries" },
	{ "module-fabricator", K_U16, LOFF(module_fabricator), 0, 0,
	  "2 bytes, e.g. 0x4D46" },
	{ "card-manufacturer", K_U16, LOFF(card_manufacturer), 0, 0,
	  "2 bytes, e.g. 0x434D" },
};

static const field_t key_fields[] = {
	{ "transport", K_STR, OFF(tmk), 1, 64, "a key label (1 to 64 bytes)" },
	{ "wrap", K_STR, OFF(wrap_key), 1, 64, "a key label (1 to 64 bytes)" },
	{ "batch", K_STR, OFF(batch_key), 1, 64,
	  "a key label (1 to 64 bytes)" },
	{ "mailer", K_STR, OFF(mailer_key), 1, 64,
	  "a key label (1 to 64 bytes)" },
};

static const field_t id_fields[] = {
	{ "prepersonalizer", K_U16, OFF(prepersonalizer), 0, 0,
	  "2 bytes, e.g. 0x4346" },
	{ "init-equipment", K_U32, OFF(init_equipment), 0, 0, "4 bytes" },
	{ "personalizer", K_U16, OFF(personalizer), 0, 0,
	  "2 bytes, e.g. 0x4346" },
	{ "perso-equipment", K_U32, OFF(perso_equipment), 0, 0, "4 bytes" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
	const char *file;
	yaml_document_t doc;
	char *err;
	size_t errcap;
} ctx_t;

static int fail(ctx_t *c, const yaml_node_t *n, const char *field,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(ctx_t *c, const yaml_node_t *n, const char *field,
		const char *fmt, ...)
{
	va_list ap;
	size_t len;

	len = (size_t)snprintf(c->err, c->errcap, "%s:%u: %s%s", c->file,
			       n ? (unsigned)n->start_mark.line + 1 : 1u,
			       field ? field : "", field ? ": " : "");
	if (len < c->errcap) {
		va_start(ap, fmt);
		vsnprintf(c->err + len, c->errcap - len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ?
		       (const char *)n->data.scalar.value :
		       NULL;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "2026-11-02" to microseconds at UTC midnight; -1 if not a date. */
static int64_t parse_date(const char *s)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	int y, m, d, i;
	int64_t days = 0;
	char extra;

	if (strlen(s) != 10 ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1990 ||
	    y > 2089 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && leap(y)))
		return -1;
	for (i = 1970; i < y; i++)
		days += leap(i) ? 366 : 365;
	for (i = 1; i < m; i++)
		days += mdays[i - 1] + (i == 2 && leap(y));
	days += d - 1;
	return days * 86400 * INT64_C(1000000);
}

static int set_field(ctx_t *c, order_t *o, const field_t *f,
		     const yaml_node_t *v, const char *path)
{
	const char *s = scalar(v);
	char *end;
	unsigned long long u;
	double d;
	int64_t t;
	void *dst = (char *)o + f->off;

	if (s == NULL)
		return fail(c, v, path, "expected %s, not a %s", f->what,
			    v->type == YAML_MAPPING_NODE ? "mapping" : "list");
	switch (f->kind) {
	case K_STR:
		if (strlen(s) < (size_t)f->min || strlen(s) > (size_t)f->max)
			return fail(c, v, path, "expected %s", f->what);
		free(*(char **)dst);
		*(char **)dst = strdup(s);
		if (*(char **)dst == NULL)
			return fail(c, v, path, "out of memory");
		return 0;
	case K_DOUBLE:
		errno = 0;
		d = strtod(s, &end);
		if (*s == '\0' || *end != '\0' || errno || !isfinite(d) ||
		    d < f->min || d > f->max)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(double *)dst = d;
		return 0;
	case K_DATE:
		t = parse_date(s);
		if (t < 0)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(int64_t *)dst = t;
		return 0;
	default:
		break;
	}
	/* integers: decimal or 0x hex, no sign */
	errno = 0;
	if (*s == '-' || *s == '+' || *s == '\0')
		return fail(c, v, path, "expected %s, got '%s'", f->what, s);
	u = strtoull(s, &end, 0);
	if (*end != '\0' || errno)
		return fail(c, v, path, "expected %s, got '%s'", f->what, s);
	switch (f->kind) {
	case K_INT:
		if (u < (unsigned long long)f->min ||
		    u > (unsigned long long)f->max)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(int64_t *)dst = (int64_t)u;
		break;
	case K_UINT:
		if (u < (unsigned long long)f->min ||
		    u > (unsigned long long)f->max)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(unsigned *)dst = (unsigned)u;
		break;
	case K_U8:
		if (u < (unsigned long long)f->min ||
		    u > (unsigned long long)f->max)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(uint8_t *)dst = (uint8_t)u;
		break;
	case K_U16:
		if (u > 0xFFFF)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(uint16_t *)dst = (uint16_t)u;
		break;
	case K_U32:
		if (u > 0xFFFFFFFFull)
			return fail(c, v, path, "expected %s, got '%s'",
				    f->what, s);
		*(uint32_t *)dst = (uint32_t)u;
		break;
	case K_U64:
		*(uint64_t *)dst = (uint64_t)u;
		break;
	default:
		break;
	}
	return 0;
}

/* Walk a mapping against a table; section is "" or "line." etc. */
static int walk(ctx_t *c, order_t *o, const yaml_node_t *map,
		const char *section, const field_t *tab, size_t ntab)
{
	yaml_node_pair_t *pr;
	const yaml_node_t *k, *v;
	const char *ks;
	char path[96];
	size_t i;

	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, section[0] ? section : NULL,
			    "expected a mapping of keys and values");
	for (pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		k = yaml_document_get_node(&c->doc, pr->key);
		v = yaml_document_get_node(&c->doc, pr->value);
		ks = scalar(k);
		if (ks == NULL)
			return fail(c, k, NULL, "expected a key name");
		snprintf(path, sizeof path, "%s%s", section, ks);
		for (i = 0; i < ntab; i++)
			if (strcmp(tab[i].key, ks) == 0)
				break;
		if (i == ntab) {
			if (section[0] == '\0' && strcmp(ks, "line") == 0) {
				if (walk(c, o, v, "line.", line_fields,
					 N(line_fields)) != 0)
					return -1;
				continue;
			}
			if (section[0] == '\0' && strcmp(ks, "keys") == 0) {
				if (walk(c, o, v, "keys.", key_fields,
					 N(key_fields)) != 0)
					return -1;
				continue;
			}
			if (section[0] == '\0' && strcmp(ks, "ids") == 0) {
				if (walk(c, o, v, "ids.", id_fields,
					 N(id_fields)) != 0)
					return -1;
				continue;
			}
			if (section[0] == '\0' &&
			    strcmp(ks, "description") == 0)
				continue;
			return fail(c, k, path, "unknown key%s",
				    section[0] == '\0' ?
					    " (expected name, description, "
					    "profile, holders, quantity, "
					    "seed, stations, line, keys, ids)" :
					    "");
		}
		if (strcmp(ks, "lots") == 0 ||
		    strcmp(ks, "wafers-per-lot") == 0)
			o->line_sized = 1;
		if (set_field(c, o, &tab[i], v, path) != 0)
			return -1;
	}
	return 0;
}

/* A path in the file resolved against the order file's folder. */
static char *resolve(const char *order_file, const char *p)
{
	const char *slash = strrchr(order_file, '/');
	size_t dl, n;
	char *out;

	if (p[0] == '/' || slash == NULL)
		return strdup(p);
	dl = (size_t)(slash - order_file) + 1;
	n = dl + strlen(p) + 1;
	out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%.*s%s", (int)dl, order_file, p);
	return out;
}

static int dup_default(char **dst, const char *v)
{
	if (*dst != NULL)
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

int order_load(const char *path, order_t *o, char *err, size_t errcap)
{
	FILE *f;
	yaml_parser_t ps;
	ctx_t c;
	yaml_node_t *root;
	char *r;
	int rc = -1;
	static const char *const required[] = { "name", "profile", "holders",
						"quantity" };
	size_t i;

	memset(o, 0, sizeof *o);
	line_params_default(&o->line);
	o->stations = ORDER_DEFAULT_STATIONS;
	o->seed = 1;
	o->prepersonalizer = 0x4346;
	o->personalizer = 0x4346;
	o->init_equipment = 0x00000001;
	o->perso_equipment = 0x00000002;
	o->file = strdup(path);
	memset(&c, 0, sizeof c);
	c.file = path;
	c.err = err;
	c.errcap = errcap;
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&ps);
	yaml_parser_set_input_file(&ps, f);
	if (!yaml_parser_load(&ps, &c.doc)) {
		snprintf(err, errcap, "%s:%u: not valid YAML: %s", path,
			 (unsigned)ps.problem_mark.line + 1,
			 ps.problem ? ps.problem : "parse error");
		yaml_parser_delete(&ps);
		fclose(f);
		return -1;
	}
	yaml_parser_delete(&ps);
	fclose(f);
	root = yaml_document_get_root_node(&c.doc);
	if (root == NULL) {
		snprintf(err, errcap,
			 "%s: empty: expected an order (name, "
			 "profile, holders, quantity, ...)",
			 path);
		goto out;
	}
	if (walk(&c, o, root, "", top_fields, N(top_fields)) != 0)
		goto out;
	for (i = 0; i < N(required); i++) {
		int have = (i == 0 && o->name) || (i == 1 && o->profile) ||
			   (i == 2 && o->holders) || (i == 3 && o->quantity);

		if (!have) {
			fail(&c, root, required[i],
			     "missing: the order needs "
			     "name, profile, holders and quantity");
			goto out;
		}
	}
	if (strspn(o->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
			    "wxyz0123456789-_.") != strlen(o->name) ||
	    o->name[0] == '.') {
		fail(&c, root, "name",
		     "expected letters, digits, '-', '_' and '.' (it names "
		     "files), not starting with '.'");
		goto out;
	}
	r = resolve(path, o->profile);
	free(o->profile);
	o->profile = r;
	r = resolve(path, o->holders);
	free(o->holders);
	o->holders = r;
	if (o->profile == NULL || o->holders == NULL ||
	    dup_default(&o->tmk, ORDER_DEFAULT_TMK) ||
	    dup_default(&o->wrap_key, ORDER_DEFAULT_WRAP) ||
	    dup_default(&o->batch_key, ORDER_DEFAULT_BATCH) ||
	    dup_default(&o->mailer_key, ORDER_DEFAULT_MAILER)) {
		snprintf(err, errcap, "%s: out of memory", path);
		goto out;
	}
	if (o->line.grind_min_um >= o->line.grind_max_um) {
		fail(&c, root, "line.grind-min-um",
		     "expected below line.grind-max-um");
		goto out;
	}
	o->line.order_name = o->name;
	o->line.quantity = o->quantity;
	o->line.seed = o->seed;
	if (o->lot_prefix)
		o->line.lot_prefix = o->lot_prefix;
	if (o->fab_name)
		o->line.fab_name = o->fab_name;
	o->line.cards_wanted = (uint64_t)o->quantity;
	rc = 0;
out:
	yaml_document_delete(&c.doc);
	if (rc != 0)
		order_free(o);
	return rc;
}

void order_free(order_t *o)
{
	if (o == NULL)
		return;
	free(o->file);
	free(o->name);
	free(o->profile);
	free(o->holders);
	free(o->lot_prefix);
	free(o->fab_name);
	free(o->tmk);
	free(o->wrap_key);
	free(o->batch_key);
	free(o->mailer_key);
	memset(o, 0, sizeof *o);
}

int order_size_line(order_t *o, char *err, size_t errcap)
{
	line_params_t *p = &o->line;
	size_t dies = 0;
	double y, per_wafer;
	uint64_t wafers;
	line_status_t st;

	p->cards_wanted = (uint64_t)o->quantity;
	if (o->line_sized)
		return 0;
	st = line_wafer_map(p, 0, 0, NULL, 0, &dies);
	if (st != LINE_OK && dies == 0) {
		snprintf(err, errcap,
			 "%s: line: the wafer geometry gives no "
			 "die: %s",
			 o->file, line_strerror(st));
		return -1;
	}
	/* Expected good card bodies a wafer: probe, grinding (about one
	 * wafer in 20 out of spec with the defaults), module, embedding
	 * and printing; then a margin of 15 % and one spare wafer. */
	y = p->probe_yield * 0.95 * (1 - p->module_defect_rate) *
	    (1 - p->embed_defect_rate) * (1 - p->print_defect_rate);
	per_wafer = (double)dies * y;
	if (per_wafer < 1) {
		snprintf(err, errcap,
			 "%s: line: under one good die a wafer: "
			 "give line.lots and line.wafers-per-lot",
			 o->file);
		return -1;
	}
	wafers = (uint64_t)ceil((double)o->quantity * 1.15 / per_wafer) + 1;
	if (wafers > 4095ull * 25) {
		snprintf(err, errcap,
			 "%s: line: %llu wafers needed: more "
			 "than a line makes; give bigger wafers or smaller "
			 "dies",
			 o->file, (unsigned long long)wafers);
		return -1;
	}
	p->lots = (unsigned)((wafers + 24) / 25);
	p->wafers_per_lot = (unsigned)((wafers + p->lots - 1) / p->lots);
	return 0;
}
