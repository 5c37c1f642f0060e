/*
 * test_cos_security.c - access conditions, PINs, keys and authentication of
 * the card OS, against docs/card-os.md ("Access conditions", "PINs, keys
 * and authentication") and ISO/IEC 7816-4 (compact security attributes
 * 5.4.3.1, VERIFY 7.5.6, CHANGE REFERENCE DATA 7.5.7, RESET RETRY COUNTER
 * 7.5.10, GET CHALLENGE 7.5.3, EXTERNAL / INTERNAL AUTHENTICATE 7.5.4/7.5.2).
 *
 * The card is built in INITIALIZATION (build_sec), then brought to
 * OPERATIONAL, where access conditions hold. PIN tearing: the power is cut
 * at every NVM write of a VERIFY; the try counter after power-up must never
 * be higher than before a wrong VERIFY (decrement before compare).
 */
#include "cos_test_util.h"

#define K4 "2B7E151628AED2A6ABF7158809CF4F3C"     /* AES, auth, 3 tries */
#define K5 "0123456789ABCDEFFEDCBA9876543210"     /* 3DES-2, auth, no limit */
#define K6 "00112233445566778899AABBCCDDEEFF"     /* AES, internal auth */
#define K7 "0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123" /* 3DES-3, int. */
#define K8 "89ABCDEF01234567FEDCBA9876543210F0E1D2C3B4A59687" /* 3DES-3, auth, 2 */

#define PIN1 "31323334"
#define PUK2 "3837363534333231"
#define PIN4 "34343434"
#define PIN5 "353535353535"
#define PIN6 "36363636"
#define PIN81_1000 "31313131"
#define PIN81_1100 "32323232"

/*
 * Global PINs: 01 (3 tries, 4 bytes, PUK 02), 02 (PUK: 5 tries, 8 bytes),
 * 03 (no value yet), 04, 05 (6 bytes, PUK 02), 06 (no PUK).
 * Keys: 04 AES auth 3 tries; 05 3DES-2 auth unlimited; 06 AES internal;
 * 07 3DES-3 internal; 08 3DES-3 auth 2 tries.
 * MF
 *   DF 1000 (no 8C)  PIN 81
 *     EF 1001 8C 03 11 00   update PIN 1, read always
 *     EF 1002 8C 03 00 FF   update always, read never
 *     EF 1003 8C 03 00 24   read key 4
 *     EF 1004 8C 03 00 40   read SM
 *     EF 1005 8C 03 00 B4   read PIN 4 AND key 4
 *     EF 1006 8C 03 00 34   read PIN 4 OR key 4
 *     EF 1007 8C 02 00      update always, read absent (never)
 *     EF 1008 8C 38 FF 00 11  terminate never, activate always,
 *                             deactivate PIN 1
 *     EF 1009 linear fixed 4 x 4, 8C 07 24 FF 00: append key 4, update
 *                             never, read always
 *     EF 100A 8C 03 00 D4   read SM AND PIN 4
 *     EF 100C 8C 40 FF      delete (self) never
 *     DF 1100           PIN 81
 *   DF 2000 8C 07 FF 11 00  create DF never, create EF PIN 1, delete
 *                            child always;  EF 2001
 *   DF 2100 8C 01 FF        delete child never;  EF 2101
 */
static void build_sec(tchip_t *t)
{
	unsigned long f0 = ct_failed;
	SELECT_MF(t);
	PUT_PIN(t, 0x9000, 0x01, 3, 4, PIN1, 0x02);
	PUT_PIN(t, 0x9000, 0x02, 5, 8, PUK2, 0);
	PUT_PIN(t, 0x9000, 0x03, 3, 4, NULL, 0);
	PUT_PIN(t, 0x9000, 0x04, 3, 4, PIN4, 0);
	PUT_PIN(t, 0x9000, 0x05, 3, 6, PIN5, 0x02);
	PUT_PIN(t, 0x9000, 0x06, 3, 4, PIN6, 0);
	PUT_KEY(t, 0x9000, 0x04, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH, K4, 3);
	PUT_KEY(t, 0x9000, 0x05, 0x01, COS_ALG_3DES, COS_KEY_USE_AUTH, K5, 0);
	PUT_KEY(t, 0x9000, 0x06, 0x01, COS_ALG_AES, COS_KEY_USE_CRYPTO, K6, -1);
	PUT_KEY(t, 0x9000, 0x07, 0x01, COS_ALG_3DES, COS_KEY_USE_CRYPTO, K7, -1);
	PUT_KEY(t, 0x9000, 0x08, 0x01, COS_ALG_3DES, COS_KEY_USE_AUTH, K8, 2);
	REQUIRE(ct_failed == f0);

	REQUIRE_CREATE(t, CT_DF(0x1000, "A0000000020001", NULL));
	PUT_PIN(t, 0x9000, 0x81, 3, 4, PIN81_1000, 0);
	static const struct {
		uint16_t fid;
		const char *ac;
	} efs[] = {
		{0x1001, "03 11 00"}, {0x1002, "03 00 FF"}, {0x1003, "03 00 24"},
		{0x1004, "03 00 40"}, {0x1005, "03 00 B4"}, {0x1006, "03 00 34"},
		{0x1007, "02 00"},    {0x1008, "38 FF 00 11"},
		{0x100A, "03 00 D4"}, {0x100C, "40 FF"},
	};
	for (size_t i = 0; i < sizeof efs / sizeof efs[0]; i++) {
		SELECT_PATH(t, 0x9000, "1000");
		REQUIRE_CREATE(t, CT_EF(efs[i].fid, 16, 0, efs[i].ac));
		/* ACs are not enforced in INITIALIZATION: fill it. */
		REQUIRE_SW(t, 0x9000, "00 D6 00 00 04 %04X%04X", efs[i].fid,
			   efs[i].fid);
	}
	SELECT_PATH(t, 0x9000, "1000");
	REQUIRE_CREATE(t, CT_REC(0x02, 0x1009, 4, 4, 0, "07 24 FF 00"));
	REQUIRE_SW(t, 0x9000, "00 E2 00 00 04 01010101");
	REQUIRE_SW(t, 0x9000, "00 E2 00 00 04 02020202");
	SELECT_PATH(t, 0x9000, "1000");
	REQUIRE_CREATE(t, CT_DF(0x1100, "A0000000020002", NULL));
	PUT_PIN(t, 0x9000, 0x81, 3, 4, PIN81_1100, 0);

	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x2000, "A0000000020003", "07 FF 11 00"));
	REQUIRE_CREATE(t, CT_EF(0x2001, 8, 0, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x2100, "A0000000020004", "01 FF"));
	REQUIRE_CREATE(t, CT_EF(0x2101, 8, 0, NULL));
	SELECT_MF(t);
	REQUIRE(ct_failed == f0);
}

static tchip_t *sec_chip(void)
{
	tchip_t *t = tc_new("cf32", 5);
	tc_to_state(t, COS_LC_OPERATIONAL, build_sec);
	return t;
}

/* ------------------------------------------------------------ crypto */

static void ecb(const char *keyhex, const uint8_t *in, size_t len,
		uint8_t *out)
{
	uint8_t k[32];
	size_t kl = ct_hex(keyhex, k, sizeof k);
	const char *name = kl == 16 && strcmp(keyhex, K5) != 0 ? "AES-128-ECB"
			   : kl == 16			      ? "DES-EDE-ECB"
							      : "DES-EDE3-ECB";
	ct_cipher(name, 1, k, NULL, in, len, out);
}

/* GET CHALLENGE n, then EXTERNAL AUTHENTICATE with E(key, first block). */
static uint16_t ext_auth(tchip_t *t, uint8_t ref, const char *keyhex,
			 size_t blk, int wrong)
{
	uint8_t chal[16], crypt[16];
	if (xferf(t, "00 84 00 00 %02X", (unsigned)(blk == 16 ? 16 : 8)) !=
	    0x9000) {
		CHECKF(0, "GET CHALLENGE: %04X", t->sw);
		return t->sw;
	}
	memcpy(chal, t->resp, blk);
	ecb(keyhex, chal, blk, crypt);
	if (wrong)
		crypt[0] ^= 1;
	return xferf(t, "00 82 00 %02X %02X %s", ref, (unsigned)blk,
		     H(crypt, blk));
}

/* ---------------------------------------------------- access conditions */

static void test_ac_always_never(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "10011001");
	SELECT_PATH(t, 0x9000, "1000 1002");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	EXPECT_RLEN(t, 0);
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 AAAA");
	EXPECT_SW(t, 0x9000, "00 0E 00 08");
	/* A bit absent from the access mode byte: never. */
	SELECT_PATH(t, 0x9000, "1000 1007");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 BBBB");
	EXPECT_SW(t, 0x6982, "00 04 00 00");
	EXPECT_SW(t, 0x6982, "00 E8 00 00");
	/* Through an SFI-less path from elsewhere: same answer. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 08 0C 04 1000 1002");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 01");
	/* Files without 8C: always. */
	SELECT_PATH(t, 0x9000, "2000 2001");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 CCCC");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	EXPECT_DATA(t, "CCCC");
	SELECT_PATH(t, 0x9000, "1000");
	CREATE(t, 0x9000, CT_EF(0x100D, 8, 0, NULL));
}

static void test_ac_pin(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x6982, "00 D6 00 00 02 ABCD");
	EXPECT_SW(t, 0x6982, "00 0E 00 00");
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 39393939");
	EXPECT_SW(t, 0x6982, "00 D6 00 00 02 ABCD");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 ABCD");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	EXPECT_DATA(t, "ABCD");
	/* A different PIN does not do. */
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SW(t, 0x6982, "00 D6 00 00 02 ABCD");
}

static void test_ac_key(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1003");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	/* PIN 4 is not key 4. */
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x9000);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "10031003");
	/* Another key does not do. */
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1003");
	CHECK(ext_auth(t, 0x05, K5, 8, 0) == 0x9000);
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
}

static void test_ac_sm(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1004");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "10041004");
	/* In the session, but this command without a C-MAC. */
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	/* The session ends with the power. */
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1004");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	/* Level 03 works as well. */
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC | CT_SCP_CDEC);
	EXPECT_SM(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "10041004");
}

static void test_ac_all_any(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	/* B4: PIN 4 AND key 4. */
	SELECT_PATH(t, 0x9000, "1000 1005");
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x9000);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "10051005");
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1005");
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x9000);
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");

	/* 34: PIN 4 OR key 4. */
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1006");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "10061006");
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1006");
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x9000);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");

	/* D4: SM AND PIN 4. */
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 100A");
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SW(t, 0x6982, "00 B0 00 00 04");
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 100A");
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x6982, "00 B0 00 00 04");
	EXPECT_SM(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SM(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "100A100A");
}

static void test_ac_df_ops(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	/* DF 2000: create EF needs PIN 1, create DF never, delete child
	 * always. */
	SELECT_PATH(t, 0x9000, "2000");
	CREATE(t, 0x6982, CT_EF(0x2002, 8, 0, NULL));
	CHECK(!ct_file(t, 0x2002, NULL));
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	SELECT_PATH(t, 0x9000, "2000");
	CREATE(t, 0x9000, CT_EF(0x2002, 8, 0, NULL));
	SELECT_PATH(t, 0x9000, "2000");
	CREATE(t, 0x6982, CT_DF(0x2010, "A0000000022010", NULL));
	CHECK(!ct_file(t, 0x2010, NULL));
	SELECT_PATH(t, 0x9000, "2000");
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 2001");
	CHECK(!ct_file(t, 0x2001, NULL));
	/* DF 2000's access mode has no b4..b6: its DEACTIVATE, ACTIVATE and
	 * TERMINATE DF are never allowed. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x6982, "00 04 00 00 02 2000");
	EXPECT_SW(t, 0x6982, "00 E6 00 00 02 2000");
	SELECT_PATH(t, 0x9000, "2000");
	EXPECT_SW(t, 0x6982, "00 04 00 00");
	EXPECT_SW(t, 0x6982, "00 E6 00 00");
	cos_file_info_t fi;
	CHECK(ct_file(t, 0x2000, &fi) && fi.lcs == 0x05);
	/* DF 2100: delete child never (by FID, and as the current file: two
	 * chips, so that one failure does not hide the other). */
	SELECT_PATH(t, 0x9000, "2100");
	EXPECT_SW(t, 0x6982, "00 E4 00 00 02 2101");
	CHECK(ct_file(t, 0x2101, NULL));
	tchip_t *t2 = sec_chip();
	SELECT_PATH(t2, 0x9000, "2100 2101");
	EXPECT_SW(t2, 0x6982, "00 E4 00 00");
	CHECK(ct_file(t2, 0x2101, NULL));
	/* DF 2100 itself: its delete (self) bit is absent: never. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x6982, "00 E4 00 00 02 2100");
	CHECK(ct_file(t, 0x2100, NULL));
	/* EF 100C: delete (self) never, in a DF that allows deleting. */
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x6982, "00 E4 00 00 02 100C");
	CHECK(ct_file(t, 0x100C, NULL));
}

static void test_ac_lcs_ops(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x6982, "00 04 00 00 02 1008");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	EXPECT_SW(t, 0x9000, "00 04 00 00 02 1008");
	EXPECT_SW(t, 0x6283, "00 A4 00 0C 02 1008");
	EXPECT_SW(t, 0x9000, "00 44 00 00");
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 1008");
	EXPECT_SW(t, 0x6982, "00 E8 00 00");
	cos_file_info_t fi;
	CHECK(ct_file(t, 0x1008, &fi) && fi.lcs == 0x05);
}

static void test_ac_records(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1009");
	EXPECT_SW(t, 0x9000, "00 B2 01 04 04");
	EXPECT_DATA(t, "01010101");
	EXPECT_SW(t, 0x9000, "00 A2 01 04 01 02 00");
	EXPECT_DATA(t, "02");
	EXPECT_SW(t, 0x6982, "00 DC 01 04 04 09090909");
	EXPECT_SW(t, 0x6982, "00 E2 00 00 04 03030303");
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x9000);
	EXPECT_SW(t, 0x9000, "00 E2 00 00 04 03030303");
	EXPECT_SW(t, 0x6982, "00 DC 01 04 04 09090909");
	EXPECT_SW(t, 0x9000, "00 B2 03 04 04");
	EXPECT_DATA(t, "03030303");
}

/* ---------------------------------------------------------- VERIFY */

static void test_verify(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	/* Status without data. */
	EXPECT_SW(t, 0x63C3, "00 20 00 01");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	EXPECT_SW(t, 0x9000, "00 20 00 01");
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	/* Wrong, then right: the counter is restored. */
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 31323335");
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 2);
	EXPECT_SW(t, 0x63C2, "00 20 00 01");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x63C1, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	/* Wrong length: 6700, no try lost. */
	EXPECT_SW(t, 0x6700, "00 20 00 01 03 313233");
	EXPECT_SW(t, 0x6700, "00 20 00 01 05 3132333435");
	EXPECT_SW(t, 0x6700, "00 20 00 05 04 35353535");
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	CHECK(ct_pin_tries(t, 5, 0x3F00) == 3);
	/* A PIN with no value yet. */
	EXPECT_SW(t, 0x6984, "00 20 00 03 04 31323334");
	CHECK(ct_pin_tries(t, 3, 0x3F00) == 3);
	/* Unknown reference; references outside 1..30; P1. */
	EXPECT_SW(t, 0x6A88, "00 20 00 09 04 31323334");
	EXPECT_SW(t, 0x6A88, "00 20 00 89 04 31323334");
	EXPECT_SW(t, 0x6A86, "00 20 00 00 04 31323334");
	EXPECT_SW(t, 0x6A86, "00 20 01 01 04 31323334");
	/* The transport code is gone after the fuse. */
	EXPECT_NOT_SW(t, 0x9000, "00 20 00 1F 08 " CT_TCODE);
	/* A specific PIN is found only from its DF. With the MF current, a
	 * "specific" reference names an object owned by the MF, which the data
	 * sheet also calls the owner of the global ones: PIN 1 (63C2) or
	 * nothing (6A88) are both readings of it. */
	EXPECT_SW2(t, 0x6A88, 0x63C2, "00 20 00 81 04 " PIN81_1000);
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x9000, "00 20 00 81 04 " PIN81_1000);
	SELECT_PATH(t, 0x9000, "1000 1100");
	EXPECT_SW(t, 0x63C2, "00 20 00 81 04 " PIN81_1000);
	EXPECT_SW(t, 0x9000, "00 20 00 81 04 " PIN81_1100);
}

static void test_verify_blocked(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x63C1, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x63C0, "00 20 00 01 04 00000000");
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 0);
	/* Blocked: the right value does not open it. */
	EXPECT_SW(t, 0x6983, "00 20 00 01 04 " PIN1);
	EXPECT_SW(t, 0x6983, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x6982, "00 D6 00 00 01 00");
	/* Without data on a blocked PIN: 6983 (data sheet, VERIFY). */
	EXPECT_SW(t, 0x6983, "00 20 00 01");
	tc_power_cycle(t);
	EXPECT_SW(t, 0x6983, "00 20 00 01 04 " PIN1);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 0);
	/* The others are untouched. */
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
}

/* -------------------------------------------- VERIFY under power cuts */

static int tries_by_apdu(tchip_t *t, uint8_t ref)
{
	uint16_t sw = xferf(t, "00 20 00 %02X", ref);
	if ((sw & 0xFFF0) == 0x63C0)
		return sw & 0x0F;
	if (sw == 0x6983) /* blocked: see test_verify_blocked */
		return 0;
	return -1;
}

/*
 * Runs VERIFY ref value with the power cut at each of its NVM writes (torn:
 * nothing, half, all of the write), then powers up and checks the image
 * and the try counter. `before` tries, max 3.
 */
static void verify_sweep(tchip_t *t, uint8_t ref, const char *value,
			 int right, unsigned *runs)
{
	uint32_t size = t->model->nvm_size;
	uint8_t *snap = ct_alloc(size);
	cos_power_off(&t->chip);
	memcpy(snap, hal_mem_image(t->mem), size);
	tc_power_on(t);
	int before = ct_pin_tries(t, ref, 0x3F00);

	/* Reference run: the writes of this VERIFY. */
	t->wlog.n = 0;
	t->wlog.on = 1;
	uint16_t sw = xferf(t, "00 20 00 %02X 04 %s", ref, value);
	t->wlog.on = 0;
	size_t w = t->wlog.n;
	uint32_t lens[512];
	REQUIRE(w < 512);
	memcpy(lens, t->wlog.len, w * sizeof lens[0]);
	CHECKF(right ? sw == 0x9000 : (sw & 0xFFF0) == 0x63C0,
	       "reference VERIFY: %04X", sw);
	/* The try counter is decremented in NVM before the compare: even a
	 * right value writes (decrement, then restore). */
	CHECKF(w > 0, "a %s VERIFY writes the NVM (%zu writes)",
	       right ? "right" : "wrong", w);

	for (size_t n = 1; n <= w; n++) {
		const uint32_t torn[3] = {0, lens[n - 1] / 2, lens[n - 1]};
		for (int k = 0; k < 3; k++) {
			cos_power_off(&t->chip);
			memcpy(hal_mem_image(t->mem), snap, size);
			tc_power_on(t);
			hal_mem_cut_at(t->mem, n, torn[k]);
			xferf(t, "00 20 00 %02X 04 %s", ref, value);
			CHECKF(t->st == COS_ERR_POWER,
			       "cut at write %zu/%zu: cos_transmit %s", n, w,
			       cos_strerror(t->st));
			hal_mem_cut_at(t->mem, 0, 0);
			hal_mem_power_restore(t->mem);
			cos_power_off(&t->chip);
			tc_power_on(t);
			CHECK_IMAGE(t);
			int after = ct_pin_tries(t, ref, 0x3F00);
			if (!right)
				CHECKF(after >= 0 && after <= before &&
					       after >= before - 1,
				       "wrong VERIFY cut at write %zu (torn %u):"
				       " tries %d -> %d",
				       n, torn[k], before, after);
			else
				CHECKF(after >= before - 1 && after <= 3,
				       "right VERIFY cut at write %zu (torn %u):"
				       " tries %d -> %d",
				       n, torn[k], before, after);
			int seen = tries_by_apdu(t, ref);
			CHECKF(seen == after,
			       "VERIFY without data says %d tries, walk %d",
			       seen, after);
			++*runs;
			if (ct_failed > 20)
				goto out;
		}
	}
out:
	cos_power_off(&t->chip);
	memcpy(hal_mem_image(t->mem), snap, size);
	tc_power_on(t);
	ct_release(snap);
}

static void test_verify_tearing(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	unsigned runs = 0;
	verify_sweep(t, 0x01, "39393939", 0, &runs);         /* 3 tries */
	verify_sweep(t, 0x01, PIN1, 1, &runs);
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 39393939");
	verify_sweep(t, 0x01, "39393939", 0, &runs);         /* 2 tries */
	verify_sweep(t, 0x01, PIN1, 1, &runs);
	EXPECT_SW(t, 0x63C1, "00 20 00 01 04 39393939");
	verify_sweep(t, 0x01, "39393939", 0, &runs);         /* last try */
	printf("    VERIFY tearing: %u power cuts\n", runs);
}

/*
 * Decrement before compare, seen from outside: a right VERIFY cut at each of
 * its writes in turn (the whole write programmed, then the power lost). The
 * first change of the try counter that survives a power cut must be the
 * decrement: a card that compares first never shows before - 1.
 */
static void test_verify_decrements_first(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	uint32_t size = t->model->nvm_size;
	uint8_t *snap = ct_alloc(size);
	for (int pre = 0; pre < 2; pre++) {
		/* pre 0: counter full; pre 1: after one wrong try. */
		if (pre)
			EXPECT_SW(t, 0x63C2, "00 20 00 01 04 39393939");
		cos_power_off(&t->chip);
		memcpy(snap, hal_mem_image(t->mem), size);
		tc_power_on(t);
		int before = ct_pin_tries(t, 1, 0x3F00);
		hal_mem_reset_counters(t->mem);
		EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
		uint64_t w = hal_mem_writes(t->mem);
		CHECKF(w > 0, "a right VERIFY writes (decrement, restore)");
		int first_change = -1;
		for (uint64_t n = 1; n <= w && first_change < 0; n++) {
			cos_power_off(&t->chip);
			memcpy(hal_mem_image(t->mem), snap, size);
			tc_power_on(t);
			hal_mem_cut_at(t->mem, n, UINT32_MAX);
			xfer(t, "00 20 00 01 04 " PIN1, NULL, NULL);
			hal_mem_cut_at(t->mem, 0, 0);
			hal_mem_power_restore(t->mem);
			cos_power_off(&t->chip);
			tc_power_on(t);
			int after = ct_pin_tries(t, 1, 0x3F00);
			if (after != before)
				first_change = after;
		}
		CHECKF(first_change == before - 1,
		       "right VERIFY from %d tries: first durable change of "
		       "the counter %d, expected %d (decrement first)",
		       before, first_change, before - 1);
		cos_power_off(&t->chip);
		memcpy(hal_mem_image(t->mem), snap, size);
		tc_power_on(t);
		EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	}
}

/* ------------------------------------------- CHANGE REFERENCE DATA */

static void test_change_reference_data(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	/* P1 00: old || new. */
	EXPECT_SW(t, 0x63C2, "00 24 00 05 0C 363636363636 373737373737");
	EXPECT_SW(t, 0x9000, "00 24 00 05 0C " PIN5 " 373737373737");
	CHECK(ct_pin_tries(t, 5, 0x3F00) == 3);
	EXPECT_SW(t, 0x63C2, "00 20 00 05 06 " PIN5);
	EXPECT_SW(t, 0x9000, "00 20 00 05 06 373737373737");
	/* Wrong length: 6700, no try lost. */
	EXPECT_SW(t, 0x6700, "00 24 00 05 0A 3737373737 3838383838");
	EXPECT_SW(t, 0x6700, "00 24 00 05 06 373737373737");
	CHECK(ct_pin_tries(t, 5, 0x3F00) == 3);
	/* P1 01: new only, the PIN verified in this session. */
	tc_power_cycle(t);
	EXPECT_SW(t, 0x6982, "00 24 01 06 04 39393939");
	EXPECT_SW(t, 0x9000, "00 20 00 06 04 " PIN6);
	EXPECT_SW(t, 0x9000, "00 24 01 06 04 39393939");
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 20 00 06 04 39393939");
	EXPECT_SW(t, 0x63C2, "00 20 00 06 04 " PIN6);
	/* Another PIN verified does not do. */
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 20 00 04 04 " PIN4);
	EXPECT_SW(t, 0x6982, "00 24 01 06 04 30303030");
	EXPECT_SW(t, 0x6700, "00 24 01 04 03 303030");
	/* P1 other than 00/01. */
	EXPECT_SW(t, 0x6A86, "00 24 02 06 04 30303030");
	/* Unknown. */
	EXPECT_SW(t, 0x6A88, "00 24 00 09 08 3132333431323334");
	/* Blocked. */
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x63C1, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x63C0, "00 20 00 01 04 00000000");
	EXPECT_SW(t, 0x6983, "00 24 00 01 08 " PIN1 " 30303030");
}

/* -------------------------------------------- RESET RETRY COUNTER */

static void block_pin1(tchip_t *t)
{
	for (int i = 0; i < 3; i++)
		xfer(t, "00 20 00 01 04 00000000", NULL, NULL);
	REQUIRE(ct_pin_tries(t, 1, 0x3F00) == 0);
}

static void test_reset_retry_counter(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	/* P1 01: PUK only. */
	block_pin1(t);
	EXPECT_SW(t, 0x9000, "00 2C 01 01 08 " PUK2);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	EXPECT_SW(t, 0x63C3, "00 20 00 01");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	/* P1 00: PUK || new PIN. */
	block_pin1(t);
	EXPECT_SW(t, 0x9000, "00 2C 00 01 0C " PUK2 " 39393939");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 39393939");
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 " PIN1);
	/* A wrong PUK costs a PUK try and resets nothing. */
	block_pin1(t);
	EXPECT_SW(t, 0x63C4, "00 2C 01 01 08 0000000000000000");
	CHECK(ct_pin_tries(t, 2, 0x3F00) == 4);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 0);
	EXPECT_SW(t, 0x6700, "00 2C 01 01 07 00000000000000");
	EXPECT_SW(t, 0x6700, "00 2C 00 01 0B " PUK2 " 393939");
	CHECK(ct_pin_tries(t, 2, 0x3F00) == 4);
	/* The right PUK resets its own counter too. */
	EXPECT_SW(t, 0x9000, "00 2C 01 01 08 " PUK2);
	CHECK(ct_pin_tries(t, 2, 0x3F00) == 5);
	/* A PIN without PUK. */
	EXPECT_NOT_SW(t, 0x9000, "00 2C 01 06 08 " PUK2);
	/* P1 02 and 03 need an SCP03 session with C-MAC. */
	block_pin1(t);
	EXPECT_SW(t, 0x6982, "00 2C 02 01 04 31313131");
	EXPECT_SW(t, 0x6982, "00 2C 03 01");
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 0);
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC | CT_SCP_CDEC);
	EXPECT_SM(t, 0x9000, "00 2C 02 01 04 31313131");
	tc_power_cycle(t);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 31313131");
	block_pin1(t);
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 2C 03 01");
	tc_power_cycle(t);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 31313131");
	/* P1 04 does not exist. */
	EXPECT_SW(t, 0x6A86, "00 2C 04 01");
}

/* ---------------------------------------- GET CHALLENGE, EXTERNAL AUTH */

static void test_get_challenge(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	uint8_t a[256];
	EXPECT_SW(t, 0x9000, "00 84 00 00 08");
	EXPECT_RLEN(t, 8);
	memcpy(a, t->resp, 8);
	EXPECT_SW(t, 0x9000, "00 84 00 00 08");
	CHECK(t->rlen == 8 && memcmp(a, t->resp, 8) != 0);
	EXPECT_SW(t, 0x9000, "00 84 00 00 01");
	EXPECT_RLEN(t, 1);
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	EXPECT_RLEN(t, 16);
	EXPECT_SW(t, 0x9000, "00 84 00 00 00");
	EXPECT_RLEN(t, 256);
	EXPECT_SW(t, 0x9000, "00 84 00 00 00 01 00");
	EXPECT_RLEN(t, 256);
	/* Le 1 to 256. */
	EXPECT_SW(t, 0x6700, "00 84 00 00");
	EXPECT_SW(t, 0x6700, "00 84 00 00 00 01 01");
}

static void test_external_authenticate_aes(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	uint8_t chal[16], crypt[16];
	/* No challenge yet. */
	EXPECT_SW(t, 0x6985, "00 82 00 04 10 00000000000000000000000000000000");
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	memcpy(chal, t->resp, 16);
	ecb(K4, chal, 16, crypt);
	EXPECT_SW(t, 0x9000, "00 82 00 04 10 %s", H(crypt, 16));
	/* Used once. */
	EXPECT_SW(t, 0x6985, "00 82 00 04 10 %s", H(crypt, 16));
	/* Wrong: 63Cx; the challenge is spent by the attempt. */
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	memcpy(chal, t->resp, 16);
	ecb(K4, chal, 16, crypt);
	crypt[15] ^= 0x80;
	EXPECT_SW(t, 0x63C2, "00 82 00 04 10 %s", H(crypt, 16));
	crypt[15] ^= 0x80;
	EXPECT_SW(t, 0x6985, "00 82 00 04 10 %s", H(crypt, 16));
	/* Wrong length for AES. */
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	EXPECT_SW(t, 0x6700, "00 82 00 04 08 0000000000000000");
	/* Unknown key; a key not for authentication; an SCP03 key. */
	CHECK(ext_auth(t, 0x0F, K4, 16, 0) == 0x6A88);
	CHECK(ext_auth(t, 0x06, K6, 16, 0) != 0x9000);
	CHECK(ext_auth(t, 0x01, CT_KEY_ENC, 16, 0) != 0x9000);
	/* A challenge does not survive a reset. */
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	memcpy(chal, t->resp, 16);
	ecb(K4, chal, 16, crypt);
	tc_power_cycle(t);
	EXPECT_SW(t, 0x6985, "00 82 00 04 10 %s", H(crypt, 16));
	/* Nor another GET CHALLENGE. */
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	memcpy(chal, t->resp, 16);
	ecb(K4, chal, 16, crypt);
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	EXPECT_NOT_SW(t, 0x9000, "00 82 00 04 10 %s", H(crypt, 16));
	/* Exhaust: 3 tries (a fresh chip: the try counters of keys after a
	 * success are not documented). */
	t = sec_chip();
	CHECK(ext_auth(t, 0x04, K4, 16, 1) == 0x63C2);
	CHECK(ext_auth(t, 0x04, K4, 16, 1) == 0x63C1);
	CHECK(ext_auth(t, 0x04, K4, 16, 1) == 0x63C0);
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x6983);
}

static void test_external_authenticate_3des(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	/* 2-key, no try counter: 6300 for ever. */
	for (int i = 0; i < 5; i++)
		CHECK(ext_auth(t, 0x05, K5, 8, 1) == 0x6300);
	CHECK(ext_auth(t, 0x05, K5, 8, 0) == 0x9000);
	/* The first 8 bytes of a 16-byte challenge. */
	uint8_t chal[16], crypt[8];
	EXPECT_SW(t, 0x9000, "00 84 00 00 10");
	memcpy(chal, t->resp, 16);
	ecb(K5, chal, 8, crypt);
	EXPECT_SW(t, 0x9000, "00 82 00 05 08 %s", H(crypt, 8));
	/* Wrong length for 3DES. */
	EXPECT_SW(t, 0x9000, "00 84 00 00 08");
	EXPECT_SW(t, 0x6700, "00 82 00 05 10 00000000000000000000000000000000");
	/* 3-key, 2 tries. */
	CHECK(ext_auth(t, 0x08, K8, 8, 0) == 0x9000);
	CHECK(ext_auth(t, 0x08, K8, 8, 1) == 0x63C1);
	CHECK(ext_auth(t, 0x08, K8, 8, 1) == 0x63C0);
	CHECK(ext_auth(t, 0x08, K8, 8, 0) == 0x6983);
}

static void test_internal_authenticate(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	uint8_t k[24], in[32], out[32];
	/* AES: 8 bytes -> one padded block. */
	static const uint8_t d8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	ct_hex(K6, k, 16);
	size_t pl = ct_pad80(d8, 8, 16, in);
	ct_cipher("AES-128-CBC", 1, k, NULL, in, pl, out);
	EXPECT_SW(t, 0x9000, "00 88 00 06 08 %s 00", H(d8, 8));
	EXPECT_DATA_B(t, out, 16);
	/* 16 bytes: method 2 always pads, two blocks, chained. */
	uint8_t d16[16];
	for (int i = 0; i < 16; i++)
		d16[i] = (uint8_t)(0xF0 + i);
	pl = ct_pad80(d16, 16, 16, in);
	ct_cipher("AES-128-CBC", 1, k, NULL, in, pl, out);
	EXPECT_SW(t, 0x9000, "00 88 00 06 10 %s 00", H(d16, 16));
	EXPECT_DATA_B(t, out, 32);
	/* 3DES three keys: 5 bytes -> 8. */
	ct_hex(K7, k, 24);
	pl = ct_pad80(d8, 5, 8, in);
	ct_cipher("DES-EDE3-CBC", 1, k, NULL, in, pl, out);
	EXPECT_SW(t, 0x9000, "00 88 00 07 05 %s 00", H(d8, 5));
	EXPECT_DATA_B(t, out, 8);
	/* Unknown key; SCP03 keys are no oracle. */
	EXPECT_SW(t, 0x6A88, "00 88 00 0F 08 %s 00", H(d8, 8));
	EXPECT_NOT_SW(t, 0x9000, "00 88 00 01 08 %s 00", H(d8, 8));
	EXPECT_NOT_SW(t, 0x9000, "00 88 00 03 08 %s 00", H(d8, 8));
	/* No data. */
	EXPECT_SW(t, 0x6700, "00 88 00 06 00");
}

/* ------------------------------------------------- security status */

static void test_status_power_cycle(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	EXPECT_SW(t, 0x9000, "00 D6 00 00 01 11");
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x63C3, "00 20 00 01");
	EXPECT_SW(t, 0x6982, "00 D6 00 00 01 11");
	SELECT_PATH(t, 0x9000, "1000 1003");
	CHECK(ext_auth(t, 0x04, K4, 16, 0) == 0x9000);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 01");
	tc_power_cycle(t);
	SELECT_PATH(t, 0x9000, "1000 1003");
	EXPECT_SW(t, 0x6982, "00 B0 00 00 01");
}

static void test_status_df_change(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x9000, "00 20 00 81 04 " PIN81_1000);
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	EXPECT_SW(t, 0x9000, "00 20 00 81");
	/* An EF of the same DF: no change. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 1001");
	EXPECT_SW(t, 0x9000, "00 20 00 81");
	/* A child DF: 1000 stays on the path. Its own PIN 81 is another
	 * object, not verified. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 1100");
	EXPECT_SW(t, 0x63C3, "00 20 00 81");
	EXPECT_SW(t, 0x9000, "00 20 00 81 04 " PIN81_1100);
	EXPECT_SW(t, 0x9000, "00 A4 03 0C");
	EXPECT_SW(t, 0x9000, "00 20 00 81");
	/* Leaving 1000 (and so 1100) for the MF drops both. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 20 00 01");
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x63C3, "00 20 00 81");
	SELECT_PATH(t, 0x9000, "1000 1100");
	EXPECT_SW(t, 0x63C3, "00 20 00 81");
	/* A global PIN survives every DF change. */
	SELECT_PATH(t, 0x9000, "2000");
	EXPECT_SW(t, 0x9000, "00 20 00 01");
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 01 22");
	/* Selecting an EF of the MF leaves 1000 too. */
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x9000, "00 20 00 81 04 " PIN81_1000);
	SELECT_MF(t);
	SELECT_PATH(t, 0x9000, "2000");
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x63C3, "00 20 00 81");
}

/* -------------------------------------------------- PIN and key objects */

static void test_object_errors(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 9);
	tc_to_state(t, COS_LC_INITIALIZATION, NULL);
	SELECT_MF(t);
	PUT_PIN(t, 0x6A80, 0x01, 0, 4, "31323334", 0);     /* tries 0 */
	PUT_PIN(t, 0x6A80, 0x01, 16, 4, "31323334", 0);    /* tries 16 */
	PUT_PIN(t, 0x6A80, 0x01, 3, 0, NULL, 0);           /* length 0 */
	PUT_PIN(t, 0x6A80, 0x01, 3, 17, NULL, 0);          /* length 17 */
	PUT_PIN(t, 0x6A80, 0x01, 3, 4, "313233", 0);       /* value 3 of 4 */
	PUT_PIN(t, 0x6A80, 0x00, 3, 4, "31323334", 0);     /* reference 0 */
	PUT_PIN(t, 0x6A80, 0x1F, 3, 4, "31323334", 0);     /* 31 */
	EXPECT_SW(t, 0x6A80, "00 DA DF 01 06 81 01 03 82 01 04");
	PUT_KEY(t, 0x6A80, 0x04, 0x01, 0x99, COS_KEY_USE_AUTH, K4, 3);
	PUT_KEY(t, 0x6A80, 0x04, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH,
		"2B7E151628AED2A6ABF7158809CF4F", 3);
	PUT_KEY(t, 0x6A80, 0x04, 0x01, COS_ALG_3DES, COS_KEY_USE_AUTH,
		"0123456789ABCDEF", 3);
	EXPECT_SW(t, 0x6A80, "00 DA DF 02 0C 80 01 04 81 01 01 82 01 88 83 01 01");
	cos_info_t i = tc_info(t);
	/* None was created (the transport code may be an object). */
	CHECK(!ct_obj(t, COS_OBJ_PIN, 0x01, 0x3F00, NULL));
	CHECK(!ct_obj(t, COS_OBJ_KEY, 0x04, 0x3F00, NULL));
	/* Unknown tags. */
	EXPECT_SW(t, 0x6A88, "00 DA DF 77 01 00");
	EXPECT_SW(t, 0x6A88, "00 CA DF 77 00");
	EXPECT_SW(t, 0x6A88, "00 CA 00 42 00");
	/* What cos_walk shows of good ones. */
	PUT_PIN(t, 0x9000, 0x02, 5, 8, PUK2, 0);
	PUT_PIN(t, 0x9000, 0x01, 3, 4, PIN1, 0x02);
	PUT_KEY(t, 0x9000, 0x04, 0x21, COS_ALG_AES, COS_KEY_USE_AUTH, K4, 3);
	PUT_KEY(t, 0x9000, 0x05, 0x22, COS_ALG_3DES, COS_KEY_USE_AUTH, K5, 0);
	cos_obj_info_t o;
	CHECK(ct_obj(t, COS_OBJ_PIN, 0x01, 0x3F00, &o) && o.max_tries == 3 &&
	      o.tries == 3 && o.len == 4 && o.unblock_ref == 0x02);
	CHECK(ct_obj(t, COS_OBJ_KEY, 0x04, 0x3F00, &o) && o.alg == COS_ALG_AES &&
	      o.kvn == 0x21 && o.usage == COS_KEY_USE_AUTH && o.len == 16 &&
	      o.max_tries == 3);
	CHECK(ct_obj(t, COS_OBJ_KEY, 0x05, 0x3F00, &o) &&
	      o.alg == COS_ALG_3DES && o.max_tries == 0 && o.len == 16);
	cos_info_t j = tc_info(t);
	CHECK(j.objects_used == i.objects_used + 4);
	/* A specific PIN belongs to its DF. */
	REQUIRE_CREATE(t, CT_DF(0x1000, "A0000000021000", NULL));
	PUT_PIN(t, 0x9000, 0x81, 3, 4, PIN81_1000, 0);
	CHECK(ct_obj(t, COS_OBJ_PIN, 0x01, 0x1000, NULL));
}

static void test_object_table_full(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 9);
	tc_to_state(t, COS_LC_INITIALIZATION, NULL);
	REQUIRE_CREATE(t, CT_DF(0x1000, "A0000000021000", NULL));
	cos_info_t i = tc_info(t);
	CHECKF(i.objects_max == t->model->max_objects, "objects_max %u",
	       i.objects_max);
	unsigned made = 0;
	for (unsigned k = 0; k < 40 && tc_info(t).objects_used < i.objects_max;
	     k++) {
		/* Globals 1..30, then specific ones in DF 1000. */
		uint8_t ref = k < 30 ? (uint8_t)(k + 1) : (uint8_t)(0x81 + k - 30);
		if (k == 30)
			SELECT_PATH(t, 0x9000, "1000");
		const char *d = ct_pin_data(ref, 3, 4, "30303030", 0);
		if (xferf(t, "00 DA DF 01 %02X %s", ct_hexlen(d), d) != 0x9000) {
			CHECKF(0, "object %u: %04X", k + 1, t->sw);
			break;
		}
		made++;
	}
	CHECKF(tc_info(t).objects_used == i.objects_max, "table full (%u)",
	       made);
	PUT_PIN(t, 0x6A84, 0x9E, 3, 4, "30303030", 0);
	PUT_KEY(t, 0x6A84, 0x9E, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH, K4, 3);
	/* Replacing an existing PIN needs no new slot. */
	PUT_PIN(t, 0x9000, 0x01, 3, 4, "31313131", 0);
	CHECK_IMAGE(t);
}

static void test_objects_refused_in_operational(void **state)
{
	(void)state;
	tchip_t *t = sec_chip();
	PUT_PIN(t, 0x6982, 0x07, 3, 4, "37373737", 0);
	PUT_PIN(t, 0x6982, 0x01, 3, 4, "00000000", 0);
	PUT_KEY(t, 0x6982, 0x09, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH, K4, 3);
	CHECK(!ct_obj(t, COS_OBJ_PIN, 0x07, 0x3F00, NULL));
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 " PIN1);
	/* With C-MAC only: still not (C-DECRYPTION needed). */
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	const char *d = ct_pin_data(0x07, 3, 4, "37373737", 0);
	EXPECT_SM(t, 0x6982, "00 DA DF 01 %02X %s", ct_hexlen(d), d);
	CHECK(!ct_obj(t, COS_OBJ_PIN, 0x07, 0x3F00, NULL));
	/* With C-DECRYPTION: yes. */
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC | CT_SCP_CDEC);
	EXPECT_SM(t, 0x9000, "00 DA DF 01 %02X %s", ct_hexlen(d), d);
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 20 00 07 04 37373737");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_ac_always_never),
		CT_TEST(test_ac_pin),
		CT_TEST(test_ac_key),
		CT_TEST(test_ac_sm),
		CT_TEST(test_ac_all_any),
		CT_TEST(test_ac_df_ops),
		CT_TEST(test_ac_lcs_ops),
		CT_TEST(test_ac_records),
		CT_TEST(test_verify),
		CT_TEST(test_verify_blocked),
		CT_TEST(test_verify_tearing),
		CT_TEST(test_verify_decrements_first),
		CT_TEST(test_change_reference_data),
		CT_TEST(test_reset_retry_counter),
		CT_TEST(test_get_challenge),
		CT_TEST(test_external_authenticate_aes),
		CT_TEST(test_external_authenticate_3des),
		CT_TEST(test_internal_authenticate),
		CT_TEST(test_status_power_cycle),
		CT_TEST(test_status_df_change),
		CT_TEST(test_object_errors),
		CT_TEST(test_object_table_full),
		CT_TEST(test_objects_refused_in_operational),
	};
	int rc = cmocka_run_group_tests_name("cos_security", tests, NULL, NULL);
	ct_summary("test_cos_security");
	return rc;
}
