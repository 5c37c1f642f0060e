/*
 * memcard.h - the cardfab memory card: the whole interface of src/memcard.
 *
 * A virtual SLE4442-compatible "logic encryption" memory card (Infineon
 * SLE 4442 data sheet): 256 bytes of main memory, the first 32 bytes
 * protected byte by byte by write-once protection bits, a 3-byte
 * programmable security code (PSC) with a 3-bit error counter. Reads are
 * always allowed; writes only after a correct PSC presentation, until the
 * power goes; three wrong presentations in a row lock the card for writing
 * forever.
 *
 * It is reached the way PC/SC programs reach a real one: through the
 * pseudo-APDUs of the ACS ACR38x / ACR39x / ACR1281 readers (class FF),
 * so mc_transmit() models the reader and the chip together, as a PC/SC
 * application sees them. docs/memcard.md lists every command, its answers
 * and errors, and where each fact comes from.
 *
 * Freestanding C11 like src/cos: no heap, no stdio, no OS call; NVM only
 * through a hal_t (cos/hal.h) and every NVM change through the card OS's
 * anti-tearing journal (cos/jrnl.h).
 *
 * A host runs a chip like this:
 *
 *     mc_chip_t chip;                          // RAM of the chip, caller's
 *     mc_fab_t fab;
 *     mc_fab_default(&fab);                    // then set fab.psc, serial...
 *     mc_format(&hal, mc_model_find("sle4442"), &fab);   // the fab, once
 *     mc_power_on(&chip, &hal, atr, sizeof atr, &atr_len);
 *     mc_transmit(&chip, capdu, n, rapdu, sizeof rapdu, &rlen);
 *     ...
 *     mc_power_off(&chip);
 *
 * Buffers: the caller owns every buffer it passes; lengths are explicit.
 * Nothing here ever hands the PSC to the host, except the reader command
 * that real chips answer with it after a correct presentation (FF B1, see
 * docs/memcard.md).
 */
#ifndef CARDFAB_MEMCARD_H
#define CARDFAB_MEMCARD_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"

typedef enum {
	MC_OK = 0,
	MC_ERR_PARAM,       /* a NULL pointer, a buffer too small */
	MC_ERR_MODEL,       /* unknown model, or image size does not match */
	MC_ERR_FORMAT,      /* the image holds no memory card */
	MC_ERR_CORRUPT,     /* the consistency check failed */
	MC_ERR_NVM,         /* NVM failed, retry too: chip mute until power up */
	MC_ERR_POWER,       /* power lost during the call: chip mute */
	MC_ERR_NOT_POWERED,
} mc_status_t;

const char *mc_strerror(mc_status_t st);

/* Sizes of the chip (SLE 4442 data sheet) and of the reader's buffers. */
#define MC_MEM_SIZE 256u      /* main memory bytes */
#define MC_PROT_BYTES 32u     /* bytes 0..31 have a protection bit */
#define MC_PROT_LEN 4u        /* protection memory, as FF B2 answers it */
#define MC_PSC_LEN 3u         /* programmable security code */
#define MC_EC_FULL 0x07u      /* error counter: three tries left */
#define MC_CARD_TYPE 0x06u    /* SELECT_CARD_TYPE value: SLE 4432/4442 */
#define MC_ATR_LEN 4u         /* the chip's own ATR: main memory 0..3 */
#define MC_ATR_PCSC_LEN 6u    /* 3B 04 then the chip's four bytes */
#define MC_CAPDU_MAX (5u + 255u)       /* FF D0 00 addr 255 data */
#define MC_RAPDU_MAX (MC_MEM_SIZE + 2u) /* 256 bytes read, SW1 SW2 */
#define MC_SERIAL_OFF 8u      /* where the fab puts a serial (8 bytes) */
#define MC_SERIAL_LEN 8u

/* A chip model: the silicon and the size of its image. */
typedef struct {
	const char *name;      /* "sle4442" */
	const char *summary;   /* one line for humans */
	uint8_t id;            /* stored in the image */
	uint32_t nvm_size;     /* image bytes (data, security, journal) */
} mc_model_t;

const mc_model_t *mc_model_find(const char *name);
const mc_model_t *mc_model_by_id(uint8_t id);
/* All models, for listing; *count receives their number. */
const mc_model_t *mc_models(size_t *count);

/*
 * What the fab writes. mc_fab_default() gives a chip like the ones sold:
 * transport PSC FF FF FF, manufacturer area A2 13 10 91 FF FF 81 15 ...
 * D2 76 00 00 04 00 at bytes 21..26, those bytes protected, no serial.
 */
typedef struct {
	uint8_t psc[MC_PSC_LEN];   /* the transport code */
	/* Main memory bytes 4..31 (0..3 are always the ATR A2 13 10 91). */
	uint8_t mfr[MC_PROT_BYTES - MC_ATR_LEN];
	/* Bit i set: byte i leaves the fab protected. Bits 0..3 (the ATR) are
	 * always set, and bits 8..15 when there is a serial. */
	uint32_t protect;
	int has_serial;            /* write serial at bytes 8..15, protected */
	uint8_t serial[MC_SERIAL_LEN];
} mc_fab_t;

void mc_fab_default(mc_fab_t *fab);

/* Bytes of a memory card image; hal->nvm_size must be this. */
#define MC_NVM_SIZE 1024u

/*
 * The fab: make a blank (or any) image a chip as mc_fab_t describes, error
 * counter 07, every byte above 31 erased (FF). Written directly, not
 * through the journal: until the header (written last) is complete the
 * image is simply not a memory card. hal->nvm_size must equal
 * model->nvm_size.
 */
mc_status_t mc_format(const hal_t *hal, const mc_model_t *model,
		      const mc_fab_t *fab);

/* Does this image hold a memory card (header magic "S442", CRC, size)? */
int mc_probe(const uint8_t *nvm, size_t n);

/* The RAM of one chip (and of the reader's state for it). Opaque. */
typedef struct {
	uint64_t opaque[96];
} mc_chip_t;

/*
 * Power up: check the image, finish or forget an interrupted NVM
 * transaction, and write the ATR as the PC/SC reader reports it:
 * 3B 04 A2 13 10 91 (TS, T0 with four historical bytes: the chip's own
 * four-byte ATR, read from main memory 0..3). atr_cap >= MC_ATR_PCSC_LEN.
 * The card type is not selected yet and no PSC has been presented.
 */
mc_status_t mc_power_on(mc_chip_t *chip, const hal_t *hal, uint8_t *atr,
			size_t atr_cap, size_t *atr_len);

/* The PC/SC form of a chip ATR: out gets 3B 04 and the four bytes.
 * Returns MC_ATR_PCSC_LEN, or 0 if cap is too small. */
size_t mc_atr_pcsc(const uint8_t chip_atr[MC_ATR_LEN], uint8_t *out,
		   size_t cap);

/*
 * One pseudo-APDU in, one response out (data, then SW1 SW2), as an ACS
 * reader answers it. rapdu_cap >= MC_RAPDU_MAX. Any byte string gets a
 * status word (6581 when an EEPROM write failed: the journal has already
 * put the image back to the old state or the new one). The call fails
 * only if the chip is not powered or is mute: MC_ERR_POWER, the power was
 * lost under it; MC_ERR_NVM, an EEPROM write failed and so did the retry.
 * It stays mute until the next power up, which recovers the journal.
 */
mc_status_t mc_transmit(mc_chip_t *chip, const uint8_t *capdu,
			size_t capdu_len, uint8_t *rapdu, size_t rapdu_cap,
			size_t *rapdu_len);

/* Power down: the RAM (PSC verified, card type selected) is wiped. */
void mc_power_off(mc_chip_t *chip);

/* ---- Introspection for host tools (chip info, MES, tests). ----
 * Everything a reader could read without the PSC; never the PSC. */
typedef struct {
	const mc_model_t *model;
	uint32_t nvm_size;
	uint8_t atr[MC_ATR_LEN];        /* the chip's own ATR */
	uint8_t memory[MC_MEM_SIZE];    /* main memory */
	uint8_t prot[MC_PROT_LEN];      /* protection memory, bit 0 = byte 0,
					 * 0 = protected (as FF B2 answers) */
	uint32_t protected_mask;        /* bit i set: byte i protected */
	unsigned protected_count;
	uint8_t error_counter;          /* raw: 07, 06, 04, 00 */
	uint8_t tries_left;             /* bits set in the error counter */
	int locked;                     /* error counter 0: no more writes */
	int selected;                   /* this session: card type selected */
	int psc_verified;               /* this session: writes enabled */
	int has_serial;
	uint8_t serial[MC_SERIAL_LEN];
} mc_info_t;

/* Works on a powered chip. */
mc_status_t mc_get_info(const mc_chip_t *chip, mc_info_t *info);

/*
 * Consistency check of a powered chip's image: header (magic, layout, CRC,
 * model, size), error counter bits, the fab's bytes (ATR, serial) still
 * protected. On failure *why names the first broken invariant (a static
 * string); on success "consistent".
 */
mc_status_t mc_check(const mc_chip_t *chip, const char **why);

#endif
