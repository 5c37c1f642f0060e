/*
 * test_reader.c - the reader layer (src/reader) without pcscd: card
 * specifications, the virtual chip backend and its errors (no image, not a
 * chip, locked), reader_apdu's T=0 chores (61xx GET RESPONSE chains, 6Cxx
 * with the right Le, every APDU case) against a scripted backend, and the
 * vpcd engine (framing, controls, APDUs, malformed messages) on a chip in
 * RAM. The PC/SC backend and the socket are tested for real by
 * tests/integration/test_pcsc.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cos/cos.h"
#include "hal/hal_host.h"
#include "reader/reader_int.h"

/* ---------------------------------------------------------------- helpers */

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* A cf32 chip in RAM, formatted (MANUFACTURING). */
static hal_mem_t *new_chip(void)
{
	hal_mem_t *m = NULL;

	assert_int_equal(hal_mem_new(32768, 7, &m), HAL_HOST_OK);
	assert_int_equal(cos_format(hal_mem_hal(m), cos_model_find("cf32")),
			 COS_OK);
	return m;
}

static uint16_t sw_of(const uint8_t *r, size_t n)
{
	return (uint16_t)(r[n - 2] << 8 | r[n - 1]);
}

/* ---------------------------------------------------------------- specs */

static void test_spec_errors(void **state)
{
	reader_t *r = (reader_t *)1;
	char err[READER_DETAIL_MAX];

	(void)state;
	assert_int_equal(
		reader_open("vcard:", READER_PROTO_ANY, &r, err, sizeof err),
		READER_ERR_PARAM);
	assert_null(r);
	assert_non_null(strstr(err, "empty chip image path"));
	assert_int_equal(reader_open("x.img", 7, &r, err, sizeof err),
			 READER_ERR_PARAM);
	assert_int_equal(reader_open("vcard:nothere.img", READER_PROTO_ANY, &r,
				     err, sizeof err),
			 READER_ERR_NO_IMAGE);
	assert_string_equal(err, "nothere.img: no such chip image");
	assert_int_equal(
		reader_open("nothere.img", READER_PROTO_ANY, &r, NULL, 0),
		READER_ERR_NO_IMAGE);
	assert_string_equal(reader_strerror(READER_ERR_NO_SERVICE),
			    "pcscd is not running");
	assert_int_equal(reader_close(NULL, err, sizeof err), READER_OK);
}

static void test_not_a_chip(void **state)
{
	reader_t *r = NULL;
	char err[READER_DETAIL_MAX];
	FILE *f;

	(void)state;
	f = fopen("junk.img", "w");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputc(0, f);
	fclose(f);
	assert_int_equal(
		reader_open("junk.img", READER_PROTO_ANY, &r, err, sizeof err),
		READER_ERR_NOT_CHIP);
	assert_non_null(strstr(err, "junk.img: not a chip image (100 bytes"));
	unlink("junk.img");
}

static void test_vcard_file_and_lock(void **state)
{
	reader_t *r = NULL, *r2 = NULL;
	hal_file_t *f = NULL;
	uint8_t c[16], resp[COS_RAPDU_MAX], small[4];
	char err[READER_DETAIL_MAX], want[64];
	size_t n, rlen;

	(void)state;
	unlink("t.img");
	assert_int_equal(hal_file_create("t.img", 32768, 0), HAL_HOST_OK);
	assert_int_equal(hal_file_open("t.img", &f), HAL_HOST_OK);
	assert_int_equal(cos_format(hal_file_hal(f), cos_model_find("cf32")),
			 COS_OK);
	assert_int_equal(hal_file_close(f), HAL_HOST_OK);

	assert_int_equal(reader_open("vcard:t.img", READER_PROTO_ANY, &r, err,
				     sizeof err),
			 READER_OK);
	assert_int_equal(reader_kind(r), READER_KIND_VCARD);
	assert_string_equal(reader_name(r), "vcard:t.img");
	assert_string_equal(reader_target(r), "t.img");
	assert_string_equal(reader_chip_family(r), "card OS");
	assert_non_null(reader_cos_chip(r));
	assert_int_equal(reader_protocol(r), READER_PROTO_T1);
	reader_atr(r, &n);
	assert_true(n > 2);

	/* The image is locked: a second open names this process. */
	assert_int_equal(
		reader_open("t.img", READER_PROTO_ANY, &r2, err, sizeof err),
		READER_ERR_LOCKED);
	snprintf(want, sizeof want, "held by pid %ld", (long)getpid());
	assert_non_null(strstr(err, "in use by another process"));
	assert_non_null(strstr(err, want));

	/* APDUs, and a buffer too small for the answer. */
	n = unhex("00 A4 00 0C 02 3F 00", c);
	assert_int_equal(reader_transmit(r, c, n, resp, sizeof resp, &rlen),
			 READER_OK);
	assert_int_equal(sw_of(resp, rlen), 0x9000);
	n = unhex("00 CA 9F 7F 00", c);
	assert_int_equal(reader_transmit(r, c, n, small, sizeof small, &rlen),
			 READER_ERR_BUFFER);
	assert_int_equal(rlen, 0);
	assert_non_null(strstr(reader_error_detail(r), "larger than"));

	/* Powered down: no APDU, no chip to introspect. */
	assert_int_equal(reader_power_down(r), READER_OK);
	assert_false(reader_powered(r));
	assert_null(reader_cos_chip(r));
	assert_int_equal(reader_transmit(r, c, n, resp, sizeof resp, &rlen),
			 READER_ERR_NOT_POWERED);
	assert_int_equal(reader_reset(r), READER_OK); /* powers up */
	assert_true(reader_powered(r));
	assert_int_equal(reader_set_protocol(r, READER_PROTO_T0), READER_OK);
	assert_int_equal(reader_protocol(r), READER_PROTO_T0);
	assert_int_equal(reader_close(r, err, sizeof err), READER_OK);
	unlink("t.img");
}

/* ---------------------------------------------------------------- apdu */

static void test_apdu_get_response_t0(void **state)
{
	hal_mem_t *m = new_chip();
	reader_t *r = NULL;
	uint8_t c[16], resp[READER_RAPDU_MAX];
	size_t n, rlen;

	(void)state;
	assert_int_equal(reader_vcard_open_hal(hal_mem_hal(m), "mem",
					       READER_PROTO_T0, &r, NULL, 0),
			 READER_OK);
	assert_int_equal(reader_protocol(r), READER_PROTO_T0);
	/* Case 4 in T=0: the card answers 61xx; reader_apdu fetches it. */
	n = unhex("00 A4 00 04 02 3F 00 00", c);
	assert_int_equal(reader_transmit(r, c, n, resp, sizeof resp, &rlen),
			 READER_OK);
	assert_int_equal(rlen, 2);
	assert_int_equal(resp[0], 0x61);
	assert_int_equal(reader_apdu(r, c, n, resp, sizeof resp, &rlen),
			 READER_OK);
	assert_true(rlen > 4);
	assert_int_equal(resp[0], 0x62); /* FCP */
	assert_int_equal(sw_of(resp, rlen), 0x9000);
	/* CPLC: 45 bytes of data, in one answer after GET RESPONSE */
	n = unhex("00 CA 9F 7F 00", c);
	assert_int_equal(reader_apdu(r, c, n, resp, sizeof resp, &rlen),
			 READER_OK);
	assert_int_equal(rlen, 45 + 2);
	assert_int_equal(sw_of(resp, rlen), 0x9000);
	reader_close(r, NULL, 0);
	hal_mem_free(m);
}

/* A scripted backend: answers from a list, records what it was sent. */
typedef struct {
	const char *answers[8];
	size_t next;
	uint8_t sent[8][300];
	size_t sent_len[8];
} script_t;

static script_t script;

static reader_status_t fake_ok(reader_t *r)
{
	r->powered = 1;
	return READER_OK;
}

static reader_status_t fake_proto(reader_t *r, int p)
{
	r->proto = p;
	return READER_OK;
}

static reader_status_t fake_transmit(reader_t *r, const uint8_t *c, size_t n,
				     uint8_t *resp, size_t cap, size_t *rlen)
{
	(void)r;
	assert_true(script.next < 8 && script.answers[script.next] != NULL);
	memcpy(script.sent[script.next], c, n);
	script.sent_len[script.next] = n;
	*rlen = unhex(script.answers[script.next++], resp);
	assert_true(*rlen <= cap);
	return READER_OK;
}

static reader_status_t fake_close(reader_t *r, char *err, size_t cap)
{
	(void)r;
	(void)err;
	(void)cap;
	return READER_OK;
}

static const reader_ops_t fake_ops = {
	READER_KIND_PCSC, fake_ok,	 fake_ok,    fake_ok,
	fake_proto,	  fake_transmit, fake_close,
};

/* Send cmd through reader_apdu with the scripted answers; check what was
 * resent after 6Cxx (second command) and the final response. */
static void check_6c(const char *cmd, const char *resent)
{
	reader_t *r = reader_new(&fake_ops, "pcsc:", "fake");
	uint8_t c[300], want[300], resp[300];
	size_t n, wn, rlen;

	memset(&script, 0, sizeof script);
	script.answers[0] = "6C 04";
	script.answers[1] = "01 02 03 04 90 00";
	r->powered = 1;
	n = unhex(cmd, c);
	assert_int_equal(reader_apdu(r, c, n, resp, sizeof resp, &rlen),
			 READER_OK);
	assert_int_equal(rlen, 6);
	assert_int_equal(resp[3], 0x04);
	wn = unhex(resent, want);
	assert_int_equal(script.sent_len[1], wn);
	assert_memory_equal(script.sent[1], want, wn);
	reader_free(r);
}

static void test_apdu_6c_every_case(void **state)
{
	(void)state;
	check_6c("00 B0 00 00", "00 B0 00 00 04");    /* case 1 */
	check_6c("00 B0 00 00 10", "00 B0 00 00 04"); /* case 2 */
	check_6c("00 88 00 00 02 AA BB", "00 88 00 00 02 AA BB 04"); /* 3 */
	check_6c("00 88 00 00 02 AA BB 00", "00 88 00 00 02 AA BB 04");
	check_6c("00 B0 00 00 00 01 00", "00 B0 00 00 00 00 04"); /* 2E */
	check_6c("00 88 00 00 00 00 02 AA BB",
		 "00 88 00 00 00 00 02 AA BB 00 04"); /* 3E */
	check_6c("00 88 00 00 00 00 02 AA BB 01 00",
		 "00 88 00 00 00 00 02 AA BB 00 04"); /* 4E */
}

static void test_apdu_61_chain(void **state)
{
	reader_t *r = reader_new(&fake_ops, "pcsc:", "fake");
	uint8_t c[8], resp[300], small[6];
	size_t n, rlen;

	(void)state;
	memset(&script, 0, sizeof script);
	script.answers[0] = "AA 61 02";
	script.answers[1] = "BB CC 61 00";
	script.answers[2] = "6C 01";
	script.answers[3] = "DD 90 00";
	r->powered = 1;
	n = unhex("81 CA 00 00 00", c); /* class 81: channel 1 */
	assert_int_equal(reader_apdu(r, c, n, resp, sizeof resp, &rlen),
			 READER_OK);
	assert_int_equal(rlen, 6);
	assert_memory_equal(resp, "\xAA\xBB\xCC\xDD\x90\x00", 6);
	/* GET RESPONSE on the command's channel, Le from 61xx, then 6Cxx */
	assert_memory_equal(script.sent[1], "\x01\xC0\x00\x00\x02", 5);
	assert_memory_equal(script.sent[2], "\x01\xC0\x00\x00\x00", 5);
	assert_memory_equal(script.sent[3], "\x01\xC0\x00\x00\x01", 5);

	/* The whole answer must fit the caller's buffer. */
	memset(&script, 0, sizeof script);
	script.answers[0] = "01 02 03 61 04";
	script.answers[1] = "04 05 06 07 90 00";
	assert_int_equal(reader_apdu(r, c, n, small, sizeof small, &rlen),
			 READER_ERR_BUFFER);
	assert_int_equal(rlen, 0);
	reader_free(r);
}

/* ---------------------------------------------------------------- vpcd */

static int bad_reports, sends;

static int count_sends(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	sends++;
	return 0;
}

static void count_report(void *arg, reader_vpcd_event_t ev, const char *line)
{
	(void)arg;
	(void)line;
	if (ev == READER_VPCD_BAD_INPUT)
		bad_reports++;
}

static void test_vpcd_engine(void **state)
{
	hal_mem_t *m = new_chip();
	reader_t *r = NULL;
	static vpcd_engine_t e;
	static uint8_t out[VPCD_FRAME_MAX], in[VPCD_FRAME_MAX];
	reader_vpcd_opts_t o;
	reader_vpcd_stats_t st;
	const uint8_t *atr;
	size_t atr_len, out_len, mlen, have;
	uint8_t ctl;

	(void)state;
	assert_int_equal(reader_vcard_open_hal(hal_mem_hal(m), "mem",
					       READER_PROTO_ANY, &r, NULL, 0),
			 READER_OK);
	atr = reader_atr(r, &atr_len);
	reader_power_down(r);
	memset(&o, 0, sizeof o);
	memset(&st, 0, sizeof st);
	o.report = count_report;
	memset(&e, 0, sizeof e);
	e.card = r;
	e.opts = &o;
	e.stats = &st;
	bad_reports = 0;

	/* framing */
	assert_int_equal(vpcd_frame((const uint8_t *)"\x00", 1, &mlen), 0);
	assert_int_equal(vpcd_frame((const uint8_t *)"\x00\x02\x01", 3, &mlen),
			 0);
	assert_int_equal(vpcd_frame((const uint8_t *)"\x00\x01\x04", 3, &mlen),
			 1);
	assert_int_equal(mlen, 1);

	/* ATR while unpowered: the last one */
	ctl = VPCD_CTRL_ATR;
	vpcd_handle(&e, &ctl, 1, out, &out_len);
	assert_int_equal(out_len, 2 + atr_len);
	assert_int_equal(out[1], atr_len);
	assert_memory_equal(out + 2, atr, atr_len);
	/* an APDU while unpowered: reported, 6F00 */
	vpcd_handle(&e, (const uint8_t *)"\x00\xA4\x00\x0C", 4, out, &out_len);
	assert_int_equal(out_len, 4);
	assert_memory_equal(out, "\x00\x02\x6F\x00", 4);
	assert_int_equal(bad_reports, 1);
	/* power on, then APDUs */
	ctl = VPCD_CTRL_ON;
	vpcd_handle(&e, &ctl, 1, out, &out_len);
	assert_int_equal(out_len, 0);
	assert_true(reader_powered(r));
	vpcd_handle(&e, (const uint8_t *)"\x00\xA4\x00\x0C\x02\x3F\x00", 7, out,
		    &out_len);
	assert_memory_equal(out, "\x00\x02\x90\x00", 4);
	/* unknown control, empty message: reported, no answer */
	ctl = 0x07;
	vpcd_handle(&e, &ctl, 1, out, &out_len);
	assert_int_equal(out_len, 0);
	vpcd_handle(&e, NULL, 0, out, &out_len);
	assert_int_equal(out_len, 0);
	assert_int_equal(bad_reports, 3);
	/* reset keeps it powered; power off */
	ctl = VPCD_CTRL_RESET;
	vpcd_handle(&e, &ctl, 1, out, &out_len);
	assert_true(reader_powered(r));
	ctl = VPCD_CTRL_OFF;
	vpcd_handle(&e, &ctl, 1, out, &out_len);
	assert_false(reader_powered(r));
	assert_int_equal(st.apdus, 1);
	assert_int_equal(st.power_ups, 2);
	assert_int_equal(st.bad_messages, 3);

	/* consume: two frames and half a third in one read */
	memcpy(in,
	       "\x00\x01\x01"
	       "\x00\x05\x00\xCA\x9F\x7F\x00"
	       "\x00\x07\x00",
	       13);
	have = 13;
	sends = 0;
	assert_int_equal(vpcd_consume(&e, in, &have, out, count_sends, NULL),
			 VPCD_CONSUMED);
	assert_int_equal(sends, 1); /* power on: none; GET DATA: one */
	assert_int_equal(have, 3);
	assert_memory_equal(in, "\x00\x07\x00", 3);
	reader_close(r, NULL, 0);
	hal_mem_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_not_a_chip),
		cmocka_unit_test(test_vcard_file_and_lock),
		cmocka_unit_test(test_apdu_get_response_t0),
		cmocka_unit_test(test_apdu_6c_every_case),
		cmocka_unit_test(test_apdu_61_chain),
		cmocka_unit_test(test_vpcd_engine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
