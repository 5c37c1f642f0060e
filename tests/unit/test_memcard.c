/*
 * test_memcard.c - unit tests of the memory card (src/memcard).
 *
 *   models, fab and image   model table, mc_format (the fab's bytes,
 *                           protection bits, counter, serial), mc_probe,
 *                           power up (PC/SC ATR), bad images, mc_check
 *   every command           SELECT_CARD_TYPE, READ, READ ERROR COUNTER,
 *                           READ PROTECTION BITS, WRITE, WRITE PROTECTION,
 *                           PRESENT CODE, CHANGE CODE: answers and every
 *                           error (class, instruction, not selected, P1-P2,
 *                           lengths, addresses)
 *   security                counter 07 -> 06 -> 04 -> 00 and lock-out, a
 *                           correct PSC resetting it, writes without PSC
 *                           and to protected bytes doing nothing, bits
 *                           that never come back, reads always allowed,
 *                           PSC lost at reset, the PSC never in mc_info_t
 *   NVM                     nothing written when nothing changes; a cut
 *                           makes the chip mute, an I/O error answers 6581
 *                           with the journal recovered at once; the tearing
 *                           sweep of an initialization (cut at every write,
 *                           torn nothing / half / all: the image is one of
 *                           the states seen at the sync barriers of a
 *                           reference run, the old or the new one of the
 *                           interrupted command); the counter decrement of
 *                           a PSC presentation never lost
 */
#define _GNU_SOURCE

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka needs these three before it */
#include <stdarg.h>
#include <cmocka.h>

#include "hal/hal_host.h"
#include "memcard/memcard.h"

/* Layout facts the tests poke at (src/memcard/mc_int.h). */
#define T_SEC_OFF 32u
#define T_PROT_OFF 36u
#define T_MAIN_OFF 64u
#define T_JRNL_OFF 512u

static const uint8_t transport[3] = {0x9C, 0x3E, 0x71};
static const uint8_t issuer[3] = {0x4B, 0xD0, 0x17};

typedef struct {
	hal_mem_t *m;
	const hal_t *hal;
	mc_chip_t chip;
} fx_t;

/* ---- helpers ---- */

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		unsigned v;
		assert_true(hex[1] != '\0');
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static uint16_t txb(mc_chip_t *chip, const uint8_t *c, size_t n,
		    uint8_t *data, size_t *dlen)
{
	uint8_t r[MC_RAPDU_MAX];
	size_t rl = 0;
	mc_status_t st = mc_transmit(chip, c, n, r, sizeof r, &rl);
	assert_int_equal(st, MC_OK);
	assert_true(rl >= 2 && rl <= sizeof r);
	if (data)
		memcpy(data, r, rl - 2);
	if (dlen)
		*dlen = rl - 2;
	return (uint16_t)(r[rl - 2] << 8 | r[rl - 1]);
}

/* Send an APDU given in hex; returns SW; data (if any) into data. */
static uint16_t tx(mc_chip_t *chip, const char *hex, uint8_t *data,
		   size_t *dlen)
{
	uint8_t c[MC_CAPDU_MAX + 8];
	size_t n = unhex(hex, c, sizeof c);
	return txb(chip, c, n, data, dlen);
}

/* A response with no data and this SW. */
static void expect_sw(mc_chip_t *chip, const char *hex, uint16_t sw)
{
	size_t dl = 99;
	uint16_t got = tx(chip, hex, NULL, &dl);
	if (got != sw)
		fail_msg("%s: SW %04X, expected %04X", hex, got, sw);
	assert_int_equal(dl, 0);
}

static void present(mc_chip_t *chip, const uint8_t psc[3], uint16_t sw)
{
	uint8_t c[8] = {0xFF, 0x20, 0x00, 0x00, 0x03, psc[0], psc[1], psc[2]};
	size_t dl = 99;
	uint16_t got = txb(chip, c, 8, NULL, &dl);
	if (got != sw)
		fail_msg("PRESENT CODE: SW %04X, expected %04X", got, sw);
	assert_int_equal(dl, 0);
}

static void read_mem(mc_chip_t *chip, uint8_t mem[256])
{
	size_t dl = 0;
	assert_int_equal(tx(chip, "FFB0000000", mem, &dl), 0x9000);
	assert_int_equal(dl, 256);
}

static void power_on(fx_t *f)
{
	uint8_t atr[16];
	size_t al = 0;
	assert_int_equal(mc_power_on(&f->chip, f->hal, atr, sizeof atr, &al),
			 MC_OK);
	assert_int_equal(al, 6);
	const char *why = NULL;
	assert_int_equal(mc_check(&f->chip, &why), MC_OK);
}

static void format(fx_t *f, const mc_fab_t *fab_in)
{
	mc_fab_t fab;
	if (fab_in) {
		fab = *fab_in;
	} else {
		mc_fab_default(&fab);
		memcpy(fab.psc, transport, 3);
	}
	assert_int_equal(mc_format(f->hal, mc_model_find("sle4442"), &fab),
			 MC_OK);
}

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(hal_mem_new(MC_NVM_SIZE, 42, &f->m), HAL_HOST_OK);
	f->hal = hal_mem_hal(f->m);
	format(f, NULL);
	power_on(f);
	hal_mem_reset_counters(f->m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_t *f = *state;
	mc_power_off(&f->chip);
	hal_mem_free(f->m);
	free(f);
	return 0;
}

static void select_card(fx_t *f)
{
	expect_sw(&f->chip, "FFA4000001 06", 0x9000);
}

static void info(fx_t *f, mc_info_t *i)
{
	assert_int_equal(mc_get_info(&f->chip, i), MC_OK);
}

/* ---- models, fab, image ---- */

static void test_models(void **state)
{
	(void)state;
	const mc_model_t *m = mc_model_find("sle4442");
	assert_non_null(m);
	assert_string_equal(m->name, "sle4442");
	assert_int_equal(m->nvm_size, MC_NVM_SIZE);
	assert_ptr_equal(mc_model_by_id(m->id), m);
	size_t n = 0;
	assert_ptr_equal(mc_models(&n), m);
	assert_int_equal(n, 1);
	assert_null(mc_model_find("sle4428"));
	assert_null(mc_model_find(NULL));
	assert_null(mc_model_find("sle444"));
	assert_null(mc_model_by_id(0));
	assert_string_equal(mc_strerror(MC_OK), "success");
	assert_string_equal(mc_strerror((mc_status_t)99), "unknown error");
	for (int s = MC_OK; s <= MC_ERR_NOT_POWERED; s++)
		assert_string_not_equal(mc_strerror((mc_status_t)s),
					"unknown error");
}

static void test_fab_state(void **state)
{
	fx_t *f = *state;
	mc_info_t i;
	info(f, &i);
	static const uint8_t first32[32] = {
		0xA2, 0x13, 0x10, 0x91, 0xFF, 0xFF, 0x81, 0x15,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xD2, 0x76, 0x00,
		0x00, 0x04, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
	assert_memory_equal(i.memory, first32, 32);
	for (unsigned a = 32; a < 256; a++)
		assert_int_equal(i.memory[a], 0xFF);
	assert_memory_equal(i.atr, first32, 4);
	static const uint8_t prot[4] = {0x30, 0xFF, 0x1F, 0xF8};
	assert_memory_equal(i.prot, prot, 4);
	assert_int_equal(i.protected_mask, 0x07E000CFu);
	assert_int_equal(i.protected_count, 12);
	assert_int_equal(i.error_counter, 0x07);
	assert_int_equal(i.tries_left, 3);
	assert_false(i.locked);
	assert_false(i.selected);
	assert_false(i.psc_verified);
	assert_false(i.has_serial);
	assert_ptr_equal(i.model, mc_model_find("sle4442"));
	assert_int_equal(i.nvm_size, MC_NVM_SIZE);

	/* The security memory holds 07 and the transport code; the journal
	 * header is empty. */
	const uint8_t *img = hal_mem_image(f->m);
	assert_int_equal(img[T_SEC_OFF], 0x07);
	assert_memory_equal(img + T_SEC_OFF + 1, transport, 3);
	for (unsigned k = 0; k < 16; k++)
		assert_int_equal(img[T_JRNL_OFF + k], 0);
}

static void test_fab_serial(void **state)
{
	fx_t *f = *state;
	mc_fab_t fab;
	mc_fab_default(&fab);
	memcpy(fab.psc, transport, 3);
	fab.protect = 0; /* the ATR and the serial are protected anyway */
	fab.has_serial = 1;
	memcpy(fab.serial, "\x01\x23\x45\x67\x89\xAB\xCD\xEF", 8);
	mc_power_off(&f->chip);
	format(f, &fab);
	power_on(f);
	mc_info_t i;
	info(f, &i);
	assert_true(i.has_serial);
	assert_memory_equal(i.serial, fab.serial, 8);
	assert_memory_equal(i.memory + 8, fab.serial, 8);
	assert_int_equal(i.protected_mask, 0x0000FF0Fu);
	static const uint8_t prot[4] = {0xF0, 0x00, 0xFF, 0xFF};
	uint8_t d[8];
	size_t dl = 0;
	select_card(f);
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	assert_memory_equal(d, prot, 4);

	/* The serial cannot be changed, even with the PSC. */
	present(&f->chip, transport, 0x9007);
	expect_sw(&f->chip, "FFD0000808 0000000000000000", 0x9000);
	info(f, &i);
	assert_memory_equal(i.memory + 8, fab.serial, 8);
}

static void test_format_probe(void **state)
{
	fx_t *f = *state;
	uint8_t *img = hal_mem_image(f->m);
	const mc_model_t *m = mc_model_find("sle4442");
	mc_fab_t fab;
	mc_fab_default(&fab);

	assert_true(mc_probe(img, MC_NVM_SIZE));
	assert_false(mc_probe(img, MC_NVM_SIZE - 1));
	assert_false(mc_probe(img, 8));
	assert_false(mc_probe(NULL, MC_NVM_SIZE));
	uint8_t copy[MC_NVM_SIZE];
	memcpy(copy, img, sizeof copy);
	copy[5] ^= 1; /* model id: the CRC no longer matches */
	assert_false(mc_probe(copy, sizeof copy));
	memset(copy, 0xFF, sizeof copy);
	assert_false(mc_probe(copy, sizeof copy));
	memcpy(copy, "FCOS", 4);
	assert_false(mc_probe(copy, sizeof copy));

	assert_int_equal(mc_format(NULL, m, &fab), MC_ERR_PARAM);
	assert_int_equal(mc_format(f->hal, NULL, &fab), MC_ERR_PARAM);
	assert_int_equal(mc_format(f->hal, m, NULL), MC_ERR_PARAM);
	hal_mem_t *big = NULL;
	assert_int_equal(hal_mem_new(2048, 1, &big), HAL_HOST_OK);
	assert_int_equal(mc_format(hal_mem_hal(big), m, &fab), MC_ERR_MODEL);
	assert_false(mc_probe(hal_mem_image(big), 2048));
	uint8_t atr[8];
	size_t al = 0;
	mc_chip_t chip;
	assert_int_equal(mc_power_on(&chip, hal_mem_hal(big), atr, sizeof atr,
				     &al),
			 MC_ERR_FORMAT);
	hal_mem_free(big);
}

static void test_power_on(void **state)
{
	fx_t *f = *state;
	uint8_t atr[16];
	size_t al = 0;
	static const uint8_t pcsc[6] = {0x3B, 0x04, 0xA2, 0x13, 0x10, 0x91};
	mc_power_off(&f->chip);
	uint8_t r[MC_RAPDU_MAX];
	size_t rl = 0;
	static const uint8_t sel[6] = {0xFF, 0xA4, 0x00, 0x00, 0x01, 0x06};
	assert_int_equal(mc_transmit(&f->chip, sel, 6, r, sizeof r, &rl),
			 MC_ERR_NOT_POWERED);
	mc_info_t i;
	assert_int_equal(mc_get_info(&f->chip, &i), MC_ERR_NOT_POWERED);
	assert_int_equal(mc_check(&f->chip, NULL), MC_ERR_NOT_POWERED);

	assert_int_equal(mc_power_on(&f->chip, f->hal, atr, 5, &al),
			 MC_ERR_PARAM);
	assert_int_equal(mc_power_on(NULL, f->hal, atr, 6, &al), MC_ERR_PARAM);
	assert_int_equal(mc_power_on(&f->chip, f->hal, atr, 6, &al), MC_OK);
	assert_int_equal(al, 6);
	assert_memory_equal(atr, pcsc, 6);

	uint8_t o[8];
	assert_int_equal(mc_atr_pcsc(pcsc + 2, o, 5), 0);
	assert_int_equal(mc_atr_pcsc(pcsc + 2, o, sizeof o), 6);
	assert_memory_equal(o, pcsc, 6);

	/* transmit's own parameters */
	assert_int_equal(mc_transmit(&f->chip, sel, 6, r, MC_RAPDU_MAX - 1,
				     &rl),
			 MC_ERR_PARAM);
	assert_int_equal(mc_transmit(&f->chip, NULL, 6, r, sizeof r, &rl),
			 MC_ERR_PARAM);
	assert_int_equal(mc_transmit(&f->chip, sel, 6, r, sizeof r, NULL),
			 MC_ERR_PARAM);
	assert_int_equal(mc_transmit(NULL, sel, 6, r, sizeof r, &rl),
			 MC_ERR_PARAM);

	/* A corrupted header: CORRUPT; a card OS image: FORMAT. */
	mc_power_off(&f->chip);
	uint8_t *img = hal_mem_image(f->m);
	img[12] ^= 0x80;
	assert_int_equal(mc_power_on(&f->chip, f->hal, atr, 6, &al),
			 MC_ERR_CORRUPT);
	img[12] ^= 0x80;
	img[0] = 'F';
	assert_int_equal(mc_power_on(&f->chip, f->hal, atr, 6, &al),
			 MC_ERR_FORMAT);
	img[0] = 'S';
	assert_int_equal(mc_power_on(&f->chip, f->hal, atr, 6, &al), MC_OK);
}

static void test_check(void **state)
{
	fx_t *f = *state;
	const char *why = NULL;
	assert_int_equal(mc_check(&f->chip, &why), MC_OK);
	assert_string_equal(why, "consistent");
	uint8_t *img = hal_mem_image(f->m);

	img[T_SEC_OFF] = 0x0F;
	assert_int_equal(mc_check(&f->chip, &why), MC_ERR_CORRUPT);
	assert_non_null(strstr(why, "error counter"));
	img[T_SEC_OFF] = 0x07;

	img[T_PROT_OFF] |= 0x01; /* byte 0 (ATR) writable again */
	assert_int_equal(mc_check(&f->chip, &why), MC_ERR_CORRUPT);
	assert_non_null(strstr(why, "ATR"));
	img[T_PROT_OFF] &= 0xFE;

	img[3] ^= 1;
	assert_int_equal(mc_check(&f->chip, &why), MC_ERR_CORRUPT);
	assert_non_null(strstr(why, "header"));
	img[3] ^= 1;
	assert_int_equal(mc_check(&f->chip, NULL), MC_OK);
	assert_int_equal(mc_check(NULL, &why), MC_ERR_PARAM);
}

/* ---- class, instruction, selection ---- */

static void test_not_selected(void **state)
{
	fx_t *f = *state;
	/* Class and instruction are the reader's checks, first. */
	expect_sw(&f->chip, "00B0000004", 0x6E00);
	expect_sw(&f->chip, "FFCA000000", 0x6D00);
	expect_sw(&f->chip, "FF", 0x6700);
	expect_sw(&f->chip, "", 0x6700);
	/* Everything but SELECT_CARD_TYPE needs the card type. */
	expect_sw(&f->chip, "FFB0000004", 0x6985);
	expect_sw(&f->chip, "FFB1000004", 0x6985);
	expect_sw(&f->chip, "FFB2000004", 0x6985);
	expect_sw(&f->chip, "FFD0004001 00", 0x6985);
	expect_sw(&f->chip, "FFD1000001 A2", 0x6985);
	expect_sw(&f->chip, "FF20000003 9C3E71", 0x6985);
	expect_sw(&f->chip, "FFD2000103 000000", 0x6985);
	/* and none of them cost a try or changed anything */
	mc_info_t i;
	info(f, &i);
	assert_int_equal(i.error_counter, 0x07);
	assert_int_equal(hal_mem_writes(f->m), 0);
}

static void test_select(void **state)
{
	fx_t *f = *state;
	expect_sw(&f->chip, "FFA4010001 06", 0x6A86);
	expect_sw(&f->chip, "FFA4000101 06", 0x6A86);
	expect_sw(&f->chip, "FFA4000002 0600", 0x6700);
	expect_sw(&f->chip, "FFA40000", 0x6700);
	expect_sw(&f->chip, "FFA4000001", 0x6700);
	expect_sw(&f->chip, "FFA4000001 0600", 0x6700); /* Lc 1, 2 bytes */
	expect_sw(&f->chip, "FFA4000001 06 00", 0x6700); /* case 4 */
	expect_sw(&f->chip, "FFA4000001 05", 0x6A81);    /* SLE 4428 */
	expect_sw(&f->chip, "FFB0000004", 0x6985);
	select_card(f);
	mc_info_t i;
	info(f, &i);
	assert_true(i.selected);
	uint8_t d[8];
	size_t dl = 0;
	assert_int_equal(tx(&f->chip, "FFB0000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\xA2\x13\x10\x91", 4);
	/* A failed select leaves the card type unselected. */
	expect_sw(&f->chip, "FFA4000001 01", 0x6A81);
	expect_sw(&f->chip, "FFB0000004", 0x6985);
	select_card(f);

	/* SELECT_CARD_TYPE resets the card: the PSC must come again. */
	present(&f->chip, transport, 0x9007);
	info(f, &i);
	assert_true(i.psc_verified);
	select_card(f);
	info(f, &i);
	assert_false(i.psc_verified);
	expect_sw(&f->chip, "FFD0004001 00", 0x9000);
	info(f, &i);
	assert_int_equal(i.memory[0x40], 0xFF);
}

/* ---- reads ---- */

static void test_read(void **state)
{
	fx_t *f = *state;
	select_card(f);
	uint8_t d[256], mem[256];
	size_t dl = 0;
	read_mem(&f->chip, mem);
	mc_info_t i;
	info(f, &i);
	assert_memory_equal(mem, i.memory, 256);

	assert_int_equal(tx(&f->chip, "FFB0001506", d, &dl), 0x9000);
	assert_int_equal(dl, 6);
	assert_memory_equal(d, "\xD2\x76\x00\x00\x04\x00", 6);
	assert_int_equal(tx(&f->chip, "FFB000FF01", d, &dl), 0x9000);
	assert_int_equal(dl, 1);
	assert_int_equal(tx(&f->chip, "FFB0002020", d, &dl), 0x9000);
	assert_int_equal(dl, 32);
	assert_int_equal(tx(&f->chip, "FFB00020E0", d, &dl), 0x9000);
	assert_int_equal(dl, 224);

	expect_sw(&f->chip, "FFB000FF02", 0x6B00); /* past the end */
	expect_sw(&f->chip, "FFB0000100", 0x6B00); /* 256 from 1 */
	expect_sw(&f->chip, "FFB0010004", 0x6B00); /* P1: address >= 256 */
	expect_sw(&f->chip, "FFB00000", 0x6700);   /* no Le */
	expect_sw(&f->chip, "FFB0000001 00", 0x6700); /* data */
	expect_sw(&f->chip, "FFB0000000 0100", 0x6700); /* extended */
	/* reads never write */
	assert_int_equal(hal_mem_writes(f->m), 0);
}

static void test_read_ec(void **state)
{
	fx_t *f = *state;
	select_card(f);
	uint8_t d[8];
	size_t dl = 0;
	assert_int_equal(tx(&f->chip, "FFB1000004", d, &dl), 0x9000);
	assert_int_equal(dl, 4);
	assert_memory_equal(d, "\x07\x00\x00\x00", 4);
	assert_int_equal(tx(&f->chip, "FFB1000000", d, &dl), 0x9000);
	assert_int_equal(dl, 4);
	assert_memory_equal(d, "\x07\x00\x00\x00", 4);
	expect_sw(&f->chip, "FFB1000003", 0x6700);
	expect_sw(&f->chip, "FFB1000005", 0x6700);
	expect_sw(&f->chip, "FFB10000", 0x6700);
	expect_sw(&f->chip, "FFB1000104", 0x6A86);
	expect_sw(&f->chip, "FFB1010004", 0x6A86);

	/* After a wrong code: the counter shows the lost try. */
	present(&f->chip, issuer, 0x9006);
	assert_int_equal(tx(&f->chip, "FFB1000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x06\x00\x00\x00", 4);
	/* After the right one the chip reads out its reference data. */
	present(&f->chip, transport, 0x9007);
	assert_int_equal(tx(&f->chip, "FFB1000004", d, &dl), 0x9000);
	assert_int_equal(d[0], 0x07);
	assert_memory_equal(d + 1, transport, 3);
	/* ... until the card is reset. */
	select_card(f);
	assert_int_equal(tx(&f->chip, "FFB1000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x07\x00\x00\x00", 4);
}

static void test_read_prot(void **state)
{
	fx_t *f = *state;
	select_card(f);
	uint8_t d[8];
	size_t dl = 0;
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	assert_int_equal(dl, 4);
	assert_memory_equal(d, "\x30\xFF\x1F\xF8", 4);
	assert_int_equal(tx(&f->chip, "FFB2000000", d, &dl), 0x9000);
	assert_int_equal(dl, 4);
	expect_sw(&f->chip, "FFB2000001", 0x6700);
	expect_sw(&f->chip, "FFB2001004", 0x6A86);
	expect_sw(&f->chip, "FFB2000004 00", 0x6700);
}

/* ---- writes ---- */

static void test_write_without_psc(void **state)
{
	fx_t *f = *state;
	select_card(f);
	uint8_t before[256], after[256];
	read_mem(&f->chip, before);
	/* The chip does not write, the reader answers 9000. */
	expect_sw(&f->chip, "FFD0004004 01020304", 0x9000);
	expect_sw(&f->chip, "FFD0001001 00", 0x9000);
	expect_sw(&f->chip, "FFD1001B01 FF", 0x9000);
	read_mem(&f->chip, after);
	assert_memory_equal(before, after, 256);
	uint8_t d[8];
	size_t dl = 0;
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x30\xFF\x1F\xF8", 4);
	assert_int_equal(hal_mem_writes(f->m), 0);

	/* A wrong code does not open the card either. */
	present(&f->chip, issuer, 0x9006);
	expect_sw(&f->chip, "FFD0004004 01020304", 0x9000);
	read_mem(&f->chip, after);
	assert_memory_equal(before, after, 256);
}

static void test_write(void **state)
{
	fx_t *f = *state;
	select_card(f);
	present(&f->chip, transport, 0x9007);
	uint8_t mem[256];

	expect_sw(&f->chip, "FFD0004004 01020304", 0x9000);
	read_mem(&f->chip, mem);
	assert_memory_equal(mem + 0x40, "\x01\x02\x03\x04", 4);
	assert_int_equal(mem[0x3F], 0xFF);
	assert_int_equal(mem[0x44], 0xFF);

	/* Update = erase + write: bits go back to 1. */
	expect_sw(&f->chip, "FFD0004102 FFF0", 0x9000);
	read_mem(&f->chip, mem);
	assert_memory_equal(mem + 0x40, "\x01\xFF\xF0\x04", 4);

	/* The whole memory above the protection area in one command. */
	uint8_t c[5 + 224];
	memcpy(c, "\xFF\xD0\x00\x20\xE0", 5);
	for (unsigned k = 0; k < 224; k++)
		c[5 + k] = (uint8_t)(k * 7 + 1);
	assert_int_equal(txb(&f->chip, c, sizeof c, NULL, NULL), 0x9000);
	read_mem(&f->chip, mem);
	assert_memory_equal(mem + 0x20, c + 5, 224);
	/* and the last byte */
	expect_sw(&f->chip, "FFD000FF01 5A", 0x9000);
	read_mem(&f->chip, mem);
	assert_int_equal(mem[255], 0x5A);

	/* Errors: length, address, form. Nothing written. */
	uint64_t w = hal_mem_writes(f->m);
	expect_sw(&f->chip, "FFD000FF02 0102", 0x6B00);
	expect_sw(&f->chip, "FFD0010001 00", 0x6B00);
	expect_sw(&f->chip, "FFD0004003 0102", 0x6700);
	expect_sw(&f->chip, "FFD0004001 0102", 0x6700);
	expect_sw(&f->chip, "FFD0004000", 0x6700);
	expect_sw(&f->chip, "FFD00040", 0x6700);
	expect_sw(&f->chip, "FFD0004001 00 01", 0x6700); /* case 4 */
	assert_int_equal(hal_mem_writes(f->m), w);

	/* Writing what is already there writes nothing. */
	expect_sw(&f->chip, "FFD000FF01 5A", 0x9000);
	assert_int_equal(hal_mem_writes(f->m), w);
}

static void test_write_protected(void **state)
{
	fx_t *f = *state;
	select_card(f);
	present(&f->chip, transport, 0x9007);
	uint8_t before[256], mem[256];
	read_mem(&f->chip, before);

	/* Bytes 0..7: 0-3 and 6-7 protected by the fab, 4-5 writable. */
	expect_sw(&f->chip, "FFD0000008 0011223344556677", 0x9000);
	read_mem(&f->chip, mem);
	assert_memory_equal(mem, before, 4);
	assert_int_equal(mem[4], 0x44);
	assert_int_equal(mem[5], 0x55);
	assert_memory_equal(mem + 6, before + 6, 2);

	/* All protected: no NVM write at all. */
	uint64_t w = hal_mem_writes(f->m);
	expect_sw(&f->chip, "FFD0001506 000000000000", 0x9000);
	expect_sw(&f->chip, "FFD0000004 00000000", 0x9000);
	assert_int_equal(hal_mem_writes(f->m), w);
	read_mem(&f->chip, mem);
	assert_memory_equal(mem + 21, before + 21, 6);

	/* The ATR never changes: a reset still answers A2 13 10 91. */
	mc_power_off(&f->chip);
	power_on(f);
	mc_info_t i;
	info(f, &i);
	assert_memory_equal(i.atr, "\xA2\x13\x10\x91", 4);
}

static void test_write_prot(void **state)
{
	fx_t *f = *state;
	select_card(f);
	present(&f->chip, transport, 0x9007);
	uint8_t d[8], mem[256];
	size_t dl = 0;

	/* Data into 27..31, then protect: 27..29 match, 30 does not,
	 * 31 matches. */
	expect_sw(&f->chip, "FFD0001B05 1122334455", 0x9000);
	expect_sw(&f->chip, "FFD1001B05 112233AA55", 0x9000);
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	/* byte 27: bit 3 of PROT4 ... bit 7 = byte 31 */
	assert_memory_equal(d, "\x30\xFF\x1F\x40", 4);
	mc_info_t i;
	info(f, &i);
	assert_int_equal(i.protected_mask, 0xBFE000CFu);

	/* Protected bytes no longer change; 30 still does. */
	expect_sw(&f->chip, "FFD0001B05 0000000000", 0x9000);
	read_mem(&f->chip, mem);
	assert_memory_equal(mem + 27, "\x11\x22\x33\x00\x55", 5);

	/* Bits never come back: protecting again or with other data,
	 * writing FF over the protection bytes' region, a power cycle. */
	expect_sw(&f->chip, "FFD1001B05 0000000000", 0x9000);
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x30\xFF\x1F\x00", 4); /* 30 now matched 00 */
	mc_power_off(&f->chip);
	power_on(f);
	select_card(f);
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x30\xFF\x1F\x00", 4);

	/* Without the PSC: nothing is protected. */
	expect_sw(&f->chip, "FFD1001001 FF", 0x9000);
	assert_int_equal(tx(&f->chip, "FFB2000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x30\xFF\x1F\x00", 4);

	/* Errors: only bytes 0..31 have protection bits. */
	present(&f->chip, transport, 0x9007);
	expect_sw(&f->chip, "FFD1002001 FF", 0x6B00);
	expect_sw(&f->chip, "FFD1001F02 FFFF", 0x6B00);
	expect_sw(&f->chip, "FFD1010001 A2", 0x6B00);
	expect_sw(&f->chip, "FFD1000002 A2", 0x6700);
	expect_sw(&f->chip, "FFD1000000", 0x6700);
	expect_sw(&f->chip, "FFD1001B", 0x6700);
	/* A mismatch protects nothing and writes nothing. */
	uint64_t w = hal_mem_writes(f->m);
	expect_sw(&f->chip, "FFD1001001 00", 0x9000);
	assert_int_equal(hal_mem_writes(f->m), w);
}

/* ---- the PSC ---- */

static void test_psc_counter(void **state)
{
	fx_t *f = *state;
	select_card(f);
	mc_info_t i;

	/* 07 -> 06 -> 04, then a correct code resets it to 07. */
	present(&f->chip, issuer, 0x9006);
	present(&f->chip, issuer, 0x9004);
	info(f, &i);
	assert_int_equal(i.error_counter, 0x04);
	assert_int_equal(i.tries_left, 1);
	present(&f->chip, transport, 0x9007);
	info(f, &i);
	assert_int_equal(i.error_counter, 0x07);
	assert_true(i.psc_verified);

	/* A wrong code after a right one closes the card again. */
	present(&f->chip, issuer, 0x9006);
	info(f, &i);
	assert_false(i.psc_verified);
	expect_sw(&f->chip, "FFD0008001 00", 0x9000);
	info(f, &i);
	assert_int_equal(i.memory[0x80], 0xFF);

	/* Three wrong in a row (across a power cycle): locked. */
	present(&f->chip, issuer, 0x9004);
	mc_power_off(&f->chip);
	power_on(f);
	select_card(f);
	present(&f->chip, issuer, 0x9000);
	info(f, &i);
	assert_int_equal(i.error_counter, 0x00);
	assert_int_equal(i.tries_left, 0);
	assert_true(i.locked);

	/* Locked: no compare any more, the right code does not open it,
	 * nothing is written (not even the counter). */
	uint64_t w = hal_mem_writes(f->m);
	present(&f->chip, transport, 0x9000);
	present(&f->chip, issuer, 0x9000);
	assert_int_equal(hal_mem_writes(f->m), w);
	info(f, &i);
	assert_false(i.psc_verified);
	expect_sw(&f->chip, "FFD0008001 00", 0x9000);
	expect_sw(&f->chip, "FFD2000103 000000", 0x9000);
	expect_sw(&f->chip, "FFD1000001 A2", 0x9000);
	assert_int_equal(hal_mem_writes(f->m), w);

	/* Reads still work. */
	uint8_t d[8];
	size_t dl = 0;
	assert_int_equal(tx(&f->chip, "FFB0000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\xA2\x13\x10\x91", 4);
	assert_int_equal(tx(&f->chip, "FFB1000004", d, &dl), 0x9000);
	assert_memory_equal(d, "\x00\x00\x00\x00", 4);
	const char *why = NULL;
	assert_int_equal(mc_check(&f->chip, &why), MC_OK);
}

static void test_present_errors(void **state)
{
	fx_t *f = *state;
	select_card(f);
	expect_sw(&f->chip, "FF20000002 9C3E", 0x6700);
	expect_sw(&f->chip, "FF20000004 9C3E7100", 0x6700);
	expect_sw(&f->chip, "FF20000003 9C3E71 00", 0x6700); /* case 4 */
	expect_sw(&f->chip, "FF200000", 0x6700);
	expect_sw(&f->chip, "FF20000003", 0x6700);
	expect_sw(&f->chip, "FF20000103 9C3E71", 0x6A86);
	expect_sw(&f->chip, "FF20010003 9C3E71", 0x6A86);
	/* no try lost, no write */
	mc_info_t i;
	info(f, &i);
	assert_int_equal(i.error_counter, 0x07);
	assert_int_equal(hal_mem_writes(f->m), 0);
}

static void test_change_psc(void **state)
{
	fx_t *f = *state;
	select_card(f);
	uint8_t c[8] = {0xFF, 0xD2, 0x00, 0x01, 0x03, issuer[0], issuer[1],
			issuer[2]};

	/* Without the PSC: the chip does not write, the reader says 9000. */
	assert_int_equal(txb(&f->chip, c, 8, NULL, NULL), 0x9000);
	assert_memory_equal(hal_mem_image(f->m) + T_SEC_OFF + 1, transport,
			    3);
	assert_int_equal(hal_mem_writes(f->m), 0);

	present(&f->chip, transport, 0x9007);
	expect_sw(&f->chip, "FFD2000003 000000", 0x6A86);
	expect_sw(&f->chip, "FFD2010103 000000", 0x6A86);
	expect_sw(&f->chip, "FFD2000102 0000", 0x6700);
	expect_sw(&f->chip, "FFD2000103 000000 00", 0x6700);
	assert_int_equal(txb(&f->chip, c, 8, NULL, NULL), 0x9000);
	/* Still verified: the new code is read out of the security memory. */
	uint8_t d[8];
	size_t dl = 0;
	assert_int_equal(tx(&f->chip, "FFB1000004", d, &dl), 0x9000);
	assert_memory_equal(d + 1, issuer, 3);

	/* Next session: the transport code is gone, the issuer's works. */
	mc_power_off(&f->chip);
	power_on(f);
	select_card(f);
	present(&f->chip, transport, 0x9006);
	present(&f->chip, issuer, 0x9007);
	/* Changing to the same code writes nothing. */
	uint64_t w = hal_mem_writes(f->m);
	assert_int_equal(txb(&f->chip, c, 8, NULL, NULL), 0x9000);
	assert_int_equal(hal_mem_writes(f->m), w);
}

static void test_psc_lost_at_power_off(void **state)
{
	fx_t *f = *state;
	select_card(f);
	present(&f->chip, transport, 0x9007);
	mc_power_off(&f->chip);
	power_on(f);
	select_card(f);
	mc_info_t i;
	info(f, &i);
	assert_false(i.psc_verified);
	expect_sw(&f->chip, "FFD0008001 00", 0x9000);
	info(f, &i);
	assert_int_equal(i.memory[0x80], 0xFF);
}

/* memmem over the whole info structure. */
static int info_holds(const mc_info_t *i, const uint8_t *s, size_t n)
{
	return memmem(i, sizeof *i, s, n) != NULL;
}

static void test_info_never_psc(void **state)
{
	fx_t *f = *state;
	mc_info_t i;
	info(f, &i);
	assert_false(info_holds(&i, transport, 3));
	select_card(f);
	present(&f->chip, transport, 0x9007);
	info(f, &i);
	assert_false(info_holds(&i, transport, 3));
	uint8_t c[8] = {0xFF, 0xD2, 0x00, 0x01, 0x03, issuer[0], issuer[1],
			issuer[2]};
	assert_int_equal(txb(&f->chip, c, 8, NULL, NULL), 0x9000);
	info(f, &i);
	assert_false(info_holds(&i, issuer, 3));
	assert_false(info_holds(&i, transport, 3));
}

/* ---- NVM faults ---- */

static void test_mute_after_cut(void **state)
{
	fx_t *f = *state;
	select_card(f);
	present(&f->chip, transport, 0x9007);
	hal_mem_cut_at(f->m, 1, 3);
	uint8_t c[9] = {0xFF, 0xD0, 0x00, 0x40, 0x04, 1, 2, 3, 4};
	uint8_t r[MC_RAPDU_MAX];
	size_t rl = 77;
	assert_int_equal(mc_transmit(&f->chip, c, 9, r, sizeof r, &rl),
			 MC_ERR_POWER);
	assert_int_equal(rl, 0);
	assert_int_equal(mc_transmit(&f->chip, c, 9, r, sizeof r, &rl),
			 MC_ERR_POWER);
	hal_mem_power_restore(f->m);
	mc_power_off(&f->chip);
	power_on(f);
	mc_info_t i;
	info(f, &i);
	assert_int_equal(i.memory[0x40], 0xFF); /* torn before commit */

	/* An EEPROM write error: the journal is recovered at once, the
	 * command answers 6581 and the chip goes on, session intact.
	 * Before the commit record: the old state. */
	select_card(f);
	present(&f->chip, transport, 0x9007);
	hal_mem_fail_at(f->m, 1); /* the log entries */
	assert_int_equal(txb(&f->chip, c, 9, NULL, NULL), 0x6581);
	info(f, &i);
	assert_int_equal(i.memory[0x40], 0xFF);
	assert_true(i.psc_verified);
	assert_int_equal(mc_check(&f->chip, NULL), MC_OK);
	/* After it (applying the entry): the new state. */
	hal_mem_fail_at(f->m, 3);
	assert_int_equal(txb(&f->chip, c, 9, NULL, NULL), 0x6581);
	info(f, &i);
	assert_memory_equal(i.memory + 0x40, "\x01\x02\x03\x04", 4);
	expect_sw(&f->chip, "FFD0004001 AA", 0x9000);

	/* A PSC presentation whose decrement fails: no compare, 6581. */
	mc_power_off(&f->chip);
	power_on(f);
	select_card(f);
	hal_mem_fail_at(f->m, 2); /* the commit record */
	present(&f->chip, transport, 0x6581);
	info(f, &i);
	assert_false(i.psc_verified);
	assert_int_equal(i.error_counter, 0x07); /* torn before commit */
	hal_mem_fail_at(f->m, 4); /* retiring: the decrement stands */
	present(&f->chip, transport, 0x6581);
	info(f, &i);
	assert_false(i.psc_verified);
	assert_int_equal(i.error_counter, 0x06);
	present(&f->chip, transport, 0x9007);

	/* The error, then the power lost during the retry (write 4, the
	 * recovery re-applying the entry): mute. */
	hal_mem_fail_at(f->m, 3);
	hal_mem_cut_at(f->m, 4, 0);
	assert_int_equal(mc_transmit(&f->chip, c, 9, r, sizeof r, &rl),
			 MC_ERR_POWER);
	assert_int_equal(mc_transmit(&f->chip, c, 9, r, sizeof r, &rl),
			 MC_ERR_POWER);
	hal_mem_power_restore(f->m);
	mc_power_off(&f->chip);
	power_on(f);
}

/* The power goes again while the journal is being recovered, and while
 * the fab formats the image. */
static void test_cut_in_recovery_and_format(void **state)
{
	fx_t *f = *state;
	select_card(f);
	present(&f->chip, transport, 0x9007);
	/* Committed (header written), cut while applying. */
	hal_mem_cut_at(f->m, 3, 2);
	uint8_t c[9] = {0xFF, 0xD0, 0x00, 0x40, 0x04, 1, 2, 3, 4};
	uint8_t r[MC_RAPDU_MAX];
	size_t rl = 0;
	assert_int_equal(mc_transmit(&f->chip, c, 9, r, sizeof r, &rl),
			 MC_ERR_POWER);
	hal_mem_power_restore(f->m);
	mc_power_off(&f->chip);
	/* Recovery re-applies: cut that too, at every write it makes. */
	uint8_t atr[8];
	size_t al = 0;
	for (unsigned n = 1; n <= 2; n++) {
		hal_mem_cut_at(f->m, n, 1);
		assert_int_equal(mc_power_on(&f->chip, f->hal, atr, sizeof atr,
					     &al),
				 MC_ERR_POWER);
		hal_mem_power_restore(f->m);
	}
	hal_mem_cut_at(f->m, 0, 0);
	power_on(f);
	mc_info_t i;
	info(f, &i);
	assert_memory_equal(i.memory + 0x40, "\x01\x02\x03\x04", 4);

	/* The fab cut at any write: the image is not a memory card (or is
	 * the whole new one). */
	mc_power_off(&f->chip);
	mc_fab_t fab;
	mc_fab_default(&fab);
	const mc_model_t *m = mc_model_find("sle4442");
	hal_mem_reset_counters(f->m);
	assert_int_equal(mc_format(f->hal, m, &fab), MC_OK);
	uint64_t total = hal_mem_writes(f->m);
	assert_true(total >= 3);
	for (uint64_t n = 1; n <= total; n++) {
		hal_mem_power_restore(f->m);
		hal_mem_cut_at(f->m, n, 5);
		assert_int_equal(mc_format(f->hal, m, &fab), MC_ERR_POWER);
		hal_mem_power_restore(f->m);
		int is_card = mc_probe(hal_mem_image(f->m), MC_NVM_SIZE);
		assert_int_equal(is_card, 0);
	}
	hal_mem_cut_at(f->m, 0, 0);
	hal_mem_fail_at(f->m, 2);
	assert_int_equal(mc_format(f->hal, m, &fab), MC_ERR_NVM);
	assert_int_equal(mc_format(f->hal, m, &fab), MC_OK);
	power_on(f);
}

/*
 * The tearing sweep. A hal that wraps hal_mem's nvm_write to learn each
 * write's length (to tear it in half), and a sync observer that records
 * the image outside the journal at every barrier.
 */
#define MAX_STATES 256
#define MAX_WRITES 512
#define CMP_LEN T_JRNL_OFF /* everything but the journal area */

typedef struct {
	hal_mem_t *m;
	hal_t hal;
	hal_status_t (*orig_write)(void *, uint32_t, const uint8_t *,
				   uint32_t);
	uint32_t lens[MAX_WRITES];
	unsigned nwrites;
	/* reference run: the states at barriers (consecutive duplicates
	 * dropped) and the write count at each barrier */
	uint8_t states[MAX_STATES][CMP_LEN];
	unsigned nstates;
	uint64_t sync_writes[MAX_STATES * 4];
	unsigned nsyncs;
	int recording;
	/* cut run: the position in states[] the barriers have reached */
	unsigned pos;
	int following;
} tear_t;

static tear_t *tear; /* one at a time */

static hal_status_t tear_write(void *ctx, uint32_t off, const uint8_t *src,
			       uint32_t len)
{
	if (tear->recording && tear->nwrites < MAX_WRITES)
		tear->lens[tear->nwrites++] = len;
	return tear->orig_write(ctx, off, src, len);
}

static void tear_sync(hal_mem_t *m, void *arg)
{
	tear_t *t = arg;
	const uint8_t *img = hal_mem_image(m);
	if (t->recording) {
		if (t->nsyncs < MAX_STATES * 4)
			t->sync_writes[t->nsyncs++] = hal_mem_writes(m);
		if (t->nstates == 0 ||
		    memcmp(t->states[t->nstates - 1], img, CMP_LEN) != 0) {
			assert_true(t->nstates < MAX_STATES);
			memcpy(t->states[t->nstates++], img, CMP_LEN);
		}
	} else if (t->following) {
		/* Before the cut the run retraces the reference exactly. */
		if (memcmp(t->states[t->pos], img, CMP_LEN) == 0)
			return;
		assert_true(t->pos + 1 < t->nstates);
		assert_memory_equal(t->states[t->pos + 1], img, CMP_LEN);
		t->pos++;
	}
}

static void tear_init(tear_t *t)
{
	memset(t, 0, sizeof *t);
	tear = t;
	assert_int_equal(hal_mem_new(MC_NVM_SIZE, 7, &t->m), HAL_HOST_OK);
	t->hal = *hal_mem_hal(t->m);
	t->orig_write = t->hal.nvm_write;
	t->hal.nvm_write = tear_write;
	mc_fab_t fab;
	mc_fab_default(&fab);
	memcpy(fab.psc, transport, 3);
	assert_int_equal(mc_format(&t->hal, mc_model_find("sle4442"), &fab),
			 MC_OK);
	hal_mem_on_sync(t->m, tear_sync, t);
}

/* The initialization a card maker runs, as one list of APDUs with the
 * answers a clean run gives. */
typedef struct {
	const char *hex;
	uint16_t sw;
} step_t;

static const step_t init_script[] = {
	{"FFA4000001 06", 0x9000},
	{"FF20000003 9C3E71", 0x9007}, /* transport code */
	/* application data, in the free area and in 27..31 */
	{"FFD0002010 000102030405060708090A0B0C0D0E0F", 0x9000},
	{"FFD0003080 "
	 "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
	 "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
	 "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
	 "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
	 0x9000},
	{"FFD0001B05 C0FFEE0042", 0x9000},
	{"FFD0000402 ABCD", 0x9000},
	{"FFD2000103 4BD017", 0x9000}, /* the issuer's code */
	{"FFD1001B05 C0FFEE0042", 0x9000}, /* the fuse: protect 27..31 */
	{"FFD1000402 ABCD", 0x9000},
	{"FFD000F010 F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF", 0x9000},
};

#define N_INIT (sizeof init_script / sizeof init_script[0])

static void power_on_hal(mc_chip_t *chip, const hal_t *hal)
{
	uint8_t atr[8];
	size_t al = 0;
	assert_int_equal(mc_power_on(chip, hal, atr, sizeof atr, &al), MC_OK);
	const char *why = NULL;
	if (mc_check(chip, &why) != MC_OK)
		fail_msg("mc_check: %s", why);
}

/* Run the script; returns the index of the step the power died in, or
 * N_INIT if it ran to the end. */
static size_t run_script(mc_chip_t *chip, const step_t *s, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t c[MC_CAPDU_MAX + 8], r[MC_RAPDU_MAX];
		size_t cl = unhex(s[k].hex, c, sizeof c), rl = 0;
		mc_status_t st = mc_transmit(chip, c, cl, r, sizeof r, &rl);
		if (st == MC_ERR_POWER)
			return k;
		assert_int_equal(st, MC_OK);
		assert_true(rl >= 2);
		uint16_t sw = (uint16_t)(r[rl - 2] << 8 | r[rl - 1]);
		if (sw != s[k].sw)
			fail_msg("step %zu (%s): SW %04X, expected %04X", k,
				 s[k].hex, sw, s[k].sw);
	}
	return n;
}

static void test_tearing_init(void **state)
{
	(void)state;
	tear_t *t = malloc(sizeof *t);
	assert_non_null(t);
	tear_init(t);
	uint8_t base[MC_NVM_SIZE];
	memcpy(base, hal_mem_image(t->m), sizeof base);
	mc_chip_t chip;

	/* Reference run. */
	power_on_hal(&chip, &t->hal);
	hal_mem_reset_counters(t->m);
	t->recording = 1;
	memcpy(t->states[t->nstates++], base, CMP_LEN);
	assert_int_equal(run_script(&chip, init_script, N_INIT), N_INIT);
	t->recording = 0;
	unsigned total = t->nwrites;
	assert_true(total > 0 && total < MAX_WRITES);
	assert_int_equal(total, hal_mem_writes(t->m));
	mc_info_t inf;
	assert_int_equal(mc_get_info(&chip, &inf), MC_OK);
	assert_int_equal(inf.protected_mask, 0xFFE000FFu);
	mc_power_off(&chip);
	print_message("tearing: %u writes, %u distinct states\n", total,
		      t->nstates);

	unsigned runs = 0, old_state = 0, new_state = 0;
	for (unsigned n = 1; n <= total; n++) {
		uint32_t len = t->lens[n - 1];
		uint32_t torns[3] = {0, len / 2, len};
		for (unsigned v = 0; v < 3; v++) {
			if (v == 1 && (len / 2 == 0 || len / 2 == len))
				continue;
			memcpy(hal_mem_image(t->m), base, sizeof base);
			hal_mem_power_restore(t->m);
			power_on_hal(&chip, &t->hal);
			hal_mem_reset_counters(t->m);
			t->pos = 0;
			t->following = 1;
			hal_mem_cut_at(t->m, n, torns[v]);
			size_t died = run_script(&chip, init_script, N_INIT);
			assert_true(died < N_INIT);
			assert_true(hal_mem_power_lost(t->m));
			t->following = 0;

			/* Power back: recovery, then old or new. */
			hal_mem_cut_at(t->m, 0, 0);
			hal_mem_power_restore(t->m);
			mc_power_off(&chip);
			power_on_hal(&chip, &t->hal);
			const uint8_t *img = hal_mem_image(t->m);
			if (memcmp(img, t->states[t->pos], CMP_LEN) == 0) {
				old_state++;
			} else {
				if (t->pos + 1 >= t->nstates ||
				    memcmp(img, t->states[t->pos + 1],
					   CMP_LEN) != 0)
					fail_msg("cut at write %u (torn %u of "
						 "%u, step %zu): a state no "
						 "barrier saw",
						 n, torns[v], len, died);
				new_state++;
			}
			mc_power_off(&chip);
			runs++;
		}
	}
	print_message("tearing: %u runs, %u old state, %u new state\n", runs,
		      old_state, new_state);
	assert_true(old_state > 0 && new_state > 0);
	hal_mem_on_sync(t->m, NULL, NULL);
	hal_mem_free(t->m);
	free(t);
}

/* A PSC presentation cut at every write: the decrement, once committed,
 * is never lost. */
static void tear_present(const uint8_t psc[3], int correct)
{
	tear_t *t = malloc(sizeof *t);
	assert_non_null(t);
	tear_init(t);
	mc_chip_t chip;
	power_on_hal(&chip, &t->hal);
	expect_sw(&chip, "FFA4000001 06", 0x9000);
	uint8_t base[MC_NVM_SIZE];
	memcpy(base, hal_mem_image(t->m), sizeof base);
	step_t s[1];
	char hex[32];
	snprintf(hex, sizeof hex, "FF20000003 %02X%02X%02X", psc[0], psc[1],
		 psc[2]);
	s[0].hex = hex;
	s[0].sw = correct ? 0x9007 : 0x9006;

	/* Reference: the decrement's commit record is the write done when
	 * the second barrier is reached (entries, sync, header, sync). */
	hal_mem_reset_counters(t->m);
	t->recording = 1;
	assert_int_equal(run_script(&chip, s, 1), 1);
	t->recording = 0;
	unsigned total = t->nwrites;
	assert_true(t->nsyncs >= 2);
	uint64_t commit_at = t->sync_writes[1];
	assert_int_equal(total, correct ? 8 : 4);
	mc_power_off(&chip);

	for (unsigned n = 1; n <= total; n++) {
		uint32_t len = t->lens[n - 1];
		uint32_t torns[3] = {0, len / 2, len};
		for (unsigned v = 0; v < 3; v++) {
			memcpy(hal_mem_image(t->m), base, sizeof base);
			hal_mem_power_restore(t->m);
			power_on_hal(&chip, &t->hal);
			expect_sw(&chip, "FFA4000001 06", 0x9000);
			hal_mem_reset_counters(t->m);
			hal_mem_cut_at(t->m, n, torns[v]);
			assert_int_equal(run_script(&chip, s, 1), 0);
			hal_mem_cut_at(t->m, 0, 0);
			hal_mem_power_restore(t->m);
			mc_power_off(&chip);
			power_on_hal(&chip, &t->hal);
			mc_info_t i;
			assert_int_equal(mc_get_info(&chip, &i), MC_OK);
			int committed = n > commit_at ||
					(n == commit_at && torns[v] >= len);
			if (!correct || n <= commit_at + 4) {
				/* wrong code, or the restore not committed */
				uint8_t want = committed ? 0x06 : 0x07;
				if (correct && n == commit_at + 4 &&
				    torns[v] >= len)
					want = 0x07; /* restore committed */
				if (i.error_counter != want)
					fail_msg("cut at write %u torn %u: "
						 "counter %02X, expected %02X",
						 n, torns[v], i.error_counter,
						 want);
			} else {
				assert_int_equal(i.error_counter, 0x07);
			}
			/* the power cut never leaves a verified chip */
			assert_false(i.psc_verified);
			mc_power_off(&chip);
		}
	}
	hal_mem_on_sync(t->m, NULL, NULL);
	hal_mem_free(t->m);
	free(t);
}

static void test_tearing_counter(void **state)
{
	(void)state;
	tear_present(issuer, 0);
	tear_present(transport, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models),
		cmocka_unit_test_setup_teardown(test_fab_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fab_serial, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_format_probe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_power_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_selected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_prot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_without_psc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_protected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_prot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_psc_counter, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_present_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_change_psc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_psc_lost_at_power_off,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_info_never_psc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mute_after_cut, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cut_in_recovery_and_format,
						setup, teardown),
		cmocka_unit_test(test_tearing_init),
		cmocka_unit_test(test_tearing_counter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
