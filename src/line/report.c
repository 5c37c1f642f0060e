/*
 * report.c - production reports (text and HTML) and genealogy printouts,
 * read from the MES only.
 *
 * A report first reads its model from the database: the orders, and for
 * each its yields and counts, its lots and their yields, their wafers with
 * grinding and die counts by bin. The text and the HTML are both printed
 * from that one model, so the two show the same numbers. The wafer maps of
 * the HTML need every die; they are read again wafer by wafer while the
 * file is written, so memory holds one wafer's dies at a time however big
 * the order.
 *
 * The MES's list functions hand rows to a callback that must not query the
 * database again (the backend is still reading); so each level is
 * collected into an array first, then the level below is read.
 *
 * The HTML is one file that needs nothing else: inline CSS, inline SVG
 * (bar charts drawn here, wafer maps by line_wafer_svg()), no script. It
 * is written to a temporary file in the same folder, flushed, fsynced and
 * renamed over the target, then the folder is fsynced: a crash leaves the
 * old report or the new one, never a torn file.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "line/line.h"
#include "line/report.h"

const char *report_strerror(report_status_t st)
{
	switch (st) {
	case REPORT_OK:
		return "success";
	case REPORT_ERR_PARAM:
		return "bad argument";
	case REPORT_ERR_NOT_FOUND:
		return "not found";
	case REPORT_ERR_MES:
		return "database error";
	case REPORT_ERR_IO:
		return "cannot write the report";
	case REPORT_ERR_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}

/* Writes what failed into err (if any); returns st. */
static report_status_t fail(char *err, size_t cap, report_status_t st,
			    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static report_status_t fail(char *err, size_t cap, report_status_t st,
			    const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* A database error: what we were doing, then the MES's own words. */
static report_status_t mes_failed(mes_t *m, mes_err_t e, char *err, size_t cap,
				  const char *what)
{
	const char *d = mes_error_detail(m);

	return fail(err, cap,
		    e == MES_ERR_NOT_FOUND ? REPORT_ERR_NOT_FOUND :
		    e == MES_ERR_NOMEM	   ? REPORT_ERR_NOMEM :
					     REPORT_ERR_MES,
		    "%s: %s%s%s", what, mes_strerror(e), d[0] ? ": " : "", d);
}

/* ---------------------------------------------------------- databases */

const char *report_sqlite_path(const char *url)
{
	if (!url)
		return NULL;
	if (strncmp(url, "sqlite:", 7) == 0) {
		url += 7;
		if (strncmp(url, "//", 2) == 0)
			url += 2;
		return url;
	}
	/* Any other scheme is a server (mes_open refuses unknown ones). */
	for (const char *p = url; *p && *p != '/'; p++)
		if (p[0] == ':' && p[1] == '/' && p[2] == '/')
			return NULL;
	return url;
}

report_status_t report_open_db(const char *url, mes_t **out, char *err,
			       size_t errcap)
{
	const char *path = report_sqlite_path(url);
	char why[MES_DETAIL_MAX] = "";
	struct stat sb;
	mes_err_t e;

	if (!out)
		return fail(err, errcap, REPORT_ERR_PARAM, "no place for the "
							   "handle");
	*out = NULL;
	if (!url || !url[0])
		return fail(err, errcap, REPORT_ERR_PARAM, "no database given");
	/* mes_open() would make an empty database of a mistyped path. */
	if (path && path[0] && stat(path, &sb) != 0)
		return fail(err, errcap, REPORT_ERR_NOT_FOUND,
			    "%s: no such database (%s)", path,
			    strerror(errno));
	e = mes_open(url, out, why, sizeof why);
	if (e != MES_OK)
		return fail(err, errcap,
			    e == MES_ERR_NOMEM ? REPORT_ERR_NOMEM :
						 REPORT_ERR_MES,
			    "%s", why[0] ? why : mes_strerror(e));
	return REPORT_OK;
}

int report_default_html_path(const char *url, const char *name, char *buf,
			     size_t cap)
{
	const char *path = report_sqlite_path(url);
	const char *slash = path ? strrchr(path, '/') : NULL;
	int n;

	if (!name || !buf || cap == 0)
		return -1;
	if (slash)
		n = snprintf(buf, cap, "%.*s/%s", (int)(slash - path), path,
			     name);
	else
		n = snprintf(buf, cap, "%s", name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int take_order(void *ctx, const mes_order_t *o)
{
	*(mes_order_t *)ctx = *o;
	return 0;
}

report_status_t report_latest_order(mes_t *m, char *name, size_t cap,
				    char *err, size_t errcap)
{
	mes_order_t last;
	mes_err_t e;

	if (!m || !name || cap == 0)
		return fail(err, errcap, REPORT_ERR_PARAM, "latest order: "
							   "bad argument");
	memset(&last, 0, sizeof last);
	e = mes_list_orders(m, take_order, &last);
	if (e != MES_OK)
		return mes_failed(m, e, err, errcap, "reading the orders");
	if (last.id == 0)
		return fail(err, errcap, REPORT_ERR_NOT_FOUND,
			    "the database has no order yet");
	if (strlen(last.name) >= cap)
		return fail(err, errcap, REPORT_ERR_PARAM,
			    "latest order: name too long");
	memcpy(name, last.name, strlen(last.name) + 1);
	return REPORT_OK;
}

/* ---------------------------------------------------------- the model */

typedef struct {
	mes_wafer_t w;
	int has_grinding;
	mes_grinding_t g;
	int64_t dies;
	int64_t bins[LINE_BINS]; /* [0]: a bin this program does not know */
} wafer_info_t;

typedef struct {
	mes_lot_t lot;
	mes_yields_t y;
	wafer_info_t *w;
	size_t nw, capw;
	int nomem; /* a wafer could not be kept */
} lot_info_t;

typedef struct {
	mes_order_t o;
	mes_yields_t y;
	mes_counts_t c;
	lot_info_t *l;
	size_t nl, capl;
	int nomem; /* a lot could not be kept */
} order_info_t;

typedef struct {
	order_info_t *o;
	size_t no, capo;
	int nomem; /* an order could not be kept */
	int every;	     /* every order of the database */
	mes_counts_t all;    /* counts of the whole database (every) */
	const char *backend; /* "sqlite" or "postgresql" */
} model_t;

/* Room for one more element of size sz in *v (n used, *cap allocated). */
static int grow(void *v, size_t n, size_t *cap, size_t sz)
{
	void **p = v;
	size_t c;
	void *q;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 8;
	q = realloc(*p, c * sz);
	if (!q)
		return -1;
	memset((char *)q + *cap * sz, 0, (c - *cap) * sz);
	*p = q;
	*cap = c;
	return 0;
}

static void model_free(model_t *md)
{
	for (size_t i = 0; i < md->no; i++) {
		for (size_t j = 0; j < md->o[i].nl; j++)
			free(md->o[i].l[j].w);
		free(md->o[i].l);
	}
	free(md->o);
	memset(md, 0, sizeof *md);
}

static int add_order(void *ctx, const mes_order_t *o)
{
	model_t *md = ctx;

	if (grow(&md->o, md->no, &md->capo, sizeof *md->o)) {
		md->nomem = 1;
		return 1;
	}
	md->o[md->no++].o = *o;
	return 0;
}

static int add_lot(void *ctx, const mes_lot_t *lot)
{
	order_info_t *o = ctx;

	if (grow(&o->l, o->nl, &o->capl, sizeof *o->l)) {
		o->nomem = 1;
		return 1;
	}
	o->l[o->nl++].lot = *lot;
	return 0;
}

static int add_wafer(void *ctx, const mes_wafer_t *w)
{
	lot_info_t *l = ctx;

	if (grow(&l->w, l->nw, &l->capw, sizeof *l->w)) {
		l->nomem = 1;
		return 1;
	}
	l->w[l->nw++].w = *w;
	return 0;
}

static int count_die(void *ctx, const mes_die_t *d)
{
	wafer_info_t *w = ctx;

	w->dies++;
	w->bins[d->bin >= 1 && d->bin < LINE_BINS ? d->bin : 0]++;
	return 0;
}

static report_status_t load_wafer(mes_t *m, wafer_info_t *w, char *err,
				  size_t cap)
{
	mes_err_t e = mes_find_grinding(m, w->w.id, &w->g);

	if (e == MES_OK)
		w->has_grinding = 1;
	else if (e != MES_ERR_NOT_FOUND)
		return mes_failed(m, e, err, cap, "reading grinding");
	e = mes_list_dies(m, w->w.id, count_die, w);
	if (e != MES_OK)
		return mes_failed(m, e, err, cap, "reading dies");
	return REPORT_OK;
}

static report_status_t load_order(mes_t *m, order_info_t *o, char *err,
				  size_t cap)
{
	report_status_t st;
	mes_err_t e;

	e = mes_yields_order(m, o->o.id, &o->y);
	if (e == MES_OK)
		e = mes_counts(m, o->o.id, &o->c);
	if (e != MES_OK)
		return mes_failed(m, e, err, cap, "reading yields and counts");
	e = mes_list_lots(m, o->o.id, add_lot, o);
	if (e != MES_OK)
		return mes_failed(m, e, err, cap, "reading lots");
	if (o->nomem)
		return fail(err, cap, REPORT_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < o->nl; i++) {
		lot_info_t *l = &o->l[i];
		e = mes_yields_lot(m, l->lot.id, &l->y);
		if (e != MES_OK)
			return mes_failed(m, e, err, cap, "reading lot yields");
		e = mes_list_wafers(m, l->lot.id, add_wafer, l);
		if (e != MES_OK)
			return mes_failed(m, e, err, cap, "reading wafers");
		if (l->nomem)
			return fail(err, cap, REPORT_ERR_NOMEM,
				    "out of memory");
		for (size_t j = 0; j < l->nw; j++) {
			st = load_wafer(m, &l->w[j], err, cap);
			if (st != REPORT_OK)
				return st;
		}
	}
	return REPORT_OK;
}

static report_status_t model_load(mes_t *m, const char *order, model_t *md,
				  char *err, size_t cap)
{
	report_status_t st;
	mes_err_t e;

	memset(md, 0, sizeof *md);
	md->backend = mes_backend(m);
	if (order) {
		mes_order_t o;
		e = mes_find_order(m, order, &o);
		if (e == MES_ERR_NOT_FOUND)
			return fail(err, cap, REPORT_ERR_NOT_FOUND,
				    "no order named \"%s\"", order);
		if (e != MES_OK)
			return mes_failed(m, e, err, cap, "reading the order");
		if (add_order(md, &o))
			return fail(err, cap, REPORT_ERR_NOMEM, "out of memory");
	} else {
		md->every = 1;
		e = mes_list_orders(m, add_order, md);
		if (e == MES_OK)
			e = mes_counts(m, 0, &md->all);
		if (e != MES_OK)
			return mes_failed(m, e, err, cap, "reading the orders");
		if (md->nomem)
			return fail(err, cap, REPORT_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < md->no; i++) {
		st = load_order(m, &md->o[i], err, cap);
		if (st != REPORT_OK)
			return st;
	}
	return REPORT_OK;
}

/* ---------------------------------------------------------- formatting */

static const char *const part_names[MES_YIELD_PARTS] = {
	"probe", "grinding", "module", "card body", "init", "perso"
};

static const char *status_name(mes_order_status_t s)
{
	switch (s) {
	case MES_ORDER_OPEN:
		return "open";
	case MES_ORDER_RUNNING:
		return "running";
	case MES_ORDER_DONE:
		return "done";
	case MES_ORDER_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

static const char *stage_name(mes_stage_t s)
{
	switch (s) {
	case MES_STAGE_BUILT:
		return "built";
	case MES_STAGE_INITIALIZED:
		return "initialized";
	case MES_STAGE_ISSUED:
		return "issued";
	case MES_STAGE_REJECTED:
		return "rejected";
	}
	return "unknown";
}

/* "2026-09-21 08:00:00 UTC"; "-" for no time. */
static const char *when(int64_t us, char *buf, size_t cap)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us <= 0 || !gmtime_r(&t, &tm) ||
	    strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, cap, "-");
	return buf;
}

/* A yield as text: "84.0%", or "-" when nothing entered the part. */
static const char *pct(const mes_yield_t *y, char *buf, size_t cap)
{
	if (y->in == 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.1f%%", y->pct);
	return buf;
}

/* Text from the database for a terminal: control characters (an escape
 * sequence in a name) become '?'. */
static const char *clean(const char *s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[i] = '\0';
	return buf;
}

/* ---------------------------------------------------------- text */

/* The wafers listed (not the count read a moment before: a line may be
 * adding some while the report reads). */
static size_t wafer_count(const order_info_t *o)
{
	size_t n = 0;

	for (size_t i = 0; i < o->nl; i++)
		n += o->l[i].nw;
	return n;
}

static int lot_width(const order_info_t *o)
{
	int w = 3; /* "lot" */

	for (size_t i = 0; i < o->nl; i++) {
		int n = (int)strlen(o->l[i].lot.name);
		if (n > w)
			w = n;
	}
	return w;
}

/* The six parts' yields, one a line; with a lot column of width lw
 * (name on the first line) if lw > 0. */
static void text_yields(FILE *f, const mes_yields_t *y, int lw,
			const char *name)
{
	char p[16];

	for (int i = 0; i < MES_YIELD_PARTS; i++) {
		const mes_yield_t *q = &y->part[i];
		if (lw > 0)
			fprintf(f, "  %-*s", lw, i == 0 ? name : "");
		fprintf(f, "  %-9s  %-6s  %10lld  %10lld  %7s\n",
			part_names[i], q->unit, (long long)q->in,
			(long long)q->out, pct(q, p, sizeof p));
	}
}

static void text_counts(FILE *f, const mes_counts_t *c, int every)
{
	const struct {
		const char *name;
		int64_t v;
	} rows[] = {
		{ "lots", c->lots },
		{ "wafers", c->wafers },
		{ "dies", c->dies },
		{ "good dies", c->good_dies },
		{ "chips", c->chips },
		{ "modules", c->modules },
		{ "card bodies", c->cards },
		{ "  built", c->built },
		{ "  initialized", c->initialized },
		{ "  issued", c->issued },
		{ "  rejected", c->rejected },
		{ "  claimed now", c->claimed },
		{ "holders", c->holders },
		{ "  issued a card", c->holders_issued },
		{ "init runs", c->init_runs },
		{ "perso runs", c->perso_runs },
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		fprintf(f, "  %-16s %10lld\n", rows[i].name,
			(long long)rows[i].v);
	fprintf(f, "  %-16s %10lld%s\n", "events", (long long)c->events,
		every ? "" : "  (whole database)");
}

static void text_order(FILE *f, const order_info_t *o)
{
	char b1[MES_FIELDS_MAX], b2[MES_FIELDS_MAX], t[40], p[16];
	int lw = lot_width(o);

	fprintf(f, "Order %s\n", clean(o->o.name, b1, sizeof b1));
	fprintf(f, "  profile   %s (hash %s)\n",
		clean(o->o.profile_name, b1, sizeof b1),
		clean(o->o.profile_hash, b2, sizeof b2));
	fprintf(f, "  quantity  %lld cards ordered\n",
		(long long)o->o.quantity);
	fprintf(f, "  status    %s\n", status_name(o->o.status));
	fprintf(f, "  created   %s\n", when(o->o.created_us, t, sizeof t));

	fprintf(f, "\nYields per part\n");
	fprintf(f, "  %-9s  %-6s  %10s  %10s  %7s\n", "part", "unit", "in",
		"out", "yield");
	text_yields(f, &o->y, 0, "");

	fprintf(f, "\nYields per lot\n");
	if (o->nl == 0)
		fprintf(f, "  (no lot)\n");
	else
		fprintf(f, "  %-*s  %-9s  %-6s  %10s  %10s  %7s\n", lw, "lot",
			"part", "unit", "in", "out", "yield");
	for (size_t i = 0; i < o->nl; i++)
		text_yields(f, &o->l[i].y, lw,
			    clean(o->l[i].lot.name, b1, sizeof b1));

	fprintf(f, "\nWafers\n");
	if (wafer_count(o) == 0) {
		fprintf(f, "  (no wafer)\n");
	} else {
		fprintf(f,
			"  %-*s  %5s  %6s  %6s  %10s  %6s  %7s  %5s  %7s  "
			"%12s  %s\n",
			lw, "lot", "wafer", "dies", "good", "functional",
			"short", "leakage", "other", "yield", "thickness",
			"grinding");
	}
	for (size_t i = 0; i < o->nl; i++) {
		const lot_info_t *l = &o->l[i];
		clean(l->lot.name, b1, sizeof b1);
		for (size_t j = 0; j < l->nw; j++) {
			const wafer_info_t *w = &l->w[j];
			mes_yield_t y = { MES_PART_PROBE, "die", w->dies,
					  w->bins[LINE_BIN_GOOD], 0 };
			char th[32];
			if (y.in)
				y.pct = 100.0 * (double)y.out / (double)y.in;
			if (w->has_grinding)
				snprintf(th, sizeof th, "%.2f um",
					 w->g.thickness_um);
			else
				snprintf(th, sizeof th, "-");
			fprintf(f,
				"  %-*s  %5d  %6lld  %6lld  %10lld  %6lld  "
				"%7lld  %5lld  %7s  %12s  %s\n",
				lw, b1, w->w.index, (long long)w->dies,
				(long long)w->bins[LINE_BIN_GOOD],
				(long long)w->bins[LINE_BIN_FUNCTIONAL],
				(long long)w->bins[LINE_BIN_SHORT],
				(long long)w->bins[LINE_BIN_LEAKAGE],
				(long long)w->bins[0], pct(&y, p, sizeof p),
				th,
				!w->has_grinding ? "not ground" :
				w->g.pass	 ? "pass" :
						   "fail");
		}
	}

	fprintf(f, "\nCounts\n");
	text_counts(f, &o->c, 0);
}

static void text_model(FILE *f, const model_t *md)
{
	if (md->no == 0)
		fprintf(f, "The database has no order yet.\n");
	for (size_t i = 0; i < md->no; i++) {
		if (i)
			fprintf(f, "\n\n");
		text_order(f, &md->o[i]);
	}
	if (md->every) {
		fprintf(f, "\n\nWhole database (%zu order%s)\n", md->no,
			md->no == 1 ? "" : "s");
		text_counts(f, &md->all, 1);
	}
}

report_status_t report_text(mes_t *m, const char *order, FILE *f, char *err,
			    size_t errcap)
{
	report_status_t st;
	model_t md;

	if (!m || !f)
		return fail(err, errcap, REPORT_ERR_PARAM,
			    "text report: no database or no output");
	st = model_load(m, order, &md, err, errcap);
	if (st == REPORT_OK) {
		text_model(f, &md);
		if (fflush(f) != 0 || ferror(f))
			st = fail(err, errcap, REPORT_ERR_IO,
				  "writing the report: %s", strerror(errno));
	}
	model_free(&md);
	return st;
}

/* ---------------------------------------------------------- HTML */

/* Text into HTML, element content or a quoted attribute alike. */
static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
		}
	}
}

/* At most max bytes of s, cut at a character boundary and marked with
 * '~': a label that must not overlap its neighbours. The full text is in
 * the bar's tooltip. */
static void esc_short(FILE *f, const char *s, size_t max)
{
	char b[MES_NAME_MAX];
	size_t n = strlen(s);

	if (n <= max || max + 2 > sizeof b) {
		esc(f, s);
		return;
	}
	n = max - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--; /* not inside a UTF-8 sequence */
	memcpy(b, s, n);
	memcpy(b + n, "~", 2);
	esc(f, b);
}

static const char css[] =
	"body{font-family:system-ui,sans-serif;margin:2em;color:#222;"
	"max-width:80em}\n"
	"h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #2e9e44}"
	"\n"
	"table{border-collapse:collapse;margin:.5em 0 1.5em}\n"
	"th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right;"
	"font-variant-numeric:tabular-nums}\n"
	"th{background:#f3f3f3}\n"
	"td.t,th.t{text-align:left}\n"
	"td.fail{color:#d62728}\n"
	".figs{display:flex;flex-wrap:wrap;gap:1em}\n"
	"figure{margin:0;border:1px solid #ddd;padding:.5em}\n"
	"figcaption{font-size:.9em;color:#555}\n"
	"p.note{color:#555;font-size:.9em}\n";

static void html_yield_row(FILE *f, const mes_yield_t *y, const char *lot,
			   int first)
{
	char p[16];

	fputs("<tr>", f);
	if (lot) {
		fputs("<td class=\"t\">", f);
		if (first)
			esc(f, lot);
		fputs("</td>", f);
	}
	fprintf(f,
		"<td class=\"t\">%s</td><td class=\"t\">%s</td><td>%lld</td>"
		"<td>%lld</td><td>%s</td></tr>\n",
		part_names[y->part - MES_PART_PROBE], y->unit,
		(long long)y->in, (long long)y->out, pct(y, p, sizeof p));
}

/*
 * The yield of one part in every lot of the order: a bar a lot (the
 * height is the yield; a lot where nothing entered the part has no bar),
 * and the order's yield as a dashed line.
 */
static void html_chart(FILE *f, const order_info_t *o, int part)
{
	const double x0 = 44, y0 = 28, pw = 300, ph = 150;
	const mes_yield_t *oy = &o->y.part[part];
	double bw = o->nl ? pw / (double)o->nl : pw;
	char p[16];

	fprintf(f,
		"<figure><svg xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"360\" height=\"220\" viewBox=\"0 0 360 220\" "
		"font-family=\"sans-serif\" font-size=\"11\">\n"
		"<title>%s yield per lot</title>\n"
		"<text x=\"%.0f\" y=\"16\" font-size=\"13\">%s yield per lot "
		"(%s)</text>\n",
		part_names[part], x0, part_names[part], oy->unit);
	for (int g = 0; g <= 100; g += 25) {
		double y = y0 + ph - ph * g / 100.0;
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"#dddddd\"/><text x=\"%.1f\" y=\"%.1f\" "
			"text-anchor=\"end\">%d%%</text>\n",
			x0, y, x0 + pw, y, x0 - 4, y + 4, g);
	}
	for (size_t i = 0; i < o->nl; i++) {
		const mes_yield_t *y = &o->l[i].y.part[part];
		double h = y->in ? ph * y->pct / 100.0 : 0;
		double x = x0 + bw * (double)i;
		double gap = bw > 6 ? bw * 0.15 : 0;
		fprintf(f,
			"<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			"height=\"%.2f\" fill=\"%s\"><title>",
			x + gap, y0 + ph - h, bw - 2 * gap > 0.5 ? bw - 2 * gap : 0.5,
			h, y->pct >= oy->pct ? "#2e9e44" : "#ff9f1c");
		esc(f, o->l[i].lot.name);
		fprintf(f, ": %lld of %lld, %s</title></rect>\n",
			(long long)y->out, (long long)y->in,
			pct(y, p, sizeof p));
		if (o->nl <= 8) {
			fprintf(f,
				"<text x=\"%.2f\" y=\"%.1f\" "
				"text-anchor=\"middle\">",
				x + bw / 2, y0 + ph + 14);
			esc_short(f, o->l[i].lot.name, 12);
			fputs("</text>\n", f);
		}
	}
	if (oy->in) {
		double y = y0 + ph - ph * oy->pct / 100.0;
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\" "
			"stroke=\"#222222\" stroke-dasharray=\"4 3\"/>\n",
			x0, y, x0 + pw, y);
	}
	fprintf(f,
		"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		"stroke=\"#555555\"/>\n</svg>\n"
		"<figcaption>%s: order %s (%lld of %lld, dashed line); "
		"lots at or above it green, below orange</figcaption>"
		"</figure>\n",
		x0, y0 + ph, x0 + pw, y0 + ph, part_names[part],
		pct(oy, p, sizeof p), (long long)oy->out, (long long)oy->in);
}

static void html_counts(FILE *f, const mes_counts_t *c)
{
	fprintf(f,
		"<table><tr><th class=\"t\">records</th><th>count</th></tr>\n"
		"<tr><td class=\"t\">lots</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">wafers</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">dies</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">good dies</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">chips</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">modules</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">card bodies</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">&#8195;built</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">&#8195;initialized</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">&#8195;issued</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">&#8195;rejected</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">&#8195;claimed now</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">holders</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">&#8195;issued a card</td><td>%lld</td>"
		"</tr>\n"
		"<tr><td class=\"t\">init runs</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">perso runs</td><td>%lld</td></tr>\n"
		"<tr><td class=\"t\">events (whole database)</td><td>%lld</td>"
		"</tr>\n</table>\n",
		(long long)c->lots, (long long)c->wafers, (long long)c->dies,
		(long long)c->good_dies, (long long)c->chips,
		(long long)c->modules, (long long)c->cards,
		(long long)c->built, (long long)c->initialized,
		(long long)c->issued, (long long)c->rejected,
		(long long)c->claimed, (long long)c->holders,
		(long long)c->holders_issued, (long long)c->init_runs,
		(long long)c->perso_runs, (long long)c->events);
}

/* The dies of one wafer as the line draws them, from the database. */
typedef struct {
	line_die_t *d;
	size_t n, cap;
	const mes_wafer_t *w;
	int nomem;
} map_t;

static int map_die(void *ctx, const mes_die_t *md)
{
	map_t *mp = ctx;
	line_die_t *d;

	if (grow(&mp->d, mp->n, &mp->cap, sizeof *mp->d)) {
		mp->nomem = 1;
		return 1;
	}
	d = &mp->d[mp->n++];
	memset(d, 0, sizeof *d);
	d->x = md->x;
	d->y = md->y;
	/* The fab's grid: die (i, j) centred at (i * w, j * h). */
	d->cx_mm = md->x * mp->w->die_w_mm;
	d->cy_mm = md->y * mp->w->die_h_mm;
	d->bin = md->bin;
	d->idd_ua = md->idd_ua;
	d->vdd_v = md->vdd_v;
	d->leakage_na = md->leakage_na;
	return 0;
}

static report_status_t html_map(FILE *f, mes_t *m, const lot_info_t *l,
				const wafer_info_t *w, char *err, size_t cap)
{
	map_t mp = { NULL, 0, 0, &w->w, 0 };
	line_params_t p;
	char title[MES_NAME_MAX + 32];
	char *svg;
	mes_err_t e;

	e = mes_list_dies(m, w->w.id, map_die, &mp);
	if (e != MES_OK) {
		free(mp.d);
		return mes_failed(m, e, err, cap, "reading dies");
	}
	if (mp.nomem) {
		free(mp.d);
		return fail(err, cap, REPORT_ERR_NOMEM, "out of memory");
	}
	line_params_default(&p);
	p.wafer_diameter_mm = w->w.diameter_mm > 0 ? w->w.diameter_mm : 1;
	p.die_w_mm = w->w.die_w_mm;
	p.die_h_mm = w->w.die_h_mm;
	snprintf(title, sizeof title, "%s wafer %d", l->lot.name, w->w.index);
	svg = line_wafer_svg(&p, mp.d, mp.n, title);
	free(mp.d);
	if (!svg)
		return fail(err, cap, REPORT_ERR_NOMEM, "out of memory");
	fputs("<figure>", f);
	fputs(svg, f);
	free(svg);
	fputs("<figcaption>", f);
	esc(f, l->lot.name);
	fprintf(f, " wafer %d: %lld dies, %lld good</figcaption></figure>\n",
		w->w.index, (long long)w->dies,
		(long long)w->bins[LINE_BIN_GOOD]);
	return REPORT_OK;
}

static report_status_t html_order(FILE *f, mes_t *m, const order_info_t *o,
				  char *err, size_t cap)
{
	char t[40], p[16];
	report_status_t st;

	fputs("<section>\n<h2>Order ", f);
	esc(f, o->o.name);
	fputs("</h2>\n<table>\n<tr><th class=\"t\">profile</th>"
	      "<td class=\"t\">",
	      f);
	esc(f, o->o.profile_name);
	fputs(" (hash ", f);
	esc(f, o->o.profile_hash);
	fprintf(f,
		")</td></tr>\n<tr><th class=\"t\">quantity</th>"
		"<td class=\"t\">%lld cards ordered</td></tr>\n"
		"<tr><th class=\"t\">status</th><td class=\"t\">%s</td></tr>\n"
		"<tr><th class=\"t\">created</th><td class=\"t\">%s</td></tr>\n"
		"</table>\n",
		(long long)o->o.quantity, status_name(o->o.status),
		when(o->o.created_us, t, sizeof t));

	fputs("<h3>Yields per part</h3>\n<table><tr><th class=\"t\">part</th>"
	      "<th class=\"t\">unit</th><th>in</th><th>out</th><th>yield</th>"
	      "</tr>\n",
	      f);
	for (int i = 0; i < MES_YIELD_PARTS; i++)
		html_yield_row(f, &o->y.part[i], NULL, 0);
	fputs("</table>\n<div class=\"figs\">\n", f);
	for (int i = 0; i < MES_YIELD_PARTS; i++)
		html_chart(f, o, i);
	fputs("</div>\n", f);

	fputs("<h3>Yields per lot</h3>\n", f);
	if (o->nl == 0) {
		fputs("<p class=\"note\">No lot.</p>\n", f);
	} else {
		fputs("<table><tr><th class=\"t\">lot</th><th class=\"t\">part"
		      "</th><th class=\"t\">unit</th><th>in</th><th>out</th>"
		      "<th>yield</th></tr>\n",
		      f);
		for (size_t i = 0; i < o->nl; i++)
			for (int j = 0; j < MES_YIELD_PARTS; j++)
				html_yield_row(f, &o->l[i].y.part[j],
					       o->l[i].lot.name, j == 0);
		fputs("</table>\n", f);
	}

	fputs("<h3>Counts</h3>\n", f);
	html_counts(f, &o->c);

	fputs("<h3>Wafers</h3>\n", f);
	if (wafer_count(o) == 0) {
		fputs("<p class=\"note\">No wafer.</p>\n</section>\n", f);
		return REPORT_OK;
	}
	fputs("<table><tr><th class=\"t\">lot</th><th>wafer</th><th>dies</th>"
	      "<th>good</th><th>functional</th><th>short</th><th>leakage</th>"
	      "<th>other</th><th>yield</th><th>thickness (um)</th>"
	      "<th class=\"t\">grinding</th></tr>\n",
	      f);
	for (size_t i = 0; i < o->nl; i++) {
		const lot_info_t *l = &o->l[i];
		for (size_t j = 0; j < l->nw; j++) {
			const wafer_info_t *w = &l->w[j];
			mes_yield_t y = { MES_PART_PROBE, "die", w->dies,
					  w->bins[LINE_BIN_GOOD], 0 };
			if (y.in)
				y.pct = 100.0 * (double)y.out / (double)y.in;
			fputs("<tr><td class=\"t\">", f);
			esc(f, l->lot.name);
			fprintf(f,
				"</td><td>%d</td><td>%lld</td><td>%lld</td>"
				"<td>%lld</td><td>%lld</td><td>%lld</td>"
				"<td>%lld</td><td>%s</td>",
				w->w.index, (long long)w->dies,
				(long long)w->bins[LINE_BIN_GOOD],
				(long long)w->bins[LINE_BIN_FUNCTIONAL],
				(long long)w->bins[LINE_BIN_SHORT],
				(long long)w->bins[LINE_BIN_LEAKAGE],
				(long long)w->bins[0], pct(&y, p, sizeof p));
			if (w->has_grinding)
				fprintf(f,
					"<td>%.2f</td><td class=\"t%s\">%s"
					"</td></tr>\n",
					w->g.thickness_um,
					w->g.pass ? "" : " fail",
					w->g.pass ? "pass" : "fail");
			else
				fputs("<td>-</td><td class=\"t\">not ground"
				      "</td></tr>\n",
				      f);
		}
	}
	fputs("</table>\n<div class=\"figs\">\n", f);
	for (size_t i = 0; i < o->nl; i++)
		for (size_t j = 0; j < o->l[i].nw; j++) {
			st = html_map(f, m, &o->l[i], &o->l[i].w[j], err, cap);
			if (st != REPORT_OK)
				return st;
		}
	fputs("</div>\n</section>\n", f);
	return REPORT_OK;
}

static report_status_t html_model(FILE *f, mes_t *m, const model_t *md,
				  const char *order, char *err, size_t cap)
{
	char t[40];
	report_status_t st;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n<title>cardfab report: ",
	      f);
	esc(f, order ? order : "every order");
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
	fputs("<h1>Production report: ", f);
	esc(f, order ? order : "every order");
	fprintf(f,
		"</h1>\n<p class=\"note\">Read from the %s database on %s. "
		"Yields: units that passed a part of those that entered it; "
		"a card counts once however many runs it had.</p>\n",
		md->backend, when(mes_now_us(), t, sizeof t));
	if (md->no == 0)
		fputs("<p>The database has no order yet.</p>\n", f);
	for (size_t i = 0; i < md->no; i++) {
		st = html_order(f, m, &md->o[i], err, cap);
		if (st != REPORT_OK)
			return st;
	}
	if (md->every) {
		fprintf(f, "<section>\n<h2>Whole database (%zu order%s)</h2>\n",
			md->no, md->no == 1 ? "" : "s");
		html_counts(f, &md->all);
		fputs("</section>\n", f);
	}
	fputs("</body>\n</html>\n", f);
	return REPORT_OK;
}

/* fsync of the folder that holds path, so that a rename in it is on
 * disk. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else if ((size_t)(slash - path) < sizeof dir)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	else
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

report_status_t report_html(mes_t *m, const char *order, const char *path,
			    char *err, size_t errcap)
{
	report_status_t st;
	char tmp[4200];
	model_t md;
	FILE *f;
	int fd;

	if (!m || !path || !path[0])
		return fail(err, errcap, REPORT_ERR_PARAM,
			    "HTML report: no database or no path");
	if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >=
	    (int)sizeof tmp)
		return fail(err, errcap, REPORT_ERR_PARAM, "%s: path too long",
			    path);
	st = model_load(m, order, &md, err, errcap);
	if (st != REPORT_OK) {
		model_free(&md);
		return st;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		model_free(&md);
		return fail(err, errcap, REPORT_ERR_IO, "%s: %s", tmp,
			    strerror(errno));
	}
	/* A report is for reading by others: not mkstemp's 0600. */
	if (fchmod(fd, 0644) != 0 || !(f = fdopen(fd, "w"))) {
		st = fail(err, errcap, REPORT_ERR_IO, "%s: %s", tmp,
			  strerror(errno));
		close(fd);
		unlink(tmp);
		model_free(&md);
		return st;
	}
	st = html_model(f, m, &md, order, err, errcap);
	model_free(&md);
	if (st == REPORT_OK &&
	    (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
		st = fail(err, errcap, REPORT_ERR_IO, "%s: %s", tmp,
			  strerror(errno ? errno : EIO));
	if (fclose(f) != 0 && st == REPORT_OK)
		st = fail(err, errcap, REPORT_ERR_IO, "%s: %s", tmp,
			  strerror(errno));
	if (st == REPORT_OK && rename(tmp, path) != 0)
		st = fail(err, errcap, REPORT_ERR_IO, "%s: %s", path,
			  strerror(errno));
	if (st != REPORT_OK) {
		unlink(tmp);
		return st;
	}
	if (sync_dir(path) != 0)
		return fail(err, errcap, REPORT_ERR_IO,
			    "%s: written, but its folder could not be synced: "
			    "%s",
			    path, strerror(errno));
	return REPORT_OK;
}

/* ---------------------------------------------------------- trace */

static void value(FILE *f, const char *name, double v, const char *fmt,
		  const char *unit)
{
	fprintf(f, ", %s ", name);
	if (isnan(v)) {
		fputs("not measured", f);
	} else {
		fprintf(f, fmt, v);
		fprintf(f, " %s", unit);
	}
}

static void run_line(FILE *f, const char *part, const mes_run_info_t *r,
		     const char *ok)
{
	char b[MES_TEXT_MAX], t1[40], t2[40];

	if (!r->id) {
		fprintf(f, "%-11s none yet\n", part);
		return;
	}
	fprintf(f, "%-11s run %lld at station %s: ", part, (long long)r->id,
		r->station[0] ? clean(r->station, b, sizeof b) : "(none)");
	if (r->outcome == MES_RUN_OK)
		fputs(ok, f);
	else
		fprintf(f, "rejected (%s)", clean(r->reason, b, sizeof b));
	fprintf(f, ", %s to %s (%.3f s)\n", when(r->start_us, t1, sizeof t1),
		when(r->end_us, t2, sizeof t2),
		(double)(r->end_us - r->start_us) / 1e6);
}

void report_print_genealogy(FILE *f, const mes_genealogy_t *g)
{
	char b1[MES_FIELDS_MAX], b2[MES_FIELDS_MAX], t[40], t2[MES_NAME_MAX];

	fprintf(f, "%-11s %s (model %s, transport key %s)\n", "chip",
		clean(g->chip.serial, b1, sizeof b1),
		clean(g->chip.model, b2, sizeof b2),
		g->chip.transport_key_ref[0] ?
			clean(g->chip.transport_key_ref, t2, sizeof t2) :
			"none");
	if (g->order.id)
		fprintf(f, "%-11s %s (profile %s, %lld cards, %s)\n", "order",
			clean(g->order.name, b1, sizeof b1),
			clean(g->order.profile_name, b2, sizeof b2),
			(long long)g->order.quantity,
			status_name(g->order.status));
	fprintf(f, "%-11s %s (fab %s, created %s)\n", "lot",
		clean(g->lot.name, b1, sizeof b1),
		clean(g->lot.fab, b2, sizeof b2),
		when(g->lot.created_us, t, sizeof t));
	fprintf(f, "%-11s %d (%g mm, dies %g x %g mm)\n", "wafer",
		g->wafer.index, g->wafer.diameter_mm, g->wafer.die_w_mm,
		g->wafer.die_h_mm);
	fprintf(f, "%-11s x %d, y %d: bin %d (%s)", "die", g->die.x, g->die.y,
		g->die.bin, line_bin_name(g->die.bin));
	value(f, "IDD", g->die.idd_ua, "%.1f", "uA");
	value(f, "Vdd min", g->die.vdd_v, "%.3f", "V");
	value(f, "leakage", g->die.leakage_na, "%.2f", "nA");
	fprintf(f, ", probed %s\n", when(g->die.probed_us, t, sizeof t));
	if (g->has_grinding)
		fprintf(f, "%-11s %.2f um (spec %g to %g um): %s, measured %s\n",
			"grinding", g->grinding.thickness_um,
			g->grinding.spec_min_um, g->grinding.spec_max_um,
			g->grinding.pass ? "pass" : "fail",
			when(g->grinding.measured_us, t, sizeof t));
	else
		fprintf(f, "%-11s none yet\n", "grinding");
	if (g->module.id)
		fprintf(f, "%-11s %s: test %s, ATR %s, tested %s\n", "module",
			clean(g->module.serial, b1, sizeof b1),
			g->module.test_pass ? "passed" : "failed",
			g->module.atr_hex[0] ?
				clean(g->module.atr_hex, b2, sizeof b2) :
				"none",
			when(g->module.tested_us, t, sizeof t));
	else
		fprintf(f, "%-11s none yet\n", "module");
	if (g->card.id)
		fprintf(f, "%-11s %s: embedding %s, printing %s, stage %s, "
			   "made %s\n",
			"card body", clean(g->card.serial, b1, sizeof b1),
			g->card.embed_pass ? "passed" : "failed",
			g->card.print_pass ? "passed" : "failed",
			stage_name(g->card.stage),
			when(g->card.made_us, t, sizeof t));
	else
		fprintf(f, "%-11s none yet\n", "card body");
	fputs(g->chip.cplc.set ? "CPLC\n" : "CPLC        nothing stamped\n", f);
	for (int i = 0; i < MES_CPLC_FIELDS; i++) {
		if (!(g->chip.cplc.set & (1u << i)))
			continue;
		fprintf(f, "  %-33s %0*X\n",
			mes_cplc_field_name((mes_cplc_field_t)i),
			(int)(2 * mes_cplc_field_len((mes_cplc_field_t)i)),
			(unsigned)g->chip.cplc.v[i]);
	}
	run_line(f, "init", &g->init, "OK");
	run_line(f, "perso", &g->perso, "issued");
	if (g->holder.id) {
		fprintf(f, "%-11s %s\n", "holder",
			clean(g->holder.ref, b1, sizeof b1));
		fprintf(f, "%-11s %s\n", "  fields",
			g->holder.fields[0] ?
				clean(g->holder.fields, b2, sizeof b2) :
				"(none)");
	} else {
		fprintf(f, "%-11s none (not issued)\n", "holder");
	}
}

report_status_t report_trace_serial(mes_t *m, const char *serial, FILE *f,
				    char *err, size_t errcap)
{
	char up[MES_SERIAL_MAX];
	mes_genealogy_t g;
	mes_err_t e;
	size_t i;

	if (!m || !serial || !serial[0] || !f)
		return fail(err, errcap, REPORT_ERR_PARAM,
			    "trace: no database, serial or output");
	e = mes_trace_chip(m, serial, &g);
	if (e == MES_ERR_NOT_FOUND)
		e = mes_trace_card(m, serial, &g);
	/* Serials are upper-case hex; people type them in lower case. */
	for (i = 0; serial[i] && i + 1 < sizeof up; i++)
		up[i] = (char)toupper((unsigned char)serial[i]);
	up[i] = '\0';
	if (e == MES_ERR_NOT_FOUND && strcmp(up, serial) != 0) {
		e = mes_trace_chip(m, up, &g);
		if (e == MES_ERR_NOT_FOUND)
			e = mes_trace_card(m, up, &g);
	}
	if (e == MES_ERR_NOT_FOUND) {
		char b[MES_SERIAL_MAX];
		return fail(err, errcap, REPORT_ERR_NOT_FOUND,
			    "no chip or card with serial %s",
			    clean(serial, b, sizeof b));
	}
	if (e != MES_OK)
		return mes_failed(m, e, err, errcap, "trace");
	report_print_genealogy(f, &g);
	if (fflush(f) != 0 || ferror(f))
		return fail(err, errcap, REPORT_ERR_IO, "writing: %s",
			    strerror(errno));
	return REPORT_OK;
}

report_status_t report_trace_holder(mes_t *m, const char *order,
				    const char *ref, FILE *f, char *err,
				    size_t errcap)
{
	char b[MES_NAME_MAX], ob[MES_NAME_MAX];
	mes_genealogy_t g;
	mes_order_t o;
	mes_err_t e;

	if (!m || !ref || !ref[0] || !f)
		return fail(err, errcap, REPORT_ERR_PARAM,
			    "trace: no database, holder id or output");
	memset(&o, 0, sizeof o);
	if (order) {
		e = mes_find_order(m, order, &o);
		if (e == MES_ERR_NOT_FOUND)
			return fail(err, errcap, REPORT_ERR_NOT_FOUND,
				    "no order named \"%s\"",
				    clean(order, b, sizeof b));
		if (e != MES_OK)
			return mes_failed(m, e, err, errcap, "trace");
	}
	e = mes_trace_holder(m, o.id, ref, &g);
	if (e == MES_ERR_NOT_FOUND)
		return fail(err, errcap, REPORT_ERR_NOT_FOUND,
			    "no card issued to holder %s%s%s",
			    clean(ref, b, sizeof b), order ? " in order " : "",
			    order ? clean(order, ob, sizeof ob) : "");
	if (e != MES_OK)
		return mes_failed(m, e, err, errcap, "trace");
	report_print_genealogy(f, &g);
	if (fflush(f) != 0 || ferror(f))
		return fail(err, errcap, REPORT_ERR_IO, "writing: %s",
			    strerror(errno));
	return REPORT_OK;
}
