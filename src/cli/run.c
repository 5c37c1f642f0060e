/*
 * run.c - `cardfab run`: a production order from the holder file to the
 * issued cards, every part in one command (docs/run.md).
 *
 *   cardfab run ORDER.yaml [--work DIR] [--db URL] [--stations N]
 *               [--prepare-only] [TOKEN OPTIONS]
 *
 * The steps, each one resumable (a rerun after a kill goes on where the
 * last one stopped; a rerun of a finished order changes nothing):
 *
 *   keys     the work folder's own SoftHSM2 token (WORK/hsm, PINs in
 *            files of mode 0600), and the keys the order needs generated
 *            in it if absent; with token options, that token's keys are
 *            used and none is made (a bureau imports its keys)
 *   prep     WORK/NAME.batch from the holder file, once (the batch holds
 *            the PINs the mailer prints: never remade); its holders into
 *            the MES, once
 *   line     parts 2 to 5 on the line simulator, chip images in
 *            WORK/chips (the line skips what the MES has)
 *   part 6   init stations (threads) taking BUILT cards from the MES
 *   part 7   perso stations taking INITIALIZED cards and their holders
 *   report   yields per part, the HTML report's path last
 *
 * Thin: the libraries do the work; station_loop.c is shared with
 * `cardfab station`, order.c reads the order file.
 */
#define _XOPEN_SOURCE 700 /* realpath, SA_RESETHAND */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "cli/order.h"
#include "cli/progress.h"
#include "cli/station_loop.h"
#include "line/line.h"
#include "line/report.h"
#include "mes/mes.h"
#include "perso/perso.h"
#include "perso/prep.h"
#include "perso/token.h"
#include "profile/profile.h"

#define TOPIC "run"

void usage_run(FILE *f)
{
	fputs("usage: cardfab run ORDER.yaml [--work DIR] [--db URL] "
	      "[--stations N]\n"
	      "                   [--prepare-only] [TOKEN OPTIONS]\n"
	      "\n"
	      "Runs a production order (docs/run.md): the keys, data "
	      "preparation of the\n"
	      "holder file, parts 2 to 5 on the line simulator, "
	      "initialization (part 6) and\n"
	      "personalization (part 7) on N stations, and the report: "
	      "yields per part, and\n"
	      "the HTML report's path on the last line. Every step resumes: "
	      "run the same\n"
	      "command again after a kill and it goes on where it stopped; "
	      "a card is never\n"
	      "made twice and a holder never issued twice.\n"
	      "\n"
	      "  --work DIR       the order's work folder (default ./NAME.work, "
	      "NAME the\n"
	      "                   order's name): token, batch, chip images, "
	      "database,\n"
	      "                   mailer.txt, faces/\n"
	      "  --db URL         the MES: sqlite:PATH or postgresql://... "
	      "(default\n"
	      "                   sqlite:WORK/cardfab.db)\n"
	      "  --stations N     init and perso stations (threads; default: "
	      "the order's)\n"
	      "  --prepare-only   (or --no-stations) stop before part 6: "
	      "station processes\n"
	      "                   ('cardfab station') do parts 6 and 7, on "
	      "this host or\n"
	      "                   others sharing the MES\n"
	      "\n"
	      "Without token options the work folder gets its own SoftHSM2 "
	      "token and the\n"
	      "keys the order names are generated in it (a demo: a bureau "
	      "imports its\n"
	      "keys). Token options as for 'cardfab keys' (--dir, --module, "
	      "--token,\n"
	      "--pin-file, --pin-env) use that token; its keys must be there.\n"
	      "\n"
	      "Exit status: 0 the order ran (rejected cards are part of "
	      "production), 1\n"
	      "failure, 2 usage error.\n",
	      f);
}

typedef struct {
	const run_opts_t *ro;
	order_t o;
	profile_t *p;
	char work[4096];
	char path[4400]; /* scratch */
	char db[4400];
	char batch[4400];
	station_token_t ts;
	perso_token_t *t;
	mes_t *m;
	line_t *l;
	int64_t order_id;
	progress_t *bar;
	int bar_part;
	char hash[MES_HASH_MAX];
	int64_t t0_us; /* when the run started */
} run_t;

/* ---------------------------------------------------------------- files */

static int mkdir_if(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	cli_error("%s: %s", path, strerror(errno));
	return -1;
}

/* The whole file into a malloc'd buffer; NULL (errno) on failure. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/*
 * The profile the run uses is the copy in WORK/profile.yaml, made at the
 * first run: station processes read it there, and a later run refuses a
 * profile that changed under chips already initialized with the old one.
 */
static int pin_profile(run_t *r)
{
	char *src, *old;
	size_t n, on;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	int rc = 0;

	src = slurp(r->o.profile, &n);
	if (src == NULL) {
		cli_error("%s: %s", r->o.profile, strerror(errno));
		return -1;
	}
	snprintf(r->path, sizeof r->path, "%s/profile.yaml", r->work);
	old = slurp(r->path, &on);
	if (old != NULL) {
		if (on != n || memcmp(old, src, n) != 0) {
			cli_error("%s differs from the profile this order "
				  "started with (%s): chips were made with "
				  "that one; restore it or start a new order",
				  r->o.profile, r->path);
			rc = -1;
		}
		free(old);
	} else if (cli_write_durably(r->path, src, n, 0644) != 0) {
		cli_error("%s: %s", r->path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && EVP_Digest(src, n, md, &mdlen, EVP_sha256(), NULL)) {
		for (i = 0; i < mdlen && 2 * i + 2 < sizeof r->hash; i++)
			snprintf(r->hash + 2 * i, 3, "%02x", md[i]);
	}
	free(src);
	if (rc == 0) {
		/* and the order, for the stations: key labels and ids */
		src = slurp(r->o.file, &n);
		snprintf(r->path, sizeof r->path, "%s/order.yaml", r->work);
		if (src == NULL ||
		    cli_write_durably(r->path, src, n, 0644) != 0) {
			cli_error("%s: %s", r->path, strerror(errno));
			rc = -1;
		}
		free(src);
	}
	return rc;
}

/* ---------------------------------------------------------------- token */

/* A random PIN of 16 hex digits into WORK/hsm/NAME unless it is there. */
static int make_pin(run_t *r, const char *hsm, const char *name)
{
	uint8_t raw[8];
	char hex[20];

	snprintf(r->path, sizeof r->path, "%s/%s", hsm, name);
	if (exists(r->path))
		return 0;
	if (cli_random(raw, sizeof raw) != CLI_OK)
		return -1;
	cli_hex_str(raw, sizeof raw, hex, sizeof hex);
	cli_wipe(raw, sizeof raw);
	hex[16] = '\n';
	hex[17] = '\0';
	if (cli_write_durably(r->path, hex, 17, 0600) != 0) {
		cli_wipe(hex, sizeof hex);
		cli_error("%s: %s", r->path, strerror(errno));
		return -1;
	}
	cli_wipe(hex, sizeof hex);
	return 0;
}

static int dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			empty = 0;
	closedir(d);
	return empty;
}

/*
 * A token folder without a key object: SoftHSM2's file store keeps a token
 * as tokens/UUID/ with its record (token.object), lock and generation
 * files (and our copy of the record), and one UUID.object a key. A
 * folder with no key object holds nothing worth keeping: a token whose
 * making was cut (killed between C_InitToken and C_InitPIN, or while
 * C_InitToken wrote its record), or one made with no key yet.
 */
static int token_keyless(const char *tokens)
{
	char sub[4600];
	DIR *d = opendir(tokens), *s;
	struct dirent *e, *f;
	size_t n;
	int keys = 0;

	if (d == NULL)
		return 0;
	while (!keys && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", tokens, e->d_name);
		s = opendir(sub);
		if (s == NULL)
			continue;
		while (!keys && (f = readdir(s)) != NULL) {
			n = strlen(f->d_name);
			if (n > 7 &&
			    strcmp(f->d_name + n - 7, ".object") == 0 &&
			    strcmp(f->d_name, "token.object") != 0)
				keys = 1;
		}
		closedir(s);
	}
	closedir(d);
	return !keys;
}

/* Everything under tokens (files one or two levels down), tokens kept. */
static int token_wipe(const char *tokens)
{
	char sub[4600], file[4900];
	DIR *d = opendir(tokens), *s;
	struct dirent *e, *f;
	int rc = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", tokens, e->d_name);
		s = opendir(sub);
		if (s != NULL) {
			while ((f = readdir(s)) != NULL) {
				if (strcmp(f->d_name, ".") == 0 ||
				    strcmp(f->d_name, "..") == 0)
					continue;
				snprintf(file, sizeof file, "%s/%s", sub,
					 f->d_name);
				if (unlink(file) != 0)
					rc = -1;
			}
			closedir(s);
			if (rmdir(sub) != 0)
				rc = -1;
		} else if (unlink(sub) != 0) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* The work folder's own token: made at the first run. */
static int work_token(run_t *r)
{
	char hsm[4200], tokens[4300], conf[4300], text[5000], so[256];
	char abs[4096], err[512];
	perso_status_t st;

	snprintf(hsm, sizeof hsm, "%s/hsm", r->work);
	if (mkdir_if(hsm) != 0)
		return -1;
	if (realpath(hsm, abs) == NULL) {
		cli_error("%s: %s", hsm, strerror(errno));
		return -1;
	}
	snprintf(tokens, sizeof tokens, "%s/tokens", abs);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", abs);
	if (mkdir_if(tokens) != 0 || make_pin(r, hsm, "user-pin") != 0 ||
	    make_pin(r, hsm, "so-pin") != 0)
		return -1;
	if (!exists(conf)) {
		snprintf(text, sizeof text,
			 "# SoftHSM2 config of an order's own token (written "
			 "by 'cardfab run').\n"
			 "directories.tokendir = %s\n"
			 "objectstore.backend = file\n"
			 "log.level = ERROR\n"
			 "slots.removable = false\n",
			 tokens);
		if (cli_write_durably(conf, text, strlen(text), 0600) != 0) {
			cli_error("%s: %s", conf, strerror(errno));
			return -1;
		}
	}
	if (station_token_pin(&r->ts, r->work, err, sizeof err) != 0) {
		cli_error("%s", err);
		return -1;
	}
	/* A token folder with files in it holds the token (retried: see
	 * perso_token_open); an empty one gets the token now. */
	if (dir_empty(tokens)) {
		st = PERSO_ERR_NO_TOKEN;
	} else {
		st = perso_token_open(NULL, r->ts.label, r->ts.pin, &r->t, err,
				      sizeof err);
		/* A run killed while it made the token leaves one that
		 * cannot be opened (no user PIN yet: CKR_USER_PIN_NOT_
		 * INITIALIZED, or a torn record): with no key in it, it is
		 * made again. A token with keys is never touched. */
		if (st != PERSO_OK && token_keyless(tokens)) {
			if (token_wipe(tokens) != 0) {
				cli_error("%s: cannot remove the unfinished "
					  "token: %s",
					  tokens, strerror(errno));
				return -1;
			}
			st = PERSO_ERR_NO_TOKEN;
		}
	}
	if (st == PERSO_ERR_NO_TOKEN) {
		snprintf(r->path, sizeof r->path, "%s/so-pin", hsm);
		{
			FILE *f = fopen(r->path, "r");

			if (f == NULL || fgets(so, sizeof so, f) == NULL) {
				if (f)
					fclose(f);
				cli_error("%s: cannot read", r->path);
				return -1;
			}
			fclose(f);
		}
		so[strcspn(so, "\r\n")] = '\0';
		st = perso_token_init(NULL, r->ts.label, so, r->ts.pin, err,
				      sizeof err);
		cli_wipe(so, sizeof so);
		if (st != PERSO_OK) {
			cli_error("token: %s", err);
			return -1;
		}
		printf("token: SoftHSM2 token '%s' made in %s (PINs in "
		       "%s/user-pin and so-pin, mode 0600)\n",
		       r->ts.label ? r->ts.label : PERSO_DEFAULT_TOKEN, tokens,
		       hsm);
		st = perso_token_open(NULL, r->ts.label, r->ts.pin, &r->t, err,
				      sizeof err);
	}
	if (st != PERSO_OK) {
		cli_error("token: %s", err);
		return -1;
	}
	return 0;
}

typedef struct {
	const char *label;
	perso_key_type_t type;
	perso_key_role_t role;
	const char *what;
} want_key_t;

/* The keys the order needs: made in the work folder's token if absent;
 * in another token they must be there. */
static int ensure_keys(run_t *r, int create)
{
	want_key_t want[48];
	size_t nw = 0, nk = 0, nl = 0, i, j;
	const profile_key_t *keys = profile_keys(r->p, &nk);
	const profile_psc_t *psc = profile_psc(r->p);
	perso_key_info_t *have = NULL;
	int missing = 0, made = 0, settled = 0;
	char mark[4300];

	/* Once every key was made and sound, the folder says so: from then
	 * on chips and batches depend on the keys, which are never touched
	 * again. Before, a key a kill cut half-way through its making
	 * (SoftHSM2 writes an object's attributes one by one) has served
	 * nothing yet: it is made again. */
	snprintf(mark, sizeof mark, "%s/hsm/keys-made", r->work);
	settled = !create || exists(mark);

	for (i = 0; i < nk && nw < 40; i++) {
		if (keys[i].master == NULL)
			continue;
		for (j = 0; j < nw; j++)
			if (strcmp(want[j].label, keys[i].master) == 0)
				break;
		if (j == nw)
			want[nw++] =
				(want_key_t){ keys[i].master,
					      perso_alg_key_type(keys[i].alg),
					      PERSO_ROLE_MASTER, "master key" };
	}
	if (psc != NULL && psc->present && psc->master != NULL)
		want[nw++] = (want_key_t){ psc->master, PERSO_KEY_AES128,
					   PERSO_ROLE_MASTER, "PSC master" };
	want[nw++] = (want_key_t){ r->o.tmk, PERSO_KEY_AES128,
				   PERSO_ROLE_MASTER, "transport master" };
	want[nw++] = (want_key_t){ r->o.wrap_key, PERSO_KEY_AES256,
				   PERSO_ROLE_WRAP, "wrapping key" };
	want[nw++] = (want_key_t){ r->o.batch_key, PERSO_KEY_AES256,
				   PERSO_ROLE_BATCH, "batch key" };
	want[nw++] = (want_key_t){ r->o.mailer_key, PERSO_KEY_AES256,
				   PERSO_ROLE_BATCH, "PIN mailer key" };
	if (perso_key_list(r->t, &have, &nl) != PERSO_OK) {
		cli_error("token: %s", perso_token_error(r->t));
		return -1;
	}
	for (i = 0; i < nw; i++) {
		/* the same label twice in want (a key with two roles) */
		for (j = 0; j < i; j++)
			if (strcmp(want[j].label, want[i].label) == 0)
				break;
		if (j < i)
			continue;
		for (j = 0; j < nl; j++)
			if (strcmp(have[j].label, want[i].label) == 0)
				break;
		if (j < nl && (settled || (have[j].type == want[i].type &&
					   have[j].role == want[i].role &&
					   have[j].has_kcv)))
			continue;
		if (j < nl) {
			fprintf(stderr,
				"cardfab run: key '%s' was cut short by a kill "
				"while it was made: made again\n",
				want[i].label);
			if (perso_key_delete(r->t, want[i].label) != PERSO_OK) {
				cli_error("token: deleting %s: %s",
					  want[i].label,
					  perso_token_error(r->t));
				free(have);
				return -1;
			}
		}
		if (!create) {
			if (want[i].role == PERSO_ROLE_MASTER)
				cli_error("token: no key '%s' (%s): import it "
					  "('cardfab keys import')",
					  want[i].label, want[i].what);
			else
				cli_error("token: no key '%s' (%s): make it "
					  "('cardfab keys create %s --type "
					  "aes256 --%s')",
					  want[i].label, want[i].what,
					  want[i].label,
					  want[i].role == PERSO_ROLE_WRAP ?
						  "wrap" :
						  "batch");
			missing++;
			continue;
		}
		if (perso_key_create(r->t, want[i].label, want[i].type,
				     want[i].role) != PERSO_OK) {
			cli_error("token: creating %s: %s", want[i].label,
				  perso_token_error(r->t));
			free(have);
			return -1;
		}
		made++;
	}
	free(have);
	if (made)
		printf("keys: %d key%s generated in the work folder's token "
		       "(a bureau imports its own)\n",
		       made, made == 1 ? "" : "s");
	if (!missing && !settled && cli_write_durably(mark, "", 0, 0600) != 0) {
		cli_error("%s: %s", mark, strerror(errno));
		return -1;
	}
	return missing ? -1 : 0;
}

/* ---------------------------------------------------------------- prep */

static int prep(run_t *r)
{
	perso_prep_report_t rep;
	perso_status_t st;
	char err[512], rej[4500];

	snprintf(r->batch, sizeof r->batch, "%s/%s.batch", r->work, r->o.name);
	if (exists(r->batch))
		return 0; /* written durably: whole, checked when loaded */
	snprintf(rej, sizeof rej, "%s/%s.rejects", r->work, r->o.name);
	memset(&rep, 0, sizeof rep);
	err[0] = '\0';
	st = perso_prep_batch(r->t, r->p, r->o.holders, r->batch, rej,
			      r->o.batch_key, 1, &rep, err, sizeof err);
	if (st != PERSO_OK) {
		cli_error("data preparation: %s", err[0] ? err :
						  rep.fatal[0] ?
							   rep.fatal :
							   perso_strerror(st));
		perso_prep_report_free(&rep);
		return -1;
	}
	printf("prep: %zu holder%s prepared into %s", rep.good,
	       rep.good == 1 ? "" : "s", r->batch);
	if (rep.bad)
		printf("; %zu bad record%s set aside in %s", rep.bad,
		       rep.bad == 1 ? "" : "s", rej);
	putchar('\n');
	perso_prep_report_free(&rep);
	return 0;
}

/* The batch's holders into the MES, all at once (one transaction), once. */
static int add_holders(run_t *r)
{
	perso_batch_t *b = NULL;
	mes_holder_t *h;
	mes_counts_t k;
	mes_err_t me;
	size_t n, i;
	char err[512];
	int rc = 0;

	if (perso_batch_load(r->batch, r->p, &b, err, sizeof err) != PERSO_OK) {
		cli_error("%s", err);
		return -1;
	}
	n = perso_batch_count(b);
	me = mes_counts(r->m, r->order_id, &k);
	if (me != MES_OK) {
		cli_error("MES: %s", mes_error_detail(r->m));
		perso_batch_free(b);
		return -1;
	}
	if (k.holders == (int64_t)n) {
		perso_batch_free(b);
		return 0;
	}
	if ((int64_t)n < r->o.quantity)
		printf("prep: warning: %zu holders for %lld cards: the cards "
		       "left over stay initialized, unissued\n",
		       n, (long long)r->o.quantity);
	else if ((int64_t)n > r->o.quantity)
		printf("prep: warning: %zu holders for %lld cards: the holders "
		       "beyond the cards built are not issued\n",
		       n, (long long)r->o.quantity);
	if (k.holders != 0) {
		cli_error("the MES holds %lld holders of order %s, the batch "
			  "%s %zu",
			  (long long)k.holders, r->o.name, r->batch, n);
		perso_batch_free(b);
		return -1;
	}
	h = calloc(n ? n : 1, sizeof *h);
	if (h == NULL) {
		cli_error("out of memory");
		perso_batch_free(b);
		return -1;
	}
	for (i = 0; i < n; i++) {
		h[i].order_id = r->order_id;
		snprintf(h[i].ref, sizeof h[i].ref, "%s",
			 perso_batch_ref(b, i));
		if (perso_batch_trace_json(b, i, h[i].fields,
					   sizeof h[i].fields) == 0)
			snprintf(h[i].fields, sizeof h[i].fields, "{}");
	}
	me = mes_add_holders(r->m, h, n);
	if (me != MES_OK) {
		cli_error("MES: holders: %s: %s", mes_strerror(me),
			  mes_error_detail(r->m));
		rc = -1;
	} else {
		printf("mes: %zu holder%s of order %s recorded\n", n,
		       n == 1 ? "" : "s", r->o.name);
	}
	free(h);
	perso_batch_free(b);
	return rc;
}

/* ---------------------------------------------------------------- line */

static int transport_cb(void *ctx, const uint8_t serial[8], uint8_t code[8],
			char *key_ref, size_t cap)
{
	run_t *r = ctx;

	if (perso_transport_code(r->t, r->o.tmk, serial, code) != PERSO_OK)
		return -1;
	snprintf(key_ref, cap, "%s", r->o.tmk);
	return 0;
}

static const char *const part_label[LINE_PARTS] = {
	"part 2 fab", "part 3 grind", "part 4 module", "part 5 body"
};
/* The line reports its progress in wafers, whatever the part's unit. */
static const char *const part_unit[LINE_PARTS] = { "wafer", "wafer", "wafer",
						   "wafer" };

static void line_cb(void *ctx, line_part_t part, uint64_t done, uint64_t total)
{
	run_t *r = ctx;

	if (r->bar == NULL || r->bar_part != (int)part) {
		progress_end(r->bar);
		r->bar = progress_new(part_label[part], part_unit[part], total,
				      0);
		r->bar_part = (int)part;
	}
	progress_set_total(r->bar, total);
	progress_set(r->bar, done, 0);
}

static int line(run_t *r)
{
	line_counts_t lc;
	line_status_t ls;
	mes_counts_t k;

	r->bar = NULL;
	r->bar_part = -1;
	ls = line_run(r->l, line_cb, r, &lc);
	progress_end(r->bar);
	r->bar = NULL;
	if (ls != LINE_OK) {
		cli_error("line: %s: %s", line_strerror(ls),
			  line_error_detail(r->l));
		return -1;
	}
	if (mes_counts(r->m, r->order_id, &k) == MES_OK &&
	    k.built + k.initialized + k.issued < r->o.quantity)
		printf("line: warning: %lld cards built for an order of "
		       "%lld: give the order more wafers (line.lots, "
		       "line.wafers-per-lot)\n",
		       (long long)(k.built + k.initialized + k.issued),
		       (long long)r->o.quantity);
	return 0;
}

/* ---------------------------------------------------------------- stations */

static void on_signal(int sig)
{
	(void)sig;
	station_loop_stop();
}

static int stations(run_t *r, mes_part_t part)
{
	station_cfg_t cfg;
	station_result_t res;
	uint64_t before, left;
	char err[600], host[MES_NAME_MAX], name[MES_NAME_MAX];
	struct sigaction sa, old_int, old_term;
	int rc;

	if (station_part_figures(r->m, r->order_id, part, &before, &left) !=
	    0) {
		cli_error("MES: %s", mes_error_detail(r->m));
		return -1;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.db_url = r->db;
	cfg.order_name = r->o.name;
	cfg.part = part;
	cfg.work = r->work;
	cfg.batch_path = r->batch;
	cfg.profile = r->p;
	cfg.token_module = r->ts.module;
	cfg.token_label = r->ts.label;
	cfg.token_pin = r->ts.pin;
	cfg.tmk = r->o.tmk;
	cfg.wrap_key = r->o.wrap_key;
	cfg.mailer_key = r->o.mailer_key;
	cfg.prepersonalizer = r->o.prepersonalizer;
	cfg.personalizer = r->o.personalizer;
	cfg.init_equipment = r->o.init_equipment;
	cfg.perso_equipment = r->o.perso_equipment;
	cfg.threads = r->ro->stations ? r->ro->stations : r->o.stations;
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(name, sizeof name, "%.40s/%s", r->o.name,
		 part == MES_PART_INIT ? "init" : "perso");
	cfg.station_name = name;
	cfg.host = host;
	cfg.progress = progress_new(part == MES_PART_INIT ? "part 6 init" :
							    "part 7 perso",
				    "card", before + left, before);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second ^C kills */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	rc = station_loop_run(&cfg, &res, err, sizeof err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	progress_end(cfg.progress);
	if (rc != 0) {
		cli_error("%s", err);
		return -1;
	}
	if (station_loop_stopping()) {
		cli_error("stopped: run the same command again to resume");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- report */

static int report(run_t *r)
{
	char err[512], html[4400], name[200];
	report_status_t rs;
	mes_counts_t k;

	if (mes_counts(r->m, r->order_id, &k) == MES_OK && k.holders > 0 &&
	    k.holders_issued == k.holders)
		mes_set_order_status(r->m, r->order_id, MES_ORDER_DONE);
	rs = report_text(r->m, r->o.name, stdout, err, sizeof err);
	if (rs != REPORT_OK) {
		cli_error("report: %s", err);
		return -1;
	}
	snprintf(name, sizeof name, "%s-report.html", r->o.name);
	if (report_default_html_path(r->db, name, html, sizeof html) != 0) {
		cli_error("report: path too long");
		return -1;
	}
	if (report_sqlite_path(r->db) == NULL)
		snprintf(html, sizeof html, "%s/%s", r->work, name);
	rs = report_html(r->m, r->o.name, html, err, sizeof err);
	if (rs != REPORT_OK) {
		cli_error("report: %s", err);
		return -1;
	}
	if (mes_counts(r->m, r->order_id, &k) == MES_OK) {
		printf("\n%lld of %lld holders issued a card (this run: %.1f "
		       "s); PIN mailer: %s/mailer.txt; card faces: "
		       "%s/faces/\n",
		       (long long)k.holders_issued, (long long)k.holders,
		       (double)(mes_now_us() - r->t0_us) / 1e6, r->work,
		       r->work);
	}
	printf("report: %s\n", html);
	return 0;
}

/* ---------------------------------------------------------------- run */

int run_order(const run_opts_t *ro)
{
	run_t r;
	char err[1024];
	profile_diags_t d;
	mes_order_t existing;
	mes_err_t me;
	line_status_t ls;
	int rc = CLI_FAIL;

	memset(&r, 0, sizeof r);
	r.ro = ro;
	r.t0_us = mes_now_us();
	if (order_load(ro->order_file, &r.o, err, sizeof err) != 0) {
		cli_error("%s", err);
		return CLI_FAIL;
	}
	if (order_size_line(&r.o, err, sizeof err) != 0) {
		cli_error("%s", err);
		goto out;
	}
	snprintf(r.work, sizeof r.work, "%s", ro->work ? ro->work : "");
	if (ro->work == NULL)
		snprintf(r.work, sizeof r.work, "%s.work", r.o.name);
	if (ro->db)
		snprintf(r.db, sizeof r.db, "%s", ro->db);
	else
		snprintf(r.db, sizeof r.db, "sqlite:%s/cardfab.db", r.work);

	profile_diags_init(&d);
	profile_open(r.o.profile, &r.p, &d);
	profile_diags_print(stderr, &d);
	profile_diags_free(&d);
	if (r.p == NULL) {
		cli_error("%s: not a valid profile (order %s)", r.o.profile,
			  r.o.file);
		goto out;
	}
	if (mkdir_if(r.work) != 0)
		goto out;
	snprintf(r.path, sizeof r.path, "%s/chips", r.work);
	if (mkdir_if(r.path) != 0 || pin_profile(&r) != 0)
		goto out;
	printf("order %s: %lld %s cards for the holders of %s; work folder "
	       "%s\n",
	       r.o.name, (long long)r.o.quantity, profile_info(r.p)->name,
	       r.o.holders, r.work);

	/* keys */
	r.ts.dir = ro->token_dir;
	r.ts.module = ro->token_module;
	r.ts.label = ro->token_label;
	r.ts.pin_file = ro->pin_file;
	r.ts.pin_env = ro->pin_env;
	station_token_env(&r.ts);
	if (r.ts.external) {
		if (station_token_pin(&r.ts, r.work, err, sizeof err) != 0) {
			cli_error("%s", err);
			goto out;
		}
		if (perso_token_open(r.ts.module, r.ts.label, r.ts.pin, &r.t,
				     err, sizeof err) != PERSO_OK) {
			cli_error("token: %s", err);
			goto out;
		}
	} else if (work_token(&r) != 0) {
		goto out;
	}
	if (ensure_keys(&r, !r.ts.external) != 0)
		goto out;

	/* the MES and the order */
	if (mes_open(r.db, &r.m, err, sizeof err) != MES_OK) {
		cli_error("MES: %s", err);
		goto out;
	}
	me = mes_migrate(r.m, NULL, NULL);
	if (me != MES_OK) {
		cli_error("MES: %s: %s", mes_strerror(me),
			  mes_error_detail(r.m));
		goto out;
	}
	snprintf(r.path, sizeof r.path, "%s/chips", r.work);
	r.o.line.chip_dir = r.path;
	r.o.line.profile_name = profile_info(r.p)->name;
	r.o.line.profile_hash = r.hash[0] ? r.hash : "none";
	r.o.line.transport = transport_cb;
	r.o.line.transport_ctx = &r;
	/* Simulated dates: the file's fab day, else the day the order was
	 * created (a resumed run draws the same dates as the first). */
	if (r.o.fab_day_us)
		r.o.line.start_us = r.o.fab_day_us;
	else if (mes_find_order(r.m, r.o.name, &existing) == MES_OK)
		r.o.line.start_us =
			existing.created_us -
			existing.created_us % (86400 * INT64_C(1000000));
	else
		r.o.line.start_us = mes_now_us() -
				    mes_now_us() % (86400 * INT64_C(1000000));
	ls = line_open(&r.o.line, r.m, &r.l, err, sizeof err);
	if (ls != LINE_OK) {
		cli_error("line: %s", err);
		goto out;
	}
	r.order_id = line_order_id(r.l);

	/* data preparation, the holders, parts 2 to 5 */
	if (prep(&r) != 0 || add_holders(&r) != 0 || line(&r) != 0)
		goto out;
	line_close(r.l);
	r.l = NULL;

	if (ro->prepare_only) {
		printf("prepared: parts 2 to 5 done; start stations with\n"
		       "  cardfab station --work '%s' --db '%s' --order %s "
		       "--part init\n"
		       "  cardfab station --work '%s' --db '%s' --order %s "
		       "--part perso\n",
		       r.work, r.db, r.o.name, r.work, r.db, r.o.name);
		rc = CLI_OK;
		goto out;
	}
	if (mes_find_order(r.m, r.o.name, &existing) == MES_OK &&
	    existing.status == MES_ORDER_OPEN)
		mes_set_order_status(r.m, r.order_id, MES_ORDER_RUNNING);
	if (stations(&r, MES_PART_INIT) != 0 ||
	    stations(&r, MES_PART_PERSO) != 0)
		goto out;
	putchar('\n');
	if (report(&r) != 0)
		goto out;
	rc = CLI_OK;
out:
	fflush(stdout);
	line_close(r.l);
	mes_close(r.m);
	perso_token_close(r.t);
	cli_wipe(r.ts.pin, sizeof r.ts.pin);
	profile_free(r.p);
	order_free(&r.o);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	enum {
		O_WORK = 256,
		O_DB,
		O_STATIONS,
		O_PREPARE,
	};
	static const struct option lopts[] = {
		{ "work", required_argument, NULL, O_WORK },
		{ "db", required_argument, NULL, O_DB },
		{ "stations", required_argument, NULL, O_STATIONS },
		{ "prepare-only", no_argument, NULL, O_PREPARE },
		{ "no-stations", no_argument, NULL, O_PREPARE },
		CLI_TOKEN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	run_opts_t ro;
	char *end;
	unsigned long v;
	int c;
	cli_token_opts_t tok = { NULL, NULL, NULL, NULL, NULL };

	memset(&ro, 0, sizeof ro);
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_run(stdout);
			return CLI_OK;
		case O_WORK:
			ro.work = optarg;
			break;
		case O_DB:
			ro.db = optarg;
			break;
		case O_STATIONS:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno || v < 1 ||
			    v > ORDER_MAX_STATIONS)
				return cli_usage_error(TOPIC,
						       "--stations: 1 to %u "
						       "expected, got '%s'",
						       ORDER_MAX_STATIONS,
						       optarg);
			ro.stations = (unsigned)v;
			break;
		case O_PREPARE:
			ro.prepare_only = 1;
			break;
		default:
			if (cli_token_option(c, optarg, &tok))
				break;
			return cli_option_error(c, argv, TOPIC);
		}
	}
	ro.token_dir = tok.dir;
	ro.token_module = tok.module;
	ro.token_label = tok.token;
	ro.pin_file = tok.pin_file;
	ro.pin_env = tok.pin_env;
	if (optind >= argc)
		return cli_usage_error(TOPIC, "an order file (ORDER.yaml) "
					      "expected");
	if (argc - optind > 1)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind + 1]);
	ro.order_file = argv[optind];
	return run_order(&ro);
}
