/*
 * station.c - `cardfab station`: one init or perso station process of an
 * order, for a factory where many hosts share a PostgreSQL MES
 * (docs/run.md, "Stations").
 *
 *   cardfab station --order NAME --part init|perso [--work DIR] [--db URL]
 *                   [--name STATION] [--threads N] [--follow]
 *                   [TOKEN OPTIONS]
 *
 * `cardfab run --prepare-only` makes the order ready (token, batch, parts
 * 2 to 5, WORK/profile.yaml and WORK/order.yaml); each station process
 * then takes cards from the MES with the same loop as `cardfab run`
 * (station_loop.c): claims are FOR UPDATE SKIP LOCKED on PostgreSQL, so
 * stations never wait for each other, and a station restarted under its
 * name gets back the card it held.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/order.h"
#include "cli/station_loop.h"
#include "perso/token.h"
#include "profile/profile.h"

#define TOPIC "station"

void usage_station(FILE *f)
{
	fputs("usage: cardfab station --order NAME --part init|perso "
	      "[--work DIR] [--db URL]\n"
	      "                       [--name STATION] [--threads N] "
	      "[--follow] [TOKEN OPTIONS]\n"
	      "\n"
	      "One station process of an order prepared by 'cardfab run "
	      "--prepare-only':\n"
	      "takes cards from the MES one at a time and initializes "
	      "(part 6) or\n"
	      "personalizes (part 7) them, each outcome recorded before the "
	      "next card.\n"
	      "Many processes on many hosts may work one order together on "
	      "a PostgreSQL\n"
	      "MES. Stops when the part has no card left (or, with --follow, "
	      "waits for\n"
	      "more until interrupted); ^C stops after the current card.\n"
	      "\n"
	      "  --order NAME     the order (its name in the MES)\n"
	      "  --part P         init or perso\n"
	      "  --work DIR       the order's work folder: chip images, "
	      "batch, profile\n"
	      "                   (default ./NAME.work; shared by the "
	      "stations of a host)\n"
	      "  --db URL         the MES (default sqlite:WORK/cardfab.db)\n"
	      "  --name STATION   the station's name in the MES (default "
	      "HOST-PART-PID...;\n"
	      "                   give a fixed name so that a restart "
	      "resumes its card)\n"
	      "  --threads N      readers this process drives (default 1; "
	      "names NAME-1..)\n"
	      "  --follow         wait for cards when none is left\n"
	      "\n"
	      "Token: the work folder's own (WORK/hsm) unless token options "
	      "as for\n"
	      "'cardfab keys' name another (--dir, --module, --token, "
	      "--pin-file, --pin-env).\n"
	      "\n"
	      "Exit status: 0 done, 1 failure, 2 usage error.\n",
	      f);
}

static void on_signal(int sig)
{
	(void)sig;
	station_loop_stop();
}

int cmd_station(int argc, char **argv)
{
	enum {
		O_ORDER = 256,
		O_PART,
		O_WORK,
		O_DB,
		O_NAME,
		O_THREADS,
		O_FOLLOW,
	};
	static const struct option lopts[] = {
		{ "order", required_argument, NULL, O_ORDER },
		{ "part", required_argument, NULL, O_PART },
		{ "work", required_argument, NULL, O_WORK },
		{ "db", required_argument, NULL, O_DB },
		{ "name", required_argument, NULL, O_NAME },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "follow", no_argument, NULL, O_FOLLOW },
		CLI_TOKEN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *order_name = NULL, *part = NULL, *work = NULL, *db = NULL,
		   *name = NULL;
	char wbuf[4200], dbuf[4300], pbuf[4300], obuf[4300], bbuf[4400];
	char nbuf[MES_NAME_MAX], host[MES_NAME_MAX], err[1024];
	station_token_t ts;
	station_cfg_t cfg;
	station_result_t res;
	order_t o;
	profile_t *p = NULL;
	profile_diags_t d;
	perso_token_t *t = NULL;
	struct sigaction sa;
	unsigned long v;
	unsigned threads = 1;
	char *end;
	int c, follow = 0, rc = CLI_FAIL;
	cli_token_opts_t tok = { NULL, NULL, NULL, NULL, NULL };

	memset(&ts, 0, sizeof ts);
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_station(stdout);
			return CLI_OK;
		case O_ORDER:
			order_name = optarg;
			break;
		case O_PART:
			part = optarg;
			break;
		case O_WORK:
			work = optarg;
			break;
		case O_DB:
			db = optarg;
			break;
		case O_NAME:
			name = optarg;
			break;
		case O_THREADS:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno || v < 1 ||
			    v > ORDER_MAX_STATIONS)
				return cli_usage_error(TOPIC,
						       "--threads: 1 to %u "
						       "expected, got '%s'",
						       ORDER_MAX_STATIONS,
						       optarg);
			threads = (unsigned)v;
			break;
		case O_FOLLOW:
			follow = 1;
			break;
		default:
			if (cli_token_option(c, optarg, &tok))
				break;
			return cli_option_error(c, argv, TOPIC);
		}
	}
	ts.dir = tok.dir;
	ts.module = tok.module;
	ts.label = tok.token;
	ts.pin_file = tok.pin_file;
	ts.pin_env = tok.pin_env;
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (order_name == NULL || part == NULL)
		return cli_usage_error(TOPIC, "--order NAME and --part "
					      "init|perso expected");
	if (strcmp(part, "init") != 0 && strcmp(part, "perso") != 0)
		return cli_usage_error(TOPIC,
				       "--part: init or perso "
				       "expected, got '%s'",
				       part);
	if (name != NULL && (name[0] == '\0' || strlen(name) > 50))
		return cli_usage_error(TOPIC, "--name: 1 to 50 characters "
					      "expected");
	if (work == NULL) {
		snprintf(wbuf, sizeof wbuf, "%s.work", order_name);
		work = wbuf;
	}
	if (db == NULL) {
		snprintf(dbuf, sizeof dbuf, "sqlite:%s/cardfab.db", work);
		db = dbuf;
	}
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	if (name == NULL) {
		snprintf(nbuf, sizeof nbuf, "%.30s-%s-%ld", host, part,
			 (long)getpid());
		name = nbuf;
	}

	/* What `cardfab run` left in the work folder. */
	snprintf(obuf, sizeof obuf, "%s/order.yaml", work);
	snprintf(pbuf, sizeof pbuf, "%s/profile.yaml", work);
	if (order_load(obuf, &o, err, sizeof err) != 0) {
		cli_error("%s (prepare the order with 'cardfab run ORDER.yaml "
			  "--prepare-only --work %s')",
			  err, work);
		return CLI_FAIL;
	}
	if (strcmp(o.name, order_name) != 0) {
		cli_error("%s is the work folder of order %s, not %s", work,
			  o.name, order_name);
		order_free(&o);
		return CLI_FAIL;
	}
	profile_diags_init(&d);
	profile_open(pbuf, &p, &d);
	profile_diags_print(stderr, &d);
	profile_diags_free(&d);
	if (p == NULL) {
		cli_error("%s: not a valid profile", pbuf);
		goto out;
	}
	station_token_env(&ts);
	if (station_token_pin(&ts, work, err, sizeof err) != 0) {
		cli_error("%s", err);
		goto out;
	}
	/* The process's first handle: PKCS#11 logs in the process, and the
	 * stations' own handles rely on it until they end. */
	if (perso_token_open(ts.module, ts.label, ts.pin, &t, err,
			     sizeof err) != PERSO_OK) {
		cli_error("token: %s", err);
		goto out;
	}
	snprintf(bbuf, sizeof bbuf, "%s/%s.batch", work, o.name);

	memset(&cfg, 0, sizeof cfg);
	cfg.db_url = db;
	cfg.order_name = o.name;
	cfg.part = strcmp(part, "init") == 0 ? MES_PART_INIT : MES_PART_PERSO;
	cfg.work = work;
	cfg.batch_path = bbuf;
	cfg.profile = p;
	cfg.token_module = ts.module;
	cfg.token_label = ts.label;
	cfg.token_pin = ts.pin;
	cfg.tmk = o.tmk;
	cfg.wrap_key = o.wrap_key;
	cfg.mailer_key = o.mailer_key;
	cfg.prepersonalizer = o.prepersonalizer;
	cfg.personalizer = o.personalizer;
	cfg.init_equipment = o.init_equipment;
	cfg.perso_equipment = o.perso_equipment;
	cfg.threads = threads;
	cfg.station_name = name;
	cfg.host = host;
	cfg.follow = follow;
	{
		mes_t *m = NULL;
		mes_order_t ord;
		uint64_t before = 0, left = 0;

		if (mes_open(db, &m, err, sizeof err) != MES_OK) {
			cli_error("MES: %s", err);
			goto out;
		}
		if (mes_find_order(m, o.name, &ord) != MES_OK) {
			cli_error("MES: no order %s in %s", o.name, db);
			mes_close(m);
			goto out;
		}
		station_part_figures(m, ord.id, cfg.part, &before, &left);
		mes_close(m);
		cfg.progress =
			progress_new(cfg.part == MES_PART_INIT ? "part 6 init" :
								 "part 7 perso",
				     "card", before + left, before);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (station_loop_run(&cfg, &res, err, sizeof err) != 0) {
		progress_end(cfg.progress);
		cli_error("%s", err);
		goto out;
	}
	progress_end(cfg.progress);
	if (res.ok + res.rejected == 0 && cfg.part == MES_PART_PERSO &&
	    !station_loop_stopping()) {
		mes_t *m = NULL;
		mes_order_t ord;
		mes_counts_t k;

		if (mes_open(db, &m, err, sizeof err) == MES_OK &&
		    mes_find_order(m, o.name, &ord) == MES_OK &&
		    mes_counts(m, ord.id, &k) == MES_OK && k.built > 0)
			printf("station %s: no card awaits personalization yet "
			       "(%lld await initialization): start init "
			       "stations first, or give --follow\n",
			       name, (long long)k.built);
		mes_close(m);
	}
	printf("station %s: %llu card%s %s, %llu rejected\n", name,
	       (unsigned long long)res.ok, res.ok == 1 ? "" : "s",
	       cfg.part == MES_PART_INIT ? "initialized" : "issued",
	       (unsigned long long)res.rejected);
	rc = CLI_OK;
out:
	perso_token_close(t);
	cli_wipe(ts.pin, sizeof ts.pin);
	profile_free(p);
	order_free(&o);
	return rc;
}
