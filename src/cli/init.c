/*
 * init.c - `cardfab init`: initialization (part 6) of one chip in
 * TRANSPORT per a card profile, with the keys of a PKCS#11 token.
 *
 *   cardfab init --card READER --profile P [--tmk LABEL] [--wrap-key LABEL]
 *                [TOKEN OPTIONS]
 *
 * Thin: src/perso/init.c does the work (init.h); the token options are
 * those of `cardfab keys` (keys.c opens the token).
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "perso/init.h"
#include "profile/profile.h"

#define TOPIC "init"
#define DEFAULT_TMK "TMK"
#define DEFAULT_WRAP "CARD-WRAP"

void usage_init(FILE *f)
{
	fputs("usage: cardfab init --card READER --profile P [--tmk LABEL] "
	      "[--wrap-key LABEL]\n"
	      "                    [--resume] [TOKEN OPTIONS]\n"
	      "\n"
	      "Initializes one CPU chip in TRANSPORT per the profile: reads "
	      "its serial,\n"
	      "presents the transport code derived in the token, stamps the "
	      "CPLC (DF43),\n"
	      "creates the files, PIN objects and keys (diversified in the "
	      "token from the\n"
	      "profile's master keys and the serial), and burns the fuse: the "
	      "chip is then\n"
	      "in PERSONALIZATION. A memory card: the transport PSC presented, "
	      "the areas\n"
	      "with data written, the issuer's PSC (diversified) set, the "
	      "areas protected\n"
	      "at initialization protected. No key, PIN or code is ever "
	      "printed.\n"
	      "\n"
	      "  --card READER      vcard:PATH (a chip image) or pcsc:NAME\n"
	      "  --profile P        the card profile (YAML)\n"
	      "  --tmk LABEL        transport master key (default " DEFAULT_TMK
	      ")\n"
	      "  --wrap-key LABEL   AES wrapping key for card keys (default " DEFAULT_WRAP
	      ")\n"
	      "  --resume           complete a chip an initialization left in "
	      "INITIALIZATION\n"
	      "                     (stopped after the transport code)\n"
	      "\n"
	      "Token options as for 'cardfab keys': --dir, --module, --token, "
	      "--pin-file,\n"
	      "--pin-env.\n",
	      f);
}

int cmd_init(int argc, char **argv)
{
	enum {
		O_CARD = 256,
		O_PROFILE,
		O_TMK,
		O_WRAP,
		O_RESUME,
	};
	static const struct option lopts[] = {
		{ "card", required_argument, NULL, O_CARD },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "tmk", required_argument, NULL, O_TMK },
		{ "wrap-key", required_argument, NULL, O_WRAP },
		CLI_TOKEN_LONGOPTS,
		{ "resume", no_argument, NULL, O_RESUME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *card_spec = NULL, *profile = NULL;
	cli_token_opts_t tok = { NULL, NULL, NULL, NULL, NULL };
	perso_init_opts_t o = { DEFAULT_TMK, DEFAULT_WRAP, 0x4346, 0x00000001,
				0 };
	char err[512];
	uint8_t serial[PERSO_SERIAL_LEN];
	int c, rc;
	size_t i;
	profile_diags_t d;
	profile_t *p = NULL;
	perso_token_t *t = NULL;
	cli_card_t *card = NULL;
	perso_status_t st;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_init(stdout);
			return CLI_OK;
		case O_CARD:
			card_spec = optarg;
			break;
		case O_PROFILE:
			profile = optarg;
			break;
		case O_TMK:
			o.tmk = optarg;
			break;
		case O_WRAP:
			o.wrap_label = optarg;
			break;
		case O_RESUME:
			o.resume = 1;
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
	if (card_spec == NULL || profile == NULL)
		return cli_usage_error(TOPIC, "--card and --profile expected");

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
	rc = cli_card_open(card_spec, CLI_PROTO_ANY, &card);
	if (rc == CLI_OK) {
		st = perso_init_card(cli_card_reader(card), p, t, &o, serial,
				     err, sizeof err);
		if (st != PERSO_OK) {
			cli_error("%s: %s", cli_card_name(card),
				  err[0] ? err : perso_strerror(st));
			rc = CLI_FAIL;
		} else {
			printf("%s: chip ", cli_card_name(card));
			for (i = 0; i < sizeof serial; i++)
				printf("%02X", serial[i]);
			printf(" initialized per %s: %s\n", profile,
			       profile_info(p)->kind == PROFILE_CHIP_MEMCARD ?
				       "issuer PSC set" :
				       "PERSONALIZATION");
		}
		if (cli_card_close(card) != CLI_OK)
			rc = CLI_FAIL;
	}
	perso_token_close(t);
	profile_free(p);
	return rc;
}
