/*
 * profile_int.h - what the files of src/profile share and nobody else sees.
 *
 * load.c turns the YAML document into a profile_t: every value typed and
 * range-checked, every name kept as written (with where it was written),
 * nothing resolved. check.c resolves names (a PIN's DF, a field's file, an
 * access condition's PIN), computes the compact access conditions and the
 * memory budget, and reports what the chip or the card OS cannot do.
 * describe.c prints. diag.c keeps the diagnostics and the string pool.
 */
#ifndef CARDFAB_PROFILE_INT_H
#define CARDFAB_PROFILE_INT_H

#include "profile/profile.h"

/* A place in the YAML text, 1-based; line 0: none. */
typedef struct {
	unsigned line, col;
} pos_t;

/* ---- access conditions as written ---- */

typedef enum {
	T_PIN = 1,
	T_KEY,
	T_SM,
	T_ALWAYS,
	T_NEVER
} term_kind_t;

typedef struct {
	term_kind_t kind;
	int num;	  /* PIN or key reference as a number; -1: name */
	const char *name; /* PIN or key name when num < 0 */
	pos_t pos;
} term_t;

#define AC_TERMS 4

typedef struct {
	int set; /* written in the profile */
	int all; /* {all: [...]} */
	int bad; /* written, but wrong (already reported) */
	unsigned n;
	term_t t[AC_TERMS];
	pos_t pos;
} ac_src_t;

/* ---- the items, with what the checker needs besides the public part ---- */

typedef struct {
	profile_file_t pub;
	const char *path;      /* "files[campus].files[holder]" */
	const char *type_text; /* as written */
	int has_fid, has_sfi, has_aid, has_size, has_records;
	unsigned size_raw, records_raw; /* record files, as written */
	pos_t pos, fid_pos, sfi_pos, aid_pos, size_pos, rec_pos, type_pos;
	ac_src_t ac[PROFILE_OP_COUNT];
	ac_src_t ac_default;
	int has_access;
	pos_t access_pos;
} pfile_t;

typedef struct {
	profile_pin_t pub;
	const char *path;
	const char *df_name; /* NULL: global */
	const char *puk_name;
	const char *field_name;
	int has_ref, has_length, has_format, has_tries, has_digits;
	pos_t pos, ref_pos, df_pos, puk_pos, value_pos, len_pos, fmt_pos;
} ppin_t;

typedef struct {
	profile_key_t pub;
	const char *path;
	const char *df_name;
	int has_ref, has_alg, has_usage, has_source, has_kvn;
	uint8_t scp03_role; /* 0, or 1 ENC, 2 MAC, 3 DEK */
	pos_t pos, ref_pos, df_pos, usage_pos, alg_pos, div_pos, kvn_pos;
	uint8_t fixed[32];
} pkey_t;

typedef struct {
	profile_area_t pub;
	const char *path;
	int has_start, has_length;
	pos_t pos, start_pos, protect_pos, data_pos;
} parea_t;

typedef struct {
	profile_field_t pub;
	const char *path;
	const char *file_name; /* place.file */
	const char *area_name; /* place.area */
	int has_type, has_max, has_width, has_offset, has_record;
	pos_t pos, place_pos, width_pos, offset_pos, record_pos, tlv_pos;
	pos_t trace_pos, secret_pos;
} pfield_t;

typedef struct {
	profile_face_item_t pub;
	const char *path;
	const char *field_name;
	pos_t pos, field_pos, box_pos;
} pface_t;

/* A growable array of n items of one type. */
typedef struct {
	void *v;
	size_t n, cap, size;
} vec_t;

/* A pool of strings and blocks freed with the profile. */
typedef struct pool_blk {
	struct pool_blk *next;
	size_t used, cap;
	char data[];
} pool_blk_t;

struct profile {
	profile_info_t info;
	pos_t chip_pos, features_pos, version_pos;
	int has_chip;
	const char *feature_text[PROFILE_FEAT_COUNT]; /* NULL: not declared */
	pos_t feature_pos[PROFILE_FEAT_COUNT];

	vec_t files;	  /* pfile_t */
	vec_t pins;	  /* ppin_t */
	vec_t keys;	  /* pkey_t */
	vec_t areas;	  /* parea_t */
	vec_t fields;	  /* pfield_t */
	vec_t face_items; /* pface_t */

	/* public views, rebuilt by check.c / accessors */
	profile_file_t *file_view;
	profile_pin_t *pin_view;
	profile_key_t *key_view;
	profile_area_t *area_view;
	profile_field_t *field_view;
	profile_face_item_t *face_view;

	int has_files_section, has_memory_section, has_pins_section;
	int has_keys_section, has_fields_section;
	pos_t files_pos, memory_pos, pins_pos, keys_pos, psc_pos, scp03_pos;
	pos_t fields_pos, face_pos;

	profile_scp03_t scp03;
	pos_t scp03_kvn_pos, scp03_level_pos;
	profile_psc_t psc;
	profile_face_t face;

	int checked;
	size_t load_errors; /* errors the loader found */
	profile_budget_t budget;
	pool_blk_t *pool;
};

/* ---- diag.c ---- */

/* Add a diagnostic (printf-style message). field may be NULL. */
void diag_add(profile_diags_t *d, profile_status_t kind, profile_severity_t sev,
	      const char *file, pos_t pos, const char *field, const char *fmt,
	      ...) __attribute__((format(printf, 7, 8)));

/* a, b and c (NULL: nothing) into dst, truncated to cap. */
void diag_cat(char *dst, size_t cap, const char *a, const char *b,
	      const char *c);
/* "path.key" (or "key" when path is empty), in one of a ring of 32
 * static buffers: valid for a few nested calls. */
const char *diag_path(const char *path, const char *key);

/* The closest of the names in list (space separated) to word, within an
 * edit distance that makes it a likely typo; NULL if none. The result
 * points into a static buffer. */
const char *diag_did_you_mean(const char *word, const char *list);

void *pool_alloc(profile_t *p, size_t n); /* zeroed; NULL: no memory */
const char *pool_strdup(profile_t *p, const char *s);
const char *pool_printf(profile_t *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void *vec_push(vec_t *v, size_t size); /* zeroed item; NULL: no mem */
void vec_free(vec_t *v);
#define VEC_AT(vec, type, i) (&((type *)(vec).v)[i])

/* ---- check.c ---- */

/* Build the public views (arrays of the pub parts). 0, or -1: no memory. */
int profile_views(profile_t *p);
/* Body bytes the card OS allocates for a file of this shape. */
uint32_t profile_body_of(cos_file_type_t type, unsigned size, unsigned records);
/* Bytes a field's value takes at most, encoded. */
unsigned profile_field_size(const profile_field_t *f);
/* Feature names, by bit. */
extern const char *const profile_feature_names[PROFILE_FEAT_COUNT];

#endif
