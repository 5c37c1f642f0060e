/*
 * chip.c - `cardfab chip new` and `cardfab chip info`.
 *
 * chip new is the fab: it makes a blank EEPROM image of the model, loads the
 * card OS into it (the mask, cos_format) and then, as a fab tester would,
 * closes the chip through APDUs: FAB CLOSE (80 34) with the serial, the
 * transport code, the tries, today's date and the batch. The chip leaves in
 * TRANSPORT, its test commands gone for good. The transport code is a
 * secret: it reaches only the file the user names with --transport-code-out
 * (mode 0600), never stdout, never a message.
 *
 * chip info powers the chip up (its journal is recovered if a write was
 * interrupted) and prints what cos_get_info() and cos_walk() tell: model,
 * serial, life cycle, the EEPROM budget, the file tree with access
 * conditions, PIN and key objects (never a value) and the CPLC, decoded.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hal/hal_host.h"
#include "reader/reader.h"
#ifdef CARDFAB_HAVE_MEMCARD
#include "memcard/memcard.h"
#endif
#include "perso/token.h"

#define TOPIC "chip"

void usage_chip(FILE *f)
{
	size_t i, n;
	const cos_model_t *m = cos_models(&n);

	fputs("usage: cardfab chip new --out CHIP [--model NAME] [--serial HEX]\n"
	      "                        [--transport-code HEX | "
	      "--transport-code-file FILE]\n"
	      "                        [--transport-code-out FILE]\n"
	      "                        [--tries N] [--batch HEX] "
	      "[--state manufacturing] [--force]\n"
	      "       cardfab chip info [--json] CHIP\n"
	      "\n"
	      "chip new: make a virtual chip, as the fab does. The image CHIP "
	      "gets the card\n"
	      "OS (the mask); then the fab closes the chip with FAB CLOSE "
	      "(80 34): serial,\n"
	      "transport code, tries, today's date and batch. The chip leaves "
	      "in TRANSPORT.\n"
	      "  -o, --out CHIP              the image to create\n"
	      "  -m, --model NAME            chip model (default cf32)\n"
	      "      --serial HEX            chip serial, 16 hex digits "
	      "(default: random)\n"
	      "      --transport-code HEX    transport code, 16 hex digits "
	      "(default: random)\n"
	      "      --transport-code-file FILE\n"
	      "                              the same, read from the first "
	      "line of FILE:\n"
	      "                              a command line is visible to "
	      "every user (ps)\n"
	      "      --transport-code-out FILE\n"
	      "                              write the transport code to FILE "
	      "(mode 0600);\n"
	      "                              it is printed nowhere else\n"
	      "      --transport-key LABEL   derive the transport code in a "
	      "token from its\n"
	      "                              transport master key LABEL and "
	      "the serial, as\n"
	      "                              'cardfab init' does (a memory "
	      "card: its first\n"
	      "                              3 bytes); token options as for "
	      "'cardfab keys':\n"
	      "                              --dir, --module, --token, "
	      "--pin-file, --pin-env\n"
	      "      --tries N               transport code tries, 1 to 15 "
	      "(default 3)\n"
	      "      --batch HEX             IC batch identifier, 4 hex digits "
	      "(default 0001)\n"
	      "      --state manufacturing   stop after the mask: the chip "
	      "stays in\n"
	      "                              MANUFACTURING (test commands "
	      "open, no serial)\n"
	      "  -f, --force                 replace existing files\n"
	      "\n"
	      "chip info: power the chip up and show its model, serial, life "
	      "cycle, EEPROM\n"
	      "budget, files with their access conditions, PIN and key objects "
	      "(never a\n"
	      "value) and the CPLC decoded. CHIP is an image (PATH or "
	      "vcard:PATH): this\n"
	      "reads the chip's memory from the host side, which only a "
	      "virtual chip allows;\n"
	      "a card in a PC/SC reader (pcsc:NAME) answers GET DATA "
	      "instead ('cardfab apdu').\n"
	      "      --json                  the same as one JSON object\n"
	      "\n"
	      "models:\n",
	      f);
	for (i = 0; i < n; i++)
		fprintf(f, "  %-8s %s\n", m[i].name, m[i].summary);
#ifdef CARDFAB_HAVE_MEMCARD
	{
		const mc_model_t *mm = mc_models(&n);

		for (i = 0; i < n; i++)
			fprintf(f, "  %-8s %s\n", mm[i].name, mm[i].summary);
		fputs("\nA memory card leaves the fab with its serial at bytes "
		      "8..15 and its PSC\n"
		      "(--transport-code: 6 hex digits, 3 tries); --tries, "
		      "--batch and --state do\n"
		      "not apply.\n",
		      f);
	}
#endif
}

/* ---------------------------------------------------------------- new */

size_t chip_fab_close_data(uint8_t out[32], const uint8_t serial[8],
			   const uint8_t tcode[8], uint8_t tries,
			   const uint8_t date[2], const uint8_t batch[2])
{
	size_t n = 0;

	out[n++] = 0x80;
	out[n++] = 8;
	memcpy(out + n, serial, 8);
	n += 8;
	out[n++] = 0x81; /* n == CHIP_FAB_CLOSE_TCODE_OFF - 2 */
	out[n++] = 8;
	memcpy(out + n, tcode, 8);
	n += 8;
	out[n++] = 0x82;
	out[n++] = 1;
	out[n++] = tries;
	out[n++] = 0x83;
	out[n++] = 2;
	out[n++] = date[0];
	out[n++] = date[1];
	out[n++] = 0x84;
	out[n++] = 2;
	out[n++] = batch[0];
	out[n++] = batch[1];
	return n;
}

/* FAB CLOSE on a freshly masked chip. */
static int fab_close(const char *path, const uint8_t serial[8],
		     const uint8_t tcode[8], uint8_t tries,
		     const uint8_t batch[2])
{
	cli_card_t *card;
	uint8_t capdu[5 + 32], rapdu[COS_RAPDU_MAX], date[2];
	size_t n, rlen;
	uint16_t sw;
	char buf[64];
	int rc;

	rc = cli_card_open_image(path, &card);
	if (rc != CLI_OK)
		return rc;
	cli_yddd_today(date);
	capdu[0] = 0x80;
	capdu[1] = 0x34;
	capdu[2] = 0x00;
	capdu[3] = 0x00;
	n = chip_fab_close_data(capdu + 5, serial, tcode, tries, date, batch);
	capdu[4] = (uint8_t)n;
	rc = cli_card_transmit(card, capdu, 5 + n, rapdu, sizeof rapdu, &rlen);
	cli_wipe(capdu, sizeof capdu);
	if (rc == CLI_OK) {
		sw = (uint16_t)(rapdu[rlen - 2] << 8 | rapdu[rlen - 1]);
		if (sw != 0x9000) {
			cli_error("%s: FAB CLOSE (80 34) answered %04X (%s)",
				  path, sw, cli_sw_text(sw, buf, sizeof buf));
			rc = CLI_FAIL;
		}
	}
	if (cli_card_close(card) != CLI_OK)
		rc = CLI_FAIL;
	return rc;
}

/* Open FILE for the transport code: mode 0600, refusing an existing file
 * unless force. -1 on error (printed). */
static int open_secret_file(const char *path, int force)
{
	int fd, flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;

	flags |= force ? O_TRUNC : O_EXCL;
	fd = open(path, flags, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			cli_error("--transport-code-out %s: file exists; not "
				  "overwritten (use --force to replace it)",
				  path);
		else
			cli_error("--transport-code-out %s: %s", path,
				  strerror(errno));
		return -1;
	}
	/* An existing file replaced with --force keeps its mode: fix it. */
	if (fchmod(fd, 0600) != 0) {
		cli_error("--transport-code-out %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int write_secret_file(int fd, const char *path, const uint8_t *code,
			     size_t code_len)
{
	char text[2 * 8 + 2];
	size_t off = 0, len;
	ssize_t w;
	int rc = CLI_OK;

	cli_hex_str(code, code_len, text, sizeof text - 1);
	strcat(text, "\n");
	len = strlen(text);
	while (off < len) {
		w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = CLI_FAIL;
			break;
		}
		off += (size_t)w;
	}
	if (rc == CLI_OK && fsync(fd) != 0)
		rc = CLI_FAIL;
	if (close(fd) != 0)
		rc = CLI_FAIL;
	cli_wipe(text, sizeof text);
	if (rc != CLI_OK)
		cli_error("--transport-code-out %s: write failed: %s", path,
			  strerror(errno));
	return rc;
}

/* Token options of --transport-key. */
typedef struct {
	const char *key;
	cli_token_opts_t tok;
} tkey_opts_t;

/* The transport code of serial, derived in the token from the transport
 * master key (perso_transport_code()). The caller wipes code. */
static int derive_tcode(const tkey_opts_t *k, const uint8_t serial[8],
			uint8_t code[8])
{
	perso_token_t *t = NULL;
	perso_status_t pst;
	int rc;

	rc = cli_token_open(&k->tok, &t);
	if (rc != CLI_OK)
		return rc;
	pst = perso_transport_code(t, k->key, serial, code);
	if (pst != PERSO_OK) {
		cli_error("--transport-key %s: %s", k->key,
			  perso_token_error(t));
		rc = CLI_FAIL;
	}
	perso_token_close(t);
	return rc;
}

#ifdef CARDFAB_HAVE_MEMCARD
/*
 * chip new for a memory card: the fab writes the chip as mc_fab_default()
 * describes it (the manufacturer's bytes, protected), a serial at bytes
 * 8..15 (protected), and the transport PSC (3 bytes), then the image is
 * closed. No APDU: a memory card has no fab test mode to close.
 */
static int memcard_new(const char *out, const mc_model_t *model,
		       const char *serial_arg, const char *tcode_arg,
		       const tkey_opts_t *tk, const char *code_out, int force)
{
	mc_fab_t fab;
	hal_file_t *f = NULL;
	hal_host_status_t hst;
	mc_status_t st;
	char why[128];
	int fd = -1, rc = CLI_OK;

	mc_fab_default(&fab);
	fab.has_serial = 1;
	if (serial_arg != NULL) {
		if (cli_hex_parse_exact(serial_arg, fab.serial, MC_SERIAL_LEN,
					why, sizeof why) != 0)
			return cli_usage_error(TOPIC, "--serial '%s': %s",
					       serial_arg, why);
	} else if (cli_random(fab.serial, MC_SERIAL_LEN) != CLI_OK) {
		return CLI_FAIL;
	}
	if (tk != NULL) {
		/* The transport PSC: the first 3 bytes of the transport code
		 * of the serial (docs/perso.md). */
		uint8_t code[8];

		rc = derive_tcode(tk, fab.serial, code);
		memcpy(fab.psc, code, MC_PSC_LEN);
		cli_wipe(code, sizeof code);
		if (rc != CLI_OK) {
			cli_wipe(&fab, sizeof fab);
			return rc;
		}
	} else if (tcode_arg != NULL) {
		if (cli_hex_parse_exact(tcode_arg, fab.psc, MC_PSC_LEN, why,
					sizeof why) != 0)
			return cli_usage_error(TOPIC,
					       "--transport-code (a memory "
					       "card's PSC): %s",
					       why);
	} else if (cli_random(fab.psc, MC_PSC_LEN) != CLI_OK) {
		return CLI_FAIL;
	}
	if (code_out != NULL) {
		fd = open_secret_file(code_out, force);
		if (fd < 0) {
			cli_wipe(&fab, sizeof fab);
			return CLI_FAIL;
		}
	}
	errno = 0;
	hst = hal_file_create(out, model->nvm_size, force);
	if (hst == HAL_HOST_ERR_EXISTS) {
		cli_error("%s: file exists; not overwritten (use --force to "
			  "replace it)",
			  out);
		rc = CLI_FAIL;
	} else if (hst != HAL_HOST_OK) {
		cli_error("%s: %s%s%s", out, hal_host_strerror(hst),
			  errno ? ": " : "", errno ? strerror(errno) : "");
		rc = CLI_FAIL;
	} else {
		hst = hal_file_open(out, &f);
		st = hst == HAL_HOST_OK ?
			     mc_format(hal_file_hal(f), model, &fab) :
			     MC_ERR_PARAM;
		if (hal_file_close(f) != HAL_HOST_OK || st != MC_OK) {
			cli_error("%s: making the memory card failed: %s", out,
				  st != MC_OK ? mc_strerror(st) :
						"flushing the image");
			unlink(out);
			rc = CLI_FAIL;
		}
	}
	if (rc == CLI_OK && fd >= 0) {
		rc = write_secret_file(fd, code_out, fab.psc, MC_PSC_LEN);
		fd = -1;
		if (rc != CLI_OK)
			unlink(out);
	}
	if (fd >= 0)
		close(fd);
	if (rc != CLI_OK && code_out != NULL)
		unlink(code_out);
	if (rc == CLI_OK) {
		printf("chip        %s\n", out);
		printf("model       %s (%s)\n", model->name, model->summary);
		printf("serial      ");
		cli_hex_print(stdout, fab.serial, MC_SERIAL_LEN, 0);
		printf(" (bytes 8..15, protected)\n");
		if (code_out != NULL)
			printf("PSC         written to %s (mode 0600), 3 "
			       "tries\n",
			       code_out);
		else if (tcode_arg != NULL)
			printf("PSC         as given, 3 tries\n");
		else if (tk != NULL)
			printf("PSC         derived from %s, 3 tries\n",
			       tk->key);
		else
			fprintf(stderr,
				"cardfab chip new: warning: the random PSC was "
				"not saved (--transport-code-out FILE): this "
				"card can never be written\n");
	}
	cli_wipe(&fab, sizeof fab);
	return rc;
}
#endif

/* The first line of path, blanks trimmed, into buf: a secret given in a
 * file (mode 0600) rather than on the command line. Messages name the
 * file, never its content. */
static int read_secret_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(buf, (int)cap, f) == NULL) {
		fclose(f);
		cli_error("%s: empty", path);
		return -1;
	}
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (buf[0] == ' ' || buf[0] == '\t')
		memmove(buf, buf + strspn(buf, " \t"),
			strlen(buf + strspn(buf, " \t")) + 1);
	return 0;
}

static int chip_new(int argc, char **argv)
{
	enum {
		OPT_SERIAL = 256,
		OPT_TCODE,
		OPT_TCODE_FILE,
		OPT_TCODE_OUT,
		OPT_STATE,
		OPT_TRIES,
		OPT_BATCH,
		OPT_TKEY,
	};
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "model", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "transport-code", required_argument, NULL, OPT_TCODE },
		{ "transport-code-file", required_argument, NULL,
		  OPT_TCODE_FILE },
		{ "transport-code-out", required_argument, NULL,
		  OPT_TCODE_OUT },
		{ "tries", required_argument, NULL, OPT_TRIES },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "transport-key", required_argument, NULL, OPT_TKEY },
		CLI_TOKEN_LONGOPTS,
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *model_name = "cf32", *code_out = NULL;
	const char *serial_arg = NULL, *tcode_arg = NULL, *state = NULL;
	char tcode_buf[80];
	tkey_opts_t tk = { NULL, { NULL, NULL, NULL, NULL, NULL } };
	const cos_model_t *model;
	uint8_t serial[8], tcode[8], batch[2] = { 0x00, 0x01 };
	char why[128], *end;
	long tries = 3;
	int c, force = 0, manufacturing = 0, fd = -1, rc, created;

	cli_set_command("chip new");
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":o:m:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'm':
			model_name = optarg;
			break;
		case OPT_SERIAL:
			serial_arg = optarg;
			break;
		case OPT_TCODE:
			if (tcode_arg != NULL)
				return cli_usage_error(TOPIC,
						       "one transport code");
			tcode_arg = optarg;
			break;
		case OPT_TCODE_FILE:
			if (tcode_arg != NULL)
				return cli_usage_error(TOPIC,
						       "one transport code");
			if (read_secret_line(optarg, tcode_buf,
					     sizeof tcode_buf) != 0)
				return CLI_FAIL;
			tcode_arg = tcode_buf;
			break;
		case OPT_TCODE_OUT:
			code_out = optarg;
			break;
		case OPT_STATE:
			state = optarg;
			break;
		case OPT_TKEY:
			tk.key = optarg;
			break;
		case OPT_TRIES:
			errno = 0;
			tries = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || tries < 1 ||
			    tries > 15)
				return cli_usage_error(
					TOPIC,
					"--tries '%s': expected a number "
					"from 1 to 15",
					optarg);
			break;
		case OPT_BATCH:
			if (cli_hex_parse_exact(optarg, batch, 2, why,
						sizeof why) != 0)
				return cli_usage_error(
					TOPIC, "--batch '%s': %s", optarg, why);
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			usage_chip(stdout);
			return CLI_OK;
		default:
			if (cli_token_option(c, optarg, &tk.tok))
				break;
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (out == NULL)
		return cli_usage_error(TOPIC, "--out CHIP is required");
	if (tk.key != NULL && tcode_arg != NULL)
		return cli_usage_error(TOPIC, "--transport-key and "
					      "--transport-code exclude each "
					      "other");
#ifdef CARDFAB_HAVE_MEMCARD
	if (mc_model_find(model_name) != NULL) {
		if (state != NULL || tries != 3 || batch[0] != 0x00 ||
		    batch[1] != 0x01)
			return cli_usage_error(
				TOPIC,
				"--model %s: a memory card has no "
				"manufacturing state, a fixed 3 tries and no "
				"batch: --state, --tries and --batch do not "
				"apply",
				model_name);
		return memcard_new(out, mc_model_find(model_name), serial_arg,
				   tcode_arg, tk.key != NULL ? &tk : NULL,
				   code_out, force);
	}
#endif
	model = cos_model_find(model_name);
	if (model == NULL)
		return cli_usage_error(TOPIC, "--model '%s': unknown model",
				       model_name);
	if (state != NULL) {
		if (strcmp(state, "transport") == 0)
			state = NULL;
		else if (strcmp(state, "manufacturing") != 0)
			return cli_usage_error(
				TOPIC,
				"--state '%s': expected 'manufacturing' (or "
				"'transport', the default)",
				state);
	}
	if (state != NULL) {
		manufacturing = 1;
		if (serial_arg || tcode_arg || code_out || tk.key)
			return cli_usage_error(
				TOPIC,
				"--state manufacturing leaves the chip without "
				"serial and transport code: --serial, "
				"--transport-code and --transport-code-out do "
				"not apply");
	}
	if (serial_arg != NULL &&
	    cli_hex_parse_exact(serial_arg, serial, 8, why, sizeof why) != 0)
		return cli_usage_error(TOPIC, "--serial '%s': %s", serial_arg,
				       why);
	if (tcode_arg != NULL &&
	    cli_hex_parse_exact(tcode_arg, tcode, 8, why, sizeof why) != 0) {
		/* The value is a secret: name the option, not the value. */
		return cli_usage_error(TOPIC, "--transport-code: %s", why);
	}

	if (!manufacturing) {
		if (serial_arg == NULL && cli_random(serial, 8) != CLI_OK)
			return CLI_FAIL;
		if (tk.key != NULL) {
			rc = derive_tcode(&tk, serial, tcode);
			if (rc != CLI_OK) {
				cli_wipe(tcode, sizeof tcode);
				return rc;
			}
		} else if (tcode_arg == NULL && cli_random(tcode, 8) != CLI_OK)
			return CLI_FAIL;
	}
	if (code_out != NULL) {
		fd = open_secret_file(code_out, force);
		if (fd < 0) {
			cli_wipe(tcode, sizeof tcode);
			return CLI_FAIL;
		}
	}

	rc = cli_chip_create(out, model, force);
	created = rc == CLI_OK; /* never remove a file we did not make */
	if (rc == CLI_OK && !manufacturing)
		rc = fab_close(out, serial, tcode, (uint8_t)tries, batch);
	if (rc != CLI_OK) {
		if (created)
			unlink(out);
	} else if (fd >= 0) {
		rc = write_secret_file(fd, code_out, tcode, sizeof tcode);
		fd = -1;
		if (rc != CLI_OK)
			unlink(out); /* a chip whose code is lost is useless */
	}
	if (fd >= 0)
		close(fd);
	if (rc != CLI_OK && code_out != NULL)
		unlink(code_out);
	cli_wipe(tcode, sizeof tcode);
	if (rc != CLI_OK)
		return rc;

	printf("chip        %s\n", out);
	printf("model       %s (%s)\n", model->name, model->summary);
	if (manufacturing) {
		printf("serial      not set\n");
		printf("life cycle  MANUFACTURING (test commands open)\n");
		return CLI_OK;
	}
	printf("serial      ");
	cli_hex_print(stdout, serial, 8, 0);
	printf("\nlife cycle  TRANSPORT\n");
	if (code_out != NULL)
		printf("transport   code written to %s (mode 0600), %ld "
		       "tries\n",
		       code_out, tries);
	else if (tcode_arg != NULL)
		printf("transport   code as given, %ld tries\n", tries);
	else if (tk.key != NULL)
		printf("transport   code derived from %s, %ld tries\n", tk.key,
		       tries);
	else
		fprintf(stderr,
			"cardfab chip new: warning: the random transport code "
			"was not saved (--transport-code-out FILE): this chip "
			"can never leave TRANSPORT\n");
	cli_wipe(tcode_buf, sizeof tcode_buf);
	return CLI_OK;
}

/* ---------------------------------------------------------------- info */

#define MAX_FILES_SHOWN 256
#define MAX_OBJS_SHOWN 64

typedef struct {
	cos_file_info_t files[MAX_FILES_SHOWN];
	size_t nfiles;
	cos_obj_info_t objs[MAX_OBJS_SHOWN];
	size_t nobjs;
} walk_t;

static int on_file(const cos_file_info_t *f, void *arg)
{
	walk_t *w = arg;

	if (w->nfiles < MAX_FILES_SHOWN)
		w->files[w->nfiles++] = *f;
	return 0;
}

static int on_obj(const cos_obj_info_t *o, void *arg)
{
	walk_t *w = arg;

	if (w->nobjs < MAX_OBJS_SHOWN)
		w->objs[w->nobjs++] = *o;
	return 0;
}

static const char *const ef_ops[COS_AC_OPS] = {
	"read",	    "update",	 "append", "deactivate",
	"activate", "terminate", "delete",
};
static const char *const df_ops[COS_AC_OPS] = {
	"delete-child", "create-ef", "create-df", "deactivate",
	"activate",	"terminate", "delete",
};

static int is_df(cos_file_type_t t)
{
	return t == COS_FT_MF || t == COS_FT_DF;
}

static const char *file_type_name(cos_file_type_t t)
{
	switch (t) {
	case COS_FT_MF:
		return "MF";
	case COS_FT_DF:
		return "DF";
	case COS_FT_EF_TRANSPARENT:
		return "EF transparent";
	case COS_FT_EF_LINEAR_FIXED:
		return "EF linear fixed";
	case COS_FT_EF_LINEAR_VARIABLE:
		return "EF linear variable";
	case COS_FT_EF_CYCLIC:
		return "EF cyclic";
	}
	return "?";
}

/* One security condition byte in words: always, never, pin1, key2, sm,
 * joined with '+' (all must hold) or '|' (any one). */
static void ac_text(uint8_t ac, char *out, size_t cap)
{
	const char *join = (ac & COS_AC_ALL) ? "+" : "|";
	size_t n = 0;

	out[0] = '\0';
	if (ac == COS_AC_ALWAYS) {
		snprintf(out, cap, "always");
		return;
	}
	if (ac == COS_AC_NEVER) {
		snprintf(out, cap, "never");
		return;
	}
	if (ac & COS_AC_PIN)
		n += (size_t)snprintf(out + n, cap - n, "pin%u",
				      COS_AC_REF(ac));
	if ((ac & COS_AC_KEY) && n < cap)
		n += (size_t)snprintf(out + n, cap - n, "%skey%u",
				      n ? join : "", COS_AC_REF(ac));
	if ((ac & COS_AC_SM) && n < cap)
		n += (size_t)snprintf(out + n, cap - n, "%ssm", n ? join : "");
	if (n == 0)
		snprintf(out, cap, "%02X", ac);
}

static const char *key_alg_text(const cos_obj_info_t *o, char *buf, size_t cap)
{
	if (o->alg == COS_ALG_AES)
		snprintf(buf, cap, "AES-%u", o->len * 8u);
	else if (o->alg == COS_ALG_3DES)
		snprintf(buf, cap, "3DES %u-key", o->len / 8u);
	else
		snprintf(buf, cap, "algorithm %02X", o->alg);
	return buf;
}

static const char *key_usage_text(const cos_obj_info_t *o, char *buf,
				  size_t cap)
{
	static const char *const scp03_role[] = { "?", "ENC", "MAC", "DEK" };
	size_t n = 0;

	buf[0] = '\0';
	if (o->usage & COS_KEY_USE_AUTH)
		n += (size_t)snprintf(buf + n, cap - n, "authenticate");
	if ((o->usage & COS_KEY_USE_SCP03) && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "%sSCP03 %s",
				      n ? ", " : "",
				      scp03_role[o->ref <= 3 ? o->ref : 0]);
	if ((o->usage & COS_KEY_USE_CRYPTO) && n < cap)
		n += (size_t)snprintf(buf + n, cap - n,
				      "%sinternal authenticate", n ? ", " : "");
	if (n == 0)
		snprintf(buf, cap, "usage %02X", o->usage);
	return buf;
}

static int all_is(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

typedef struct {
	unsigned off, len;
	const char *name;
	int date;
	int group; /* a stamp starts here: index into stamp names, else -1 */
} cplc_field_t;

static const char *const stamp_names[] = {
	"fab", "module", "card body", "pre-personalization", "personalization",
};
static const unsigned stamp_len[] = { 8, 4, 4, 8, 8 };

static const cplc_field_t cplc_fields[] = {
	{ 0, 2, "IC fabricator", 0, -1 },
	{ 2, 2, "IC type", 0, -1 },
	{ 4, 2, "OS identifier", 0, -1 },
	{ 6, 2, "OS release date", 1, -1 },
	{ 8, 2, "OS release level", 0, -1 },
	{ 10, 2, "IC fabrication date", 1, 0 },
	{ 12, 4, "IC serial number", 0, -1 },
	{ 16, 2, "IC batch identifier", 0, -1 },
	{ 18, 2, "module fabricator", 0, 1 },
	{ 20, 2, "module packaging date", 1, -1 },
	{ 22, 2, "ICC manufacturer", 0, 2 },
	{ 24, 2, "IC embedding date", 1, -1 },
	{ 26, 2, "pre-personalizer", 0, 3 },
	{ 28, 2, "pre-personalization date", 1, -1 },
	{ 30, 4, "pre-perso equipment ID", 0, -1 },
	{ 34, 2, "personalizer", 0, 4 },
	{ 36, 2, "personalization date", 1, -1 },
	{ 38, 4, "perso equipment ID", 0, -1 },
};

#define N_CPLC_FIELDS (sizeof cplc_fields / sizeof cplc_fields[0])

void chip_print_cplc(FILE *f, const uint8_t cplc[COS_CPLC_LEN],
		     const char *indent)
{
	const cplc_field_t *fl;
	char hex[16], date[32];
	size_t i;
	int sub;

	for (i = 0; i < N_CPLC_FIELDS; i++) {
		fl = &cplc_fields[i];
		if (fl->group >= 0)
			fprintf(f, "%s%s stamp: %s\n", indent,
				stamp_names[fl->group],
				all_is(cplc + fl->off, stamp_len[fl->group],
				       0) ?
					"not stamped" :
					"stamped");
		cli_hex_str(cplc + fl->off, fl->len, hex, sizeof hex);
		/* From the fab's fields on, each belongs to a stamp. */
		sub = fl->off >= 10;
		fprintf(f, "%s%s%-*s %s", indent, sub ? "  " : "",
			sub ? 24 : 26, fl->name, hex);
		if (fl->date) {
			cli_yddd_text(cplc + fl->off, date, sizeof date);
			fprintf(f, " (%s)", date);
		}
		fputc('\n', f);
	}
}

/* Bytes allocated to file i, or for a DF to the bodies of its subtree (as
 * tag 81 of its FCP reports it): the walk is depth first, so the subtree
 * is the files after it that are deeper. */
static uint32_t allocated(const walk_t *w, size_t i)
{
	uint32_t sum = w->files[i].allocated;
	size_t k;

	if (!is_df(w->files[i].type))
		return sum;
	for (k = i + 1; k < w->nfiles && w->files[k].depth > w->files[i].depth;
	     k++)
		if (!is_df(w->files[k].type))
			sum += w->files[k].allocated;
	return sum;
}

static void print_files(FILE *f, const walk_t *w, const char *indent)
{
	const cos_file_info_t *fi;
	const char *const *ops;
	char ac[48];
	size_t i;
	unsigned k;

	for (i = 0; i < w->nfiles; i++) {
		fi = &w->files[i];
		fprintf(f, "%s%*s%04X %s", indent, (int)(2 * fi->depth), "",
			fi->fid, file_type_name(fi->type));
		if (fi->aid_len) {
			fputs(" AID ", f);
			cli_hex_print(f, fi->aid, fi->aid_len, 0);
		}
		switch (fi->type) {
		case COS_FT_EF_TRANSPARENT:
			fprintf(f, ", %u bytes", fi->size);
			break;
		case COS_FT_EF_LINEAR_FIXED:
		case COS_FT_EF_LINEAR_VARIABLE:
		case COS_FT_EF_CYCLIC:
			fprintf(f, ", %u of %u records of %u bytes",
				fi->records, fi->max_records, fi->size);
			break;
		default:
			break;
		}
		if (fi->sfi)
			fprintf(f, ", SFI %02X", fi->sfi);
		fprintf(f, ", %u bytes allocated%s, LCS %02X %s\n",
			(unsigned)allocated(w, i),
			is_df(fi->type) ? " under it" : "", fi->lcs,
			cli_lcs_name(fi->lcs));
		ops = is_df(fi->type) ? df_ops : ef_ops;
		fprintf(f, "%s%*s    ", indent, (int)(2 * fi->depth), "");
		for (k = 0; k < COS_AC_OPS; k++) {
			if (!is_df(fi->type) && k == 2 &&
			    fi->type == COS_FT_EF_TRANSPARENT)
				continue; /* no APPEND on a transparent EF */
			ac_text(fi->ac[k], ac, sizeof ac);
			fprintf(f, "%s%s=%s", k ? " " : "", ops[k], ac);
		}
		fputc('\n', f);
	}
}

static void print_objects(FILE *f, const walk_t *w, const char *indent)
{
	const cos_obj_info_t *o;
	char owner[16], a[32], u[64];
	size_t i;

	if (w->nobjs == 0) {
		fprintf(f, "%s(none)\n", indent);
		return;
	}
	for (i = 0; i < w->nobjs; i++) {
		o = &w->objs[i];
		if (o->owner_fid == 0x3F00)
			snprintf(owner, sizeof owner, "global");
		else
			snprintf(owner, sizeof owner, "DF %04X", o->owner_fid);
		if (o->kind == COS_OBJ_PIN) {
			fprintf(f, "%sPIN %02X %-8s %u of %u tries, length %u",
				indent, o->ref, owner, o->tries, o->max_tries,
				o->len);
			if (o->unblock_ref)
				fprintf(f, ", unblocked by PIN %02X",
					o->unblock_ref);
			if (o->ref == 0x1F)
				fputs(" (transport code)", f);
			fputc('\n', f);
		} else {
			fprintf(f, "%skey %02X %-8s version %02X, %s, %s, ",
				indent, o->ref, owner, o->kvn,
				key_alg_text(o, a, sizeof a),
				key_usage_text(o, u, sizeof u));
			if (o->max_tries)
				fprintf(f, "%u of %u tries\n", o->tries,
					o->max_tries);
			else
				fputs("no try limit\n", f);
		}
	}
}

static int gather(const cli_card_t *card, cos_info_t *info, walk_t *w)
{
	cos_status_t st = cos_get_info(cli_card_chip(card), info);

	if (st != COS_OK) {
		cli_error("%s: no chip information: %s", cli_card_file(card),
			  cos_strerror(st));
		return CLI_FAIL;
	}
	w->nfiles = w->nobjs = 0;
	cos_walk(cli_card_chip(card), on_file, on_obj, w);
	return CLI_OK;
}

static void print_serial(FILE *f, const cos_info_t *info)
{
	if (all_is(info->serial, COS_SERIAL_LEN, 0x00) ||
	    all_is(info->serial, COS_SERIAL_LEN, 0xFF))
		fputs("not set", f);
	else
		cli_hex_print(f, info->serial, COS_SERIAL_LEN, 0);
}

int chip_print_info(FILE *f, const cli_card_t *card, const char *indent)
{
	cos_info_t info;
	walk_t *w = malloc(sizeof *w);
	char sub[32];

	if (w == NULL) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	if (gather(card, &info, w) != CLI_OK) {
		free(w);
		return CLI_FAIL;
	}
	fprintf(f, "%schip        %s\n", indent, cli_card_file(card));
	fprintf(f, "%smodel       %s (%s)\n", indent,
		info.model ? info.model->name : "?",
		info.model ? info.model->summary : "unknown model");
	fprintf(f, "%sserial      ", indent);
	print_serial(f, &info);
	fprintf(f, "\n%slife cycle  %s%s (GlobalPlatform %02X %s)\n", indent,
		cos_lifecycle_name(info.lifecycle),
		info.locked ? ", locked" : "", info.gp_state,
		cli_gp_state_name(info.gp_state));
	fprintf(f, "%stransport   ", indent);
	switch (info.lifecycle) {
	case COS_LC_MANUFACTURING:
		fputs("no transport code yet\n", f);
		break;
	case COS_LC_TRANSPORT:
		fprintf(f, "code set, %u tries left\n", info.transport_tries);
		break;
	case COS_LC_INITIALIZATION:
		fputs("code presented; erased when the fuse is burnt\n", f);
		break;
	case COS_LC_TERMINATED:
		fputs("none\n", f);
		break;
	default:
		fputs("code erased (fuse burnt)\n", f);
		break;
	}
	fprintf(f,
		"%sEEPROM      %u bytes; file bodies: %u used, %u free of "
		"%u\n",
		indent, (unsigned)info.nvm_size, (unsigned)info.fs_used,
		(unsigned)(info.fs_capacity - info.fs_used),
		(unsigned)info.fs_capacity);
	fprintf(f,
		"%stables      files %u of %u, PIN and key objects %u of "
		"%u\n",
		indent, info.files_used, info.files_max, info.objects_used,
		info.objects_max);
	snprintf(sub, sizeof sub, "%s  ", indent);
	fprintf(f, "%sfiles:\n", indent);
	print_files(f, w, sub);
	fprintf(f, "%sPIN and key objects:\n", indent);
	print_objects(f, w, sub);
	fprintf(f, "%sCPLC:\n", indent);
	chip_print_cplc(f, info.cplc, sub);
	free(w);
	return CLI_OK;
}

/* ---- JSON ---- */

static void json_hex(FILE *f, const char *key, const uint8_t *p, size_t n,
		     int comma)
{
	fprintf(f, "\"%s\": \"", key);
	cli_hex_print(f, p, n, 0);
	fprintf(f, "\"%s", comma ? ", " : "");
}

static void json_ac(FILE *f, const cos_file_info_t *fi)
{
	const char *const *ops = is_df(fi->type) ? df_ops : ef_ops;
	char ac[48];
	unsigned k;

	fputs("\"access\": {", f);
	for (k = 0; k < COS_AC_OPS; k++) {
		ac_text(fi->ac[k], ac, sizeof ac);
		fprintf(f, "%s\"%s\": \"%s\"", k ? ", " : "", ops[k], ac);
	}
	fputc('}', f);
}

static int print_json(FILE *f, const cli_card_t *card)
{
	cos_info_t info;
	walk_t *w = malloc(sizeof *w);
	const cos_file_info_t *fi;
	const cos_obj_info_t *o;
	const cplc_field_t *fl;
	char a[32], u[64], date[32];
	size_t i;

	if (w == NULL) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	if (gather(card, &info, w) != CLI_OK) {
		free(w);
		return CLI_FAIL;
	}
	fputs("{\n  \"model\": ", f);
	if (info.model)
		fprintf(f, "\"%s\"", info.model->name);
	else
		fputs("null", f);
	fputs(",\n  ", f);
	json_hex(f, "serial", info.serial, COS_SERIAL_LEN, 0);
	fprintf(f,
		",\n  \"life_cycle\": \"%s\", \"locked\": %s, "
		"\"gp_state\": \"%02X\", \"gp_state_name\": \"%s\",\n"
		"  \"transport_tries\": %u,\n"
		"  \"eeprom\": {\"size\": %u, \"body_capacity\": %u, "
		"\"body_used\": %u, \"body_free\": %u, \"files\": %u, "
		"\"files_max\": %u, \"objects\": %u, \"objects_max\": %u},\n"
		"  \"files\": [",
		cos_lifecycle_name(info.lifecycle),
		info.locked ? "true" : "false", info.gp_state,
		cli_gp_state_name(info.gp_state), info.transport_tries,
		(unsigned)info.nvm_size, (unsigned)info.fs_capacity,
		(unsigned)info.fs_used,
		(unsigned)(info.fs_capacity - info.fs_used), info.files_used,
		info.files_max, info.objects_used, info.objects_max);
	for (i = 0; i < w->nfiles; i++) {
		fi = &w->files[i];
		fprintf(f,
			"%s\n    {\"fid\": \"%04X\", \"depth\": %u, "
			"\"type\": \"%s\", ",
			i ? "," : "", fi->fid, fi->depth,
			file_type_name(fi->type));
		if (fi->aid_len)
			json_hex(f, "aid", fi->aid, fi->aid_len, 1);
		fprintf(f,
			"\"size\": %u, \"records\": %u, \"max_records\": %u, "
			"\"sfi\": %u, \"allocated\": %u, \"lcs\": \"%02X\", ",
			fi->size, fi->records, fi->max_records, fi->sfi,
			(unsigned)allocated(w, i), fi->lcs);
		json_ac(f, fi);
		fputc('}', f);
	}
	fputs("\n  ],\n  \"objects\": [", f);
	for (i = 0; i < w->nobjs; i++) {
		o = &w->objs[i];
		fprintf(f,
			"%s\n    {\"kind\": \"%s\", \"ref\": \"%02X\", "
			"\"owner\": \"%04X\", \"tries\": %u, "
			"\"max_tries\": %u, \"length\": %u",
			i ? "," : "", o->kind == COS_OBJ_PIN ? "pin" : "key",
			o->ref, o->owner_fid, o->tries, o->max_tries, o->len);
		if (o->kind == COS_OBJ_PIN)
			fprintf(f, ", \"unblock_ref\": \"%02X\"}",
				o->unblock_ref);
		else
			fprintf(f,
				", \"version\": \"%02X\", \"algorithm\": "
				"\"%s\", \"usage\": \"%s\"}",
				o->kvn, key_alg_text(o, a, sizeof a),
				key_usage_text(o, u, sizeof u));
	}
	fputs("\n  ],\n  \"cplc\": {", f);
	json_hex(f, "raw", info.cplc, COS_CPLC_LEN, 0);
	for (i = 0; i < N_CPLC_FIELDS; i++) {
		fl = &cplc_fields[i];
		fputs(",\n    ", f);
		json_hex(f, fl->name, info.cplc + fl->off, fl->len, 0);
		if (fl->date &&
		    cli_yddd_text(info.cplc + fl->off, date, sizeof date))
			fprintf(f, ", \"%s (decoded)\": \"%s\"", fl->name,
				date);
	}
	fputs(",\n    \"stamps\": {", f);
	for (i = 0; i < N_CPLC_FIELDS; i++) {
		fl = &cplc_fields[i];
		if (fl->group < 0)
			continue;
		fprintf(f, "%s\"%s\": %s", fl->group ? ", " : "",
			stamp_names[fl->group],
			all_is(info.cplc + fl->off, stamp_len[fl->group], 0) ?
				"false" :
				"true");
	}
	fputs("}\n  }\n}\n", f);
	free(w);
	return CLI_OK;
}

#ifdef CARDFAB_HAVE_MEMCARD
/* Bytes whose bit is set in mask, as ranges: "0-3, 8-15, 21-26". */
static void print_ranges(FILE *f, uint32_t mask)
{
	int i, start = -1, first = 1;

	for (i = 0; i <= 32; i++) {
		int set = i < 32 && (mask >> i & 1);

		if (set && start < 0)
			start = i;
		if (!set && start >= 0) {
			fprintf(f, "%s%d", first ? "" : ", ", start);
			if (i - 1 > start)
				fprintf(f, "-%d", i - 1);
			first = 0;
			start = -1;
		}
	}
	if (first)
		fputs("none", f);
}

/* chip info of a memory card: what a reader could read without the PSC,
 * and the state of the security logic. Never the PSC. */
static int memcard_info(FILE *f, const cli_card_t *card, int json)
{
	const mc_chip_t *chip =
		reader_vcard_chip(cli_card_reader((cli_card_t *)card));
	mc_info_t info;
	mc_status_t st;
	const char *why = NULL;
	unsigned i;

	st = chip ? mc_get_info(chip, &info) : MC_ERR_NOT_POWERED;
	if (st != MC_OK) {
		cli_error("%s: no chip information: %s", cli_card_file(card),
			  mc_strerror(st));
		return CLI_FAIL;
	}
	if (mc_check(chip, &why) != MC_OK) {
		cli_error("%s: the memory card image is inconsistent: %s",
			  cli_card_file(card), why);
		return CLI_FAIL;
	}
	if (json) {
		fprintf(f, "{\n  \"chip\": \"%s\",\n  \"model\": \"%s\",\n",
			cli_card_file(card), info.model->name);
		fputs("  \"serial\": ", f);
		if (info.has_serial) {
			fputc('"', f);
			cli_hex_print(f, info.serial, MC_SERIAL_LEN, 0);
			fputs("\",\n", f);
		} else {
			fputs("null,\n", f);
		}
		fprintf(f,
			"  \"error_counter\": \"%02X\",\n  \"tries_left\": "
			"%u,\n  \"locked\": %s,\n  \"protected_mask\": "
			"\"%08X\",\n  \"memory\": \"",
			info.error_counter, info.tries_left,
			info.locked ? "true" : "false", info.protected_mask);
		cli_hex_print(f, info.memory, MC_MEM_SIZE, 0);
		fputs("\"\n}\n", f);
		return CLI_OK;
	}
	fprintf(f, "chip        %s\n", cli_card_file(card));
	fprintf(f, "model       %s (%s)\n", info.model->name,
		info.model->summary);
	fputs("serial      ", f);
	if (info.has_serial)
		cli_hex_print(f, info.serial, MC_SERIAL_LEN, 0);
	else
		fputs("not set", f);
	fputs("\nATR         ", f);
	cli_hex_print(f, info.atr, MC_ATR_LEN, ' ');
	fprintf(f, " (as a PC/SC reader reports it: 3B 04 ");
	cli_hex_print(f, info.atr, MC_ATR_LEN, ' ');
	fprintf(f, ")\nPSC         error counter %02X: %s\n",
		info.error_counter,
		info.locked ? "no try left, locked for writing for good" :
		info.tries_left == 3 ? "3 tries left" :
		info.tries_left == 2 ? "2 tries left" :
				       "1 try left");
	fprintf(f, "protected   %u of %u bytes: ", info.protected_count,
		MC_PROT_BYTES);
	print_ranges(f, info.protected_mask);
	fputs("\nmemory\n", f);
	for (i = 0; i < MC_MEM_SIZE; i += 16) {
		fprintf(f, "  %02X: ", i);
		cli_hex_print(f, info.memory + i, 16, ' ');
		fputc('\n', f);
	}
	return CLI_OK;
}
#endif

static int chip_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cli_card_t *card;
	int c, json = 0, rc;

	cli_set_command("chip info");
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			usage_chip(stdout);
			return CLI_OK;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind >= argc)
		return cli_usage_error(TOPIC, "the chip image is missing: "
					      "cardfab chip info CHIP");
	if (optind + 1 < argc)
		return cli_usage_error(TOPIC,
				       "one chip image expected, got "
				       "'%s' too",
				       argv[optind + 1]);
	if (strncmp(argv[optind], "pcsc:", 5) == 0) {
		cli_error("%s: chip info reads a virtual chip's image, and "
			  "this is a PC/SC reader; ask the card itself, e.g. "
			  "'cardfab apdu --card %s 00CADF3000' (GET DATA "
			  "DF30: chip data) or '... 00CA9F7F00' (CPLC)",
			  argv[optind], argv[optind]);
		return CLI_FAIL;
	}
	rc = cli_card_open(argv[optind], CLI_PROTO_ANY, &card);
	if (rc != CLI_OK)
		return rc;
#ifdef CARDFAB_HAVE_MEMCARD
	if (cli_card_family(card) != NULL &&
	    strcmp(cli_card_family(card), "memory card") == 0) {
		rc = memcard_info(stdout, card, json);
		if (cli_card_close(card) != CLI_OK)
			rc = CLI_FAIL;
		return rc;
	}
#endif
	if (cli_card_chip(card) == NULL) {
		cli_error("%s: chip info knows no chip of this kind (%s)",
			  cli_card_file(card),
			  cli_card_family(card) ? cli_card_family(card) : "?");
		cli_card_close(card);
		return CLI_FAIL;
	}
	rc = json ? print_json(stdout, card) :
		    chip_print_info(stdout, card, "");
	if (cli_card_close(card) != CLI_OK)
		rc = CLI_FAIL;
	return rc;
}

/* ---------------------------------------------------------------- chip */

int cmd_chip(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(TOPIC, "expected 'new' or 'info'");
	if (strcmp(argv[1], "new") == 0)
		return chip_new(argc - 1, argv + 1);
	if (strcmp(argv[1], "info") == 0)
		return chip_info(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage_chip(stdout);
		return CLI_OK;
	}
	return cli_usage_error(TOPIC,
			       "unknown subcommand '%s': expected "
			       "'new' or 'info'",
			       argv[1]);
}
