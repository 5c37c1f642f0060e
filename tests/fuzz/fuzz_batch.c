/*
 * fuzz_batch.c - libFuzzer target on what a personalization station reads
 * from files: the prepared batch (perso_batch_load, the record lines, the
 * items, the holder references and traced fields) and the station journal
 * (perso_journal_open: its lines replayed against its rules, a torn last
 * line dropped).
 *
 * Input: the first byte chooses what is fuzzed, the rest is the file.
 *   byte % 8 == 0, 1, 2: a batch read against the campus, transit or
 *                        loyalty example profile (loaded once, from the
 *                        source tree this file is in, or from
 *                        $CARDFAB_SOURCE_DIR/profiles);
 *   byte % 8 == 3, 7:    a journal of a batch of 1 + byte / 8 holders;
 *   byte % 8 == 4, 5, 6: a holder's data laid out for the campus,
 *                        transit or loyalty card (perso_layout(), what
 *                        perso_card() does before it touches a card): the
 *                        rest split at LF into the values of the
 *                        profile's fields, in order (an empty one: none).
 *   byte % 8 == 0, 1, 2: the batch, as above.
 * The files are memory files (memfd_create), read through their
 * /proc/self/fd path as a station reads its own. The seed corpus
 * (tests/fuzz/corpus/fuzz_batch/) holds batches of the three profiles and
 * journals, whole and cut short.
 *
 * Besides crashes, leaks and undefined behaviour, the harness aborts when
 * an invariant breaks: a batch that loads has records numbered from 1,
 * references that are never empty, traced fields that are JSON objects;
 * a journal that opens never counts more issued holders than the batch
 * has, and answers a second open the same way (a torn line is dropped
 * once).
 */
#define _GNU_SOURCE

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "perso/perso.h"
#include "profile/profile.h"

#define CHECK(cond)                                                      \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr,                                  \
				"fuzz_batch: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

static profile_t *profiles[3];

static void load_profiles(void)
{
	static const char *names[3] = { "campus", "transit", "loyalty" };
	char dir[4096], path[4200];
	const char *tail = "tests/fuzz/fuzz_batch.c", *self = __FILE__;
	size_t n = strlen(self), t = strlen(tail), i;
	profile_diags_t d;

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

/* A memory file holding data; its path in path. */
static int memfile(const uint8_t *data, size_t len, char *path, size_t cap)
{
	int fd = memfd_create("fuzz_batch", MFD_CLOEXEC);
	size_t done = 0;
	ssize_t w;

	CHECK(fd >= 0);
	while (done < len) {
		w = write(fd, data + done, len - done);
		CHECK(w > 0);
		done += (size_t)w;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

static void fuzz_batch(const profile_t *p, const uint8_t *data, size_t len)
{
	char path[64], err[512], json[2048];
	perso_batch_t *b = NULL;
	size_t i, n, jl;
	int fd = memfile(data, len, path, sizeof path);

	err[0] = '\0';
	if (perso_batch_load(path, p, &b, err, sizeof err) == PERSO_OK) {
		n = perso_batch_count(b);
		for (i = 0; i < n; i++) {
			const char *ref = perso_batch_ref(b, i);

			CHECK(ref != NULL && ref[0] != '\0');
			jl = perso_batch_trace_json(b, i, json, sizeof json);
			CHECK(jl == 0 ||
			      (json[0] == '{' && json[jl - 1] == '}'));
		}
		CHECK(perso_batch_ref(b, n) == NULL);
		CHECK(perso_batch_key(b)[0] != '\0');
		perso_batch_free(b);
	} else {
		CHECK(err[0] != '\0');
	}
	close(fd);
}

static void fuzz_journal(size_t holders, const uint8_t *data, size_t len)
{
	char path[64], err[512];
	perso_journal_t *j = NULL;
	size_t issued = 0, rejected = 0, i2 = 0, r2 = 0;
	int fd = memfile(data, len, path, sizeof path);
	perso_status_t st, st2;

	st = perso_journal_open(path, holders, &j, err, sizeof err);
	if (st == PERSO_OK) {
		perso_journal_counts(j, &issued, &rejected);
		CHECK(issued <= holders);
		perso_journal_close(j);
	}
	/* Again: the same answer (a torn line was dropped the first time). */
	st2 = perso_journal_open(path, holders, &j, err, sizeof err);
	CHECK(st2 == st);
	if (st2 == PERSO_OK) {
		perso_journal_counts(j, &i2, &r2);
		CHECK(i2 == issued && r2 == rejected);
		perso_journal_close(j);
	}
	close(fd);
}

static void fuzz_layout(const profile_t *p, const uint8_t *data, size_t len)
{
	perso_holder_t h;
	char *buf = malloc(len + 1), *v, err[512];
	const profile_field_t *fs;
	size_t nf, i = 0, units = 0, bytes = 0;
	perso_status_t st;

	CHECK(buf != NULL);
	memcpy(buf, data, len);
	buf[len] = '\0';
	fs = profile_fields(p, &nf);
	memset(&h, 0, sizeof h);
	h.values = calloc(nf ? nf : 1, sizeof *h.values);
	CHECK(h.values != NULL);
	h.nvalues = nf;
	for (v = buf; i < nf && v != NULL; i++) {
		char *nl = strchr(v, '\n');

		if (nl != NULL)
			*nl = '\0';
		h.values[i] = v[0] != '\0' ? v : NULL;
		v = nl != NULL ? nl + 1 : NULL;
	}
	st = perso_layout(p, &h, &units, &bytes, err, sizeof err);
	CHECK(st == PERSO_OK || st == PERSO_ERR_FORMAT);
	if (st == PERSO_OK)
		CHECK(bytes <= 64 * 1024 && (units > 0 || bytes == 0));
	else
		CHECK(err[0] != '\0');
	(void)fs;
	free(h.values);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (profiles[0] == NULL)
		load_profiles();
	if (size < 1)
		return 0;
	switch (data[0] % 8) {
	case 0:
	case 1:
	case 2:
		fuzz_batch(profiles[data[0] % 8], data + 1, size - 1);
		break;
	case 4:
	case 5:
	case 6:
		fuzz_layout(profiles[data[0] % 8 - 4], data + 1, size - 1);
		break;
	default:
		fuzz_journal(1u + data[0] / 8u, data + 1, size - 1);
		break;
	}
	return 0;
}
