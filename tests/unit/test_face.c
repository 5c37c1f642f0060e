/*
 * test_face.c - the card face renderer (src/perso/face.c) on the three
 * example profiles: the SVG is well formed (xmllint when installed, a
 * structural check of our own otherwise), every non-empty field is drawn
 * with its value escaped (& < > " '), UTF-8 passes through and bad UTF-8
 * becomes U+FFFD, an empty or NULL value draws nothing, a long value is
 * squeezed into its box, a secret field is never drawn, the layout holds
 * the ID-1 outline and the ISO/IEC 7816-2 contacts, and the output is the
 * same bytes every time, in any locale.
 */
#define _POSIX_C_SOURCE 200809L

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "perso/face.h"

#define XMLLINT "/usr/bin/xmllint"

#define TRICKY "O'Brien & <Sons> \"Zoé\" Müller"
#define TRICKY_ESC "O&apos;Brien &amp; &lt;Sons&gt; &quot;Zoé&quot; Müller"
#define LONG_NAME                                                       \
	"Maximiliane Eleonora Wilhelmina von und zu Hohenzollern-Sigma" \
	"ringen"

/* ------------------------------------------------------------ harness */

static profile_t *open_example(const char *name)
{
	char path[4096];
	const char *src = getenv("CARDFAB_SOURCE_DIR");
	profile_diags_t d;
	profile_t *p = NULL;

	snprintf(path, sizeof path, "%s/profiles/%s.yaml",
		 src && src[0] ? src : "../../..", name);
	profile_diags_init(&d);
	if (profile_open(path, &p, &d) != PROFILE_OK)
		profile_diags_print(stderr, &d);
	profile_diags_free(&d);
	assert_non_null(p);
	return p;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *s = hay; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/* Escaped as the renderer escapes valid UTF-8. */
static void escape(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (; *s; s++) {
		const char *r = NULL;
		char one[2] = { *s, 0 };
		switch (*s) {
		case '&':
			r = "&amp;";
			break;
		case '<':
			r = "&lt;";
			break;
		case '>':
			r = "&gt;";
			break;
		case '"':
			r = "&quot;";
			break;
		case '\'':
			r = "&apos;";
			break;
		default:
			r = one;
			break;
		}
		size_t k = strlen(r);
		assert_true(n + k < cap);
		memcpy(out + n, r, k + 1);
		n += k;
	}
}

/*
 * Without xmllint: tags balanced and properly nested, every '&' starts
 * one of the five entities or a character reference, no '<' or '>' loose
 * in text, attribute values quoted. Enough to catch what an escaping bug
 * would break.
 */
static int structural_check(const char *s)
{
	const char *stack[64];
	size_t stack_len[64];
	int depth = 0, seen_root = 0;

	if (strncmp(s, "<?xml ", 6) != 0)
		return 0;
	s = strstr(s, "?>");
	if (!s)
		return 0;
	s += 2;
	while (*s) {
		if (*s == '&') {
			static const char *const ent[] = { "&amp;",  "&lt;",
							   "&gt;",   "&quot;",
							   "&apos;", "&#" };
			int ok = 0;
			for (size_t i = 0; i < 6; i++)
				ok |= !strncmp(s, ent[i], strlen(ent[i]));
			if (!ok)
				return 0;
			s++;
			continue;
		}
		if (*s == '>')
			return 0;
		if (*s != '<') {
			if (depth == 0 && *s != '\n' && *s != ' ')
				return 0;
			s++;
			continue;
		}
		int closing = s[1] == '/';
		const char *name = s + 1 + closing;
		size_t nl = strcspn(name, " \t\n/>");
		if (nl == 0)
			return 0;
		const char *q = name + nl;
		/* attributes: name="value", no '<' in a value */
		while (*q && *q != '>' && *q != '/') {
			if (*q == '"') {
				const char *e = strchr(q + 1, '"');
				if (!e || memchr(q + 1, '<', (size_t)(e - q)))
					return 0;
				q = e;
			}
			q++;
		}
		int empty = *q == '/';
		if (empty)
			q++;
		if (*q != '>')
			return 0;
		if (closing) {
			if (depth == 0 || stack_len[depth - 1] != nl ||
			    strncmp(stack[depth - 1], name, nl))
				return 0;
			depth--;
		} else if (!empty) {
			if (depth == 0 && seen_root++)
				return 0;
			if (depth == 64)
				return 0;
			stack[depth] = name;
			stack_len[depth++] = nl;
		}
		s = q + 1;
	}
	return depth == 0 && seen_root;
}

/* The fallback check itself must catch what escaping bugs break. */
static void test_structural_check(void **state)
{
	(void)state;
	assert_true(structural_check("<?xml version=\"1.0\"?>\n"
				     "<svg a=\"1\"><text>a &amp; b</text>"
				     "<rect/></svg>\n"));
	assert_false(structural_check("<?xml ?>\n<svg><text>a & b</text>"
				      "</svg>"));
	assert_false(structural_check("<?xml ?>\n<svg><text>a <b</text>"
				      "</svg>"));
	assert_false(structural_check("<?xml ?>\n<svg><text>a</svg>"));
	assert_false(structural_check("<?xml ?>\n<svg a=\"<\"></svg>"));
	assert_false(structural_check("<?xml ?>\n<svg></svg><svg></svg>"));
}

static void check_well_formed(const char *svg, const char *tag)
{
	if (access(XMLLINT, X_OK) != 0) {
		fprintf(stderr,
			"\n    ****************************************\n"
			"    * %s not found (Debian: libxml2-utils):\n"
			"    * SVG checked by a structural check only\n"
			"    ****************************************\n\n",
			XMLLINT);
		assert_true(structural_check(svg));
		return;
	}
	char path[64], cmd[256];
	snprintf(path, sizeof path, "face-%s.svg", tag);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(svg, 1, strlen(svg), f), strlen(svg));
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof cmd, XMLLINT " --noout %s", path);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "    %s: not well formed (see above)\n", path);
	assert_int_equal(rc, 0);
	/* Ours must agree with xmllint on good documents. */
	assert_true(structural_check(svg));
}

/* A value for every field of p: the tricky name, digits of the field's
 * length, a date, a word. values[i] points into store. */
typedef struct {
	const char *v[32];
	char store[32][80];
	size_t n;
} values_t;

static void sample_values(const profile_t *p, values_t *vs)
{
	size_t n;
	const profile_field_t *f = profile_fields(p, &n);

	assert_true(n <= 32);
	memset(vs, 0, sizeof *vs);
	vs->n = n;
	for (size_t i = 0; i < n; i++) {
		char *s = vs->store[i];
		if (!strcmp(f[i].name, "name")) {
			snprintf(s, 80, "%s", TRICKY);
		} else if (f[i].type == PROFILE_FIELD_DIGITS) {
			unsigned len = f[i].max_length ? f[i].max_length : 8;
			for (unsigned k = 0; k < len && k < 79; k++)
				s[k] = (char)('0' + (i + k) % 10);
		} else if (f[i].type == PROFILE_FIELD_DATE) {
			snprintf(s, 80, "2027-06-%02zu", 10 + i);
		} else {
			snprintf(s, 80, "Value %zu <%s>", i, f[i].name);
		}
		vs->v[i] = f[i].secret ? NULL : s;
	}
}

/* ------------------------------------------------------------ tests */

static const char *const examples[] = { "campus", "transit", "loyalty" };

/* Every example: well formed, every field item drawn with its value
 * escaped, the fixed texts, the serial, the same bytes twice. */
static void test_examples(void **state)
{
	(void)state;
	for (size_t e = 0; e < 3; e++) {
		profile_t *p = open_example(examples[e]);
		const profile_face_t *f = profile_face(p);
		size_t nf;
		const profile_field_t *fields = profile_fields(p, &nf);
		values_t vs;
		char esc[512], cls[96];

		sample_values(p, &vs);
		char *svg = perso_face_svg(p, vs.v, vs.n, "CF-0000042");
		assert_non_null(svg);
		check_well_formed(svg, examples[e]);

		size_t items = 0;
		for (size_t i = 0; i < f->n; i++) {
			const profile_face_item_t *it = &f->items[i];
			if (it->field < 0) {
				escape(it->text, esc, sizeof esc);
				assert_non_null(strstr(svg, esc));
				items++;
				continue;
			}
			const char *v = vs.v[it->field];
			if (!v)
				continue;
			escape(v, esc, sizeof esc);
			if (!strstr(svg, esc))
				fprintf(stderr, "    %s: %s missing\n",
					examples[e], esc);
			assert_non_null(strstr(svg, esc));
			snprintf(cls, sizeof cls, "class=\"field-%s\"",
				 fields[it->field].name);
			assert_true(count(svg, cls) >= 1);
			items++;
		}
		/* one <text> an item, two labels, the serial */
		assert_int_equal(count(svg, "<text "), items + 3);
		assert_non_null(strstr(svg, ">Front</text>"));
		assert_non_null(strstr(svg, ">Back</text>"));
		assert_non_null(strstr(svg, ">Serial CF-0000042</text>"));

		/* the name is in every example; raw specials never */
		assert_non_null(strstr(svg, TRICKY_ESC));
		assert_null(strstr(svg, "O'Brien"));
		assert_null(strstr(svg, "<Sons>"));
		assert_null(strstr(svg, "& <"));

		char *again = perso_face_svg(p, vs.v, vs.n, "CF-0000042");
		assert_non_null(again);
		assert_string_equal(svg, again);
		free(again);
		free(svg);
		profile_free(p);
	}
}

/* The drawing: size, outline, contacts, side by side. */
static void test_layout(void **state)
{
	(void)state;
	profile_t *p = open_example("campus");
	char *svg = perso_face_svg(p, NULL, 0, NULL);
	assert_non_null(svg);
	check_well_formed(svg, "layout");

	static const char head[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\"";
	assert_int_equal(strncmp(svg, head, sizeof head - 1), 0);
	/* 2 + 85.6 + 6 + 85.6 + 2 by 2 + 6 + 53.98 + 2 */
	assert_non_null(strstr(svg, "width=\"181.2mm\" height=\"63.98mm\" "
				    "viewBox=\"0 0 181.2 63.98\""));
	assert_int_equal(count(svg, "class=\"card\""), 2);
	assert_int_equal(count(svg, "width=\"85.6\" height=\"53.98\" "
				    "rx=\"3.18\" ry=\"3.18\""),
			 2);
	assert_non_null(
		strstr(svg, "<g id=\"front\" transform=\"translate(2 8)\">"));
	assert_non_null(
		strstr(svg, "<g id=\"back\" transform=\"translate(93.6 8)\">"));
	/* the contact field, gold, and C1..C8 at their ISO positions */
	assert_non_null(strstr(svg, "class=\"contact-field\" x=\"10.25\" "
				    "y=\"19.23\" width=\"9.62\" "
				    "height=\"9.32\""));
	assert_int_equal(count(svg, "class=\"contact c"), 8);
	assert_non_null(
		strstr(svg, "class=\"contact c1\" x=\"10.25\" y=\"19.23\""));
	assert_non_null(
		strstr(svg, "class=\"contact c4\" x=\"10.25\" y=\"26.85\""));
	assert_non_null(
		strstr(svg, "class=\"contact c5\" x=\"17.87\" y=\"19.23\""));
	assert_non_null(
		strstr(svg, "class=\"contact c8\" x=\"17.87\" y=\"26.85\""));
	/* contacts on the front only: between the front's opening and the
	 * back's */
	const char *front = strstr(svg, "id=\"front\"");
	const char *back = strstr(svg, "id=\"back\"");
	const char *c8 = strstr(svg, "contact c8");
	assert_true(front < c8 && c8 < back);
	/* the title: fixed texts with bold and alignment */
	assert_non_null(strstr(svg, "<text class=\"text\" x=\"5\" y=\"8.4\" "
				    "font-size=\"4\" font-weight=\"bold\" "
				    "text-anchor=\"start\">UNIVERSITY OF "
				    "EXAMPLE</text>"));
	/* no value, no field drawn; no serial */
	assert_null(strstr(svg, "field-"));
	assert_null(strstr(svg, "Serial"));
	free(svg);
	profile_free(p);
}

/* An empty or NULL value draws nothing for its item; the others stay. */
static void test_empty_values(void **state)
{
	(void)state;
	profile_t *p = open_example("campus");
	values_t vs;
	int name = profile_field_find(p, "name");
	int faculty = profile_field_find(p, "faculty");

	assert_true(name >= 0 && faculty >= 0);
	sample_values(p, &vs);
	char *full = perso_face_svg(p, vs.v, vs.n, NULL);
	assert_non_null(full);
	assert_int_equal(count(full, "class=\"field-name\""), 1);

	vs.v[name] = NULL;
	vs.v[faculty] = "";
	char *part = perso_face_svg(p, vs.v, vs.n, NULL);
	assert_non_null(part);
	check_well_formed(part, "empty");
	assert_null(strstr(part, "class=\"field-name\""));
	assert_null(strstr(part, "class=\"field-faculty\""));
	assert_null(strstr(part, "Brien"));
	assert_int_equal(count(part, "<text "), count(full, "<text ") - 2);
	assert_non_null(strstr(part, "class=\"field-student-id\""));

	/* fewer values than fields: the rest are empty */
	char *few = perso_face_svg(p, vs.v, 1, NULL);
	assert_non_null(few);
	assert_null(strstr(few, "field-"));
	free(few);
	free(part);
	free(full);
	profile_free(p);
}

/* A value estimated wider than its box gets textLength = the box width;
 * a short one does not. */
static void test_long_value(void **state)
{
	(void)state;
	profile_t *p = open_example("campus");
	values_t vs;
	int name = profile_field_find(p, "name");

	sample_values(p, &vs);
	vs.v[name] = "Ann Lee";
	char *svg = perso_face_svg(p, vs.v, vs.n, NULL);
	assert_non_null(svg);
	const char *t = strstr(svg, "class=\"field-name\"");
	assert_non_null(t);
	const char *end = strstr(t, "</text>");
	assert_non_null(end);
	assert_null(strstr(svg, "textLength"));
	/* name box [24, 22, 58, 6], 3.5 mm: capitals centred, left */
	assert_non_null(strstr(svg, "<text class=\"field-name\" x=\"24\" "
				    "y=\"26.225\" font-size=\"3.5\" "
				    "text-anchor=\"start\">Ann Lee</text>"));
	free(svg);

	/* 66 characters x 0.55 x 3.5 mm = 127 mm > 58 mm */
	vs.v[name] = LONG_NAME;
	svg = perso_face_svg(p, vs.v, vs.n,
			     "A-VERY-LONG-SERIAL-NUMBER-THAT-"
			     "DOES-NOT-FIT-0123456789-0123456789"
			     "-0123456789-0123456789");
	assert_non_null(svg);
	check_well_formed(svg, "long");
	assert_non_null(strstr(
		svg, "<text class=\"field-name\" x=\"24\" "
		     "y=\"26.225\" font-size=\"3.5\" "
		     "text-anchor=\"start\" textLength=\"58\" "
		     "lengthAdjust=\"spacingAndGlyphs\">" LONG_NAME "</text>"));
	/* the serial's box is the back's width less 3 mm each side */
	assert_non_null(strstr(svg, "class=\"serial\""));
	assert_non_null(strstr(svg, "textLength=\"79.6\""));
	assert_int_equal(count(svg, "textLength"), 2);
	free(svg);

	/* characters, not bytes, are counted: 20 two-byte letters fit a
	 * box that 40 ASCII letters would not (58 mm / (0.55 x 3.5) = 30) */
	vs.v[name] = "éééééééééééééééééééé";
	svg = perso_face_svg(p, vs.v, vs.n, NULL);
	assert_non_null(svg);
	assert_null(strstr(svg, "textLength"));
	free(svg);
	profile_free(p);
}

/* UTF-8 passes through; bad bytes and controls become U+FFFD. */
static void test_utf8(void **state)
{
	(void)state;
	profile_t *p = open_example("transit");
	values_t vs;
	int name = profile_field_find(p, "name");

	sample_values(p, &vs);
	vs.v[name] = "Jos\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
	char *svg = perso_face_svg(p, vs.v, vs.n, NULL);
	assert_non_null(svg);
	assert_non_null(strstr(svg, ">José € 😀</text>"));
	free(svg);

	static const struct {
		const char *in, *out;
	} bad[] = {
		{ "A\xc3(B", "A\xef\xbf\xbd(B" }, /* cut sequence */
		{ "A\xff\xfe"
		  "B",
		  "A\xef\xbf\xbd\xef\xbf\xbd"
		  "B" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong '/' */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", /* past U+10FFFF */
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "Z\xe2\x82", "Z\xef\xbf\xbd\xef\xbf\xbd" }, /* cut at end */
		{ "a\x01"
		  "b\tc",
		  "a\xef\xbf\xbd"
		  "b\xef\xbf\xbd"
		  "c" },
		{ "\xc2\x85x\x7f", "\xef\xbf\xbdx\xef\xbf\xbd" }, /* C1, DEL */
		{ "\xef\xbf\xbf", "\xef\xbf\xbd" },		  /* U+FFFF */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[128];
		vs.v[name] = bad[i].in;
		svg = perso_face_svg(p, vs.v, vs.n, NULL);
		assert_non_null(svg);
		snprintf(want, sizeof want, ">%s</text>", bad[i].out);
		if (!strstr(svg, want))
			fprintf(stderr, "    case %zu: %s not found\n", i,
				want);
		assert_non_null(strstr(svg, want));
		if (i == 0 || i == 6) {
			char tag[16];
			snprintf(tag, sizeof tag, "utf8-%zu", i);
			check_well_formed(svg, tag);
		}
		free(svg);
	}
	profile_free(p);
}

/* A face item naming a secret field is an error for the checker; the
 * renderer does not draw it even so. */
static void test_secret(void **state)
{
	(void)state;
	static const char yaml[] =
		"profile: t\n"
		"version: 1\n"
		"chip: cf32\n"
		"features: [transparent, scp03, aes, secure-messaging]\n"
		"scp03: {kvn: 0x30, level: [c-mac, c-dec]}\n"
		"keys:\n"
		"  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: "
		"scp03-enc, diversify: {master: E, method: aes-ecb-serial}}\n"
		"  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes128, usage: "
		"scp03-mac, diversify: {master: M, method: aes-ecb-serial}}\n"
		"  - {name: dek, ref: 3, kvn: 0x30, algorithm: aes128, usage: "
		"scp03-dek, diversify: {master: D, method: aes-ecb-serial}}\n"
		"files:\n"
		"  - {name: id, type: transparent, fid: 0101, size: 16, "
		"access: {read: always, default: sm}}\n"
		"fields:\n"
		"  - {name: id, type: digits, max-length: 10, trace: true, "
		"place: {file: id, offset: 0}}\n"
		"  - {name: s, type: digits, max-length: 4, secret: true}\n"
		"face:\n"
		"  items:\n"
		"    - {field: id, box: [40, 4, 40, 5]}\n"
		"    - {field: s, box: [40, 10, 20, 5]}\n"
		"    - {field: s, box: [40, 10, 20, 5], side: back}\n";
	profile_diags_t d;
	profile_t *p = NULL;

	profile_diags_init(&d);
	profile_load_mem("t.yaml", yaml, strlen(yaml), &p, &d);
	assert_non_null(p);
	assert_int_equal(profile_check(p, &d), PROFILE_ERR_INVALID);
	profile_diags_free(&d);
	int s = profile_field_find(p, "s");
	assert_int_equal(s, 1);
	assert_int_equal(profile_face(p)->items[1].field, s);

	const char *values[2] = { "0123456789", "9753" };
	char *svg = perso_face_svg(p, values, 2, NULL);
	assert_non_null(svg);
	check_well_formed(svg, "secret");
	assert_non_null(strstr(svg, ">0123456789</text>"));
	assert_null(strstr(svg, "9753"));
	assert_null(strstr(svg, "field-s\""));
	free(svg);
	profile_free(p);
}

static void test_bad_args(void **state)
{
	(void)state;
	profile_t *p = open_example("loyalty");
	const char *v[1] = { NULL };

	assert_null(perso_face_svg(NULL, v, 1, NULL));
	assert_null(perso_face_svg(p, NULL, 3, NULL));
	char *svg = perso_face_svg(p, NULL, 0, "");
	assert_non_null(svg);
	assert_null(strstr(svg, "Serial"));
	assert_non_null(strstr(svg, "EXAMPLE STORES LOYALTY"));
	free(svg);
	/* special characters in the serial */
	svg = perso_face_svg(p, v, 1, "<&>");
	assert_non_null(svg);
	assert_non_null(strstr(svg, ">Serial &lt;&amp;&gt;</text>"));
	free(svg);
	profile_free(p);
}

/* A decimal comma in the locale changes nothing. */
static void test_locale(void **state)
{
	(void)state;
	static const char *const commas[] = { "de_DE.UTF-8", "fr_FR.UTF-8",
					      "de_DE.utf8", "C.UTF-8" };
	profile_t *p = open_example("transit");
	values_t vs;

	sample_values(p, &vs);
	char *c = perso_face_svg(p, vs.v, vs.n, "7");
	assert_non_null(c);
	const char *got = NULL;
	for (size_t i = 0; i < 4 && !got; i++)
		got = setlocale(LC_ALL, commas[i]);
	if (!got || strcmp(localeconv()->decimal_point, ","))
		fprintf(stderr,
			"    no locale with a decimal comma here: "
			"compared in %s\n",
			got ? got : "C");
	char *l = perso_face_svg(p, vs.v, vs.n, "7");
	setlocale(LC_ALL, "C");
	assert_non_null(l);
	assert_string_equal(c, l);
	for (const char *k = c; (k = strchr(k, ',')); k++)
		assert_false(k > c && k[-1] >= '0' && k[-1] <= '9');
	free(l);
	free(c);
	profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structural_check),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_locale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
