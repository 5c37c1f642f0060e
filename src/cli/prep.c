/*
 * prep.c - `cardfab prep`: data preparation, holder records (CSV) checked
 * against a card profile and written as a batch of perso records, every
 * secret encrypted under a batch key of the token.
 *
 *   cardfab prep --profile P --holders FILE.csv --out BATCH [--skip-bad]
 *                [--reject FILE] [--batch-key LABEL] [TOKEN OPTIONS]
 *
 * Thin: src/perso/prep.c does the work (prep.h); the token options are
 * those of `cardfab keys` (keys.c opens the token).
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "perso/prep.h"
#include "profile/profile.h"

/* Also in cli.h once main.c's table names the command. */
int cmd_prep(int argc, char **argv);
void usage_prep(FILE *f);
#define TOPIC "prep"
#define DEFAULT_BATCH_KEY "BATCH-KEY"

void usage_prep(FILE *f)
{
	fputs("usage: cardfab prep --profile P --holders FILE.csv --out BATCH "
	      "[--skip-bad]\n"
	      "                    [--reject FILE] [--batch-key LABEL] "
	      "[TOKEN OPTIONS]\n"
	      "\n"
	      "Data preparation: reads the cardholder records of FILE.csv "
	      "(a header line\n"
	      "naming the profile's fields, then one holder a line), checks "
	      "every field\n"
	      "against the profile (required, lengths, character sets, "
	      "dates, numbers,\n"
	      "unique values) and writes BATCH: one perso record a holder, "
	      "every secret\n"
	      "(secret fields, PIN values) encrypted with AES-GCM under the "
	      "batch key of\n"
	      "the token (docs/perso.md).\n"
	      "\n"
	      "A bad record is reported as FILE:LINE: FIELD: what was "
	      "expected, and\n"
	      "nothing is written; with --skip-bad the good records are "
	      "written and the\n"
	      "bad ones go to the reject file (default BATCH.rejects): "
	      "line, field,\n"
	      "reason. Values are never quoted in reports.\n"
	      "\n"
	      "  --batch-key LABEL  an AES key of the token made with "
	      "'keys create --wrap'\n"
	      "                     [CARDFAB_BATCH_KEY] (default " DEFAULT_BATCH_KEY
	      ")\n"
	      "\n"
	      "Token options as for 'cardfab keys': --dir, --module, --token, "
	      "--pin-file,\n"
	      "--pin-env and their environment variables.\n"
	      "\n"
	      "Exit status: 0 batch written, 1 bad records or failure, 2 "
	      "usage error.\n",
	      f);
}

int cmd_prep(int argc, char **argv)
{
	enum {
		O_PROFILE = 256,
		O_HOLDERS,
		O_OUT,
		O_SKIP_BAD,
		O_REJECT,
		O_BATCH_KEY,
	};
	static const struct option lopts[] = {
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "holders", required_argument, NULL, O_HOLDERS },
		{ "out", required_argument, NULL, O_OUT },
		{ "skip-bad", no_argument, NULL, O_SKIP_BAD },
		{ "reject", required_argument, NULL, O_REJECT },
		{ "batch-key", required_argument, NULL, O_BATCH_KEY },
		CLI_TOKEN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *profile = NULL, *holders = NULL, *out = NULL,
		   *reject = NULL, *batch_key = getenv("CARDFAB_BATCH_KEY");
	cli_token_opts_t tok = { NULL, NULL, NULL, NULL, NULL };
	char rej_default[4200], err[400];
	int c, skip_bad = 0, rc;
	profile_diags_t d;
	profile_t *p = NULL;
	perso_token_t *t = NULL;
	perso_prep_report_t rep;
	perso_status_t st;
	size_t i;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_prep(stdout);
			return CLI_OK;
		case O_PROFILE:
			profile = optarg;
			break;
		case O_HOLDERS:
			holders = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_SKIP_BAD:
			skip_bad = 1;
			break;
		case O_REJECT:
			reject = optarg;
			break;
		case O_BATCH_KEY:
			batch_key = optarg;
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
	if (profile == NULL || holders == NULL || out == NULL)
		return cli_usage_error(TOPIC, "--profile, --holders and --out "
					      "expected");
	if (batch_key == NULL || batch_key[0] == '\0')
		batch_key = DEFAULT_BATCH_KEY;
	if (reject == NULL) {
		snprintf(rej_default, sizeof rej_default, "%s.rejects", out);
		reject = rej_default;
	}

	profile_diags_init(&d);
	profile_open(profile, &p, &d);
	profile_diags_print(stderr, &d);
	profile_diags_free(&d);
	if (p == NULL) {
		cli_error("%s: not a valid profile", profile);
		return CLI_FAIL;
	}
	rc = cli_token_open(&tok, &t);
	if (rc != CLI_OK) {
		profile_free(p);
		return rc;
	}
	memset(&rep, 0, sizeof rep);
	err[0] = '\0';
	st = perso_prep_batch(t, p, holders, out, skip_bad ? reject : NULL,
			      batch_key, skip_bad, &rep, err, sizeof err);
	for (i = 0; i < rep.n; i++)
		fprintf(stderr, "%s:%u: %s: %s\n", holders, rep.v[i].line,
			rep.v[i].field, rep.v[i].reason);
	if (st != PERSO_OK) {
		cli_error("%s", err[0] ? err : perso_strerror(st));
		rc = CLI_FAIL;
	} else {
		printf("%s: %zu record%s written", out, rep.good,
		       rep.good == 1 ? "" : "s");
		if (rep.bad)
			printf(", %zu bad record%s in %s", rep.bad,
			       rep.bad == 1 ? "" : "s", reject);
		putchar('\n');
		rc = CLI_OK;
	}
	perso_prep_report_free(&rep);
	perso_token_close(t);
	profile_free(p);
	return rc;
}
