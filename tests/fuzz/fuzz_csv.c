/*
 * fuzz_csv.c - libFuzzer target on data preparation's reader: the holder
 * file (CSV through libcsv, fed line by line), the header's mapping to the
 * profile's fields, every field check and the unique-value tables of
 * src/perso/prep.c.
 *
 * Input: the first byte chooses what is fuzzed, the rest is the data.
 *   byte % 4 == 0, 1, 2: a holder file read against the campus, transit or
 *                        loyalty example profile (loaded once, from the
 *                        source tree this file is in, or from
 *                        $CARDFAB_SOURCE_DIR/profiles);
 *   byte % 4 == 3:       one value checked by perso_prep_check_field()
 *                        against a field whose type, encoding and lengths
 *                        come from the next 4 bytes (every type, bytes
 *                        and numbers included).
 * The seed corpus (tests/fuzz/corpus/fuzz_csv/) holds good and bad holder
 * files for each profile and values of each type.
 *
 * Besides crashes, leaks and undefined behaviour, the harness aborts when
 * an invariant of prep.h breaks: good + bad == records; every reject has
 * a field, a reason and a line after the header's; every value handed to
 * the record function passes perso_prep_check_field() again; a file-level
 * error has a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perso/prep.h"
#include "profile/profile.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_csv: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static profile_t *profiles[3];

static void load_profiles(void)
{
	static const char *names[3] = { "campus", "transit", "loyalty" };
	char dir[4096], path[4200];
	const char *tail = "tests/fuzz/fuzz_csv.c", *self = __FILE__;
	size_t n = strlen(self), t = strlen(tail), i;
	profile_diags_t d;

	/* CMake compiles with absolute paths: the source tree is __FILE__'s
	 * prefix; CARDFAB_SOURCE_DIR overrides it. */
	if (getenv("CARDFAB_SOURCE_DIR") != NULL) {
		snprintf(dir, sizeof dir, "%s/", getenv("CARDFAB_SOURCE_DIR"));
	} else {
		CHECK(n >= t && strcmp(self + n - t, tail) == 0);
		CHECK(n - t < sizeof dir);
		memcpy(dir, self, n - t);
		dir[n - t] = '\0';
	}
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%sprofiles/%s.yaml", dir,
			 names[i]);
		profile_diags_init(&d);
		if (profile_open(path, &profiles[i], &d) != PROFILE_OK) {
			profile_diags_print(stderr, &d);
			CHECK(!"example profile loads");
		}
		profile_diags_free(&d);
	}
}

typedef struct {
	const profile_t *p;
	size_t calls;
} ctx_t;

static int on_record(void *c, unsigned line, const char *const *values,
		     size_t n)
{
	ctx_t *x = c;
	size_t nf, i;
	const profile_field_t *f = profile_fields(x->p, &nf);
	char why[160];

	CHECK(n == nf);
	CHECK(line >= 2);
	for (i = 0; i < n; i++) {
		if (values[i] == NULL) {
			CHECK(!f[i].required);
			continue;
		}
		CHECK(perso_prep_check_field(&f[i], values[i], why,
					     sizeof why) == 0);
	}
	x->calls++;
	return 0;
}

static void fuzz_file(const profile_t *p, const uint8_t *data, size_t size)
{
	perso_prep_report_t rep;
	ctx_t x = { p, 0 };
	perso_status_t st;
	size_t i;

	memset(&rep, 0, sizeof rep);
	st = perso_prep_read(p, "fuzz.csv", data, size, on_record, &x, &rep);
	CHECK(st == PERSO_OK || st == PERSO_ERR_FORMAT);
	if (st == PERSO_ERR_FORMAT)
		CHECK(rep.fatal[0] != '\0');
	else
		CHECK(rep.good == x.calls);
	CHECK(rep.good + rep.bad == rep.records);
	CHECK(rep.n >= rep.bad);
	for (i = 0; i < rep.n; i++) {
		CHECK(rep.v[i].line >= 2);
		CHECK(rep.v[i].field[0] != '\0');
		CHECK(rep.v[i].reason[0] != '\0');
	}
	perso_prep_report_free(&rep);
}

static void fuzz_value(const uint8_t *data, size_t size)
{
	profile_field_t f;
	char *v, why[160];

	if (size < 4)
		return;
	memset(&f, 0, sizeof f);
	f.name = "fuzz";
	f.type = (profile_field_type_t)(data[0] % 7);
	f.encoding = (profile_encoding_t)(data[1] % 18);
	f.min_length = data[2] % 16;
	f.max_length = data[3] % 64;
	f.required = data[0] & 0x80;
	v = malloc(size - 4 + 1);
	CHECK(v != NULL);
	memcpy(v, data + 4, size - 4);
	v[size - 4] = '\0';
	if (perso_prep_check_field(&f, v, why, sizeof why) != 0)
		CHECK(why[0] != '\0');
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (profiles[0] == NULL)
		load_profiles();
	if (size == 0)
		return 0;
	if (data[0] % 4 == 3)
		fuzz_value(data + 1, size - 1);
	else
		fuzz_file(profiles[data[0] % 4], data + 1, size - 1);
	return 0;
}
