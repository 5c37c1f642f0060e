/*
 * memcard_fuzz.h - fuzzing the memory card (src/memcard) through its
 * pseudo-APDU entry point, mc_transmit(). Header-only, so that the card
 * OS's libFuzzer target (fuzz_apdu.c) can cover this chip too:
 *
 *     #include "memcard_fuzz.h"
 *     ... memcard_fuzz_one(data, size);   for the inputs it gives this chip
 *
 * Every name here starts with mcf_ / MCF_ (or is memcard_fuzz_one) so that
 * it does not clash with the including file's statics.
 *
 * On the first call it makes one chip in RAM (hal_mem, fixed seed) and
 * keeps a snapshot of its image in three states:
 *
 *   0 TRANSPORT  fresh from the fab: transport PSC FF FF FF (as sold),
 *                manufacturer bytes protected, counter 07
 *   1 ISSUED     after an initialization over APDUs: transport PSC
 *                presented, data written, PSC changed to 12 34 56, bytes
 *                27..31 protected (the fuse), counter 07
 *   2 LOCKED     three wrong PSCs: counter 00, writable for nobody
 *
 * Input format (any byte string is valid):
 *
 *   byte 0      mode: b2-b1 snapshot (modulo 3), b3 the harness selects
 *               the card type first, b4 the harness then presents the
 *               snapshot's PSC (the fuzzer starts with writes open),
 *               b8 power cut armed:
 *   [byte 1-2]  if b8: cut the power during NVM write number byte 1 + 1
 *               after byte 2 bytes of it; the harness powers the chip back
 *               on (journal recovery), checks it and goes on
 *   then        up to 16 pseudo-APDUs, each a 2-byte big-endian length
 *               (11 bits: 0-2047) and that many bytes (fewer if the input
 *               ends)
 *
 * Each APDU goes in a buffer of exactly its length (reading past it is an
 * ASan error); the response buffer is exactly MC_RAPDU_MAX. It abort()s
 * when:
 *   - mc_transmit() fails, except MC_ERR_POWER after the armed cut;
 *   - a response is shorter than 2 bytes or longer than its buffer;
 *   - an error status word comes with data, or 90xx (xx != 00) answers
 *     anything but PRESENT CODE;
 *   - a protection bit goes from 0 back to 1, or a protected byte changes;
 *   - main memory, protection bits or the PSC change without a correct
 *     PSC presented in this session, or anything changes on a locked card;
 *   - the error counter does anything but lose one bit, or go back to 07
 *     on a 9007;
 *   - mc_check() fails after a power up, after the sequence, or after a
 *     final power cycle.
 */
#ifndef CARDFAB_MEMCARD_FUZZ_H
#define CARDFAB_MEMCARD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal_host.h"
#include "memcard/memcard.h"

#define MCF_MAX_APDUS 16
#define MCF_NSNAPS 3
#define MCF_SEC_OFF 32u  /* layout facts the oracle peeks at */
#define MCF_PROT_OFF 36u /* (src/memcard/mc_int.h) */

#define MCF_CHECK(cond, ...)                                                \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "memcard_fuzz: %s:%d: check failed: " \
				"%s: ", __FILE__, __LINE__, #cond);         \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

static hal_mem_t *mcf_mem;
static const hal_t *mcf_hal;
static mc_chip_t mcf_chip;
static uint8_t *mcf_snap[MCF_NSNAPS];
static uint8_t mcf_psc[MCF_NSNAPS][3];
static uint8_t *mcf_rbuf; /* exactly MC_RAPDU_MAX bytes */

static inline void mcf_power_on(void)
{
	uint8_t atr[MC_ATR_PCSC_LEN];
	size_t al = 0;
	mc_status_t st = mc_power_on(&mcf_chip, mcf_hal, atr, sizeof atr, &al);
	MCF_CHECK(st == MC_OK, "mc_power_on: %s", mc_strerror(st));
	MCF_CHECK(al == MC_ATR_PCSC_LEN && atr[0] == 0x3B && atr[1] == 0x04,
		  "bad ATR");
	const char *why = NULL;
	MCF_CHECK(mc_check(&mcf_chip, &why) == MC_OK, "mc_check: %s", why);
}

/* Setup: send a hex APDU, require the status word. */
static inline void mcf_xmit(const char *hex, unsigned sw)
{
	uint8_t c[MC_CAPDU_MAX];
	size_t n = 0, rl = 0;
	for (const char *p = hex; p[0] && p[1];) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v = 0;
		MCF_CHECK(sscanf(p, "%2x", &v) == 1 && n < sizeof c, "hex");
		c[n++] = (uint8_t)v;
		p += 2;
	}
	mc_status_t st = mc_transmit(&mcf_chip, c, n, mcf_rbuf, MC_RAPDU_MAX,
				     &rl);
	MCF_CHECK(st == MC_OK && rl >= 2 &&
			  ((unsigned)mcf_rbuf[rl - 2] << 8 | mcf_rbuf[rl - 1]) ==
				  sw,
		  "setup: %s: %s", hex, mc_strerror(st));
}

static inline void mcf_take(unsigned idx, const uint8_t psc[3])
{
	mc_power_off(&mcf_chip);
	mcf_power_on();
	mcf_snap[idx] = malloc(MC_NVM_SIZE);
	MCF_CHECK(mcf_snap[idx] != NULL, "malloc");
	memcpy(mcf_snap[idx], hal_mem_image(mcf_mem), MC_NVM_SIZE);
	memcpy(mcf_psc[idx], psc, 3);
}

static inline void mcf_build(void)
{
	static const uint8_t ff[3] = {0xFF, 0xFF, 0xFF};
	static const uint8_t iss[3] = {0x12, 0x34, 0x56};
	const mc_model_t *model = mc_model_find("sle4442");
	MCF_CHECK(model != NULL, "no sle4442 model");
	MCF_CHECK(hal_mem_new(model->nvm_size, 0x5E4442u, &mcf_mem) ==
			  HAL_HOST_OK,
		  "hal_mem_new");
	mcf_hal = hal_mem_hal(mcf_mem);
	mcf_rbuf = malloc(MC_RAPDU_MAX);
	MCF_CHECK(mcf_rbuf != NULL, "malloc");
	mc_fab_t fab;
	mc_fab_default(&fab);
	mc_status_t st = mc_format(mcf_hal, model, &fab);
	MCF_CHECK(st == MC_OK, "mc_format: %s", mc_strerror(st));
	mcf_power_on();
	mcf_take(0, ff);

	mcf_xmit("FFA4000001 06", 0x9000);
	mcf_xmit("FF20000003 FFFFFF", 0x9007);
	mcf_xmit("FFD0002010 00112233445566778899AABBCCDDEEFF", 0x9000);
	mcf_xmit("FFD0001B05 4341524446", 0x9000);
	mcf_xmit("FFD0001002 0102", 0x9000);
	mcf_xmit("FFD2000103 123456", 0x9000);
	mcf_xmit("FFD1001B05 4341524446", 0x9000);
	mcf_take(1, iss);

	mcf_xmit("FFA4000001 06", 0x9000);
	mcf_xmit("FF20000003 000000", 0x9006);
	mcf_xmit("FF20000003 000000", 0x9004);
	mcf_xmit("FF20000003 000000", 0x9000);
	mcf_take(2, iss);
}

/* What the oracle compares across a command. */
typedef struct {
	uint8_t mem[MC_MEM_SIZE];
	uint8_t prot[MC_PROT_LEN];
	uint8_t psc[3];
	uint8_t ec;
	int selected;
	int psc_ok;
} mcf_state_t;

static inline void mcf_observe(mcf_state_t *s)
{
	mc_info_t i;
	memset(s, 0, sizeof *s);
	mc_status_t st = mc_get_info(&mcf_chip, &i);
	MCF_CHECK(st == MC_OK, "mc_get_info: %s", mc_strerror(st));
	memcpy(s->mem, i.memory, MC_MEM_SIZE);
	memcpy(s->prot, i.prot, MC_PROT_LEN);
	/* The harness owns the RAM image: it may peek at the PSC. */
	memcpy(s->psc, hal_mem_image(mcf_mem) + MCF_SEC_OFF + 1, 3);
	s->ec = i.error_counter;
	s->selected = i.selected;
	s->psc_ok = i.psc_verified;
	MCF_CHECK(i.prot[0] == hal_mem_image(mcf_mem)[MCF_PROT_OFF],
		  "info and image disagree");
}

/* Is this command PRESENT CODE with the right code? */
static inline int mcf_right_code(const uint8_t *c, size_t n,
				  const mcf_state_t *a)
{
	return n == 8 && c[0] == 0xFF && c[1] == 0x20 && c[2] == 0 &&
	       c[3] == 0 && c[4] == 3 && memcmp(c + 5, a->psc, 3) == 0;
}

/* The invariants between two states, whatever the command was. right:
 * the command presented the right code; cut: the power went during it. */
static inline void mcf_compare(const mcf_state_t *a, const mcf_state_t *b,
			       unsigned sw, uint8_t ins, int right, int cut)
{
	for (unsigned k = 0; k < MC_PROT_LEN; k++)
		MCF_CHECK((b->prot[k] & ~a->prot[k]) == 0,
			  "protection bit back to 1 (byte %u)", k);
	for (unsigned x = 0; x < MC_PROT_BYTES; x++)
		if (!((a->prot[x >> 3] >> (x & 7)) & 1))
			MCF_CHECK(a->mem[x] == b->mem[x],
				  "protected byte %u changed", x);
	if (!a->psc_ok) {
		MCF_CHECK(memcmp(a->mem, b->mem, MC_MEM_SIZE) == 0,
			  "memory written without PSC");
		MCF_CHECK(memcmp(a->prot, b->prot, MC_PROT_LEN) == 0,
			  "protection written without PSC");
		MCF_CHECK(memcmp(a->psc, b->psc, 3) == 0,
			  "PSC changed without PSC");
	}
	if (a->ec == 0)
		MCF_CHECK(b->ec == 0, "locked card unlocked");
	int ok_present = !cut && ins == 0x20 && sw == 0x9007;
	/* The chip says 9007 to the right code, and only to it. */
	if (!cut && a->selected && a->ec != 0 && right)
		MCF_CHECK(sw == 0x9007, "right code answered %04X", sw);
	if (ok_present)
		MCF_CHECK(right, "9007 to a wrong code");
	MCF_CHECK(b->ec == a->ec || b->ec == (uint8_t)(a->ec & (a->ec - 1)) ||
			  (b->ec == MC_EC_FULL && right && a->ec != 0),
		  "counter %02X -> %02X (INS %02X SW %04X)", a->ec, b->ec, ins,
		  sw);
	if (b->psc_ok && !a->psc_ok)
		MCF_CHECK(ok_present, "verified without a 9007");
	if (ok_present)
		MCF_CHECK(b->ec == MC_EC_FULL && b->psc_ok, "9007 but not open");
}

static inline void mcf_restore(unsigned idx)
{
	mc_power_off(&mcf_chip);
	hal_mem_cut_at(mcf_mem, 0, 0);
	hal_mem_fail_at(mcf_mem, 0);
	hal_mem_power_restore(mcf_mem);
	memcpy(hal_mem_image(mcf_mem), mcf_snap[idx], MC_NVM_SIZE);
	hal_mem_reset_counters(mcf_mem);
	mcf_power_on();
}

static inline void memcard_fuzz_one(const uint8_t *data, size_t size)
{
	if (!mcf_mem)
		mcf_build();
	if (size < 1)
		return;
	const uint8_t mode = data[0];
	size_t pos = 1;
	unsigned idx = ((mode >> 1) & 0x03) % MCF_NSNAPS;
	uint64_t cut_n = 0;
	uint32_t cut_torn = 0;
	if ((mode & 0x80) && size >= 3) {
		cut_n = (uint64_t)data[1] + 1;
		cut_torn = data[2];
		pos = 3;
	}
	mcf_restore(idx);
	if (mode & 0x08) {
		mcf_xmit("FFA4000001 06", 0x9000);
		if (mode & 0x10) {
			char hex[32];
			snprintf(hex, sizeof hex, "FF20000003 %02X%02X%02X",
				 mcf_psc[idx][0], mcf_psc[idx][1],
				 mcf_psc[idx][2]);
			mcf_xmit(hex, idx == 2 ? 0x9000 : 0x9007);
		}
	}
	if (cut_n)
		hal_mem_cut_at(mcf_mem, cut_n, cut_torn);

	mcf_state_t before, after;
	mcf_observe(&before);
	for (unsigned i = 0; i < MCF_MAX_APDUS && pos + 2 <= size; i++) {
		size_t len = ((size_t)data[pos] << 8 | data[pos + 1]) & 0x7FF;
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		uint8_t *cmd = malloc(len ? len : 1);
		MCF_CHECK(cmd != NULL, "malloc");
		memcpy(cmd, data + pos, len);
		pos += len;
		uint8_t ins = len > 1 ? cmd[1] : 0;
		int right = mcf_right_code(cmd, len, &before);

		size_t rl = 0;
		mc_status_t st = mc_transmit(&mcf_chip, cmd, len, mcf_rbuf,
					     MC_RAPDU_MAX, &rl);
		free(cmd);
		if (st == MC_ERR_POWER) {
			MCF_CHECK(hal_mem_power_lost(mcf_mem),
				  "MC_ERR_POWER with the power on");
			hal_mem_power_restore(mcf_mem);
			mc_power_off(&mcf_chip);
			mcf_power_on(); /* recovery, then mc_check */
			mcf_observe(&after);
			mcf_compare(&before, &after, 0, ins, right, 1);
			before = after;
			continue;
		}
		MCF_CHECK(st == MC_OK, "mc_transmit: %s", mc_strerror(st));
		MCF_CHECK(rl >= 2 && rl <= MC_RAPDU_MAX, "response of %zu bytes",
			  rl);
		unsigned sw = (unsigned)mcf_rbuf[rl - 2] << 8 | mcf_rbuf[rl - 1];
		if ((sw >> 8) != 0x90)
			MCF_CHECK(rl == 2, "SW %04X with %zu data bytes", sw,
				  rl - 2);
		else if (sw != 0x9000)
			MCF_CHECK(ins == 0x20 && rl == 2, "SW %04X to INS %02X",
				  sw, ins);
		mcf_observe(&after);
		mcf_compare(&before, &after, sw, ins, right, 0);
		before = after;
	}

	const char *why = NULL;
	MCF_CHECK(mc_check(&mcf_chip, &why) == MC_OK, "mc_check: %s", why);
	/* Whatever the sequence did is in NVM: a power cycle keeps it. */
	hal_mem_cut_at(mcf_mem, 0, 0);
	hal_mem_power_restore(mcf_mem);
	mc_power_off(&mcf_chip);
	mcf_power_on();
	mcf_observe(&after);
	before.psc_ok = before.selected = 0; /* a power cycle resets */
	after.psc_ok = after.selected = 0;
	MCF_CHECK(memcmp(&before, &after, sizeof before) == 0,
		  "the image changed across a clean power cycle");
}

#endif
