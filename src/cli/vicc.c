/*
 * vicc.c - `cardfab vicc --card CHIP`: serve a virtual chip to pcscd through
 * vsmartcard's vpcd driver, so that every PC/SC program (OpenSC, pcsc-tools,
 * pyscard, GlobalPlatform tools) sees it as a card in the reader "Virtual
 * PCD 00 00".
 *
 * The chip's image stays open (and locked) for the whole run: power cycles
 * from pcscd only wipe the chip's RAM, and its state is in the image. The
 * protocol, the reconnection when pcscd restarts and the reports are
 * src/reader's (reader_vpcd_serve); this file parses the options, turns
 * SIGINT, SIGTERM and SIGHUP into a stop request (the APDU in hand is
 * answered first, then the chip is powered down and its image flushed and
 * closed), and prints what happens on stderr, one line an event.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "reader/reader.h"

#define TOPIC "vicc"

void usage_vicc(FILE *f)
{
	fputs("usage: cardfab vicc --card CHIP [--hostname HOST] [--port PORT] "
	      "[--wait SECONDS]\n"
	      "                    [--verbose]\n"
	      "\n"
	      "Serves the virtual chip CHIP to pcscd through vsmartcard's vpcd "
	      "driver (Debian\n"
	      "package vsmartcard-vpcd): any PC/SC program then sees it as a "
	      "card in the\n"
	      "reader 'Virtual PCD 00 00' (port 35963) or 'Virtual PCD 00 01' "
	      "(port 35964).\n"
	      "Runs until interrupted (Ctrl-C, SIGTERM): the APDU in hand is "
	      "answered, the\n"
	      "chip powered down and its image closed. If pcscd stops or "
	      "restarts, the card\n"
	      "leaves the reader and comes back when vpcd listens again.\n"
	      "\n"
	      "  -c, --card CHIP          vcard:PATH or PATH, a chip image "
	      "('cardfab chip new')\n"
	      "  -H, --hostname HOST      where vpcd listens (default "
	      "127.0.0.1)\n"
	      "  -P, --port PORT          vpcd's port (default 35963)\n"
	      "  -w, --wait SECONDS       give up if vpcd cannot be reached "
	      "for that long\n"
	      "                           (default: keep trying; 0: fail at "
	      "once)\n"
	      "  -v, --verbose            print every message and APDU (APDUs "
	      "may hold PINs)\n"
	      "\n"
	      "example:\n"
	      "  pcscd -f -i &                 # pcscd with vpcd, in the "
	      "foreground\n"
	      "  cardfab vicc --card chip.img &\n"
	      "  opensc-tool -r 'Virtual PCD 00 00' -a\n",
	      f);
}

#define PLURAL(n) ((n) == 1 ? "" : "s")

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
	stop_flag = 1;
}

static void report(void *arg, reader_vpcd_event_t ev, const char *line)
{
	(void)arg;
	switch (ev) {
	case READER_VPCD_BAD_INPUT:
		cli_error("malformed input from vpcd: %s", line);
		break;
	case READER_VPCD_WARN:
		cli_error("%s", line);
		break;
	default:
		cli_error("%s", line);
		break;
	}
	fflush(stderr);
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_seconds(const char *s, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || v < 0 || v > 86400.0 * 365)
		return -1;
	*ms = (long)(v * 1000.0);
	return 0;
}

int cmd_vicc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "card", required_argument, NULL, 'c' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'P' },
		{ "wait", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	reader_vpcd_opts_t vo;
	reader_vpcd_stats_t stats;
	struct sigaction sa;
	const char *spec = NULL;
	cli_card_t *card = NULL;
	reader_t *r = NULL;
	char atr_hex[2 * READER_ATR_MAX + 1];
	const uint8_t *atr;
	size_t atr_len;
	reader_status_t st;
	int c, rc = CLI_OK;

	memset(&vo, 0, sizeof vo);
	vo.give_up_ms = -1;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":c:H:P:w:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			spec = optarg;
			break;
		case 'H':
			vo.host = optarg;
			break;
		case 'P':
			if (parse_port(optarg, &vo.port) != 0)
				return cli_usage_error(TOPIC,
						       "--port '%s': expected "
						       "a TCP port, 1 to 65535",
						       optarg);
			break;
		case 'w':
			if (parse_seconds(optarg, &vo.give_up_ms) != 0)
				return cli_usage_error(TOPIC,
						       "--wait '%s': expected "
						       "seconds (0 or more)",
						       optarg);
			break;
		case 'v':
			vo.trace = 1;
			break;
		case 'h':
			usage_vicc(stdout);
			return CLI_OK;
		default:
			return cli_option_error(c, argv, TOPIC);
		}
	}
	if (spec == NULL)
		return cli_usage_error(TOPIC, "--card CHIP is required");
	if (optind < argc)
		return cli_usage_error(TOPIC, "unexpected argument '%s'",
				       argv[optind]);
	if (strncmp(spec, "pcsc:", 5) == 0) {
		cli_error(
			"--card %s: vicc serves a virtual chip (vcard:PATH or "
			"PATH); a PC/SC reader's card is reached directly "
			"with --card pcsc:NAME by the other commands",
			spec);
		return CLI_USAGE;
	}

	/* Signals before the card: a stop asked at any point is honoured. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	rc = cli_card_open(spec, CLI_PROTO_ANY, &card);
	if (rc != CLI_OK)
		return rc;
	r = cli_card_reader(card);
	atr = reader_atr(r, &atr_len);
	cli_hex_str(atr, atr_len, atr_hex, sizeof atr_hex);
	cli_error("serving %s (%s, ATR %s) to vpcd at %s:%u", reader_target(r),
		  reader_chip_family(r), atr_hex,
		  vo.host ? vo.host : "127.0.0.1",
		  vo.port ? vo.port : READER_VPCD_PORT);

	vo.stop = &stop_flag;
	vo.report = report;
	st = reader_vpcd_serve(r, &vo, &stats);
	if (st != READER_OK) {
		cli_error("%s", reader_error_detail(r)[0] ?
					reader_error_detail(r) :
					reader_strerror(st));
		rc = CLI_FAIL;
	}
	if (cli_card_close(card) != CLI_OK)
		rc = CLI_FAIL;
	if (st == READER_OK)
		cli_error("stopped%s%s: %llu APDU%s answered, %llu power "
			  "up%s, %llu connection%s, %llu malformed message%s; "
			  "%s closed%s",
			  stop_signal ? " by " : "",
			  stop_signal == SIGINT	 ? "SIGINT" :
			  stop_signal == SIGTERM ? "SIGTERM" :
			  stop_signal == SIGHUP	 ? "SIGHUP" :
						   "",
			  (unsigned long long)stats.apdus, PLURAL(stats.apdus),
			  (unsigned long long)stats.power_ups,
			  PLURAL(stats.power_ups),
			  (unsigned long long)stats.connections,
			  PLURAL(stats.connections),
			  (unsigned long long)stats.bad_messages,
			  PLURAL(stats.bad_messages), spec,
			  rc == CLI_OK ? "" : " (with errors)");
	return rc;
}
