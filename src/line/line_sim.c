/*
 * line_sim.c - the physics of the line simulator: the keyed PRNG, the
 * wafer map with its probe bins, grinding, module and card body outcomes,
 * dates, the ATR check and the wafer map as SVG.
 *
 * The probe yield model. A die fails for two independent reasons:
 *
 *  - defects: it survives with probability exp(-G * lambda), where G is
 *    a Gamma(alpha, 1/alpha) multiplier (mean 1) that varies smoothly
 *    across the wafer. Its expectation is the negative binomial yield
 *    (1 + lambda/alpha)^-alpha. G is made as chi-square: the sum of k =
 *    2*alpha squared Gaussian fields, each white noise smoothed by a
 *    Gaussian kernel of cluster_radius dies and normalized to N(0,1), over
 *    k. So the marginal of G is exactly Gamma (the yield exactly the
 *    model's) and neighbours share their G: defects cluster.
 *  - edge loss: it survives with probability 1 - edge_loss * exp(-d /
 *    edge_width), d the distance of its far corner to the usable edge.
 *
 * lambda is chosen so that the mean over the wafer's dies of the product
 * of the two expectations is probe_yield.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line/line_int.h"

/* ---------------------------------------------------------- PRNG */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void line_rng_init(line_rng_t *r, uint64_t seed, unsigned purpose, unsigned lot,
		   unsigned wafer, unsigned die)
{
	uint64_t s = mix64(seed ^ UINT64_C(0x6c696e6573696d00));
	s = mix64(s ^ purpose);
	s = mix64(s ^ ((uint64_t)lot << 32 | wafer));
	s = mix64(s ^ die);
	r->s = s;
}

uint64_t line_rng_next(line_rng_t *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(r->s);
}

double line_rng_unit(line_rng_t *r)
{
	return (double)(line_rng_next(r) >> 11) * 0x1.0p-53;
}

double line_rng_normal(line_rng_t *r)
{
	double u1 = line_rng_unit(r), u2 = line_rng_unit(r);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void line_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

/* ---------------------------------------------------------- parameters */

void line_params_default(line_params_t *p)
{
	memset(p, 0, sizeof *p);
	p->profile_name = "none";
	p->profile_hash = "none";
	p->seed = 1;
	p->chip_model = "cf32";
	p->fab_name = "cardfab-fab";
	p->lots = 1;
	p->wafers_per_lot = 1;
	p->wafer_diameter_mm = 200;
	p->edge_exclusion_mm = 3;
	p->die_w_mm = 4;
	p->die_h_mm = 4;
	p->serial_prefix = 0x43460001u;
	p->probe_yield = 0.85;
	p->cluster_alpha = 1.5;
	p->cluster_radius = 2.5;
	p->edge_loss = 0.5;
	p->edge_width_mm = 6;
	p->short_fraction = 0.3;
	p->grind_target_um = 150;
	p->grind_sigma_um = 4;
	p->grind_min_um = 140;
	p->grind_max_um = 160;
	p->module_defect_rate = 0.01;
	p->embed_defect_rate = 0.005;
	p->print_defect_rate = 0.005;
	p->transport_tries = 3;
	p->module_fabricator = 0x4D46;
	p->card_manufacturer = 0x434D;
	p->days_grinding = 2;
	p->days_module = 5;
	p->days_card_body = 9;
	p->batch = 256;
}

static int rate_ok(double r)
{
	return r >= 0 && r <= 1;
}

#define BAD(...)                                 \
	do {                                     \
		snprintf(why, cap, __VA_ARGS__); \
		return LINE_ERR_PARAM;           \
	} while (0)

line_status_t line_params_check(const line_params_t *p, char *why, size_t cap)
{
	if (!p)
		BAD("no parameters");
	if (p->lots < 1 || p->lots > 4095)
		BAD("lots: %u, expected 1 to 4095", p->lots);
	if (p->wafers_per_lot < 1 || p->wafers_per_lot > 32)
		BAD("wafers_per_lot: %u, expected 1 to 32", p->wafers_per_lot);
	if (!(p->wafer_diameter_mm >= 50 && p->wafer_diameter_mm <= 450))
		BAD("wafer_diameter_mm: expected 50 to 450");
	if (!(p->edge_exclusion_mm >= 0 &&
	      p->edge_exclusion_mm < p->wafer_diameter_mm / 4))
		BAD("edge_exclusion_mm: expected 0 to a quarter of the "
		    "diameter");
	if (!(p->die_w_mm >= 0.5 && p->die_w_mm <= 50 && p->die_h_mm >= 0.5 &&
	      p->die_h_mm <= 50))
		BAD("die_w_mm, die_h_mm: expected 0.5 to 50");
	if (!(p->probe_yield > 0 && p->probe_yield <= 1))
		BAD("probe_yield: expected more than 0, at most 1");
	if (!(p->cluster_alpha >= 0.5 && p->cluster_alpha <= 8))
		BAD("cluster_alpha: expected 0.5 to 8");
	if (!(p->cluster_radius >= 0 && p->cluster_radius <= 8))
		BAD("cluster_radius: expected 0 to 8 dies");
	if (!(p->edge_loss >= 0 && p->edge_loss < 1))
		BAD("edge_loss: expected 0 to less than 1");
	if (!(p->edge_width_mm > 0 && p->edge_width_mm <= 100))
		BAD("edge_width_mm: expected more than 0, at most 100");
	if (!rate_ok(p->short_fraction))
		BAD("short_fraction: expected 0 to 1");
	if (!(p->grind_sigma_um >= 0 && p->grind_min_um < p->grind_max_um &&
	      p->grind_target_um > 0))
		BAD("grinding: expected sigma >= 0, target > 0, min < max");
	if (!rate_ok(p->module_defect_rate))
		BAD("module_defect_rate: expected 0 to 1");
	if (!rate_ok(p->embed_defect_rate))
		BAD("embed_defect_rate: expected 0 to 1");
	if (!rate_ok(p->print_defect_rate))
		BAD("print_defect_rate: expected 0 to 1");
	if (p->transport_tries < 1 || p->transport_tries > 15)
		BAD("transport_tries: %u, expected 1 to 15",
		    p->transport_tries);
	if (!p->module_fabricator || !p->card_manufacturer)
		BAD("module_fabricator, card_manufacturer: expected non-zero");
	if (p->days_grinding > 3000 || p->days_module > 3000 ||
	    p->days_card_body > 3000)
		BAD("days_*: expected at most 3000");
	if (p->lot_prefix && strlen(p->lot_prefix) > 20)
		BAD("lot_prefix: at most 20 characters");
	return LINE_OK;
}

/* ---------------------------------------------------------- wafer map */

/* The dies' grid: die (i, j) is centered at (i * w, j * h); a die is on
 * the wafer when its far corner is inside the usable radius. */
typedef struct {
	double ru;  /* usable radius */
	int ni, nj; /* i in -ni..ni, j in -nj..nj */
} grid_t;

static void grid_of(const line_params_t *p, grid_t *g)
{
	g->ru = p->wafer_diameter_mm / 2 - p->edge_exclusion_mm;
	g->ni = (int)ceil(g->ru / p->die_w_mm) + 1;
	g->nj = (int)ceil(g->ru / p->die_h_mm) + 1;
}

static double far_corner(const line_params_t *p, int i, int j)
{
	double fx = fabs(i * p->die_w_mm) + p->die_w_mm / 2;
	double fy = fabs(j * p->die_h_mm) + p->die_h_mm / 2;
	return sqrt(fx * fx + fy * fy);
}

static double edge_survival(const line_params_t *p, double edge_mm)
{
	return 1.0 - p->edge_loss * exp(-edge_mm / p->edge_width_mm);
}

/* Smoothed Gaussian fields: k fields over the grid, summed squares. */
static line_status_t gamma_field(const line_params_t *p, const grid_t *g,
				 unsigned lot, unsigned wafer, double *G)
{
	int k = (int)lround(2 * p->cluster_alpha);
	double sigma = p->cluster_radius;
	int r = sigma > 0 ? (int)ceil(2 * sigma) : 0;
	int W = 2 * g->ni + 1, H = 2 * g->nj + 1;
	int EW = W + 2 * r, EH = H + 2 * r;
	double *noise = malloc(sizeof(double) * (size_t)EW * (size_t)EH);
	double *kern = malloc(sizeof(double) * (size_t)(2 * r + 1) *
			      (size_t)(2 * r + 1));
	if (!noise || !kern) {
		free(noise);
		free(kern);
		return LINE_ERR_NOMEM;
	}
	double norm = 0;
	for (int dy = -r; dy <= r; dy++)
		for (int dx = -r; dx <= r; dx++) {
			double w = sigma > 0 ? exp(-(dx * dx + dy * dy) /
						   (2 * sigma * sigma)) :
					       1.0;
			kern[(dy + r) * (2 * r + 1) + dx + r] = w;
			norm += w * w;
		}
	norm = sqrt(norm);
	for (int c = 0; c < W * H; c++)
		G[c] = 0;
	line_rng_t rng;
	line_rng_init(&rng, p->seed, RNG_FIELD, lot, wafer, 0);
	for (int f = 0; f < k; f++) {
		for (int c = 0; c < EW * EH; c++)
			noise[c] = line_rng_normal(&rng);
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++) {
				double z = 0;
				for (int dy = -r; dy <= r; dy++) {
					const double *row = noise +
							    (y + r + dy) * EW +
							    x + r;
					const double *kr =
						kern + (dy + r) * (2 * r + 1) +
						r;
					for (int dx = -r; dx <= r; dx++)
						z += kr[dx] * row[dx];
				}
				z /= norm;
				G[y * W + x] += z * z;
			}
	}
	for (int c = 0; c < W * H; c++)
		G[c] /= k;
	free(noise);
	free(kern);
	return LINE_OK;
}

static void make_serial(const line_params_t *p, unsigned lot, unsigned wafer,
			unsigned idx, uint8_t s[8])
{
	uint32_t lo = (uint32_t)(lot + 1) << 20 | (uint32_t)wafer << 15 | idx;
	uint32_t hi = p->serial_prefix;
	for (int i = 0; i < 4; i++) {
		s[i] = (uint8_t)(hi >> (24 - 8 * i));
		s[4 + i] = (uint8_t)(lo >> (24 - 8 * i));
	}
}

line_status_t line_wafer_map(const line_params_t *p, unsigned lot,
			     unsigned wafer, line_die_t *dies, size_t cap,
			     size_t *n)
{
	char why[160];
	if (!n)
		return LINE_ERR_PARAM;
	*n = 0;
	line_status_t st = line_params_check(p, why, sizeof why);
	if (st != LINE_OK)
		return st;
	if (lot >= p->lots || wafer >= p->wafers_per_lot)
		return LINE_ERR_PARAM;
	grid_t g;
	grid_of(p, &g);
	/* Count and the mean edge survival. */
	size_t count = 0;
	double sum_edge = 0;
	for (int j = g.nj; j >= -g.nj; j--)
		for (int i = -g.ni; i <= g.ni; i++) {
			double fc = far_corner(p, i, j);
			if (fc > g.ru)
				continue;
			count++;
			sum_edge += edge_survival(p, g.ru - fc);
		}
	if (count == 0 || count > 32767)
		return LINE_ERR_PARAM; /* die index is 15 bits */
	*n = count;
	double yc = p->probe_yield / (sum_edge / (double)count);
	if (yc > 1)
		return LINE_ERR_PARAM; /* edge loss alone below the target */
	if (!dies)
		return LINE_OK;
	if (cap < count)
		return LINE_ERR_PARAM;
	double alpha = (double)lround(2 * p->cluster_alpha) / 2;
	double lambda = alpha * (pow(yc, -1.0 / alpha) - 1.0);

	int W = 2 * g.ni + 1, H = 2 * g.nj + 1;
	double *G = malloc(sizeof(double) * (size_t)W * (size_t)H);
	if (!G)
		return LINE_ERR_NOMEM;
	st = gamma_field(p, &g, lot, wafer, G);
	if (st != LINE_OK) {
		free(G);
		return st;
	}
	size_t idx = 0;
	for (int j = g.nj; j >= -g.nj; j--)
		for (int i = -g.ni; i <= g.ni; i++) {
			double fc = far_corner(p, i, j);
			if (fc > g.ru)
				continue;
			line_die_t *d = &dies[idx];
			memset(d, 0, sizeof *d);
			d->x = i;
			d->y = j;
			d->cx_mm = i * p->die_w_mm;
			d->cy_mm = j * p->die_h_mm;
			d->edge_mm = g.ru - fc;
			line_rng_t r;
			line_rng_init(&r, p->seed, RNG_DIE, lot, wafer,
				      (unsigned)idx);
			double u_def = line_rng_unit(&r);
			double u_short = line_rng_unit(&r);
			double u_edge = line_rng_unit(&r);
			double gl = G[(g.nj - j) * W + (i + g.ni)];
			int killed = u_def >= exp(-gl * lambda);
			int edge = u_edge >= edge_survival(p, d->edge_mm);
			d->vdd_v = 1.55 + 0.03 * line_rng_normal(&r);
			d->idd_ua = 850 + 40 * line_rng_normal(&r);
			d->leakage_na =
				exp(log(20.0) + 0.35 * line_rng_normal(&r));
			double spread = line_rng_normal(&r);
			if (killed && u_short < p->short_fraction) {
				d->bin = LINE_BIN_SHORT;
				d->idd_ua = 20000 + 5000 * fabs(spread);
				d->vdd_v = NAN;
				d->leakage_na = NAN;
			} else if (killed) {
				d->bin = LINE_BIN_FUNCTIONAL;
			} else if (edge) {
				d->bin = LINE_BIN_LEAKAGE;
				d->leakage_na = 100 * (1 + exp(0.5 * spread));
			} else {
				d->bin = LINE_BIN_GOOD;
				if (d->leakage_na > 99)
					d->leakage_na = 99;
			}
			make_serial(p, lot, wafer, (unsigned)idx, d->serial);
			idx++;
		}
	free(G);
	return LINE_OK;
}

const char *line_bin_name(int bin)
{
	switch (bin) {
	case LINE_BIN_GOOD:
		return "good";
	case LINE_BIN_FUNCTIONAL:
		return "functional";
	case LINE_BIN_SHORT:
		return "short";
	case LINE_BIN_LEAKAGE:
		return "leakage";
	default:
		return "unknown";
	}
}

/* ---------------------------------------------------------- other parts */

double line_sim_thickness(const line_params_t *p, unsigned lot, unsigned wafer)
{
	line_rng_t r;
	line_rng_init(&r, p->seed, RNG_GRIND, lot, wafer, 0);
	return p->grind_target_um + p->grind_sigma_um * line_rng_normal(&r);
}

int line_sim_module_ok(const line_params_t *p, unsigned lot, unsigned wafer,
		       unsigned die)
{
	line_rng_t r;
	line_rng_init(&r, p->seed, RNG_MODULE, lot, wafer, die);
	return line_rng_unit(&r) >= p->module_defect_rate;
}

void line_sim_card(const line_params_t *p, unsigned lot, unsigned wafer,
		   unsigned die, int *embed_ok, int *print_ok)
{
	line_rng_t r;
	line_rng_init(&r, p->seed, RNG_CARD, lot, wafer, die);
	*embed_ok = line_rng_unit(&r) >= p->embed_defect_rate;
	*print_ok = line_rng_unit(&r) >= p->print_defect_rate;
}

/* ---------------------------------------------------------- dates */

int64_t line_day_of(int64_t us)
{
	int64_t d = us / INT64_C(86400000000);
	if (us < 0 && us % INT64_C(86400000000))
		d--;
	return d;
}

/* H. Hinnant's civil calendar algorithms: days since the epoch of a date,
 * and the date of a day. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil(int64_t z, int64_t *year, int *yday)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	*year = y;
	*yday = (int)(z - 719468 - days_from_civil(y, 1, 1)) + 1;
}

uint16_t line_yddd(int64_t day)
{
	int64_t y;
	int yd;
	civil(day, &y, &yd);
	unsigned d = (unsigned)yd;
	unsigned yl = (unsigned)(((y % 10) + 10) % 10);
	return (uint16_t)(yl << 12 | (d / 100) << 8 | (d / 10 % 10) << 4 |
			  d % 10);
}

/* ---------------------------------------------------------- ATR */

int line_atr_valid(const uint8_t *atr, size_t n)
{
	if (n < 2 || n > 33)
		return 0;
	if (atr[0] != 0x3B && atr[0] != 0x3F)
		return 0;
	size_t i = 1;
	uint8_t y = atr[1] >> 4;
	size_t k = atr[1] & 0x0F;
	int tck = 0;
	i = 2;
	for (;;) {
		for (int b = 0; b < 3; b++)
			if (y & (1u << b))
				i++;
		if (!(y & 0x08))
			break;
		if (i >= n)
			return 0;
		uint8_t td = atr[i++];
		if (td & 0x0F)
			tck = 1;
		y = td >> 4;
	}
	i += k;
	if (tck) {
		if (i + 1 != n)
			return 0;
		uint8_t x = 0;
		for (size_t j = 1; j < n; j++)
			x ^= atr[j];
		return x == 0;
	}
	return i == n;
}

/* ---------------------------------------------------------- SVG */

typedef struct {
	char *buf;
	size_t len, cap;
	int fail;
} sbuf_t;

static void sb_printf(sbuf_t *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf_t *s, const char *fmt, ...)
{
	if (s->fail)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
		if (k < 0) {
			s->fail = 1;
			return;
		}
		if ((size_t)k < s->cap - s->len) {
			s->len += (size_t)k;
			return;
		}
		size_t nc = (s->cap + (size_t)k + 1) * 2;
		char *nb = realloc(s->buf, nc);
		if (!nb) {
			s->fail = 1;
			return;
		}
		s->buf = nb;
		s->cap = nc;
	}
}

static void sb_text(sbuf_t *s, const char *t)
{
	for (; t && *t; t++) {
		switch (*t) {
		case '<':
			sb_printf(s, "&lt;");
			break;
		case '>':
			sb_printf(s, "&gt;");
			break;
		case '&':
			sb_printf(s, "&amp;");
			break;
		case '"':
			sb_printf(s, "&quot;");
			break;
		default:
			sb_printf(s, "%c", *t);
		}
	}
}

char *line_wafer_svg(const line_params_t *p, const line_die_t *dies, size_t n,
		     const char *title)
{
	static const char *const color[LINE_BINS] = { "#cccccc", "#2e9e44",
						      "#d62728", "#7b2d8b",
						      "#ff9f1c" };
	static const char *const name[LINE_BINS] = { "?", "1 good",
						     "2 functional", "3 short",
						     "4 leakage" };
	sbuf_t s = { malloc(4096), 0, 4096, 0 };
	if (!s.buf)
		return NULL;
	s.buf[0] = 0;
	double scale = 400.0 / p->wafer_diameter_mm, r = 200;
	size_t count[LINE_BINS] = { 0 };
	sb_printf(&s,
		  "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		  "width=\"580\" height=\"440\" viewBox=\"0 0 580 440\">\n");
	sb_printf(&s, "<title>");
	sb_text(&s, title ? title : "wafer map");
	sb_printf(&s,
		  "</title>\n<circle cx=\"220\" cy=\"220\" r=\"%.1f\" "
		  "fill=\"#eeeeee\" stroke=\"#555555\"/>\n",
		  r);
	for (size_t i = 0; i < n; i++) {
		int b = dies[i].bin >= 1 && dies[i].bin < LINE_BINS ?
				dies[i].bin :
				0;
		count[b]++;
		double x = 220 + (dies[i].cx_mm - p->die_w_mm / 2) * scale;
		double y = 220 - (dies[i].cy_mm + p->die_h_mm / 2) * scale;
		sb_printf(&s,
			  "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			  "height=\"%.2f\" fill=\"%s\" stroke=\"#ffffff\" "
			  "stroke-width=\"0.3\"><title>%d,%d bin %d"
			  "</title></rect>\n",
			  x, y, p->die_w_mm * scale, p->die_h_mm * scale,
			  color[b], dies[i].x, dies[i].y, dies[i].bin);
	}
	for (int b = 1; b < LINE_BINS; b++) {
		sb_printf(&s,
			  "<rect x=\"450\" y=\"%d\" width=\"14\" "
			  "height=\"14\" fill=\"%s\"/><text x=\"470\" "
			  "y=\"%d\" font-family=\"sans-serif\" "
			  "font-size=\"12\">%s: %zu</text>\n",
			  30 + 22 * b, color[b], 42 + 22 * b, name[b],
			  count[b]);
	}
	sb_printf(&s, "</svg>\n");
	if (s.fail) {
		free(s.buf);
		return NULL;
	}
	return s.buf;
}
