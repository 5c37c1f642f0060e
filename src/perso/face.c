/*
 * face.c - the card face of one holder as an SVG document (face.h says
 * what; docs/perso.md, "Card face", what the document holds).
 *
 * How it works: one growing string, with a sticky error flag so that the
 * drawing code appends without checking every call; the result is
 * returned only when nothing failed. Numbers are written by hand in
 * thousandths of a millimetre, never with printf's %f or %g, whose
 * decimal point follows the locale: a program that calls setlocale()
 * must not get "85,6" in its SVG, and the same input must give the same
 * bytes everywhere.
 *
 * Text goes through one filter (put_text): UTF-8 is decoded strictly (no
 * overlong forms, no surrogates, nothing past U+10FFFF), every byte that
 * is not part of a valid sequence becomes U+FFFD, and so does every
 * character XML 1.0 cannot carry or a printer should not get (C0 and C1
 * controls, DEL, U+FFFE, U+FFFF); & < > " ' become entities. It counts
 * the characters it writes, for the width estimate that decides whether
 * a text must be squeezed into its box.
 *
 * The font is not known here (the printer's), so widths are estimated:
 * 0.55 em a character, about the average advance of a sans-serif face.
 * A text estimated wider than its box gets textLength = the box's width
 * with lengthAdjust="spacingAndGlyphs", which makes the renderer fit it
 * exactly whatever the font; a shorter text is left alone.
 */
#include "perso/face.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- layout */

/* ISO/IEC 7810 ID-1 corner radius. */
#define CORNER_R 3.18

/* Around and between the two sides, and the band above them that holds
 * the labels. */
#define MARGIN 2.0
#define GAP 6.0
#define LABEL_BAND 6.0
#define LABEL_SIZE 3.5

/* ISO/IEC 7816-2 contacts, mm from the left and top edges of the front:
 * C1..C4 in the left column, C5..C8 in the right, each at least 2.0 x
 * 1.7 mm; together they span the contact field 10.25..19.87 x
 * 19.23..28.55 mm (profile_check() warns about boxes over it). */
#define CONTACT_X0 10.25
#define CONTACT_X1 19.87
#define CONTACT_Y0 19.23
#define CONTACT_Y1 28.55
#define CONTACT_W 2.0
#define CONTACT_H 1.7
static const double contact_col[2] = { 10.25, 17.87 };
static const double contact_row[4] = { 19.23, 21.77, 24.31, 26.85 };

/* Estimated advance of a character, in em. */
#define EM_PER_CHAR 0.55
/* Where the glyphs of a sans-serif face reach, in em from the baseline:
 * capitals above, descenders below. */
#define CAP_HEIGHT 0.70
#define DESCENT 0.21

/* The serial on the back: its box's inset from the card's edges. */
#define SERIAL_SIZE 2.0
#define SERIAL_INSET 3.0

#define FONT_FAMILY "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"

/* ---------------------------------------------------------------- buffer */

typedef struct {
	char *s;
	size_t n, cap;
	int err; /* sticky: an append failed */
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t len)
{
	if (b->err)
		return;
	if (len >= b->cap - b->n || b->s == NULL) {
		size_t cap = b->cap ? b->cap : 4096;
		while (len >= cap - b->n) {
			if (cap > SIZE_MAX / 2) {
				b->err = 1;
				return;
			}
			cap *= 2;
		}
		char *ns = realloc(b->s, cap);
		if (ns == NULL) {
			b->err = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, len);
	b->n += len;
	b->s[b->n] = '\0';
}

static void sb_puts(sb_t *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Integers and ASCII strings only: nothing locale-dependent. */
static void sb_printf(sb_t *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof tmp) {
		b->err = 1;
		return;
	}
	sb_put(b, tmp, (size_t)k);
}

/* Millimetres: rounded to thousandths, no trailing zeros ("85.6", "3",
 * "-0.25"). Callers keep values within +-1e6 (checked on entry). */
static void sb_mm(sb_t *b, double v)
{
	long long m = (long long)(v * 1000.0 + (v < 0 ? -0.5 : 0.5));
	int neg = m < 0;
	long long a = neg ? -m : m;
	char frac[5];
	int k;

	if (a == 0)
		neg = 0; /* no "-0" */
	k = snprintf(frac, sizeof frac, ".%03lld", a % 1000);
	while (k > 0 && frac[k - 1] == '0')
		frac[--k] = '\0';
	if (k == 1)
		frac[0] = '\0'; /* just the '.' left */
	sb_printf(b, "%s%lld%s", neg ? "-" : "", a / 1000, frac);
}

/* An attribute: ` name="number"`. */
static void sb_attr_mm(sb_t *b, const char *name, double v)
{
	sb_printf(b, " %s=\"", name);
	sb_mm(b, v);
	sb_puts(b, "\"");
}

/* ---------------------------------------------------------------- text */

/* The length of the valid UTF-8 sequence at s (1..4) with its code point
 * in *cp, or 0 when s[0] starts none (RFC 3629, table 3-7 of Unicode:
 * shortest form, no surrogates, at most U+10FFFF). The NUL terminator is
 * never a continuation byte, so the scan cannot run past it. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		*cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		*cp = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		*cp = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	*cp = (*cp << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3F);
	}
	return len;
}

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Append s as XML character data (or an attribute value): see the file's
 * comment. Returns the number of characters written. */
static size_t put_text(sb_t *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t count = 0;

	while (*u) {
		uint32_t cp = 0;
		size_t len = utf8_next(u, &cp);

		count++;
		if (len == 0) {
			sb_puts(b, REPLACEMENT);
			u++;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFFFE ||
		    cp == 0xFFFF) {
			sb_puts(b, REPLACEMENT);
		} else {
			switch (cp) {
			case '&':
				sb_puts(b, "&amp;");
				break;
			case '<':
				sb_puts(b, "&lt;");
				break;
			case '>':
				sb_puts(b, "&gt;");
				break;
			case '"':
				sb_puts(b, "&quot;");
				break;
			case '\'':
				sb_puts(b, "&apos;");
				break;
			default:
				sb_put(b, (const char *)u, len);
				break;
			}
		}
		u += len;
	}
	return count;
}

/* ---------------------------------------------------------------- drawing */

typedef struct {
	double x, y, w, h, font_size;
	int align, bold;
} box_t;

/*
 * One text in its box, as a <text> element of class cls. Horizontally at
 * the box's left edge, centre or right edge (text-anchor start, middle,
 * end). Vertically the capitals are centred in the box; when the box is
 * too low for that to keep descenders inside, the baseline goes up until
 * they are. scratch holds the escaped text (it is measured before the
 * element's attributes are written).
 */
static void draw_text(sb_t *b, sb_t *scratch, const char *ind, const box_t *x,
		      const char *cls, const char *text)
{
	static const char *const anchor[3] = { "start", "middle", "end" };
	double fs = x->font_size;
	double ax, base;
	size_t chars;
	int align = x->align >= 0 && x->align <= 2 ? x->align : 0;

	scratch->n = 0;
	if (scratch->s)
		scratch->s[0] = '\0';
	chars = put_text(scratch, text);
	if (scratch->err) {
		b->err = 1;
		return;
	}

	ax = align == 0 ? x->x : align == 1 ? x->x + x->w / 2 : x->x + x->w;
	base = x->y + x->h / 2 + fs * CAP_HEIGHT / 2;
	if (base + fs * DESCENT > x->y + x->h)
		base = x->y + x->h - fs * DESCENT;

	sb_puts(b, ind);
	sb_puts(b, "<text class=\"");
	put_text(b, cls);
	sb_puts(b, "\"");
	sb_attr_mm(b, "x", ax);
	sb_attr_mm(b, "y", base);
	sb_attr_mm(b, "font-size", fs);
	if (x->bold)
		sb_puts(b, " font-weight=\"bold\"");
	sb_printf(b, " text-anchor=\"%s\"", anchor[align]);
	if ((double)chars * EM_PER_CHAR * fs > x->w) {
		sb_attr_mm(b, "textLength", x->w);
		sb_puts(b, " lengthAdjust=\"spacingAndGlyphs\"");
	}
	sb_puts(b, ">");
	sb_put(b, scratch->s ? scratch->s : "", scratch->n);
	sb_puts(b, "</text>\n");
}

static void draw_rect(sb_t *b, const char *ind, const char *cls, double x,
		      double y, double w, double h, double r, const char *fill,
		      const char *stroke, double stroke_w)
{
	sb_printf(b, "%s<rect class=\"%s\"", ind, cls);
	sb_attr_mm(b, "x", x);
	sb_attr_mm(b, "y", y);
	sb_attr_mm(b, "width", w);
	sb_attr_mm(b, "height", h);
	if (r > 0) {
		sb_attr_mm(b, "rx", r);
		sb_attr_mm(b, "ry", r);
	}
	sb_printf(b, " fill=\"%s\" stroke=\"%s\"", fill, stroke);
	sb_attr_mm(b, "stroke-width", stroke_w);
	sb_puts(b, "/>\n");
}

/* The contact plate and its eight contacts, C1..C4 then C5..C8. */
static void draw_contacts(sb_t *b)
{
	sb_puts(b, "      <g class=\"contacts\">\n");
	draw_rect(b, "        ", "contact-field", CONTACT_X0, CONTACT_Y0,
		  CONTACT_X1 - CONTACT_X0, CONTACT_Y1 - CONTACT_Y0, 0.5,
		  "#d4af37", "#8a6d1e", 0.1);
	for (int col = 0; col < 2; col++)
		for (int row = 0; row < 4; row++) {
			char cls[16];
			snprintf(cls, sizeof cls, "contact c%d",
				 col * 4 + row + 1);
			draw_rect(b, "        ", cls, contact_col[col],
				  contact_row[row], CONTACT_W, CONTACT_H, 0.2,
				  "#e8c766", "#8a6d1e", 0.08);
		}
	sb_puts(b, "      </g>\n");
}

static int finite_mm(double v)
{
	return isfinite(v) && v > -1e6 && v < 1e6;
}

/* One side's items, in the profile's order. */
static void draw_items(sb_t *b, sb_t *scratch, const profile_t *p,
		       const profile_face_t *f, int back,
		       const char *const *values, size_t nvalues)
{
	size_t nfields = 0;
	const profile_field_t *fields = profile_fields(p, &nfields);

	for (size_t i = 0; i < f->n; i++) {
		const profile_face_item_t *it = &f->items[i];
		box_t x = { it->x,	   it->y,     it->w,   it->h,
			    it->font_size, it->align, it->bold };
		const char *text;
		char cls[96];

		if ((it->back != 0) != back)
			continue;
		if (it->field >= 0) {
			size_t fi = (size_t)it->field;
			if (fields == NULL || fi >= nfields ||
			    fields[fi].secret)
				continue;
			text = fi < nvalues ? values[fi] : NULL;
			snprintf(cls, sizeof cls, "field-%s",
				 fields[fi].name ? fields[fi].name : "");
		} else {
			text = it->text;
			snprintf(cls, sizeof cls, "text");
		}
		if (text == NULL || text[0] == '\0')
			continue;
		draw_text(b, scratch, "      ", &x, cls, text);
	}
}

/* ---------------------------------------------------------------- document */

char *perso_face_svg(const profile_t *p, const char *const *values,
		     size_t nvalues, const char *serial)
{
	const profile_face_t *f;
	const profile_info_t *info;
	sb_t b = { 0 }, scratch = { 0 };
	double w, h, tw, th, top;

	if (p == NULL || (values == NULL && nvalues > 0))
		return NULL;
	f = profile_face(p);
	if (f == NULL || (f->items == NULL && f->n > 0))
		return NULL;
	w = f->width;
	h = f->height;
	if (!finite_mm(w) || !finite_mm(h) || w <= 0 || h <= 0)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		const profile_face_item_t *it = &f->items[i];
		if (!finite_mm(it->x) || !finite_mm(it->y) ||
		    !finite_mm(it->w) || !finite_mm(it->h) ||
		    !finite_mm(it->font_size))
			return NULL;
	}
	info = profile_info(p);

	tw = 2 * MARGIN + 2 * w + GAP;
	th = 2 * MARGIN + LABEL_BAND + h;
	top = MARGIN + LABEL_BAND;

	sb_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	sb_puts(&b,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"");
	sb_printf(&b, " width=\"");
	sb_mm(&b, tw);
	sb_puts(&b, "mm\" height=\"");
	sb_mm(&b, th);
	sb_puts(&b, "mm\" viewBox=\"0 0 ");
	sb_mm(&b, tw);
	sb_puts(&b, " ");
	sb_mm(&b, th);
	sb_puts(&b, "\">\n");
	sb_puts(&b, "  <title>Card face");
	if (info && info->name && info->name[0]) {
		sb_puts(&b, ": ");
		put_text(&b, info->name);
	}
	sb_puts(&b, "</title>\n");
	sb_puts(&b, "  <g font-family=\"" FONT_FAMILY "\" fill=\"#000\">\n");

	/* Labels above each side. */
	for (int side = 0; side < 2; side++) {
		sb_printf(&b, "    <text class=\"label\"");
		sb_attr_mm(&b, "x", MARGIN + side * (w + GAP));
		sb_attr_mm(&b, "y", MARGIN + LABEL_SIZE);
		sb_attr_mm(&b, "font-size", LABEL_SIZE);
		sb_printf(&b, ">%s</text>\n", side ? "Back" : "Front");
	}

	/* Each side: the outline, then what is printed on it. */
	for (int side = 0; side < 2; side++) {
		sb_printf(&b, "    <g id=\"%s\" transform=\"translate(",
			  side ? "back" : "front");
		sb_mm(&b, MARGIN + side * (w + GAP));
		sb_puts(&b, " ");
		sb_mm(&b, top);
		sb_puts(&b, ")\">\n");
		draw_rect(&b, "      ", "card", 0, 0, w, h, CORNER_R, "#fff",
			  "#000", 0.2);
		if (!side)
			draw_contacts(&b);
		draw_items(&b, &scratch, p, f, side, values, nvalues);
		if (side && serial && serial[0]) {
			sb_t label = { 0 };
			box_t x = { SERIAL_INSET,
				    h - SERIAL_INSET - 2.5,
				    w - 2 * SERIAL_INSET,
				    2.5,
				    SERIAL_SIZE,
				    2,
				    0 };
			sb_puts(&label, "Serial ");
			sb_puts(&label, serial);
			if (label.err)
				b.err = 1;
			else
				draw_text(&b, &scratch, "      ", &x, "serial",
					  label.s);
			free(label.s);
		}
		sb_puts(&b, "    </g>\n");
	}

	sb_puts(&b, "  </g>\n</svg>\n");
	free(scratch.s);
	if (b.err) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
