/*
 * test_cos_tearing.c - the anti-tearing journal, seen from outside: a full
 * initialization script replayed with the power cut at every NVM write.
 *
 * docs/card-os.md and DESIGN.md: "every update goes through an anti-tearing
 * journal: power lost at any byte of any write leaves the old state or the
 * new one, never a mix". hal.h: the journal calls nvm_sync() four times a
 * transaction (after the log entries, after the commit record, after
 * applying, after retiring); at the first two the image outside the journal
 * area (bytes [256, 1792)) is the old state, at the last two the new one.
 * So the images seen at the sync barriers of a clean run are exactly the
 * legal states.
 *
 *   reference run  format, power on, run the script; at every sync barrier
 *                  record the SHA-256 of the image outside the journal
 *                  (state 0 is the image after the first power-up). Also
 *                  record the transaction boundaries from the writes
 *                  themselves (a write into the journal after writes outside
 *                  it starts a transaction), which does not depend on how
 *                  many barriers the journal issues; and check hal.h's
 *                  contract of two barriers a transaction.
 *   cut runs       for every write n of the reference run and torn in
 *                  {0, half of the write's bytes, all of it}: same image,
 *                  same script, the power cut at write n; then power up
 *                  (cos_power_on recovers), cos_check must pass, and the
 *                  image must be one of the synced images (the brief's
 *                  check) and the old or the new state of the transaction
 *                  in flight (the stricter check).
 *   double cuts    with torn = half, the power is cut again at the first
 *                  write of the recovery, then restored: same checks.
 *   I/O errors     every write n fails once (hal_mem_fail_at): the command
 *                  answers 6581, and after a power cycle the image is a
 *                  legal state.
 * The number of runs is printed.
 */
#include "cos_test_util.h"

/* ------------------------------------------------------------ the script */

typedef struct {
	char hex[2200];
	uint16_t sw;
} step_t;

static step_t script[160];
static size_t nsteps;

__attribute__((format(printf, 2, 3))) static void add(uint16_t sw,
						      const char *fmt, ...)
{
	REQUIRE(nsteps < sizeof script / sizeof script[0]);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(script[nsteps].hex, sizeof script[nsteps].hex, fmt, ap);
	va_end(ap);
	script[nsteps].sw = sw;
	nsteps++;
}

static void add_create(const ct_file_t f)
{
	add(0x9000, "%s", ct_create_apdu(&f));
}

static void build_script(void)
{
	uint8_t d[300];
	nsteps = 0;
	/* MANUFACTURING -> TRANSPORT. */
	add(0x9000,
	    "80 34 00 00 1F 80 08 " CT_SERIAL " 81 08 " CT_TCODE
	    " 82 01 03 83 02 " CT_FABDATE " 84 02 " CT_BATCH);
	add(0x63C2, "00 20 00 1F 08 0000000000000000");
	add(0x9000, "00 DA DF 41 04 4711 5130");
	/* -> INITIALIZATION. */
	add(0x9000, "00 20 00 1F 08 " CT_TCODE);
	add(0x9000, "00 DA DF 42 04 4712 5131");
	add(0x9000, "00 DA DF 43 08 4713 5132 01020304");
	/* Files of every type. */
	add(0x9000, "00 A4 00 0C 02 3F00");
	add_create(CT_DF(0x1000, "A0000000040001", "07 00 00 00"));
	add_create(CT_EF(0x1001, 200, 1, "03 11 00"));
	for (int i = 0; i < 200; i++)
		d[i] = (uint8_t)(i * 13 + 1);
	add(0x9000, "00 D6 00 00 78 %s", H(d, 120));
	add(0x9000, "00 D6 00 78 50 %s", H(d + 120, 80));
	add(0x9000, "00 A4 00 0C 02 1000");
	add_create(CT_REC(0x02, 0x1002, 12, 6, 2, NULL));
	add(0x9000, "00 E2 00 00 0C 111111111111111111111111");
	add(0x9000, "00 E2 00 00 0C 222222222222222222222222");
	add(0x9000, "00 E2 00 00 0C 333333333333333333333333");
	add(0x9000, "00 DC 02 04 0C 2A2A2A2A2A2A2A2A2A2A2A2A");
	add(0x9000, "00 A4 00 0C 02 1000");
	add_create(CT_REC(0x04, 0x1003, 30, 4, 3, NULL));
	add(0x9000, "00 E2 00 00 01 A1");
	for (int i = 0; i < 30; i++)
		d[i] = (uint8_t)(0x80 + i);
	add(0x9000, "00 E2 00 00 1E %s", H(d, 30));
	add(0x9000, "00 DC 01 04 0A 0102030405060708090A");
	add(0x9000, "00 A4 00 0C 02 1000");
	add_create(CT_REC(0x06, 0x1004, 8, 3, 4, NULL));
	for (int i = 1; i <= 5; i++)
		add(0x9000, "00 E2 00 00 08 %02X%02X%02X%02X%02X%02X%02X%02X",
		    i, i, i, i, i, i, i, i);
	add(0x9000, "00 A4 00 0C 02 1000");
	add(0x9000, "00 DA DF 01 %02X %s",
	    ct_hexlen(ct_pin_data(0x81, 3, 4, "31313131", 0)),
	    ct_pin_data(0x81, 3, 4, "31313131", 0));
	add_create(CT_DF(0x1100, "A0000000040002", NULL));
	add_create(CT_EF(0x1101, 16, 0, NULL));
	add(0x9000, "00 D6 00 00 10 00112233445566778899AABBCCDDEEFF");
	add(0x9000, "00 A4 00 0C 02 3F00");
	add_create(CT_DF(0x2000, "A0000000040003", NULL));
	add_create(CT_EF(0x2001, 300, 0, NULL));
	for (int i = 0; i < 250; i++)
		d[i] = (uint8_t)(255 - i);
	add(0x9000, "00 D6 00 00 FA %s", H(d, 250));
	add(0x9000, "00 0E 00 64");
	/* A large erase is one transaction too: 3 KiB written with extended
	 * UPDATE BINARY, then erased whole. */
	add(0x9000, "00 A4 00 0C 02 2000");
	add_create(CT_EF(0x2002, 3072, 0, NULL));
	{
		uint8_t big[1024];
		for (int k = 0; k < 3; k++) {
			for (int i = 0; i < 1024; i++)
				big[i] = (uint8_t)(0xA0 + k + i);
			add(0x9000, "00 D6 %02X 00 00 04 00 %s", k * 4,
			    H(big, 1024));
		}
	}
	add(0x9000, "00 0E 00 00");
	/* Deleting a DF with its files and its own PIN: one transaction. */
	add(0x9000, "00 A4 00 0C 02 3F00");
	add_create(CT_DF(0x3000, "A0000000040004", NULL));
	add_create(CT_EF(0x3001, 64, 0, NULL));
	add(0x9000, "00 A4 00 0C 02 3000");
	add_create(CT_EF(0x3002, 128, 0, NULL));
	add(0x9000, "00 A4 00 0C 02 3000");
	add_create(CT_DF(0x3100, "A0000000040005", NULL));
	add_create(CT_EF(0x3101, 32, 0, NULL));
	add(0x9000, "00 A4 00 0C 02 3000");
	add(0x9000, "00 DA DF 01 %02X %s",
	    ct_hexlen(ct_pin_data(0x82, 3, 4, "32323232", 0)),
	    ct_pin_data(0x82, 3, 4, "32323232", 0));
	add(0x9000, "00 A4 00 0C 02 3F00");
	add(0x9000, "00 E4 00 00 02 3000");
	/* PIN and key objects. */
	add(0x9000, "00 A4 00 0C 02 3F00");
	add(0x9000, "00 DA DF 01 %02X %s",
	    ct_hexlen(ct_pin_data(0x02, 5, 8, "3837363534333231", 0)),
	    ct_pin_data(0x02, 5, 8, "3837363534333231", 0));
	add(0x9000, "00 DA DF 01 %02X %s",
	    ct_hexlen(ct_pin_data(0x01, 3, 4, "31323334", 0x02)),
	    ct_pin_data(0x01, 3, 4, "31323334", 0x02));
	add(0x63C2, "00 20 00 01 04 39393939");
	add(0x9000, "00 20 00 01 04 31323334");
	add(0x9000, "00 24 00 01 08 31323334 35363738");
	add(0x9000, "00 DA DF 02 %02X %s",
	    ct_hexlen(ct_key_data(0x04, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH,
				  "2B7E151628AED2A6ABF7158809CF4F3C", 3)),
	    ct_key_data(0x04, 0x01, COS_ALG_AES, COS_KEY_USE_AUTH,
			"2B7E151628AED2A6ABF7158809CF4F3C", 3));
	static const char *const scp[3] = {CT_KEY_ENC, CT_KEY_MAC, CT_KEY_DEK};
	for (int i = 0; i < 3; i++) {
		const char *k = ct_key_data((uint8_t)(i + 1), CT_KVN,
					    COS_ALG_AES, COS_KEY_USE_SCP03,
					    scp[i], -1);
		add(0x9000, "00 DA DF 02 %02X %s", ct_hexlen(k), k);
	}
	/* Delete a DF with its subtree, create in its place. */
	add(0x9000, "00 A4 00 0C 02 3F00");
	add(0x9000, "00 E4 00 00 02 2000");
	add_create(CT_EF(0x2000, 64, 0, NULL));
	add(0x9000, "00 D6 00 00 04 CAFEBABE");
	/* Life cycle of a file. */
	add(0x9000, "00 A4 08 0C 02 1000");
	add(0x9000, "00 04 00 00 02 1001");
	add(0x9000, "00 44 00 00 02 1001");
	/* Burn the fuse. */
	add(0x9000, "80 F0 80 07");
}

/* ------------------------------------------------------------ states */

#define MAX_STATES 4096

/* A set of images outside the journal: hashes, and copies to diagnose. */
typedef struct {
	size_t n;
	uint8_t (*hash)[32];
	uint8_t **img;
} states_t;

static void states_init(states_t *st)
{
	st->n = 0;
	st->hash = calloc(MAX_STATES, 32);
	st->img = calloc(MAX_STATES, sizeof *st->img);
	CT_ASSERT(st->hash && st->img, "calloc");
}

static void states_add(states_t *st, const uint8_t *img, uint32_t size)
{
	CT_ASSERT(st->n < MAX_STATES, "too many states");
	ct_image_hash(img, size, st->hash[st->n]);
	st->img[st->n] = malloc(size);
	CT_ASSERT(st->img[st->n] != NULL, "malloc");
	memcpy(st->img[st->n], img, size);
	st->n++;
}

static long states_find(const states_t *st, const uint8_t h[32])
{
	for (size_t i = 0; i < st->n; i++)
		if (memcmp(st->hash[i], h, 32) == 0)
			return (long)i;
	return -1;
}

static void states_free(states_t *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->img[i]);
	free(st->img);
	free(st->hash);
	memset(st, 0, sizeof *st);
}

/*
 * Reference run bookkeeping.
 *   synced    the image at every sync barrier (what the brief and hal.h
 *             call the legal states: 2 barriers a transaction).
 *   bound     the image at every transaction boundary, found from the
 *             writes themselves: a write into the journal area right after
 *             writes outside it starts a new transaction, so the image just
 *             before it is the state after the previous one. Independent
 *             of how often the journal syncs.
 *   bidx[i]   boundaries passed up to and including write i (1-based).
 */
static states_t synced, bound;
static size_t *bidx;
static size_t nwrites;
static int last_was_data;

static int in_journal(uint32_t off, uint32_t len)
{
	return off >= CT_JOURNAL_OFF &&
	       off + len <= CT_JOURNAL_OFF + CT_JOURNAL_LEN;
}

static void ref_pre_write(tchip_t *t, uint32_t off, uint32_t len)
{
	int journal = in_journal(off, len);
	if (!journal && off < CT_JOURNAL_OFF + CT_JOURNAL_LEN &&
	    off + len > CT_JOURNAL_OFF)
		CHECKF(0, "a write straddles the journal area: %u+%u", off,
		       len);
	if (journal && last_was_data)
		states_add(&bound, hal_mem_image(t->mem), t->model->nvm_size);
	last_was_data = !journal;
	nwrites++;
	bidx = realloc(bidx, (nwrites + 1) * sizeof *bidx);
	CT_ASSERT(bidx != NULL, "realloc");
	bidx[nwrites] = bound.n - 1;
}

static void ref_sync(hal_mem_t *m, void *arg)
{
	(void)arg;
	states_add(&synced, hal_mem_image(m), hal_mem_size(m));
}

/* After a fault at write n and a power-up: the image is a synced state
 * (the brief's check) and the old or new state of the transaction in
 * flight (the boundary states b and b + 1). */
static void check_legal(tchip_t *t, const char *what, size_t n, uint32_t torn)
{
	uint8_t h[32];
	uint32_t size = t->model->nvm_size;
	const uint8_t *img = hal_mem_image(t->mem);
	ct_image_hash(img, size, h);
	long k = states_find(&synced, h);
	CHECKF(k >= 0, "%s at write %zu (torn %u): the image is none of the "
		       "%zu images seen at a sync barrier",
	       what, n, torn, synced.n);
	/* (A state may come back: a wrong then a right VERIFY restores the
	 * image of two transactions before, so compare with b and b + 1
	 * themselves, not with the first equal state.) */
	size_t b = bidx[n];
	int ok = memcmp(bound.hash[b], h, 32) == 0 ||
		 (b + 1 < bound.n && memcmp(bound.hash[b + 1], h, 32) == 0);
	CHECKF(ok,
	       "%s at write %zu (torn %u): state %ld, expected the old (%zu) "
	       "or the new (%zu) state of the transaction in flight",
	       what, n, torn, states_find(&bound, h), b, b + 1);
	if (!ok) {
		long d0 = ct_image_diff(bound.img[b], img, size);
		long d1 = b + 1 < bound.n ? ct_image_diff(bound.img[b + 1], img,
							  size)
					  : -2;
		fprintf(stderr,
			"    first difference with state %zu at offset %ld, "
			"with state %zu at offset %ld\n",
			b, d0, b + 1, d1);
	}
}

static void check_command_atomic(tchip_t *t, size_t at, size_t n,
				 uint32_t torn);

/* The image (outside the journal) before step 0 and after every step of
 * the reference run: the per-command view of atomicity. */
static uint8_t step_hash[sizeof script / sizeof script[0] + 1][32];
static int record_steps;

/* Runs the script from step 0; returns the index of the step during which
 * the chip failed (power lost), or nsteps. Checks the SWs before it. */
static size_t run_script(tchip_t *t, int check_sw)
{
	if (record_steps)
		ct_image_hash(hal_mem_image(t->mem), t->model->nvm_size,
			      step_hash[0]);
	for (size_t i = 0; i < nsteps; i++) {
		uint16_t sw = xfer(t, script[i].hex, NULL, NULL);
		if (t->st != COS_OK)
			return i;
		if (record_steps)
			ct_image_hash(hal_mem_image(t->mem),
				      t->model->nvm_size, step_hash[i + 1]);
		if (check_sw && sw != script[i].sw) {
			CHECKF(0, "script step %zu (%.*s...): SW %04X, expected "
				  "%04X",
			       i, 24, script[i].hex, sw, script[i].sw);
			return nsteps + 1;
		}
	}
	return nsteps;
}

/* docs/card-os.md, Durability: every command is one transaction, but for
 * those presenting a secret (spend the try, then restore it). After a cut
 * during step `at` the image is the one before or after that command. */
static void check_command_atomic(tchip_t *t, size_t at, size_t n,
				 uint32_t torn)
{
	unsigned cla = 0, ins = 0;
	if (sscanf(script[at].hex, "%x %x", &cla, &ins) != 2)
		return;
	if (cla == 0x00 && (ins == 0x20 || ins == 0x24 || ins == 0x2C ||
			    ins == 0x82))
		return;
	uint8_t h[32];
	ct_image_hash(hal_mem_image(t->mem), t->model->nvm_size, h);
	CHECKF(memcmp(h, step_hash[at], 32) == 0 ||
		       memcmp(h, step_hash[at + 1], 32) == 0,
	       "cut at write %zu (torn %u) during step %zu (%.*s...): the "
	       "image is neither the one before the command nor after it",
	       n, torn, at, 24, script[at].hex);
}

static uint8_t *formatted;
static uint32_t *lens;

/* Everything the sweeps allocate, also after a failed check. */
static void tearing_cleanup(void)
{
	free(lens);
	lens = NULL;
	free(formatted);
	formatted = NULL;
	free(bidx);
	bidx = NULL;
	states_free(&synced);
	states_free(&bound);
}

/* The chip's image back to the formatted one, powered, counters zero. */
static void fresh(tchip_t *t)
{
	cos_power_off(&t->chip);
	hal_mem_on_sync(t->mem, NULL, NULL);
	hal_mem_cut_at(t->mem, 0, 0);
	hal_mem_fail_at(t->mem, 0);
	hal_mem_power_restore(t->mem);
	memcpy(hal_mem_image(t->mem), formatted, t->model->nvm_size);
	tc_power_on(t);
	hal_mem_reset_counters(t->mem);
}

/* io 0: the power cut sweeps; io 1: the I/O error sweep. */
static void tearing(const char *model, int io)
{
	build_script();
	ct_cleanup_fn = tearing_cleanup;
	tchip_t *t = tc_new_unpowered(model, 99);
	uint32_t size = t->model->nvm_size;
	formatted = malloc(size);
	CT_ASSERT(formatted != NULL, "malloc");
	memcpy(formatted, hal_mem_image(t->mem), size);
	states_init(&synced);
	states_init(&bound);
	nwrites = 0;
	last_was_data = 0;
	bidx = calloc(1, sizeof *bidx);

	/* Reference run. */
	unsigned long f0 = ct_failed;
	tc_power_on(t);
	hal_mem_reset_counters(t->mem);
	states_add(&synced, hal_mem_image(t->mem), size);
	states_add(&bound, hal_mem_image(t->mem), size);
	hal_mem_on_sync(t->mem, ref_sync, NULL);
	t->pre_write = ref_pre_write;
	t->wlog.n = 0;
	t->wlog.on = 1;
	record_steps = 1;
	size_t done = run_script(t, 1);
	record_steps = 0;
	t->wlog.on = 0;
	t->pre_write = NULL;
	hal_mem_on_sync(t->mem, NULL, NULL);
	REQUIRE_F(done == nsteps, "the reference script must pass");
	REQUIRE(ct_failed == f0);
	if (last_was_data)
		states_add(&bound, hal_mem_image(t->mem), size);
	ct_require_state(t, COS_LC_PERSONALIZATION);
	CHECK_IMAGE(t);
	size_t w = t->wlog.n;
	lens = malloc(w * sizeof *lens);
	CT_ASSERT(lens != NULL, "malloc");
	memcpy(lens, t->wlog.len, w * sizeof *lens);
	unsigned long syncs = (unsigned long)hal_mem_syncs(t->mem);
	size_t ntx = bound.n - 1;
	CHECKF(hal_mem_writes(t->mem) == w, "write count %lu vs log %zu",
	       (unsigned long)hal_mem_writes(t->mem), w);

	/* hal.h: the journal calls nvm_sync() "four times a transaction:
	 * after the log entries, after the commit record, after applying the
	 * entries in place, after retiring the record. At the first two the
	 * image outside the journal area is exactly the old state, at the
	 * last two exactly the new one." (An earlier hal.h, and the brief of
	 * these tests, said twice: commit record, then applied and retired.)
	 * Checked at the end, so that a failure does not hide the sweeps. */
	int contract = syncs == 4 * ntx;
	for (size_t k = 0; contract && k < ntx; k++)
		contract = memcmp(synced.hash[4 * k + 1], bound.hash[k], 32) == 0 &&
			   memcmp(synced.hash[4 * k + 2], bound.hash[k], 32) == 0 &&
			   memcmp(synced.hash[4 * k + 3], bound.hash[k + 1], 32) == 0 &&
			   memcmp(synced.hash[4 * k + 4], bound.hash[k + 1], 32) == 0;
	/* What the brief relies on: every synced image is a legal state (a
	 * transaction boundary), none is half a transaction. */
	size_t stray = 0;
	for (size_t k = 0; k < synced.n; k++)
		if (states_find(&bound, synced.hash[k]) < 0) {
			if (!stray)
				fprintf(stderr, "    synced image %zu is no "
						"transaction boundary\n",
					k);
			stray++;
		}
	CHECKF(stray == 0, "%zu of %zu synced images are half-done "
			   "transactions",
	       stray, synced.n);

	/* Cut runs. */
	unsigned long runs = 0, doubles = 0, fails = 0;
	for (size_t n = 1; n <= w && !io; n++) {
		uint32_t torns[3] = {0, lens[n - 1] / 2, lens[n - 1]};
		for (int k = 0; k < 3; k++) {
			if (k == 1 && torns[1] == 0)
				continue;
			fresh(t);
			hal_mem_cut_at(t->mem, n, torns[k]);
			size_t at = run_script(t, 1);
			hal_mem_cut_at(t->mem, 0, 0);
			CHECKF(at < nsteps && t->st == COS_ERR_POWER,
			       "the cut at write %zu fired (step %zu, %s)", n,
			       at, cos_strerror(t->st));
			hal_mem_power_restore(t->mem);
			cos_power_off(&t->chip);

			uint8_t atr[COS_ATR_MAX];
			size_t al;
			if (k == 1) {
				/* Double cut: during the recovery too. */
				hal_mem_reset_counters(t->mem);
				hal_mem_cut_at(t->mem, 1, 3);
				cos_status_t st0 = cos_power_on(
					&t->chip, t->hal, atr, sizeof atr, &al);
				hal_mem_cut_at(t->mem, 0, 0);
				if (hal_mem_power_lost(t->mem)) {
					CHECKF(st0 == COS_ERR_POWER,
					       "power-up cut: %s",
					       cos_strerror(st0));
					doubles++;
				}
				hal_mem_power_restore(t->mem);
				cos_power_off(&t->chip);
			}
			cos_status_t st = cos_power_on(&t->chip, t->hal, atr,
						       sizeof atr, &al);
			CHECKF(st == COS_OK,
			       "power-up after a cut at write %zu (torn %u): %s",
			       n, torns[k], cos_strerror(st));
			runs++;
			if (st != COS_OK)
				continue;
			CHECK_IMAGE(t);
			check_legal(t, "cut", n, torns[k]);
			check_command_atomic(t, at, n, torns[k]);
			/* The chip answers. */
			EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
			if (ct_failed > 30)
				goto out;
		}
	}

	if (!io)
		printf("    %s: script of %zu APDUs, %zu NVM writes, %zu "
		       "transactions, %lu sync barriers; %lu power cuts (+%lu "
		       "during recovery)\n",
		       model, nsteps, w, ntx, syncs, runs, doubles);

	/* I/O errors. */
	for (size_t n = 1; n <= w && io; n++) {
		fresh(t);
		hal_mem_fail_at(t->mem, n);
		size_t i;
		uint16_t sw = 0;
		for (i = 0; i < nsteps; i++) {
			uint64_t before = hal_mem_writes(t->mem);
			sw = xfer(t, script[i].hex, NULL, NULL);
			if (hal_mem_writes(t->mem) >= n && before < n)
				break;
		}
		hal_mem_fail_at(t->mem, 0);
		CHECKF(i < nsteps && t->st == COS_OK && sw == 0x6581,
		       "write %zu failed during step %zu: cos_transmit %s, SW "
		       "%04X, expected 6581",
		       n, i, cos_strerror(t->st), sw);
		if (t->st == COS_OK) {
			/* The chip goes on working without a reset. */
			EXPECT_SW(t, 0x9000, "00 CA 9F 7F 00");
		}
		tc_power_cycle(t);
		CHECK_IMAGE(t);
		check_legal(t, "I/O error", n, 0);
		fails++;
		if (ct_failed > 30)
			goto out;
	}
	if (io)
		printf("    %s: %lu I/O errors, one a write\n", model, fails);
out:
	if (!io)
		CHECKF(contract,
		       "hal.h contract: 4 sync barriers a transaction, old, "
		       "old, new, new; %lu barriers for %zu transactions (%zu "
		       "writes)",
		       syncs, ntx, w);
}

static void test_tearing_cf32(void **state)
{
	(void)state;
	tearing("cf32", 0);
}

static void test_tearing_cf64(void **state)
{
	(void)state;
	tearing("cf64", 0);
}

static void test_io_errors_cf32(void **state)
{
	(void)state;
	tearing("cf32", 1);
}

/* A transaction never half-visible to the running chip either: after a
 * refused command (6A84 for a file too big), nothing changed. */
static void test_refused_changes_nothing(void **state)
{
	(void)state;
	tchip_t *t = tc_new("cf32", 5);
	tc_to_state(t, COS_LC_INITIALIZATION, ct_build_small);
	uint32_t size = t->model->nvm_size;
	uint8_t *before = ct_alloc(size);
	SELECT_MF(t);
	memcpy(before, hal_mem_image(t->mem), size);
	CREATE(t, 0x6A84, CT_EF(0x0200, 30000, 0, NULL));
	CREATE(t, 0x6A89, CT_EF(0x0101, 8, 0, NULL));
	EXPECT_SW(t, 0x9000, "00 A4 00 0C 02 0101");
	EXPECT_SW(t, 0x6A84, "00 D6 00 1F 02 0102");
	long d = ct_image_diff(before, hal_mem_image(t->mem), size);
	CHECKF(d < 0, "refused commands left the image alone (change at %ld)",
	       d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_tearing_cf32),
		CT_TEST(test_tearing_cf64),
		CT_TEST(test_io_errors_cf32),
		CT_TEST(test_refused_changes_nothing),
	};
	int rc = cmocka_run_group_tests_name("cos_tearing", tests, NULL, NULL);
	ct_summary("test_cos_tearing");
	return rc;
}
