/*
 * cos.h - the cardfab card OS: the whole interface of src/cos.
 *
 * The card OS is what would run on the chip: an ISO/IEC 7816-4 file system,
 * PINs, keys, GlobalPlatform SCP03 and the chip's life cycle, behind an APDU
 * in / APDU out entry point. It is freestanding C11: no heap, no stdio, no OS
 * call; it reaches NVM, randomness and crypto only through a hal_t (hal.h).
 *
 * A host runs a chip like this:
 *
 *     cos_chip_t chip;                       // RAM of the chip, caller-owned
 *     cos_format(&hal, cos_model_find("cf32"));   // only for a blank image
 *     cos_power_on(&chip, &hal, atr, sizeof atr, &atr_len);
 *     cos_transmit(&chip, capdu, n, rapdu, sizeof rapdu, &rlen);
 *     ...
 *     cos_power_off(&chip);
 *
 * The APDU commands, status words and the life cycle are documented in
 * docs/card-os.md; the NVM layout and journal in src/cos/nvm.h.
 */
#ifndef CARDFAB_COS_H
#define CARDFAB_COS_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"

typedef enum {
	COS_OK = 0,
	COS_ERR_PARAM,    /* a NULL pointer, a buffer too small */
	COS_ERR_MODEL,    /* unknown chip model, or image size does not match */
	COS_ERR_FORMAT,   /* the image holds no card OS (not formatted) */
	COS_ERR_CORRUPT,  /* the consistency check failed */
	COS_ERR_NVM,      /* NVM programming failed */
	COS_ERR_POWER,    /* power lost during the call: the chip is mute */
	COS_ERR_NOT_POWERED,
	COS_ERR_CRYPTO,   /* the HAL's crypto or RNG failed */
} cos_status_t;

const char *cos_strerror(cos_status_t st);

/* The chip's life cycle (docs/card-os.md). Values only ever increase. */
typedef enum {
	COS_LC_MANUFACTURING = 1, /* test mode: fab test commands available */
	COS_LC_TRANSPORT = 2,     /* serial and transport code set; closed */
	COS_LC_INITIALIZATION = 3, /* transport code presented: card maker */
	COS_LC_PERSONALIZATION = 4, /* fuse burned: issuer, over SCP03 only */
	COS_LC_OPERATIONAL = 5,   /* user mode */
	COS_LC_TERMINATED = 6,    /* dead: GET DATA of the state only */
} cos_lifecycle_t;

const char *cos_lifecycle_name(cos_lifecycle_t lc);

/* GlobalPlatform card life cycle state reported for a life cycle state. */
uint8_t cos_gp_state(cos_lifecycle_t lc, int locked);

/* A chip model: what the silicon offers. */
typedef struct {
	const char *name;      /* "cf32", "cf64" */
	const char *summary;   /* one line for humans */
	uint8_t id;            /* stored in the image */
	uint32_t nvm_size;     /* EEPROM bytes */
	uint8_t max_files;     /* entries in the file table, MF included */
	uint8_t max_objects;   /* PIN and key objects */
	uint16_t ic_type;      /* CPLC IC type */
} cos_model_t;

const cos_model_t *cos_model_find(const char *name);
const cos_model_t *cos_model_by_id(uint8_t id);
/* All models, for listing; *count receives their number. */
const cos_model_t *cos_models(size_t *count);

/* Constants of this card OS, for hosts that size buffers. */
#define COS_APDU_MAX_DATA 1024u        /* Nc and Ne limit, extended length */
#define COS_CAPDU_MAX (4u + 3u + COS_APDU_MAX_DATA + 3u)
#define COS_RAPDU_MAX (COS_APDU_MAX_DATA + 2u)
#define COS_ATR_MAX 33u
#define COS_SERIAL_LEN 8u
#define COS_CPLC_LEN 42u
#define COS_AID_MAX 16u
#define COS_PROTO_T0 0
#define COS_PROTO_T1 1

/* The RAM of one chip. Opaque: only the functions below touch it. */
typedef struct {
	uint64_t opaque[1024];
} cos_chip_t;

/*
 * Load the card OS into a blank (or any) image: the mask step of the fab.
 * Leaves an empty file system (MF only) in MANUFACTURING. hal->nvm_size must
 * equal model->nvm_size.
 */
cos_status_t cos_format(const hal_t *hal, const cos_model_t *model);

/*
 * Power up: recover the NVM journal if a write was interrupted, check the
 * system area (magic, CRC, model; not the tables: cos_check() does that,
 * and a chip with broken tables still answers every APDU with a status
 * word), reset the security status and write the ATR (TS to TCK) to atr.
 * The protocol starts as T=1; cos_set_protocol() models the PPS exchange.
 */
cos_status_t cos_power_on(cos_chip_t *chip, const hal_t *hal, uint8_t *atr,
			  size_t atr_cap, size_t *atr_len);
cos_status_t cos_set_protocol(cos_chip_t *chip, int proto);

/*
 * One command APDU in, one response APDU out (data, then SW1 SW2).
 * rapdu_cap must be at least COS_RAPDU_MAX. Any byte string is answered with
 * a status word; the call fails only if the chip is not powered or the power
 * was cut under it (COS_ERR_POWER: it stays mute until the next power up).
 */
cos_status_t cos_transmit(cos_chip_t *chip, const uint8_t *capdu,
			  size_t capdu_len, uint8_t *rapdu, size_t rapdu_cap,
			  size_t *rapdu_len);

/* Power down: the RAM (session keys, security status) is wiped. */
void cos_power_off(cos_chip_t *chip);

/* ---- Introspection for host tools (chip info, MES, tests). No secret. ---- */

typedef struct {
	const cos_model_t *model;
	cos_lifecycle_t lifecycle;
	int locked;                 /* OPERATIONAL but MF deactivated */
	uint8_t gp_state;           /* GlobalPlatform card state */
	uint8_t serial[COS_SERIAL_LEN];
	uint8_t transport_tries;    /* left in TRANSPORT; 0 in any other state */
	uint8_t cplc[COS_CPLC_LEN];
	uint32_t nvm_size;
	uint32_t fs_capacity;       /* bytes for file bodies */
	uint32_t fs_used;
	uint8_t files_used, files_max;
	uint8_t objects_used, objects_max;
} cos_info_t;

/* Works on a powered chip. */
cos_status_t cos_get_info(const cos_chip_t *chip, cos_info_t *info);

typedef enum {
	COS_FT_MF = 1,
	COS_FT_DF,
	COS_FT_EF_TRANSPARENT,
	COS_FT_EF_LINEAR_FIXED,
	COS_FT_EF_LINEAR_VARIABLE,
	COS_FT_EF_CYCLIC,
} cos_file_type_t;

/* Operations an access condition guards, in the order of the ISO/IEC 7816-4
 * compact access mode byte (bit 1 first). For a DF: bit 1 DELETE (child),
 * bit 2 CREATE EF, bit 3 CREATE DF. For an EF: bit 1 READ, bit 2 UPDATE/
 * ERASE, bit 3 WRITE/APPEND. Then for both: bit 4 DEACTIVATE, bit 5
 * ACTIVATE, bit 6 TERMINATE, bit 7 DELETE (self). */
#define COS_AC_OPS 7
/* Access condition byte (the compact format's security condition byte). */
#define COS_AC_ALWAYS 0x00
#define COS_AC_NEVER 0xFF
#define COS_AC_ALL 0x80   /* all conditions set must hold (else any one) */
#define COS_AC_SM 0x40    /* a secure channel session, this command MACed */
#define COS_AC_KEY 0x20   /* key (low nibble) authenticated */
#define COS_AC_PIN 0x10   /* PIN (low nibble) verified */
#define COS_AC_REF(ac) ((ac)&0x0F)

typedef struct {
	unsigned depth;             /* 0 for the MF */
	cos_file_type_t type;
	uint16_t fid;
	uint8_t sfi;                /* 0: none */
	uint8_t aid[COS_AID_MAX];
	uint8_t aid_len;
	uint8_t lcs;                /* ISO/IEC 7816-4 LCS byte */
	uint16_t size;              /* transparent: bytes; records: record length */
	uint8_t records, max_records;
	uint32_t allocated;         /* NVM bytes of the body; a DF: its subtree's */
	uint8_t ac[COS_AC_OPS];
} cos_file_info_t;

typedef enum { COS_OBJ_PIN = 1, COS_OBJ_KEY } cos_obj_kind_t;

typedef struct {
	cos_obj_kind_t kind;
	uint16_t owner_fid;         /* DF the object belongs to (3F00: global) */
	uint8_t ref;                /* PIN reference / key identifier */
	uint8_t kvn;                /* key version (keys) */
	uint8_t alg;                /* COS_ALG_* (keys) */
	uint8_t usage;              /* COS_KEY_USE_* (keys) */
	uint8_t len;                /* value length */
	uint8_t tries, max_tries;   /* 0 max: unlimited (keys) */
	uint8_t unblock_ref;        /* PIN: the PUK's reference, 0 none */
} cos_obj_info_t;

#define COS_ALG_AES 0x88  /* GlobalPlatform key type codes */
#define COS_ALG_3DES 0x80
#define COS_KEY_USE_AUTH 0x01     /* EXTERNAL/INTERNAL AUTHENTICATE */
#define COS_KEY_USE_SCP03 0x02    /* GP SCP03 key set member (id 1 ENC, 2 MAC, 3 DEK) */
#define COS_KEY_USE_CRYPTO 0x04   /* data encryption (INTERNAL AUTHENTICATE) */

/* Call fn for every file, depth first from the MF, then for every object.
 * A non-zero return from fn stops the walk and is returned. */
typedef int (*cos_file_fn)(const cos_file_info_t *f, void *arg);
typedef int (*cos_obj_fn)(const cos_obj_info_t *o, void *arg);
int cos_walk(const cos_chip_t *chip, cos_file_fn file_fn, cos_obj_fn obj_fn,
	     void *arg);

/*
 * Consistency check of a powered chip's image: header, file table (parents,
 * extents inside the data area, no overlap), objects. On failure *why names
 * the first broken invariant (a static string).
 */
cos_status_t cos_check(const cos_chip_t *chip, const char **why);

#endif
