/*
 * station_loop.c - init and perso stations working an order from the MES
 * (contract in station_loop.h, user's view in docs/run.md).
 *
 * One thread a station. What the threads share is read only (the
 * profile, the configuration) or behind one mutex: the prepared batch
 * (perso_batch_holder), the mailer file (also under flock(), for station
 * processes sharing a work folder), the first error. Everything a card's
 * outcome depends on is on the chip (its image) or in the MES, so a
 * station killed at any point is resumed by the next run: its card comes
 * back to it (same station name) or to another station once the lease
 * ran out, with a claim token above 1 that tells the station to look at
 * the chip before doing anything.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/station_loop.h"
#include "cos/cos.h"
#include "perso/face.h"
#include "perso/init.h"
#include "perso/perso.h"
#include "reader/reader.h"

static volatile sig_atomic_t stop_requested;

void station_loop_stop(void)
{
	stop_requested = 1;
}

int station_loop_stopping(void)
{
	return stop_requested != 0;
}

void station_chip_path(const char *work, const char *serial_hex, char *buf,
		       size_t cap)
{
	snprintf(buf, cap, "%s/chips/%s.img", work, serial_hex);
}

typedef struct {
	const char *ref;
	size_t i;
} ref_t;

typedef struct {
	const station_cfg_t *cfg;
	perso_batch_t *batch;
	ref_t *refs;
	size_t nrefs;
	pthread_mutex_t mu;
	int failed;
	char err[512];
	uint64_t ok, rejected;
	char mailer[4200], faces[4200];
} shared_t;

typedef struct {
	shared_t *sh;
	unsigned n; /* 1.. */
	pthread_t th;
} worker_t;

/* The station fails: the first message is kept, every station stops. */
static void station_fail(shared_t *sh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void station_fail(shared_t *sh, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->mu);
	if (!sh->failed) {
		va_start(ap, fmt);
		vsnprintf(sh->err, sizeof sh->err, fmt, ap);
		va_end(ap);
		sh->failed = 1;
	}
	pthread_mutex_unlock(&sh->mu);
}

static int stopping(shared_t *sh)
{
	int f;

	pthread_mutex_lock(&sh->mu);
	f = sh->failed;
	pthread_mutex_unlock(&sh->mu);
	return f || stop_requested;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int ref_cmp(const void *a, const void *b)
{
	return strcmp(((const ref_t *)a)->ref, ((const ref_t *)b)->ref);
}

static long find_ref(const shared_t *sh, const char *ref)
{
	ref_t key = { ref, 0 }, *hit;

	hit = bsearch(&key, sh->refs, sh->nrefs, sizeof *sh->refs, ref_cmp);
	return hit ? (long)hit->i : -1;
}

/* ---------------------------------------------------------------- CPLC */

/*
 * Read the chip's CPLC (GET DATA 9F7F) after a reset (which ends any
 * secure channel) and stamp the fields of one production part into the
 * MES: the values the chip holds are the ones the MES keeps.
 */
static int stamp_cplc(shared_t *sh, mes_t *m, reader_t *r,
		      const char *chip_serial, uint32_t fields, char *why,
		      size_t cap)
{
	static const uint8_t get[] = { 0x80, 0xCA, 0x9F, 0x7F, 0x00 };
	uint8_t resp[COS_RAPDU_MAX];
	size_t n = 0;
	const uint8_t *d;
	mes_cplc_t cplc;
	mes_chip_t chip;
	mes_err_t me;
	reader_status_t rs;

	(void)sh;
	rs = reader_reset(r);
	if (rs == READER_OK)
		rs = reader_apdu(r, get, sizeof get, resp, sizeof resp, &n);
	if (rs != READER_OK) {
		snprintf(why, cap, "CPLC: GET DATA 9F7F: %s",
			 reader_error_detail(r));
		return -1;
	}
	if (n < 2 || resp[n - 2] != 0x90 || resp[n - 1] != 0x00) {
		snprintf(why, cap, "CPLC: GET DATA 9F7F: SW %02X%02X",
			 n >= 2 ? resp[n - 2] : 0, n >= 2 ? resp[n - 1] : 0);
		return -1;
	}
	n -= 2;
	d = resp;
	if (n == MES_CPLC_LEN + 3 && d[0] == 0x9F && d[1] == 0x7F) {
		d += 3;
		n -= 3;
	}
	if (n != MES_CPLC_LEN) {
		snprintf(why, cap,
			 "CPLC: GET DATA 9F7F: %zu bytes, %u "
			 "expected",
			 n, MES_CPLC_LEN);
		return -1;
	}
	mes_cplc_from_bytes(d, &cplc);
	cplc.set = fields;
	me = mes_find_chip(m, chip_serial, &chip);
	if (me == MES_OK)
		me = mes_stamp_cplc(m, &chip.id, &cplc, 1);
	if (me != MES_OK) {
		snprintf(why, cap, "MES: CPLC of chip %s: %s: %s", chip_serial,
			 mes_strerror(me), mes_error_detail(m));
		return -2;
	}
	return 0;
}

#define CPLC_BIT(f) (1u << (f))
#define CPLC_PREPERSO                         \
	(CPLC_BIT(MES_CPLC_PREPERSONALIZER) | \
	 CPLC_BIT(MES_CPLC_PREPERSO_DATE) |   \
	 CPLC_BIT(MES_CPLC_PREPERSO_EQUIPMENT))
#define CPLC_PERSO                                                         \
	(CPLC_BIT(MES_CPLC_PERSONALIZER) | CPLC_BIT(MES_CPLC_PERSO_DATE) | \
	 CPLC_BIT(MES_CPLC_PERSO_EQUIPMENT))

/* ---------------------------------------------------------------- outputs */

/*
 * Append the mailer line of a card to WORK/mailer.txt, durably (fsync)
 * and once: for a card claimed before, the file is searched for its
 * serial first. The process's mutex orders threads, flock() processes.
 */
static int mailer_append(shared_t *sh, const char *line, const char *serial,
			 int look_first, char *why, size_t cap)
{
	int fd, rc = 0, found = 0;
	size_t n = strlen(line), sl = strlen(serial);
	FILE *f;
	char buf[1024], pat[64];

	pthread_mutex_lock(&sh->mu);
	fd = open(sh->mailer, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, cap, "%.300s: %s", sh->mailer, strerror(errno));
		pthread_mutex_unlock(&sh->mu);
		return -1;
	}
	flock(fd, LOCK_EX);
	if (look_first) {
		snprintf(pat, sizeof pat, "\t%s\t", serial);
		f = fopen(sh->mailer, "r");
		while (f != NULL && fgets(buf, sizeof buf, f) != NULL)
			if (strstr(buf, pat) != NULL) {
				found = 1;
				break;
			}
		if (f != NULL)
			fclose(f);
	}
	(void)sl;
	if (!found) {
		if (write(fd, line, n) != (ssize_t)n ||
		    (n > 0 && line[n - 1] != '\n' && write(fd, "\n", 1) != 1) ||
		    fsync(fd) != 0) {
			snprintf(why, cap, "%.300s: %s", sh->mailer,
				 strerror(errno));
			rc = -1;
		}
	}
	flock(fd, LOCK_UN);
	close(fd);
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

/* WORK/faces/SERIAL.svg, whole or not at all (temporary file, rename). */
static int face_write(shared_t *sh, const profile_t *p, const perso_holder_t *h,
		      const char *serial, char *why, size_t cap)
{
	char path[4300], tmp[4320];
	char *svg;
	FILE *f;
	int rc = 0;

	svg = perso_face_svg(p, (const char *const *)h->values, h->nvalues,
			     serial);
	if (svg == NULL) {
		snprintf(why, cap, "card face: out of memory or no face");
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s.svg", sh->faces, serial);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL || fputs(svg, f) == EOF)
		rc = -1;
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0) {
		snprintf(why, cap, "%.300s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(svg);
	return rc;
}

/* ---------------------------------------------------------------- cards */

typedef enum {
	CARD_OK,
	CARD_REJECTED, /* why says */
	CARD_STATION,  /* the station failed: give the card back, stop */
} card_outcome_t;

static reader_t *open_chip(const station_cfg_t *cfg, const char *serial,
			   char *why, size_t cap)
{
	char path[4200], spec[4300], err[READER_DETAIL_MAX];
	reader_t *r = NULL;
	reader_status_t rs;

	station_chip_path(cfg->work, serial, path, sizeof path);
	snprintf(spec, sizeof spec, "vcard:%s", path);
	rs = reader_open(spec, READER_PROTO_ANY, &r, err, sizeof err);
	if (rs != READER_OK) {
		snprintf(why, cap, "no chip answers: %.400s",
			 err[0] ? err : reader_strerror(rs));
		return NULL;
	}
	return r;
}

static card_outcome_t close_chip(reader_t *r, card_outcome_t o, char *why,
				 size_t cap)
{
	char err[READER_DETAIL_MAX];

	if (reader_close(r, err, sizeof err) != READER_OK && o == CARD_OK) {
		snprintf(why, cap, "chip image not saved: %.400s", err);
		return CARD_STATION;
	}
	return o;
}

static card_outcome_t init_card(shared_t *sh, mes_t *m, perso_token_t *t,
				const mes_claim_t *c, char *why, size_t cap)
{
	const station_cfg_t *cfg = sh->cfg;
	perso_init_opts_t o;
	uint8_t lcs = 0, serial[PERSO_SERIAL_LEN];
	char err[512];
	reader_t *r;
	perso_status_t st;
	int cos = profile_info(cfg->profile)->kind == PROFILE_CHIP_COS;
	int done_before = 0, resume = 0, s;

	r = open_chip(cfg, c->chip_serial, why, cap);
	if (r == NULL)
		return CARD_REJECTED;
	if (c->token > 1 && cos) {
		/* Claimed before: where did the chip get to? */
		st = perso_chip_data(r, &lcs, serial, err, sizeof err);
		if (st != PERSO_OK) {
			snprintf(why, cap, "initialization interrupted: %.400s",
				 err);
			return close_chip(r, CARD_REJECTED, why, cap);
		}
		if (lcs == COS_LC_PERSONALIZATION) {
			done_before = 1;
		} else if (lcs == COS_LC_INITIALIZATION) {
			resume = 1; /* stopped after the transport code */
		} else if (lcs != COS_LC_TRANSPORT) {
			snprintf(why, cap,
				 "initialization interrupted (life "
				 "cycle %02X)",
				 lcs);
			return close_chip(r, CARD_REJECTED, why, cap);
		}
	}
	if (!done_before) {
		memset(&o, 0, sizeof o);
		o.tmk = cfg->tmk;
		o.wrap_label = cfg->wrap_key;
		o.prepersonalizer = cfg->prepersonalizer;
		o.equipment = cfg->init_equipment;
		o.resume = resume;
		err[0] = '\0';
		st = perso_init_card(r, cfg->profile, t, &o, serial, err,
				     sizeof err);
		if (st == PERSO_ERR_CARD) {
			snprintf(why, cap, "%.400s", err[0] ? err : "refused");
			return close_chip(r, CARD_REJECTED, why, cap);
		}
		if (st != PERSO_OK) {
			snprintf(why, cap, "chip %s: %.400s", c->chip_serial,
				 err[0] ? err : perso_strerror(st));
			return close_chip(r, CARD_STATION, why, cap);
		}
	}
	if (cos) {
		s = stamp_cplc(sh, m, r, c->chip_serial, CPLC_PREPERSO, why,
			       cap);
		if (s != 0)
			return close_chip(
				r, s == -2 ? CARD_STATION : CARD_REJECTED, why,
				cap);
	}
	return close_chip(r, CARD_OK, why, cap);
}

static card_outcome_t perso_one(shared_t *sh, mes_t *m, perso_token_t *t,
				const mes_claim_t *c, char *why, size_t cap)
{
	const station_cfg_t *cfg = sh->cfg;
	perso_card_opts_t o;
	perso_holder_t h;
	perso_card_info_t info;
	perso_status_t st;
	char err[512], *line = NULL;
	reader_t *r;
	long i;
	int s;
	card_outcome_t out = CARD_OK;

	i = find_ref(sh, c->holder_ref);
	if (i < 0) {
		snprintf(why, cap,
			 "holder %s of the MES is not in the batch "
			 "%.300s",
			 c->holder_ref, cfg->batch_path);
		return CARD_STATION;
	}
	memset(&h, 0, sizeof h);
	err[0] = '\0';
	pthread_mutex_lock(&sh->mu);
	st = perso_batch_holder(sh->batch, (size_t)i, t, &h, err, sizeof err);
	pthread_mutex_unlock(&sh->mu);
	if (st != PERSO_OK) {
		snprintf(why, cap, "batch record of holder %s: %.300s",
			 c->holder_ref, err[0] ? err : perso_strerror(st));
		return CARD_STATION;
	}
	r = open_chip(cfg, c->chip_serial, why, cap);
	if (r == NULL) {
		perso_holder_clear(&h);
		return CARD_REJECTED;
	}
	memset(&o, 0, sizeof o);
	o.wrap_label = cfg->wrap_key;
	o.personalizer = cfg->personalizer;
	o.equipment = cfg->perso_equipment;
	err[0] = '\0';
	st = perso_card(r, cfg->profile, t, &o, &h, &info, err, sizeof err);
	if (st == PERSO_ERR_CARD) {
		snprintf(why, cap, "%.400s", err[0] ? err : "refused");
		out = CARD_REJECTED;
	} else if (st != PERSO_OK) {
		snprintf(why, cap, "chip %s: %.400s", c->chip_serial,
			 err[0] ? err : perso_strerror(st));
		out = CARD_STATION;
	}
	if (out == CARD_OK &&
	    profile_info(cfg->profile)->kind == PROFILE_CHIP_COS) {
		s = stamp_cplc(sh, m, r, c->chip_serial, CPLC_PERSO, why, cap);
		if (s != 0)
			out = s == -2 ? CARD_STATION : CARD_REJECTED;
	}
	out = close_chip(r, out, why, cap);
	if (out == CARD_OK) {
		st = perso_mailer_record(t, cfg->mailer_key, cfg->profile, &h,
					 c->chip_serial, &line);
		if (st != PERSO_OK) {
			snprintf(why, cap, "PIN mailer of chip %s: %s: %s",
				 c->chip_serial, perso_strerror(st),
				 perso_token_error(t));
			out = CARD_STATION;
		} else if (mailer_append(sh, line, c->chip_serial,
					 c->token > 1 || c->resumed, why,
					 cap) != 0) {
			out = CARD_STATION;
		}
		if (line != NULL) {
			memset(line, 0, strlen(line));
			free(line);
		}
	}
	if (out == CARD_OK &&
	    face_write(sh, cfg->profile, &h, c->chip_serial, why, cap) != 0)
		out = CARD_STATION;
	perso_holder_clear(&h);
	return out;
}

/* ---------------------------------------------------------------- loop */

/* No card to claim: is the part over for this station? */
static int part_over(shared_t *sh, mes_t *m, int64_t order_id)
{
	const station_cfg_t *cfg = sh->cfg;
	mes_counts_t k;

	mes_order_t o;

	if (mes_counts(m, order_id, &k) != MES_OK)
		return 1;
	if (cfg->follow) {
		/* a finished or cancelled order brings no more cards */
		if (mes_find_order(m, cfg->order_name, &o) == MES_OK &&
		    (o.status == MES_ORDER_DONE ||
		     o.status == MES_ORDER_CANCELLED))
			return 1;
		return cfg->part == MES_PART_PERSO && k.holders > 0 &&
		       k.holders_issued >= k.holders;
	}
	if (k.claimed == 0)
		return 1; /* nobody works on anything: nothing will come */
	if (cfg->part == MES_PART_INIT)
		return k.built == 0;
	return k.holders_issued >= k.holders ||
	       (k.initialized == 0 && k.built == 0);
}

static void *worker(void *arg)
{
	worker_t *w = arg;
	shared_t *sh = w->sh;
	const station_cfg_t *cfg = sh->cfg;
	mes_t *m = NULL;
	perso_token_t *t = NULL;
	mes_station_t st;
	mes_order_t ord;
	mes_claim_req_t req;
	mes_claim_t c;
	mes_err_t me;
	char err[512], why[512];
	card_outcome_t out;
	int64_t t0;
	unsigned idle = 0;

	if (mes_open(cfg->db_url, &m, err, sizeof err) != MES_OK) {
		station_fail(sh, "%s", err);
		return NULL;
	}
	memset(&st, 0, sizeof st);
	if (cfg->threads == 1)
		snprintf(st.name, sizeof st.name, "%s", cfg->station_name);
	else
		snprintf(st.name, sizeof st.name, "%.50s-%u", cfg->station_name,
			 w->n);
	st.kind = cfg->part == MES_PART_INIT ? MES_STATION_INIT :
					       MES_STATION_PERSO;
	snprintf(st.host, sizeof st.host, "%s", cfg->host ? cfg->host : "");
	me = mes_register_station(m, &st);
	if (me == MES_OK)
		me = mes_find_order(m, cfg->order_name, &ord);
	if (me != MES_OK) {
		station_fail(sh, "station %s: %s: %s", st.name,
			     mes_strerror(me), mes_error_detail(m));
		mes_close(m);
		return NULL;
	}
	if (perso_token_open(cfg->token_module, cfg->token_label,
			     cfg->token_pin, &t, err, sizeof err) != PERSO_OK) {
		station_fail(sh, "station %s: %s", st.name, err);
		mes_close(m);
		return NULL;
	}
	memset(&req, 0, sizeof req);
	req.order_id = ord.id;
	req.part = cfg->part;
	req.station_id = st.id;
	req.lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : 60000;
	while (!stopping(sh)) {
		me = mes_claim(m, &req, &c);
		if (me == MES_ERR_NOT_FOUND || me == MES_ERR_BUSY) {
			if (me == MES_ERR_NOT_FOUND && part_over(sh, m, ord.id))
				break;
			sleep_ms(cfg->follow ? 1000 : idle < 10 ? 50 : 250);
			idle++;
			continue;
		}
		if (me != MES_OK) {
			station_fail(sh, "station %s: claim: %s: %s", st.name,
				     mes_strerror(me), mes_error_detail(m));
			break;
		}
		idle = 0;
		t0 = mes_now_us();
		why[0] = '\0';
		if (cfg->part == MES_PART_INIT)
			out = init_card(sh, m, t, &c, why, sizeof why);
		else
			out = perso_one(sh, m, t, &c, why, sizeof why);
		if (out == CARD_STATION) {
			mes_claim_release(m, &c);
			station_fail(sh, "station %s: card %s: %s", st.name,
				     c.card_serial, why);
			break;
		}
		me = mes_claim_finish(
			m, &c, out == CARD_OK ? MES_RUN_OK : MES_RUN_REJECTED,
			out == CARD_OK ? NULL : why, t0, 0);
		if (me == MES_ERR_CLAIM)
			continue; /* another station took it: its outcome */
		if (me != MES_OK) {
			station_fail(sh, "station %s: card %s: outcome: %s: %s",
				     st.name, c.card_serial, mes_strerror(me),
				     mes_error_detail(m));
			break;
		}
		pthread_mutex_lock(&sh->mu);
		if (out == CARD_OK)
			sh->ok++;
		else
			sh->rejected++;
		pthread_mutex_unlock(&sh->mu);
		progress_add(cfg->progress, out != CARD_OK);
	}
	perso_token_close(t);
	mes_close(m);
	return NULL;
}

static int mkdir_p1(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

int station_loop_run(const station_cfg_t *cfg, station_result_t *res, char *err,
		     size_t errcap)
{
	shared_t sh;
	worker_t *w;
	unsigned i, started = 0;
	size_t k;
	int rc = 0;

	memset(res, 0, sizeof *res);
	memset(&sh, 0, sizeof sh);
	sh.cfg = cfg;
	pthread_mutex_init(&sh.mu, NULL);
	if (cfg->part == MES_PART_PERSO) {
		if (perso_batch_load(cfg->batch_path, cfg->profile, &sh.batch,
				     err, errcap) != PERSO_OK) {
			pthread_mutex_destroy(&sh.mu);
			return -1;
		}
		sh.nrefs = perso_batch_count(sh.batch);
		sh.refs = calloc(sh.nrefs ? sh.nrefs : 1, sizeof *sh.refs);
		if (sh.refs == NULL) {
			snprintf(err, errcap, "out of memory");
			perso_batch_free(sh.batch);
			pthread_mutex_destroy(&sh.mu);
			return -1;
		}
		for (k = 0; k < sh.nrefs; k++) {
			sh.refs[k].ref = perso_batch_ref(sh.batch, k);
			sh.refs[k].i = k;
		}
		qsort(sh.refs, sh.nrefs, sizeof *sh.refs, ref_cmp);
		snprintf(sh.mailer, sizeof sh.mailer, "%s/mailer.txt",
			 cfg->work);
		snprintf(sh.faces, sizeof sh.faces, "%s/faces", cfg->work);
		if (mkdir_p1(sh.faces) != 0) {
			snprintf(err, errcap, "%s: %s", sh.faces,
				 strerror(errno));
			rc = -1;
		}
	}
	w = calloc(cfg->threads, sizeof *w);
	if (w == NULL && rc == 0) {
		snprintf(err, errcap, "out of memory");
		rc = -1;
	}
	for (i = 0; rc == 0 && i < cfg->threads; i++) {
		w[i].sh = &sh;
		w[i].n = i + 1;
		if (pthread_create(&w[i].th, NULL, worker, &w[i]) != 0) {
			station_fail(&sh, "cannot start station %u: %s", i + 1,
				     strerror(errno));
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(w[i].th, NULL);
	free(w);
	if (rc == 0 && sh.failed) {
		snprintf(err, errcap, "%s", sh.err);
		rc = -1;
	}
	res->ok = sh.ok;
	res->rejected = sh.rejected;
	free(sh.refs);
	if (sh.batch != NULL)
		perso_batch_free(sh.batch);
	pthread_mutex_destroy(&sh.mu);
	return rc;
}

/* ---------------------------------------------------------------- token */

static const char *env_or(const char *opt, const char *var)
{
	const char *v;

	if (opt != NULL && opt[0] != '\0')
		return opt;
	v = getenv(var);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

void station_token_env(station_token_t *ts)
{
	ts->dir = env_or(ts->dir, "CARDFAB_TOKEN_DIR");
	ts->module = env_or(ts->module, "CARDFAB_PKCS11_MODULE");
	ts->label = env_or(ts->label, "CARDFAB_TOKEN");
	ts->external = ts->dir != NULL || ts->module != NULL;
}

/* The first line of path: the PIN. */
static int read_pin(const char *path, char *pin, size_t cap, char *err,
		    size_t errcap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		snprintf(err, errcap, "PIN file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(pin, (int)cap, f) == NULL)
		pin[0] = '\0';
	fclose(f);
	n = strcspn(pin, "\r\n");
	pin[n] = '\0';
	if (n == 0) {
		snprintf(err, errcap,
			 "PIN file %s: a PIN on the first line "
			 "expected",
			 path);
		return -1;
	}
	return 0;
}

int station_token_pin(station_token_t *ts, const char *work, char *err,
		      size_t errcap)
{
	char path[4200];
	const char *file, *var, *v;

	if (!ts->external) {
		snprintf(path, sizeof path, "%s/hsm/softhsm2.conf", work);
		setenv("SOFTHSM2_CONF", path, 1);
		snprintf(path, sizeof path, "%s/hsm/user-pin", work);
		return read_pin(path, ts->pin, sizeof ts->pin, err, errcap);
	}
	if (ts->dir != NULL) {
		snprintf(path, sizeof path, "%s/softhsm2.conf", ts->dir);
		setenv("SOFTHSM2_CONF", path, 1);
	}
	file = ts->pin_file;
	if (file == NULL && ts->pin_env == NULL)
		file = env_or(NULL, "CARDFAB_TOKEN_PIN_FILE");
	if (file != NULL)
		return read_pin(file, ts->pin, sizeof ts->pin, err, errcap);
	var = ts->pin_env ? ts->pin_env : "CARDFAB_TOKEN_PIN";
	v = getenv(var);
	if (v == NULL || v[0] == '\0' || strlen(v) >= sizeof ts->pin) {
		snprintf(err, errcap,
			 "no user PIN for the token: give "
			 "--pin-file FILE, or set CARDFAB_TOKEN_PIN_FILE or "
			 "%s",
			 var);
		return -1;
	}
	snprintf(ts->pin, sizeof ts->pin, "%s", v);
	return 0;
}

int station_part_figures(mes_t *m, int64_t order_id, mes_part_t part,
			 uint64_t *before, uint64_t *left)
{
	mes_counts_t k;
	int64_t free_h;

	*before = *left = 0;
	if (mes_counts(m, order_id, &k) != MES_OK)
		return -1;
	if (part == MES_PART_INIT) {
		*before = (uint64_t)k.init_runs;
		*left = (uint64_t)k.built;
	} else {
		free_h = k.holders - k.holders_issued;
		*before = (uint64_t)k.perso_runs;
		*left = (uint64_t)(k.initialized < free_h ? k.initialized :
							    free_h);
	}
	return 0;
}
