/*
 * test_cos_apdu.c - APDU transport of the card OS, against docs/card-os.md
 * ("Classes", "Commands: Lengths", "Answer to reset: T=0") and ISO/IEC
 * 7816-4 clause 5 (command-response pairs, cases 1 to 4, short and extended
 * length) and 5.3.4 (GET RESPONSE).
 *
 * The chip is brought to INITIALIZATION (every command allowed, no access
 * condition enforced) with a small file structure, so that what is tested is
 * the APDU layer, not the security.
 */
#include "cos_test_util.h"

/* EF 0101 (32 bytes) and DF 1000/EF 1001 from ct_build_small, and EF 0102:
 * 1,100 bytes, for extended lengths. */
static void build_apdu(tchip_t *t)
{
	ct_build_small(t);
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0102, 1100, 3, NULL));
	SELECT_MF(t);
}

static tchip_t *init_chip(void)
{
	tchip_t *t = tc_new("cf32", 7);
	tc_to_state(t, COS_LC_INITIALIZATION, build_apdu);
	SELECT_MF(t);
	return t;
}

/* ---------------------------------------------------------------- cases */

static void test_case1(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	/* SELECT with P1 00 and no data selects the MF (data sheet). */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C");
	EXPECT_RLEN(t, 0);
	/* TERMINATE CARD USAGE is another case 1 command; not sent here. */
}

static void test_case2_short(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	EXPECT_SW(t, 0x9000, "00 A4 02 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 08 0102030405060708");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 08");
	EXPECT_DATA(t, "0102030405060708");
	EXPECT_SW(t, 0x9000, "00 B0 00 02 03");
	EXPECT_DATA(t, "030405");
	/* GET DATA is a case 2 command too; with CLA 80 as well. */
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
	CHECKF(t->rlen == 45 && t->resp[0] == 0x9F && t->resp[1] == 0x7F &&
		       t->resp[2] == 0x2A,
	       "CPLC is 9F7F 2A and 42 bytes, got %zu bytes", t->rlen);
	EXPECT_SW(t, 0x9000, "80 CA 9F 7F 00");
	EXPECT_RLEN(t, 45);
}

static void test_case3_short(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_RLEN(t, 0);
	EXPECT_SW(t, 0x9000, "00 D6 00 10 04 A1A2A3A4");
	EXPECT_RLEN(t, 0);
	EXPECT_SW(t, 0x9000, "00 B0 00 10 04");
	EXPECT_DATA(t, "A1A2A3A4");
}

static void test_case4_short(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	EXPECT_SW(t, 0x9000, "00 A4 00 04 02 0101 00");
	size_t l;
	const uint8_t *fcp = ct_tlv_find(t->resp, t->rlen, 0x62, &l);
	CHECKF(fcp != NULL, "FCP template 62 in the response");
	if (fcp) {
		const uint8_t *fid = ct_tlv_find(fcp, l, 0x83, &l);
		CHECK(fid && l == 2 && fid[0] == 0x01 && fid[1] == 0x01);
	}
}

/* --------------------------------------------------------- extended */

static void test_case2_extended(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	static uint8_t data[1024];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	/* Extended Lc 0400 (1,024 bytes, the limit): case 3E. */
	EXPECT_SW(t, 0x9000, "00 D6 00 00 00 04 00 %s", H(data, 1024));
	/* Case 2E: 00 then a 2-byte Le. */
	EXPECT_SW(t, 0x9000, "00 B0 00 00 00 04 00");
	EXPECT_DATA_B(t, data, 1024);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 00 01 00");
	EXPECT_DATA_B(t, data, 256);
	EXPECT_SW(t, 0x9000, "00 B0 01 00 00 01 01");
	EXPECT_DATA_B(t, data + 256, 257);
	/* 1,100 - 1,024 = 76 bytes are left: shorter data and 6282. */
	EXPECT_SW(t, 0x6282, "00 B0 04 00 00 01 00");
	EXPECT_RLEN(t, 76);
}

static void test_case3_extended(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 00 00 02 0101");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 00 00 04 11223344");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "11223344");
}

static void test_case4_extended(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	/* Case 4E: 00, Lc on 2 bytes, data, Le on 2 bytes. */
	EXPECT_SW(t, 0x9000, "00 A4 00 04 00 00 02 0101 00 00");
	size_t l;
	const uint8_t *fcp = ct_tlv_find(t->resp, t->rlen, 0x62, &l);
	CHECKF(fcp != NULL, "FCP template 62 in the extended response");
}

static void test_lc_limit(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	static uint8_t data[1025];
	memset(data, 0x5A, sizeof data);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	/* Nc is limited to 1,024: a longer Lc answers 6700 (data sheet). */
	EXPECT_SW(t, 0x6700, "00 D6 00 00 00 04 01 %s", H(data, 1025));
	/* And nothing was written. */
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	CHECKF(t->rlen == 4 && memcmp(t->resp, data, 4) != 0,
	       "a refused UPDATE BINARY wrote nothing");
}

/* ---------------------------------------------------------- malformed */

static void test_malformed_lengths(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	static const char *const bad[] = {
		"00",                        /* shorter than a header */
		"00 A4",
		"00 A4 00",
		"00 A4 00 0C 05 3F00",       /* Lc 5, 2 bytes of data */
		"00 A4 00 0C 02 3F00 00 00", /* 2 bytes after the data */
		"00 A4 00 0C FF 3F00 3F00 3F00",
		"00 B0 00 00 00 10",         /* 00 then one byte */
		"00 D6 00 00 00 00 03 0102", /* extended Lc 3, 2 bytes */
		"00 D6 00 00 00 00 00 0102", /* extended Lc 0 */
		"00 A4 00 04 00 00 02 3F00 00",       /* 4E with a 1-byte Le */
		"00 A4 00 04 00 00 02 3F00 00 00 00", /* 4E with 3 bytes after */
		"00 A4 00 04 02 3F00 00 00 00",       /* 4S with extended Le */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		EXPECT_SW(t, 0x6700, "%s", bad[i]);
	/* The chip still works. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 3F00");
}

/* ---------------------------------------------------------------- CLA */

static void test_cla(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	static const uint8_t channel[] = {0x01, 0x02, 0x03, 0x81, 0x82, 0x83};
	for (size_t i = 0; i < sizeof channel; i++)
		EXPECT_SW(t, 0x6881, "%02X A4 00 0C 02 3F00", channel[i]);
	/* ISO secure messaging. */
	EXPECT_SW(t, 0x6882, "0C A4 00 0C 02 3F00");
	/* Command chaining (b5). */
	EXPECT_SW(t, 0x6884, "10 A4 00 0C 02 3F00");
	EXPECT_SW(t, 0x6884, "90 CA 9F 7F 00");
	/* Anything else. */
	static const uint8_t other[] = {0x20, 0x30, 0xA0, 0xC0, 0xE0, 0xFF};
	for (size_t i = 0; i < sizeof other; i++)
		EXPECT_SW(t, 0x6E00, "%02X A4 00 0C 02 3F00", other[i]);
	/* The class is checked before the instruction. */
	EXPECT_SW(t, 0x6881, "01 02 00 00");
	EXPECT_SW(t, 0x6E00, "FF 02 00 00");
	/* CLA 04 / 84 claim an SCP03 C-MAC; with no session open they must
	 * not run the command (the data sheet names no SW for this case). */
	EXPECT_NOT_SW(t, 0x9000, "04 D6 00 00 0C 01020304 0102030405060708");
	EXPECT_NOT_SW(t, 0x9000, "84 CA 9F 7F 00");
	/* 00 and 80 run. */
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
	EXPECT_SW(t, 0x9000, "80 CA 9F 7F 00");
}

/* ---------------------------------------------------------------- INS */

static void test_unknown_ins(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	static const char *const cmds[] = {
		"00 02 00 00", "00 FC 00 00", "80 02 00 00", "00 B1 00 00 00",
		"00 66 00 00", "00 C2 00 00",
		/* Test commands, outside MANUFACTURING. */
		"80 30 00 00 04", "80 32 00 00 10",
		"80 34 00 00 0A 80 08 0102030405060708",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		EXPECT_SW(t, 0x6D00, "%s", cmds[i]);
}

/* ------------------------------------------------ GET RESPONSE (T=1) */

static void test_get_response_t1(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	uint8_t full[64];

	/* Reference: the whole CPLC with Le 00. */
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
	REQUIRE(t->rlen == 45);
	memcpy(full, t->resp, 45);

	/* Le smaller than the response: what fits, then 61xx. */
	EXPECT_SW(t, 0x611D, "00 CA 9F 7F 10");
	EXPECT_DATA_B(t, full, 16);
	/* GET RESPONSE in two steps. */
	EXPECT_SW(t, 0x6115, "00 C0 00 00 08");
	EXPECT_DATA_B(t, full + 16, 8);
	EXPECT_SW(t, 0x9000, "00 C0 00 00 15");
	EXPECT_DATA_B(t, full + 24, 21);
	/* Nothing left. */
	EXPECT_SW(t, 0x6985, "00 C0 00 00 00");

	/* Le 00 in GET RESPONSE: all that is left (fewer than 256). */
	EXPECT_SW(t, 0x611D, "00 CA 9F 7F 10");
	EXPECT_SW(t, 0x9000, "00 C0 00 00 00");
	EXPECT_DATA_B(t, full + 16, 29);

	/* Le absent (case 3 SELECT asking for the FCP): 61xx, no data. */
	EXPECT_SW(t, 0x9000, "00 A4 00 04 02 0101 00");
	uint8_t fcp[256];
	size_t fl = t->rlen;
	memcpy(fcp, t->resp, fl);
	uint16_t sw = EXPECT_SW(t, (uint16_t)(0x6100 | fl),
				"00 A4 00 04 02 0101");
	EXPECT_RLEN(t, 0);
	if (sw == (0x6100 | fl)) {
		EXPECT_SW(t, 0x9000, "00 C0 00 00 %02X", (unsigned)fl);
		EXPECT_DATA_B(t, fcp, fl);
	}

	/* Any other command drops the pending data. */
	EXPECT_SW(t, 0x611D, "00 CA 9F 7F 10");
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 3F00");
	EXPECT_SW(t, 0x6985, "00 C0 00 00 1D");
	/* Even a failing one. */
	EXPECT_SW(t, 0x611D, "00 CA 9F 7F 10");
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 7777");
	EXPECT_SW(t, 0x6985, "00 C0 00 00 1D");

	/* GET RESPONSE with no pending data at all. */
	EXPECT_SW(t, 0x6985, "00 C0 00 00 10");
	/* P1-P2 other than 0000. */
	EXPECT_SW(t, 0x611D, "00 CA 9F 7F 10");
	EXPECT_SW(t, 0x6A86, "00 C0 01 00 1D");

	/* Le large enough: no 61xx in T=1. */
	EXPECT_SW(t, 0x9000, "00 A4 00 04 02 0101 FF");
	EXPECT_DATA_B(t, fcp, fl);
	/* Le shorter than the FCP: the first Le bytes, then 61xx. */
	EXPECT_SW(t, (uint16_t)(0x6100 | (fl - 4)), "00 A4 00 04 02 0101 04");
	EXPECT_DATA_B(t, fcp, 4);
	EXPECT_SW(t, 0x9000, "00 C0 00 00 %02X", (unsigned)(fl - 4));
	EXPECT_DATA_B(t, fcp + 4, fl - 4);
}

/* ------------------------------------------------ GET RESPONSE (T=0) */

static void test_get_response_t0(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	uint8_t fcp[256], cplc[64];

	EXPECT_SW(t, 0x9000, "00 A4 00 04 02 0101 00");
	size_t fl = t->rlen;
	memcpy(fcp, t->resp, fl);
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
	memcpy(cplc, t->resp, 45);
	EXPECT_SW(t, 0x9000, "00 A4 02 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 04 CAFEBABE");

	CHECK(cos_set_protocol(&t->chip, COS_PROTO_T0) == COS_OK);

	/* Case 4 in T=0: 61xx, the data comes with GET RESPONSE. */
	EXPECT_SW(t, (uint16_t)(0x6100 | fl), "00 A4 00 04 02 0101 00");
	EXPECT_RLEN(t, 0);
	EXPECT_SW(t, 0x9000, "00 C0 00 00 %02X", (unsigned)fl);
	EXPECT_DATA_B(t, fcp, fl);
	/* Without Le too. */
	EXPECT_SW(t, (uint16_t)(0x6100 | fl), "00 A4 00 04 02 0101");
	EXPECT_RLEN(t, 0);
	/* In pieces. */
	EXPECT_SW(t, (uint16_t)(0x6100 | (fl - 5)), "00 C0 00 00 05");
	EXPECT_DATA_B(t, fcp, 5);
	EXPECT_SW(t, 0x9000, "00 C0 00 00 %02X", (unsigned)(fl - 5));
	EXPECT_DATA_B(t, fcp + 5, fl - 5);

	/* Case 4 with no response data (P2 0C): plain 9000. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_RLEN(t, 0);

	/* Case 2 in T=0: data directly. */
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "CAFEBABE");
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 2D");
	EXPECT_DATA_B(t, cplc, 45);
	/* Case 2 with Le short of the object: what fits and 61xx. */
	EXPECT_SW(t, 0x611D, "00 CA 9F 7F 10");
	EXPECT_DATA_B(t, cplc, 16);
	EXPECT_SW(t, 0x9000, "00 C0 00 00 1D");
	EXPECT_DATA_B(t, cplc + 16, 29);

	/* A command in between drops the pending data. */
	EXPECT_SW(t, (uint16_t)(0x6100 | fl), "00 A4 00 04 02 0101 00");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_SW(t, 0x6985, "00 C0 00 00 %02X", (unsigned)fl);

	/* A reset goes back to T=1. */
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 04 02 0101 00");
	EXPECT_DATA_B(t, fcp, fl);

	/* And T=1 can be asked for explicitly. */
	CHECK(cos_set_protocol(&t->chip, COS_PROTO_T0) == COS_OK);
	CHECK(cos_set_protocol(&t->chip, COS_PROTO_T1) == COS_OK);
	EXPECT_SW(t, 0x9000, "00 A4 00 04 02 0101 00");
	EXPECT_DATA_B(t, fcp, fl);
	/* An unknown protocol is refused. */
	CHECK(cos_set_protocol(&t->chip, 2) != COS_OK);
}

/* ------------------------------------------------------- API contract */

static void test_transmit_contract(void **state)
{
	(void)state;
	tchip_t *t = init_chip();
	uint8_t r[COS_RAPDU_MAX];
	size_t rl = 0;
	static const uint8_t sel[] = {0x00, 0xA4, 0x00, 0x0C};

	/* Any byte string gets a status word: an empty one too. */
	CHECK(cos_transmit(&t->chip, sel, 0, r, sizeof r, &rl) == COS_OK);
	CHECKF(rl == 2, "an empty command gets a status word (%zu bytes)",
	       rl);
	/* A response buffer below COS_RAPDU_MAX is a parameter error. */
	CHECK(cos_transmit(&t->chip, sel, sizeof sel, r, 10, &rl) ==
	      COS_ERR_PARAM);
	/* A powered-off chip answers nothing. */
	cos_power_off(&t->chip);
	CHECK(cos_transmit(&t->chip, sel, sizeof sel, r, sizeof r, &rl) ==
	      COS_ERR_NOT_POWERED);
	tc_power_on(t);
	CHECK(cos_transmit(&t->chip, sel, sizeof sel, r, sizeof r, &rl) ==
	      COS_OK);
	CHECK(rl == 2 && r[0] == 0x90 && r[1] == 0x00);

	/* Random garbage never crashes it and always gets an SW. */
	uint32_t x = 12345;
	for (int i = 0; i < 3000; i++) {
		uint8_t c[40];
		size_t n = (size_t)(i % 40);
		for (size_t j = 0; j < n; j++) {
			x = x * 1103515245u + 12345u;
			c[j] = (uint8_t)(x >> 16);
		}
		/* Keep away from the class bytes that write (00/80/04/84
		 * with write INS would just change files, that is fine). */
		cos_status_t st = cos_transmit(&t->chip, c, n, r, sizeof r,
					       &rl);
		if (st != COS_OK || rl < 2) {
			CHECKF(0, "garbage APDU %d: st %d rl %zu", i, (int)st,
			       rl);
			break;
		}
	}
	CHECK_IMAGE(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_case1),
		CT_TEST(test_case2_short),
		CT_TEST(test_case3_short),
		CT_TEST(test_case4_short),
		CT_TEST(test_case2_extended),
		CT_TEST(test_case3_extended),
		CT_TEST(test_case4_extended),
		CT_TEST(test_lc_limit),
		CT_TEST(test_malformed_lengths),
		CT_TEST(test_cla),
		CT_TEST(test_unknown_ins),
		CT_TEST(test_get_response_t1),
		CT_TEST(test_get_response_t0),
		CT_TEST(test_transmit_contract),
	};
	int rc = cmocka_run_group_tests_name("cos_apdu", tests, NULL, NULL);
	ct_summary("test_cos_apdu");
	return rc;
}
