/*
 * test_cos_fs.c - the file system of the card OS, against docs/card-os.md
 * ("Files") and ISO/IEC 7816-4 (clause 7.1 SELECT, 7.2 data units, 7.3
 * records, 5.3.3 FCP) and ISO/IEC 7816-9 (CREATE FILE, DELETE FILE,
 * ACTIVATE/DEACTIVATE/TERMINATE).
 *
 * Everything runs in INITIALIZATION, where the data sheet says access
 * conditions are not enforced: what is tested is the file system itself.
 * FCP, FCI and FMD are parsed as BER-TLV and checked object by object.
 */
#include "cos_test_util.h"

/*
 * MF 3F00
 *   EF 0101 transparent 32, SFI 1
 *   EF 0102 linear fixed 5 x 8, SFI 2
 *   EF 0103 linear variable 5 x 20, SFI 3
 *   EF 0104 cyclic 3 x 4, SFI 4
 *   EF 0105 transparent 600
 *   DF 1000 A0 00 00 00 01 01 01
 *     EF 1001 transparent 64, SFI 1
 *     DF 1100 A0 00 00 00 01 01 02
 *       EF 1101 transparent 8
 *   DF 2000 A0 00 00 00 01 02 01
 *     EF 2001 transparent 16
 */
#define AID_1000 "A0000000010101"
#define AID_1100 "A0000000010102"
#define AID_2000 "A0000000010201"

static void build_fs(tchip_t *t)
{
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0101, 32, 1, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_REC(0x02, 0x0102, 8, 5, 2, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_REC(0x04, 0x0103, 20, 5, 3, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_REC(0x06, 0x0104, 4, 3, 4, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0105, 600, 0, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x1000, AID_1000, NULL));
	REQUIRE_CREATE(t, CT_EF(0x1001, 64, 1, NULL));
	REQUIRE_SW(t, 0x9000, "00 A4 00 0C 02 1000");
	REQUIRE_CREATE(t, CT_DF(0x1100, AID_1100, NULL));
	REQUIRE_CREATE(t, CT_EF(0x1101, 8, 0, NULL));
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x2000, AID_2000, NULL));
	REQUIRE_CREATE(t, CT_EF(0x2001, 16, 0, NULL));
	SELECT_MF(t);
}

static tchip_t *fs_chip(void)
{
	tchip_t *t = tc_new("cf32", 3);
	tc_to_state(t, COS_LC_INITIALIZATION, build_fs);
	return t;
}

/* ---------------------------------------------------------------- FCP */

typedef struct {
	int present;           /* template found */
	const uint8_t *d82;
	size_t l82;
	int has80, has81, has83, has84, has88, has8A, has8C;
	unsigned long size;    /* 80 */
	unsigned long alloc;   /* 81 */
	uint16_t fid;
	uint8_t aid[16];
	size_t aid_len;
	uint8_t sfi88;         /* raw value of 88 */
	uint8_t lcs;
	int ac[8];             /* per op bit 1..7: SC byte, -1 if absent */
} fcp_t;

static fcp_t parse_fcp(const uint8_t *p, size_t n, unsigned tmpl)
{
	fcp_t f;
	memset(&f, 0, sizeof f);
	for (int i = 0; i < 8; i++)
		f.ac[i] = -1;
	size_t l;
	const uint8_t *v = ct_tlv_find(p, n, tmpl, &l);
	if (!v)
		return f;
	f.present = 1;
	CHECKF(ct_tlv_wellformed(v, l), "template %02X holds well-formed TLVs",
	       tmpl);
	size_t off = 0;
	unsigned tag;
	const uint8_t *val;
	size_t vl;
	while (ct_tlv_next(v, l, &off, &tag, &val, &vl)) {
		switch (tag) {
		case 0x80:
			f.has80 = 1;
			f.size = ct_be(val, vl);
			break;
		case 0x81:
			f.has81 = 1;
			f.alloc = ct_be(val, vl);
			break;
		case 0x82:
			f.d82 = val;
			f.l82 = vl;
			break;
		case 0x83:
			f.has83 = 1;
			f.fid = (uint16_t)ct_be(val, vl);
			CHECKF(vl == 2, "83 holds 2 bytes, not %zu", vl);
			break;
		case 0x84:
			f.has84 = 1;
			f.aid_len = vl < 16 ? vl : 16;
			memcpy(f.aid, val, f.aid_len);
			break;
		case 0x88:
			f.has88 = 1;
			f.sfi88 = vl ? val[0] : 0;
			break;
		case 0x8A:
			f.has8A = 1;
			f.lcs = vl ? val[0] : 0;
			CHECKF(vl == 1, "8A holds 1 byte, not %zu", vl);
			break;
		case 0x8C: {
			/* Compact format: access mode byte, then one SC byte
			 * for each bit set from b7 to b1. */
			f.has8C = 1;
			if (!vl)
				break;
			uint8_t am = val[0];
			size_t k = 1;
			for (int b = 7; b >= 1; b--) {
				if (!(am & (1u << (b - 1))))
					continue;
				CHECKF(k < vl, "8C: SC byte for bit %d", b);
				f.ac[b] = k < vl ? val[k] : -1;
				k++;
			}
			CHECKF(k == vl, "8C: %zu SC bytes for access mode %02X",
			       vl - 1, am);
			break;
		}
		default:
			break;
		}
	}
	return f;
}

/* SELECT with P2 04 and Le 00; returns the parsed FCP. */
__attribute__((format(printf, 3, 4))) static fcp_t
select_fcp(tchip_t *t, uint16_t sw, const char *fmt, ...)
{
	char hex[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hex, sizeof hex, fmt, ap);
	va_end(ap);
	EXPECT_SW(t, sw, "%s", hex);
	fcp_t f = parse_fcp(t->resp, t->rlen, 0x62);
	CHECKF(f.present || t->sw != 0x9000, "FCP template 62 present");
	return f;
}

static void fid_is(const char *file, int line, fcp_t f, uint16_t want)
{
	ct_check_impl(f.has83 && f.fid == want, "FCP 83", file, line, 0,
		      "FCP 83 = %04X (present %d), expected %04X",
		      (unsigned)f.fid, f.has83, (unsigned)want);
}
#define FID_IS(f, want) fid_is(__FILE__, __LINE__, (f), (want))

static int aid_is(const fcp_t *f, const char *hex)
{
	uint8_t a[16];
	size_t n = ct_hex(hex, a, sizeof a);
	return f->has84 && f->aid_len == n && memcmp(f->aid, a, n) == 0;
}

/* ------------------------------------------------------------ SELECT */

static void test_select_mf(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	EXPECT_SW(t, 0x9000, "00 A4 00 0C");
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 3F00");
	fcp_t f = select_fcp(t, 0x9000, "00 A4 00 04 02 3F00 00");
	FID_IS(f, 0x3F00);
	CHECKF(f.l82 >= 1 && f.d82[0] == 0x38, "MF descriptor 38");
	CHECKF(aid_is(&f, CT_ISD_AID), "MF DF name is the ISD AID");
	CHECKF(f.has8A && f.lcs == 0x03,
	       "MF LCS 03 in INITIALIZATION, got %02X", f.lcs);
	CHECK(f.has81);
	/* Empty data with FCP. */
	f = select_fcp(t, 0x9000, "00 A4 00 04 00");
	FID_IS(f, 0x3F00);

	/* FCI (6F) holds the same objects. */
	EXPECT_SW(t, 0x9000, "00 A4 00 00 02 3F00 00");
	fcp_t fci = parse_fcp(t->resp, t->rlen, 0x6F);
	CHECKF(fci.present, "FCI template 6F");
	FID_IS(fci, 0x3F00);
	CHECK(aid_is(&fci, CT_ISD_AID));
	CHECK(fci.l82 >= 1 && fci.d82[0] == 0x38);
	/* FMD (64) holds the DF name. */
	EXPECT_SW(t, 0x9000, "00 A4 00 08 02 3F00 00");
	fcp_t fmd = parse_fcp(t->resp, t->rlen, 0x64);
	CHECKF(fmd.present, "FMD template 64");
	CHECK(aid_is(&fmd, CT_ISD_AID));

	/* As GP tools select the ISD. */
	EXPECT_SW(t, 0x9000, "00 A4 04 00 08 %s 00", CT_ISD_AID);
	fci = parse_fcp(t->resp, t->rlen, 0x6F);
	CHECK(fci.present && aid_is(&fci, CT_ISD_AID));
	f = select_fcp(t, 0x9000, "00 A4 04 04 08 %s 00", CT_ISD_AID);
	FID_IS(f, 0x3F00);
}

static void test_select_fid_scope(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	/* From the MF: children. */
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1000 00"), 0x1000);
	/* From DF 1000: its child DF, its EF, itself, its parent, the
	 * parent's children. */
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1001 00"), 0x1001);
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1000 00"), 0x1000);
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 2000 00"), 0x2000);
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1000 00"), 0x1000);
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 0101 00"), 0x0101);
	/* 0101 is an EF of the MF: the current DF is the MF again. */
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1000 00"), 0x1000);
	/* A grandchild is out of reach. */
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 1101");
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1100 00"), 0x1100);
	/* From 1100: the parent's child EF, the parent, not the MF's EF nor
	 * the MF's other DF (grandparent's children). */
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1101 00"), 0x1101);
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 2000");
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 1001 00"), 0x1001);
	/* The MF from anywhere. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 1100");
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 3F00 00"), 0x3F00);
	/* Unknown. */
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 7777");
	/* A failed SELECT leaves the current file alone (ISO 7816-4 7.1.1:
	 * the current file is unchanged after an unsuccessful selection). */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 ABCD");
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 7777");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	EXPECT_DATA(t, "ABCD");
}

static void test_select_p1_variants(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	/* 01: child DF. */
	FID_IS(select_fcp(t, 0x9000, "00 A4 01 04 02 1000 00"), 0x1000);
	SELECT_MF(t);
	EXPECT_SW(t, 0x6A82, "00 A4 01 0C 02 0101");
	/* 02: EF of the current DF. */
	FID_IS(select_fcp(t, 0x9000, "00 A4 02 04 02 0101 00"), 0x0101);
	SELECT_MF(t);
	EXPECT_SW(t, 0x6A82, "00 A4 02 0C 02 1000");
	EXPECT_SW(t, 0x6A82, "00 A4 02 0C 02 1001");
	/* 03: parent DF. */
	SELECT_PATH(t, 0x9000, "1000 1100");
	FID_IS(select_fcp(t, 0x9000, "00 A4 03 04 00"), 0x1000);
	EXPECT_SW(t, 0x9000, "00 A4 03 0C");
	FID_IS(select_fcp(t, 0x9000, "00 A4 00 04 02 2000 00"), 0x2000);
	/* 08: path from the MF (without 3F00). */
	FID_IS(select_fcp(t, 0x9000, "00 A4 08 04 04 1000 1100 00"), 0x1100);
	FID_IS(select_fcp(t, 0x9000, "00 A4 08 04 06 1000 1100 1101 00"),
	       0x1101);
	FID_IS(select_fcp(t, 0x9000, "00 A4 08 04 02 0101 00"), 0x0101);
	EXPECT_SW(t, 0x6A82, "00 A4 08 0C 04 1000 2001");
	EXPECT_SW(t, 0x6A82, "00 A4 08 0C 04 1000 7777");
	/* 09: path from the current DF. */
	SELECT_PATH(t, 0x9000, "1000");
	FID_IS(select_fcp(t, 0x9000, "00 A4 09 04 04 1100 1101 00"), 0x1101);
	SELECT_MF(t);
	FID_IS(select_fcp(t, 0x9000, "00 A4 09 04 04 1000 1001 00"), 0x1001);
	SELECT_PATH(t, 0x9000, "2000");
	EXPECT_SW(t, 0x6A82, "00 A4 09 0C 04 1100 1101");
	/* An odd-length path is not a path. */
	EXPECT_NOT_SW(t, 0x9000, "00 A4 08 0C 03 1000 11");
	/* P1 not in the data sheet. */
	EXPECT_SW(t, 0x6A86, "00 A4 05 0C 02 3F00");
	EXPECT_SW(t, 0x6A86, "00 A4 0A 0C 02 3F00");
	EXPECT_SW(t, 0x6A86, "00 A4 FF 0C 02 3F00");
}

static void test_select_df_name(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	/* Full names. */
	fcp_t f = select_fcp(t, 0x9000, "00 A4 04 04 07 %s 00", AID_1100);
	FID_IS(f, 0x1100);
	CHECK(aid_is(&f, AID_1100));
	FID_IS(select_fcp(t, 0x9000, "00 A4 04 04 07 %s 00", AID_2000),
	       0x2000);
	FID_IS(select_fcp(t, 0x9000, "00 A4 04 04 07 %s 00", AID_1000),
	       0x1000);

	/* A prefix shared by 1000, 1100 and 2000: first, then next, next,
	 * then no more. Each DF comes once. */
	int seen1000 = 0, seen1100 = 0, seen2000 = 0;
	static const char *const p2[] = {"04", "06", "06"};
	for (int i = 0; i < 3; i++) {
		f = select_fcp(t, 0x9000, "00 A4 04 %s 05 A000000001 00",
			       p2[i]);
		seen1000 += f.fid == 0x1000;
		seen1100 += f.fid == 0x1100;
		seen2000 += f.fid == 0x2000;
	}
	CHECKF(seen1000 == 1 && seen1100 == 1 && seen2000 == 1,
	       "first/next/next occurrence gave 1000 x%d, 1100 x%d, 2000 x%d",
	       seen1000, seen1100, seen2000);
	EXPECT_SW(t, 0x6A82, "00 A4 04 0E 05 A000000001");
	/* The same without response data (P2 0C, 0E). */
	EXPECT_SW(t, 0x9000, "00 A4 04 0C 06 A00000000101");
	EXPECT_RLEN(t, 0);
	EXPECT_SW(t, 0x9000, "00 A4 04 0E 06 A00000000101");
	EXPECT_SW(t, 0x6A82, "00 A4 04 0E 06 A00000000101");

	/* No match. */
	EXPECT_SW(t, 0x6A82, "00 A4 04 0C 05 A000000009");
	EXPECT_SW(t, 0x6A82, "00 A4 04 0C 08 A000000001010199");
}

static void test_select_p2(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	/* 0C: no data even with a DF. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 1000");
	EXPECT_RLEN(t, 0);
	/* 00: FCI. */
	EXPECT_SW(t, 0x9000, "00 A4 00 00 02 1000 00");
	fcp_t fci = parse_fcp(t->resp, t->rlen, 0x6F);
	CHECKF(fci.present, "FCI 6F");
	FID_IS(fci, 0x1000);
	CHECK(aid_is(&fci, AID_1000));
	/* 08: FMD of a DF holds its name. */
	EXPECT_SW(t, 0x9000, "00 A4 00 08 02 3F00 00");
	EXPECT_SW(t, 0x9000, "00 A4 00 08 02 1000 00");
	fcp_t fmd = parse_fcp(t->resp, t->rlen, 0x64);
	CHECKF(fmd.present, "FMD 64");
	CHECK(aid_is(&fmd, AID_1000));
}

static void test_fcp_contents(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();

	/* Transparent EF. */
	fcp_t f = select_fcp(t, 0x9000, "00 A4 00 04 02 0101 00");
	CHECKF(f.l82 >= 1 && f.d82[0] == 0x01, "descriptor 01");
	FID_IS(f, 0x0101);
	CHECKF(f.has80 && f.size == 32, "80 = 32, got %lu", f.size);
	CHECKF(f.has81 && f.alloc >= 32, "81 >= 32, got %lu", f.alloc);
	/* ISO/IEC 7816-4 table 12: 88 carries the SFI in b8-b4. */
	CHECKF(f.has88 && f.sfi88 == (1 << 3),
	       "88 = 08 (SFI 1 in b8-b4), got %02X", f.sfi88);
	CHECK(f.has8A);
	/* No 8C at creation: "always" for everything. */
	if (f.has8C)
		for (int b = 1; b <= 7; b++)
			CHECKF(f.ac[b] == 0x00,
			       "operation bit %d: 00 (always), got %d", b,
			       f.ac[b]);

	/* Record EFs: descriptor, record length and count. */
	static const struct {
		uint16_t fid;
		uint8_t fdb, reclen, nrec, sfi;
	} rec[] = {
		{0x0102, 0x02, 8, 5, 2},
		{0x0103, 0x04, 20, 5, 3},
		{0x0104, 0x06, 4, 3, 4},
	};
	for (size_t i = 0; i < 3; i++) {
		SELECT_MF(t);
		f = select_fcp(t, 0x9000, "00 A4 00 04 02 %04X 00",
			       rec[i].fid);
		FID_IS(f, rec[i].fid);
		CHECKF(f.l82 >= 5 && f.d82[0] == rec[i].fdb,
		       "descriptor of %04X: %02X and 4 bytes", rec[i].fid,
		       rec[i].fdb);
		if (f.l82 >= 5) {
			CHECKF(ct_be(f.d82 + 2, 2) == rec[i].reclen,
			       "record length of %04X", rec[i].fid);
			CHECKF(ct_be(f.d82 + 4, f.l82 - 4) == rec[i].nrec,
			       "number of records of %04X", rec[i].fid);
		}
		CHECKF(f.has88 && f.sfi88 == rec[i].sfi << 3, "88 of %04X",
		       rec[i].fid);
	}

	/* DF: descriptor 38, name, bytes allocated for the subtree. */
	SELECT_MF(t);
	f = select_fcp(t, 0x9000, "00 A4 00 04 02 1000 00");
	CHECKF(f.l82 >= 1 && f.d82[0] == 0x38, "DF descriptor 38");
	CHECK(aid_is(&f, AID_1000));
	CHECKF(f.has81 && f.alloc >= 64 + 8,
	       "81 of DF 1000 covers its subtree (>= 72), got %lu", f.alloc);
	unsigned long df1000 = f.alloc;
	f = select_fcp(t, 0x9000, "00 A4 00 04 02 3F00 00");
	CHECKF(f.has81 && f.alloc >= df1000 + 32 + 40 + 100 + 12 + 600 + 16,
	       "81 of the MF covers every body, got %lu", f.alloc);

	/* 8C given at creation comes back. */
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0106, 16, 0, "03 11 00"));
	SELECT_MF(t);
	f = select_fcp(t, 0x9000, "00 A4 00 04 02 0106 00");
	CHECKF(f.has8C && f.ac[2] == 0x11 && f.ac[1] == 0x00,
	       "8C 03 11 00: update PIN 1, read always (got %d %d)", f.ac[2],
	       f.ac[1]);
	for (int b = 3; b <= 7; b++)
		CHECKF(f.ac[b] == -1, "bit %d absent (never)", b);
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x0107, 16, 0, "7F FF 00 12 24 40 B4 00"));
	SELECT_MF(t);
	f = select_fcp(t, 0x9000, "00 A4 00 04 02 0107 00");
	static const int want[8] = {-1, 0x00, 0xB4, 0x40, 0x24, 0x12, 0x00,
				    0xFF};
	for (int b = 1; b <= 7; b++)
		CHECKF(f.ac[b] == want[b], "bit %d: %02X, got %d", b, want[b],
		       f.ac[b]);

	/* cos_walk reports the same. */
	cos_file_info_t fi;
	CHECK(ct_file(t, 0x0107, &fi));
	for (int b = 1; b <= 7; b++)
		CHECKF(fi.ac[b - 1] == (want[b] & 0xFF),
		       "cos_walk ac[%d] = %02X, expected %02X", b - 1,
		       fi.ac[b - 1], want[b]);
	CHECK(ct_file(t, 0x0101, &fi) && fi.sfi == 1 && fi.size == 32 &&
	      fi.type == COS_FT_EF_TRANSPARENT);
	CHECK(ct_file(t, 0x0102, &fi) && fi.sfi == 2 && fi.size == 8 &&
	      fi.max_records == 5 && fi.type == COS_FT_EF_LINEAR_FIXED);
	CHECK(ct_file(t, 0x0103, &fi) && fi.type == COS_FT_EF_LINEAR_VARIABLE);
	CHECK(ct_file(t, 0x0104, &fi) && fi.type == COS_FT_EF_CYCLIC);
}

/* ------------------------------------------------------ data units */

static void fill_0101(tchip_t *t, uint8_t *img)
{
	for (int i = 0; i < 32; i++)
		img[i] = (uint8_t)(0xC0 + i);
	SELECT_MF(t);
	REQUIRE_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	REQUIRE_SW(t, 0x9000, "00 D6 00 00 20 %s", H(img, 32));
}

static void test_read_binary(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	uint8_t img[32];
	fill_0101(t, img);

	EXPECT_SW(t, 0x9000, "00 B0 00 00 20");
	EXPECT_DATA_B(t, img, 32);
	EXPECT_SW(t, 0x9000, "00 B0 00 0A 0A");
	EXPECT_DATA_B(t, img + 10, 10);
	EXPECT_SW(t, 0x9000, "00 B0 00 1F 01");
	EXPECT_DATA_B(t, img + 31, 1);
	/* Past the end: shorter data and 6282. */
	EXPECT_SW(t, 0x6282, "00 B0 00 1C 0A");
	EXPECT_DATA_B(t, img + 28, 4);
	/* Le 00 = 256 > 32 (the data sheet: shorter data and 6282). */
	EXPECT_SW(t, 0x6282, "00 B0 00 00 00");
	EXPECT_DATA_B(t, img, 32);
	/* Offset outside the file. */
	EXPECT_SW(t, 0x6B00, "00 B0 00 21 01");
	EXPECT_SW(t, 0x6B00, "00 B0 00 80 01");
	EXPECT_SW(t, 0x6B00, "00 B0 7F FF 01");

	/* 15-bit offsets on a 600-byte file. */
	uint8_t big[600];
	for (int i = 0; i < 600; i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0105");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 C8 %s", H(big, 200));
	EXPECT_SW(t, 0x9000, "00 D6 00 C8 C8 %s", H(big + 200, 200));
	EXPECT_SW(t, 0x9000, "00 D6 01 90 C8 %s", H(big + 400, 200));
	EXPECT_SW(t, 0x9000, "00 B0 01 50 20");
	EXPECT_DATA_B(t, big + 0x150, 32);
	EXPECT_SW(t, 0x9000, "00 B0 02 48 10");
	EXPECT_DATA_B(t, big + 0x248, 16);
	EXPECT_SW(t, 0x6282, "00 B0 02 50 10");
	EXPECT_DATA_B(t, big + 0x250, 8);
	EXPECT_SW(t, 0x6B00, "00 B0 02 60 01");

	/* SFI: P1 b8 set, SFI in b5-b1, offset in P2. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 B0 81 00 20");
	EXPECT_DATA_B(t, img, 32);
	EXPECT_SW(t, 0x9000, "00 B0 81 10 04");
	EXPECT_DATA_B(t, img + 16, 4);
	EXPECT_SW(t, 0x6B00, "00 B0 81 40 01");
	/* The SFI is looked up in the current DF only. */
	SELECT_PATH(t, 0x9000, "1000 1001");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 04 0A0B0C0D");
	SELECT_PATH(t, 0x9000, "1000");
	EXPECT_SW(t, 0x9000, "00 B0 81 00 04");
	EXPECT_DATA(t, "0A0B0C0D");
	/* ISO/IEC 7816-4 7.2.1: the EF referenced by an SFI becomes current. */
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "0A0B0C0D");
	/* Unknown SFI. */
	EXPECT_SW(t, 0x6A82, "00 B0 9E 00 01");
	SELECT_MF(t);
	EXPECT_SW(t, 0x6A82, "00 B0 85 00 01");

	/* Not a transparent EF: 6981. No current EF: 6986. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	EXPECT_SW(t, 0x6981, "00 B0 00 00 01");
	EXPECT_SW(t, 0x6981, "00 B0 82 00 01");
	SELECT_PATH(t, 0x9000, "2000");
	EXPECT_SW(t, 0x6986, "00 B0 00 00 01");
}

static void test_update_binary(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	uint8_t img[32];
	fill_0101(t, img);

	/* Beyond the end: 6A84, and nothing written. */
	EXPECT_SW(t, 0x6A84, "00 D6 00 1E 04 11223344");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 20");
	EXPECT_DATA_B(t, img, 32);
	/* Up to the last byte. */
	EXPECT_SW(t, 0x9000, "00 D6 00 1C 04 11223344");
	memcpy(img + 28, "\x11\x22\x33\x44", 4);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 20");
	EXPECT_DATA_B(t, img, 32);
	/* With an SFI. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 D6 81 04 02 ABCD");
	img[4] = 0xAB;
	img[5] = 0xCD;
	EXPECT_SW(t, 0x9000, "00 B0 81 00 20");
	EXPECT_DATA_B(t, img, 32);
	EXPECT_SW(t, 0x6A84, "00 D6 81 1F 02 ABCD");
	/* Not transparent; no current EF. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0104");
	EXPECT_SW(t, 0x6981, "00 D6 00 00 01 00");
	SELECT_PATH(t, 0x9000, "1000 1100");
	EXPECT_SW(t, 0x6986, "00 D6 00 00 01 00");
	/* No data. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6700, "00 D6 00 00");
}

static void test_erase_binary(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	uint8_t img[32];
	fill_0101(t, img);

	/* From offset 20 to the end. */
	EXPECT_SW(t, 0x9000, "00 0E 00 14");
	memset(img + 20, 0, 12);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 20");
	EXPECT_DATA_B(t, img, 32);
	/* From 4 to the end offset 8: ISO/IEC 7816-4 7.2.7 says the data
	 * field is the offset of the first data unit NOT erased. */
	EXPECT_SW(t, 0x9000, "00 0E 00 04 02 0008");
	memset(img + 4, 0, 4);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 20");
	EXPECT_DATA_B(t, img, 32);
	/* With an SFI: the whole file. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 0E 81 00");
	memset(img, 0, 32);
	EXPECT_SW(t, 0x9000, "00 B0 81 00 20");
	EXPECT_DATA_B(t, img, 32);
	/* Offset outside. */
	EXPECT_SW(t, 0x6B00, "00 0E 00 40");
	/* Not transparent. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	EXPECT_SW(t, 0x6981, "00 0E 00 00");
}

/* ---------------------------------------------------------- records */

/* Records of 8 bytes used by the linear fixed tests. */
static const char *const fixed_rec[5] = {
	"01AABB0100000000", "02AABB02CCDD0000", "0300000003CCDD00",
	"04AABB0400000000", "0500000005CCDD00",
};

static void append_fixed(tchip_t *t)
{
	SELECT_MF(t);
	REQUIRE_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	for (int i = 0; i < 5; i++)
		REQUIRE_SW(t, 0x9000, "00 E2 00 00 08 %s", fixed_rec[i]);
}

static void test_records_fixed(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	append_fixed(t);
	/* Full. */
	EXPECT_SW(t, 0x6A84, "00 E2 00 00 08 0606060606060606");
	/* Length must be the record length. */
	EXPECT_SW(t, 0x6700, "00 E2 00 00 07 06060606060606");

	for (int i = 0; i < 5; i++) {
		EXPECT_SW(t, 0x9000, "00 B2 %02X 04 08", i + 1);
		EXPECT_DATA(t, "%s", fixed_rec[i]);
	}
	EXPECT_SW(t, 0x6A83, "00 B2 06 04 08");

	/* UPDATE RECORD. */
	EXPECT_SW(t, 0x9000, "00 DC 03 04 08 3333333333333333");
	EXPECT_SW(t, 0x9000, "00 B2 03 04 08");
	EXPECT_DATA(t, "3333333333333333");
	EXPECT_SW(t, 0x6700, "00 DC 03 04 07 33333333333333");
	EXPECT_SW(t, 0x6700, "00 DC 03 04 09 333333333333333333");
	EXPECT_SW(t, 0x6A83, "00 DC 06 04 08 3333333333333333");
	EXPECT_SW(t, 0x9000, "00 DC 03 04 08 %s", fixed_rec[2]);

	/* With the SFI (2): P2 = SFI << 3 | mode. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 B2 02 14 08");
	EXPECT_DATA(t, "%s", fixed_rec[1]);
	EXPECT_SW(t, 0x9000, "00 DC 02 14 08 2222222222222222");
	EXPECT_SW(t, 0x9000, "00 B2 02 14 08");
	EXPECT_DATA(t, "2222222222222222");
	EXPECT_SW(t, 0x9000, "00 DC 02 14 08 %s", fixed_rec[1]);

	/* Relative modes with P1 00: first, next, previous, last,
	 * current. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	EXPECT_SW(t, 0x9000, "00 B2 00 00 08");
	EXPECT_DATA(t, "%s", fixed_rec[0]);
	EXPECT_SW(t, 0x9000, "00 B2 00 02 08");
	EXPECT_DATA(t, "%s", fixed_rec[1]);
	EXPECT_SW(t, 0x9000, "00 B2 00 02 08");
	EXPECT_DATA(t, "%s", fixed_rec[2]);
	EXPECT_SW(t, 0x9000, "00 B2 00 03 08");
	EXPECT_DATA(t, "%s", fixed_rec[1]);
	EXPECT_SW(t, 0x9000, "00 B2 00 04 08");
	EXPECT_DATA(t, "%s", fixed_rec[1]);
	/* UPDATE RECORD P1 00: the current record. */
	EXPECT_SW(t, 0x9000, "00 DC 00 04 08 2323232323232323");
	EXPECT_SW(t, 0x9000, "00 B2 02 04 08");
	EXPECT_DATA(t, "2323232323232323");
	EXPECT_SW(t, 0x9000, "00 DC 02 04 08 %s", fixed_rec[1]);
	EXPECT_SW(t, 0x9000, "00 B2 00 01 08");
	EXPECT_DATA(t, "%s", fixed_rec[4]);
	EXPECT_SW(t, 0x6A83, "00 B2 00 02 08");
	EXPECT_SW(t, 0x9000, "00 B2 00 00 08");
	EXPECT_SW(t, 0x6A83, "00 B2 00 03 08");

	/* P1 to last, and last to P1. ISO/IEC 7816-4 lets a card return
	 * several non-TLV records either concatenated or each in a '04'
	 * object; the data sheet does not say: both are accepted. Le 00
	 * (256) is more than the records hold; the data sheet's 6282
	 * applies to READ BINARY, so 9000 and 6282 are both accepted. */
	uint8_t cat[3 * 8], tag[3 * 10];
	for (int k = 0; k < 2; k++) {
		const int *order = k == 0 ? (const int[]){2, 3, 4}
					  : (const int[]){4, 3, 2};
		for (int i = 0; i < 3; i++) {
			ct_hex(fixed_rec[order[i]], cat + 8 * i, 8);
			tag[10 * i] = 0x04;
			tag[10 * i + 1] = 0x08;
			ct_hex(fixed_rec[order[i]], tag + 10 * i + 2, 8);
		}
		EXPECT_SW2(t, 0x9000, 0x6282, "00 B2 03 %s 00",
			   k == 0 ? "05" : "06");
		int ok = (t->rlen == sizeof cat &&
			  memcmp(t->resp, cat, sizeof cat) == 0) ||
			 (t->rlen == sizeof tag &&
			  memcmp(t->resp, tag, sizeof tag) == 0);
		CHECKF(ok, "READ RECORD P1 3 mode %s: records %s", k ? "06" : "05",
		       k ? "5, 4, 3" : "3, 4, 5");
		if (!ok)
			ct_dump("got", t->resp, t->rlen);
	}
	/* Not a record file. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6981, "00 B2 01 04 08");
	EXPECT_SW(t, 0x6981, "00 DC 01 04 01 00");
	EXPECT_SW(t, 0x6981, "00 E2 00 00 01 00");
}

static void test_records_variable(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0103");
	/* Empty at creation. */
	EXPECT_SW(t, 0x6A83, "00 B2 01 04 00");
	EXPECT_SW(t, 0x9000, "00 E2 00 00 01 A1");
	EXPECT_SW(t, 0x9000,
		  "00 E2 00 00 14 0102030405060708090A0B0C0D0E0F1011121314");
	EXPECT_SW(t, 0x6700,
		  "00 E2 00 00 15 0102030405060708090A0B0C0D0E0F101112131415");
	EXPECT_SW(t, 0x9000, "00 B2 01 04 01");
	EXPECT_DATA(t, "A1");
	EXPECT_SW2(t, 0x9000, 0x6282, "00 B2 01 04 00");
	EXPECT_DATA(t, "A1");
	EXPECT_SW(t, 0x9000, "00 B2 02 04 14");
	EXPECT_DATA(t, "0102030405060708090A0B0C0D0E0F1011121314");
	EXPECT_SW(t, 0x6A83, "00 B2 03 04 00");
	/* A variable record may change length. */
	EXPECT_SW(t, 0x9000, "00 DC 01 04 05 B1B2B3B4B5");
	EXPECT_SW(t, 0x9000, "00 B2 01 04 05");
	EXPECT_DATA(t, "B1B2B3B4B5");
	EXPECT_SW(t, 0x9000, "00 DC 02 04 02 C1C2");
	EXPECT_SW(t, 0x9000, "00 B2 02 04 02");
	EXPECT_DATA(t, "C1C2");
	EXPECT_SW(t, 0x6700,
		  "00 DC 02 04 15 0102030405060708090A0B0C0D0E0F101112131415");
	/* With SFI 3 (P2 1C). */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 B2 01 1C 05");
	EXPECT_DATA(t, "B1B2B3B4B5");
	EXPECT_SW(t, 0x9000, "00 E2 00 18 03 D1D2D3");
	EXPECT_SW(t, 0x9000, "00 B2 03 1C 03");
	EXPECT_DATA(t, "D1D2D3");
	/* Up to 5, then full. */
	EXPECT_SW(t, 0x9000, "00 E2 00 18 01 E1");
	EXPECT_SW(t, 0x9000, "00 E2 00 18 01 E2");
	EXPECT_SW(t, 0x6A84, "00 E2 00 18 01 E3");
	EXPECT_SW(t, 0x9000, "00 B2 05 1C 01");
	EXPECT_DATA(t, "E2");
}

static void test_records_cyclic(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0104");
	EXPECT_SW(t, 0x9000, "00 E2 00 00 04 AAAAAAAA");
	EXPECT_SW(t, 0x9000, "00 B2 01 04 04");
	EXPECT_DATA(t, "AAAAAAAA");
	EXPECT_SW(t, 0x9000, "00 E2 00 00 04 BBBBBBBB");
	EXPECT_SW(t, 0x9000, "00 E2 00 00 04 CCCCCCCC");
	/* Record 1 is the most recent. */
	EXPECT_SW(t, 0x9000, "00 B2 01 04 04");
	EXPECT_DATA(t, "CCCCCCCC");
	EXPECT_SW(t, 0x9000, "00 B2 02 04 04");
	EXPECT_DATA(t, "BBBBBBBB");
	EXPECT_SW(t, 0x9000, "00 B2 03 04 04");
	EXPECT_DATA(t, "AAAAAAAA");
	/* Full: APPEND overwrites the oldest. */
	EXPECT_SW(t, 0x9000, "00 E2 00 00 04 DDDDDDDD");
	EXPECT_SW(t, 0x9000, "00 B2 01 04 04");
	EXPECT_DATA(t, "DDDDDDDD");
	EXPECT_SW(t, 0x9000, "00 B2 02 04 04");
	EXPECT_DATA(t, "CCCCCCCC");
	EXPECT_SW(t, 0x9000, "00 B2 03 04 04");
	EXPECT_DATA(t, "BBBBBBBB");
	EXPECT_SW(t, 0x6A83, "00 B2 04 04 04");
	/* Many turns. */
	for (int i = 0; i < 7; i++)
		EXPECT_SW(t, 0x9000, "00 E2 00 00 04 %02X%02X%02X%02X", i, i,
			  i, i);
	EXPECT_SW(t, 0x9000, "00 B2 01 04 04");
	EXPECT_DATA(t, "06060606");
	EXPECT_SW(t, 0x9000, "00 B2 03 04 04");
	EXPECT_DATA(t, "04040404");
	/* First / last. */
	EXPECT_SW(t, 0x9000, "00 B2 00 00 04");
	EXPECT_DATA(t, "06060606");
	EXPECT_SW(t, 0x9000, "00 B2 00 01 04");
	EXPECT_DATA(t, "04040404");
	/* Fixed length. */
	EXPECT_SW(t, 0x6700, "00 E2 00 00 03 010203");
	EXPECT_SW(t, 0x6700, "00 DC 01 04 05 0102030405");
	EXPECT_SW(t, 0x9000, "00 DC 02 04 04 0F0F0F0F");
	EXPECT_SW(t, 0x9000, "00 B2 02 04 04");
	EXPECT_DATA(t, "0F0F0F0F");
	/* SFI 4 (P2 20 | mode). */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E2 00 20 04 77777777");
	EXPECT_SW(t, 0x9000, "00 B2 01 24 04");
	EXPECT_DATA(t, "77777777");
}

static void test_search_record(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	append_fixed(t);
	/* Forward from P1. */
	EXPECT_SW(t, 0x9000, "00 A2 01 04 02 AABB 00");
	EXPECT_DATA(t, "010204");
	EXPECT_SW(t, 0x9000, "00 A2 02 04 02 AABB 00");
	EXPECT_DATA(t, "0204");
	EXPECT_SW(t, 0x9000, "00 A2 01 04 02 CCDD 00");
	EXPECT_DATA(t, "020305");
	/* Backward from P1. */
	EXPECT_SW(t, 0x9000, "00 A2 05 05 02 AABB 00");
	EXPECT_DATA(t, "040201");
	EXPECT_SW(t, 0x9000, "00 A2 03 05 02 AABB 00");
	EXPECT_DATA(t, "0201");
	/* Anywhere in the record, a single byte. */
	EXPECT_SW(t, 0x9000, "00 A2 01 04 01 05 00");
	EXPECT_DATA(t, "05");
	/* None. */
	EXPECT_SW(t, 0x6A83, "00 A2 01 04 02 EEEE");
	EXPECT_SW(t, 0x6A83, "00 A2 05 04 02 AABB");
	/* With the SFI (2). */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A2 01 14 02 AABB 00");
	EXPECT_DATA(t, "010204");
	/* Not a record file. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6981, "00 A2 01 04 01 00");
}

/* --------------------------------------------------- CREATE / DELETE */

static void test_create_errors(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	/* 6A89: FID already in the DF. */
	SELECT_MF(t);
	CREATE(t, 0x6A89, CT_EF(0x0101, 8, 0, NULL));
	SELECT_MF(t);
	CREATE(t, 0x6A89, CT_DF(0x1000, "A0000000019999", NULL));
	SELECT_MF(t);
	CREATE(t, 0x6A89, CT_EF(0x1000, 8, 0, NULL));
	SELECT_PATH(t, 0x9000, "1000");
	CREATE(t, 0x6A89, CT_EF(0x1001, 8, 0, NULL));
	/* 6A8A: DF name already on the card (ISO/IEC 7816-4 5.1.1: a DF name
	 * is unique within the card), also in another DF, also the MF's. */
	SELECT_MF(t);
	CREATE(t, 0x6A8A, CT_DF(0x3000, AID_1000, NULL));
	SELECT_PATH(t, 0x9000, "2000");
	CREATE(t, 0x6A8A, CT_DF(0x3001, AID_1100, NULL));
	SELECT_MF(t);
	CREATE(t, 0x6A8A, CT_DF(0x3002, CT_ISD_AID, NULL));
	/* 6A80: malformed FCPs. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 0D 6F 0B 82 01 01 83 02 3003 80 02 0010");
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 09 62 07 83 02 3003 80 01 10");
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 0D 62 0B 82 01 03 83 02 3003 80 02 0010");
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 0D 62 0B 82 01 07 83 02 3003 80 02 0010");
	CREATE(t, 0x6A80, CT_REC(0x02, 0x3004, 8, 0, 0, NULL));
	CREATE(t, 0x6A80, CT_REC(0x02, 0x3004, 0, 4, 0, NULL));
	CREATE(t, 0x6A80, CT_REC(0x06, 0x3004, 8, 255, 0, NULL));
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 0D 62 0B 82 05 02 21 0100 04 83 02 3004");
	EXPECT_SW(t, 0x6A80,
		  "00 E0 00 00 1C 62 1A 82 01 38 83 02 3005 84 11 "
		  "A000000001020304050607080910111213");
	/* SFI 31 does not exist (1 to 30). */
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 0F 62 0D 82 01 01 83 02 3006 80 01 08 88 01 F8");
	/* Truncated TLV. */
	EXPECT_SW(t, 0x6A80, "00 E0 00 00 08 62 0A 82 01 01 83 02 30");
	/* P1-P2 other than 0000. */
	EXPECT_SW(t, 0x6A86, "00 E0 01 00 0D 62 0B 82 01 01 83 02 3007 80 02 0010");
	/* The limits themselves are fine: 254 records, 255 bytes a record. */
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_REC(0x04, 0x3030, 1, 254, 0, NULL));
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_REC(0x02, 0x3031, 255, 1, 0, NULL));
	EXPECT_SW(t, 0x9000, "00 E2 00 00 FF %0510d", 0);
	EXPECT_SW(t, 0x6A84, "00 E2 00 00 FF %0510d", 0);
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 3030");
	for (int i = 0; i < 254; i++)
		if (xferf(t, "00 E2 00 00 01 %02X", i) != 0x9000) {
			CHECKF(0, "APPEND record %d of 254: %04X", i + 1, t->sw);
			break;
		}
	EXPECT_SW(t, 0x6A84, "00 E2 00 00 01 FF");
	EXPECT_SW(t, 0x9000, "00 B2 FE 04 01");
	EXPECT_DATA(t, "FD");
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 3030");
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 3031");
	/* None of these created anything. */
	for (uint16_t fid = 0x3000; fid <= 0x3007; fid++)
		CHECKF(!ct_file(t, fid, NULL), "%04X not created", fid);
	CHECK_IMAGE(t);

	/* The new file becomes current: an EF ... */
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_EF(0x3010, 8, 0, NULL));
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 5A5A");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	EXPECT_DATA(t, "5A5A");
	/* ... and a DF, in which the next file is created. */
	SELECT_MF(t);
	REQUIRE_CREATE(t, CT_DF(0x3020, "A0000000013020", NULL));
	REQUIRE_CREATE(t, CT_EF(0x3021, 8, 0, NULL));
	SELECT_PATH(t, 0x9000, "3020 3021");
	cos_file_info_t fi;
	CHECK(ct_file(t, 0x3021, &fi) && fi.depth == 2);
}

static void test_delete(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	cos_info_t before = tc_info(t);
	long free0 = ct_chipdata_u(t, 0x85);

	/* An EF by FID. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 0101");
	EXPECT_SW(t, 0x6A82, "00 A4 00 0C 02 0101");
	CHECK(!ct_file(t, 0x0101, NULL));
	/* A DF with everything under it (1000, 1001, 1100, 1101). */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 1000");
	SELECT_PATH(t, 0x6A82, "1000");
	SELECT_PATH(t, 0x6A82, "1000 1100 1101");
	EXPECT_SW(t, 0x6A82, "00 A4 04 0C 07 %s", AID_1100);
	for (uint16_t fid = 0x1000; fid <= 0x1101; fid++)
		CHECKF(!ct_file(t, fid, NULL), "%04X gone", fid);
	cos_info_t after = tc_info(t);
	CHECKF(after.files_used + 5 == before.files_used,
	       "5 table slots freed: %u -> %u", before.files_used,
	       after.files_used);
	long free1 = ct_chipdata_u(t, 0x85);
	CHECKF(free1 >= free0 + 32 + 64 + 8, "bodies freed: %ld -> %ld",
	       free0, free1);
	/* The current file, with no data. */
	SELECT_PATH(t, 0x9000, "2000 2001");
	EXPECT_SW(t, 0x9000, "00 E4 00 00");
	SELECT_PATH(t, 0x6A82, "2000 2001");
	/* Unknown. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x6A82, "00 E4 00 00 02 7777");
	/* The FID and the name can be used again. */
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_DF(0x1000, AID_1100, NULL));
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_EF(0x0101, 32, 1, NULL));
	CHECK_IMAGE(t);
}

/* Fills the file table, then the body area, of a chip model until 6A84;
 * deletes and creates again. */
static void fill_model(const char *model)
{
	tchip_t *t = tc_new(model, 21);
	tc_to_state(t, COS_LC_INITIALIZATION, NULL);
	const cos_model_t *m = t->model;
	cos_info_t i = tc_info(t);

	CHECKF(i.files_max == m->max_files, "files_max %u", i.files_max);
	CHECKF(i.files_used == 1, "only the MF: %u", i.files_used);
	/* The data sheet: system area 256, journal 1,536, 48 bytes an object
	 * and a file; the rest holds file bodies. */
	uint32_t rest = m->nvm_size - 256 - 1536 - 48u * m->max_objects -
			48u * m->max_files;
	CHECKF(i.fs_capacity == rest, "%s: body capacity %u, expected %u",
	       model, i.fs_capacity, rest);
	long free0 = ct_chipdata_u(t, 0x85);
	CHECKF(free0 == (long)(i.fs_capacity - i.fs_used),
	       "DF30 85 (%ld) = capacity - used (%u)", free0,
	       i.fs_capacity - i.fs_used);

	/* The file table. */
	unsigned n = i.files_max - i.files_used, made = 0;
	for (unsigned k = 0; k < n; k++) {
		SELECT_MF(t);
		uint16_t sw = xfer(t, ct_create_apdu(&CT_EF(
					      (uint16_t)(0x2000 + k), 16, 0,
					      NULL)),
				   NULL, NULL);
		if (sw != 0x9000) {
			CHECKF(0, "%s: file %u of %u: SW %04X", model, k + 1,
			       n, sw);
			break;
		}
		made++;
	}
	SELECT_MF(t);
	CREATE(t, 0x6A84, CT_EF(0x2F00, 16, 0, NULL));
	SELECT_MF(t);
	CREATE(t, 0x6A84, CT_DF(0x2F01, NULL, NULL));
	i = tc_info(t);
	CHECKF(i.files_used == i.files_max, "table full: %u of %u",
	       i.files_used, i.files_max);
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 2005");
	CREATE(t, 0x9000, CT_EF(0x2F00, 16, 0, NULL));
	SELECT_MF(t);
	CREATE(t, 0x6A84, CT_EF(0x2F01, 16, 0, NULL));
	CHECK_IMAGE(t);
	/* Empty it again. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 2F00");
	for (unsigned k = 0; k < made; k++) {
		if (k == 5)
			continue;
		SELECT_MF(t);
		if (xferf(t, "00 E4 00 00 02 %04X", 0x2000 + k) != 0x9000) {
			CHECKF(0, "delete %04X: %04X", 0x2000 + k, t->sw);
			break;
		}
	}
	i = tc_info(t);
	CHECKF(i.files_used == 1, "back to the MF alone: %u", i.files_used);
	CHECKF(ct_chipdata_u(t, 0x85) == free0, "free bytes back to %ld",
	       free0);

	/* The body area: files of at most 30,000 bytes (offsets are 15
	 * bits) until nothing is left. */
	uint16_t fid = 0x4000;
	long left = free0;
	while (left > 0) {
		uint16_t sz = (uint16_t)(left > 30000 ? 30000 : left);
		SELECT_MF(t);
		uint16_t sw = xfer(t, ct_create_apdu(&CT_EF(fid, sz, 0, NULL)),
				   NULL, NULL);
		if (sw != 0x9000) {
			CHECKF(0, "%s: EF of %u bytes with %ld free: SW %04X",
			       model, sz, left, sw);
			break;
		}
		long now = ct_chipdata_u(t, 0x85);
		CHECKF(now == left - sz, "free %ld -> %ld after %u bytes", left,
		       now, sz);
		left = now;
		fid++;
	}
	SELECT_MF(t);
	CREATE(t, 0x6A84, CT_EF(0x4FFF, 1, 0, NULL));
	CREATE(t, 0x6A84, CT_REC(0x02, 0x4FFE, 1, 1, 0, NULL));
	/* Delete the last one and create it again. */
	uint16_t last = (uint16_t)(fid - 1);
	cos_file_info_t fi;
	CHECK(ct_file(t, last, &fi));
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 %04X", last);
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_EF(last, fi.size, 0, NULL));
	SELECT_MF(t);
	CREATE(t, 0x6A84, CT_EF(0x4FFF, 1, 0, NULL));
	CHECK_IMAGE(t);

	/* Holes: empty the card, make four files, free the 1st and 3rd: a
	 * file of a hole's size fits. */
	for (uint16_t f2 = 0x4000; f2 < fid; f2++) {
		SELECT_MF(t);
		EXPECT_SW(t, 0x9000, "00 E4 00 00 02 %04X", f2);
	}
	long q = free0 / 4;
	if (q > 30000)
		q = 30000;
	for (uint16_t f2 = 0x5000; f2 < 0x5004; f2++) {
		SELECT_MF(t);
		CREATE(t, 0x9000, CT_EF(f2, (uint16_t)q, 0, NULL));
	}
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 5000");
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E4 00 00 02 5002");
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_EF(0x5010, (uint16_t)q, 0, NULL));
	SELECT_MF(t);
	CREATE(t, 0x9000, CT_EF(0x5011, (uint16_t)q, 0, NULL));
	CHECK_IMAGE(t);
	/* The content survives all that. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 5001");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 04 01020304");
	tc_power_cycle(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 5001");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 04");
	EXPECT_DATA(t, "01020304");
}

static void test_fill_cf32(void **state)
{
	(void)state;
	fill_model("cf32");
}

static void test_fill_cf64(void **state)
{
	(void)state;
	fill_model("cf64");
}

/* ------------------------------------------- ACTIVATE / DEACTIVATE ... */

static uint8_t lcs_of(tchip_t *t, uint16_t fid)
{
	cos_file_info_t fi;
	if (!ct_file(t, fid, &fi))
		return 0xEE;
	return fi.lcs;
}

static void test_deactivate_activate_ef(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 D6 00 00 02 1234");
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 04 00 00 02 0101");
	CHECKF(lcs_of(t, 0x0101) == 0x04, "LCS 04, got %02X",
	       lcs_of(t, 0x0101));
	/* Selecting it: 6283, and it is selected. */
	EXPECT_SW(t, 0x6283, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6985, "00 B0 00 00 02");
	EXPECT_SW(t, 0x6985, "00 D6 00 00 02 0000");
	EXPECT_SW(t, 0x6985, "00 0E 00 00");
	/* With the FCP: if data comes with the warning, 8A says 04. */
	EXPECT_SW(t, 0x6283, "00 A4 00 04 02 0101 00");
	if (t->rlen) {
		fcp_t f = parse_fcp(t->resp, t->rlen, 0x62);
		CHECK(f.has8A && f.lcs == 0x04);
	}
	/* Through its SFI too. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x6985, "00 B0 81 00 02");
	/* ACTIVATE by FID. */
	EXPECT_SW(t, 0x9000, "00 44 00 00 02 0101");
	CHECKF(lcs_of(t, 0x0101) == 0x05, "LCS 05, got %02X",
	       lcs_of(t, 0x0101));
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	EXPECT_DATA(t, "1234");
	/* Without data: the current file. */
	EXPECT_SW(t, 0x9000, "00 04 00 00");
	CHECK(lcs_of(t, 0x0101) == 0x04);
	EXPECT_SW(t, 0x6985, "00 B0 00 00 02");
	EXPECT_SW(t, 0x9000, "00 44 00 00");
	CHECK(lcs_of(t, 0x0101) == 0x05);
	EXPECT_SW(t, 0x9000, "00 B0 00 00 02");
	/* Record files. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 04 00 00 02 0103");
	EXPECT_SW(t, 0x6283, "00 A4 00 0C 02 0103");
	EXPECT_SW(t, 0x6985, "00 E2 00 00 01 00");
	EXPECT_SW(t, 0x6985, "00 B2 01 04 00");
	/* It survives a power cycle. */
	tc_power_cycle(t);
	CHECK(lcs_of(t, 0x0103) == 0x04);
	EXPECT_SW(t, 0x6283, "00 A4 00 0C 02 0103");
	/* Unknown FID. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x6A82, "00 04 00 00 02 7777");
	EXPECT_SW(t, 0x6A82, "00 44 00 00 02 7777");
}

static void test_deactivate_df(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 04 00 00 02 2000");
	CHECK(lcs_of(t, 0x2000) == 0x04);
	EXPECT_SW(t, 0x6283, "00 A4 00 0C 02 2000");
	EXPECT_SW(t, 0x6283, "00 A4 04 0C 07 %s", AID_2000);
	/* Creating in it. */
	CREATE(t, 0x6985, CT_EF(0x2002, 8, 0, NULL));
	CHECK(!ct_file(t, 0x2002, NULL));
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 44 00 00 02 2000");
	CHECK(lcs_of(t, 0x2000) == 0x05);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 2000");
	CREATE(t, 0x9000, CT_EF(0x2002, 8, 0, NULL));
}

static void test_terminate_ef(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E8 00 00 02 0101");
	CHECKF(lcs_of(t, 0x0101) == 0x0C, "LCS 0C, got %02X",
	       lcs_of(t, 0x0101));
	EXPECT_SW(t, 0x6285, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6985, "00 B0 00 00 02");
	EXPECT_SW(t, 0x6985, "00 D6 00 00 01 00");
	/* For good. */
	EXPECT_SW(t, 0x6985, "00 44 00 00");
	SELECT_MF(t);
	EXPECT_SW(t, 0x6985, "00 44 00 00 02 0101");
	EXPECT_SW(t, 0x6985, "00 04 00 00 02 0101");
	CHECK(lcs_of(t, 0x0101) == 0x0C);
	tc_power_cycle(t);
	EXPECT_SW(t, 0x6285, "00 A4 00 0C 02 0101");
	CHECK(lcs_of(t, 0x0101) == 0x0C);
	/* The current file with no data. */
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0102");
	EXPECT_SW(t, 0x9000, "00 E8 00 00");
	EXPECT_SW(t, 0x6285, "00 A4 00 0C 02 0102");
}

static void test_terminate_df(void **state)
{
	(void)state;
	tchip_t *t = fs_chip();
	SELECT_MF(t);
	EXPECT_SW(t, 0x9000, "00 E6 00 00 02 2000");
	CHECK(lcs_of(t, 0x2000) == 0x0C);
	EXPECT_SW(t, 0x6285, "00 A4 00 0C 02 2000");
	CREATE(t, 0x6985, CT_EF(0x2002, 8, 0, NULL));
	EXPECT_SW(t, 0x6985, "00 44 00 00");
	SELECT_MF(t);
	EXPECT_SW(t, 0x6985, "00 44 00 00 02 2000");
	CHECK(lcs_of(t, 0x2000) == 0x0C);
	/* Another DF is untouched. */
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 1000");
	CHECK(lcs_of(t, 0x1000) != 0x0C && lcs_of(t, 0x1000) != 0x04);
	/* Current DF, no data. */
	EXPECT_SW(t, 0x9000, "00 E6 00 00");
	CHECK(lcs_of(t, 0x1000) == 0x0C);
	EXPECT_SW(t, 0x6285, "00 A4 04 0C 07 %s", AID_1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_select_mf),
		CT_TEST(test_select_fid_scope),
		CT_TEST(test_select_p1_variants),
		CT_TEST(test_select_df_name),
		CT_TEST(test_select_p2),
		CT_TEST(test_fcp_contents),
		CT_TEST(test_read_binary),
		CT_TEST(test_update_binary),
		CT_TEST(test_erase_binary),
		CT_TEST(test_records_fixed),
		CT_TEST(test_records_variable),
		CT_TEST(test_records_cyclic),
		CT_TEST(test_search_record),
		CT_TEST(test_create_errors),
		CT_TEST(test_delete),
		CT_TEST(test_fill_cf32),
		CT_TEST(test_fill_cf64),
		CT_TEST(test_deactivate_activate_ef),
		CT_TEST(test_deactivate_df),
		CT_TEST(test_terminate_ef),
		CT_TEST(test_terminate_df),
	};
	int rc = cmocka_run_group_tests_name("cos_fs", tests, NULL, NULL);
	ct_summary("test_cos_fs");
	return rc;
}
