/*
 * profile.c - `cardfab profile`: check card profiles (part 1 of making a
 * card, the system design) and show what one holds.
 *
 *   cardfab profile check FILE...   each file: "FILE: ok" and its memory
 *                                   budget, or its diagnostics (stderr)
 *                                   and exit status 1
 *   cardfab profile show FILE       the checked design: tree, access
 *                                   conditions, objects, fields, face
 *
 * Thin: src/profile does the work (profile.h); this file parses the
 * command line and prints.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "profile/profile.h"

/* Also in cli.h once main.c's table names the command. */
int cmd_profile(int argc, char **argv);
void usage_profile(FILE *f);

#define TOPIC "profile"

void usage_profile(FILE *f)
{
	fputs("usage: cardfab profile check FILE...\n"
	      "       cardfab profile show FILE\n"
	      "\n"
	      "A card profile (YAML, see docs/profiles.md) designs a card: "
	      "the chip, its\n"
	      "files and access conditions, PINs and keys, the memory card's "
	      "areas, where\n"
	      "each cardholder field goes, the card face.\n"
	      "\n"
	      "check  validates each FILE against its chip's capacity and "
	      "the card OS's\n"
	      "       features; prints 'FILE: ok' and the memory budget, or "
	      "every problem\n"
	      "       as FILE:LINE:COL: error: FIELD: what was expected "
	      "(on stderr).\n"
	      "       Warnings are printed too and do not fail the check.\n"
	      "show   prints the design of a valid profile.\n"
	      "\n"
	      "Exit status: 0 every file is valid, 1 one is not (or cannot "
	      "be read),\n"
	      "2 usage error.\n",
	      f);
}

/* Load and check one file; prints the diagnostics. *out is set on
 * success (and only then). CLI_OK or CLI_FAIL. */
static int load_checked(const char *path, profile_t **out)
{
	profile_diags_t d;
	profile_t *p = NULL;
	profile_diags_init(&d);
	*out = NULL;
	profile_status_t st = profile_load_file(path, &p, &d);
	if (p)
		profile_check(p, &d);
	profile_diags_print(stderr, &d);
	if (st == PROFILE_ERR_NOMEM || st == PROFILE_ERR_PARAM) {
		cli_error("%s: %s", path, profile_strerror(st));
	} else if (d.errors) {
		fprintf(stderr, "%s: %zu error%s", path, d.errors,
			d.errors == 1 ? "" : "s");
		if (d.warnings)
			fprintf(stderr, ", %zu warning%s", d.warnings,
				d.warnings == 1 ? "" : "s");
		fputc('\n', stderr);
	}
	int ok = st != PROFILE_ERR_NOMEM && st != PROFILE_ERR_PARAM &&
		 d.errors == 0 && p;
	profile_diags_free(&d);
	if (!ok) {
		profile_free(p);
		return CLI_FAIL;
	}
	*out = p;
	return CLI_OK;
}

static int do_check(int argc, char **argv)
{
	int rc = CLI_OK;
	for (int i = 0; i < argc; i++) {
		profile_t *p;
		if (load_checked(argv[i], &p) != CLI_OK) {
			rc = CLI_FAIL;
			continue;
		}
		printf("%s: ok\n", argv[i]);
		profile_print_budget(stdout, p, "  ");
		profile_free(p);
	}
	return rc;
}

static int do_show(const char *path)
{
	profile_t *p;
	if (load_checked(path, &p) != CLI_OK)
		return CLI_FAIL;
	profile_print(stdout, p);
	fputs("memory budget\n", stdout);
	profile_print_budget(stdout, p, "  ");
	profile_free(p);
	return CLI_OK;
}

int cmd_profile(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli_getopt_reset();
	/* '+': options end at the action, whose files may start with '-'
	 * only after "--". */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage_profile(stdout);
			return CLI_OK;
		}
		return cli_option_error(c, argv, TOPIC);
	}
	if (optind >= argc)
		return cli_usage_error(TOPIC, "expected an action: check or "
					      "show");
	const char *action = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	int nfiles = argc - optind;
	if (strcmp(action, "check") == 0) {
		if (nfiles < 1)
			return cli_usage_error(TOPIC, "check: expected one or "
						      "more profile files");
		return do_check(nfiles, argv + optind);
	}
	if (strcmp(action, "show") == 0) {
		if (nfiles != 1)
			return cli_usage_error(TOPIC,
					       "show: expected one "
					       "profile file, got %d",
					       nfiles);
		return do_show(argv[optind]);
	}
	return cli_usage_error(TOPIC,
			       "unknown action '%s': expected check or "
			       "show",
			       action);
}
