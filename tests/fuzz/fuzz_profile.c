/*
 * fuzz_profile.c - libFuzzer target on the card profile reader: the YAML
 * loader (libyaml's parser and document API, then the schema walk), the
 * checker, the budget, the printers and the FCP encoder of src/profile.
 *
 * Input: any byte string, taken as the text of a profile file. The seed
 * corpus (tests/fuzz/corpus/fuzz_profile/) holds the example profiles and
 * small profiles with every kind of error, so that mutations start from
 * both sides of every rule.
 *
 * Besides crashes, leaks and undefined behaviour (the sanitizers), the
 * harness aborts when an invariant of profile.h breaks:
 *   - a load that reports PROFILE_OK or PROFILE_ERR_INVALID leaves the
 *     error count consistent (INVALID: at least one error; OK: none);
 *   - a well-formed profile that checks clean is within its chip: bodies,
 *     file slots and object slots within the model's, or a memory card's
 *     areas within its 256 bytes;
 *   - every file of a clean profile encodes an FCP of at most 64 bytes that
 *     starts 62 L and whose L is the rest, and a path of its depth;
 *   - every diagnostic has a message, a file name and (when it has a line)
 *     a column.
 *
 * The printers write to /dev/null (opened once), so that they run on every
 * input without filling the terminal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"

#define CHECK(cond, ...)                                              \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr,                               \
				"fuzz_profile: %s:%d: check failed: " \
				"%s: ",                               \
				__FILE__, __LINE__, #cond);           \
			fprintf(stderr, __VA_ARGS__);                 \
			fputc('\n', stderr);                          \
			abort();                                      \
		}                                                     \
	} while (0)

static FILE *sink(void)
{
	static FILE *f;
	if (!f)
		f = fopen("/dev/null", "w");
	return f;
}

static void check_diags(const profile_diags_t *d)
{
	size_t errors = 0;
	for (size_t i = 0; i < d->n; i++) {
		const profile_diag_t *g = &d->v[i];
		CHECK(g->message && g->message[0], "diagnostic %zu", i);
		CHECK(g->file && g->file[0], "diagnostic %zu", i);
		CHECK(!g->line || g->col, "diagnostic %zu: line %u col 0", i,
		      g->line);
		CHECK(g->kind >= PROFILE_ERR_SYNTAX &&
			      g->kind <= PROFILE_ERR_CONFLICT,
		      "diagnostic %zu: kind %d", i, (int)g->kind);
		errors += g->severity == PROFILE_SEV_ERROR;
	}
	CHECK(d->n <= PROFILE_DIAGS_MAX, "%zu diagnostics kept", d->n);
	if (!d->nomem && !d->dropped)
		CHECK(errors == d->errors, "%zu errors listed, %zu counted",
		      errors, d->errors);
}

static void check_clean(const profile_t *p)
{
	const profile_info_t *in = profile_info(p);
	profile_budget_t b;
	CHECK(profile_budget(p, &b) == PROFILE_OK, "budget");
	if (in->kind == PROFILE_CHIP_COS) {
		CHECK(b.used <= b.capacity, "bodies %u > %u", b.used,
		      b.capacity);
		CHECK(b.files_used <= b.files_max, "files %u > %u",
		      b.files_used, b.files_max);
		CHECK(b.objects_used <= b.objects_max, "objects %u > %u",
		      b.objects_used, b.objects_max);
		CHECK(b.capacity + b.system + b.object_table + b.file_table ==
			      b.nvm_size,
		      "layout does not add up");
	} else {
		CHECK(in->kind == PROFILE_CHIP_MEMCARD, "a clean profile has a "
							"chip");
		CHECK(b.mem_fab + b.mem_used <= b.mem_size, "memory %u + %u",
		      b.mem_fab, b.mem_used);
		CHECK(b.prot_fab + b.prot_used <= b.prot_size,
		      "protection %u + %u", b.prot_fab, b.prot_used);
	}
	size_t n;
	const profile_file_t *f = profile_files(p, &n);
	for (size_t i = 0; i < n; i++) {
		uint8_t fcp[64], path[64];
		size_t l = profile_file_fcp(p, i, fcp, sizeof fcp);
		CHECK(l >= 2 && fcp[0] == 0x62 && fcp[1] == l - 2,
		      "file %zu: FCP of %zu bytes", i, l);
		size_t pl = profile_file_path(p, i, path, sizeof path);
		CHECK(pl == 2u * f[i].depth,
		      "file %zu: path %zu bytes, depth "
		      "%u",
		      i, pl, f[i].depth);
		CHECK(f[i].parent < (int)i, "file %zu: parent %d", i,
		      f[i].parent);
	}
	const profile_field_t *fl = profile_fields(p, &n);
	for (size_t i = 0; i < n; i++) {
		const profile_place_t *pl = &fl[i].place;
		if (pl->kind == PROFILE_PLACE_BINARY ||
		    pl->kind == PROFILE_PLACE_RECORD) {
			size_t nf;
			const profile_file_t *fs = profile_files(p, &nf);
			CHECK(pl->file >= 0 && (size_t)pl->file < nf,
			      "field %zu: file %d", i, pl->file);
			CHECK(pl->offset + pl->width <= fs[pl->file].size,
			      "field %zu: %u + %u outside %u bytes", i,
			      pl->offset, pl->width, fs[pl->file].size);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	profile_diags_t d;
	profile_t *p = NULL;
	profile_diags_init(&d);
	profile_status_t st =
		profile_load_mem("fuzz.yaml", (const char *)data, size, &p, &d);
	CHECK(st == PROFILE_OK || st == PROFILE_ERR_INVALID ||
		      st == PROFILE_ERR_NOMEM,
	      "load returned %d", (int)st);
	if (st == PROFILE_OK)
		CHECK(d.errors == 0, "OK with %zu errors", d.errors);
	if (st == PROFILE_ERR_INVALID)
		CHECK(d.errors > 0, "INVALID without an error");
	if (p) {
		size_t before = d.errors;
		profile_status_t cs = profile_check(p, &d);
		CHECK(cs == PROFILE_OK || cs == PROFILE_ERR_INVALID ||
			      cs == PROFILE_ERR_NOMEM,
		      "check returned %d", (int)cs);
		CHECK((cs == PROFILE_ERR_INVALID) == (d.errors > before) ||
			      cs == PROFILE_ERR_NOMEM,
		      "check %d with %zu new errors", (int)cs,
		      d.errors - before);
		if (st == PROFILE_OK && cs == PROFILE_OK)
			check_clean(p);
		FILE *f = sink();
		if (f) {
			profile_print(f, p);
			profile_print_budget(f, p, "  ");
		}
	}
	check_diags(&d);
	if (sink())
		profile_diags_print(sink(), &d);
	profile_free(p);
	profile_diags_free(&d);
	return 0;
}
