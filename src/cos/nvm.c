/*
 * nvm.c - the anti-tearing journal: every change to the chip's EEPROM.
 *
 * A command stages its writes in RAM (nvm_stage), then nvm_commit() makes
 * them durable as one transaction, a redo log in the journal area:
 *
 *   1. write the entries (offset, length, bytes) after the journal header;
 *   2. sync, then write the 16-byte header: magic, sequence, entry count,
 *      entry bytes, CRC-32 over header fields and entries; sync.
 *      From here on the transaction has happened.
 *   3. apply each entry in place; sync; zero the header; sync.
 *
 * Power lost before the header is complete leaves a header whose magic or CRC
 * does not match: the old state, untouched. Power lost after it: at the next
 * power up nvm_recover() applies the entries again (applying twice is
 * harmless: the log holds the new bytes, not a delta) and retires the header.
 * A torn header write can only produce a header that fails its CRC.
 *
 * The two syncs of step 2 and 3 are the points where the image outside the
 * journal is, respectively, exactly the old and exactly the new state; the
 * tearing test observes them.
 */
#include "cos_int.h"

#define JRNL_MAGIC 0x4C4E524Au /* "JRNL" */

typedef struct {
	uint32_t magic;
	uint32_t seq;
	uint16_t count;
	uint16_t bytes;
	uint32_t crc;
} jrnl_hdr_t;

_Static_assert(sizeof(jrnl_hdr_t) == JRNL_HDR, "journal header");

void nvm_begin(cos_ctx_t *c)
{
	c->jlen = 0;
	c->jcount = 0;
	c->jfail = 0;
}

/* Entries: 4-byte offset, 2-byte length, bytes. A write that does not fit
 * marks the transaction failed (a bug in the caller: every command's writes
 * are bounded by COS_APDU_MAX_DATA plus table entries). */
void nvm_stage(cos_ctx_t *c, uint32_t off, const void *src, uint32_t len)
{
	if (c->jfail)
		return;
	if (len == 0)
		return;
	if ((size_t)c->jlen + 6u + len > JRNL_CAP ||
	    (size_t)off + len > c->hal->nvm_size ||
	    (off < JRNL_OFF + JRNL_SIZE && off + len > JRNL_OFF)) {
		c->jfail = 1;
		return;
	}
	uint8_t *p = c->jbuf + c->jlen;
	cos_put32(p, off);
	cos_put16(p + 4, (uint16_t)len);
	cf_memcpy(p + 6, src, len);
	c->jlen = (uint16_t)(c->jlen + 6u + len);
	c->jcount++;
}

void nvm_stage_sys(cos_ctx_t *c, sys_area_t *s)
{
	s->crc = cos_crc32(0, (const uint8_t *)s, offsetof(sys_area_t, crc));
	nvm_stage(c, SYS_OFF, s, sizeof *s);
}

static uint32_t hdr_crc(const jrnl_hdr_t *h, const uint8_t *entries)
{
	uint32_t crc = cos_crc32(0, (const uint8_t *)h, offsetof(jrnl_hdr_t, crc));
	return cos_crc32(crc, entries, h->bytes);
}

static hal_status_t apply(const hal_t *hal, const uint8_t *e, uint16_t bytes,
			  uint16_t count)
{
	size_t pos = 0;
	for (uint16_t i = 0; i < count; i++) {
		if (pos + 6 > bytes)
			return HAL_ERR_PARAM;
		uint32_t off = cos_get32(e + pos);
		uint16_t len = cos_get16(e + pos + 4);
		pos += 6;
		if (pos + len > bytes || off + len > hal->nvm_size)
			return HAL_ERR_PARAM;
		hal_status_t st = hal->nvm_write(hal->ctx, off, e + pos, len);
		if (st != HAL_OK)
			return st;
		pos += len;
	}
	return HAL_OK;
}

static hal_status_t retire(const hal_t *hal)
{
	static const uint8_t zero[JRNL_HDR];
	hal_status_t st = hal->nvm_sync(hal->ctx);
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, JRNL_OFF, zero, sizeof zero);
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);
	return st;
}

uint16_t nvm_commit(cos_ctx_t *c)
{
	const hal_t *hal = c->hal;
	if (c->jfail) {
		nvm_begin(c);
		return SW_MEMORY;
	}
	if (c->jcount == 0)
		return SW_OK;

	jrnl_hdr_t h, old;
	cf_memcpy(&old, hal->nvm + JRNL_OFF, sizeof old);
	h.magic = JRNL_MAGIC;
	h.seq = old.seq + 1;
	h.count = c->jcount;
	h.bytes = c->jlen;
	h.crc = hdr_crc(&h, c->jbuf);

	hal_status_t st =
		hal->nvm_write(hal->ctx, JRNL_OFF + JRNL_HDR, c->jbuf, c->jlen);
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, JRNL_OFF, (const uint8_t *)&h,
				    sizeof h);
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);
	if (st == HAL_OK)
		st = apply(hal, c->jbuf, c->jlen, c->jcount);
	if (st == HAL_OK)
		st = retire(hal);
	nvm_begin(c);
	if (st != HAL_OK) {
		/* Power lost, or the EEPROM refused a write: the chip stops
		 * answering; the next power up finishes or forgets the
		 * transaction. */
		c->mute = 1;
		return SW_MEMORY;
	}
	return SW_OK;
}

cos_status_t nvm_recover(cos_ctx_t *c)
{
	const hal_t *hal = c->hal;
	jrnl_hdr_t h;
	cf_memcpy(&h, hal->nvm + JRNL_OFF, sizeof h);
	if (h.magic != JRNL_MAGIC)
		return COS_OK;
	const uint8_t *e = hal->nvm + JRNL_OFF + JRNL_HDR;
	if (h.bytes > JRNL_CAP || hdr_crc(&h, e) != h.crc)
		return COS_OK; /* torn before commit: the old state stands */
	hal_status_t st = apply(hal, e, h.bytes, h.count);
	if (st == HAL_OK)
		st = retire(hal);
	if (st == HAL_ERR_POWER)
		return COS_ERR_POWER;
	return st == HAL_OK ? COS_OK : COS_ERR_NVM;
}

uint32_t nvm_journal_capacity(void)
{
	return JRNL_CAP;
}
