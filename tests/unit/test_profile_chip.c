/*
 * test_profile_chip.c - a profile's memory budget against what the chips
 * really allocate.
 *
 * The profile checker computes the budget from the card OS's rules
 * (src/profile/check.c); here the card OS itself is the judge: a virtual
 * chip (hal_mem, card OS through cos_transmit only) is taken to
 * INITIALIZATION (FAB CLOSE, transport code), every file of the profile is
 * created with CREATE FILE from the FCP the profile encodes, every PIN and
 * key with PUT DATA, and then cos_get_info() and cos_walk() must agree with
 * the profile: body bytes used, file and object slots, capacity, and file
 * by file the type, size, records, SFI, DF name, access conditions and
 * allocation. At the edges the two must agree as well: a profile that
 * fills the chip exactly checks OK and is created; one byte, one file or
 * one object more is a CAPACITY error and the chip answers 6A84.
 *
 * The memory card likewise: the fab's protected bytes are the profile's
 * PROFILE_MC_FAB_MASK, and after writing and protecting the loyalty
 * profile's areas the chip counts the protected bytes the budget says.
 */
#define _POSIX_C_SOURCE 200809L

#include "cos_test_util.h"

#include "memcard/memcard.h"
#include "profile/profile.h"

/* ------------------------------------------------------------ profiles */

static char *pc_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *r = malloc(n);
	CT_ASSERT(r != NULL, "malloc");
	memcpy(r, s, n);
	return r;
}

static char *pc_cat(char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *r = realloc(a, la + lb + 1);
	CT_ASSERT(r != NULL, "realloc");
	memcpy(r + la, b, lb + 1);
	return r;
}

static char *example_path(const char *name)
{
	const char *root = getenv("CARDFAB_SOURCE_DIR");
	char buf[4096];
	if (root && root[0]) {
		snprintf(buf, sizeof buf, "%s/profiles/%s.yaml", root, name);
	} else {
		const char *f = __FILE__;
		const char *cut = strstr(f, "tests/unit/");
		snprintf(buf, sizeof buf, "%.*sprofiles/%s.yaml",
			 cut ? (int)(cut - f) : 0, f, name);
	}
	return pc_strdup(buf);
}

/* Load and check; want_ok: no error expected, else errors of kind
 * `kind` expected. The profile is returned either way. */
static profile_t *pc_load(const char *name, const char *yaml, int want_ok,
			  profile_status_t kind)
{
	profile_diags_t d;
	profile_t *p = NULL;
	profile_diags_init(&d);
	if (yaml) {
		profile_load_mem(name, yaml, strlen(yaml), &p, &d);
	} else {
		char *path = example_path(name);
		profile_load_file(path, &p, &d);
		free(path);
	}
	REQUIRE_F(p != NULL, "profile %s did not load", name);
	profile_check(p, &d);
	int found = 0;
	for (size_t i = 0; i < d.n; i++)
		found |= d.v[i].kind == kind &&
			 d.v[i].severity == PROFILE_SEV_ERROR;
	int ok = want_ok ? d.errors == 0 : found;
	if (!ok)
		profile_diags_print(stderr, &d);
	CHECKF(ok, "profile %s: %s", name,
	       want_ok ? "expected no error" :
			 "expected an error of this kind");
	profile_diags_free(&d);
	return p;
}

/* ------------------------------------------------------------ building */

static uint16_t select_parent(tchip_t *t, const profile_t *p, size_t i)
{
	size_t n;
	const profile_file_t *f = profile_files(p, &n);
	if (f[i].parent < 0)
		return xfer(t, "00 A4 00 0C 02 3F00", NULL, NULL);
	uint8_t path[64];
	size_t pl =
		profile_file_path(p, (size_t)f[i].parent, path, sizeof path);
	CT_ASSERT(pl > 0, "profile_file_path");
	return xferf(t, "00 A4 08 0C %02X %s", (unsigned)pl, H(path, pl));
}

/* Create file i; returns CREATE FILE's SW. */
static uint16_t create_file(tchip_t *t, const profile_t *p, size_t i)
{
	uint8_t fcp[64];
	uint16_t sw = select_parent(t, p, i);
	CHECKF(sw == 0x9000, "select parent of file %zu: %04X", i, sw);
	size_t n = profile_file_fcp(p, i, fcp, sizeof fcp);
	CT_ASSERT(n > 0, "profile_file_fcp");
	return xferf(t, "00 E0 00 00 %02X %s", (unsigned)n, H(fcp, n));
}

static uint16_t select_owner(tchip_t *t, const profile_t *p, int df)
{
	if (df < 0)
		return xfer(t, "00 A4 00 0C 02 3F00", NULL, NULL);
	uint8_t path[64];
	size_t pl = profile_file_path(p, (size_t)df, path, sizeof path);
	return xferf(t, "00 A4 08 0C %02X %s", (unsigned)pl, H(path, pl));
}

/* PUT DATA of PIN i (no value: personalization sets it). */
static uint16_t put_pin(tchip_t *t, const profile_t *p, size_t i)
{
	size_t n;
	const profile_pin_t *o = &profile_pins(p, &n)[i];
	const profile_pin_t *all = profile_pins(p, &n);
	select_owner(t, p, o->df);
	uint8_t ref = (uint8_t)(o->ref | (o->df >= 0 ? 0x80 : 0));
	char puk[16] = "";
	if (o->puk >= 0)
		snprintf(puk, sizeof puk, "8401%02X", all[o->puk].ref);
	unsigned len = 9 + (o->puk >= 0 ? 3 : 0);
	return xferf(t, "00 DA DF 01 %02X 8001%02X 8101%02X 8201%02X %s", len,
		     ref, o->tries, o->length, puk);
}

/* PUT DATA of key i with a dummy value of its length. */
static uint16_t put_key(tchip_t *t, const profile_t *p, size_t i)
{
	size_t n;
	const profile_key_t *k = &profile_keys(p, &n)[i];
	select_owner(t, p, k->df);
	uint8_t v[32];
	for (unsigned b = 0; b < k->key_len; b++)
		v[b] = (uint8_t)(0x40 + i + b);
	uint8_t ref = (uint8_t)(k->ref | (k->df >= 0 ? 0x80 : 0));
	unsigned len = 3 * 4 + 2 + k->key_len + 3;
	return xferf(t,
		     "00 DA DF 02 %02X 8001%02X 8101%02X 8201%02X 8301%02X "
		     "84%02X%s 8501%02X",
		     len, ref, k->kvn, k->cos_alg, k->usage, k->key_len,
		     H(v, k->key_len), k->tries);
}

/* A chip of the profile's model in INITIALIZATION. */
static tchip_t *chip_for(const profile_t *p, uint64_t seed)
{
	tchip_t *t = tc_new(profile_info(p)->cos_model->name, seed);
	tc_to_state(t, COS_LC_INITIALIZATION, NULL);
	return t;
}

/* ------------------------------------------------------------ comparing */

typedef struct {
	cos_file_info_t f[128];
	size_t n;
} walk_t;

static int collect(const cos_file_info_t *f, void *arg)
{
	walk_t *w = arg;
	if (w->n < 128)
		w->f[w->n++] = *f;
	return 0;
}

/* The chip holds exactly the profile: budget and file by file. */
static void compare(tchip_t *t, const profile_t *p)
{
	profile_budget_t b;
	REQUIRE(profile_budget(p, &b) == PROFILE_OK);
	cos_info_t in = tc_info(t);
	CHECKF(in.nvm_size == b.nvm_size, "EEPROM: chip %u, profile %u",
	       in.nvm_size, b.nvm_size);
	CHECKF(in.fs_capacity == b.capacity,
	       "body capacity: chip %u, profile %u", in.fs_capacity,
	       b.capacity);
	CHECKF(in.fs_used == b.used, "body bytes used: chip %u, profile %u",
	       in.fs_used, b.used);
	CHECKF(in.files_used == b.files_used,
	       "file slots used: chip %u, profile %u", in.files_used,
	       b.files_used);
	CHECKF(in.files_max == b.files_max, "file slots: chip %u, profile %u",
	       in.files_max, b.files_max);
	CHECKF(in.objects_used == b.objects_used,
	       "object slots used: chip %u, profile %u", in.objects_used,
	       b.objects_used);
	CHECKF(in.objects_max == b.objects_max,
	       "object slots: chip %u, profile %u", in.objects_max,
	       b.objects_max);

	walk_t *w = ct_alloc(sizeof *w);
	cos_walk(&t->chip, collect, NULL, w);
	size_t n;
	const profile_file_t *pf = profile_files(p, &n);
	CHECKF(w->n == n + 1, "chip has %zu files with the MF, profile %zu",
	       w->n, n + 1);
	/* cos_walk goes depth first like the profile; children of a DF in
	 * table order, which is creation order on a new card: the same. */
	for (size_t i = 0; i < n && i + 1 < w->n; i++) {
		const cos_file_info_t *c = &w->f[i + 1];
		const profile_file_t *f = &pf[i];
		CHECKF(c->fid == f->fid,
		       "file %zu: FID chip %04X, profile %04X", i, c->fid,
		       f->fid);
		CHECKF(c->depth == f->depth, "%s: depth chip %u, profile %u",
		       f->name, c->depth, f->depth);
		CHECKF(c->type == f->type, "%s: type chip %d, profile %d",
		       f->name, (int)c->type, (int)f->type);
		CHECKF(c->sfi == f->sfi, "%s: SFI chip %u, profile %u", f->name,
		       c->sfi, f->sfi);
		if (f->type != COS_FT_DF) {
			CHECKF(c->size == f->size,
			       "%s: size chip %u, profile %u", f->name, c->size,
			       f->size);
			CHECKF(c->allocated == f->body,
			       "%s: body chip %u, profile %u", f->name,
			       c->allocated, f->body);
		} else {
			CHECKF(c->aid_len == f->aid_len &&
				       memcmp(c->aid, f->aid, f->aid_len) == 0,
			       "%s: DF name differs", f->name);
		}
		if (f->records)
			CHECKF(c->max_records == f->records,
			       "%s: records chip %u, profile %u", f->name,
			       c->max_records, f->records);
		for (unsigned op = 0; op < COS_AC_OPS; op++) {
			uint8_t want =
				(f->am & (1u << op)) ? f->sc[op] : COS_AC_NEVER;
			CHECKF(c->ac[op] == want,
			       "%s: %s: chip %02X, profile %02X", f->name,
			       profile_op_name(f->type == COS_FT_DF, op),
			       c->ac[op], want);
		}
	}
	CHECK_IMAGE(t);
}

/* Every file and object of p on a chip; all must be accepted. */
static void build_all(tchip_t *t, const profile_t *p)
{
	size_t n;
	profile_files(p, &n);
	for (size_t i = 0; i < n; i++) {
		uint16_t sw = create_file(t, p, i);
		CHECKF(sw == 0x9000, "CREATE FILE of file %zu: %04X", i, sw);
	}
	profile_pins(p, &n);
	for (size_t i = 0; i < n; i++) {
		uint16_t sw = put_pin(t, p, i);
		CHECKF(sw == 0x9000, "PUT DATA of PIN %zu: %04X", i, sw);
	}
	profile_keys(p, &n);
	for (size_t i = 0; i < n; i++) {
		uint16_t sw = put_key(t, p, i);
		CHECKF(sw == 0x9000, "PUT DATA of key %zu: %04X", i, sw);
	}
}

static void example_on_chip(const char *name, uint64_t seed)
{
	profile_t *p = pc_load(name, NULL, 1, PROFILE_OK);
	tchip_t *t = chip_for(p, seed);
	build_all(t, p);
	compare(t, p);
	/* The profile's SCP03 key set is one the card OS accepts: the fuse
	 * (SET STATUS 07) needs it. */
	REQUIRE_SW(t, 0x9000, "00 A4 00 0C 02 3F00");
	EXPECT_SW(t, 0x9000, "80 F0 80 07");
	ct_require_state(t, COS_LC_PERSONALIZATION);
	profile_free(p);
}

static void test_campus_on_chip(void **state)
{
	(void)state;
	example_on_chip("campus", 11);
}

static void test_transit_on_chip(void **state)
{
	(void)state;
	example_on_chip("transit", 12);
}

/* ------------------------------------------------------------ edges */

#define HEAD(feats)                                                        \
	"profile: edge\nversion: 1\nchip: cf32\nfeatures: [" feats "]\n"   \
	"scp03: {kvn: 0x30, level: [c-mac, c-dec]}\n"                      \
	"fields:\n"                                                        \
	"  - {name: id, type: digits, max-length: 4, trace: true, place: " \
	"{file: id, offset: 0}}\n"                                         \
	"keys:\n"                                                          \
	"  - {name: enc, ref: 1, kvn: 0x30, algorithm: aes128, usage: "    \
	"scp03-enc, diversify: {master: E, method: aes-ecb-serial}}\n"    \
	"  - {name: mac, ref: 2, kvn: 0x30, algorithm: aes128, usage: "    \
	"scp03-mac, diversify: {master: M, method: aes-ecb-serial}}\n"    \
	"  - {name: dek, ref: 3, kvn: 0x30, algorithm: aes128, usage: "    \
	"scp03-dek, diversify: {master: D, method: aes-ecb-serial}}\n"
#define ID_FILE                                                          \
	"files:\n"                                                       \
	"  - {name: id, type: transparent, fid: 0101, size: 4, access: " \
	"{read: always}}\n"

/* A profile whose bodies take capacity + extra bytes. */
static char *bodies_yaml(uint32_t capacity, int extra)
{
	char line[200];
	char *y = pc_strdup(HEAD("transparent, scp03, aes") ID_FILE);
	snprintf(line, sizeof line,
		 "  - {name: big, type: transparent, fid: 0102, size: %u, "
		 "access: {read: always}}\n",
		 (unsigned)(capacity - 4 + (uint32_t)extra));
	return pc_cat(y, line);
}

static void test_capacity_edge(void **state)
{
	(void)state;
	const cos_model_t *m = cos_model_find("cf32");
	uint32_t cap =
		m->nvm_size - 1792 - m->max_objects * 48u - m->max_files * 48u;
	/* exactly full: the checker agrees and the chip takes it */
	char *y = bodies_yaml(cap, 0);
	profile_t *p = pc_load("full", y, 1, PROFILE_OK);
	tchip_t *t = chip_for(p, 21);
	build_all(t, p);
	compare(t, p);
	cos_info_t in = tc_info(t);
	CHECKF(in.fs_used == in.fs_capacity, "chip full: %u of %u", in.fs_used,
	       in.fs_capacity);
	profile_free(p);
	free(y);

	/* one byte more: a CAPACITY error, and CREATE FILE answers 6A84 */
	y = bodies_yaml(cap, 1);
	p = pc_load("over", y, 0, PROFILE_ERR_CAPACITY);
	t = chip_for(p, 22);
	CHECK(create_file(t, p, 0) == 0x9000);
	uint16_t sw = create_file(t, p, 1);
	CHECKF(sw == 0x6A84, "CREATE FILE one byte over: %04X, expected 6A84",
	       sw);
	profile_free(p);
	free(y);
}

/* A profile of `count` 1-byte EFs besides the id file. */
static char *files_yaml(unsigned count)
{
	char *y = pc_strdup(HEAD("transparent, scp03, aes") ID_FILE);
	for (unsigned i = 0; i < count; i++) {
		char line[160];
		snprintf(line, sizeof line,
			 "  - {name: f%u, type: transparent, fid: %04X, "
			 "size: 1, access: {read: always}}\n",
			 i, 0x2000 + i);
		y = pc_cat(y, line);
	}
	return y;
}

static void test_file_slots_edge(void **state)
{
	(void)state;
	const cos_model_t *m = cos_model_find("cf32");
	unsigned room = m->max_files - 2u; /* the MF and the id file */
	char *y = files_yaml(room);
	profile_t *p = pc_load("slots", y, 1, PROFILE_OK);
	tchip_t *t = chip_for(p, 31);
	build_all(t, p);
	compare(t, p);
	profile_free(p);
	free(y);

	y = files_yaml(room + 1);
	p = pc_load("slots-over", y, 0, PROFILE_ERR_CAPACITY);
	t = chip_for(p, 32);
	size_t n;
	profile_files(p, &n);
	for (size_t i = 0; i + 1 < n; i++)
		CHECKF(create_file(t, p, i) == 0x9000, "file %zu", i);
	uint16_t sw = create_file(t, p, n - 1);
	CHECKF(sw == 0x6A84, "CREATE FILE past the table: %04X, expected 6A84",
	       sw);
	profile_free(p);
	free(y);
}

static char *objects_yaml(unsigned pins)
{
	char *y = pc_strdup(HEAD("transparent, scp03, aes, pin") ID_FILE
			    "pins:\n");
	for (unsigned i = 1; i <= pins; i++) {
		char line[200];
		snprintf(line, sizeof line,
			 "  - {name: p%u, ref: %u, length: 4, format: "
			 "ascii-numeric, min-digits: 4, max-digits: 4, tries: "
			 "3, value: {random: 4}}\n",
			 i, i);
		y = pc_cat(y, line);
	}
	return y;
}

static void test_object_slots_edge(void **state)
{
	(void)state;
	const cos_model_t *m = cos_model_find("cf32");
	unsigned room = m->max_objects - 3u; /* the SCP03 key set */
	char *y = objects_yaml(room);
	profile_t *p = pc_load("objects", y, 1, PROFILE_OK);
	tchip_t *t = chip_for(p, 41);
	build_all(t, p);
	compare(t, p);
	profile_free(p);
	free(y);

	y = objects_yaml(room + 1);
	p = pc_load("objects-over", y, 0, PROFILE_ERR_CAPACITY);
	t = chip_for(p, 42);
	size_t n;
	profile_keys(p, &n);
	for (size_t i = 0; i < n; i++)
		CHECK(put_key(t, p, i) == 0x9000);
	profile_pins(p, &n);
	for (size_t i = 0; i + 1 < n; i++)
		CHECKF(put_pin(t, p, i) == 0x9000, "PIN %zu", i);
	uint16_t sw = put_pin(t, p, n - 1);
	CHECKF(sw == 0x6A84,
	       "PUT DATA past the object table: %04X, expected "
	       "6A84",
	       sw);
	profile_free(p);
	free(y);
}

/* DF-specific objects and nested DFs are created where the profile says. */
static void test_nested_on_chip(void **state)
{
	(void)state;
	const char *y = HEAD(
		"transparent, scp03, aes, pin, puk, df, linear-variable, "
		"sfi, external-auth, secure-messaging") "  - {name: dfkey, ref: 4, kvn: 1, df: inner, algorithm: "
							"aes192, usage: auth, tries: 5,\n"
							"     diversify: {master: K, method: aes-ecb-serial}}\n"
							"  - {name: door, ref: 5, kvn: 2, algorithm: aes256, usage: "
							"auth,\n"
							"     diversify: {master: K, method: aes-ecb-serial}}\n"
							"pins:\n"
							"  - {name: local, ref: 1, df: outer, length: 6, format: bcd, "
							"min-digits: 4, max-digits: 12, tries: 5, value: {random: 6}}\n"
							"  - {name: g, ref: 2, length: 8, format: ascii-numeric, "
							"min-digits: 4, max-digits: 8, tries: 3, puk: u, value: "
							"{random: 4}}\n"
							"  - {name: u, ref: 3, length: 8, format: ascii-numeric, "
							"min-digits: 8, max-digits: 8, tries: 9, value: {random: 8}}\n" ID_FILE
							"  - name: outer\n"
							"    type: df\n"
							"    fid: 5000\n"
							"    aid: A0 00 00 07 77 FF 01\n"
							"    access: {create-ef: sm, delete-child: {all: [pin:g, sm]}, "
							"default: never}\n"
							"    files:\n"
							"      - {name: v, type: linear-variable, fid: 5001, sfi: 30, "
							"record-length: 100, records: 7,\n"
							"         access: {read: [key:door, sm], update: pin:2, "
							"append: {all: [pin:g]}, delete: always}}\n"
							"      - name: inner\n"
							"        type: df\n"
							"        fid: 5002\n"
							"        aid: A0 00 00 07 77 FF 02 01 02 03 04 05 06 07 08 09\n"
							"        access: {default: sm}\n"
							"        files:\n"
							"          - {name: w, type: transparent, fid: 5001, size: 300, "
							"access: {read: always, update: key:5}}\n";
	profile_t *p = pc_load("nested", y, 1, PROFILE_OK);
	tchip_t *t = chip_for(p, 51);
	build_all(t, p);
	compare(t, p);
	/* the DF-specific objects belong to their DFs on the chip too */
	cos_info_t in = tc_info(t);
	CHECKF(in.objects_used == 8, "objects: %u", in.objects_used);
	profile_free(p);
}

/* ------------------------------------------------------------ memory card */

static uint16_t mc_xfer(mc_chip_t *chip, const char *fmt, ...)
{
	char hex[1200];
	uint8_t c[300], r[MC_RAPDU_MAX];
	size_t rl = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hex, sizeof hex, fmt, ap);
	va_end(ap);
	size_t n = ct_hex(hex, c, sizeof c);
	mc_status_t st = mc_transmit(chip, c, n, r, sizeof r, &rl);
	CT_ASSERT(st == MC_OK && rl >= 2, "mc_transmit: %s", mc_strerror(st));
	return (uint16_t)(r[rl - 2] << 8 | r[rl - 1]);
}

static void test_loyalty_on_memcard(void **state)
{
	(void)state;
	profile_t *p = pc_load("loyalty", NULL, 1, PROFILE_OK);
	profile_budget_t b;
	REQUIRE(profile_budget(p, &b) == PROFILE_OK);

	hal_mem_t *mem = NULL;
	REQUIRE(hal_mem_new(MC_NVM_SIZE, 61, &mem) == HAL_HOST_OK);
	mc_fab_t fab;
	mc_fab_default(&fab);
	fab.has_serial = 1; /* cardfab's fab writes the chip serial */
	memcpy(fab.serial, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	REQUIRE(mc_format(hal_mem_hal(mem), mc_model_find("sle4442"), &fab) ==
		MC_OK);
	mc_chip_t *chip = ct_alloc(sizeof *chip);
	uint8_t atr[16];
	size_t al;
	REQUIRE(mc_power_on(chip, hal_mem_hal(mem), atr, sizeof atr, &al) ==
		MC_OK);
	mc_info_t in;
	REQUIRE(mc_get_info(chip, &in) == MC_OK);
	/* what the profile says the fab keeps, the chip keeps */
	CHECKF(in.protected_mask == PROFILE_MC_FAB_MASK,
	       "fab protection: chip %08X, profile %08X", in.protected_mask,
	       PROFILE_MC_FAB_MASK);
	CHECKF(in.protected_count == b.prot_fab,
	       "fab bytes: chip %u, "
	       "profile %u",
	       in.protected_count, b.prot_fab);

	CHECK(mc_xfer(chip, "FF A4 00 00 01 06") == 0x9000);
	CHECK(mc_xfer(chip, "FF 20 00 00 03 FFFFFF") == 0x9007);
	size_t n;
	const profile_area_t *a = profile_areas(p, &n);
	uint32_t mask = PROFILE_MC_FAB_MASK;
	uint8_t want[MC_MEM_SIZE];
	memcpy(want, in.memory, sizeof want);
	for (size_t i = 0; i < n; i++) {
		uint8_t v[256];
		for (unsigned k = 0; k < a[i].length; k++)
			v[k] = a[i].data ? a[i].data[k] :
					   (uint8_t)(0x30 + i + k);
		memcpy(want + a[i].start, v, a[i].length);
		CHECK(mc_xfer(chip, "FF D0 00 %02X %02X %s", a[i].start,
			      a[i].length, H(v, a[i].length)) == 0x9000);
		if (a[i].protect == PROFILE_PROTECT_NO)
			continue;
		CHECK(mc_xfer(chip, "FF D1 00 %02X %02X %s", a[i].start,
			      a[i].length, H(v, a[i].length)) == 0x9000);
		for (unsigned k = a[i].start; k < a[i].start + a[i].length; k++)
			mask |= 1u << k;
	}
	REQUIRE(mc_get_info(chip, &in) == MC_OK);
	/* every area landed, none touched the fab's bytes */
	CHECKF(memcmp(in.memory, want, sizeof want) == 0,
	       "memory differs from the areas written");
	CHECKF(in.protected_mask == mask,
	       "protection: chip %08X, expected %08X", in.protected_mask, mask);
	CHECKF(in.protected_count == b.prot_fab + b.prot_used,
	       "protected bytes: chip %u, budget %u + %u", in.protected_count,
	       b.prot_fab, b.prot_used);
	CHECKF(b.mem_size == MC_MEM_SIZE && b.prot_size == MC_PROT_BYTES,
	       "memory card sizes");
	mc_power_off(chip);
	hal_mem_free(mem);
	profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_campus_on_chip),	  CT_TEST(test_transit_on_chip),
		CT_TEST(test_capacity_edge),	  CT_TEST(test_file_slots_edge),
		CT_TEST(test_object_slots_edge),  CT_TEST(test_nested_on_chip),
		CT_TEST(test_loyalty_on_memcard),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	ct_summary("test_profile_chip");
	return rc;
}
