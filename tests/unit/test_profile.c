/*
 * test_profile.c - the card profile loader and checker (src/profile),
 * against docs/profiles.md.
 *
 * One test a kind of error: a small profile with the mistake, and the
 * diagnostic expected (its kind, its line, words of its message). The
 * line is marked in the YAML text with a comment "#<", so the cases read
 * like the files users write. Then: the three example profiles check OK,
 * their accessors and budgets hold what the files say, the FCP encoding,
 * the diagnostics list (all problems, in order, formatted
 * file:line:col: error: field: message), aliases and hostile input.
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

#include "profile/profile.h"

/* ------------------------------------------------------------ harness */

/* The line holding "#<" (1-based), 0 if none. */
static unsigned marked_line(const char *yaml)
{
	const char *m = strstr(yaml, "#<");
	if (!m)
		return 0;
	unsigned line = 1;
	for (const char *s = yaml; s < m; s++)
		line += *s == '\n';
	return line;
}

static void dump(const profile_diags_t *d)
{
	fprintf(stderr, "    diagnostics (%zu errors, %zu warnings):\n",
		d->errors, d->warnings);
	for (size_t i = 0; i < d->n; i++) {
		const profile_diag_t *g = &d->v[i];
		fprintf(stderr, "      %u:%u %s [%s] %s: %s\n", g->line, g->col,
			g->severity ? "warning" : "error",
			profile_strerror(g->kind), g->field ? g->field : "",
			g->message);
	}
}

/* Load and check; *d receives everything. Returns the profile or NULL. */
static profile_t *load(const char *yaml, profile_diags_t *d)
{
	profile_t *p = NULL;
	profile_diags_init(d);
	profile_load_mem("t.yaml", yaml, strlen(yaml), &p, d);
	if (p)
		profile_check(p, d);
	return p;
}

static int has_diag(const profile_diags_t *d, profile_status_t kind,
		    profile_severity_t sev, unsigned line, const char *words)
{
	for (size_t i = 0; i < d->n; i++) {
		const profile_diag_t *g = &d->v[i];
		if (g->kind == kind && g->severity == sev &&
		    (!line || g->line == line) &&
		    (!words || strstr(g->message, words)))
			return 1;
	}
	return 0;
}

static void expect(const char *yaml, profile_status_t kind,
		   profile_severity_t sev, const char *words)
{
	profile_diags_t d;
	profile_t *p = load(yaml, &d);
	unsigned line = marked_line(yaml);
	int ok = has_diag(&d, kind, sev, line, words);
	if (ok && sev == PROFILE_SEV_WARNING && d.errors)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "    expected %s [%s] at line %u%s%s%s\n",
			sev ? "warning" : "error", profile_strerror(kind), line,
			words ? " saying \"" : "", words ? words : "",
			words ? "\"" : "");
		fprintf(stderr, "    --- profile ---\n%s    ---\n", yaml);
		dump(&d);
	}
	profile_free(p);
	profile_diags_free(&d);
	assert_true(ok);
}

static void expect_clean(const char *yaml)
{
	profile_diags_t d;
	profile_t *p = load(yaml, &d);
	if (!p || d.errors || d.warnings) {
		fprintf(stderr, "    --- profile ---\n%s    ---\n", yaml);
		dump(&d);
	}
	assert_non_null(p);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 0);
	profile_free(p);
	profile_diags_free(&d);
}

#define E(kind) PROFILE_ERR_##kind, PROFILE_SEV_ERROR
#define W(kind) PROFILE_ERR_##kind, PROFILE_SEV_WARNING

/* ------------------------------------------------------------ building blocks
 */

#define HEAD_F(chip, feats) \
	"profile: t\n"      \
	"version: 1\n"      \
	"chip: " chip "\n"  \
	"features: [" feats "]\n"
#define FEATS "transparent, scp03, aes, secure-messaging"
#define HEAD HEAD_F("cf32", FEATS)
#define SCP "scp03: {kvn: 0x30, level: [c-mac, c-dec]}\n"
#define KEYS                                                            \
	"keys:\n"                                                       \
	"  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: " \
	"scp03-enc, diversify: {master: E, method: aes-ecb-serial}}\n" \
	"  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes128, usage: " \
	"scp03-mac, diversify: {master: M, method: aes-ecb-serial}}\n" \
	"  - {name: dek, ref: 3, kvn: 0x30, algorithm: aes128, usage: " \
	"scp03-dek, diversify: {master: D, method: aes-ecb-serial}}\n"
#define FILES                                                             \
	"files:\n"                                                        \
	"  - {name: id, type: transparent, fid: 0101, size: 16, access: " \
	"{read: always, default: sm}}\n"
#define FIELDS                                                              \
	"fields:\n"                                                         \
	"  - {name: id, type: digits, max-length: 10, trace: true, place: " \
	"{file: id, offset: 0}}\n"
/* A valid CPU profile; cases add to its lists (keys, files, fields are
 * the last items before the next section). */
#define BASE HEAD SCP KEYS FILES FIELDS

#define MC_HEAD                         \
	"profile: m\n"                  \
	"version: 1\n"                  \
	"chip: sle4442\n"               \
	"features: [psc, protection]\n" \
	"psc: {diversify: {master: PSC, method: aes-ecb-serial}}\n"
#define MC_AREAS                                                       \
	"areas:\n"                                                     \
	"  - {name: id, start: 32, length: 10}\n"                      \
	"  - {name: prot, start: 16, length: 4, protect: init, data: " \
	"01020304}\n"
#define MC_FIELDS                                                           \
	"fields:\n"                                                         \
	"  - {name: id, type: digits, max-length: 10, trace: true, place: " \
	"{area: id, offset: 0}}\n"
#define MC_BASE MC_HEAD MC_AREAS MC_FIELDS

/* ------------------------------------------------------------ cases */

typedef struct {
	const char *name;
	const char *yaml;
	profile_status_t kind;
	profile_severity_t sev;
	const char *words;
} case_t;

static const case_t cases[] = {
	/* ---- YAML and schema ---- */
	{ "syntax: unclosed flow list", "profile: t\nversion: 1\nchip: [cf32\n",
	  E(SYNTAX), NULL },
	{ "syntax: bad indentation", "profile: t\n  version: 1\n", E(SYNTAX),
	  NULL },
	{ "syntax: two documents", BASE "---\nprofile: u #<\n", E(SYNTAX),
	  "second YAML document" },
	{ "empty document", "", E(MISSING), "empty" },
	{ "unknown top-level key, did you mean",
	  HEAD SCP KEYS FILES FIELDS "facee: {} #<\n", E(UNKNOWN_KEY),
	  "did you mean 'face'" },
	{ "unknown key in a file, did you mean",
	  HEAD SCP KEYS FILES "  - name: log\n"
			      "    type: linear-fixed\n"
			      "    fid: 0102\n"
			      "    record-length: 8\n"
			      "    recods: 4 #<\n"
			      "    access: {read: always}\n" FIELDS,
	  E(UNKNOWN_KEY), "did you mean 'records'" },
	{ "unknown key lists the valid ones",
	  HEAD SCP KEYS FILES FIELDS "face: {wibble: 1, items: []} #<\n",
	  E(UNKNOWN_KEY), "valid keys here: width, height, items" },
	{ "key of another file type explained",
	  HEAD SCP KEYS FILES
	  "  - {name: log, type: cyclic, fid: 0102, size: 8, #<\n"
	  "     record-length: 4, records: 2, access: {read: always}}\n" FIELDS,
	  E(UNKNOWN_KEY), "record-length and records, not size" },
	{ "unknown access operation for an EF",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {create-ef: sm}} #<\n" FIELDS,
	  E(UNKNOWN_KEY), "create-ef" },
	{ "duplicate key",
	  HEAD SCP KEYS FILES "  - name: x\n"
			      "    type: transparent\n"
			      "    fid: 0102\n"
			      "    fid: 0103 #<\n"
			      "    size: 8\n"
			      "    access: {read: always}\n" FIELDS,
	  E(DUP_KEY), "appears twice" },
	{ "missing required key in a file",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, size: 8, access: {read: always}} "
	  "#<\n" FIELDS,
	  E(MISSING), "missing 'fid'" },
	{ "missing access block",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8} #<\n" FIELDS,
	  E(MISSING), "missing 'access'" },
	{ "missing chip", "profile: t #<\nversion: 1\nfeatures: []\n",
	  E(MISSING), "missing 'chip'" },
	{ "wrong node type: files as a mapping",
	  HEAD SCP KEYS "files: {name: x} #<\n" FIELDS, E(TYPE),
	  "expected a list of files" },
	{ "wrong node type: a list for a number",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: [8], #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(TYPE), "got a list" },
	{ "bad value: size out of range",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 0x8000, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(VALUE), "from 1 to 32767" },
	{ "bad value: FID not hex",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 10G2, size: 8, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(VALUE), "4 hex digits" },
	{ "bad value: unknown file type, did you mean",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: cyclik, fid: 0102, size: 8, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(VALUE), "did you mean 'cyclic'" },
	{ "bad value: unknown chip, did you mean",
	  "profile: t\nversion: 1\nchip: cf23 #<\nfeatures: []\n", E(VALUE),
	  "the models are: cf32, cf64, sle4442" },
	{ "bad value: version 2",
	  "profile: t\nversion: 2 #<\nchip: cf32\nfeatures: []\n", E(VALUE),
	  "version 1" },
	{ "bad value: the MF is implicit",
	  HEAD SCP KEYS FILES
	  "  - {name: mf, type: mf, fid: 3F00, access: {default: sm}} #<\n" FIELDS,
	  E(VALUE), "implicit" },
	{ "bad value: AID too short",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d, type: df, fid: 1000, aid: A00001, #<\n"
	  "     access: {default: sm}}\n" FIELDS,
	  E(VALUE), "5 to 16 bytes" },

	/* ---- names ---- */
	{ "duplicate file name",
	  HEAD SCP KEYS FILES
	  "  - {name: id, type: transparent, fid: 0102, size: 8, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(DUP_NAME), "another file is named 'id'" },
	{ "duplicate field name",
	  BASE "  - {name: id, type: text, max-length: 4, place: {file: id, "
	       "offset: 10}} #<\n",
	  E(DUP_NAME), "another field" },

	/* ---- FIDs, AIDs, SFIs ---- */
	{ "duplicate FID in a DF",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0101, size: 8, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(DUP_FID), "6A89" },
	{ "FID of the file's own DF",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - name: d\n"
	  "    type: df\n"
	  "    fid: 1000\n"
	  "    aid: A000000777010203\n"
	  "    access: {default: sm}\n"
	  "    files:\n"
	  "      - {name: e, type: transparent, fid: 1000, size: 4, #<\n"
	  "         access: {read: always}}\n" FIELDS,
	  E(DUP_FID), "its own DF" },
	{ "reserved FID",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 3FFF, size: 8, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(VALUE), "reserved" },
	{ "duplicate AID",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d1, type: df, fid: 1000, aid: A000000777010203, "
	  "access: {default: sm}}\n"
	  "  - {name: d2, type: df, fid: 2000, aid: A000000777010203, #<\n"
	  "     access: {default: sm}}\n" FIELDS,
	  E(DUP_AID), "6A8A" },
	{ "AID of the MF (ISD)",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d1, type: df, fid: 1000, aid: A000000151000000, #<\n"
	  "     access: {default: sm}}\n" FIELDS,
	  E(DUP_AID), "ISD" },
	{ "AID prefix of another: warning",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d1, type: df, fid: 1000, aid: A000000777010203, "
	  "access: {default: sm}}\n"
	  "  - {name: d2, type: df, fid: 2000, aid: A00000077701, #<\n"
	  "     access: {default: sm}}\n" FIELDS,
	  W(DUP_AID), "prefixes" },
	{ "duplicate SFI in a DF",
	  HEAD_F("cf32", FEATS ", sfi") SCP KEYS FILES
	  "  - {name: a, type: transparent, fid: 0102, sfi: 5, size: 4, "
	  "access: {read: always}}\n"
	  "  - {name: b, type: transparent, fid: 0103, sfi: 5, size: 4, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(DUP_SFI), "SFI 5" },
	{ "SFI out of range",
	  HEAD_F("cf32", FEATS ", sfi") SCP KEYS FILES
	  "  - {name: a, type: transparent, fid: 0102, sfi: 31, size: 4, #<\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(VALUE), "from 1 to 30" },
	{ "SFI on a DF",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d1, type: df, fid: 1000, aid: A000000777010203, "
	  "sfi: 2, #<\n"
	  "     access: {default: sm}}\n" FIELDS,
	  E(UNKNOWN_KEY), "a DF has no SFI" },

	/* ---- records ---- */
	{ "record length too long",
	  HEAD_F("cf32", FEATS ", linear-fixed") SCP KEYS FILES
	  "  - {name: r, type: linear-fixed, fid: 0102, record-length: 256, "
	  "#<\n"
	  "     records: 2, access: {read: always}}\n" FIELDS,
	  E(RECORD), "1 to 255" },
	{ "too many records",
	  HEAD_F("cf32", FEATS ", cyclic") SCP KEYS FILES
	  "  - {name: r, type: cyclic, fid: 0102, record-length: 8,\n"
	  "     records: 255, access: {read: always}} #<\n" FIELDS,
	  E(RECORD), "1 to 254" },
	{ "no records",
	  HEAD_F("cf32", FEATS ", linear-variable") SCP KEYS FILES
	  "  - {name: r, type: linear-variable, fid: 0102, record-length: 8,\n"
	  "     records: 0, access: {read: always}} #<\n" FIELDS,
	  E(RECORD), "1 to 254" },

	/* ---- PIN and key references ---- */
	{ "PIN reference out of range",
	  BASE
	  "pins:\n"
	  "  - {name: p, ref: 0, length: 4, format: ascii-numeric, #<\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(REF_RANGE), "1 to 30" },
	{ "PIN reference 31 is the transport code",
	  BASE
	  "pins:\n"
	  "  - {name: p, ref: 31, length: 4, format: ascii-numeric, #<\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(REF_RANGE), "transport code" },
	{ "key reference out of range",
	  HEAD SCP KEYS
	  "  - {name: k, ref: 40, algorithm: aes128, usage: auth, #<\n"
	  "     diversify: {master: K, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(REF_RANGE), "1 to 30" },
	{ "SCP03 key with the wrong reference",
	  HEAD SCP
	  "keys:\n"
	  "  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-enc, diversify: {master: E, method: aes-ecb-serial}}\n"
	  "  - {name: mac, ref: 3, kvn: 0x30, algorithm: aes128, #<\n"
	  "     usage: scp03-mac, diversify: {master: M, method: "
	  "aes-ecb-serial}}\n"
	  "  - {name: dek, ref: 4, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-dek, diversify: {master: D, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(REF_RANGE), "1 ENC, 2 MAC, 3 DEK" },
	{ "duplicate PIN reference",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "pins:\n"
	  "  - {name: p1, ref: 1, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n"
	  "  - {name: p2, ref: 1, length: 4, format: ascii-numeric, #<\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(DUP_REF), "would replace" },
	{ "duplicate key reference and version",
	  HEAD_F("cf32", FEATS ", external-auth") SCP KEYS
	  "  - {name: k1, ref: 4, algorithm: aes128, usage: auth, "
	  "diversify: {master: K, method: aes-ecb-serial}}\n"
	  "  - {name: k2, ref: 4, algorithm: aes128, usage: auth, #<\n"
	  "     diversify: {master: K, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(DUP_REF), "already key 'k1'" },
	{ "auth key on an SCP03 key's reference",
	  HEAD_F("cf32", FEATS ", external-auth") SCP KEYS
	  "  - {name: door, ref: 2, kvn: 1, algorithm: aes128, usage: auth, "
	  "#<\n"
	  "     diversify: {master: K, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(DUP_REF), "reference alone" },

	/* ---- access conditions ---- */
	{ "bad access condition keyword",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: pim:1}} #<\n" FIELDS,
	  E(ACCESS), "did you mean 'pin:1'" },
	{ "access condition names no PIN",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: pin:1}} #<\n" FIELDS,
	  E(ACCESS), "no global PIN has reference 1" },
	{ "access condition PIN and key with two references",
	  HEAD_F("cf32", FEATS ", pin, external-auth") SCP KEYS
	  "  - {name: door, ref: 4, kvn: 1, algorithm: aes128, usage: auth,\n"
	  "     diversify: {master: K, method: aes-ecb-serial}}\n" FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: [pin:1, key:door]}} #<\n" FIELDS "pins:\n"
	  "  - {name: p, ref: 1, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(ACCESS), "one reference (4 bits)" },
	{ "access condition PIN reference above 15",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: pin:p}} #<\n" FIELDS "pins:\n"
	  "  - {name: p, ref: 16, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(ACCESS), "1 to 15" },
	{ "access condition on a DF-specific PIN",
	  HEAD_F("cf32", FEATS ", pin, df") SCP KEYS FILES
	  "  - {name: d, type: df, fid: 1000, aid: A000000777010203,\n"
	  "     access: {default: sm}, files: [{name: x, type: transparent,\n"
	  "     fid: 1001, size: 8, access: {read: pin:p}}]} #<\n" FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 1, df: d, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(ACCESS), "only global" },
	{ "access condition on a key that cannot authenticate",
	  HEAD_F("cf32", FEATS ", internal-auth") SCP KEYS
	  "  - {name: ia, ref: 4, kvn: 1, algorithm: aes128, "
	  "usage: internal-auth,\n"
	  "     diversify: {master: K, method: aes-ecb-serial}}\n" FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: key:ia}} #<\n" FIELDS,
	  E(ACCESS), "no usage auth" },
	{ "access condition always inside a list",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: [sm, always]}} #<\n" FIELDS,
	  E(ACCESS), "stands alone" },
	{ "access condition that codes as FF",
	  HEAD_F("cf32", FEATS ", pin, external-auth") SCP KEYS
	  "  - {name: k, ref: 15, kvn: 1, algorithm: aes128, usage: auth,\n"
	  "     diversify: {master: K, method: aes-ecb-serial}}\n" FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: {all: [pin:15, key:15, sm]}}} #<\n" FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 15, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(ACCESS), "codes as FF" },
	{ "access condition with an undefined PIN name",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {read: pin:holder}} #<\n" FIELDS,
	  E(UNDEFINED), "no PIN named 'holder'" },
	{ "every operation never: warning",
	  HEAD SCP KEYS FILES
	  "  - {name: x, type: transparent, fid: 0102, size: 8,\n"
	  "     access: {default: never}} #<\n" FIELDS,
	  W(ACCESS), "nobody reads" },

	/* ---- undefined names ---- */
	{ "field in an unknown file, did you mean",
	  BASE "  - {name: n, type: text, max-length: 4, place: {file: ids, "
	       "offset: 12}} #<\n",
	  E(UNDEFINED), "did you mean 'id'" },
	{ "PIN with an unknown PUK",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 1, length: 4, format: ascii-numeric, puk: pk, "
	  "#<\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(UNDEFINED), "no PIN named 'pk'" },
	{ "PIN in an unknown DF",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 1, df: app, length: 4, format: ascii-numeric, "
	  "#<\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(UNDEFINED), "no DF named 'app'" },
	{ "face prints an unknown field",
	  BASE "face:\n  items:\n    - {field: nam, box: [1, 1, 10, 5]} #<\n",
	  E(UNDEFINED), "no field named 'nam'" },

	/* ---- placements ---- */
	{ "field outside its file",
	  BASE "  - {name: n, type: text, max-length: 8, place: {file: id, "
	       "offset: 12}} #<\n",
	  E(PLACEMENT), "outside file 'id'" },
	{ "field width too small",
	  BASE "  - {name: n, type: text, max-length: 6, place: {file: id, "
	       "offset: 10, width: 4}} #<\n",
	  E(PLACEMENT), "cannot hold" },
	{ "field in a record that does not exist",
	  HEAD_F("cf32", FEATS ", linear-fixed") SCP KEYS FILES
	  "  - {name: r, type: linear-fixed, fid: 0102, record-length: 8,\n"
	  "     records: 2, access: {read: always}}\n" FIELDS
	  "  - {name: n, type: text, max-length: 4,\n"
	  "     place: {file: r, record: 3, offset: 0}} #<\n",
	  E(PLACEMENT), "has 2 records" },
	{ "field past the record length",
	  HEAD_F("cf32", FEATS ", linear-fixed") SCP KEYS FILES
	  "  - {name: r, type: linear-fixed, fid: 0102, record-length: 8,\n"
	  "     records: 2, access: {read: always}}\n" FIELDS
	  "  - {name: n, type: text, max-length: 6,\n"
	  "     place: {file: r, record: 1, offset: 4}} #<\n",
	  E(PLACEMENT), "record 1 of 'r'" },
	{ "field in a record file without a record",
	  HEAD_F("cf32", FEATS ", linear-fixed") SCP KEYS FILES
	  "  - {name: r, type: linear-fixed, fid: 0102, record-length: 8,\n"
	  "     records: 2, access: {read: always}}\n" FIELDS
	  "  - {name: n, type: text, max-length: 6,\n"
	  "     place: {file: r, offset: 0}} #<\n",
	  E(PLACEMENT), "say which record" },
	{ "holder data in a cyclic file",
	  HEAD_F("cf32", FEATS ", cyclic") SCP KEYS FILES
	  "  - {name: log, type: cyclic, fid: 0102, record-length: 8,\n"
	  "     records: 2, access: {read: always}}\n" FIELDS
	  "  - {name: n, type: text, max-length: 6,\n"
	  "     place: {file: log, record: 1, offset: 0}} #<\n",
	  E(PLACEMENT), "move at every append" },
	{ "TLV objects do not fit",
	  HEAD SCP KEYS FILES
	  "  - {name: t, type: transparent, fid: 0102, size: 20,\n"
	  "     access: {read: always}}\n" FIELDS
	  "  - {name: a, type: text, max-length: 10, place: {file: t, tlv: "
	  "[70, 80]}} #<\n"
	  "  - {name: b, type: text, max-length: 8, place: {file: t, tlv: "
	  "[70, 81]}}\n",
	  E(PLACEMENT), "take up to 24 bytes" },
	{ "TLV template tag not constructed",
	  HEAD SCP KEYS FILES
	  "  - {name: t, type: transparent, fid: 0102, size: 40,\n"
	  "     access: {read: always}}\n" FIELDS
	  "  - {name: a, type: text, max-length: 10,\n"
	  "     place: {file: t, tlv: [5F20, 80]}} #<\n",
	  E(VALUE), "primitive" },
	{ "field in a DF",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d, type: df, fid: 1000, aid: A000000777010203,\n"
	  "     access: {default: sm}}\n" FIELDS
	  "  - {name: n, type: text, max-length: 6, place: {file: d, offset: "
	  "0}} #<\n",
	  E(PLACEMENT), "is a DF" },
	{ "face box outside the card",
	  BASE "face:\n  items:\n    - {text: X, box: [80, 1, 10, 5]} #<\n",
	  E(PLACEMENT), "outside the card" },
	{ "face box over the contacts: warning",
	  BASE "face:\n  items:\n    - {text: X, box: [12, 20, 10, 5]} #<\n",
	  W(OVERLAP), "contacts" },

	/* ---- overlaps ---- */
	{ "two fields overlap",
	  BASE "  - {name: n, type: text, max-length: 8, place: {file: id, "
	       "offset: 8}} #<\n",
	  E(OVERLAP), "overlap field 'id'" },
	{ "TLV tag used twice",
	  HEAD SCP KEYS FILES
	  "  - {name: t, type: transparent, fid: 0102, size: 60,\n"
	  "     access: {read: always}}\n" FIELDS
	  "  - {name: a, type: text, max-length: 10, place: {file: t, tlv: "
	  "[70, 80]}}\n"
	  "  - {name: b, type: text, max-length: 8,\n"
	  "     place: {file: t, tlv: [70, 80]}} #<\n",
	  E(OVERLAP), "already field 'a'" },
	{ "area over the fab's bytes",
	  MC_HEAD MC_AREAS "  - {name: x, start: 20, length: 3} #<\n" MC_FIELDS,
	  E(OVERLAP), "the fab's" },
	{ "two areas overlap",
	  MC_HEAD MC_AREAS "  - {name: x, start: 40, length: 8} #<\n" MC_FIELDS,
	  E(OVERLAP), "overlap area 'id'" },

	/* ---- capacity ---- */
	{ "file bodies over capacity",
	  HEAD SCP KEYS
	  "files: #<\n"
	  "  - {name: id, type: transparent, fid: 0101, size: 16, access: "
	  "{read: always}}\n"
	  "  - {name: big, type: transparent, fid: 0102, size: 26353,\n"
	  "     access: {read: always}}\n" FIELDS,
	  E(CAPACITY), "1 bytes over" },
	{ "DFs nested too deep",
	  HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
	  "  - {name: d1, type: df, fid: 1001, aid: A000000777000001, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d2, type: df, fid: 1002, aid: A000000777000002, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d3, type: df, fid: 1003, aid: A000000777000003, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d4, type: df, fid: 1004, aid: A000000777000004, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d5, type: df, fid: 1005, aid: A000000777000005, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d6, type: df, fid: 1006, aid: A000000777000006, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d7, type: df, fid: 1007, aid: A000000777000007, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d8, type: df, fid: 1008, aid: A000000777000008, access: "
	  "{default: sm}, files: [\n"
	  "    {name: d9, type: df, fid: 1009, aid: A000000777000009, access: "
	  "{default: sm}} #<\n"
	  "    ]}]}]}]}]}]}]}]}\n" FIELDS,
	  E(CAPACITY), "at most 8 deep" },
	{ "memory card area past 256 bytes",
	  MC_HEAD MC_AREAS
	  "  - {name: x, start: 250, length: 8} #<\n" MC_FIELDS,
	  E(CAPACITY), "256 bytes" },

	/* ---- features ---- */
	{ "cyclic file on the memory card",
	  MC_BASE
	  "files:\n"
	  "  - {name: log, type: cyclic, fid: 0101, record-length: 8, #<\n"
	  "     records: 4, access: {read: always}}\n",
	  E(FEATURE), "memory card" },
	{ "memory card feature list with cyclic",
	  "profile: m\nversion: 1\nchip: sle4442\n"
	  "features: [psc, cyclic] #<\n"
	  "psc: {diversify: {master: PSC, method: aes-ecb-serial}}\n" MC_AREAS
		  MC_FIELDS,
	  E(FEATURE), "no feature cyclic" },
	{ "feature used but not declared",
	  HEAD SCP KEYS FILES
	  "  - {name: log, type: cyclic, fid: 0102, record-length: 8, #<\n"
	  "     records: 4, access: {read: always}}\n" FIELDS,
	  E(FEATURE), "does not list" },
	{ "feature declared but unused: warning",
	  "profile: t\nversion: 1\nchip: cf32\n"
	  "features: [" FEATS ", cyclic] #<\n" SCP KEYS FILES FIELDS,
	  W(FEATURE), "does not use" },
	{ "protection past byte 31",
	  MC_HEAD MC_AREAS
	  "  - {name: x, start: 28, length: 8, protect: perso} #<\n" MC_FIELDS,
	  E(FEATURE), "0 to 31" },
	{ "memory areas on a CPU chip",
	  BASE "areas: #<\n  - {name: a, start: 32, length: 4}\n", E(FEATURE),
	  "areas are a memory card's" },
	{ "PINs on the memory card",
	  MC_BASE
	  "pins: #<\n"
	  "  - {name: p, ref: 1, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(FEATURE), "no PIN objects" },

	/* ---- missing parts and contradictions ---- */
	{ "CPU chip without scp03", HEAD KEYS FILES FIELDS, E(MISSING),
	  "missing 'scp03'" },
	{ "SCP03 key set without its DEK",
	  HEAD
	  "scp03: {kvn: 0x30, level: [c-mac]} #<\n"
	  "keys:\n"
	  "  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-enc, diversify: {master: E, method: aes-ecb-serial}}\n"
	  "  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-mac, diversify: {master: M, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(MISSING), "no scp03-dek key" },
	{ "SCP03 keys of two lengths",
	  HEAD SCP
	  "keys:\n"
	  "  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-enc, diversify: {master: E, method: aes-ecb-serial}}\n"
	  "  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes256, #<\n"
	  "     usage: scp03-mac, diversify: {master: M, method: "
	  "aes-ecb-serial}}\n"
	  "  - {name: dek, ref: 3, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-dek, diversify: {master: D, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(CONFLICT), "one length" },
	{ "SCP03 level not GlobalPlatform's",
	  HEAD
	  "scp03: {kvn: 0x30, level: [c-mac, r-enc]} #<\n" KEYS FILES FIELDS,
	  E(VALUE), "levels 01, 03, 11, 13, 33" },
	{ "PIN value at perso without C-DEC",
	  HEAD_F("cf32", FEATS
		 ", pin") "scp03: {kvn: 0x30, level: [c-mac]} #<\n" KEYS FILES
		  FIELDS "pins:\n"
			  "  - {name: p, ref: 1, length: 4, format: ascii-numeric,\n"
			  "     min-digits: 4, max-digits: 4, tries: 3, value: {random: 4}}\n",
	  E(CONFLICT), "add c-dec" },
	{ "PIN too long for its stored length",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 1, length: 4, format: ascii-numeric, #<\n"
	  "     min-digits: 4, max-digits: 8, tries: 3, value: {random: 4}}\n",
	  E(CONFLICT), "make length at least 8" },
	{ "ISO 9564 format 2 block is 8 bytes",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 1, length: 6, format: iso9564-2, #<\n"
	  "     min-digits: 4, max-digits: 8, tries: 3, value: {random: 4}}\n",
	  E(CONFLICT), "8 bytes" },
	{ "PIN value from a field that is not secret",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "  - {name: pinval, type: digits, max-length: 4}\n"
	  "pins:\n"
	  "  - {name: p, ref: 1, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3,\n"
	  "     value: {holder-field: pinval}} #<\n",
	  E(CONFLICT), "secret: true" },
	{ "secret field written into a file",
	  BASE "  - {name: s, type: digits, max-length: 4, secret: true,\n"
	       "     place: {file: id, offset: 12}} #<\n",
	  E(CONFLICT), "never written into a file" },
	{ "secret field on the card face",
	  BASE "  - {name: s, type: digits, max-length: 4, secret: true}\n"
	       "face:\n  items:\n    - {field: s, box: [1, 1, 10, 5]} #<\n",
	  E(CONFLICT), "never printed" },
	{ "trace field not required",
	  HEAD SCP KEYS FILES
	  "fields:\n"
	  "  - {name: id, type: digits, max-length: 10, required: false,\n"
	  "     trace: true, place: {file: id, offset: 0}} #<\n",
	  E(CONFLICT), "required" },
	{ "no trace field",
	  HEAD SCP KEYS FILES
	  "fields: #<\n"
	  "  - {name: id, type: digits, max-length: 10, place: {file: id, "
	  "offset: 0}}\n",
	  E(MISSING), "trace: true" },
	{ "key diversified by the wrong family",
	  HEAD_F("cf32", FEATS ", external-auth") SCP KEYS
	  "  - {name: k, ref: 4, algorithm: aes128, usage: auth,\n"
	  "     diversify: {master: K, method: 3des-serial}} #<\n" FILES FIELDS,
	  E(CONFLICT), "3des-serial makes 3DES keys" },
	{ "3DES key in an SCP03 key set",
	  HEAD_F("cf32", FEATS ", 3des") SCP
	  "keys:\n"
	  "  - {name: enc, ref: 1, kvn: 0x30, algorithm: 3des2, #<\n"
	  "     usage: scp03-enc, diversify: {master: E, method: "
	  "3des-serial}}\n"
	  "  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-mac, diversify: {master: M, method: aes-ecb-serial}}\n"
	  "  - {name: dek, ref: 3, kvn: 0x30, algorithm: aes128, usage: "
	  "scp03-dek, diversify: {master: D, method: aes-ecb-serial}}\n" FILES
		  FIELDS,
	  E(CONFLICT), "SCP03 keys are AES" },
	{ "memory card without a PSC",
	  "profile: m\nversion: 1\nchip: sle4442\nfeatures: [psc, protection]\n" MC_AREAS
		  MC_FIELDS,
	  E(MISSING), "missing 'psc'" },
	{ "area protected at initialization without data",
	  MC_HEAD MC_AREAS "  - {name: x, start: 28, length: 2, protect: init} "
			   "#<\n" MC_FIELDS,
	  E(CONFLICT), "nothing is written there" },
	{ "field in an area protected at initialization",
	  MC_BASE "  - {name: n, type: bytes, max-length: 4, place: {area: "
		  "prot, offset: 0}} #<\n",
	  E(CONFLICT), "protected at initialization" },
	{ "area data and a field in one area",
	  MC_HEAD MC_AREAS
	  "  - {name: pts, start: 64, length: 4, data: "
	  "00000000}\n" MC_FIELDS
	  "  - {name: n, type: bytes, max-length: 4, place: {area: pts, "
	  "offset: 0}} #<\n",
	  E(OVERLAP), "written with its data" },
	{ "field placed in a file on the memory card",
	  MC_BASE "  - {name: n, type: text, max-length: 4, place: {file: id, "
		  "offset: 0}} #<\n",
	  E(FEATURE), "no files" },
	{ "fixed PIN value: warning only",
	  HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS
	  "pins:\n"
	  "  - {name: p, ref: 1, length: 4, format: ascii-numeric,\n"
	  "     min-digits: 4, max-digits: 4, tries: 3,\n"
	  "     value: {fixed: \"1234\"}} #<\n",
	  W(VALUE), "test cards only" },
};

#define N_CASES (sizeof cases / sizeof cases[0])

static void run_case(void **state)
{
	const case_t *c = *state;
	expect(c->yaml, c->kind, c->sev, c->words);
}

/* ------------------------------------------------------------ valid profiles
 */

static void test_base_is_clean(void **state)
{
	(void)state;
	expect_clean(BASE);
	expect_clean(MC_BASE);
}

static void test_same_fid_in_two_dfs(void **state)
{
	(void)state;
	expect_clean(
		HEAD_F("cf32", FEATS ", df") SCP KEYS FILES
		"  - {name: d1, type: df, fid: 1000, aid: A000000777010201,\n"
		"     access: {default: sm}, files: [{name: a, type: "
		"transparent,\n"
		"     fid: 2000, size: 4, access: {read: always}}]}\n"
		"  - {name: d2, type: df, fid: 2000, aid: A000000777010202,\n"
		"     access: {default: sm}, files: [{name: b, type: "
		"transparent,\n"
		"     fid: 1000, size: 4, access: {read: always}}]}\n" FIELDS);
}

static void test_capacity_exact(void **state)
{
	(void)state;
	/* 26368 body bytes on cf32: 16 + 26352 fit exactly */
	expect_clean(HEAD SCP KEYS FILES
		     "  - {name: big, type: transparent, fid: 0102, size: "
		     "26352,\n"
		     "     access: {read: always}}\n" FIELDS);
}

static char *cat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *r = malloc(la + lb + 1);
	assert_non_null(r);
	memcpy(r, a, la);
	memcpy(r + la, b, lb + 1);
	return r;
}

/* n transparent EFs of 4 bytes after the base's one. */
static char *many_files(unsigned n)
{
	char *s = cat(HEAD SCP KEYS FILES, "");
	for (unsigned i = 0; i < n; i++) {
		char line[160];
		snprintf(line, sizeof line,
			 "  - {name: f%u, type: transparent, fid: %04X, size: "
			 "4, access: {read: always}}\n",
			 i, 0x2000 + i);
		char *t = cat(s, line);
		free(s);
		s = t;
	}
	char *t = cat(s, FIELDS);
	free(s);
	return t;
}

static void test_file_table_full(void **state)
{
	(void)state;
	/* cf32: 64 slots, the MF's included: 1 + 1 + 62 = 64 fits */
	char *y = many_files(62);
	expect_clean(y);
	free(y);
	y = many_files(63);
	expect(y, E(CAPACITY), "65 files with the MF");
	free(y);
}

static void test_object_table_full(void **state)
{
	(void)state;
	char *s = cat(HEAD_F("cf32", FEATS ", pin") SCP KEYS FILES FIELDS,
		      "pins:\n");
	for (unsigned i = 1; i <= 30; i++) {
		char line[200];
		snprintf(line, sizeof line,
			 "  - {name: p%u, ref: %u, length: 4, format: "
			 "ascii-numeric, min-digits: 4, max-digits: 4, "
			 "tries: 3, value: {random: 4}}\n",
			 i, i);
		char *t = cat(s, line);
		free(s);
		s = t;
	}
	/* 3 keys + 29 PINs = 32 fit; + 30th PIN = 33 */
	expect(s, E(CAPACITY), "33 PINs and keys");
	free(s);
}

/* ------------------------------------------------------------ the examples */

static char *source_path(const char *rel)
{
	const char *root = getenv("CARDFAB_SOURCE_DIR");
	char buf[4096];
	if (root && root[0]) {
		snprintf(buf, sizeof buf, "%s/%s", root, rel);
	} else {
		/* __FILE__ is .../tests/unit/test_profile.c */
		const char *f = __FILE__;
		const char *cut = strstr(f, "tests/unit/");
		snprintf(buf, sizeof buf, "%.*s%s", cut ? (int)(cut - f) : 0, f,
			 rel);
	}
	return cat(buf, "");
}

static profile_t *open_example(const char *name)
{
	char rel[128];
	snprintf(rel, sizeof rel, "profiles/%s.yaml", name);
	char *path = source_path(rel);
	profile_diags_t d;
	profile_diags_init(&d);
	profile_t *p = NULL;
	profile_status_t st = profile_open(path, &p, &d);
	if (st != PROFILE_OK || d.errors || d.warnings) {
		fprintf(stderr, "    %s: %s\n", path, profile_strerror(st));
		profile_diags_print(stderr, &d);
	}
	free(path);
	assert_int_equal(st, PROFILE_OK);
	assert_int_equal(d.warnings, 0);
	profile_diags_free(&d);
	return p;
}

static void test_examples_check(void **state)
{
	(void)state;
	const char *names[] = { "campus", "transit", "loyalty" };
	for (size_t i = 0; i < 3; i++)
		profile_free(open_example(names[i]));
}

static void test_campus_accessors(void **state)
{
	(void)state;
	profile_t *p = open_example("campus");
	const profile_info_t *in = profile_info(p);
	assert_string_equal(in->name, "campus");
	assert_int_equal(in->kind, PROFILE_CHIP_COS);
	assert_string_equal(in->cos_model->name, "cf32");
	assert_int_equal(in->features, in->features_used);

	size_t n;
	const profile_file_t *f = profile_files(p, &n);
	assert_int_equal(n, 4);
	assert_string_equal(f[0].name, "campus");
	assert_int_equal(f[0].type, COS_FT_DF);
	assert_int_equal(f[0].parent, -1);
	assert_int_equal(f[0].fid, 0x1000);
	assert_int_equal(f[0].aid_len, 9);
	int log = profile_file_find(p, "access-log");
	assert_int_equal(log, 3);
	assert_int_equal(f[log].parent, 0);
	assert_int_equal(f[log].type, COS_FT_EF_CYCLIC);
	assert_int_equal(f[log].size, 16);
	assert_int_equal(f[log].records, 32);
	assert_int_equal(f[log].body, 512);
	assert_int_equal(f[log].sfi, 3);
	/* read: [pin:holder-pin, sm]  append: key:door-auth  update: never
	 * default: sm */
	assert_int_equal(f[log].am, 0x7D);
	assert_int_equal(f[log].sc[0], COS_AC_PIN | COS_AC_SM | 1);
	assert_int_equal(f[log].sc[2], COS_AC_KEY | 4);
	assert_int_equal(f[log].sc[6], COS_AC_SM);

	const profile_pin_t *pins = profile_pins(p, &n);
	assert_int_equal(n, 2);
	assert_int_equal(pins[0].ref, 1);
	assert_int_equal(pins[0].df, -1);
	assert_int_equal(pins[0].format, PROFILE_PIN_ASCII_NUMERIC);
	assert_int_equal(pins[0].pad, 0xFF);
	assert_int_equal(pins[0].puk, 1);
	assert_int_equal(pins[0].source, PROFILE_SRC_RANDOM);
	assert_int_equal(pins[0].random_digits, 6);

	const profile_key_t *keys = profile_keys(p, &n);
	assert_int_equal(n, 5);
	int door = profile_key_find(p, "door-auth");
	assert_true(door >= 0);
	assert_int_equal(keys[door].ref, 4);
	assert_int_equal(keys[door].usage, COS_KEY_USE_AUTH);
	assert_int_equal(keys[door].cos_alg, COS_ALG_AES);
	assert_int_equal(keys[door].key_len, 16);
	assert_int_equal(keys[door].tries, 15);
	assert_string_equal(keys[door].master, "CAMPUS-DOOR-MK");
	assert_int_equal(keys[door].method, PROFILE_DIV_AES_ECB_SERIAL);

	const profile_scp03_t *s = profile_scp03(p);
	assert_int_equal(s->kvn, 0x30);
	assert_int_equal(s->level, PROFILE_SCP03_C_MAC | PROFILE_SCP03_C_DEC);
	assert_int_equal(keys[s->enc].ref, 1);
	assert_int_equal(keys[s->mac].ref, 2);
	assert_int_equal(keys[s->dek].ref, 3);

	const profile_field_t *fl = profile_fields(p, &n);
	assert_int_equal(n, 6);
	int sid = profile_field_find(p, "student-id");
	assert_true(fl[sid].trace);
	assert_int_equal(fl[sid].place.kind, PROFILE_PLACE_BINARY);
	assert_int_equal(fl[sid].place.file, profile_file_find(p, "holder"));
	assert_int_equal(fl[sid].place.offset, 40);
	assert_int_equal(fl[sid].place.width, 10);
	int vu = profile_field_find(p, "valid-until");
	assert_int_equal(fl[vu].encoding, PROFILE_ENC_DATE_BCD);
	assert_int_equal(fl[vu].place.width, 4);
	int cp = profile_field_find(p, "contact-phone");
	assert_int_equal(fl[cp].place.kind, PROFILE_PLACE_TLV);
	assert_int_equal(fl[cp].place.record, 1);
	assert_int_equal(fl[cp].place.ntags, 2);
	assert_int_equal(fl[cp].place.tags[0], 0x70);
	assert_int_equal(fl[cp].place.tags[1], 0x81);
	assert_false(fl[cp].required);

	const profile_face_t *face = profile_face(p);
	assert_int_equal(face->n, 6);
	assert_int_equal(face->items[1].field, profile_field_find(p, "name"));

	profile_budget_t b;
	assert_int_equal(profile_budget(p, &b), PROFILE_OK);
	assert_int_equal(b.nvm_size, 32768);
	assert_int_equal(b.capacity, 32768 - 1792 - 32 * 48 - 64 * 48);
	assert_int_equal(b.used, 96 + 2 * 64 + 32 * 16);
	assert_int_equal(b.files_used, 5);
	assert_int_equal(b.objects_used, 7);
	profile_free(p);
}

static void test_fcp_and_path(void **state)
{
	(void)state;
	profile_t *p = open_example("campus");
	uint8_t b[64];
	int log = profile_file_find(p, "access-log");
	size_t n = profile_file_fcp(p, (size_t)log, b, sizeof b);
	static const uint8_t want[] = {
		0x62, 0x17, 0x82, 0x05, 0x06, 0x21,
		0x00, 0x10, 0x20,	/* cyclic 32 x 16 */
		0x83, 0x02, 0x10, 0x03, /* FID 1003 */
		0x88, 0x01, 0x18,	/* SFI 3 */
		0x8C, 0x07, 0x7D,	/* b7..b1 but b2 */
		0x40, 0x40, 0x40, 0x40, 0x24, 0x51,
	};
	assert_int_equal(n, sizeof want);
	assert_memory_equal(b, want, sizeof want);
	n = profile_file_path(p, (size_t)log, b, sizeof b);
	assert_int_equal(n, 4);
	assert_int_equal(b[0], 0x10);
	assert_int_equal(b[1], 0x00);
	assert_int_equal(b[2], 0x10);
	assert_int_equal(b[3], 0x03);
	/* a DF's FCP carries its name */
	n = profile_file_fcp(p, 0, b, sizeof b);
	assert_true(n > 4);
	assert_int_equal(b[2], 0x82);
	assert_int_equal(b[4], 0x38);
	assert_int_equal(profile_file_fcp(p, 0, b, 4), 0);
	assert_int_equal(profile_file_fcp(p, 99, b, sizeof b), 0);
	profile_free(p);
}

static void test_loyalty_budget(void **state)
{
	(void)state;
	profile_t *p = open_example("loyalty");
	profile_budget_t b;
	assert_int_equal(profile_budget(p, &b), PROFILE_OK);
	assert_int_equal(b.kind, PROFILE_CHIP_MEMCARD);
	assert_int_equal(b.mem_size, 256);
	assert_int_equal(b.mem_fab, 20);
	assert_int_equal(b.mem_used, 5 + 5 + 36 + 8);
	assert_int_equal(b.prot_size, 32);
	assert_int_equal(b.prot_fab, 20);
	assert_int_equal(b.prot_used, 10);
	size_t n;
	const profile_area_t *a = profile_areas(p, &n);
	assert_int_equal(n, 4);
	assert_int_equal(a[0].protect, PROFILE_PROTECT_INIT);
	assert_int_equal(a[0].data_len, 5);
	const profile_psc_t *psc = profile_psc(p);
	assert_string_equal(psc->master, "LOYALTY-PSC-MK");
	const profile_field_t *fl = profile_fields(p, &n);
	int m = profile_field_find(p, "member-number");
	assert_int_equal(fl[m].place.kind, PROFILE_PLACE_AREA);
	assert_int_equal(fl[m].place.width, 5);
	profile_free(p);
}

/* ------------------------------------------------------------ diagnostics */

static void test_all_errors_listed(void **state)
{
	(void)state;
	const char *y = HEAD SCP KEYS FILES
		"  - {name: a, type: transparent, fid: 0101, size: 4, access: "
		"{read: always}}\n"
		"  - {name: b, type: transparent, fid: 0103, sise: 4, access: "
		"{read: always}}\n"
		"  - {name: c, type: transparent, fid: 0104, size: 4, access: "
		"{read: pim:1}}\n" FIELDS;
	profile_diags_t d;
	profile_t *p = load(y, &d);
	assert_non_null(p);
	assert_true(has_diag(&d, E(DUP_FID), 12, NULL));
	assert_true(has_diag(&d, E(UNKNOWN_KEY), 13, "sise"));
	assert_true(has_diag(&d, E(MISSING), 13, "size"));
	assert_true(has_diag(&d, E(ACCESS), 14, "pim:1"));
	assert_true(d.errors >= 4);

	/* printed in file order, in the documented format */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	profile_diags_print(f, &d);
	fclose(f);
	assert_non_null(strstr(buf, "t.yaml:12:39: error: "
				    "files[a].fid: FID 0101 is already file "
				    "'id'"));
	char *e7 = strstr(buf, "t.yaml:12:");
	char *e9 = strstr(buf, "t.yaml:14:");
	assert_true(e7 && e9 && e7 < e9);
	free(buf);
	profile_free(p);
	profile_diags_free(&d);
}

static void test_io_error(void **state)
{
	(void)state;
	profile_diags_t d;
	profile_diags_init(&d);
	profile_t *p = (profile_t *)1;
	assert_int_equal(profile_load_file("/nonexistent/x.yaml", &p, &d),
			 PROFILE_ERR_IO);
	assert_null(p);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(d.v[0].message, "cannot open"));
	assert_int_equal(profile_open("/nonexistent/x.yaml", &p, &d),
			 PROFILE_ERR_IO);
	profile_diags_free(&d);
	assert_int_equal(profile_load_mem("x", NULL, 1, &p, NULL),
			 PROFILE_ERR_PARAM);
	assert_int_equal(profile_check(NULL, NULL), PROFILE_ERR_PARAM);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int s = PROFILE_OK; s <= PROFILE_ERR_CONFLICT; s++) {
		const char *t = profile_strerror((profile_status_t)s);
		assert_non_null(t);
		assert_string_not_equal(t, "unknown error");
	}
	assert_string_equal(profile_strerror((profile_status_t)999),
			    "unknown error");
}

static void test_ac_text(void **state)
{
	(void)state;
	char b[48];
	assert_string_equal(profile_ac_text(0x00, b, sizeof b), "always");
	assert_string_equal(profile_ac_text(0xFF, b, sizeof b), "never");
	assert_string_equal(profile_ac_text(0x11, b, sizeof b), "pin:1");
	assert_string_equal(profile_ac_text(0x40, b, sizeof b), "sm");
	assert_string_equal(profile_ac_text(0x52, b, sizeof b), "[pin:2, sm]");
	assert_string_equal(profile_ac_text(0xE3, b, sizeof b),
			    "{all: [key:3, sm]}");
}

static void test_aliases(void **state)
{
	(void)state;
	/* an anchor shares one access block between two files */
	expect_clean(HEAD SCP KEYS
		     "files:\n"
		     "  - {name: id, type: transparent, fid: 0101, size: 16,\n"
		     "     access: &ro {read: always, default: sm}}\n"
		     "  - {name: b, type: transparent, fid: 0102, size: 4, "
		     "access: *ro}\n" FIELDS);
	/* a list of DFs that holds itself: read a bounded amount */
	const char *y = HEAD_F("cf32", FEATS ", df") SCP KEYS FIELDS
		"files: &l\n"
		"  - {name: a, type: df, fid: 1000, aid: A000000777000001, "
		"access: {default: sm}, files: *l}\n"
		"  - {name: b, type: df, fid: 2000, aid: A000000777000002, "
		"access: {default: sm}, files: *l}\n";
	profile_diags_t d;
	profile_t *p = load(y, &d);
	assert_true(d.errors > 0);
	assert_true(has_diag(&d, E(CAPACITY), 0, NULL));
	profile_free(p);
	profile_diags_free(&d);
}

static void test_hostile_bytes(void **state)
{
	(void)state;
	/* NUL bytes, invalid UTF-8, a huge scalar: errors, never a crash */
	static const char nul[] = "profile: a\0b\nversion: 1\n";
	profile_diags_t d;
	profile_t *p = NULL;
	profile_diags_init(&d);
	profile_load_mem("x", nul, sizeof nul - 1, &p, &d);
	assert_true(d.errors > 0);
	profile_free(p);
	profile_diags_free(&d);

	static const char bad_utf8[] = "profile: \xC3\x28\n";
	profile_diags_init(&d);
	p = NULL;
	profile_load_mem("x", bad_utf8, sizeof bad_utf8 - 1, &p, &d);
	assert_true(d.errors > 0);
	profile_free(p);
	profile_diags_free(&d);

	size_t big = 100000;
	char *s = malloc(big + 32);
	assert_non_null(s);
	memcpy(s, "profile: ", 9);
	memset(s + 9, 'a', big);
	strcpy(s + 9 + big, "\nversion: 1\n");
	profile_diags_init(&d);
	p = NULL;
	profile_load_mem("x", s, strlen(s), &p, &d);
	assert_true(d.errors > 0);
	assert_true(has_diag(&d, E(VALUE), 1, "a name"));
	profile_free(p);
	profile_diags_free(&d);
	free(s);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_base_is_clean),
		cmocka_unit_test(test_same_fid_in_two_dfs),
		cmocka_unit_test(test_capacity_exact),
		cmocka_unit_test(test_file_table_full),
		cmocka_unit_test(test_object_table_full),
		cmocka_unit_test(test_examples_check),
		cmocka_unit_test(test_campus_accessors),
		cmocka_unit_test(test_fcp_and_path),
		cmocka_unit_test(test_loyalty_budget),
		cmocka_unit_test(test_all_errors_listed),
		cmocka_unit_test(test_io_error),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_ac_text),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_hostile_bytes),
	};
	size_t nf = sizeof fixed / sizeof fixed[0];
	struct CMUnitTest *t = calloc(nf + N_CASES, sizeof *t);
	if (!t)
		return 1;
	memcpy(t, fixed, sizeof fixed);
	for (size_t i = 0; i < N_CASES; i++) {
		t[nf + i].name = cases[i].name;
		t[nf + i].test_func = run_case;
		t[nf + i].initial_state = (void *)&cases[i];
	}
	int rc =
		_cmocka_run_group_tests("profile", t, nf + N_CASES, NULL, NULL);
	free(t);
	return rc;
}
