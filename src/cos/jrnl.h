/*
 * jrnl.h - the anti-tearing journal every cardfab chip writes its NVM
 * through (the card OS in src/cos, the memory card in src/memcard).
 *
 * A chip stages its writes in RAM (jrnl_stage), then jrnl_commit() makes
 * them durable as one transaction, a redo log in a journal area of the NVM:
 *
 *   1. write the entries (offset, length, bytes; or offset and a length with
 *      bit 15 set and no bytes: that many zeros) after the journal header;
 *   2. sync, then write the 16-byte header: magic, sequence, entry count,
 *      entry bytes, CRC-32 over header fields and entries; sync.
 *      From here on the transaction has happened.
 *   3. apply each entry in place; sync; zero the header; sync.
 *
 * Power lost before the header is complete leaves a header whose magic or CRC
 * does not match: the old state, untouched. Power lost after it: at the next
 * power up jrnl_recover() applies the entries again (applying twice is
 * harmless: the log holds the new bytes, not a delta) and retires the header.
 * A torn header write can only produce a header that fails its CRC.
 *
 * Each step ends with a sync barrier (four a transaction): at the first two
 * the image outside the journal is exactly the old state, at the last two
 * exactly the new one. A harness that observes nvm_sync() sees every legal
 * state and nothing else.
 *
 * Reads never see staged writes: they read the committed image. Freestanding
 * like the rest of src/cos; the staging buffer is the caller's.
 */
#ifndef CARDFAB_COS_JRNL_H
#define CARDFAB_COS_JRNL_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"

#define JRNL_HDR 16u

typedef struct {
	const hal_t *hal;
	uint32_t off, size;  /* the journal area in NVM */
	uint8_t *buf;        /* staging, the caller's: size - JRNL_HDR bytes */
	uint16_t len, count;
	uint8_t fail;        /* a staged write did not fit: commit refuses */
} jrnl_t;

/* Bind a journal to its NVM area and staging buffer. */
void jrnl_init(jrnl_t *j, const hal_t *hal, uint32_t off, uint32_t size,
	       uint8_t *buf);
/* Start a transaction (drops anything staged). */
void jrnl_begin(jrnl_t *j);
/* Stage a write; a write into the journal area or past the end of NVM, or
 * one that does not fit the staging buffer, fails the transaction. */
void jrnl_stage(jrnl_t *j, uint32_t off, const void *src, uint32_t len);
/* Stage len zero bytes at off (len <= JRNL_FILL_MAX): six bytes of log,
 * whatever the length, so a large erase is one transaction too. */
#define JRNL_FILL_MAX 0x7FFFu
void jrnl_stage_zero(jrnl_t *j, uint32_t off, uint32_t len);
/* Make the staged writes durable, atomically. HAL_OK, HAL_ERR_PARAM when the
 * transaction failed while staging (nothing written), or the HAL's error
 * (HAL_ERR_POWER: the power went; the next jrnl_recover() decides). */
hal_status_t jrnl_commit(jrnl_t *j);
/* At power up: finish a committed transaction or forget a torn one. */
hal_status_t jrnl_recover(jrnl_t *j);
/* Format: an empty journal area (header zeroed), written directly. */
hal_status_t jrnl_format(const hal_t *hal, uint32_t off);

uint32_t jrnl_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
