/*
 * profile.h - card profiles: the whole interface of src/profile.
 *
 * A card profile is part 1 of making a card, the system design: which chip
 * (a CPU chip with the cardfab card OS, or the SLE4442-compatible memory
 * card), which card OS features, the file tree with its access conditions,
 * the PIN and key objects, the SCP03 key set used for personalization, the
 * memory card's data areas and protection, the cardholder fields and where
 * each is written, and the card face. It is a YAML file; docs/profiles.md
 * is its user's guide and full schema.
 *
 * Loading and checking:
 *
 *     profile_diags_t d;
 *     profile_t *p = NULL;
 *     profile_diags_init(&d);
 *     st = profile_load_file("campus.yaml", &p, &d);  // YAML -> profile
 *     if (p) profile_check(p, &d);                     // the chip, the OS
 *     profile_diags_print(stderr, &d);
 *     ... d.errors == 0: use p through the accessors below ...
 *     profile_free(p);
 *     profile_diags_free(&d);
 *
 * or profile_open(), which does both. Every problem becomes a diagnostic
 * (file:line:col: field: what was expected); the loader does not stop at
 * the first one, and the checker runs on whatever the loader could read.
 *
 * The memory budget is computed exactly as the card OS allocates (src/cos:
 * fixed system area and journal, an object table and a file table of
 * 48-byte slots sized by the chip model, file bodies: transparent size,
 * records n * length, linear variable n * (length + 1)); for the memory
 * card, its 256 bytes and 32 protectable bytes.
 *
 * Ownership: a profile_t owns every string and array reachable from it; the
 * pointers the accessors return live until profile_free(). The diagnostics
 * list owns its messages. Host code: this library uses the heap and stdio.
 */
#ifndef CARDFAB_PROFILE_H
#define CARDFAB_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cos/cos.h"

/* ---------------------------------------------------------------- errors */

/*
 * The library's one error enum. A function returns one of the first five;
 * each diagnostic carries one of the others, its kind.
 */
typedef enum {
	PROFILE_OK = 0,
	PROFILE_ERR_PARAM, /* a NULL pointer, a bad index */
	PROFILE_ERR_IO,	   /* the file could not be read (errno kept) */
	PROFILE_ERR_NOMEM,
	PROFILE_ERR_INVALID, /* the profile has errors: see the diagnostics */
	/* kinds of diagnostics */
	PROFILE_ERR_SYNTAX,	 /* not well-formed YAML */
	PROFILE_ERR_UNKNOWN_KEY, /* a key the schema does not have (a typo) */
	PROFILE_ERR_DUP_KEY,	 /* the same key twice in one mapping */
	PROFILE_ERR_MISSING,	 /* a required key or section is absent */
	PROFILE_ERR_TYPE,	 /* a mapping, list or value where another was
				  * expected */
	PROFILE_ERR_VALUE,	 /* a value out of its range or set */
	PROFILE_ERR_DUP_NAME,	 /* two files, PINs, keys, fields... one name */
	PROFILE_ERR_DUP_FID,	 /* two files with one FID in a DF */
	PROFILE_ERR_DUP_AID,	 /* two DFs with one AID (DF name) */
	PROFILE_ERR_DUP_SFI,	 /* two EFs with one SFI in a DF */
	PROFILE_ERR_DUP_REF,	 /* two PIN or key objects with one reference */
	PROFILE_ERR_REF_RANGE,	 /* a PIN or key reference outside 1..30 */
	PROFILE_ERR_ACCESS,	 /* an access condition the card OS cannot code
				  * or that names what does not exist */
	PROFILE_ERR_UNDEFINED,	 /* a name that no file, PIN, key... has */
	PROFILE_ERR_PLACEMENT,	 /* a field outside its file, record or area */
	PROFILE_ERR_OVERLAP,	 /* two fields or areas share bytes */
	PROFILE_ERR_RECORD,	 /* record length or count the OS cannot make */
	PROFILE_ERR_CAPACITY,	 /* more than the chip holds */
	PROFILE_ERR_FEATURE,	 /* a feature the chip or its OS does not have,
				  * or one used but not declared */
	PROFILE_ERR_CONFLICT,	 /* parts that contradict each other */
} profile_status_t;

const char *profile_strerror(profile_status_t st);

/* ---------------------------------------------------------------- diagnostics
 */

typedef enum {
	PROFILE_SEV_ERROR = 0,
	PROFILE_SEV_WARNING, /* worth a look; does not fail a check */
} profile_severity_t;

typedef struct {
	profile_status_t kind;
	profile_severity_t severity;
	const char *file;    /* the name given to the loader */
	unsigned line, col;  /* 1-based; 0: no position (whole file) */
	const char *field;   /* e.g. "files[campus].files[holder].sfi" */
	const char *message; /* what was expected, and what was found */
} profile_diag_t;

/* Diagnostics kept in a list; beyond, they are counted only. */
#define PROFILE_DIAGS_MAX 200

typedef struct {
	profile_diag_t *v;
	size_t n, cap;
	size_t errors, warnings; /* all of them, kept or not */
	size_t dropped;		 /* counted but not kept (past the maximum) */
	int nomem;		 /* a diagnostic was lost for want of memory */
} profile_diags_t;

void profile_diags_init(profile_diags_t *d);
void profile_diags_free(profile_diags_t *d);
/* One line a diagnostic, in order of position:
 * "FILE:LINE:COL: error: FIELD: MESSAGE"; then how many were not kept. */
void profile_diags_print(FILE *f, const profile_diags_t *d);

/* ---------------------------------------------------------------- loading */

typedef struct profile profile_t;

/*
 * Read a profile from a YAML file, or from a buffer (name: what messages
 * call it). Returns PROFILE_OK when the loader found no error,
 * PROFILE_ERR_INVALID when it did (diagnostics in d; *out is still set
 * when the YAML was well formed, holding what could be read, so that
 * profile_check() can report the rest), PROFILE_ERR_IO (the file: a
 * diagnostic says why), PROFILE_ERR_NOMEM or PROFILE_ERR_PARAM. *out is
 * the caller's to free.
 */
profile_status_t profile_load_file(const char *path, profile_t **out,
				   profile_diags_t *d);
profile_status_t profile_load_mem(const char *name, const char *buf, size_t len,
				  profile_t **out, profile_diags_t *d);

/*
 * Check a loaded profile against its chip's capacity and its card OS's
 * features, and its parts against each other: duplicates, references,
 * access conditions, placements, the memory budget. Adds diagnostics to
 * d. PROFILE_OK or PROFILE_ERR_INVALID (errors in d; warnings alone are
 * PROFILE_OK).
 */
profile_status_t profile_check(profile_t *p, profile_diags_t *d);

/* Load and check: PROFILE_OK only when neither found an error; *out is
 * then set (and NULL otherwise). */
profile_status_t profile_open(const char *path, profile_t **out,
			      profile_diags_t *d);

void profile_free(profile_t *p);

/* ---------------------------------------------------------------- the profile
 */

typedef enum {
	PROFILE_CHIP_NONE = 0, /* unknown or absent */
	PROFILE_CHIP_COS,      /* a CPU chip running the cardfab card OS */
	PROFILE_CHIP_MEMCARD,  /* the SLE4442-compatible memory card */
} profile_chip_kind_t;

typedef struct {
	const char *name;	 /* profile: */
	const char *description; /* "" if none */
	const char *file;	 /* the name it was loaded under */
	const char *chip;	 /* chip: as written */
	profile_chip_kind_t kind;
	const cos_model_t *cos_model; /* PROFILE_CHIP_COS */
	uint32_t features;	      /* PROFILE_FEAT_* declared */
	uint32_t features_used;	      /* PROFILE_FEAT_* the profile uses (after
				       * profile_check) */
} profile_info_t;

const profile_info_t *profile_info(const profile_t *p);

/* Card OS and memory card features (features: in the profile). */
#define PROFILE_FEAT_DF (1u << 0) /* DFs with names */
#define PROFILE_FEAT_TRANSPARENT (1u << 1)
#define PROFILE_FEAT_LINEAR_FIXED (1u << 2)
#define PROFILE_FEAT_LINEAR_VARIABLE (1u << 3)
#define PROFILE_FEAT_CYCLIC (1u << 4)
#define PROFILE_FEAT_SFI (1u << 5)
#define PROFILE_FEAT_PIN (1u << 6)
#define PROFILE_FEAT_PUK (1u << 7)
#define PROFILE_FEAT_EXTERNAL_AUTH (1u << 8)
#define PROFILE_FEAT_INTERNAL_AUTH (1u << 9)
#define PROFILE_FEAT_SM (1u << 10) /* access condition "sm" */
#define PROFILE_FEAT_SCP03 (1u << 11)
#define PROFILE_FEAT_AES (1u << 12)
#define PROFILE_FEAT_3DES (1u << 13)
#define PROFILE_FEAT_PSC (1u << 14)	   /* memory card */
#define PROFILE_FEAT_PROTECTION (1u << 15) /* memory card */
#define PROFILE_FEAT_COUNT 16

/* "cyclic", "external-auth"... for bit i; NULL past the end. */
const char *profile_feature_name(unsigned bit);

/* ---- files (CPU chips) ---- */

/* Operations of an access condition, in the order of the compact access
 * mode byte (bit 1 first), as cos.h documents them. For a DF, index 0 is
 * delete-child, 1 create-ef, 2 create-df; for an EF, read, update,
 * append. Then deactivate, activate, terminate, delete for both. */
#define PROFILE_OP_COUNT COS_AC_OPS

/* "read"/"delete-child"... for operation i of an EF (df == 0) or a DF. */
const char *profile_op_name(int df, unsigned op);

typedef struct {
	const char *name;
	const char *description; /* "" if none */
	cos_file_type_t type;	 /* COS_FT_DF or COS_FT_EF_* (never the MF) */
	int parent;		 /* index of the parent DF; -1: the MF */
	unsigned depth;		 /* 1 for a child of the MF */
	uint16_t fid;
	uint8_t sfi;		  /* 0: none */
	uint8_t aid[COS_AID_MAX]; /* DF name (DFs) */
	uint8_t aid_len;
	uint16_t size;	 /* transparent: bytes; records: record length */
	uint8_t records; /* record files: number of records */
	/* Compact access conditions: bit i of am set: sc[i] is the security
	 * condition byte of operation i; clear: never allowed. */
	uint8_t am;
	uint8_t sc[PROFILE_OP_COUNT];
	uint32_t body; /* body bytes the card OS allocates */
	unsigned line; /* where the profile defines it */
} profile_file_t;

/* The files in depth-first document order (a DF before its children). */
const profile_file_t *profile_files(const profile_t *p, size_t *n);
/* Index of the file of that name, -1 if none. */
int profile_file_find(const profile_t *p, const char *name);
/*
 * The path of file i from the MF for SELECT (00 A4 08 ..): FIDs without
 * 3F00, two bytes each, big-endian. Returns the byte count, 0 if cap is
 * too small or i out of range.
 */
size_t profile_file_path(const profile_t *p, size_t i, uint8_t *out,
			 size_t cap);
/*
 * The FCP template of CREATE FILE for file i (docs/card-os.md: 62 with
 * 82, 83, 80, 84, 88, 8C), to send with the parent DF selected. Returns
 * its length, 0 if cap is too small or i out of range. 64 bytes suffice.
 */
size_t profile_file_fcp(const profile_t *p, size_t i, uint8_t *out, size_t cap);

/* ---- PIN and key objects (CPU chips) ---- */

typedef enum {
	PROFILE_PIN_ASCII_NUMERIC = 1, /* '0'..'9', one a byte, padded */
	PROFILE_PIN_ASCII,	       /* printable ASCII (a password) */
	PROFILE_PIN_BCD,	       /* two digits a byte, F nibbles */
	PROFILE_PIN_ISO9564_2,	       /* ISO 9564 format 2 block, 8 bytes */
} profile_pin_format_t;

typedef enum {
	PROFILE_SRC_NONE = 0,	  /* no value: set later (e.g. by the holder) */
	PROFILE_SRC_HOLDER_FIELD, /* from a (secret) cardholder field */
	PROFILE_SRC_RANDOM,	  /* random digits, for the PIN mailer */
	PROFILE_SRC_FIXED,	  /* a fixed value: test cards only */
} profile_source_t;

typedef struct {
	const char *name;
	uint8_t ref;	/* 1..30 */
	int df;		/* owning DF (file index); -1: global */
	uint8_t length; /* stored length, 1..16 */
	profile_pin_format_t format;
	uint8_t pad; /* padding byte */
	uint8_t min_digits, max_digits;
	uint8_t tries; /* 1..15 */
	int puk;       /* index of the unblocking PIN; -1: none */
	profile_source_t source;
	int field;	       /* PROFILE_SRC_HOLDER_FIELD: field index */
	uint8_t random_digits; /* PROFILE_SRC_RANDOM */
	const char *fixed;     /* PROFILE_SRC_FIXED: the value as text */
	unsigned line;
} profile_pin_t;

typedef enum {
	PROFILE_ALG_AES128 = 1,
	PROFILE_ALG_AES192,
	PROFILE_ALG_AES256,
	PROFILE_ALG_3DES2, /* two-key triple DES */
	PROFILE_ALG_3DES3, /* three-key triple DES */
} profile_alg_t;

typedef enum {
	PROFILE_DIV_NONE = 1,	     /* the master key itself, on every card */
	PROFILE_DIV_AES_ECB_SERIAL, /* AES-ECB(master, serial blocks): docs/perso.md */
	PROFILE_DIV_3DES_SERIAL,     /* 3DES-ECB of the serial, both halves */
} profile_div_t;

/* Key usage bits: COS_KEY_USE_AUTH, COS_KEY_USE_SCP03, COS_KEY_USE_CRYPTO
 * (cos.h). */
typedef struct {
	const char *name;
	uint8_t ref; /* 1..30 (SCP03: 1 ENC, 2 MAC, 3 DEK) */
	uint8_t kvn; /* key version */
	int df;	     /* owning DF (file index); -1: global */
	profile_alg_t alg;
	uint8_t cos_alg;    /* COS_ALG_AES / COS_ALG_3DES */
	uint8_t key_len;    /* 16, 24 or 32 */
	uint8_t usage;	    /* COS_KEY_USE_* bits */
	uint8_t tries;	    /* 0: no limit, else 1..15 */
	const char *master; /* PKCS#11 label of the master key; NULL:
			     * fixed value */
	profile_div_t method;
	const uint8_t *fixed; /* test only; NULL normally */
	unsigned line;
} profile_key_t;

const profile_pin_t *profile_pins(const profile_t *p, size_t *n);
const profile_key_t *profile_keys(const profile_t *p, size_t *n);
int profile_pin_find(const profile_t *p, const char *name);
int profile_key_find(const profile_t *p, const char *name);

/* SCP03 level bits (GlobalPlatform: 01 C-MAC, 02 C-DEC, 10 R-MAC, 20
 * R-ENC). */
#define PROFILE_SCP03_C_MAC 0x01
#define PROFILE_SCP03_C_DEC 0x02
#define PROFILE_SCP03_R_MAC 0x10
#define PROFILE_SCP03_R_ENC 0x20

typedef struct {
	int present;
	uint8_t kvn;	   /* the key set's version */
	uint8_t level;	   /* security level of the session */
	int enc, mac, dek; /* key indexes of the set; -1 if absent */
} profile_scp03_t;

const profile_scp03_t *profile_scp03(const profile_t *p);

/* ---- memory card ---- */

typedef enum {
	PROFILE_PROTECT_NO = 0,
	PROFILE_PROTECT_INIT,  /* protection bits burned at initialization */
	PROFILE_PROTECT_PERSO, /* ... after personalization wrote it */
} profile_protect_t;

typedef struct {
	const char *name;
	const char *description;
	unsigned start, length; /* bytes of main memory */
	profile_protect_t protect;
	const uint8_t *data; /* written at initialization; NULL if none */
	size_t data_len;     /* == length when data is set */
	unsigned line;
} profile_area_t;

typedef struct {
	int present;
	const char *master; /* PKCS#11 label; NULL: fixed */
	profile_div_t method;
	uint8_t fixed[3]; /* test only */
	int has_fixed;
} profile_psc_t;

const profile_area_t *profile_areas(const profile_t *p, size_t *n);
const profile_psc_t *profile_psc(const profile_t *p);

/* Bytes of the memory card the fab wrote and protected (ATR, ICM/ICT,
 * chip serial, application identifier): bit i set, byte i (0..31). */
#define PROFILE_MC_FAB_MASK 0x07E0FFCFu

/* ---- cardholder fields ---- */

typedef enum {
	PROFILE_FIELD_TEXT = 1,
	PROFILE_FIELD_DIGITS,
	PROFILE_FIELD_DATE,   /* YYYY-MM-DD in the holder file */
	PROFILE_FIELD_AMOUNT, /* minor units, unsigned */
	PROFILE_FIELD_NUMBER, /* unsigned integer */
	PROFILE_FIELD_BYTES,  /* hex in the holder file */
} profile_field_type_t;

typedef enum {
	PROFILE_ENC_DEFAULT = 0,
	/* text */
	PROFILE_ENC_ASCII,  /* printable ASCII 20..7E */
	PROFILE_ENC_ALNUM,  /* A-Z a-z 0-9 and space */
	PROFILE_ENC_UPPER,  /* A-Z, space, '-', '\'' */
	PROFILE_ENC_LATIN1, /* ISO 8859-1 (converted from UTF-8) */
	PROFILE_ENC_UTF8,
	/* digits: ASCII (PROFILE_ENC_ASCII) or */
	PROFILE_ENC_BCD, /* two a byte, F padding */
	/* dates */
	PROFILE_ENC_DATE_YYYYMMDD,   /* ASCII, 8 bytes */
	PROFILE_ENC_DATE_ISO,	     /* ASCII YYYY-MM-DD, 10 bytes */
	PROFILE_ENC_DATE_BCD,	     /* YYYYMMDD BCD, 4 bytes */
	PROFILE_ENC_DATE_BCD_YYMMDD, /* YYMMDD BCD, 3 bytes (EMV n6) */
	/* amounts and numbers */
	PROFILE_ENC_BE8,
	PROFILE_ENC_BE16,
	PROFILE_ENC_BE32,
	PROFILE_ENC_BCD6, /* 12 digits BCD, 6 bytes (EMV n12) */
	/* bytes */
	PROFILE_ENC_BINARY,
} profile_encoding_t;

typedef enum {
	PROFILE_PLACE_NONE = 0, /* not written (e.g. a PIN's value) */
	PROFILE_PLACE_BINARY,	/* transparent EF, offset, width */
	PROFILE_PLACE_RECORD,	/* a record of a record EF, offset, width */
	PROFILE_PLACE_TLV,	/* a BER-TLV object in an EF (or record) */
	PROFILE_PLACE_AREA,	/* memory card area, offset, width */
} profile_place_kind_t;

#define PROFILE_TLV_DEPTH 4

typedef struct {
	profile_place_kind_t kind;
	int file;	 /* file index (BINARY, RECORD, TLV) */
	int area;	 /* area index (AREA) */
	unsigned record; /* RECORD, TLV in a record file: 1-based */
	unsigned offset; /* in the file, record or area; TLV: where
			  * the TLV objects of the file start */
	unsigned width;	 /* bytes reserved (fixed placements) */
	uint8_t pad;
	int align_right;
	uint32_t tags[PROFILE_TLV_DEPTH]; /* TLV: templates, then the tag */
	unsigned ntags;
	unsigned line;
} profile_place_t;

typedef struct {
	const char *name;
	const char *description;
	profile_field_type_t type;
	profile_encoding_t encoding;
	unsigned min_length, max_length; /* characters / digits / bytes */
	unsigned size;			 /* encoded size at most, bytes */
	int required;
	int trace;  /* recorded by the MES (e.g. holder id) */
	int secret; /* never stored in the clear, never printed */
	int unique; /* data preparation: unique in a batch */
	profile_place_t place;
	unsigned line;
} profile_field_t;

const profile_field_t *profile_fields(const profile_t *p, size_t *n);
int profile_field_find(const profile_t *p, const char *name);

/* ---- card face ---- */

typedef struct {
	int field;	   /* field index; -1: fixed text */
	const char *text;  /* fixed text (field == -1) */
	int back;	   /* 0 front (the chip's side), 1 back */
	double x, y, w, h; /* mm from the card's top left corner */
	double font_size;  /* mm */
	int align;	   /* 0 left, 1 centre, 2 right */
	int bold;
	unsigned line;
} profile_face_item_t;

typedef struct {
	double width, height; /* mm; ISO/IEC 7810 ID-1 85.60 x 53.98 */
	const profile_face_item_t *items;
	size_t n;
} profile_face_t;

const profile_face_t *profile_face(const profile_t *p);

/* ---------------------------------------------------------------- budget */

typedef struct {
	profile_chip_kind_t kind;
	/* CPU chip: the EEPROM as the card OS lays it out */
	uint32_t nvm_size;		/* EEPROM */
	uint32_t system;		/* system area + journal */
	uint32_t object_table;		/* objects_max * 48 */
	uint32_t file_table;		/* files_max * 48 */
	uint32_t capacity;		/* left for file bodies */
	uint32_t used;			/* file bodies the profile allocates */
	unsigned files_used, files_max; /* the MF included */
	unsigned objects_used, objects_max; /* PINs and keys */
	/* memory card */
	unsigned mem_size;  /* 256 */
	unsigned mem_fab;   /* bytes the fab wrote and protected */
	unsigned mem_used;  /* bytes of the profile's areas */
	unsigned prot_size; /* 32 protectable bytes */
	unsigned prot_fab;  /* protected by the fab */
	unsigned prot_used; /* protected by the profile */
} profile_budget_t;

/* The budget of a loaded profile (complete after profile_check()). */
profile_status_t profile_budget(const profile_t *p, profile_budget_t *b);

/* The budget as a table (what `cardfab profile check` prints), every line
 * starting with indent. */
void profile_print_budget(FILE *f, const profile_t *p, const char *indent);
/* The whole design: chip, tree with access conditions, objects, SCP03,
 * areas, fields with their placement, face. */
void profile_print(FILE *f, const profile_t *p);
/* An access condition byte in the profile's notation ("always", "pin:1",
 * "[key:2, sm]", "{all: [pin:1, sm]}"). out_cap >= 48. */
const char *profile_ac_text(uint8_t sc, char *out, size_t out_cap);

#endif
