/*
 * keys.c - `cardfab keys`: the issuer's master keys in a PKCS#11 token.
 *
 *   cardfab keys init --dir DIR         the project's own SoftHSM2 token:
 *                                       DIR/softhsm2.conf, DIR/tokens/
 *   cardfab keys list                   labels, types, roles, KCVs
 *   cardfab keys create LABEL --type T [--wrap]
 *   cardfab keys import LABEL --type T [--wrap] --file F [--file F...]
 *   cardfab keys delete LABEL
 *   cardfab keys derive --master L --serial HEX --type T --wrap-key W
 *
 * Thin: src/perso/token.c does the work (token.h). PINs come from a file
 * or an environment variable, never from the command line; key files are
 * read, XORed (key components) and wiped, never echoed: a message about a
 * key file names the file and the line, not what is in it.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "perso/token.h"

/* Also in cli.h once main.c's table names the command. */
int cmd_keys(int argc, char **argv);
void usage_keys(FILE *f);

#define TOPIC "keys"
#define PIN_MAX 255
#define MAX_FILES 8

void usage_keys(FILE *f)
{
	fputs("usage: cardfab keys init --dir DIR [TOKEN OPTIONS] "
	      "[--so-pin-file F | --so-pin-env VAR]\n"
	      "       cardfab keys list [TOKEN OPTIONS]\n"
	      "       cardfab keys create LABEL --type T [--wrap | --batch] "
	      "[TOKEN OPTIONS]\n"
	      "       cardfab keys import LABEL --type T [--wrap | --batch] --file F "
	      "[--file F...] [TOKEN OPTIONS]\n"
	      "       cardfab keys delete LABEL [TOKEN OPTIONS]\n"
	      "       cardfab keys derive --master L --serial HEX --type T "
	      "--wrap-key W [TOKEN OPTIONS]\n"
	      "\n"
	      "The issuer's and the fab's master keys live in a PKCS#11 token "
	      "and never\n"
	      "leave it in clear. init makes the project's own SoftHSM2 token: "
	      "it writes\n"
	      "DIR/softhsm2.conf (tokens in DIR/tokens; the user's own SoftHSM2 "
	      "config is\n"
	      "never touched) and initializes a token in it. Later commands "
	      "find it with\n"
	      "--dir DIR (or SOFTHSM2_CONF=DIR/softhsm2.conf).\n"
	      "\n"
	      "create  generates a key in the token: sensitive, never "
	      "extractable\n"
	      "import  loads a key from hex files: one file, the key; several, "
	      "key components\n"
	      "        XORed together (a transport key shipped by a fab). "
	      "Blanks and lines\n"
	      "        starting with # are ignored. The files are never echoed.\n"
	      "list    labels, types, roles and key check values (KCV: first 3 "
	      "bytes of\n"
	      "        the key's ECB encryption of a zero block, computed in the "
	      "token)\n"
	      "derive  diversifies a card key from master L and a chip serial "
	      "(8 bytes)\n"
	      "        in the token, prints it wrapped under W (RFC 3394)\n"
	      "\n"
	      "  --type T        aes128, aes192, aes256, 3des2 or 3des3\n"
	      "  --wrap          a wrapping key (AES): wraps card keys out of "
	      "the token;\n"
	      "                  the default is a master key, which only "
	      "derives\n"
	      "  --batch         a batch key (AES): encrypts and decrypts the "
	      "secrets of a\n"
	      "                  prepared batch (PINs); never wraps or "
	      "unwraps\n"
	      "\n"
	      "token options (environment variable in brackets):\n"
	      "  --dir DIR           the project's SoftHSM2 token folder "
	      "[CARDFAB_TOKEN_DIR]\n"
	      "  --module PATH       PKCS#11 module [CARDFAB_PKCS11_MODULE]\n"
	      "                      (default " PERSO_DEFAULT_MODULE ")\n"
	      "  --token LABEL       token label [CARDFAB_TOKEN] (default " PERSO_DEFAULT_TOKEN
	      ")\n"
	      "  --pin-file FILE     user PIN: first line of FILE "
	      "[CARDFAB_TOKEN_PIN_FILE]\n"
	      "  --pin-env VAR       user PIN: environment variable VAR "
	      "(default\n"
	      "                      CARDFAB_TOKEN_PIN)\n"
	      "  --so-pin-file FILE  init: security officer PIN "
	      "[CARDFAB_TOKEN_SO_PIN_FILE]\n"
	      "  --so-pin-env VAR    init: SO PIN from VAR (default "
	      "CARDFAB_TOKEN_SO_PIN)\n"
	      "\n"
	      "Example:\n"
	      "  mkdir -p work; umask 077\n"
	      "  for f in pin so-pin; do head -c 12 /dev/urandom | od -An -tx1 "
	      "| tr -d ' \\n' >work/$f; done\n"
	      "  cardfab keys init --dir work --pin-file work/pin --so-pin-file "
	      "work/so-pin\n"
	      "  cardfab keys create ISSUER-MK --type aes128 --dir work "
	      "--pin-file work/pin\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      f);
}

typedef struct {
	const char *dir, *module, *token;
	const char *pin_file, *pin_env, *so_pin_file, *so_pin_env;
	const char *type, *master, *serial, *wrap_key;
	const char *files[MAX_FILES];
	int nfiles, wrap; /* 1: --wrap, 2: --batch */
} opts_t;

/* ---------------------------------------------------------------- secrets */

/* The first line of path into buf (cap bytes). 0, or -1 (printed). */
static int read_secret_line(const char *path, const char *what, char *buf,
			    size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		cli_error("%s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fgets(buf, (int)cap, f) == NULL) {
		fclose(f);
		cli_error("%s file %s: empty", what, path);
		return -1;
	}
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0 || n >= cap - 1) {
		cli_wipe(buf, cap);
		cli_error("%s file %s: a PIN of 1 to %zu characters on the "
			  "first line expected",
			  what, path, cap - 2);
		return -1;
	}
	return 0;
}

/* A PIN from the file option, else the file environment variable, else
 * the variable named by the env option (or its default). */
static int get_pin(const char *file_opt, const char *file_env,
		   const char *env_opt, const char *env_default,
		   const char *what, char *buf, size_t cap)
{
	const char *file = file_opt ? file_opt : getenv(file_env);
	const char *var = env_opt ? env_opt : env_default;
	const char *v;

	if (file != NULL && file_opt == NULL && env_opt != NULL)
		file = NULL; /* an explicit --*-env beats the file variable */
	if (file != NULL && file[0] != '\0')
		return read_secret_line(file, what, buf, cap);
	v = getenv(var);
	if (v == NULL || v[0] == '\0') {
		cli_error("no %s: give --%s-file FILE, or set %s or %s", what,
			  strcmp(what, "SO PIN") == 0 ? "so-pin" : "pin",
			  file_env, var);
		return -1;
	}
	if (strlen(v) >= cap - 1) {
		cli_error("%s in %s: too long (at most %zu characters)", what,
			  var, cap - 2);
		return -1;
	}
	strcpy(buf, v);
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A key (or a component) from a hex file: blanks ignored, lines starting
 * with # ignored. Exactly n bytes. Messages say where, never what.
 */
static int read_key_file(const char *path, uint8_t *out, size_t n)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;
	size_t nib = 0;
	int c, v, rc = 0;
	size_t i;

	if (f == NULL) {
		cli_error("key file %s: %s", path, strerror(errno));
		return -1;
	}
	memset(out, 0, n);
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		lineno++;
		if (line[0] == '#')
			continue;
		for (i = 0; line[i] != '\0' && rc == 0; i++) {
			c = (unsigned char)line[i];
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			v = hexval(c);
			if (v < 0) {
				cli_error("key file %s: line %u: a character "
					  "that is not a hex digit",
					  path, lineno);
				rc = -1;
			} else if (nib >= 2 * n) {
				cli_error("key file %s: line %u: more than "
					  "the %zu bytes of the key",
					  path, lineno, n);
				rc = -1;
			} else {
				out[nib / 2] |= (uint8_t)(nib % 2 ? v : v << 4);
				nib++;
			}
		}
	}
	cli_wipe(line, sizeof line);
	fclose(f);
	if (rc == 0 && nib != 2 * n) {
		cli_error("key file %s: %zu hex digits expected (a %zu-byte "
			  "key), found %zu",
			  path, 2 * n, n, nib);
		rc = -1;
	}
	if (rc != 0)
		cli_wipe(out, n);
	return rc;
}

/* ---------------------------------------------------------------- token */

static void use_dir(const char *dir)
{
	char conf[4096];

	if (dir == NULL)
		return;
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
	setenv("SOFTHSM2_CONF", conf, 1);
}

static int open_token(const opts_t *o, perso_token_t **t)
{
	char pin[PIN_MAX + 2], err[400];
	perso_status_t st;

	if (get_pin(o->pin_file, "CARDFAB_TOKEN_PIN_FILE", o->pin_env,
		    "CARDFAB_TOKEN_PIN", "user PIN", pin, sizeof pin) != 0)
		return CLI_FAIL;
	use_dir(o->dir);
	st = perso_token_open(o->module, o->token, pin, t, err, sizeof err);
	cli_wipe(pin, sizeof pin);
	if (st != PERSO_OK) {
		cli_error("%s", err);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_token_option(int c, const char *arg, cli_token_opts_t *o)
{
	switch (c) {
	case CLI_O_TOKEN_DIR:
		o->dir = arg;
		return 1;
	case CLI_O_TOKEN_MODULE:
		o->module = arg;
		return 1;
	case CLI_O_TOKEN_LABEL:
		o->token = arg;
		return 1;
	case CLI_O_TOKEN_PIN_FILE:
		o->pin_file = arg;
		return 1;
	case CLI_O_TOKEN_PIN_ENV:
		o->pin_env = arg;
		return 1;
	}
	return 0;
}

int cli_token_open(const cli_token_opts_t *to, struct perso_token **t)
{
	opts_t o;
	const char *pin_file = to->pin_file, *pin_env = to->pin_env;

	memset(&o, 0, sizeof o);
	o.dir = to->dir ? to->dir : getenv("CARDFAB_TOKEN_DIR");
	o.module = to->module ? to->module : getenv("CARDFAB_PKCS11_MODULE");
	o.token = to->token ? to->token : getenv("CARDFAB_TOKEN");
	if (o.dir != NULL && o.dir[0] == '\0')
		o.dir = NULL;
	if (o.module != NULL && o.module[0] == '\0')
		o.module = NULL;
	if (o.token != NULL && o.token[0] == '\0')
		o.token = NULL;
	o.pin_file = pin_file;
	o.pin_env = pin_env;
	return open_token(&o, t);
}

static int do_init(const opts_t *o)
{
	char pin[PIN_MAX + 2], so[PIN_MAX + 2], err[400];
	char abs[4096], tokens[4200], conf[4200], text[9000];
	perso_status_t st;
	struct stat sb;

	if (o->dir == NULL)
		return cli_usage_error(TOPIC, "init: --dir DIR (or "
					      "CARDFAB_TOKEN_DIR) expected");
	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		cli_error("init: %s: %s", o->dir, strerror(errno));
		return CLI_FAIL;
	}
	if (realpath(o->dir, abs) == NULL) {
		cli_error("init: %s: %s", o->dir, strerror(errno));
		return CLI_FAIL;
	}
	snprintf(tokens, sizeof tokens, "%s/tokens", abs);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", abs);
	if (mkdir(tokens, 0700) != 0 && errno != EEXIST) {
		cli_error("init: %s: %s", tokens, strerror(errno));
		return CLI_FAIL;
	}
	if (stat(conf, &sb) != 0) {
		snprintf(text, sizeof text,
			 "# SoftHSM2 config of cardfab's own token (written "
			 "by 'cardfab keys init').\n"
			 "directories.tokendir = %s\n"
			 "objectstore.backend = file\n"
			 "log.level = ERROR\n"
			 "slots.removable = false\n",
			 tokens);
		if (cli_write_durably(conf, text, strlen(text), 0600) != 0) {
			cli_error("init: %s: %s", conf, strerror(errno));
			return CLI_FAIL;
		}
	}
	if (get_pin(o->pin_file, "CARDFAB_TOKEN_PIN_FILE", o->pin_env,
		    "CARDFAB_TOKEN_PIN", "user PIN", pin, sizeof pin) != 0)
		return CLI_FAIL;
	if (get_pin(o->so_pin_file, "CARDFAB_TOKEN_SO_PIN_FILE", o->so_pin_env,
		    "CARDFAB_TOKEN_SO_PIN", "SO PIN", so, sizeof so) != 0) {
		cli_wipe(pin, sizeof pin);
		return CLI_FAIL;
	}
	setenv("SOFTHSM2_CONF", conf, 1);
	st = perso_token_init(o->module, o->token, so, pin, err, sizeof err);
	cli_wipe(pin, sizeof pin);
	cli_wipe(so, sizeof so);
	if (st != PERSO_OK) {
		cli_error("init: %s", err);
		return CLI_FAIL;
	}
	printf("token '%s' initialized in %s\n"
	       "later commands: --dir %s (or export SOFTHSM2_CONF=%s)\n",
	       o->token ? o->token : PERSO_DEFAULT_TOKEN, tokens, o->dir, conf);
	return CLI_OK;
}

static int do_list(const opts_t *o)
{
	perso_token_t *t = NULL;
	perso_key_info_t *v = NULL;
	size_t n = 0, i;
	perso_status_t st;
	int rc = open_token(o, &t);

	if (rc != CLI_OK)
		return rc;
	st = perso_key_list(t, &v, &n);
	if (st != PERSO_OK) {
		cli_error("list: %s", perso_token_error(t));
		perso_token_close(t);
		return CLI_FAIL;
	}
	printf("%-24s %-7s %-7s %-6s %s\n", "LABEL", "TYPE", "ROLE", "KCV",
	       "ATTRIBUTES");
	for (i = 0; i < n; i++) {
		char kcv[8] = "-";

		if (v[i].has_kcv)
			cli_hex_str(v[i].kcv, 3, kcv, sizeof kcv);
		printf("%-24s %-7s %-7s %-6s %s%s\n", v[i].label,
		       v[i].type ? perso_key_type_name(v[i].type) : "other",
		       perso_key_role_name(v[i].role), kcv,
		       v[i].sensitive ? "sensitive" : "NOT-SENSITIVE",
		       v[i].extractable ? ",EXTRACTABLE" :
					  ",never-extractable");
	}
	printf("%zu key%s\n", n, n == 1 ? "" : "s");
	free(v);
	perso_token_close(t);
	return CLI_OK;
}

/* After create or import: one line with the KCV. */
static int report_new(perso_token_t *t, const char *verb, const char *label,
		      perso_key_type_t type, int wrap)
{
	uint8_t kcv[3];
	char hex[8] = "-";

	if (perso_key_kcv(t, label, kcv) == PERSO_OK)
		cli_hex_str(kcv, 3, hex, sizeof hex);
	printf("%s %s: %s %s key, KCV %s\n", verb, label,
	       perso_key_type_name(type),
	       wrap == 2 ? "batch" :
	       wrap	 ? "wrapping" :
			   "master",
	       hex);
	return CLI_OK;
}

static int do_create_import(const opts_t *o, const char *label, int import)
{
	perso_key_type_t type = perso_key_type_parse(o->type);
	perso_key_role_t role = o->wrap == 2 ? PERSO_ROLE_BATCH :
				o->wrap	     ? PERSO_ROLE_WRAP :
					       PERSO_ROLE_MASTER;
	perso_token_t *t = NULL;
	uint8_t key[32], part[32];
	size_t len, i;
	int k, rc;
	perso_status_t st;

	if (type == 0)
		return cli_usage_error(TOPIC, "--type aes128, aes192, aes256, "
					      "3des2 or 3des3 expected");
	if (import && o->nfiles == 0)
		return cli_usage_error(TOPIC, "import: --file F expected (one "
					      "a key component)");
	if (!import && o->nfiles)
		return cli_usage_error(TOPIC, "create: --file is for import");
	len = perso_key_type_len(type);
	memset(key, 0, sizeof key);
	for (k = 0; import && k < o->nfiles; k++) {
		if (read_key_file(o->files[k], part, len) != 0) {
			cli_wipe(key, sizeof key);
			return CLI_FAIL;
		}
		for (i = 0; i < len; i++)
			key[i] ^= part[i];
		cli_wipe(part, sizeof part);
	}
	rc = open_token(o, &t);
	if (rc != CLI_OK) {
		cli_wipe(key, sizeof key);
		return rc;
	}
	if (import)
		st = perso_key_import(t, label, type, role, key, len);
	else
		st = perso_key_create(t, label, type, role);
	cli_wipe(key, sizeof key);
	if (st != PERSO_OK) {
		cli_error("%s: %s", import ? "import" : "create",
			  perso_token_error(t));
		perso_token_close(t);
		return CLI_FAIL;
	}
	rc = report_new(t, import ? "imported" : "created", label, type,
			o->wrap);
	if (import && o->nfiles > 1)
		printf("(from %d components XORed)\n", o->nfiles);
	perso_token_close(t);
	return rc;
}

static int do_delete(const opts_t *o, const char *label)
{
	perso_token_t *t = NULL;
	int rc = open_token(o, &t);

	if (rc != CLI_OK)
		return rc;
	if (perso_key_delete(t, label) != PERSO_OK) {
		cli_error("delete: %s", perso_token_error(t));
		rc = CLI_FAIL;
	} else {
		printf("deleted %s\n", label);
	}
	perso_token_close(t);
	return rc;
}

static int do_derive(const opts_t *o)
{
	perso_key_type_t type = perso_key_type_parse(o->type);
	uint8_t serial[PERSO_SERIAL_LEN], w[PERSO_WRAPPED_MAX];
	char why[128];
	size_t wl = 0;
	perso_token_t *t = NULL;
	int rc;

	if (type == 0)
		return cli_usage_error(TOPIC, "--type aes128, aes192, aes256, "
					      "3des2 or 3des3 expected");
	if (o->master == NULL || o->wrap_key == NULL || o->serial == NULL)
		return cli_usage_error(TOPIC, "derive: --master, --serial and "
					      "--wrap-key expected");
	if (cli_hex_parse_exact(o->serial, serial, sizeof serial, why,
				sizeof why) != 0)
		return cli_usage_error(TOPIC,
				       "--serial: 8 bytes in hex "
				       "expected: %s",
				       why);
	rc = open_token(o, &t);
	if (rc != CLI_OK)
		return rc;
	if (perso_key_derive_wrapped(t, o->master, serial, type, o->wrap_key, w,
				     sizeof w, &wl) != PERSO_OK) {
		cli_error("derive: %s", perso_token_error(t));
		rc = CLI_FAIL;
	} else {
		cli_hex_print(stdout, w, wl, 0);
		putchar('\n');
	}
	perso_token_close(t);
	return rc;
}

/* ---------------------------------------------------------------- command */

int cmd_keys(int argc, char **argv)
{
	enum {
		O_DIR = 256,
		O_MODULE,
		O_TOKEN,
		O_PIN_FILE,
		O_PIN_ENV,
		O_SO_PIN_FILE,
		O_SO_PIN_ENV,
		O_TYPE,
		O_WRAP,
		O_BATCH,
		O_FILE,
		O_MASTER,
		O_SERIAL,
		O_WRAP_KEY,
	};
	static const struct option lopts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "module", required_argument, NULL, O_MODULE },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "pin-file", required_argument, NULL, O_PIN_FILE },
		{ "pin-env", required_argument, NULL, O_PIN_ENV },
		{ "so-pin-file", required_argument, NULL, O_SO_PIN_FILE },
		{ "so-pin-env", required_argument, NULL, O_SO_PIN_ENV },
		{ "type", required_argument, NULL, O_TYPE },
		{ "wrap", no_argument, NULL, O_WRAP },
		{ "batch", no_argument, NULL, O_BATCH },
		{ "file", required_argument, NULL, O_FILE },
		{ "master", required_argument, NULL, O_MASTER },
		{ "serial", required_argument, NULL, O_SERIAL },
		{ "wrap-key", required_argument, NULL, O_WRAP_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	opts_t o;
	const char *action, *label = NULL;
	int c, nargs;

	memset(&o, 0, sizeof o);
	o.dir = getenv("CARDFAB_TOKEN_DIR");
	o.module = getenv("CARDFAB_PKCS11_MODULE");
	o.token = getenv("CARDFAB_TOKEN");
	if (o.dir != NULL && o.dir[0] == '\0')
		o.dir = NULL;
	if (o.module != NULL && o.module[0] == '\0')
		o.module = NULL;
	if (o.token != NULL && o.token[0] == '\0')
		o.token = NULL;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_keys(stdout);
			return CLI_OK;
		case O_DIR:
			o.dir = optarg;
			break;
		case O_MODULE:
			o.module = optarg;
			break;
		case O_TOKEN:
			o.token = optarg;
			break;
		case O_PIN_FILE:
			o.pin_file = optarg;
			break;
		case O_PIN_ENV:
			o.pin_env = optarg;
			break;
		case O_SO_PIN_FILE:
			o.so_pin_file = optarg;
			break;
		case O_SO_PIN_ENV:
			o.so_pin_env = optarg;
			break;
		case O_TYPE:
			o.type = optarg;
			break;
		case O_WRAP:
		case O_BATCH:
			if (o.wrap != 0)
				return cli_usage_error(TOPIC,
						       "one of --wrap and "
						       "--batch");
			o.wrap = c == O_BATCH ? 2 : 1;
			break;
		case O_FILE:
			if (o.nfiles == MAX_FILES)
				return cli_usage_error(TOPIC,
						       "at most %d --file "
						       "components",
						       MAX_FILES);
			o.files[o.nfiles++] = optarg;
			break;
		case O_MASTER:
			o.master = optarg;
			break;
		case O_SERIAL:
			o.serial = optarg;
			break;
		case O_WRAP_KEY:
			o.wrap_key = optarg;
			break;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (optind >= argc)
		return cli_usage_error(TOPIC, "expected an action: init, list, "
					      "create, import, delete or "
					      "derive");
	action = argv[optind++];
	nargs = argc - optind;
	if (strcmp(action, "create") == 0 || strcmp(action, "import") == 0 ||
	    strcmp(action, "delete") == 0) {
		if (nargs != 1)
			return cli_usage_error(TOPIC, "%s: one LABEL expected",
					       action);
		label = argv[optind];
	} else if (nargs != 0) {
		return cli_usage_error(TOPIC, "%s: unexpected argument '%s'",
				       action, argv[optind]);
	}
	if (strcmp(action, "init") == 0)
		return do_init(&o);
	if (strcmp(action, "list") == 0)
		return do_list(&o);
	if (strcmp(action, "create") == 0)
		return do_create_import(&o, label, 0);
	if (strcmp(action, "import") == 0)
		return do_create_import(&o, label, 1);
	if (strcmp(action, "delete") == 0)
		return do_delete(&o, label);
	if (strcmp(action, "derive") == 0)
		return do_derive(&o);
	return cli_usage_error(TOPIC,
			       "unknown action '%s': init, list, "
			       "create, import, delete or derive",
			       action);
}
