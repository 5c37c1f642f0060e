/*
 * pcsc_roundtrip.c - APDU round trips through pcscd and vsmartcard's vpcd:
 * the client that measures them, and the floor card they are compared to.
 * bench/pcsc_roundtrip.sh runs both around every card in one run.
 *
 *   pcsc_roundtrip client --reader NAME [--seconds S] [--expect full|sw]
 *                         [--label TEXT]
 *       Connects to the card in reader NAME through pcsc-lite (waiting up
 *       to 10 s for one), then sends, in turn, for S seconds (default 2,
 *       after 0.2 s of warm-up that is not counted):
 *
 *         select   00 A4 00 0C 02 01 01   SELECT EF 0101, no answer data
 *         read16   00 B0 00 00 10         READ BINARY 16
 *         read128  00 B0 00 00 80         READ BINARY 128
 *         chal8    00 84 00 00 08         GET CHALLENGE 8
 *
 *       and times each SCardTransmit (CLOCK_MONOTONIC). Every answer is
 *       checked, so that an error is never counted as a fast success:
 *       9000, and with --expect full (the default) the data length (0, 16,
 *       128, 8); --expect sw checks the status word only (the floor card).
 *       Prints one line:
 *
 *         result <label> <apdus> <seconds> <apdus_per_s> <p50_us> <p99_us>
 *                <p50_us select> <p50_us read16> <p50_us read128>
 *                <p50_us chal8>
 *
 *   pcsc_roundtrip floor [--port P] [--stall]
 *       The floor card: connects to vpcd at 127.0.0.1:P (default 35963),
 *       answers the ATR 3B 80 80 01 01 and 90 00 to every APDU, at once;
 *       TCP_NODELAY on its socket and TCP_QUICKACK re-armed before every
 *       read, as cardfab vicc does (--stall: neither, to show the ~44 ms
 *       stall of Debian's vpcd 3.3 writing the length and the APDU apart).
 *       Ends when vpcd closes the connection or on SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* TCP_QUICKACK */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <winscard.h>

/* ---------------------------------------------------------------- floor */

static int recv_all(int fd, uint8_t *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = recv(fd, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int floor_card(int argc, char **argv)
{
	static const uint8_t atr_msg[] = { 0x00, 0x05, 0x3B, 0x80,
					   0x80, 0x01, 0x01 };
	static const uint8_t ok_msg[] = { 0x00, 0x02, 0x90, 0x00 };
	static uint8_t msg[65536];
	struct sockaddr_in sa;
	int fd, one = 1, stall = 0, i;
	unsigned port = 35963;
	uint8_t hdr[2];
	size_t n;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--stall") == 0)
			stall = 1;
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = (unsigned)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr,
				"pcsc_roundtrip floor: bad argument "
				"'%s'\n",
				argv[i]);
			return 2;
		}
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fprintf(stderr,
			"pcsc_roundtrip floor: vpcd at 127.0.0.1:%u: "
			"%s\n",
			port, strerror(errno));
		return 1;
	}
	if (!stall)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (;;) {
		if (!stall)
			setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one,
				   sizeof one);
		if (recv_all(fd, hdr, 2) != 0)
			break;
		n = (size_t)hdr[0] << 8 | hdr[1];
		if (n > 0 && recv_all(fd, msg, n) != 0)
			break;
		if (n == 1 && msg[0] == 0x04)
			send(fd, atr_msg, sizeof atr_msg, MSG_NOSIGNAL);
		else if (n >= 2)
			send(fd, ok_msg, sizeof ok_msg, MSG_NOSIGNAL);
	}
	close(fd);
	return 0;
}

/* ---------------------------------------------------------------- client */

typedef struct {
	const char *name;
	uint8_t apdu[8];
	size_t len;
	size_t data; /* expected response data bytes */
} kind_t;

static const kind_t kinds[] = {
	{ "select", { 0x00, 0xA4, 0x00, 0x0C, 0x02, 0x01, 0x01 }, 7, 0 },
	{ "read16", { 0x00, 0xB0, 0x00, 0x00, 0x10 }, 5, 16 },
	{ "read128", { 0x00, 0xB0, 0x00, 0x00, 0x80 }, 5, 128 },
	{ "chal8", { 0x00, 0x84, 0x00, 0x00, 0x08 }, 5, 8 },
};

#define N_KINDS (sizeof kinds / sizeof kinds[0])
#define MAX_SAMPLES 4000000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Percentile p (0..100) of n sorted samples, nearest rank. */
static double pct(const double *s, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)n + 0.5);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return s[i - 1];
}

static int client(int argc, char **argv)
{
	const char *reader = NULL, *label = "card";
	double seconds = 2.0, warmup = 0.2, t0, t1, start, end;
	int full = 1, i;
	SCARDCONTEXT ctx;
	SCARDHANDLE h;
	SCARD_READERSTATE rs;
	DWORD proto, rlen;
	LONG rv;
	uint8_t resp[300];
	double *all, *per[N_KINDS];
	size_t n_all = 0, n_per[N_KINDS] = { 0 }, k, count = 0;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--reader") == 0 && i + 1 < argc)
			reader = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
			label = argv[++i];
		else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			full = strcmp(argv[++i], "sw") != 0;
		else {
			fprintf(stderr,
				"pcsc_roundtrip client: bad argument "
				"'%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (reader == NULL || seconds <= 0) {
		fprintf(stderr,
			"pcsc_roundtrip client: --reader NAME needed\n");
		return 2;
	}
	all = malloc(MAX_SAMPLES * sizeof *all);
	for (k = 0; k < N_KINDS; k++)
		per[k] = malloc(MAX_SAMPLES / N_KINDS * sizeof *per[k]);
	if (all == NULL || per[N_KINDS - 1] == NULL) {
		fprintf(stderr, "pcsc_roundtrip client: out of memory\n");
		return 1;
	}

	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (rv != SCARD_S_SUCCESS) {
		fprintf(stderr, "pcsc_roundtrip client: pcscd: %s\n",
			pcsc_stringify_error(rv));
		return 1;
	}
	/* Wait for the card (up to 10 s). */
	memset(&rs, 0, sizeof rs);
	rs.szReader = reader;
	rs.dwCurrentState = SCARD_STATE_UNAWARE;
	for (start = now_s(); now_s() - start < 10;) {
		rv = SCardGetStatusChange(ctx, 500, &rs, 1);
		if (rv == SCARD_S_SUCCESS &&
		    (rs.dwEventState & SCARD_STATE_PRESENT))
			break;
		rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
	}
	rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED,
			  SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto);
	if (rv != SCARD_S_SUCCESS) {
		fprintf(stderr, "pcsc_roundtrip client: %s: %s\n", reader,
			pcsc_stringify_error(rv));
		return 1;
	}

	start = now_s();
	end = start + warmup + seconds;
	for (;;) {
		const kind_t *kd = &kinds[count % N_KINDS];

		t0 = now_s();
		if (t0 >= end)
			break;
		rlen = sizeof resp;
		rv = SCardTransmit(h,
				   proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 :
								SCARD_PCI_T1,
				   kd->apdu, (DWORD)kd->len, NULL, resp, &rlen);
		t1 = now_s();
		if (rv != SCARD_S_SUCCESS) {
			fprintf(stderr, "pcsc_roundtrip client: %s: %s: %s\n",
				label, kd->name, pcsc_stringify_error(rv));
			return 1;
		}
		if (rlen < 2 || resp[rlen - 2] != 0x90 || resp[rlen - 1] != 0 ||
		    (full && rlen != kd->data + 2)) {
			fprintf(stderr,
				"pcsc_roundtrip client: %s: %s answered %lu "
				"bytes, SW %02X%02X (expected %zu data bytes "
				"and 9000)\n",
				label, kd->name, (unsigned long)rlen,
				rlen >= 2 ? resp[rlen - 2] : 0,
				rlen >= 2 ? resp[rlen - 1] : 0,
				full ? kd->data : (size_t)0);
			return 1;
		}
		/* The warm-up's APDUs are sent and checked, not counted. */
		k = count % N_KINDS;
		if (t0 >= start + warmup && n_all < MAX_SAMPLES &&
		    n_per[k] < MAX_SAMPLES / N_KINDS) {
			all[n_all++] = (t1 - t0) * 1e6;
			per[k][n_per[k]++] = (t1 - t0) * 1e6;
		}
		count++;
	}
	SCardDisconnect(h, SCARD_LEAVE_CARD);
	SCardReleaseContext(ctx);
	if (n_all == 0) {
		fprintf(stderr, "pcsc_roundtrip client: %s: no APDU measured\n",
			label);
		return 1;
	}
	{
		double total = 0;

		for (k = 0; k < n_all; k++)
			total += all[k];
		qsort(all, n_all, sizeof *all, cmp_double);
		for (k = 0; k < N_KINDS; k++)
			qsort(per[k], n_per[k], sizeof *per[k], cmp_double);
		/* Rate: APDUs over the time they took, back to back. */
		printf("result %s %zu %.3f %.1f %.1f %.1f", label, n_all,
		       total / 1e6, (double)n_all / (total / 1e6),
		       pct(all, n_all, 50), pct(all, n_all, 99));
		for (k = 0; k < N_KINDS; k++)
			printf(" %.1f", pct(per[k], n_per[k], 50));
		printf("\n");
	}
	free(all);
	for (k = 0; k < N_KINDS; k++)
		free(per[k]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return client(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "floor") == 0)
		return floor_card(argc, argv);
	fprintf(stderr,
		"usage: pcsc_roundtrip client --reader NAME [--seconds S] "
		"[--expect full|sw] [--label TEXT]\n"
		"       pcsc_roundtrip floor [--port P] [--stall]\n"
		"(bench/pcsc_roundtrip.sh runs the whole comparison)\n");
	return 2;
}
