/*
 * fuzz_vpcd.c - libFuzzer target on the card end of vsmartcard's vpcd
 * protocol (src/reader/vpcd.c): what `cardfab vicc` reads from its socket,
 * framed (vpcd_frame), split into messages and answered (vpcd_consume,
 * vpcd_handle) by a real virtual chip.
 *
 * On the first call it builds one chip in RAM (hal_mem, fixed seed), the
 * way `cardfab chip new` and an initialization do, through APDUs: FAB
 * CLOSE, the transport code, a DF (DF01, with a DF name) and a transparent
 * EF (EF01, 32 bytes) in it; the image is kept as a snapshot that every
 * input starts from.
 *
 * Input format (any byte string is valid):
 *
 *   byte 0    how the stream is cut into reads: the input after byte 0 is
 *             fed in chunks of 1 + (byte 0 * k) % 37 bytes (k the chunk's
 *             number), as recv() could hand it over
 *   then      the bytes vpcd would send: 2-byte big-endian length, payload;
 *             1-byte payloads are controls (00, 01, 02, 04), others APDUs
 *
 * The harness aborts when:
 *   - an answer is not one well-formed frame (2-byte length matching the
 *     bytes that follow), or is longer than VPCD_FRAME_MAX;
 *   - a message that must be answered (04, or any message of 2 bytes or
 *     more) is not, or one that must not (00, 01, 02, unknown controls,
 *     empty messages) is;
 *   - an answer's payload is 1 byte (an ATR has 2 or more, or none; a
 *     response APDU at least a status word);
 *   - bytes are left over that make a whole frame (consume stopped early),
 *     or the number of messages handled differs from a plain re-parse;
 *   - a report line is not NUL-terminated within its buffer.
 * After the stream, the card is powered down and the image must pass
 * cos_check() at its next power up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cos/cos.h"
#include "hal/hal_host.h"
#include "reader/reader_int.h"

#define NVM_SIZE 32768u

static hal_mem_t *mem;
static uint8_t *pristine;
static vpcd_engine_t engine;
static uint8_t inbuf[VPCD_FRAME_MAX];
static uint8_t outbuf[VPCD_FRAME_MAX];

/* What the harness expects of the next answer: set before each message. */
static size_t answers;

static void die(const char *why)
{
	fprintf(stderr, "fuzz_vpcd: %s\n", why);
	abort();
}

static void on_report(void *arg, reader_vpcd_event_t ev, const char *line)
{
	(void)arg;
	(void)ev;
	if (memchr(line, '\0', READER_DETAIL_MAX + 128) == NULL)
		die("report line not terminated");
}

static int on_send(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	if (n < VPCD_HDR || n > VPCD_FRAME_MAX)
		die("answer of impossible size");
	if (((size_t)p[0] << 8 | p[1]) != n - VPCD_HDR)
		die("answer's length prefix does not match its size");
	if (n - VPCD_HDR == 1)
		die("a 1-byte answer");
	answers++;
	return 0;
}

/* One APDU to the chip during setup; abort unless it answers sw. */
static void setup_apdu(reader_t *r, const char *hex, uint16_t sw)
{
	uint8_t c[300], resp[COS_RAPDU_MAX];
	size_t n = 0, rlen;
	unsigned v;

	while (hex[0] && hex[1]) {
		if (hex[0] == ' ') {
			hex++;
			continue;
		}
		if (sscanf(hex, "%2x", &v) != 1)
			die("setup: bad hex");
		c[n++] = (uint8_t)v;
		hex += 2;
	}
	if (reader_transmit(r, c, n, resp, sizeof resp, &rlen) != READER_OK)
		die("setup: transmit failed");
	if (((uint16_t)resp[rlen - 2] << 8 | resp[rlen - 1]) != sw)
		die("setup: unexpected status word");
}

static void init_once(void)
{
	const hal_t *hal;
	reader_t *r;

	if (hal_mem_new(NVM_SIZE, 0xCA4DFAB, &mem) != HAL_HOST_OK)
		die("hal_mem_new");
	hal = hal_mem_hal(mem);
	if (cos_format(hal, cos_model_find("cf32")) != COS_OK)
		die("cos_format");
	if (reader_vcard_open_hal(hal, "fuzz", READER_PROTO_ANY, &r, NULL, 0) !=
	    READER_OK)
		die("open");
	/* FAB CLOSE: serial, transport code 3132333435363738, 3 tries */
	setup_apdu(r,
		   "80 34 00 00 1F 80 08 00 11 22 33 44 55 66 77 81 08 31 32 "
		   "33 34 35 36 37 38 82 01 03 83 02 51 23 84 02 00 01",
		   0x9000);
	setup_apdu(r, "00 20 00 1F 08 31 32 33 34 35 36 37 38", 0x9000);
	setup_apdu(r,
		   "00 E0 00 00 13 62 11 82 01 38 83 02 DF 01 84 08 F0 43 41 "
		   "52 44 46 41 42",
		   0x9000);
	setup_apdu(r,
		   "00 E0 00 00 10 62 0E 82 01 01 83 02 EF 01 80 02 00 20 88 "
		   "01 08",
		   0x9000);
	reader_close(r, NULL, 0);
	pristine = malloc(NVM_SIZE);
	if (pristine == NULL)
		die("malloc");
	memcpy(pristine, hal_mem_image(mem), NVM_SIZE);
}

/* Messages a plain re-parse of the stream finds, and how many need an
 * answer. */
static void expect(const uint8_t *s, size_t n, size_t *msgs, size_t *want)
{
	size_t off = 0, len;

	*msgs = 0;
	*want = 0;
	while (vpcd_frame(s + off, n - off, &len)) {
		(*msgs)++;
		if (len >= 2 || (len == 1 && s[off + VPCD_HDR] == 0x04))
			(*want)++;
		off += VPCD_HDR + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static reader_vpcd_opts_t opts;
	static reader_vpcd_stats_t stats;
	const cos_chip_t *chip;
	const char *why;
	reader_t *r;
	size_t pos, have = 0, chunk, k, msgs, want;
	uint8_t cut;

	if (mem == NULL)
		init_once();
	if (size == 0)
		return 0;
	memcpy(hal_mem_image(mem), pristine, NVM_SIZE);
	if (reader_vcard_open_hal(hal_mem_hal(mem), "fuzz", READER_PROTO_ANY,
				  &r, NULL, 0) != READER_OK)
		die("open");
	reader_power_down(r); /* as vicc starts: card in, unpowered */

	memset(&opts, 0, sizeof opts);
	opts.report = on_report;
	opts.trace = 1;
	memset(&stats, 0, sizeof stats);
	memset(&engine, 0, sizeof engine);
	engine.card = r;
	engine.opts = &opts;
	engine.stats = &stats;
	answers = 0;

	cut = data[0];
	data++;
	size--;
	expect(data, size, &msgs, &want);
	for (pos = 0, k = 1; pos < size; k++) {
		chunk = 1 + ((size_t)cut * k) % 37;
		if (chunk > size - pos)
			chunk = size - pos;
		if (chunk > sizeof inbuf - have) /* as recv() is given */
			chunk = sizeof inbuf - have;
		memcpy(inbuf + have, data + pos, chunk);
		have += chunk;
		pos += chunk;
		if (vpcd_consume(&engine, inbuf, &have, outbuf, on_send,
				 NULL) != VPCD_CONSUMED)
			die("consume did not consume");
		{
			size_t mlen;

			if (vpcd_frame(inbuf, have, &mlen))
				die("a whole frame was left unhandled");
		}
	}
	if (engine.msg_no != msgs)
		die("messages handled differ from a plain parse");
	if (answers != want)
		die("answers differ from the messages that need one");

	/* The image must be consistent after whatever the stream did. */
	reader_power_up(r);
	chip = reader_cos_chip(r);
	if (chip == NULL)
		die("power up after the stream failed");
	if (cos_check(chip, &why) != COS_OK) {
		fprintf(stderr, "fuzz_vpcd: cos_check: %s\n", why);
		abort();
	}
	reader_close(r, NULL, 0);
	return 0;
}
