/*
 * cos_int.h - what the files of src/cos share and nobody else sees.
 *
 * NVM layout (offsets in the image, little-endian fields):
 *
 *   [0, 256)            system area: sys_area_t (life cycle, serial,
 *                       transport code, CPLC, table sizes)
 *   [256, 1792)         the journal (nvm.c)
 *   [1792, ...)         object table: max_objects obj_entry_t
 *   then                file table: max_files fs_entry_t (slot 0 is the MF)
 *   then, to the end    file bodies, allocated first fit
 *
 * Every NVM change is staged with nvm_stage() and made durable at once by
 * nvm_commit(); reads always see the committed image (hal->nvm). A command
 * handler therefore computes everything it needs before it stages.
 */
#ifndef CARDFAB_COS_INT_H
#define CARDFAB_COS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cos/cos.h"
#include "cos/hal.h"
#include "cos/jrnl.h"
#include "cos/scp03.h"

#define cf_memcpy __builtin_memcpy
#define cf_memset __builtin_memset
#define cf_memcmp __builtin_memcmp
#define cf_memmove __builtin_memmove

/* ---- status words ---- */
#define SW_OK 0x9000
#define SW_MORE(n) (0x6100 | ((n) > 255 ? 0 : (n)))
#define SW_EOF 0x6282
#define SW_DEACTIVATED 0x6283
#define SW_TERMINATED 0x6285
#define SW_AUTH_FAILED 0x6300
#define SW_TRIES(n) (0x63C0 | ((n)&0x0F))
#define SW_MEMORY 0x6581
#define SW_WRONG_LENGTH 0x6700
#define SW_CHANNEL 0x6881
#define SW_SM_UNSUPPORTED 0x6882
#define SW_CHAINING 0x6884
#define SW_INCOMPATIBLE 0x6981
#define SW_SECURITY 0x6982
#define SW_BLOCKED 0x6983
#define SW_UNUSABLE 0x6984
#define SW_CONDITIONS 0x6985
#define SW_NO_EF 0x6986
#define SW_SM_INCORRECT 0x6988
#define SW_BAD_DATA 0x6A80
#define SW_NOT_FOUND 0x6A82
#define SW_RECORD_NOT_FOUND 0x6A83
#define SW_NO_MEMORY 0x6A84
#define SW_BAD_P1P2 0x6A86
#define SW_REF_NOT_FOUND 0x6A88
#define SW_FILE_EXISTS 0x6A89
#define SW_NAME_EXISTS 0x6A8A
#define SW_WRONG_OFFSET 0x6B00
#define SW_INS 0x6D00
#define SW_CLA 0x6E00

/* ---- NVM layout ---- */
#define SYS_OFF 0u
#define SYS_SIZE 256u
#define JRNL_OFF 256u
#define JRNL_SIZE 1536u
#define JRNL_CAP (JRNL_SIZE - JRNL_HDR)
#define OBJ_OFF (JRNL_OFF + JRNL_SIZE)
#define COS_MAGIC 0x534F4346u /* "FCOS" */
#define COS_LAYOUT 1u
#define MAX_OBJECTS 32
#define MAX_FILES 128
#define MAX_DEPTH 8
#define NO_FILE 0xFF
#define TRANSPORT_REF 0x1F

typedef struct {
	uint32_t magic;
	uint8_t layout;
	uint8_t model;
	uint8_t lc;            /* cos_lifecycle_t, only ever increases */
	uint8_t locked;        /* OPERATIONAL with the MF deactivated */
	uint8_t serial[COS_SERIAL_LEN];
	uint8_t tcode[8];      /* transport code; zero once gone */
	uint8_t ttries, tmax;  /* transport code tries left / allowed */
	uint8_t max_files, max_objects;
	uint32_t obj_off, file_off, data_off; /* table and body offsets */
	uint8_t cplc[COS_CPLC_LEN];
	uint8_t rfu[SYS_SIZE - 4 - 4 - 8 - 8 - 4 - 12 - COS_CPLC_LEN - 4];
	uint32_t crc;          /* over everything before it */
} sys_area_t;

typedef struct {
	uint16_t fid;
	uint8_t type;          /* cos_file_type_t; 0: free slot */
	uint8_t parent;        /* slot of the parent DF; NO_FILE for the MF */
	uint8_t lcs;           /* 05 activated, 04 deactivated, 0C terminated */
	uint8_t sfi;
	uint8_t aid_len;
	uint8_t nrec;          /* records written */
	uint8_t am;            /* compact access mode byte */
	uint8_t ac[COS_AC_OPS]; /* security condition per operation bit */
	uint8_t aid[COS_AID_MAX];
	uint32_t data_off;     /* body in the image */
	uint32_t data_len;     /* bytes allocated */
	uint16_t size;         /* transparent: bytes; records: record length */
	uint8_t max_rec;
	uint8_t head;          /* cyclic: slot of record 1 (most recent) */
	uint8_t rfu[4];
} fs_entry_t;

typedef struct {
	uint8_t kind;          /* cos_obj_kind_t; 0: free slot */
	uint8_t ref;           /* number 1..30, without the b8 scope bit */
	uint8_t owner;         /* file slot of the owning DF (0: global) */
	uint8_t alg;           /* keys: COS_ALG_* */
	uint8_t usage;         /* keys: COS_KEY_USE_* */
	uint8_t kvn;           /* keys: version; PINs: PUK reference */
	uint8_t max_tries;
	uint8_t tries;
	uint8_t len;           /* value length */
	uint8_t set;           /* a value is present */
	uint8_t rfu[6];
	uint8_t value[32];
} obj_entry_t;

_Static_assert(sizeof(sys_area_t) == SYS_SIZE, "system area size");
_Static_assert(sizeof(fs_entry_t) == 48, "file entry size");
_Static_assert(sizeof(obj_entry_t) == 48, "object entry size");

/* ---- the chip's RAM ---- */

typedef struct {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;   /* command data (Nc bytes), in ctx->cbuf */
	size_t nc;
	size_t ne;             /* 0: no Le field */
	int has_le, ext;
	int sm;                /* arrived with a valid C-MAC */
	const uint8_t *raw;    /* the command as received */
	size_t raw_len;
} apdu_t;

typedef struct cos_ctx {
	const hal_t *hal;
	const cos_model_t *model;
	uint8_t powered, mute, proto;
	sys_area_t sys;        /* RAM copy of the committed system area */

	/* selection */
	uint8_t cur_df, cur_ef, rec;   /* rec: record pointer, 0 none */
	uint8_t name_match;            /* last DF selected by name */

	/* security status: bit i for object slot i */
	uint32_t pin_ok, key_ok;
	uint8_t chal[16];
	uint8_t chal_len;

	scp03_t sc;

	/* journal */
	jrnl_t j;
	uint8_t jbuf[JRNL_CAP];

	/* command and response buffers */
	uint8_t cbuf[COS_CAPDU_MAX];
	uint8_t rbuf[COS_APDU_MAX_DATA + SCP03_WRAP_OVERHEAD];
	size_t rlen;           /* response data produced by the handler */
	size_t pend_off, pend_len; /* data waiting for GET RESPONSE */
} cos_ctx_t;

_Static_assert(sizeof(cos_ctx_t) <= sizeof(cos_chip_t), "chip RAM");

/* ---- util.c ---- */
int cos_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
void cos_wipe(void *p, size_t n);
#define cos_crc32 jrnl_crc32
uint16_t cos_get16(const uint8_t *p);
uint32_t cos_get32(const uint8_t *p);
void cos_put16(uint8_t *p, uint16_t v);
void cos_put32(uint8_t *p, uint32_t v);
/* Find a BER-TLV object with a one- or two-byte tag among data[0..len).
 * Returns 1 and value/vlen when found, 0 when absent, -1 on bad encoding. */
int cos_tlv_find(const uint8_t *data, size_t len, uint16_t tag,
		 const uint8_t **value, size_t *vlen);
/* Check that data[0..len) is a well-formed sequence of TLV objects. */
int cos_tlv_valid(const uint8_t *data, size_t len);
/* Append tag/len/value to out at *pos (cap checked). 0 on success. */
int cos_tlv_put(uint8_t *out, size_t cap, size_t *pos, uint16_t tag,
		const uint8_t *v, size_t vlen);

/* ---- nvm.c ---- */
void nvm_begin(cos_ctx_t *c);
void nvm_stage(cos_ctx_t *c, uint32_t off, const void *src, uint32_t len);
/* Stage len zero bytes (one six-byte log entry, up to JRNL_FILL_MAX). */
void nvm_stage_zero(cos_ctx_t *c, uint32_t off, uint32_t len);
/* Commit staged writes. Returns SW_OK or SW_MEMORY (the chip goes mute
 * when the power was lost). */
uint16_t nvm_commit(cos_ctx_t *c);
/* Stage the system area (recomputing its CRC). */
void nvm_stage_sys(cos_ctx_t *c, sys_area_t *s);
cos_status_t nvm_recover(cos_ctx_t *c);

/* ---- command handlers: one a command, in the dispatch table of cos.c.
 * A handler leaves response data in c->rbuf / c->rlen and returns the SW. */
typedef uint16_t (*cmd_fn)(cos_ctx_t *c, apdu_t *a);

/* fs.c */
uint16_t cmd_select(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_read_binary(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_update_binary(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_erase_binary(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_read_record(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_update_record(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_append_record(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_search_record(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_create_file(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_delete_file(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_activate_file(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_deactivate_file(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_terminate_df(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_terminate_ef(cos_ctx_t *c, apdu_t *a);

/* sec.c */
uint16_t cmd_verify(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_change_ref(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_reset_retry(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_get_challenge(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_ext_auth(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_int_auth(cos_ctx_t *c, apdu_t *a);

/* lc.c */
uint16_t cmd_get_data(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_put_data(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_terminate_card(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_init_update(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_gp_ext_auth(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_get_status(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_set_status(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_test_nvm(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_read_nvm(cos_ctx_t *c, apdu_t *a);
uint16_t cmd_fab_close(cos_ctx_t *c, apdu_t *a);

/* ---- fs.c internals others use ---- */
const uint8_t *fs_raw(const cos_ctx_t *c, uint8_t slot);
void fs_read(const cos_ctx_t *c, uint8_t slot, fs_entry_t *e);
void fs_stage(cos_ctx_t *c, uint8_t slot, const fs_entry_t *e);
int fs_is_df(const fs_entry_t *e);
/* Effective LCS: the file's own, terminated if an ancestor is; the MF's
 * follows the chip's life cycle. */
uint8_t fs_lcs(const cos_ctx_t *c, uint8_t slot);
int fs_on_path(const cos_ctx_t *c, uint8_t df, uint8_t node);
uint32_t fs_used(const cos_ctx_t *c, uint8_t *files);
void fs_make_mf(fs_entry_t *mf);
int fs_walk(const cos_ctx_t *c, cos_file_fn fn, void *arg);
const char *fs_check(const cos_ctx_t *c);

/* ---- sec.c internals ---- */
void obj_read(const cos_ctx_t *c, uint8_t slot, obj_entry_t *o);
void obj_stage(cos_ctx_t *c, uint8_t slot, const obj_entry_t *o);
/* Find an object by a P2-style reference (b8: specific to the current DF).
 * NO_FILE if none. */
uint8_t obj_find(const cos_ctx_t *c, uint8_t kind, uint8_t p2ref);
/* The SCP03 key set of a version (0: the first one). 0 if found. */
int sec_scp03_keyset(const cos_ctx_t *c, uint8_t kvn, scp03_keyset_t *ks);
/* May this command do operation bit `op` (0..6) on file slot `slot`?
 * Applies the life cycle (INITIALIZATION: all; PERSONALIZATION: all under
 * SCP03, reads per AC, no write without it) and the access condition.
 * `write`: the operation changes the card. Returns SW_OK or a SW. */
uint16_t sec_access(const cos_ctx_t *c, uint8_t slot, unsigned op,
		    const apdu_t *a, int write);
void sec_df_changed(cos_ctx_t *c);
uint16_t sec_put_object(cos_ctx_t *c, const apdu_t *a, uint8_t kind);
/* Stage the removal of every object owned by a DF. */
void sec_stage_drop_objects(cos_ctx_t *c, uint8_t df_slot);
uint8_t sec_objects_used(const cos_ctx_t *c);
int sec_walk(const cos_ctx_t *c, cos_obj_fn fn, void *arg);
const char *sec_check(const cos_ctx_t *c);

/* ---- lc.c internals ---- */
/* Move the life cycle forward (never back: 6985). */
uint16_t lc_set_state(cos_ctx_t *c, uint8_t lc, int locked);
uint8_t lc_mf_lcs(uint8_t lc, int locked);
/* Commit a changed copy of the system area and adopt it. */
uint16_t lc_commit_sys(cos_ctx_t *c, sys_area_t *s);

/* ---- cos.c ---- */
size_t cos_make_atr(const cos_ctx_t *c, uint8_t *atr, size_t cap);

#endif
