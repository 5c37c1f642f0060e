/*
 * perso.c - `cardfab perso`: personalization (part 7) of a prepared batch
 * on cards in readers, by one or many stations at once.
 *
 *   cardfab perso --batch B --profile P (--card READER... | --cards DIR)
 *                 [--stations N] [--journal F] [--out DIR] [--wait]
 *                 [--wrap-key L] [--mailer-key L] [TOKEN OPTIONS]
 *
 * With --wait, each --card reader is a station of its own that waits for
 * the operator to put cards in, one after the other (a bureau's desk
 * with real readers).
 *
 * The stations are threads; each takes the next card (a reader given with
 * --card, or the next chip image of DIR, a virtual card hopper), binds it
 * to the next holder in the journal (B.journal, fsync'd), personalizes it
 * (src/perso/perso.c), writes the holder's outputs (the PIN mailer line,
 * the card face) and records the outcome in the journal before it takes
 * another card. Killed at any moment, the same command resumes: cards
 * with an outcome are skipped, a card started and not finished is taken
 * up again for its holder, and no holder gets two cards.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "perso/face.h"
#include "perso/perso.h"
#include "profile/profile.h"

#define TOPIC "perso"
#define DEFAULT_WRAP "CARD-WRAP"
#define DEFAULT_MAILER "MAILER-KEY"
#define STATIONS_MAX 64

void usage_perso(FILE *f)
{
	fputs("usage: cardfab perso --batch B --profile P (--card READER... | "
	      "--cards DIR)\n"
	      "                     [--stations N] [--journal F] [--out DIR]\n"
	      "                     [--wrap-key L] [--mailer-key L] "
	      "[--personalizer HEX]\n"
	      "                     [--equipment HEX] [--wait] [TOKEN OPTIONS]\n"
	      "\n"
	      "Personalizes the cards for the holders of a prepared batch "
	      "(cardfab prep):\n"
	      "an SCP03 session with the card's diversified keys, the "
	      "holder's data and\n"
	      "PINs written, the CPLC stamp (DF44), the chip made "
	      "OPERATIONAL, every\n"
	      "written byte read back and every PIN presented. For each "
	      "card issued, a\n"
	      "PIN mailer line (encrypted under the mailer key) goes to "
	      "OUT/mailer.txt and\n"
	      "the card face to OUT/faces/SERIAL.svg.\n"
	      "\n"
	      "Every step is in the journal (default B.journal, fsync'd) "
	      "before the next:\n"
	      "a run killed at any moment resumes with the same command; no "
	      "holder gets\n"
	      "two cards; a card refused or failing its read-back is rejected "
	      "with its\n"
	      "reason and its holder goes to the next card.\n"
	      "\n"
	      "  --card READER     a card: vcard:PATH or pcsc:NAME "
	      "(repeatable)\n"
	      "  --cards DIR       every chip image (*.img) of DIR, in name "
	      "order\n"
	      "  --stations N      stations working at once (default 1)\n"
	      "  --wait            a station a reader (--card): each card put "
	      "in is\n"
	      "                    personalized, then the next one is awaited, "
	      "until every\n"
	      "                    holder has a card or ^C (the card in hand is "
	      "finished)\n"
	      "  --journal F       the run's journal (default B.journal)\n"
	      "  --out DIR         outputs (default B.out)\n"
	      "  --wrap-key L      AES wrapping key for card keys (default " DEFAULT_WRAP
	      ")\n"
	      "  --mailer-key L    batch-role key of the PIN mailer (default " DEFAULT_MAILER
	      ")\n"
	      "  --personalizer H  CPLC personalizer, 4 hex digits (default "
	      "4346)\n"
	      "  --equipment H     CPLC equipment ID, 8 hex digits (default "
	      "00000001)\n"
	      "\n"
	      "Token options as for 'cardfab keys': --dir, --module, --token, "
	      "--pin-file,\n"
	      "--pin-env. The batch key is the one the batch names.\n",
	      f);
}

typedef struct {
	/* shared, read only */
	const profile_t *p;
	perso_batch_t *b;
	perso_journal_t *j;
	perso_card_opts_t o;
	const char *mailer_key, *out;
	perso_token_t *t; /* the process's login */
	char **cards;
	size_t ncards;
	/* under mu */
	pthread_mutex_t mu;
	size_t next;
	int stop;
	char err[512];
	progress_t *bar;
	size_t skipped;
	size_t nrejected; /* the bar counts cards: holders + rejects */
	unsigned busy;	  /* cards stations hold for a holder now */
	int wait; /* --wait: a station a reader, cards put in one by one */
} run_t;

typedef struct {
	run_t *r;
	unsigned id;
} station_t;

/* The first station's failure stops them all. */
static void station_fail(run_t *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void station_fail(run_t *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	if (!r->stop) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof r->err, fmt, ap);
		va_end(ap);
	}
	r->stop = 1;
	pthread_mutex_unlock(&r->mu);
}

static int add_card(run_t *r, const char *spec);

/* A card put back in the hopper by a station. */
static int add_card_locked(run_t *r, const char *spec)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = add_card(r, spec);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static const char *next_card(run_t *r)
{
	const char *c = NULL;

	pthread_mutex_lock(&r->mu);
	if (!r->stop && r->next < r->ncards)
		c = r->cards[r->next++];
	pthread_mutex_unlock(&r->mu);
	return c;
}

/* The holder's outputs: the face and the mailer line. */
static int outputs(run_t *r, perso_token_t *t, const perso_holder_t *h,
		   const char *serial, char *err, size_t cap)
{
	char path[4200], *svg, *line = NULL;
	perso_status_t st;
	int rc;

	svg = perso_face_svg(r->p, (const char *const *)h->values, h->nvalues,
			     serial);
	if (svg == NULL) {
		snprintf(err, cap, "card face: out of memory");
		return -1;
	}
	snprintf(path, sizeof path, "%s/faces/%s.svg", r->out, serial);
	rc = cli_write_durably(path, svg, strlen(svg), 0644);
	free(svg);
	if (rc != 0) {
		snprintf(err, cap, "%.300s: %s", path, strerror(errno));
		return -1;
	}
	st = perso_mailer_record(t, r->mailer_key, r->p, h, serial, &line);
	if (st != PERSO_OK) {
		snprintf(err, cap, "PIN mailer: %s",
			 perso_token_error(t)[0] ? perso_token_error(t) :
						   perso_strerror(st));
		return -1;
	}
	snprintf(path, sizeof path, "%s/mailer.txt", r->out);
	st = perso_mailer_append(path, serial, line, err, cap);
	free(line);
	return st == PERSO_OK ? 0 : -1;
}

/* One card through the station. */
/* What one_card() did with the reader's card. */
enum {
	ONE_DONE = 0, /* personalized (issued or rejected) */
	ONE_NO_CARD,  /* no card (or a mute one) in the reader */
	ONE_SKIPPED,  /* done before, or no holder left for it */
	ONE_WAIT,     /* no holder free while other stations hold some */
	ONE_FAILED,   /* the station failed (r->err) */
};

/* One card through the station; hex receives its serial, ref the
 * holder's reference (when it got one), issued 1 when it was issued.
 * wait: a reader without a card is not an error (a station waiting for
 * the next card). */
static int one_card(run_t *r, perso_token_t *t, const char *spec, int wait,
		    char hex[17], char ref[PERSO_REF_MAX], int *issued)
{
	reader_t *rd = NULL;
	uint8_t serial[PERSO_SERIAL_LEN];
	char err[512], why[600];
	perso_holder_t h;
	perso_card_info_t info;
	perso_status_t st;
	reader_status_t rs;
	unsigned seq = 0;
	int resumed = 0;
	size_t i;
	int ret = ONE_DONE, took = 0;

	hex[0] = ref[0] = '\0';
	*issued = 0;
	rs = reader_open(spec, COS_PROTO_T1, &rd, err, sizeof err);
	if (rs != READER_OK) {
		if (wait &&
		    (rs == READER_ERR_NO_CARD || rs == READER_ERR_MUTE ||
		     rs == READER_ERR_REMOVED || rs == READER_ERR_SHARING))
			return ONE_NO_CARD;
		station_fail(r, "%s: %s", spec, err);
		return ONE_FAILED;
	}
	st = perso_card_serial(rd, r->p, serial, err, sizeof err);
	if (st != PERSO_OK) {
		/* No serial, no journal entry: a mute card is left alone. */
		if (!wait)
			fprintf(stderr,
				"cardfab perso: %s: %s: left in the hopper\n",
				spec, err);
		ret = ONE_NO_CARD;
		goto out;
	}
	for (i = 0; i < PERSO_SERIAL_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02X", serial[i]);
	/* The take and the count of cards in hand change together: a
	 * station that finds no holder free while another holds one (for a
	 * card that may yet be rejected) waits for it, and one that finds
	 * none in hand knows no holder will come free. */
	pthread_mutex_lock(&r->mu);
	st = perso_journal_take(r->j, hex, &seq, &resumed);
	if (st == PERSO_OK) {
		r->busy++;
		took = 1;
	} else if (st == PERSO_ERR_NOT_FOUND && r->busy > 0) {
		ret = ONE_WAIT;
	}
	pthread_mutex_unlock(&r->mu);
	if (ret == ONE_WAIT)
		goto out;
	if (st == PERSO_ERR_EXISTS || st == PERSO_ERR_NOT_FOUND) {
		/* finished before, or no holder left for it */
		pthread_mutex_lock(&r->mu);
		r->skipped++;
		pthread_mutex_unlock(&r->mu);
		ret = ONE_SKIPPED;
		goto out;
	}
	if (st != PERSO_OK) {
		station_fail(r, "journal: %s", perso_strerror(st));
		ret = ONE_FAILED;
		goto out;
	}
	st = perso_batch_holder(r->b, seq - 1, t, &h, err, sizeof err);
	if (st != PERSO_OK) {
		station_fail(r, "batch: %s", err);
		ret = ONE_FAILED;
		goto out;
	}
	snprintf(ref, PERSO_REF_MAX, "%s", h.ref);
	st = perso_card(rd, r->p, t, &r->o, &h, &info, err, sizeof err);
	if (st == PERSO_OK && outputs(r, t, &h, hex, err, sizeof err) != 0) {
		perso_holder_clear(&h);
		station_fail(r, "%s", err);
		ret = ONE_FAILED;
		goto out;
	}
	perso_holder_clear(&h);
	if (st == PERSO_OK) {
		st = perso_journal_issued(r->j, seq, hex);
		*issued = st == PERSO_OK;
		progress_add(r->bar, 0);
	} else if (st == PERSO_ERR_CARD) {
		/* One card more is needed for the holder. */
		pthread_mutex_lock(&r->mu);
		r->nrejected++;
		progress_set_total(r->bar,
				   perso_batch_count(r->b) + r->nrejected);
		pthread_mutex_unlock(&r->mu);
		snprintf(why, sizeof why, "%s", err);
		fprintf(stderr, "cardfab perso: card %s (%s): rejected: %s\n",
			hex, spec, why);
		st = perso_journal_rejected(r->j, seq, hex, why);
		progress_add(r->bar, 1);
	} else {
		/* Not the card's fault: stop; the card resumes next run. */
		station_fail(r, "card %s: %s", hex, err);
		ret = ONE_FAILED;
		goto out;
	}
	if (st != PERSO_OK) {
		station_fail(r, "journal: %s", perso_strerror(st));
		ret = ONE_FAILED;
	}
out:
	if (rd != NULL)
		reader_close(rd, NULL, 0);
	if (took) {
		pthread_mutex_lock(&r->mu);
		r->busy--;
		pthread_mutex_unlock(&r->mu);
	}
	return ret;
}

static volatile sig_atomic_t stop_waiting;

static void on_stop(int sig)
{
	(void)sig;
	stop_waiting = 1;
}

static size_t issued_count(run_t *r)
{
	size_t issued;

	perso_journal_counts(r->j, &issued, NULL);
	return issued;
}

static int all_issued(run_t *r)
{
	return issued_count(r) == perso_batch_count(r->b);
}

/*
 * A station bound to one reader (--wait): it personalizes each card put
 * in, tells the operator to take it out, and waits for the next, until
 * every holder has a card, the station fails, or SIGINT/SIGTERM (the card
 * in hand is finished first).
 */
static void wait_station(run_t *r, perso_token_t *t, const char *spec)
{
	struct timespec poll = { 0, 300 * 1000000L };
	char hex[17], ref[PERSO_REF_MAX], last[17] = "";
	int rc, issued, told_empty = 0;

	while (!stop_waiting && !all_issued(r)) {
		pthread_mutex_lock(&r->mu);
		rc = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (rc)
			break;
		rc = one_card(r, t, spec, 1, hex, ref, &issued);
		if (rc == ONE_FAILED)
			break;
		if (rc == ONE_DONE) {
			printf("%s: card %s %s%s%s: take it out, put in the "
			       "next card\n",
			       spec, hex, issued ? "issued to holder " : "",
			       issued ? ref : "rejected (see above)", "");
			fflush(stdout);
			snprintf(last, sizeof last, "%s", hex);
			told_empty = 0;
		} else if (rc == ONE_SKIPPED && strcmp(hex, last) != 0) {
			printf("%s: card %s was personalized before: put in "
			       "the next card\n",
			       spec, hex);
			fflush(stdout);
			snprintf(last, sizeof last, "%s", hex);
		} else if (rc == ONE_NO_CARD && !told_empty) {
			printf("%s: waiting for a card (%zu of %zu holders "
			       "without one)\n",
			       spec, perso_batch_count(r->b) - issued_count(r),
			       perso_batch_count(r->b));
			fflush(stdout);
			told_empty = 1;
			last[0] = '\0';
		}
		if (rc != ONE_DONE)
			nanosleep(&poll, NULL);
	}
}

static void *station_main(void *arg)
{
	station_t *s = arg;
	run_t *r = s->r;
	perso_token_t *t = NULL;
	const char *spec;
	char hex[17], ref[PERSO_REF_MAX];
	struct timespec pause = { 0, 10 * 1000000L };
	size_t issued;
	int ok;

	/* Each station its own PKCS#11 session (the login is the
	 * process's: the main thread keeps its handle open). */
	pthread_mutex_lock(&r->mu);
	if (perso_token_session(r->t, &t) != PERSO_OK) {
		pthread_mutex_unlock(&r->mu);
		station_fail(r, "station: token: %s", perso_token_error(r->t));
		return NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (r->wait) {
		wait_station(r, t, r->cards[s->id - 1]);
		perso_token_close(t);
		return NULL;
	}
	while ((spec = next_card(r)) != NULL) {
		if (one_card(r, t, spec, 0, hex, ref, &ok) == ONE_WAIT) {
			/* Back in the hopper, behind the others. */
			if (add_card_locked(r, spec) != 0) {
				station_fail(r, "out of memory");
				break;
			}
			nanosleep(&pause, NULL);
		}
		perso_journal_counts(r->j, &issued, NULL);
		if (issued == perso_batch_count(r->b))
			break;
	}
	perso_token_close(t);
	return NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_card(run_t *r, const char *spec)
{
	char **v = realloc(r->cards, (r->ncards + 1) * sizeof *v);

	if (v == NULL)
		return -1;
	r->cards = v;
	r->cards[r->ncards] = strdup(spec);
	if (r->cards[r->ncards] == NULL)
		return -1;
	r->ncards++;
	return 0;
}

static int hopper(run_t *r, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char spec[4300];
	size_t first = r->ncards, n;

	if (d == NULL) {
		cli_error("--cards %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".img") != 0)
			continue;
		snprintf(spec, sizeof spec, "vcard:%s/%s", dir, e->d_name);
		if (add_card(r, spec) != 0) {
			closedir(d);
			cli_error("out of memory");
			return -1;
		}
	}
	closedir(d);
	qsort(r->cards + first, r->ncards - first, sizeof *r->cards, name_cmp);
	if (r->ncards == first)
		cli_error("--cards %s: no chip image (*.img) in it", dir);
	return r->ncards == first ? -1 : 0;
}

static int parse_hex_u32(const char *s, unsigned digits, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (strlen(s) != digits)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno || *end != '\0')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int cmd_perso(int argc, char **argv)
{
	enum {
		O_BATCH = 256,
		O_PROFILE,
		O_CARD,
		O_CARDS,
		O_STATIONS,
		O_JOURNAL,
		O_OUT,
		O_WRAP,
		O_MAILER,
		O_PERSONALIZER,
		O_EQUIPMENT,
		O_WAIT,
	};
	static const struct option lopts[] = {
		{ "batch", required_argument, NULL, O_BATCH },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "card", required_argument, NULL, O_CARD },
		{ "cards", required_argument, NULL, O_CARDS },
		{ "stations", required_argument, NULL, O_STATIONS },
		{ "journal", required_argument, NULL, O_JOURNAL },
		{ "out", required_argument, NULL, O_OUT },
		{ "wrap-key", required_argument, NULL, O_WRAP },
		{ "mailer-key", required_argument, NULL, O_MAILER },
		{ "personalizer", required_argument, NULL, O_PERSONALIZER },
		{ "equipment", required_argument, NULL, O_EQUIPMENT },
		{ "wait", no_argument, NULL, O_WAIT },
		CLI_TOKEN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *batch = NULL, *profile = NULL, *journal = NULL;
	const char *out = NULL, *cards_dir = NULL;
	char jbuf[4200], obuf[4200], fbuf[4300], err[512];
	unsigned long stations = 1;
	uint32_t u32;
	char *end;
	int c, rc = CLI_FAIL;
	size_t i, issued = 0, rejected = 0, before, nst;
	profile_diags_t d;
	profile_t *p = NULL;
	perso_token_t *t = NULL;
	station_t st_v[STATIONS_MAX];
	pthread_t th[STATIONS_MAX];
	run_t r;
	cli_token_opts_t tok = { NULL, NULL, NULL, NULL, NULL };
	perso_status_t st;

	memset(&r, 0, sizeof r);
	r.o.wrap_label = DEFAULT_WRAP;
	r.o.personalizer = 0x4346;
	r.o.equipment = 0x00000001;
	r.mailer_key = DEFAULT_MAILER;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_perso(stdout);
			return CLI_OK;
		case O_BATCH:
			batch = optarg;
			break;
		case O_PROFILE:
			profile = optarg;
			break;
		case O_CARD:
			if (add_card(&r, optarg) != 0)
				return CLI_FAIL;
			break;
		case O_CARDS:
			cards_dir = optarg;
			break;
		case O_STATIONS:
			errno = 0;
			stations = strtoul(optarg, &end, 10);
			if (errno || *end || stations < 1 ||
			    stations > STATIONS_MAX)
				return cli_usage_error(TOPIC,
						       "--stations: 1 to %d "
						       "expected",
						       STATIONS_MAX);
			break;
		case O_JOURNAL:
			journal = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_WRAP:
			r.o.wrap_label = optarg;
			break;
		case O_MAILER:
			r.mailer_key = optarg;
			break;
		case O_PERSONALIZER:
			if (parse_hex_u32(optarg, 4, &u32) != 0)
				return cli_usage_error(TOPIC,
						       "--personalizer: 4 hex "
						       "digits expected");
			r.o.personalizer = (uint16_t)u32;
			break;
		case O_WAIT:
			r.wait = 1;
			break;
		case O_EQUIPMENT:
			if (parse_hex_u32(optarg, 8, &u32) != 0)
				return cli_usage_error(TOPIC,
						       "--equipment: 8 hex "
						       "digits expected");
			r.o.equipment = u32;
			break;
		default:
			if (cli_token_option(c, optarg, &tok))
				break;
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (batch == NULL || profile == NULL ||
	    (r.ncards == 0 && cards_dir == NULL))
		return cli_usage_error(TOPIC, "--batch, --profile and --card "
					      "or --cards expected");
	if (r.wait && (cards_dir != NULL || r.ncards > STATIONS_MAX))
		return cli_usage_error(TOPIC,
				       "--wait takes readers (--card, at "
				       "most %d), not --cards",
				       STATIONS_MAX);
	if (cards_dir != NULL && hopper(&r, cards_dir) != 0)
		goto done;
	if (journal == NULL) {
		snprintf(jbuf, sizeof jbuf, "%s.journal", batch);
		journal = jbuf;
	}
	if (out == NULL) {
		snprintf(obuf, sizeof obuf, "%s.out", batch);
		out = obuf;
	}
	r.out = out;
	snprintf(fbuf, sizeof fbuf, "%s/faces", out);
	if ((mkdir(out, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(fbuf, 0755) != 0 && errno != EEXIST)) {
		cli_error("%s: %s", fbuf, strerror(errno));
		goto done;
	}

	profile_diags_init(&d);
	profile_open(profile, &p, &d);
	profile_diags_print(stderr, &d);
	profile_diags_free(&d);
	if (p == NULL) {
		cli_error("%s: not a valid profile", profile);
		goto done;
	}
	r.p = p;
	st = perso_batch_load(batch, p, &r.b, err, sizeof err);
	if (st != PERSO_OK) {
		cli_error("%s", err[0] ? err : perso_strerror(st));
		goto done;
	}
	if (perso_batch_count(r.b) == 0) {
		cli_error("%s: no holder in the batch", batch);
		goto done;
	}
	st = perso_journal_open(journal, perso_batch_count(r.b), &r.j, err,
				sizeof err);
	if (st != PERSO_OK) {
		cli_error("%s", err[0] ? err : perso_strerror(st));
		goto done;
	}
	/* The process's login; stations open sessions of their own. */
	if (cli_token_open(&tok, &t) != CLI_OK)
		goto done;
	r.t = t;
	perso_journal_counts(r.j, &before, &rejected);
	r.nrejected = rejected;
	r.bar = progress_new("part 7 perso", "card",
			     perso_batch_count(r.b) + rejected,
			     before + rejected);
	progress_set(r.bar, before + rejected, rejected);
	pthread_mutex_init(&r.mu, NULL);
	nst = stations < r.ncards ? stations : r.ncards;
	if (r.wait) {
		/* A station a reader; ^C finishes the cards in hand. */
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_stop;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		nst = r.ncards;
	}
	for (i = 0; i < nst; i++) {
		st_v[i].r = &r;
		st_v[i].id = (unsigned)i + 1;
		if (pthread_create(&th[i], NULL, station_main, &st_v[i]) != 0) {
			station_fail(&r, "cannot start a station");
			break;
		}
	}
	nst = i;
	for (i = 0; i < nst; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&r.mu);
	progress_end(r.bar);
	perso_journal_counts(r.j, &issued, &rejected);
	printf("%zu of %zu holders issued, %zu cards rejected; journal %s, "
	       "outputs in %s\n",
	       issued, perso_batch_count(r.b), rejected, journal, out);
	if (r.stop) {
		cli_error("%s", r.err);
		rc = CLI_FAIL;
	} else if (issued < perso_batch_count(r.b)) {
		cli_error("%zu holders still without a card: give more cards "
			  "and run the same command again",
			  perso_batch_count(r.b) - issued);
		rc = CLI_FAIL;
	} else {
		rc = CLI_OK;
	}
done:
	perso_journal_close(r.j);
	perso_batch_free(r.b);
	perso_token_close(t);
	profile_free(p);
	for (i = 0; i < r.ncards; i++)
		free(r.cards[i]);
	free(r.cards);
	return rc;
}
