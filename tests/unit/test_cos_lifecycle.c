/*
 * test_cos_lifecycle.c - the chip's life cycle, against docs/card-os.md
 * ("Life cycle", "Test commands", "GlobalPlatform", "Data objects", "Answer
 * to reset") and the GlobalPlatform Card Specification v2.3 (card life
 * cycle states 01/07/0F/7F/FF, GET STATUS, SET STATUS, CPLC).
 *
 * Each state: what it allows, what it refuses, how it is left, that it is
 * never left backwards, and that the test commands never come back once
 * MANUFACTURING is over. Also the host introspection: cos_get_info,
 * cos_walk, cos_check.
 */
#include "cos_test_util.h"

/* ------------------------------------------------------------ helpers */

static cos_lifecycle_t state_of(tchip_t *t)
{
	return tc_info(t).lifecycle;
}

#define CHECK_STATE(t, lc)                                                 \
	CHECKF(state_of(t) == (lc), "life cycle %s, expected %s",          \
	       cos_lifecycle_name(state_of(t)), cos_lifecycle_name(lc))

/* The ATR of the data sheet: 3B 9E 96 80 31 FE 45, 14 historical bytes
 * (80 31C0 73F62140 64 xxxxxxxx 81 ll), TCK. */
static void check_atr(tchip_t *t, uint8_t lcs, const uint8_t *serial)
{
	tc_power_cycle(t); /* the ATR of the current state */
	static const uint8_t head[] = {0x3B, 0x9E, 0x96, 0x80,
				       0x31, 0xFE, 0x45};
	static const uint8_t hist[] = {0x80, 0x31, 0xC0, 0x73,
				       0xF6, 0x21, 0x40, 0x64};
	const uint8_t *a = t->atr;
	CHECKF(t->atr_len == 22, "ATR of 22 bytes, got %zu", t->atr_len);
	if (t->atr_len != 22)
		return;
	CHECKF(memcmp(a, head, sizeof head) == 0, "ATR interface bytes: %s",
	       H(a, 7));
	CHECKF(memcmp(a + 7, hist, sizeof hist) == 0,
	       "historical bytes 80 31C0 73F62140 64: %s", H(a + 7, 8));
	if (serial)
		CHECKF(memcmp(a + 15, serial + 4, 4) == 0,
		       "pre-issuing data: last 4 bytes of the serial, got %s",
		       H(a + 15, 4));
	CHECKF(a[19] == 0x81 && a[20] == lcs,
	       "status indicator 81 %02X, got %02X %02X", lcs, a[19], a[20]);
	uint8_t x = 0;
	for (size_t i = 1; i < 22; i++)
		x ^= a[i];
	CHECKF(x == 0, "TCK: XOR of T0..TCK is %02X", x);
}

static uint8_t mf_lcs(tchip_t *t)
{
	cos_file_info_t f;
	if (!ct_file(t, 0x3F00, &f))
		return 0xEE;
	return f.lcs;
}

/* GET STATUS of the card, both formats, against the GP state. */
static void check_get_status(tchip_t *t, uint8_t gp)
{
	ct_xfer_auto(t, "80 F2 80 00 02 4F00 00");
	CHECKF(t->sw == 0x9000, "GET STATUS P2 00: SW %04X", t->sw);
	uint8_t aid[8];
	ct_hex(CT_ISD_AID, aid, 8);
	CHECKF(t->rlen >= 10 && t->resp[0] == 8 &&
		       memcmp(t->resp + 1, aid, 8) == 0 && t->resp[9] == gp,
	       "GET STATUS P2 00: 08 ISD-AID %02X ...", gp);
	ct_xfer_auto(t, "80 F2 80 02 02 4F00 00");
	CHECKF(t->sw == 0x9000, "GET STATUS P2 02: SW %04X", t->sw);
	size_t l, l2;
	const uint8_t *e3 = ct_tlv_find(t->resp, t->rlen, 0xE3, &l);
	CHECKF(e3 != NULL, "GET STATUS P2 02: tag E3");
	if (e3) {
		const uint8_t *a = ct_tlv_find(e3, l, 0x4F, &l2);
		CHECK(a && l2 == 8 && memcmp(a, aid, 8) == 0);
		const uint8_t *s = ct_tlv_find(e3, l, 0x9F70, &l2);
		CHECKF(s && l2 >= 1 && s[0] == gp, "9F70 = %02X", gp);
	}
}

static void check_gp(tchip_t *t, uint8_t gp)
{
	CHECKF(ct_chipdata_u(t, 0x82) == gp, "DF30 82 = %02X, got %ld", gp,
	       ct_chipdata_u(t, 0x82));
	CHECKF(tc_info(t).gp_state == gp, "cos_get_info gp_state %02X",
	       tc_info(t).gp_state);
}

static void test_commands_gone(tchip_t *t)
{
	EXPECT_SW(t, 0x6D00, "80 30 00 00 04");
	EXPECT_SW(t, 0x6D00, "80 32 00 00 10");
	EXPECT_SW(t, 0x6D00, "80 34 00 00 14 80 08 %s 81 08 %s",
		  H(t->serial, 8), H(t->tcode, 8));
}

/* ------------------------------------------------------------ models */

static void test_models(void **state)
{
	(void)state;
	const cos_model_t *a = cos_model_find("cf32");
	const cos_model_t *b = cos_model_find("cf64");
	REQUIRE(a && b);
	CHECK(a->nvm_size == 32768 && a->max_files == 64 &&
	      a->max_objects == 32);
	CHECK(b->nvm_size == 65536 && b->max_files == 128 &&
	      b->max_objects == 32);
	CHECK(a->id != b->id);
	CHECK(cos_model_by_id(a->id) == a);
	CHECK(cos_model_by_id(b->id) == b);
	CHECK(cos_model_find("cf16") == NULL);
	CHECK(cos_model_find("") == NULL);
	size_t n = 0;
	const cos_model_t *all = cos_models(&n);
	CHECK(all != NULL && n >= 2);
	int seen = 0;
	for (size_t i = 0; all && i < n; i++)
		seen += all[i].id == a->id || all[i].id == b->id;
	CHECK(seen == 2);
	for (int lc = COS_LC_MANUFACTURING; lc <= COS_LC_TERMINATED; lc++)
		CHECK(cos_lifecycle_name((cos_lifecycle_t)lc) &&
		      cos_lifecycle_name((cos_lifecycle_t)lc)[0]);
	for (int st = COS_OK; st <= COS_ERR_CRYPTO; st++)
		CHECK(cos_strerror((cos_status_t)st) &&
		      cos_strerror((cos_status_t)st)[0]);
	/* GP states of the data sheet's table. */
	CHECK(cos_gp_state(COS_LC_MANUFACTURING, 0) == 0x01);
	CHECK(cos_gp_state(COS_LC_TRANSPORT, 0) == 0x01);
	CHECK(cos_gp_state(COS_LC_INITIALIZATION, 0) == 0x01);
	CHECK(cos_gp_state(COS_LC_PERSONALIZATION, 0) == 0x07);
	CHECK(cos_gp_state(COS_LC_OPERATIONAL, 0) == 0x0F);
	CHECK(cos_gp_state(COS_LC_OPERATIONAL, 1) == 0x7F);
	CHECK(cos_gp_state(COS_LC_TERMINATED, 0) == 0xFF);
}

static void test_format_and_power(void **state)
{
	(void)state;
	tchip_t *b = tc_new_unpowered("cf32", 1);
	cos_chip_t *chip = &b->chip;
	uint8_t atr[COS_ATR_MAX];
	size_t atr_len = 0;
	const hal_t *h = b->hal;
	/* A blank (erased) image holds no card OS. */
	memset(hal_mem_image(b->mem), 0xFF, b->model->nvm_size);
	CHECK(cos_power_on(chip, h, atr, sizeof atr, &atr_len) ==
	      COS_ERR_FORMAT);
	/* The image size must be the model's. */
	CHECK(cos_format(h, cos_model_find("cf64")) == COS_ERR_MODEL);
	CHECK(cos_format(h, NULL) != COS_OK);
	CHECK(cos_format(h, cos_model_find("cf32")) == COS_OK);
	/* An ATR buffer too small. */
	CHECK(cos_power_on(chip, h, atr, 4, &atr_len) == COS_ERR_PARAM);
	CHECK(cos_power_on(chip, h, atr, sizeof atr, &atr_len) == COS_OK);
	cos_info_t i;
	CHECK(cos_get_info(chip, &i) == COS_OK);
	CHECK(i.lifecycle == COS_LC_MANUFACTURING && i.gp_state == 0x01);
	CHECK(i.files_used == 1 && i.objects_used == 0);
	CHECK(i.transport_tries == 0 && !i.locked);
	CHECK(i.model == cos_model_find("cf32") && i.nvm_size == 32768);
	const char *why = NULL;
	CHECK(cos_check(chip, &why) == COS_OK);
	cos_power_off(chip);
	CHECK(cos_get_info(chip, &i) != COS_OK);

	/* Formatting a used chip starts it over. */
	tchip_t *t = tc_new("cf64", 2);
	tc_to_state(t, COS_LC_OPERATIONAL, ct_build_small);
	cos_power_off(&t->chip);
	CHECK(cos_format(t->hal, t->model) == COS_OK);
	tc_power_on(t);
	cos_info_t j = tc_info(t);
	CHECK(j.lifecycle == COS_LC_MANUFACTURING && j.files_used == 1 &&
	      j.objects_used == 0);
	CHECK(!ct_file(t, 0x1000, NULL));
	CHECK_IMAGE(t);
}

/* ------------------------------------------------------ MANUFACTURING */

static void test_manufacturing(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 4);
	check_atr(t, 0x01, NULL);
	check_gp(t, 0x01);
	CHECK_STATE(t, COS_LC_MANUFACTURING);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 3F00");
	EXPECT_SW(t, 0x9000, "00 A4 00 0C");

	/* GET DATA. */
	uint8_t cplc[42];
	CHECK(ct_cplc(t, cplc) == 0);
	CHECKF(ct_be(cplc + 2, 2) == t->model->ic_type, "IC type %04lX",
	       ct_be(cplc + 2, 2));
	for (int k = 10; k < 42; k++)
		CHECKF(cplc[k] == 0, "CPLC byte %d unset before FAB CLOSE", k);
	CHECK(ct_chipdata_u(t, 0x80) == t->model->id);
	CHECK(ct_chipdata_u(t, 0x81) == COS_LC_MANUFACTURING);
	CHECK(ct_chipdata_u(t, 0x84) == (long)t->model->nvm_size);
	cos_info_t i = tc_info(t);
	CHECK(ct_chipdata_u(t, 0x85) == (long)(i.fs_capacity - i.fs_used));
	CHECK(ct_chipdata_u(t, 0x86) == 0);

	/* TEST NVM: patterns over the free body area, restored. */
	uint32_t size = t->model->nvm_size;
	uint8_t *before = ct_alloc(size);
	memcpy(before, hal_mem_image(t->mem), size);
	EXPECT_SW(t, 0x9000, "80 30 00 00 04");
	EXPECT_RLEN(t, 4);
	unsigned long tested = ct_be(t->resp, 4);
	CHECKF(tested > 0 && tested <= i.fs_capacity,
	       "TEST NVM tested %lu bytes (free area %u)", tested,
	       i.fs_capacity - i.fs_used);
	long d = ct_image_diff(before, hal_mem_image(t->mem), size);
	CHECKF(d < 0, "TEST NVM restores the image (first change at %ld)", d);
	CHECK_IMAGE(t);

	/* READ NVM: the raw image. */
	const uint8_t *img = hal_mem_image(t->mem);
	EXPECT_SW(t, 0x9000, "80 32 00 00 10");
	EXPECT_DATA_B(t, img, 16);
	EXPECT_SW(t, 0x9000, "80 32 07 00 20");
	EXPECT_DATA_B(t, img + 0x700, 32);
	EXPECT_SW(t, 0x9000, "80 32 10 00 00");
	EXPECT_DATA_B(t, img + 0x1000, 256);
	EXPECT_SW(t, 0x9000, "80 32 7F F0 10");
	EXPECT_DATA_B(t, img + 0x7FF0, 16);
	EXPECT_NOT_SW(t, 0x9000, "80 32 80 00 01");

	/* Not allowed in MANUFACTURING. */
	static const char *const refused[] = {
		("00 20 00 1F 08 " CT_TCODE),
		"00 E0 00 00 0D 62 0B 82 01 01 83 02 0101 80 02 0010",
		"00 DA DF 01 09 80 01 01 81 01 03 82 01 04",
		"00 DA DF 41 04 4711 5130",
		"80 F0 80 07",
		"80 50 00 00 08 0102030405060708 00",
		"00 84 00 00 08",
		"00 FE 00 00",
		"00 44 00 00 02 3F00",
		"00 04 00 00 02 3F00",
	};
	for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
		EXPECT_SW(t, 0x6985, "%s", refused[k]);
	/* GET STATUS answers in every state (data sheet, life cycle). */
	EXPECT_SW(t, 0x9000, "80 F2 80 00 02 4F00 00");
	CHECK_STATE(t, COS_LC_MANUFACTURING);
	CHECK(tc_info(t).files_used == 1 && tc_info(t).objects_used == 0);
}

static void test_fab_close(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 4);
	const char *S = CT_SERIAL, *T = CT_TCODE;
	/* Malformed: 6A80, and the chip stays in MANUFACTURING. */
	EXPECT_SW(t, 0x6A80, "80 34 00 00 0A 81 08 %s", T);
	EXPECT_SW(t, 0x6A80, "80 34 00 00 0A 80 08 %s", S);
	EXPECT_SW(t, 0x6A80, "80 34 00 00 13 80 07 C0FFEE00123456 81 08 %s", T);
	EXPECT_SW(t, 0x6A80, "80 34 00 00 13 80 08 %s 81 07 54524153505254", S);
	EXPECT_SW(t, 0x6A80, "80 34 00 00 17 80 08 %s 81 08 %s 82 01 00", S, T);
	EXPECT_SW(t, 0x6A80, "80 34 00 00 17 80 08 %s 81 08 %s 82 01 10", S, T);
	EXPECT_SW(t, 0x6A80, "80 34 00 00 02 80 00");
	CHECK_STATE(t, COS_LC_MANUFACTURING);
	CHECK(tc_info(t).transport_tries == 0);

	/* Without 82: 3 tries. */
	EXPECT_SW(t, 0x9000, "80 34 00 00 1C 80 08 %s 81 08 %s 83 02 %s 84 02 %s",
		  S, T, CT_FABDATE, CT_BATCH);
	CHECK_STATE(t, COS_LC_TRANSPORT);
	cos_info_t i = tc_info(t);
	CHECK(i.transport_tries == 3);
	CHECK(ct_chipdata_u(t, 0x86) == 3);
	CHECK(memcmp(i.serial, t->serial, 8) == 0);
	uint8_t ser[8];
	CHECK(ct_chipdata(t, 0x83, ser, 8) == 8 && memcmp(ser, t->serial, 8) == 0);
	CHECK(ct_chipdata_u(t, 0x81) == COS_LC_TRANSPORT);
	check_gp(t, 0x01);
	uint8_t cplc[42];
	CHECK(ct_cplc(t, cplc) == 0);
	CHECKF(cplc[10] == 0x51 && cplc[11] == 0x23, "IC fabrication date");
	CHECKF(cplc[16] == 0x0B && cplc[17] == 0x07, "IC batch identifier");
	CHECKF(ct_be(cplc + 12, 4) != 0, "IC serial number stamped");
	CHECK(memcmp(i.cplc, cplc, 42) == 0);
	/* Once: the test commands are gone. */
	test_commands_gone(t);
	/* The ATR shows the serial and the LCS after a reset. */
	tc_power_cycle(t);
	check_atr(t, 0x01, t->serial);

	/* Given tries. */
	tchip_t *u = tc_new("cf32", 4);
	EXPECT_SW(u, 0x9000, "80 34 00 00 17 80 08 %s 81 08 %s 82 01 05", S, T);
	CHECK(ct_chipdata_u(u, 0x86) == 5);
	CHECK(tc_info(u).transport_tries == 5);
}

/* ------------------------------------------------------ TRANSPORT */

static void test_transport(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 6);
	tc_to_state(t, COS_LC_TRANSPORT, NULL);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 3F00");
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
	EXPECT_SW(t, 0x9000, "80 CA 9F 7F 00");
	EXPECT_SW(t, 0x9000, "00 CA DF 30 00");
	CHECK(ct_chipdata_u(t, 0x86) == 3);

	static const char *const refused[] = {
		"00 E0 00 00 0D 62 0B 82 01 01 83 02 0101 80 02 0010",
		"00 DA DF 01 0F 80 01 01 81 01 03 82 01 04 83 04 31323334",
		("00 DA DF 02 1E 80 01 01 81 01 30 82 01 88 83 01 02 84 10 " CT_KEY_ENC),
		"00 DA DF 43 08 4713 5132 01020304",
		"00 DA DF 44 08 4714 5133 05060708",
		"80 F0 80 07",
		"00 B0 00 00 01",
		"00 D6 00 00 01 00",
		"00 20 00 01 04 31323334",
		"80 50 00 00 08 0102030405060708 00",
		"00 84 00 00 08",
		"00 FE 00 00",
		"00 E4 00 00 02 3F00",
		"00 44 00 00 02 3F00",
		"00 04 00 00 02 3F00",
	};
	for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
		EXPECT_SW(t, 0x6985, "%s", refused[k]);
	EXPECT_SW(t, 0x9000, "80 F2 80 00 02 4F00 00");
	test_commands_gone(t);

	/* The module and card body stamps. */
	EXPECT_SW(t, 0x9000, "00 DA DF 41 04 4711 5130");
	EXPECT_SW(t, 0x6985, "00 DA DF 41 04 4711 5130");
	EXPECT_SW(t, 0x9000, "00 DA DF 42 04 4712 5131");
	EXPECT_SW(t, 0x6985, "00 DA DF 42 04 9999 9999");

	/* The transport code: length, status, wrong, right. */
	EXPECT_SW(t, 0x6700, "00 20 00 1F 07 54524153505254");
	CHECK(ct_chipdata_u(t, 0x86) == 3);
	EXPECT_SW(t, 0x63C3, "00 20 00 1F");
	EXPECT_SW(t, 0x63C2, "00 20 00 1F 08 5452414E53505255");
	CHECK(ct_chipdata_u(t, 0x86) == 2);
	CHECK(tc_info(t).transport_tries == 2);
	CHECK_STATE(t, COS_LC_TRANSPORT);
	tc_power_cycle(t);
	CHECK(ct_chipdata_u(t, 0x86) == 2);
	EXPECT_SW(t, 0x9000, "00 20 00 1F 08 %s", H(t->tcode, 8));
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	CHECK(ct_chipdata_u(t, 0x81) == COS_LC_INITIALIZATION);
	check_gp(t, 0x01);
	tc_power_cycle(t);
	check_atr(t, 0x03, t->serial);
	CHECK_STATE(t, COS_LC_INITIALIZATION);
}

static void check_terminated(tchip_t *t)
{
	CHECK_STATE(t, COS_LC_TERMINATED);
	EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
	EXPECT_RLEN(t, 45);
	EXPECT_SW(t, 0x9000, "80 CA 9F 7F 00");
	EXPECT_SW(t, 0x9000, "00 CA DF 30 00");
	CHECK(ct_chipdata_u(t, 0x82) == 0xFF);
	CHECK(ct_chipdata_u(t, 0x81) == COS_LC_TERMINATED);
	CHECK(tc_info(t).gp_state == 0xFF);
	static const char *const refused[] = {
		"00 A4 00 0C 02 3F00",
		"00 A4 00 0C",
		("00 A4 04 00 08 " CT_ISD_AID " 00"),
		"00 B0 00 00 01",
		("00 20 00 1F 08 " CT_TCODE),
		"00 20 00 01 04 31323334",
		"00 84 00 00 08",
		"80 F2 80 00 02 4F00 00",
		"80 50 00 00 08 0102030405060708 00",
		"00 DA DF 41 04 4711 5130",
		"00 DA DF 01 0F 80 01 01 81 01 03 82 01 04 83 04 31323334",
		"80 F0 80 0F",
		"80 F0 80 07",
		"00 44 00 00 02 3F00",
		"00 FE 00 00",
		"00 CA 00 42 00",
		"00 CA DF 31 00",
		"00 C0 00 00 10",
	};
	for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
		EXPECT_SW(t, 0x6985, "%s", refused[k]);
	/* The data sheet says both "everything else 6985" (TERMINATED) and
	 * "from TRANSPORT on their INS answer 6D00": either, never 9000. */
	EXPECT_SW2(t, 0x6985, 0x6D00, "80 30 00 00 04");
	EXPECT_SW2(t, 0x6985, 0x6D00, "80 32 00 00 10");
	tc_power_cycle(t);
	CHECK_STATE(t, COS_LC_TERMINATED);
	check_atr(t, 0x0C, NULL);
	EXPECT_SW(t, 0x6985, "00 A4 00 0C 02 3F00");
	EXPECT_SW(t, 0x9000, "00 CA DF 30 00");
	CHECK_IMAGE(t);
}

static void test_transport_exhaustion(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 6);
	tc_to_state(t, COS_LC_TRANSPORT, NULL);
	EXPECT_SW(t, 0x63C2, "00 20 00 1F 08 0000000000000000");
	EXPECT_SW(t, 0x63C1, "00 20 00 1F 08 0000000000000000");
	CHECK_STATE(t, COS_LC_TRANSPORT);
	EXPECT_SW(t, 0x63C0, "00 20 00 1F 08 0000000000000000");
	CHECK(ct_chipdata_u(t, 0x86) == 0);
	/* The chip is dead: the right code too late. */
	EXPECT_SW(t, 0x6985, "00 20 00 1F 08 %s", H(t->tcode, 8));
	check_terminated(t);

	/* One try only. */
	tchip_t *u = tc_new("cf32", 6);
	EXPECT_SW(u, 0x9000, "80 34 00 00 17 80 08 %s 81 08 %s 82 01 01",
		  CT_SERIAL, CT_TCODE);
	EXPECT_SW(u, 0x63C0, "00 20 00 1F 08 0000000000000000");
	check_terminated(u);
}

/* Power cut at every write of a transport code VERIFY: the try counter is
 * never higher after power-up than before a wrong code. */
static void test_transport_tearing(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 6);
	tc_to_state(t, COS_LC_TRANSPORT, NULL);
	uint32_t size = t->model->nvm_size;
	uint8_t *snap = ct_alloc(size);
	unsigned runs = 0;
	for (int round = 0; round < 2; round++) {
		/* round 0: 3 tries left; round 1: 1 try left. */
		if (round)
			for (int k = 0; k < 2; k++)
				xfer(t, "00 20 00 1F 08 0000000000000000", NULL,
				     NULL);
		cos_power_off(&t->chip);
		memcpy(snap, hal_mem_image(t->mem), size);
		tc_power_on(t);
		int before = tc_info(t).transport_tries;
		t->wlog.n = 0;
		t->wlog.on = 1;
		xfer(t, "00 20 00 1F 08 0000000000000000", NULL, NULL);
		t->wlog.on = 0;
		size_t w = t->wlog.n;
		CHECKF(w > 0, "a wrong transport code writes the NVM");
		uint32_t lens[512];
		REQUIRE(w < 512);
		memcpy(lens, t->wlog.len, w * sizeof lens[0]);
		for (size_t n = 1; n <= w; n++) {
			uint32_t torn[3] = {0, lens[n - 1] / 2, lens[n - 1]};
			for (int k = 0; k < 3; k++) {
				cos_power_off(&t->chip);
				memcpy(hal_mem_image(t->mem), snap, size);
				tc_power_on(t);
				hal_mem_cut_at(t->mem, n, torn[k]);
				xfer(t, "00 20 00 1F 08 0000000000000000",
				     NULL, NULL);
				CHECK(t->st == COS_ERR_POWER);
				hal_mem_cut_at(t->mem, 0, 0);
				hal_mem_power_restore(t->mem);
				cos_power_off(&t->chip);
				tc_power_on(t);
				CHECK_IMAGE(t);
				cos_info_t i = tc_info(t);
				CHECKF(i.transport_tries <= before &&
					       i.transport_tries + 1 >= before,
				       "cut at write %zu (torn %u): tries %d -> %u",
				       n, torn[k], before, i.transport_tries);
				CHECKF(i.lifecycle == COS_LC_TRANSPORT ||
					       (i.lifecycle == COS_LC_TERMINATED &&
						i.transport_tries == 0),
				       "state %s after the cut",
				       cos_lifecycle_name(i.lifecycle));
				runs++;
			}
		}
		cos_power_off(&t->chip);
		memcpy(hal_mem_image(t->mem), snap, size);
		tc_power_on(t);
	}
	printf("    transport code tearing: %u power cuts\n", runs);
}

/* ---------------------------------------------------- INITIALIZATION */

static void test_initialization(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 8);
	tc_to_state(t, COS_LC_INITIALIZATION, NULL);
	check_get_status(t, 0x01);
	CHECK(mf_lcs(t) == 0x03);
	/* Access conditions are not enforced. */
	REQUIRE_CREATE(t, CT_EF(0x0101, 8, 0, "03 FF FF"));
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 1234");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	EXPECT_DATA(t, "1234");
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0102, 8, 0, "03 40 B5"));
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 5678");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x1000, "A0000000030001", "07 FF FF FF"));
	REQUIRE_CREATE(t, CT_EF(0x1001, 8, 0, NULL));
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 0101");
	EXPECT_SW(t, 0x9000, "00 84 00 00 08");

	/* No way back. */
	test_commands_gone(t);
	EXPECT_NOT_SW(t, 0x9000, "00 20 00 1F 08 0000000000000000");
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	xferf(t, "00 20 00 1F 08 %s", H(t->tcode, 8));
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	xfer(t, "80 F0 80 01", NULL, NULL);
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	/* 0F is PERSONALIZATION to OPERATIONAL: not from here. */
	EXPECT_NOT_SW(t, 0x9000, "80 F0 80 0F");
	CHECK_STATE(t, COS_LC_INITIALIZATION);

	/* The fuse needs an SCP03 key set. */
	EXPECT_SW(t, 0x6985, "80 F0 80 07");
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	PUT_KEY(t, 0x9000, 0x01, CT_KVN, COS_ALG_AES, COS_KEY_USE_SCP03,
		CT_KEY_ENC, -1);
	PUT_KEY(t, 0x9000, 0x02, CT_KVN, COS_ALG_AES, COS_KEY_USE_SCP03,
		CT_KEY_MAC, -1);
	EXPECT_SW(t, 0x6985, "80 F0 80 07");
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	/* A DEK of another version does not complete the set. */
	PUT_KEY(t, 0x9000, 0x03, 0x31, COS_ALG_AES, COS_KEY_USE_SCP03,
		CT_KEY_DEK, -1);
	EXPECT_SW(t, 0x6985, "80 F0 80 07");
	CHECK_STATE(t, COS_LC_INITIALIZATION);
	PUT_KEY(t, 0x9000, 0x03, CT_KVN, COS_ALG_AES, COS_KEY_USE_SCP03,
		CT_KEY_DEK, -1);
	/* The correct transport code was erased when it was presented. */
	CHECK(tc_info(t).transport_tries == 0);
	EXPECT_SW(t, 0x6A88, "00 20 00 1F 08 " CT_TCODE);
	/* An SCP03 session works already (the card maker may use it). */
	CHECK(ct_scp_open(t, CT_KVN, CT_SCP_CMAC) == 0x9000);
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "80 F0 80 07");
	CHECK_STATE(t, COS_LC_PERSONALIZATION);
	/* The transport code is erased. */
	CHECK(tc_info(t).transport_tries == 0);
	CHECK(ct_chipdata_u(t, 0x86) == 0);
	EXPECT_NOT_SW(t, 0x9000, "00 20 00 1F 08 %s", H(t->tcode, 8));
	CHECK_STATE(t, COS_LC_PERSONALIZATION);
	/* Nor back with SET STATUS. */
	xfer(t, "80 F0 80 07", NULL, NULL);
	xfer(t, "80 F0 80 01", NULL, NULL);
	CHECK_STATE(t, COS_LC_PERSONALIZATION);
	test_commands_gone(t);
	tc_power_cycle(t);
	CHECK_STATE(t, COS_LC_PERSONALIZATION);
	test_commands_gone(t);
}

static void test_terminate_card_usage_initialization(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 8);
	tc_to_state(t, COS_LC_INITIALIZATION, ct_build_small);
	EXPECT_SW(t, 0x9000, "00 FE 00 00");
	check_terminated(t);
}

/* ---------------------------------------------------- PERSONALIZATION */

static void build_perso(tchip_t *t)
{
	ct_build_small(t);
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_REC(0x04, 0x0104, 16, 4, 4, NULL));
	SELECT_MF(t);
}

static void test_personalization(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 10);
	tc_to_state(t, COS_LC_PERSONALIZATION, build_perso);
	check_gp(t, 0x07);
	check_get_status(t, 0x07);
	CHECK(mf_lcs(t) == 0x03);
	check_atr(t, 0x03, t->serial);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");

	/* Writes without SCP03: refused. */
	static const char *const writes[] = {
		"00 D6 00 00 02 1234",
		"00 0E 00 00",
		"00 E0 00 00 0D 62 0B 82 01 01 83 02 0105 80 02 0010",
		"00 E4 00 00 02 0101",
		"00 04 00 00 02 0101",
		"00 E8 00 00 02 0101",
		"00 DA DF 01 0F 80 01 07 81 01 03 82 01 04 83 04 37373737",
		("00 DA DF 02 1E 80 01 04 81 01 01 82 01 88 83 01 01 84 10 " CT_KEY_ENC),
		"00 DA DF 44 08 4714 5133 05060708",
		"00 24 01 01 04 39393939",
		"00 2C 03 01",
		"80 F0 80 0F",
	};
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	for (size_t k = 0; k < sizeof writes / sizeof writes[0]; k++)
		EXPECT_SW(t, 0x6982, "%s", writes[k]);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0104");
	EXPECT_SW(t, 0x6982, "00 E2 00 00 02 0102");
	SELECT_MF(t);
	EXPECT_NOT_SW(t, 0x9000, "00 44 00 00 02 3F00");
	CHECK_STATE(t, COS_LC_PERSONALIZATION);
	CHECK(ct_file(t, 0x0101, NULL));

	/* Level 01: C-MAC. (The card OS ends a session on an unwrapped
	 * command, so every command of a session here is wrapped.) */
	REQUIRE_SCP(t, 0x00, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SM(t, 0x9000, "00 D6 00 00 04 CAFEF00D");
	EXPECT_SM(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "CAFEF00D");
	EXPECT_SM(t, 0x9000, "00 A4 00 0C 02 0104");
	EXPECT_SM(t, 0x9000, "00 E2 00 00 02 0102");
	EXPECT_SM(t, 0x9000, "00 A4 00 0C 02 3F00");
	CREATE_SM(t, 0x9000, CT_EF(0x0105, 16, 0, NULL));
	/* PIN and key objects need C-DECRYPTION. */
	const char *pin7 = ct_pin_data(0x07, 3, 4, "37373737", 0);
	EXPECT_SM(t, 0x6982, "00 DA DF 01 %02X %s", ct_hexlen(pin7), pin7);
	CHECK(!ct_obj(t, COS_OBJ_PIN, 0x07, 0x3F00, NULL));
	/* The personalizer's stamp, once; the others are past. */
	EXPECT_SM(t, 0x9000, "00 DA DF 44 08 4714 5133 05060708");
	EXPECT_SM(t, 0x6985, "00 DA DF 44 08 4714 5133 05060708");
	EXPECT_SM(t, 0x6985, "00 DA DF 41 04 4711 5130");
	EXPECT_SM(t, 0x6985, "00 DA DF 43 08 4713 5132 01020304");
	/* A step back. */
	EXPECT_SM(t, 0x6985, "80 F0 80 01");
	CHECK_STATE(t, COS_LC_PERSONALIZATION);
	/* Test commands are gone, wrapped or not. */
	EXPECT_SM(t, 0x6D00, "80 30 00 00 04");
	/* A refused command does not break the session: the card verified
	 * its C-MAC and took it into the MAC chain (Amendment D 6.2.4: each
	 * C-MAC chains on the previous one), so the next command works. */
	EXPECT_SM(t, 0x9000, "00 A4 00 0C 02 0101");
	/* In the session but without C-MAC: a write is refused. */
	EXPECT_SW(t, 0x6982, "00 D6 00 00 04 DEADBEEF");
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "CAFEF00D");
	/* A wrong C-MAC: 6982 and the session is closed. */
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 A4 00 0C 02 0101");
	{
		uint8_t c[64], w[96];
		size_t n = ct_hex("00 D6 00 00 02 AAAA", c, sizeof c);
		size_t wl = ct_scp_wrap(&t->scp, c, n, w);
		w[wl - 1] ^= 0x01;
		memcpy(t->capdu, c, n);
		t->clen = n;
		t->wrapped = 1;
		CHECKF(tc_xferb(t, w, wl) == 0x6982, "wrong C-MAC: SW %04X",
		       t->sw);
		EXPECT_NOT_SM(t, 0x9000, "00 D6 00 00 02 BBBB");
		tc_power_cycle(t);
		EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
		EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
		EXPECT_DATA(t, "CAFEF00D");
	}

	/* Level 03: C-MAC and C-DECRYPTION. */
	EXPECT_SW(t, 0x63C2, "00 20 00 01 04 39393939");
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC | CT_SCP_CDEC);
	EXPECT_SM(t, 0x9000, "00 DA DF 01 %02X %s", ct_hexlen(pin7), pin7);
	/* The same reference: value replaced, tries reset. */
	const char *pin1 = ct_pin_data(0x01, 3, 4, "39393939", 0);
	EXPECT_SM(t, 0x9000, "00 DA DF 01 %02X %s", ct_hexlen(pin1), pin1);
	CHECK(ct_pin_tries(t, 1, 0x3F00) == 3);
	const char *key = ct_key_data(0x04, 0x01, COS_ALG_AES,
				      COS_KEY_USE_AUTH, CT_KEY_DEK, 3);
	EXPECT_SM(t, 0x9000, "00 DA DF 02 %02X %s", ct_hexlen(key), key);
	EXPECT_SM(t, 0x9000, "00 24 01 07 04 38383838");
	cos_obj_info_t o;
	CHECK(ct_obj(t, COS_OBJ_PIN, 0x07, 0x3F00, &o) && o.len == 4);
	CHECK(ct_obj(t, COS_OBJ_KEY, 0x04, 0x3F00, &o) && o.alg == COS_ALG_AES);
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 20 00 01 04 39393939");
	EXPECT_SW(t, 0x9000, "00 20 00 07 04 38383838");

	/* ACTIVATE FILE on the MF, in the session: OPERATIONAL. */
	EXPECT_SW(t, 0x6982, "80 F0 80 0F");
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 44 00 00 02 3F00");
	CHECK_STATE(t, COS_LC_OPERATIONAL);
	check_gp(t, 0x0F);
	CHECK(mf_lcs(t) == 0x05);
	tc_power_cycle(t);
	check_atr(t, 0x05, t->serial);
	check_get_status(t, 0x0F);
	CHECK_IMAGE(t);
}

/* ---------------------------------------------------- OPERATIONAL */

static void test_operational(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 12);
	tc_to_state(t, COS_LC_OPERATIONAL, build_perso);
	check_gp(t, 0x0F);
	check_get_status(t, 0x0F);
	CHECK(mf_lcs(t) == 0x05);
	check_atr(t, 0x05, t->serial);
	test_commands_gone(t);
	/* Access conditions as designed: 0101 has none (always). */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 4242");

	/* SET STATUS needs the session. */
	EXPECT_SW(t, 0x6982, "80 F0 80 7F");
	EXPECT_SW(t, 0x6982, "80 F0 80 FF");
	CHECK_STATE(t, COS_LC_OPERATIONAL);
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	/* Steps back. */
	EXPECT_SM(t, 0x6985, "80 F0 80 07");
	EXPECT_SM(t, 0x6985, "80 F0 80 01");
	/* Stamps are past. */
	EXPECT_SM(t, 0x6985, "00 DA DF 44 08 4714 5133 05060708");
	EXPECT_SM(t, 0x6985, "00 DA DF 41 04 4711 5130");
	CHECK_STATE(t, COS_LC_OPERATIONAL);
	/* Lock. */
	EXPECT_SM(t, 0x9000, "80 F0 80 7F");
	CHECK_STATE(t, COS_LC_OPERATIONAL);
	CHECK(tc_info(t).locked);
	check_gp(t, 0x7F);
	CHECK(mf_lcs(t) == 0x04);
	/* Unlock. */
	EXPECT_SM(t, 0x9000, "80 F0 80 0F");
	CHECK(!tc_info(t).locked);
	check_gp(t, 0x0F);
	CHECK(mf_lcs(t) == 0x05);
	/* Lock again, and across a reset. */
	EXPECT_SM(t, 0x9000, "80 F0 80 7F");
	tc_power_cycle(t);
	CHECK(tc_info(t).locked);
	check_gp(t, 0x7F);
	check_atr(t, 0x04, t->serial);
	/* The MF is deactivated: selecting it warns. */
	EXPECT_SW(t, 0x6283, "00 A4 00 0C 02 3F00");
	/* ACTIVATE FILE on the MF unlocks. */
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 44 00 00 02 3F00");
	CHECK(!tc_info(t).locked);
	check_gp(t, 0x0F);
	/* DEACTIVATE FILE on the MF locks. */
	EXPECT_SM(t, 0x9000, "00 04 00 00 02 3F00");
	CHECK(tc_info(t).locked);
	check_gp(t, 0x7F);
	EXPECT_SM(t, 0x9000, "00 44 00 00 02 3F00");
	CHECK(!tc_info(t).locked);
	CHECK_STATE(t, COS_LC_OPERATIONAL);
	/* SET STATUS FF: TERMINATED. */
	EXPECT_SM(t, 0x9000, "80 F0 80 FF");
	tc_power_cycle(t);
	check_terminated(t);
}

static void test_terminate_card_usage_operational(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 14);
	tc_to_state(t, COS_LC_OPERATIONAL, build_perso);
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x9000, "00 FE 00 00");
	tc_power_cycle(t);
	check_terminated(t);
}

static void test_terminated_via_set_status(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf64", 14);
	tc_to_state(t, COS_LC_TERMINATED, build_perso);
	check_terminated(t);
	/* No session can be opened to come back. */
	CHECK(ct_scp_open(t, CT_KVN, CT_SCP_CMAC) != 0x9000);
}

/* ---------------------------------------------------- CPLC */

static void test_cplc_stamps(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 16);
	uint8_t c0[42], c[42];
	REQUIRE(ct_cplc(t, c0) == 0);
	/* Zero stamps are refused. */
	tchip_t *z = tc_new("cf32", 16);
	tc_to_state(z, COS_LC_TRANSPORT, NULL);
	EXPECT_SW(z, 0x6A80, "00 DA DF 41 04 00000000");
	EXPECT_SW(z, 0x6A80, "00 DA DF 42 04 00000000");
	EXPECT_SW(z, 0x9000, "00 DA DF 41 04 4711 5130");

	tc_to_state(t, COS_LC_TRANSPORT, NULL);
	EXPECT_SW(t, 0x9000, "00 DA DF 41 04 4711 5130");
	EXPECT_SW(t, 0x9000, "00 DA DF 42 04 4712 5131");
	EXPECT_SW(t, 0x6985, "00 DA DF 42 04 4712 5131");
	REQUIRE(ct_cplc(t, c) == 0);
	CHECK(memcmp(c, c0, 10) == 0);
	CHECKF(ct_be(c + 18, 4) == 0x47115130, "module stamp at 18: %s",
	       H(c + 18, 4));
	CHECKF(ct_be(c + 22, 4) == 0x47125131, "card body stamp at 22: %s",
	       H(c + 22, 4));
	REQUIRE_SW(t, 0x9000, "00 20 00 1F 08 %s", H(t->tcode, 8));
	EXPECT_SW(t, 0x6A80, "00 DA DF 43 08 0000000000000000");
	EXPECT_SW(t, 0x9000, "00 DA DF 43 08 4713 5132 01020304");
	EXPECT_SW(t, 0x6985, "00 DA DF 43 08 4713 5132 01020304");
	EXPECT_SW(t, 0x6985, "00 DA DF 41 04 1111 1111");
	EXPECT_SW(t, 0x6985, "00 DA DF 44 08 4714 5133 05060708");
	REQUIRE(ct_cplc(t, c) == 0);
	CHECKF(ct_be(c + 26, 4) == 0x47135132 && ct_be(c + 30, 4) == 0x01020304,
	       "pre-personalization stamp at 26: %s", H(c + 26, 8));
	ct_put_scp03_keys(t);
	REQUIRE_SW(t, 0x9000, "80 F0 80 07");
	REQUIRE_SCP(t, CT_KVN, CT_SCP_CMAC);
	EXPECT_SM(t, 0x6A80, "00 DA DF 44 08 0000000000000000");
	EXPECT_SM(t, 0x9000, "00 DA DF 44 08 4714 5133 05060708");
	EXPECT_SM(t, 0x6985, "00 DA DF 44 08 4714 5133 05060708");
	REQUIRE(ct_cplc(t, c) == 0);
	CHECKF(ct_be(c + 34, 4) == 0x47145133 && ct_be(c + 38, 4) == 0x05060708,
	       "personalization stamp at 34: %s", H(c + 34, 8));
	CHECK(memcmp(c, c0, 10) == 0);
	CHECKF(c[10] == 0x51 && c[11] == 0x23, "fabrication date kept");
	CHECK(memcmp(tc_info(t).cplc, c, 42) == 0);
	/* Stamps survive the power. */
	tc_power_cycle(t);
	uint8_t d[42];
	REQUIRE(ct_cplc(t, d) == 0);
	CHECK(memcmp(c, d, 42) == 0);
}

/* --------------------------------------- cos_get_info / walk / check */

typedef struct {
	unsigned n;
	cos_file_info_t f[32];
	unsigned no;
	cos_obj_info_t o[16];
} walk_log_t;

static int log_file(const cos_file_info_t *f, void *arg)
{
	walk_log_t *w = arg;
	if (w->n < 32)
		w->f[w->n] = *f;
	w->n++;
	return 0;
}

static int log_obj(const cos_obj_info_t *o, void *arg)
{
	walk_log_t *w = arg;
	if (w->no < 16)
		w->o[w->no] = *o;
	w->no++;
	return 0;
}

static int stop_at_3(const cos_file_info_t *f, void *arg)
{
	(void)f;
	return ++*(int *)arg == 3 ? 7 : 0;
}

/*
 * MF: EF 0101 (32, SFI 1), DF 1000 [EF 1001 (64, SFI 2), DF 1100 [EF 1101
 * linear fixed 4 x 10, 8C], EF 1002 cyclic 3 x 6], DF 2000 [EF 2001 (5)];
 * PIN 01, PIN 81 of 1000, key 04.
 */
static void build_walk(tchip_t *t)
{
	ct_build_small(t);
	SELECT_PATH(t, 0x9000, "1000");
	REQUIRE_CREATE(t, CT_DF(0x1100, "A0000000011100", NULL));
	REQUIRE_CREATE(t, CT_REC(0x02, 0x1101, 10, 4, 3, "03 11 00"));
	REQUIRE_SW(t, 0x9000, "00 E2 00 00 0A 00112233445566778899");
	SELECT_PATH(t, 0x9000, "1000");
	REQUIRE_CREATE(t, CT_REC(0x06, 0x1002, 6, 3, 0, NULL));
	SELECT_PATH(t, 0x9000, "1000");
	PUT_PIN(t, 0x9000, 0x81, 5, 6, "313131313131", 0);
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x2000, NULL, NULL));
	REQUIRE_CREATE(t, CT_EF(0x2001, 5, 0, NULL));
	SELECT_MF(t);
	PUT_KEY(t, 0x9000, 0x04, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH,
		CT_KEY_ENC, 3);
}

static void test_info_walk_check(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf64", 18);
	tc_to_state(t, COS_LC_INITIALIZATION, build_walk);
	cos_info_t i = tc_info(t);
	CHECK(i.model == cos_model_find("cf64"));
	CHECK(i.lifecycle == COS_LC_INITIALIZATION && i.gp_state == 0x01);
	CHECK(memcmp(i.serial, t->serial, 8) == 0);
	CHECK(i.nvm_size == 65536 && i.files_max == 128 &&
	      i.objects_max == 32);

	walk_log_t w;
	memset(&w, 0, sizeof w);
	CHECK(cos_walk(&t->chip, log_file, log_obj, &w) == 0);
	CHECKF(w.n == 9, "9 files walked, got %u", w.n);
	CHECKF(i.files_used == w.n, "files_used %u, walked %u", i.files_used,
	       w.n);
	CHECKF(i.objects_used == w.no, "objects_used %u, walked %u",
	       i.objects_used, w.no);
	/* Depth first from the MF: each file right after its parent's
	 * subtree began, parents as created. */
	static const struct {
		uint16_t fid, parent;
		cos_file_type_t type;
	} tree[] = {
		{0x3F00, 0, COS_FT_MF},
		{0x0101, 0x3F00, COS_FT_EF_TRANSPARENT},
		{0x1000, 0x3F00, COS_FT_DF},
		{0x1001, 0x1000, COS_FT_EF_TRANSPARENT},
		{0x1100, 0x1000, COS_FT_DF},
		{0x1101, 0x1100, COS_FT_EF_LINEAR_FIXED},
		{0x1002, 0x1000, COS_FT_EF_CYCLIC},
		{0x2000, 0x3F00, COS_FT_DF},
		{0x2001, 0x2000, COS_FT_EF_TRANSPARENT},
	};
	uint16_t stack[8];
	unsigned long sum_alloc = 0, sum_size = 0;
	CHECK(w.n > 0 && w.f[0].fid == 0x3F00 && w.f[0].depth == 0 &&
	      w.f[0].type == COS_FT_MF);
	for (unsigned k = 0; k < w.n && k < 32; k++) {
		const cos_file_info_t *f = &w.f[k];
		CHECKF(f->depth < 8 && (k == 0 || f->depth >= 1),
		       "depth %u", f->depth);
		if (f->depth >= 8)
			break;
		stack[f->depth] = f->fid;
		if (k)
			CHECKF(f->depth <= w.f[k - 1].depth + 1,
			       "%04X: depth %u after depth %u", f->fid,
			       f->depth, w.f[k - 1].depth);
		int found = 0;
		for (size_t j = 0; j < sizeof tree / sizeof tree[0]; j++) {
			if (tree[j].fid != f->fid)
				continue;
			found = 1;
			CHECKF(f->type == tree[j].type, "%04X type %d", f->fid,
			       (int)f->type);
			if (f->depth)
				CHECKF(stack[f->depth - 1] == tree[j].parent,
				       "%04X walked under %04X, parent %04X",
				       f->fid, stack[f->depth - 1],
				       tree[j].parent);
		}
		CHECKF(found, "unexpected file %04X", f->fid);
		if (f->type != COS_FT_MF && f->type != COS_FT_DF) {
			sum_alloc += f->allocated;
			sum_size += f->type == COS_FT_EF_TRANSPARENT
					    ? f->size
					    : (unsigned long)f->size *
						      f->max_records;
			CHECKF(f->lcs == 0x03 || f->lcs == 0x05,
			       "%04X LCS %02X (created, not deactivated)",
			       f->fid, f->lcs);
		}
	}
	CHECKF(sum_alloc >= sum_size, "allocated %lu >= declared %lu",
	       sum_alloc, sum_size);
	CHECKF(i.fs_used >= sum_alloc, "fs_used %u >= allocated %lu",
	       i.fs_used, sum_alloc);
	cos_file_info_t f;
	CHECK(ct_file(t, 0x1101, &f) && f.records == 1 && f.max_records == 4 &&
	      f.size == 10 && f.sfi == 3 && f.ac[1] == 0x11 && f.ac[0] == 0x00 &&
	      f.ac[2] == 0xFF);
	CHECK(ct_file(t, 0x1000, &f) && f.aid_len == 6 && f.depth == 1);
	CHECK(ct_file(t, 0x2000, &f) && f.aid_len == 0);
	CHECK(ct_file(t, 0x1001, &f) && f.sfi == 2 && f.size == 64);
	CHECK(ct_obj(t, COS_OBJ_PIN, 0x01, 0x3F00, NULL));
	cos_obj_info_t o;
	CHECK(ct_obj(t, COS_OBJ_PIN, 0x01, 0x1000, &o) && o.max_tries == 5 &&
	      o.len == 6);
	CHECK(ct_obj(t, COS_OBJ_KEY, 0x04, 0x3F00, &o) && o.kvn == 0x01);

	/* A non-zero return stops the walk. */
	int calls = 0;
	CHECK(cos_walk(&t->chip, stop_at_3, NULL, &calls) == 7);
	CHECK(calls == 3);
	/* NULL callbacks skip that half. */
	memset(&w, 0, sizeof w);
	CHECK(cos_walk(&t->chip, NULL, log_obj, &w) == 0 && w.n == 0 &&
	      w.no == i.objects_used);

	/* The DF30 free bytes agree. */
	CHECK(ct_chipdata_u(t, 0x85) == (long)(i.fs_capacity - i.fs_used));

	/* cos_check: good, then broken tables. */
	const char *why = NULL;
	CHECK(cos_check(&t->chip, &why) == COS_OK);
	uint8_t *img = hal_mem_image(t->mem);
	uint32_t tables = 256 + 1536, tend = tables + 48u * (32 + 128);
	for (uint32_t k = tables; k < tend; k++)
		img[k] = (uint8_t)(0xA5 ^ (k * 31));
	why = NULL;
	CHECKF(cos_check(&t->chip, &why) != COS_OK,
	       "cos_check finds scrambled object and file tables");
	CHECK(why != NULL);
	cos_power_off(&t->chip);
	uint8_t atr[COS_ATR_MAX];
	size_t al;
	/* Power up checks the system area only (cos.h); the chip with broken
	 * tables still answers with status words and cos_check still fails. */
	CHECK(cos_power_on(&t->chip, t->hal, atr, sizeof atr, &al) == COS_OK);
	CHECK(cos_check(&t->chip, &why) != COS_OK);
	{
		uint8_t r[COS_RAPDU_MAX];
		size_t rl;
		static const uint8_t sel[] = {0x00, 0xA4, 0x00, 0x0C, 0x02,
					      0x50, 0x00};
		CHECK(cos_transmit(&t->chip, sel, sizeof sel, r, sizeof r,
				   &rl) == COS_OK &&
		      rl >= 2);
	}

	/* A wiped system area. */
	tchip_t *u = tc_new("cf32", 18);
	cos_power_off(&u->chip);
	memset(hal_mem_image(u->mem), 0, 256);
	CHECK(cos_power_on(&u->chip, u->hal, atr, sizeof atr, &al) != COS_OK);
}

/* ------------------------------------------------ one chip, all states */

static void test_full_life(void **state)
{
	(void)state;
	/* Each state reported the same way by every channel. */
	static const struct {
		cos_lifecycle_t lc;
		uint8_t gp, lcs;
	} want[] = {
		{COS_LC_MANUFACTURING, 0x01, 0x01},
		{COS_LC_TRANSPORT, 0x01, 0x01},
		{COS_LC_INITIALIZATION, 0x01, 0x03},
		{COS_LC_PERSONALIZATION, 0x07, 0x03},
		{COS_LC_OPERATIONAL, 0x0F, 0x05},
		{COS_LC_TERMINATED, 0xFF, 0x0C},
	};
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		tchip_t *t = tc_new(k % 2 ? "cf64" : "cf32", 20 + k);
		tc_to_state(t, want[k].lc, ct_build_small);
		tc_power_cycle(t);
		CHECK_STATE(t, want[k].lc);
		check_gp(t, want[k].gp);
		CHECKF(ct_chipdata_u(t, 0x81) == want[k].lc,
		       "DF30 81 in %s: %ld", cos_lifecycle_name(want[k].lc),
		       ct_chipdata_u(t, 0x81));
		CHECKF(mf_lcs(t) == want[k].lcs, "MF LCS in %s: %02X",
		       cos_lifecycle_name(want[k].lc), mf_lcs(t));
		check_atr(t, want[k].lcs,
			  want[k].lc == COS_LC_MANUFACTURING ? NULL : t->serial);
		if (want[k].lc != COS_LC_TERMINATED) {
			EXPECT_SW(t, 0x9000, "00 A4 00 04 02 3F00 00");
			size_t l;
			const uint8_t *fcp =
				ct_tlv_find(t->resp, t->rlen, 0x62, &l);
			const uint8_t *lcs =
				fcp ? ct_tlv_find(fcp, l, 0x8A, &l) : NULL;
			CHECKF(lcs && lcs[0] == want[k].lcs,
			       "FCP 8A of the MF in %s",
			       cos_lifecycle_name(want[k].lc));
		}
		CHECK_IMAGE(t);
		tc_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_models),
		CT_TEST(test_format_and_power),
		CT_TEST(test_manufacturing),
		CT_TEST(test_fab_close),
		CT_TEST(test_transport),
		CT_TEST(test_transport_exhaustion),
		CT_TEST(test_transport_tearing),
		CT_TEST(test_initialization),
		CT_TEST(test_terminate_card_usage_initialization),
		CT_TEST(test_personalization),
		CT_TEST(test_operational),
		CT_TEST(test_terminate_card_usage_operational),
		CT_TEST(test_terminated_via_set_status),
		CT_TEST(test_cplc_stamps),
		CT_TEST(test_info_walk_check),
		CT_TEST(test_full_life),
	};
	int rc = cmocka_run_group_tests_name("cos_lifecycle", tests, NULL, NULL);
	ct_summary("test_cos_lifecycle");
	return rc;
}
