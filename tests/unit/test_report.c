/*
 * test_report.c - production reports and genealogy (src/line/report.c)
 * against the database they read.
 *
 * A small order is made by the line simulator (parts 2 to 5) into a
 * scratch SQLite file, then initialization and personalization runs and
 * holders are recorded through the MES (some rejected), with names and
 * fields that need escaping. The checks read the same file with the
 * sqlite3 API, independently of the MES:
 *
 *   text      every yield per part and per lot, every wafer's die count
 *             by bin and grinding, every count, equal to COUNT(*)s
 *   HTML      a whole document, one chart per part and one wafer map per
 *             wafer, tags balanced, names escaped, legend counts equal
 *             to the database's, written by rename (no temporary left,
 *             mode 0644), nothing written on failure
 *   every     every order, and the latest one
 *   trace     the genealogy printed for sampled chips (issued, rejected,
 *             not embedded) equals the database row by row; by chip, card,
 *             lower-case serial and holder alike; unknown serials refused
 *   open      a missing SQLite file is refused, not created; default
 *             paths of the HTML
 *
 * Run as `test_report --make-db URL` (a SQLite path or a PostgreSQL URL),
 * it only makes that database and
 * exits: tests/unit/test_report_cli.sh uses it to test the commands.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <sqlite3.h>

#include "line/line.h"
#include "line/report.h"
#include "mes/mes.h"

/* Needs escaping in HTML; a terminal must not get the escape byte. */
#define ORDER_NAME "R&D <\"pilot\"> 'one'"
#define HOLDER_FIELDS "{\"name\":\"<script>alert(1)</script>\",\"t\":\"\x1b[31m\"}"

/* ---------------------------------------------------------- the order */

static int test_code(void *ctx, const uint8_t serial[8], uint8_t code[8],
		     char *key_ref, size_t cap)
{
	char hex[17];

	(void)ctx;
	for (int i = 0; i < 8; i++)
		code[i] = (uint8_t)(serial[i] ^ 0x5A ^ (0x13 * i));
	line_serial_hex(serial, hex);
	snprintf(key_ref, cap, "transport/%s", hex);
	return 0;
}

static void small_params(line_params_t *p, const char *order, uint32_t prefix,
			 const char *lot_prefix)
{
	line_params_default(p);
	p->order_name = order;
	p->seed = 7;
	p->start_us = INT64_C(1790000000) * 1000000;
	p->lots = 2;
	p->wafers_per_lot = 2;
	p->wafer_diameter_mm = 100;
	p->die_w_mm = 8;
	p->die_h_mm = 8;
	p->edge_width_mm = 4;
	p->module_defect_rate = 0.05;
	p->embed_defect_rate = 0.05;
	p->print_defect_rate = 0.05;
	p->grind_sigma_um = 8; /* some wafers out of spec */
	p->serial_prefix = prefix;
	p->lot_prefix = lot_prefix;
	p->transport = test_code;
	p->batch = 16;
}

static sqlite3 *db_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
					 NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The integer a query gives (one row, one column). */
static long long q1(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *st;
	long long v;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs the line for an order, then init and perso runs on its cards:
 * about one in nine init runs and one in seven perso runs rejected. */
static void make_order(mes_t *m, const char *dbpath, const char *name,
		       uint32_t prefix, const char *lot_prefix, int runs)
{
	line_params_t p;
	line_t *l = NULL;
	char err[256] = "";
	mes_station_t si, sp;
	int64_t *cards, order_id;
	size_t n = 0, cap = 4096;
	mes_holder_t *h;
	mes_run_t *r;

	small_params(&p, name, prefix, lot_prefix);
	if (line_open(&p, m, &l, err, sizeof err) != LINE_OK)
		fail_msg("line_open: %s", err);
	if (line_run(l, NULL, NULL, NULL) != LINE_OK)
		fail_msg("line_run: %s", line_error_detail(l));
	order_id = line_order_id(l);
	line_close(l);
	if (!runs)
		return;

	/* The BUILT cards, found from the dies through the MES alone, so
	 * that --make-db works on PostgreSQL as well. */
	(void)dbpath;
	cards = calloc(cap, sizeof *cards);
	assert_non_null(cards);
	{
		size_t nd = 0, got;
		line_die_t *d;
		mes_genealogy_t *g = malloc(sizeof *g);
		assert_non_null(g);
		assert_int_equal(line_wafer_map(&p, 0, 0, NULL, 0, &nd),
				 LINE_OK);
		d = calloc(nd, sizeof *d);
		assert_non_null(d);
		for (unsigned lot = 0; lot < p.lots; lot++)
			for (unsigned w = 0; w < p.wafers_per_lot; w++) {
				assert_int_equal(line_wafer_map(&p, lot, w, d,
								nd, &got),
						 LINE_OK);
				for (size_t i = 0; i < got && n < cap; i++) {
					char hex[17];
					if (d[i].bin != LINE_BIN_GOOD)
						continue;
					line_serial_hex(d[i].serial, hex);
					assert_int_equal(mes_trace_chip(m, hex,
									g),
							 MES_OK);
					if (g->card.id &&
					    g->card.stage == MES_STAGE_BUILT)
						cards[n++] = g->card.id;
				}
			}
		free(d);
		free(g);
	}
	assert_true(n > 20);

	memset(&si, 0, sizeof si);
	snprintf(si.name, sizeof si.name, "init-%s", lot_prefix);
	si.kind = MES_STATION_INIT;
	assert_int_equal(mes_register_station(m, &si), MES_OK);
	memset(&sp, 0, sizeof sp);
	snprintf(sp.name, sizeof sp.name, "perso-%s", lot_prefix);
	sp.kind = MES_STATION_PERSO;
	snprintf(sp.host, sizeof sp.host, "host-b");
	assert_int_equal(mes_register_station(m, &sp), MES_OK);

	h = calloc(n, sizeof *h);
	r = calloc(n, sizeof *r);
	assert_non_null(h);
	assert_non_null(r);
	for (size_t i = 0; i < n; i++) {
		h[i].order_id = order_id;
		snprintf(h[i].ref, sizeof h[i].ref, "H-%04zu", i);
		snprintf(h[i].fields, sizeof h[i].fields, "%s", HOLDER_FIELDS);
	}
	assert_int_equal(mes_add_holders(m, h, n), MES_OK);
	/* The last card gets no init run: BUILT stays BUILT. */
	for (size_t i = 0; i + 1 < n; i++) {
		r[i].card_id = cards[i];
		r[i].station_id = si.id;
		r[i].start_us = p.start_us + INT64_C(86400000000) * 12 +
				(int64_t)i * 2000000;
		r[i].end_us = r[i].start_us + 1500000;
		r[i].outcome = i % 9 == 4 ? MES_RUN_REJECTED : MES_RUN_OK;
		if (r[i].outcome == MES_RUN_REJECTED)
			snprintf(r[i].reason, sizeof r[i].reason,
				 "SW 6982 <secured>");
	}
	assert_int_equal(mes_add_init_runs(m, r, n - 1), MES_OK);
	size_t k = 0, hi = 0;
	mes_run_t *pr = calloc(n, sizeof *pr);
	assert_non_null(pr);
	for (size_t i = 0; i + 1 < n; i++) {
		if (r[i].outcome != MES_RUN_OK)
			continue;
		pr[k].card_id = cards[i];
		pr[k].station_id = sp.id;
		pr[k].start_us = r[i].end_us + 3600000000;
		pr[k].end_us = pr[k].start_us + 4250000;
		pr[k].outcome = k % 7 == 2 ? MES_RUN_REJECTED : MES_RUN_OK;
		if (pr[k].outcome == MES_RUN_OK)
			pr[k].holder_id = h[hi++].id;
		else
			snprintf(pr[k].reason, sizeof pr[k].reason,
				 "read-back mismatch");
		k++;
	}
	assert_int_equal(mes_add_perso_runs(m, pr, k), MES_OK);
	free(pr);
	free(r);
	free(h);
	free(cards);
}

typedef struct {
	char dir[64];
	char db[128];
	mes_t *m;
} env_t;

static int setup(void **state)
{
	env_t *e = calloc(1, sizeof *e);
	char err[256];

	if (!e)
		return -1;
	snprintf(e->dir, sizeof e->dir, "reporttest.XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	snprintf(e->db, sizeof e->db, "%s/mes.db", e->dir);
	if (mes_open(e->db, &e->m, err, sizeof err) != MES_OK ||
	    mes_migrate(e->m, NULL, NULL) != MES_OK)
		return -1;
	make_order(e->m, e->db, ORDER_NAME, 0xC0DE0001u, "RA", 1);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	env_t *e = *state;
	char cmd[200];

	mes_close(e->m);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		return -1;
	free(e);
	return 0;
}

/* ---------------------------------------------------------- parsing */

typedef struct {
	char *buf;
	size_t len;
} text_t;

static void text_report(mes_t *m, const char *order, text_t *t)
{
	char err[512] = "";
	FILE *f = open_memstream(&t->buf, &t->len);
	report_status_t st;

	assert_non_null(f);
	st = report_text(m, order, f, err, sizeof err);
	fclose(f);
	if (st != REPORT_OK)
		fail_msg("report_text: %s: %s", report_strerror(st), err);
}

/* The line after the one that starts with `head` (from `from`). */
static const char *after_line(const char *from, const char *head)
{
	const char *p = from;

	for (;;) {
		if (strncmp(p, head, strlen(head)) == 0)
			break;
		p = strchr(p, '\n');
		if (!p)
			fail_msg("no line '%s' in the report", head);
		p++;
	}
	p = strchr(p, '\n');
	assert_non_null(p);
	return p + 1;
}

/* Splits one line into whitespace-separated tokens (at most cap). */
static size_t tokens(const char *line, char tok[][96], size_t cap)
{
	size_t n = 0;
	const char *p = line;

	while (*p && *p != '\n' && n < cap) {
		size_t k = 0;
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		while (*p && *p != ' ' && *p != '\n' && k + 1 < 96)
			tok[n][k++] = *p++;
		tok[n++][k] = '\0';
	}
	return n;
}

static const char *next_line(const char *p)
{
	p = strchr(p, '\n');
	assert_non_null(p);
	return p + 1;
}

/* in and out of a yield row: the two numbers before the yield. */
static void yield_row(const char *line, long long *in, long long *out)
{
	char tok[16][96];
	size_t n = tokens(line, tok, 16);

	assert_true(n >= 5);
	*in = atoll(tok[n - 3]);
	*out = atoll(tok[n - 2]);
}

/* (in, out) of each part from the database, restricted by `where` over
 * the die's lot (l) or the card's order (k). */
static void db_yields(sqlite3 *db, const char *die_join, const char *where,
		      long long in[6], long long out[6])
{
	in[0] = q1(db, "SELECT COUNT(*) FROM die d %s WHERE %s", die_join,
		   where);
	out[0] = q1(db, "SELECT COUNT(*) FROM die d %s WHERE d.bin = 1 AND %s",
		    die_join, where);
	in[1] = q1(db,
		   "SELECT COUNT(*) FROM grinding g JOIN wafer w ON "
		   "w.id = g.wafer_id JOIN wafer_lot l ON l.id = w.lot_id "
		   "WHERE %s",
		   where);
	out[1] = q1(db,
		    "SELECT COUNT(*) FROM grinding g JOIN wafer w ON "
		    "w.id = g.wafer_id JOIN wafer_lot l ON l.id = w.lot_id "
		    "WHERE g.pass = 1 AND %s",
		    where);
#define CHAIN                                                           \
	"JOIN die d ON d.id = mo.die_id JOIN wafer w ON w.id = d.wafer_id " \
	"JOIN wafer_lot l ON l.id = w.lot_id "
	in[2] = q1(db, "SELECT COUNT(*) FROM module mo " CHAIN "WHERE %s",
		   where);
	out[2] = q1(db,
		    "SELECT COUNT(*) FROM module mo " CHAIN
		    "WHERE mo.test_pass = 1 AND %s",
		    where);
#define KCHAIN "JOIN module mo ON mo.id = k.module_id " CHAIN
	in[3] = q1(db, "SELECT COUNT(*) FROM card k " KCHAIN "WHERE %s",
		   where);
	out[3] = q1(db,
		    "SELECT COUNT(*) FROM card k " KCHAIN
		    "WHERE k.embed_pass = 1 AND k.print_pass = 1 AND %s",
		    where);
	in[4] = q1(db,
		   "SELECT COUNT(DISTINCT r.card_id) FROM init_run r "
		   "JOIN card k ON k.id = r.card_id " KCHAIN "WHERE %s",
		   where);
	out[4] = q1(db,
		    "SELECT COUNT(DISTINCT r.card_id) FROM init_run r "
		    "JOIN card k ON k.id = r.card_id " KCHAIN
		    "WHERE r.outcome = 1 AND %s",
		    where);
	in[5] = q1(db,
		   "SELECT COUNT(DISTINCT r.card_id) FROM perso_run r "
		   "JOIN card k ON k.id = r.card_id " KCHAIN "WHERE %s",
		   where);
	out[5] = q1(db,
		    "SELECT COUNT(DISTINCT r.card_id) FROM perso_run r "
		    "JOIN card k ON k.id = r.card_id " KCHAIN
		    "WHERE r.outcome = 1 AND %s",
		    where);
#undef KCHAIN
#undef CHAIN
}

#define DIE_JOIN                                \
	"JOIN wafer w ON w.id = d.wafer_id "    \
	"JOIN wafer_lot l ON l.id = w.lot_id"

/* ---------------------------------------------------------- text */

static void test_text_matches_db(void **state)
{
	env_t *e = *state;
	sqlite3 *db = db_open(e->db);
	long long order_id = q1(db, "SELECT MAX(id) FROM production_order");
	long long in[6], out[6], a, b;
	char where[64], tok[16][96];
	const char *p, *rows;
	text_t t = { 0 };
	sqlite3_stmt *st;
	size_t n;

	text_report(e->m, ORDER_NAME, &t);
	/* The order as named, no control characters at all. */
	assert_non_null(strstr(t.buf, "Order " ORDER_NAME "\n"));
	for (size_t i = 0; i < t.len; i++)
		assert_true(t.buf[i] == '\n' || (unsigned char)t.buf[i] >= 0x20);

	/* Per part. */
	snprintf(where, sizeof where, "l.order_id = %lld", order_id);
	db_yields(db, DIE_JOIN, where, in, out);
	assert_true(in[0] > 100 && out[0] > 50 && in[5] > 10);
	assert_true(out[4] < in[4] && out[5] < in[5]); /* rejects */
	assert_true(out[1] <= in[1]);
	p = after_line(t.buf, "  part ");
	for (int i = 0; i < 6; i++, p = next_line(p)) {
		yield_row(p, &a, &b);
		assert_int_equal(a, in[i]);
		assert_int_equal(b, out[i]);
	}

	/* Per lot. */
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT id, name FROM wafer_lot "
					    "ORDER BY id",
					    -1, &st, NULL),
			 SQLITE_OK);
	rows = after_line(t.buf, "Yields per lot");
	n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		long long lot = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		char head[100];
		snprintf(head, sizeof head, "  %s ", name);
		p = strstr(rows, head);
		assert_non_null(p);
		snprintf(where, sizeof where, "l.id = %lld", lot);
		db_yields(db, DIE_JOIN, where, in, out);
		for (int i = 0; i < 6; i++, p = next_line(p)) {
			yield_row(p, &a, &b);
			assert_int_equal(a, in[i]);
			assert_int_equal(b, out[i]);
		}
		n++;
	}
	sqlite3_finalize(st);
	assert_int_equal(n, 2);

	/* Per wafer: dies by bin, grinding. */
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT w.id, l.name, w.idx, "
					    "g.pass FROM wafer w JOIN "
					    "wafer_lot l ON l.id = w.lot_id "
					    "LEFT JOIN grinding g ON "
					    "g.wafer_id = w.id ORDER BY l.id, "
					    "w.idx",
					    -1, &st, NULL),
			 SQLITE_OK);
	p = next_line(after_line(t.buf, "Wafers")); /* below the head */
	n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		long long w = sqlite3_column_int64(st, 0);
		size_t k = tokens(p, tok, 16);
		assert_int_equal(k, 12);
		assert_string_equal(tok[0], sqlite3_column_text(st, 1));
		assert_int_equal(atoll(tok[1]), sqlite3_column_int64(st, 2));
		assert_int_equal(atoll(tok[2]),
				 q1(db,
				    "SELECT COUNT(*) FROM die WHERE "
				    "wafer_id = %lld",
				    w));
		for (int bin = 1; bin <= 4; bin++)
			assert_int_equal(atoll(tok[2 + bin]),
					 q1(db,
					    "SELECT COUNT(*) FROM die WHERE "
					    "wafer_id = %lld AND bin = %d",
					    w, bin));
		assert_int_equal(atoll(tok[7]), 0);
		assert_string_equal(tok[11], sqlite3_column_int(st, 3) ?
						     "pass" :
						     "fail");
		p = next_line(p);
		n++;
	}
	sqlite3_finalize(st);
	assert_int_equal(n, 4);

	/* Counts. */
	static const struct {
		const char *label, *sql;
	} counts[] = {
		{ "  lots ", "SELECT COUNT(*) FROM wafer_lot" },
		{ "  wafers ", "SELECT COUNT(*) FROM wafer" },
		{ "  dies ", "SELECT COUNT(*) FROM die" },
		{ "  good dies ", "SELECT COUNT(*) FROM die WHERE bin = 1" },
		{ "  chips ", "SELECT COUNT(*) FROM chip" },
		{ "  modules ", "SELECT COUNT(*) FROM module" },
		{ "  card bodies ", "SELECT COUNT(*) FROM card" },
		{ "    built ", "SELECT COUNT(*) FROM card WHERE stage = 1" },
		{ "    initialized ",
		  "SELECT COUNT(*) FROM card WHERE stage = 2" },
		{ "    issued ", "SELECT COUNT(*) FROM card WHERE stage = 3" },
		{ "    rejected ", "SELECT COUNT(*) FROM card WHERE stage = 4" },
		{ "  holders ", "SELECT COUNT(*) FROM holder" },
		{ "    issued a card ",
		  "SELECT COUNT(*) FROM holder WHERE issued = 1" },
		{ "  init runs ", "SELECT COUNT(*) FROM init_run" },
		{ "  perso runs ", "SELECT COUNT(*) FROM perso_run" },
		{ "  events ", "SELECT COUNT(*) FROM event" },
	};
	rows = after_line(t.buf, "Counts");
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		p = strstr(rows, counts[i].label);
		assert_non_null(p);
		assert_true(tokens(p + strlen(counts[i].label), tok, 4) >= 1);
		if (atoll(tok[0]) != q1(db, "%s", counts[i].sql))
			fail_msg("%s: report %s, database %lld",
				 counts[i].label, tok[0],
				 q1(db, "%s", counts[i].sql));
	}
	free(t.buf);
	sqlite3_close(db);
}

/* ---------------------------------------------------------- HTML */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static size_t occurrences(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Nothing but the report in the folder: no temporary file left. */
static void only_files(const char *dir, const char *a, const char *b)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, "mes.db", 6) == 0)
			continue;
		if ((a && strcmp(de->d_name, a) == 0) ||
		    (b && strcmp(de->d_name, b) == 0))
			continue;
		fail_msg("unexpected file %s/%s", dir, de->d_name);
	}
	closedir(d);
}

static void test_html(void **state)
{
	env_t *e = *state;
	sqlite3 *db = db_open(e->db);
	char path[200], bad[200], err[512] = "", *html;
	long long nwafers = q1(db, "SELECT COUNT(*) FROM wafer");
	long long good[16], seen[16];
	size_t len, ng = 0;
	struct stat sb;
	sqlite3_stmt *st;
	const char *p;

	snprintf(path, sizeof path, "%s/report.html", e->dir);
	/* An old file is replaced whole. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("old", f);
	fclose(f);
	if (report_html(e->m, ORDER_NAME, path, err, sizeof err) != REPORT_OK)
		fail_msg("report_html: %s", err);
	html = slurp(path, &len);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	only_files(e->dir, "report.html", NULL);

	/* A whole document. */
	assert_true(strncmp(html, "<!DOCTYPE html>\n<html", 21) == 0);
	assert_true(len > 7 && strcmp(html + len - 8, "</html>\n") == 0);
	assert_int_equal(occurrences(html, "<body>"), 1);
	assert_int_equal(occurrences(html, "</body>"), 1);
	assert_int_equal(occurrences(html, "<style>"), 1);
	/* Self-contained: no script, nothing fetched. */
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "href="));
	assert_null(strstr(html, "url("));

	/* A chart per part and a map per wafer, balanced. */
	assert_int_equal(occurrences(html, "<svg"), 6 + nwafers);
	assert_int_equal(occurrences(html, "</svg>"), 6 + nwafers);
	assert_int_equal(occurrences(html, "<table"),
			 occurrences(html, "</table>"));
	assert_int_equal(occurrences(html, "<tr>"),
			 occurrences(html, "</tr>"));
	assert_int_equal(occurrences(html, "<figure>"),
			 occurrences(html, "</figure>"));
	assert_int_equal(occurrences(html, "<section>"),
			 occurrences(html, "</section>"));
	assert_int_equal(occurrences(html, "<title>"),
			 occurrences(html, "</title>"));

	/* The order's name escaped everywhere, never raw. */
	assert_null(strstr(html, ORDER_NAME));
	assert_null(strstr(html, "<\"pilot\">"));
	assert_non_null(strstr(html, "<h2>Order R&amp;D &lt;&quot;pilot&quot;"
				     "&gt; &#39;one&#39;</h2>"));
	for (size_t i = 0; i < len; i++)
		assert_true(html[i] == '\n' || (unsigned char)html[i] >= 0x20);

	/* Each wafer's row and map legend say what the database says. */
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT w.id, w.idx FROM wafer w "
					    "ORDER BY w.lot_id, w.idx",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && ng < 16) {
		long long w = sqlite3_column_int64(st, 0);
		char row[160];
		long long dies = q1(db,
				    "SELECT COUNT(*) FROM die WHERE "
				    "wafer_id = %lld",
				    w);
		good[ng++] = q1(db,
				"SELECT COUNT(*) FROM die WHERE wafer_id = "
				"%lld AND bin = 1",
				w);
		snprintf(row, sizeof row, "</td><td>%d</td><td>%lld</td><td>%lld"
					  "</td>",
			 sqlite3_column_int(st, 1), dies, good[ng - 1]);
		assert_non_null(strstr(html, row));
	}
	sqlite3_finalize(st);
	assert_int_equal(ng, nwafers);
	p = html;
	for (size_t i = 0; i < ng; i++) {
		p = strstr(p, ">1 good: ");
		assert_non_null(p);
		p += 9;
		seen[i] = atoll(p);
	}
	assert_null(strstr(p, ">1 good: "));
	qsort(good, ng, sizeof good[0], cmp_ll);
	qsort(seen, ng, sizeof seen[0], cmp_ll);
	assert_memory_equal(good, seen, ng * sizeof good[0]);

	/* The order's yields, as in the text. */
	{
		char row[200];
		snprintf(row, sizeof row,
			 "<td class=\"t\">probe</td><td class=\"t\">die</td>"
			 "<td>%lld</td><td>%lld</td>",
			 q1(db, "SELECT COUNT(*) FROM die"),
			 q1(db, "SELECT COUNT(*) FROM die WHERE bin = 1"));
		assert_non_null(strstr(html, row));
		snprintf(row, sizeof row,
			 "<td class=\"t\">perso</td><td class=\"t\">card</td>"
			 "<td>%lld</td><td>%lld</td>",
			 q1(db, "SELECT COUNT(DISTINCT card_id) FROM "
				"perso_run"),
			 q1(db, "SELECT COUNT(*) FROM perso_run WHERE "
				"outcome = 1"));
		assert_non_null(strstr(html, row));
	}
	free(html);

	/* A folder that does not exist: an error, nothing written. */
	snprintf(bad, sizeof bad, "%s/no/such/report.html", e->dir);
	assert_int_equal(report_html(e->m, ORDER_NAME, bad, err, sizeof err),
			 REPORT_ERR_IO);
	assert_non_null(strstr(err, "no/such"));
	/* An unknown order: nothing written either. */
	snprintf(bad, sizeof bad, "%s/other.html", e->dir);
	assert_int_equal(report_html(e->m, "ORD-NONE", bad, err, sizeof err),
			 REPORT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "ORD-NONE"));
	only_files(e->dir, "report.html", NULL);
	sqlite3_close(db);
}

/* ---------------------------------------------------------- every order */

static void test_every_order(void **state)
{
	env_t *e = *state;
	char name[MES_NAME_MAX], err[512], path[200], *html;
	text_t t = { 0 };
	mes_counts_t c1, c2, all;
	mes_order_t o1, o2;
	size_t len;

	assert_int_equal(report_latest_order(e->m, name, sizeof name, err,
					     sizeof err),
			 REPORT_OK);
	assert_string_equal(name, ORDER_NAME);
	make_order(e->m, e->db, "ORD-2", 0xC0DE0002u, "RB", 0);
	assert_int_equal(report_latest_order(e->m, name, sizeof name, err,
					     sizeof err),
			 REPORT_OK);
	assert_string_equal(name, "ORD-2");
	assert_int_equal(report_latest_order(e->m, name, 3, err, sizeof err),
			 REPORT_ERR_PARAM);

	text_report(e->m, NULL, &t);
	assert_non_null(strstr(t.buf, "Order " ORDER_NAME "\n"));
	assert_non_null(strstr(t.buf, "\n\n\nOrder ORD-2\n"));
	assert_true(strstr(t.buf, "Order ORD-2") >
		    strstr(t.buf, "Order " ORDER_NAME));
	assert_non_null(strstr(t.buf, "Whole database (2 orders)"));
	assert_int_equal(mes_find_order(e->m, ORDER_NAME, &o1), MES_OK);
	assert_int_equal(mes_find_order(e->m, "ORD-2", &o2), MES_OK);
	assert_int_equal(mes_counts(e->m, o1.id, &c1), MES_OK);
	assert_int_equal(mes_counts(e->m, o2.id, &c2), MES_OK);
	assert_int_equal(mes_counts(e->m, 0, &all), MES_OK);
	assert_int_equal(all.dies, c1.dies + c2.dies);
	{
		char line[80];
		snprintf(line, sizeof line, "  %-16s %10lld\n", "dies",
			 (long long)all.dies);
		assert_non_null(strstr(strstr(t.buf, "Whole database"), line));
		/* ORD-2 had no runs: its init row is all zero. */
		const char *o2s = strstr(t.buf, "Order ORD-2");
		snprintf(line, sizeof line, "  %-9s  %-6s  %10d  %10d  %7s\n",
			 "init", "card", 0, 0, "-");
		assert_non_null(strstr(o2s, line));
	}
	free(t.buf);

	snprintf(path, sizeof path, "%s/all.html", e->dir);
	assert_int_equal(report_html(e->m, NULL, path, err, sizeof err),
			 REPORT_OK);
	html = slurp(path, &len);
	assert_int_equal(occurrences(html, "<h2>Order "), 2);
	assert_int_equal(occurrences(html, "<svg"), 2 * 6 + c1.wafers +
							  c2.wafers);
	assert_non_null(strstr(html, "Whole database (2 orders)"));
	free(html);
}

/* ---------------------------------------------------------- trace */

static char *trace_text(mes_t *m, const char *serial, const char *order,
			const char *holder, report_status_t want)
{
	char *buf = NULL, err[512] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	report_status_t st;

	assert_non_null(f);
	if (serial)
		st = report_trace_serial(m, serial, f, err, sizeof err);
	else
		st = report_trace_holder(m, order, holder, f, err, sizeof err);
	fclose(f);
	if (st != want)
		fail_msg("trace %s: %s: %s", serial ? serial : holder,
			 report_strerror(st), err);
	if (st != REPORT_OK) {
		free(buf);
		buf = strdup(err);
	}
	return buf;
}

static void expect(const char *text, const char *fmt, ...)
{
	char want[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof want, fmt, ap);
	va_end(ap);
	if (!strstr(text, want))
		fail_msg("'%s' not in the genealogy:\n%s", want, text);
}

/* One chip's genealogy against the database, field by field. */
static void check_trace(env_t *e, sqlite3 *db, const char *where)
{
	char sql[2000], serial[40];
	sqlite3_stmt *st;
	char *out;

	snprintf(sql, sizeof sql,
		 "SELECT c.serial, c.model, c.transport_key_ref, d.x, d.y, "
		 "d.bin, w.idx, l.name, l.fab, o.name, "
		 "g.thickness_um, g.pass, mo.serial, mo.atr, mo.test_pass, "
		 "k.serial, k.stage, "
		 "(SELECT ist.name || '|' || ir.outcome || '|' || ir.reason "
		 " FROM init_run ir JOIN station ist ON ist.id = ir.station_id"
		 " WHERE ir.card_id = k.id ORDER BY ir.id DESC LIMIT 1), "
		 "(SELECT pst.name || '|' || pr.outcome || '|' || pr.reason "
		 " FROM perso_run pr JOIN station pst ON pst.id = pr.station_id"
		 " WHERE pr.card_id = k.id ORDER BY pr.id DESC LIMIT 1), "
		 "h.ref, c.cplc_ic_serial, c.cplc_embedding_date, "
		 "c.cplc_module_fabricator "
		 "FROM chip c JOIN die d ON d.id = c.die_id "
		 "JOIN wafer w ON w.id = d.wafer_id "
		 "JOIN wafer_lot l ON l.id = w.lot_id "
		 "JOIN production_order o ON o.id = l.order_id "
		 "LEFT JOIN grinding g ON g.wafer_id = w.id "
		 "LEFT JOIN module mo ON mo.die_id = d.id "
		 "LEFT JOIN card k ON k.module_id = mo.id "
		 "LEFT JOIN card_holder ch ON ch.card_id = k.id "
		 "LEFT JOIN holder h ON h.id = ch.holder_id "
		 "WHERE %s ORDER BY c.id LIMIT 1",
		 where);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no chip where %s", where);
#define TXT(i) ((const char *)sqlite3_column_text(st, i))
#define NUL(i) (sqlite3_column_type(st, i) == SQLITE_NULL)
	snprintf(serial, sizeof serial, "%s", TXT(0));
	out = trace_text(e->m, serial, NULL, NULL, REPORT_OK);
	expect(out, "chip        %s (model %s, transport key %s)\n", serial,
	       TXT(1), TXT(2));
	expect(out, "order       %s (", TXT(9));
	expect(out, "lot         %s (fab %s,", TXT(7), TXT(8));
	expect(out, "wafer       %d (100 mm, dies 8 x 8 mm)\n",
	       sqlite3_column_int(st, 6));
	expect(out, "die         x %d, y %d: bin %d (good)",
	       sqlite3_column_int(st, 3), sqlite3_column_int(st, 4),
	       sqlite3_column_int(st, 5));
	expect(out, "grinding    %.2f um (spec 140 to 160 um): %s",
	       sqlite3_column_double(st, 10),
	       sqlite3_column_int(st, 11) ? "pass" : "fail");
	expect(out, "  ic_serial                         %08llX\n",
	       (unsigned long long)sqlite3_column_int64(st, 20));
	if (NUL(12)) {
		expect(out, "module      none yet\n");
		assert_true(NUL(22));
	} else {
		expect(out, "module      %s: test %s, ATR %s,", TXT(12),
		       sqlite3_column_int(st, 14) ? "passed" : "failed",
		       TXT(13)[0] ? TXT(13) : "none");
		if (!NUL(22))
			expect(out, "  module_fabricator                 %04llX\n",
			       (unsigned long long)sqlite3_column_int64(st,
									22));
	}
	if (NUL(15)) {
		expect(out, "card body   none yet\n");
	} else {
		static const char *const stages[] = { "?", "built",
						      "initialized", "issued",
						      "rejected" };
		expect(out, "card body   %s: ", TXT(15));
		expect(out, ", stage %s, made ",
		       stages[sqlite3_column_int(st, 16)]);
		if (!NUL(21))
			expect(out, "  embedding_date                    %04llX\n",
			       (unsigned long long)sqlite3_column_int64(st,
									21));
	}
	if (NUL(17)) {
		expect(out, "init        none yet\n");
	} else {
		char name[64], reason[128] = "";
		int oc = 0;
		assert_true(sscanf(TXT(17), "%63[^|]|%d|%127[^\n]", name, &oc,
				   reason) >= 2);
		expect(out, "at station %s: %s", name,
		       oc == 1 ? "OK" : "rejected (");
		if (oc != 1)
			expect(out, "rejected (%s)", reason);
	}
	if (NUL(18)) {
		expect(out, "perso       none yet\n");
	} else {
		char name[64], reason[128] = "";
		int oc = 0;
		assert_true(sscanf(TXT(18), "%63[^|]|%d|%127[^\n]", name, &oc,
				   reason) >= 2);
		expect(out, "perso       run ");
		expect(out, "at station %s: %s", name,
		       oc == 1 ? "issued" : "rejected (");
	}
	if (NUL(19)) {
		expect(out, "holder      none (not issued)\n");
	} else {
		char *bycard, *byholder, *lower;
		expect(out, "holder      %s\n", TXT(19));
		/* The holder's fields, the escape byte made harmless. */
		expect(out, "  fields    {\"name\":\"<script>alert(1)</script>\","
			    "\"t\":\"?[31m\"}\n");
		/* The same card whichever way it is found. */
		bycard = trace_text(e->m, TXT(15), NULL, NULL, REPORT_OK);
		assert_string_equal(bycard, out);
		byholder = trace_text(e->m, NULL, TXT(9), TXT(19), REPORT_OK);
		assert_string_equal(byholder, out);
		free(byholder);
		byholder = trace_text(e->m, NULL, NULL, TXT(19), REPORT_OK);
		assert_string_equal(byholder, out);
		free(byholder);
		lower = strdup(serial);
		for (char *q = lower; *q; q++)
			if (*q >= 'A' && *q <= 'F')
				*q = (char)(*q - 'A' + 'a');
		free(bycard);
		bycard = trace_text(e->m, lower, NULL, NULL, REPORT_OK);
		assert_string_equal(bycard, out);
		free(bycard);
		free(lower);
	}
	for (const char *q = out; *q; q++)
		assert_true(*q == '\n' || (unsigned char)*q >= 0x20);
#undef TXT
#undef NUL
	sqlite3_finalize(st);
	free(out);
}

static void test_trace(void **state)
{
	env_t *e = *state;
	sqlite3 *db = db_open(e->db);
	char *err;

	/* Issued; perso rejected; init rejected; built, no run; no card
	 * body (module failed or body lost); not ground into a module. */
	check_trace(e, db, "h.id IS NOT NULL");
	check_trace(e, db,
		    "k.id IN (SELECT card_id FROM perso_run WHERE "
		    "outcome = 2)");
	check_trace(e, db,
		    "k.id IN (SELECT card_id FROM init_run WHERE "
		    "outcome = 2)");
	check_trace(e, db,
		    "k.stage = 1 AND k.id NOT IN (SELECT card_id FROM "
		    "init_run)");
	check_trace(e, db, "mo.id IS NOT NULL AND k.id IS NULL");
	if (q1(db, "SELECT COUNT(*) FROM grinding WHERE pass = 0"))
		check_trace(e, db, "g.pass = 0");

	err = trace_text(e->m, "0123456789ABCDEF", NULL, NULL,
			 REPORT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "no chip or card with serial "
				    "0123456789ABCDEF"));
	free(err);
	err = trace_text(e->m, "bad\x1b[2J", NULL, NULL, REPORT_ERR_NOT_FOUND);
	assert_null(strchr(err, '\x1b'));
	free(err);
	err = trace_text(e->m, NULL, NULL, "H-9999", REPORT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "H-9999"));
	free(err);
	err = trace_text(e->m, NULL, "ORD-NONE", "H-0000",
			 REPORT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "ORD-NONE"));
	free(err);
	sqlite3_close(db);
}

/* ---------------------------------------------------------- opening */

static void test_open_and_paths(void **state)
{
	env_t *e = *state;
	char path[200], err[512], buf[300];
	mes_t *m = NULL;
	struct stat sb;

	snprintf(path, sizeof path, "%s/missing.db", e->dir);
	assert_int_equal(report_open_db(path, &m, err, sizeof err),
			 REPORT_ERR_NOT_FOUND);
	assert_null(m);
	assert_non_null(strstr(err, "missing.db"));
	assert_int_not_equal(stat(path, &sb), 0);
	snprintf(buf, sizeof buf, "sqlite:%s", path);
	assert_int_equal(report_open_db(buf, &m, err, sizeof err),
			 REPORT_ERR_NOT_FOUND);
	assert_int_not_equal(stat(path, &sb), 0);
	assert_int_equal(report_open_db("nosuch://x", &m, err, sizeof err),
			 REPORT_ERR_MES);
	assert_int_equal(report_open_db(e->db, &m, err, sizeof err),
			 REPORT_OK);
	mes_close(m);

	assert_string_equal(report_sqlite_path("sqlite:a/b.db"), "a/b.db");
	assert_string_equal(report_sqlite_path("sqlite:///abs/b.db"),
			    "/abs/b.db");
	assert_string_equal(report_sqlite_path("b.db"), "b.db");
	assert_null(report_sqlite_path("postgresql://h/db"));
	assert_null(report_sqlite_path("postgres:///db?host=/x"));
	assert_int_equal(report_default_html_path("w/x.db", "r.html", buf,
						  sizeof buf),
			 0);
	assert_string_equal(buf, "w/r.html");
	assert_int_equal(report_default_html_path("sqlite:/d/x.db", "r.html",
						  buf, sizeof buf),
			 0);
	assert_string_equal(buf, "/d/r.html");
	assert_int_equal(report_default_html_path("x.db", "r.html", buf,
						  sizeof buf),
			 0);
	assert_string_equal(buf, "r.html");
	assert_int_equal(report_default_html_path("postgresql:///db?host=/s",
						  "r.html", buf, sizeof buf),
			 0);
	assert_string_equal(buf, "r.html");
	assert_int_equal(report_default_html_path("a/b/c.db", "r.html", buf,
						  6),
			 -1);
}

/* ---------------------------------------------------------- main */

/* `test_report --make-db PATH`: the database of the shell test. */
static int make_db(const char *path)
{
	char err[256];
	mes_t *m = NULL;

	if (mes_open(path, &m, err, sizeof err) != MES_OK ||
	    mes_migrate(m, NULL, NULL) != MES_OK) {
		fprintf(stderr, "test_report: %s: %s\n", path, err);
		mes_close(m);
		return 1;
	}
	make_order(m, path, "ORD-CLI-1", 0xC0DE0011u, "CA", 1);
	make_order(m, path, ORDER_NAME, 0xC0DE0012u, "CB", 1);
	mes_close(m);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_matches_db, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_html, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_trace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_and_paths, setup,
						teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--make-db") == 0)
		return make_db(argv[2]);
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
