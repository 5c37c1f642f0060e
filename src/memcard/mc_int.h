/*
 * mc_int.h - what the files of src/memcard share and nobody else sees.
 *
 * NVM layout of a memory card image (MC_NVM_SIZE = 1024 bytes):
 *
 *   [0, 16)      header, written once by mc_format(), last:
 *                  0  magic "S442"
 *                  4  layout (1)
 *                  5  model id
 *                  6  flags (bit 0: the fab wrote a serial)
 *                  7  0
 *                  8  image size, big-endian (4)
 *                 12  CRC-32 of bytes 0..11, big-endian (4)
 *   [16, 32)     zero
 *   [32, 36)     security memory, as on the chip: error counter (bits
 *                0..2), then the PSC (reference data) bytes 1..3
 *   [36, 40)     protection memory: bit i of byte k protects main memory
 *                byte 8k+i; 1 writable, 0 protected (write-once)
 *   [40, 64)     zero
 *   [64, 320)    main memory
 *   [320, 512)   zero
 *   [512, 1024)  the journal (cos/jrnl.h)
 *
 * Every change after the fab (main memory, protection bits, error counter,
 * PSC) is staged with jrnl_stage() and made durable by jrnl_commit(); the
 * header never changes after mc_format(). Reads always see the committed
 * image (hal->nvm).
 */
#ifndef CARDFAB_MC_INT_H
#define CARDFAB_MC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"
#include "cos/jrnl.h"
#include "memcard/memcard.h"

#define mc_memcpy __builtin_memcpy
#define mc_memset __builtin_memset

#define MC_MAGIC0 'S'
#define MC_MAGIC1 '4'
#define MC_MAGIC2 '4'
#define MC_MAGIC3 '2'
#define MC_LAYOUT 1u
#define MC_HDR_LEN 16u
#define MC_HDR_CRC_OFF 12u
#define MC_FLAG_SERIAL 0x01u

#define MC_SEC_OFF 32u   /* error counter, PSC[3] */
#define MC_PROT_OFF 36u  /* protection memory, 4 bytes */
#define MC_MAIN_OFF 64u  /* main memory, 256 bytes */
#define MC_JRNL_OFF 512u
#define MC_JRNL_SIZE 512u
#define MC_JRNL_CAP (MC_JRNL_SIZE - JRNL_HDR)

_Static_assert(MC_MAIN_OFF + MC_MEM_SIZE <= MC_JRNL_OFF, "layout");
_Static_assert(MC_JRNL_OFF + MC_JRNL_SIZE == MC_NVM_SIZE, "layout");
/* The biggest transaction: one 256-byte entry (a write of the whole main
 * memory, 6 bytes of entry header). */
_Static_assert(6u + MC_MEM_SIZE <= MC_JRNL_CAP, "journal too small");

/* Status words (docs/memcard.md). */
#define MC_SW_OK 0x9000u
#define MC_SW_PSC(ec) (0x9000u | (ec)) /* PRESENT_CODE: SW2 = counter */
#define MC_SW_MEMORY 0x6581u      /* an EEPROM write failed */
#define MC_SW_WRONG_LENGTH 0x6700u
#define MC_SW_CONDITIONS 0x6985u  /* no SELECT_CARD_TYPE yet */
#define MC_SW_NO_FUNCTION 0x6A81u /* a card type this chip is not */
#define MC_SW_BAD_P1P2 0x6A86u
#define MC_SW_WRONG_OFFSET 0x6B00u
#define MC_SW_INS 0x6D00u
#define MC_SW_CLA 0x6E00u

typedef struct {
	const hal_t *hal;
	const mc_model_t *model;
	uint8_t powered;
	uint8_t mute;          /* power lost (or NVM dead) under a command */
	uint8_t mute_status;   /* mc_status_t returned while mute */
	uint8_t selected;      /* SELECT_CARD_TYPE 06 done since power up */
	uint8_t psc_ok;        /* PSC presented correctly since the last
				* power up or card reset */
	jrnl_t j;
	uint8_t jbuf[MC_JRNL_CAP];
} mc_ctx_t;

_Static_assert(sizeof(mc_ctx_t) <= sizeof(mc_chip_t), "chip RAM");

/* mc_cmd.c: one command, response data into out[0..256), *out_len set. */
uint16_t mc_cmd(mc_ctx_t *c, const uint8_t *capdu, size_t n, uint8_t *out,
		size_t *out_len);

/* memcard.c */
uint32_t mc_hdr_crc(const uint8_t *hdr);
void mc_wipe(void *p, size_t n);

#endif
