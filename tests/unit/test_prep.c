/*
 * test_prep.c - data preparation's reader and field checks (src/perso/
 * prep.c), without a token: every field type and its limits, table by
 * table, and holder files read against the campus example profile (line
 * numbers with CR LF, lone CR and quoted line breaks; unique values;
 * header errors; a reason never quotes the value). The batch writer and
 * its encryption are tested with a real token by test_prep_cli.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "perso/prep.h"

static profile_t *campus;

static int setup(void **state)
{
	char path[4096];
	const char *src = getenv("CARDFAB_SOURCE_DIR");
	profile_diags_t d;

	(void)state;
	snprintf(path, sizeof path, "%s/profiles/campus.yaml",
		 src ? src : "../../..");
	profile_diags_init(&d);
	if (profile_open(path, &campus, &d) != PROFILE_OK) {
		profile_diags_print(stderr, &d);
		profile_diags_free(&d);
		return -1;
	}
	profile_diags_free(&d);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	profile_free(campus);
	return 0;
}

typedef struct {
	profile_field_type_t type;
	profile_encoding_t enc;
	unsigned min, max;
	const char *value;
	int ok;
	const char *why; /* a part of the reason, NULL: any */
} case_t;

static const case_t cases[] = {
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 0, 5, "héllo", 0, "6 bytes" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 0, 6, "héllo", 1, NULL },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_LATIN1, 0, 5, "héllo", 1, NULL },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_LATIN1, 0, 5, "h€", 0, "Latin-1" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 0, 9, "a\xC3(", 0, "UTF-8" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 0, 9, "\xC0\xAF", 0, "UTF-8" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 0, 9, "\xED\xA0\x80", 0,
	  "UTF-8" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 0, 9, "a\tb", 0,
	  "character 2: a control character" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_ASCII, 0, 9, "ok ~!", 1, NULL },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_ASCII, 0, 9, "é", 0, "character 1" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_ALNUM, 0, 9, "Ab 09", 1, NULL },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_ALNUM, 0, 9, "A-b", 0,
	  "character 2" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UPPER, 0, 20, "O'NEIL-SMITH", 1,
	  NULL },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UPPER, 0, 20, "ONeil", 0,
	  "character 3" },
	{ PROFILE_FIELD_TEXT, PROFILE_ENC_UTF8, 3, 9, "ab", 0, "3 to 9" },
	{ PROFILE_FIELD_DIGITS, PROFILE_ENC_ASCII, 4, 8, "1234", 1, NULL },
	{ PROFILE_FIELD_DIGITS, PROFILE_ENC_ASCII, 4, 8, "123", 0, "3 digits" },
	{ PROFILE_FIELD_DIGITS, PROFILE_ENC_BCD, 4, 8, "12a4", 0,
	  "character 3: a digit" },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_ISO, 0, 0, "2024-02-29", 1,
	  NULL },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_ISO, 0, 0, "2023-02-29", 0,
	  "calendar" },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_ISO, 0, 0, "1900-02-29", 0,
	  "calendar" },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_ISO, 0, 0, "2000-02-29", 1,
	  NULL },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_ISO, 0, 0, "2024-13-01", 0,
	  "calendar" },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_ISO, 0, 0, "2024-4-01", 0,
	  "YYYY-MM-DD" },
	{ PROFILE_FIELD_DATE, PROFILE_ENC_DATE_BCD_YYMMDD, 0, 0, "1999-01-01",
	  0, "2000 to 2099" },
	{ PROFILE_FIELD_NUMBER, PROFILE_ENC_BE8, 0, 0, "255", 1, NULL },
	{ PROFILE_FIELD_NUMBER, PROFILE_ENC_BE8, 0, 0, "0000256", 0,
	  "at most 255" },
	{ PROFILE_FIELD_NUMBER, PROFILE_ENC_BE16, 0, 0, "65535", 1, NULL },
	{ PROFILE_FIELD_AMOUNT, PROFILE_ENC_BE32, 0, 0, "4294967295", 1, NULL },
	{ PROFILE_FIELD_AMOUNT, PROFILE_ENC_BE32, 0, 0, "4294967296", 0,
	  "at most" },
	{ PROFILE_FIELD_AMOUNT, PROFILE_ENC_BE32, 0, 0,
	  "99999999999999999999999", 0, "at most" },
	{ PROFILE_FIELD_AMOUNT, PROFILE_ENC_BCD6, 0, 0, "999999999999", 1,
	  NULL },
	{ PROFILE_FIELD_AMOUNT, PROFILE_ENC_BCD6, 0, 0, "1000000000000", 0,
	  "at most" },
	{ PROFILE_FIELD_AMOUNT, PROFILE_ENC_BE32, 0, 0, "-5", 0,
	  "character 1" },
	{ PROFILE_FIELD_BYTES, PROFILE_ENC_BINARY, 1, 4, "A0b1", 1, NULL },
	{ PROFILE_FIELD_BYTES, PROFILE_ENC_BINARY, 1, 4, "A0b", 0, "odd" },
	{ PROFILE_FIELD_BYTES, PROFILE_ENC_BINARY, 1, 4, "A0B1C2D3E4", 0,
	  "5 bytes" },
	{ PROFILE_FIELD_BYTES, PROFILE_ENC_BINARY, 1, 4, "zz", 0,
	  "character 1: a hex digit" },
};

static void test_field_checks(void **state)
{
	size_t i;
	profile_field_t f;
	char why[160];
	int rc;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&f, 0, sizeof f);
		f.name = "f";
		f.type = cases[i].type;
		f.encoding = cases[i].enc;
		f.min_length = cases[i].min;
		f.max_length = cases[i].max;
		f.required = 1;
		rc = perso_prep_check_field(&f, cases[i].value, why,
					    sizeof why);
		if ((rc == 0) != cases[i].ok ||
		    (cases[i].why && strstr(why, cases[i].why) == NULL))
			fail_msg("case %zu ('%s'): rc %d, why '%s', expected "
				 "%s '%s'",
				 i, cases[i].value, rc, why,
				 cases[i].ok ? "ok" : "bad",
				 cases[i].why ? cases[i].why : "");
		/* The reason never quotes a value. */
		if (rc != 0 && strlen(cases[i].value) >= 3)
			assert_null(strstr(why, cases[i].value));
	}
	/* Empty: only for fields not required. */
	memset(&f, 0, sizeof f);
	f.type = PROFILE_FIELD_DIGITS;
	f.required = 1;
	assert_int_equal(perso_prep_check_field(&f, "", why, sizeof why), -1);
	assert_non_null(strstr(why, "required"));
	f.required = 0;
	assert_int_equal(perso_prep_check_field(&f, "", why, sizeof why), 0);
}

typedef struct {
	unsigned lines[16];
	size_t n;
} seen_t;

static int on_record(void *ctx, unsigned line, const char *const *values,
		     size_t n)
{
	seen_t *s = ctx;

	(void)values;
	(void)n;
	if (s->n < 16)
		s->lines[s->n++] = line;
	return 0;
}

static perso_status_t read_str(const char *csv, seen_t *s,
			       perso_prep_report_t *rep)
{
	memset(s, 0, sizeof *s);
	memset(rep, 0, sizeof *rep);
	return perso_prep_read(campus, "h.csv", (const uint8_t *)csv,
			       strlen(csv), on_record, s, rep);
}

#define HDR "name,student-id,faculty,valid-until\n"

static void test_read_lines(void **state)
{
	seen_t s;
	perso_prep_report_t rep;

	(void)state;
	assert_int_equal(read_str(HDR "A,0000000001,LOGIC,2027-01-01\n"
				      "\n"
				      "B,0000000002,LOGIC,2027-01-01\n",
				  &s, &rep),
			 PERSO_OK);
	assert_int_equal(rep.good, 2);
	assert_int_equal(s.lines[0], 2);
	assert_int_equal(s.lines[1], 4);
	perso_prep_report_free(&rep);

	/* CR LF, a BOM, a quoted comma and a doubled quote. */
	assert_int_equal(
		read_str("\xEF\xBB\xBFname,student-id,faculty,valid-until\r\n"
			 "\"A, \"\"B\"\"\",0000000001,LOGIC,2027-01-01\r\n"
			 "C,0000000002,LOGIC,2027-01-01\r\n",
			 &s, &rep),
		PERSO_OK);
	assert_int_equal(rep.good, 2);
	assert_int_equal(s.lines[1], 3);
	perso_prep_report_free(&rep);

	/* Lone CRs end lines too; a quoted line break is bad in a name and
	 * the record is reported on the line it starts on. */
	assert_int_equal(read_str("name,student-id,faculty,valid-until\r"
				  "\"X\nY\",0000000001,LOGIC,2027-01-01\r"
				  "C,0000000002,LOGIC,2027-01-01\r",
				  &s, &rep),
			 PERSO_OK);
	assert_int_equal(rep.bad, 1);
	assert_int_equal(rep.v[0].line, 2);
	assert_string_equal(rep.v[0].field, "name");
	assert_int_equal(rep.good, 1);
	assert_int_equal(s.lines[0], 4);
	perso_prep_report_free(&rep);
}

static void test_read_bad(void **state)
{
	seen_t s;
	perso_prep_report_t rep;

	(void)state;
	assert_int_equal(read_str(HDR "A,0000000001,LOGIC,2027-01-01\n"
				      "B,0000000001,LOGIC,2027-01-01\n"
				      "C,1,LOGIC\n",
				  &s, &rep),
			 PERSO_OK);
	assert_int_equal(rep.records, 3);
	assert_int_equal(rep.good, 1);
	assert_int_equal(rep.bad, 2);
	assert_int_equal(rep.v[0].line, 3);
	assert_string_equal(rep.v[0].field, "student-id");
	assert_string_equal(rep.v[0].reason,
			    "unique, and the same as line 2's");
	assert_int_equal(rep.v[1].line, 4);
	assert_string_equal(rep.v[1].field, "-");
	perso_prep_report_free(&rep);

	assert_int_equal(read_str("name,student-id,faculty,valid-until,name\n",
				  &s, &rep),
			 PERSO_ERR_FORMAT);
	assert_non_null(strstr(rep.fatal, "the same field as column 1"));
	perso_prep_report_free(&rep);

	assert_int_equal(read_str("name,faculty,valid-until\n", &s, &rep),
			 PERSO_ERR_FORMAT);
	assert_non_null(strstr(rep.fatal, "'student-id'"));
	perso_prep_report_free(&rep);

	assert_int_equal(read_str("", &s, &rep), PERSO_ERR_FORMAT);
	assert_non_null(strstr(rep.fatal, "empty"));
	perso_prep_report_free(&rep);

	assert_int_equal(
		read_str(HDR "\"A,0000000001,LOGIC,2027-01-01\n", &s, &rep),
		PERSO_ERR_FORMAT);
	assert_non_null(strstr(rep.fatal, "bad CSV"));
	perso_prep_report_free(&rep);

	/* Header only: no record, no error. */
	assert_int_equal(read_str(HDR, &s, &rep), PERSO_OK);
	assert_int_equal(rep.records, 0);
	perso_prep_report_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_checks),
		cmocka_unit_test(test_read_lines),
		cmocka_unit_test(test_read_bad),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
