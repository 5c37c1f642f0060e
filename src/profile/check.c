/*
 * check.c - a loaded profile against its chip and its card OS, and its
 * parts against each other.
 *
 * Every rule here is a rule of the chip or of the card OS, with the reason
 * in the message: the card OS's CREATE FILE refuses a FID already in the
 * DF (6A89), a DF name already on the card (6A8A), an SFI already in the DF;
 * its access conditions are ISO/IEC 7816-4 compact security condition
 * bytes, which hold one reference (a nibble) for a PIN and a key together
 * and find only global objects (src/cos/sec.c); its tables and body area
 * have the sizes of the chip model (src/cos/cos.c, cos_int.h). The memory
 * card has 256 bytes, of which the fab keeps 20, and protection bits for
 * bytes 0 to 31 only (docs/memcard.md).
 *
 * The budget is computed as the card OS allocates: one 48-byte file table
 * slot a file (the MF's included) and one 48-byte object slot a PIN or key,
 * both tables of fixed size; a body of `size` bytes a transparent EF,
 * records * length a linear fixed or cyclic EF, records * (length + 1) a
 * linear variable one, nothing a DF; bodies are allocated first fit from
 * an empty area, so on a new card they are exactly the sum.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "memcard/memcard.h"
#include "profile/profile_int.h"

/* The card OS's layout (docs/card-os.md "Chip models"; src/cos/cos_int.h). */
#define COS_SYSTEM_BYTES 256u
#define COS_JOURNAL_BYTES 1536u
#define COS_SLOT_BYTES 48u
#define COS_MAX_DEPTH 8u
#define COS_REC_LEN_MAX 255u
#define COS_RECORDS_MAX 254u

static const pos_t TOP_POS = { 1, 1 };

static const uint8_t isd_aid[] = { 0xA0, 0x00, 0x00, 0x01,
				   0x51, 0x00, 0x00, 0x00 };

typedef struct {
	profile_t *p;
	profile_diags_t *d;
	const char *file;
} ck_t;

#define CERR(ck, kind, pos, field, ...)                                 \
	diag_add((ck)->d, (kind), PROFILE_SEV_ERROR, (ck)->file, (pos), \
		 (field), __VA_ARGS__)
#define CWARN(ck, kind, pos, field, ...)                                  \
	diag_add((ck)->d, (kind), PROFILE_SEV_WARNING, (ck)->file, (pos), \
		 (field), __VA_ARGS__)

#define sub diag_path

#define NFILES(p) ((p)->files.n)
#define FILE_AT(p, i) VEC_AT((p)->files, pfile_t, i)
#define PIN_AT(p, i) VEC_AT((p)->pins, ppin_t, i)
#define KEY_AT(p, i) VEC_AT((p)->keys, pkey_t, i)
#define AREA_AT(p, i) VEC_AT((p)->areas, parea_t, i)
#define FIELD_AT(p, i) VEC_AT((p)->fields, pfield_t, i)
#define FACE_AT(p, i) VEC_AT((p)->face_items, pface_t, i)

static int is_record(cos_file_type_t t)
{
	return t == COS_FT_EF_LINEAR_FIXED || t == COS_FT_EF_LINEAR_VARIABLE ||
	       t == COS_FT_EF_CYCLIC;
}

static const char *type_name(cos_file_type_t t)
{
	switch (t) {
	case COS_FT_MF:
		return "MF";
	case COS_FT_DF:
		return "DF";
	case COS_FT_EF_TRANSPARENT:
		return "transparent";
	case COS_FT_EF_LINEAR_FIXED:
		return "linear-fixed";
	case COS_FT_EF_LINEAR_VARIABLE:
		return "linear-variable";
	case COS_FT_EF_CYCLIC:
		return "cyclic";
	}
	return "?";
}

uint32_t profile_body_of(cos_file_type_t type, unsigned size, unsigned records)
{
	switch (type) {
	case COS_FT_EF_TRANSPARENT:
		return size;
	case COS_FT_EF_LINEAR_FIXED:
	case COS_FT_EF_CYCLIC:
		return (uint32_t)records * size;
	case COS_FT_EF_LINEAR_VARIABLE:
		return (uint32_t)records * (size + 1u);
	default:
		return 0;
	}
}

unsigned profile_field_size(const profile_field_t *f)
{
	switch (f->encoding) {
	case PROFILE_ENC_BCD:
		return (f->max_length + 1) / 2;
	case PROFILE_ENC_DATE_YYYYMMDD:
		return 8;
	case PROFILE_ENC_DATE_ISO:
		return 10;
	case PROFILE_ENC_DATE_BCD:
		return 4;
	case PROFILE_ENC_DATE_BCD_YYMMDD:
		return 3;
	case PROFILE_ENC_BE8:
		return 1;
	case PROFILE_ENC_BE16:
		return 2;
	case PROFILE_ENC_BE32:
		return 4;
	case PROFILE_ENC_BCD6:
		return 6;
	default:
		return f->max_length;
	}
}

static const char *enc_name(profile_encoding_t e)
{
	switch (e) {
	case PROFILE_ENC_ASCII:
		return "ascii";
	case PROFILE_ENC_ALNUM:
		return "alnum";
	case PROFILE_ENC_UPPER:
		return "upper";
	case PROFILE_ENC_LATIN1:
		return "latin1";
	case PROFILE_ENC_UTF8:
		return "utf-8";
	case PROFILE_ENC_BCD:
		return "bcd";
	case PROFILE_ENC_DATE_YYYYMMDD:
		return "yyyymmdd";
	case PROFILE_ENC_DATE_ISO:
		return "iso";
	case PROFILE_ENC_DATE_BCD:
		return "bcd";
	case PROFILE_ENC_DATE_BCD_YYMMDD:
		return "bcd-yymmdd";
	case PROFILE_ENC_BE8:
		return "be8";
	case PROFILE_ENC_BE16:
		return "be16";
	case PROFILE_ENC_BE32:
		return "be32";
	case PROFILE_ENC_BCD6:
		return "bcd6";
	case PROFILE_ENC_BINARY:
		return "binary";
	default:
		return "?";
	}
}

/* ---------------------------------------------------------------- views */

int profile_views(profile_t *p)
{
#define VIEW(vec, view, type, pubtype)                                       \
	do {                                                                 \
		free(p->view);                                               \
		p->view = NULL;                                              \
		if (p->vec.n) {                                              \
			p->view = calloc(p->vec.n, sizeof(pubtype));         \
			if (!p->view)                                        \
				return -1;                                   \
			for (size_t i_ = 0; i_ < p->vec.n; i_++)             \
				p->view[i_] = VEC_AT(p->vec, type, i_)->pub; \
		}                                                            \
	} while (0)
	VIEW(files, file_view, pfile_t, profile_file_t);
	VIEW(pins, pin_view, ppin_t, profile_pin_t);
	VIEW(keys, key_view, pkey_t, profile_key_t);
	VIEW(areas, area_view, parea_t, profile_area_t);
	VIEW(fields, field_view, pfield_t, profile_field_t);
	VIEW(face_items, face_view, pface_t, profile_face_item_t);
#undef VIEW
	p->face.items = p->face_view;
	p->face.n = p->face_items.n;
	return 0;
}

/* ---------------------------------------------------------------- names */

static int find_file(const profile_t *p, const char *name)
{
	for (size_t i = 0; name && i < NFILES(p); i++)
		if (strcmp(FILE_AT(p, i)->pub.name, name) == 0)
			return (int)i;
	return -1;
}

static int find_pin(const profile_t *p, const char *name)
{
	for (size_t i = 0; name && i < p->pins.n; i++)
		if (strcmp(PIN_AT(p, i)->pub.name, name) == 0)
			return (int)i;
	return -1;
}

static int find_key(const profile_t *p, const char *name)
{
	for (size_t i = 0; name && i < p->keys.n; i++)
		if (strcmp(KEY_AT(p, i)->pub.name, name) == 0)
			return (int)i;
	return -1;
}

static int find_field(const profile_t *p, const char *name)
{
	for (size_t i = 0; name && i < p->fields.n; i++)
		if (strcmp(FIELD_AT(p, i)->pub.name, name) == 0)
			return (int)i;
	return -1;
}

static int find_area(const profile_t *p, const char *name)
{
	for (size_t i = 0; name && i < p->areas.n; i++)
		if (strcmp(AREA_AT(p, i)->pub.name, name) == 0)
			return (int)i;
	return -1;
}

/* Space-separated names of a vector's items, for "did you mean". */
static void names_of(const profile_t *p, int which, char *out, size_t cap)
{
	out[0] = 0;
	size_t n = which == 0 ? NFILES(p) :
		   which == 1 ? p->pins.n :
		   which == 2 ? p->keys.n :
		   which == 3 ? p->fields.n :
				p->areas.n;
	for (size_t i = 0; i < n; i++) {
		const char *s = which == 0 ? FILE_AT(p, i)->pub.name :
				which == 1 ? PIN_AT(p, i)->pub.name :
				which == 2 ? KEY_AT(p, i)->pub.name :
				which == 3 ? FIELD_AT(p, i)->pub.name :
					     AREA_AT(p, i)->pub.name;
		if (!s[0] || strlen(out) + strlen(s) + 2 >= cap)
			continue;
		if (out[0])
			strcat(out, " ");
		strcat(out, s);
	}
}

static void undefined(ck_t *ck, pos_t pos, const char *field, const char *what,
		      const char *name, int which)
{
	char list[1024];
	names_of(ck->p, which, list, sizeof list);
	const char *dym = diag_did_you_mean(name, list);
	if (dym)
		CERR(ck, PROFILE_ERR_UNDEFINED, pos, field,
		     "no %s named '%s' (did you mean '%s'?)", what, name, dym);
	else if (list[0])
		CERR(ck, PROFILE_ERR_UNDEFINED, pos, field,
		     "no %s named '%s'; the profile's are: %s", what, name,
		     list);
	else
		CERR(ck, PROFILE_ERR_UNDEFINED, pos, field,
		     "no %s named '%s': the profile defines none", what, name);
}

/* Two items with one name, within one kind. */
static void dup_names(ck_t *ck)
{
	profile_t *p = ck->p;
	for (size_t i = 0; i < NFILES(p); i++)
		for (size_t j = 0; j < i; j++)
			if (FILE_AT(p, i)->pub.name[0] &&
			    strcmp(FILE_AT(p, i)->pub.name,
				   FILE_AT(p, j)->pub.name) == 0) {
				CERR(ck, PROFILE_ERR_DUP_NAME,
				     FILE_AT(p, i)->pos, FILE_AT(p, i)->path,
				     "another file is named '%s' (line %u): "
				     "fields and objects name files, so "
				     "names are unique",
				     FILE_AT(p, i)->pub.name,
				     FILE_AT(p, j)->pos.line);
				break;
			}
#define DUPS(vec, type, what)                                                 \
	for (size_t i = 0; i < p->vec.n; i++)                                 \
		for (size_t j = 0; j < i; j++)                                \
			if (VEC_AT(p->vec, type, i)->pub.name[0] &&           \
			    strcmp(VEC_AT(p->vec, type, i)->pub.name,         \
				   VEC_AT(p->vec, type, j)->pub.name) == 0) { \
				CERR(ck, PROFILE_ERR_DUP_NAME,                \
				     VEC_AT(p->vec, type, i)->pos,            \
				     VEC_AT(p->vec, type, i)->path,           \
				     "another " what " is named '%s' (line "  \
				     "%u)",                                   \
				     VEC_AT(p->vec, type, i)->pub.name,       \
				     VEC_AT(p->vec, type, j)->pos.line);      \
				break;                                        \
			}
	DUPS(pins, ppin_t, "PIN")
	DUPS(keys, pkey_t, "key")
	DUPS(fields, pfield_t, "field")
	DUPS(areas, parea_t, "area")
#undef DUPS
}

/* ---------------------------------------------------------------- features */

static uint32_t chip_features(const profile_t *p)
{
	if (p->info.kind == PROFILE_CHIP_MEMCARD)
		return PROFILE_FEAT_PSC | PROFILE_FEAT_PROTECTION;
	if (p->info.kind == PROFILE_CHIP_COS)
		return ((1u << PROFILE_FEAT_COUNT) - 1) &
		       ~(PROFILE_FEAT_PSC | PROFILE_FEAT_PROTECTION);
	return 0;
}

static unsigned bit_index(uint32_t bit)
{
	unsigned i = 0;
	while (i < 31 && !(bit & (1u << i)))
		i++;
	return i;
}

/* The profile uses `bit` at pos: it must be declared and offered. */
static void use(ck_t *ck, uint32_t bit, pos_t pos, const char *field,
		const char *how)
{
	profile_t *p = ck->p;
	const char *name = profile_feature_names[bit_index(bit)];
	int first = !(p->info.features_used & bit);
	p->info.features_used |= bit;
	if (!first)
		return;
	if (p->info.kind != PROFILE_CHIP_NONE && !(chip_features(p) & bit)) {
		CERR(ck, PROFILE_ERR_FEATURE, pos, field,
		     "%s needs the feature %s, which chip %s does not have%s",
		     how, name, p->info.chip,
		     p->info.kind == PROFILE_CHIP_MEMCARD ?
			     " (a memory card: no file system, no PIN or "
			     "key objects; its features are psc and "
			     "protection)" :
			     "");
		return;
	}
	if (!(p->info.features & bit) && p->features_pos.line)
		CERR(ck, PROFILE_ERR_FEATURE, pos, field,
		     "%s uses the card OS feature %s, which 'features' (line "
		     "%u) does not list: add it, so that the design says what "
		     "it needs",
		     how, name, p->features_pos.line);
}

/* quiet: no "listed but unused" warnings (the profile has errors, and
 * what it uses is not known for sure). */
static void check_features(ck_t *ck, int quiet)
{
	profile_t *p = ck->p;
	uint32_t offered = chip_features(p);
	for (unsigned i = 0; i < PROFILE_FEAT_COUNT; i++) {
		uint32_t bit = 1u << i;
		if (!(p->info.features & bit))
			continue;
		if (p->info.kind != PROFILE_CHIP_NONE && !(offered & bit)) {
			char list[300] = "";
			for (unsigned j = 0; j < PROFILE_FEAT_COUNT; j++)
				if (offered & (1u << j)) {
					if (list[0])
						strcat(list, ", ");
					strcat(list, profile_feature_names[j]);
				}
			CERR(ck, PROFILE_ERR_FEATURE, p->feature_pos[i],
			     "features",
			     "chip %s has no feature %s; it offers: %s",
			     p->info.chip, profile_feature_names[i], list);
		} else if (!(p->info.features_used & bit) && !quiet) {
			CWARN(ck, PROFILE_ERR_FEATURE, p->feature_pos[i],
			      "features",
			      "%s is listed but the profile does not use it",
			      profile_feature_names[i]);
		}
	}
}

/* ---------------------------------------------------------------- files */

/* Is the object o (a PIN or key) global? */
static int pin_global(const profile_t *p, size_t i)
{
	return PIN_AT(p, i)->pub.df < 0 && !PIN_AT(p, i)->df_name;
}

static int key_global(const profile_t *p, size_t i)
{
	return KEY_AT(p, i)->pub.df < 0 && !KEY_AT(p, i)->df_name;
}

/* Resolve one term to a reference; 0 on an error (reported). */
static int term_ref(ck_t *ck, const term_t *t, const char *field, uint8_t *ref)
{
	profile_t *p = ck->p;
	int pin = t->kind == T_PIN;
	const char *what = pin ? "PIN" : "key";
	int idx = -1;
	char shown[64];
	if (t->num >= 0) {
		snprintf(shown, sizeof shown, "%s:%d", pin ? "pin" : "key",
			 t->num);
		/* a global object with that reference */
		size_t n = pin ? p->pins.n : p->keys.n;
		int any = -1;
		for (size_t i = 0; i < n; i++) {
			uint8_t r = pin ? PIN_AT(p, i)->pub.ref :
					  KEY_AT(p, i)->pub.ref;
			if (r != t->num)
				continue;
			any = (int)i;
			if (pin ? pin_global(p, i) : key_global(p, i)) {
				idx = (int)i;
				break;
			}
		}
		if (idx < 0 && any >= 0) {
			CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
			     "%s: %s '%s' is specific to DF %s; access "
			     "conditions find only global %ss (the card OS "
			     "looks among the MF's objects)",
			     shown, what,
			     pin ? PIN_AT(p, (size_t)any)->pub.name :
				   KEY_AT(p, (size_t)any)->pub.name,
			     pin ? PIN_AT(p, (size_t)any)->df_name :
				   KEY_AT(p, (size_t)any)->df_name,
			     what);
			return 0;
		}
		if (idx < 0) {
			CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
			     "%s: no global %s has reference %d", shown, what,
			     t->num);
			return 0;
		}
	} else {
		snprintf(shown, sizeof shown, "%s:%s", pin ? "pin" : "key",
			 t->name);
		idx = pin ? find_pin(p, t->name) : find_key(p, t->name);
		if (idx < 0) {
			undefined(ck, t->pos, field, what, t->name,
				  pin ? 1 : 2);
			return 0;
		}
		int global = pin ? pin_global(p, (size_t)idx) :
				   key_global(p, (size_t)idx);
		if (!global) {
			CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
			     "%s: %s '%s' is specific to a DF; access "
			     "conditions find only global %ss",
			     shown, what, t->name, what);
			return 0;
		}
	}
	uint8_t r = pin ? PIN_AT(p, (size_t)idx)->pub.ref :
			  KEY_AT(p, (size_t)idx)->pub.ref;
	if (!pin && !(KEY_AT(p, (size_t)idx)->pub.usage & COS_KEY_USE_AUTH)) {
		CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
		     "%s: key '%s' has no usage auth, so EXTERNAL "
		     "AUTHENTICATE cannot authenticate it",
		     shown, KEY_AT(p, (size_t)idx)->pub.name);
		return 0;
	}
	if (r > 15) {
		CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
		     "%s: reference %u does not fit an access condition, "
		     "which codes the reference in 4 bits (1 to 15): give "
		     "the %s a reference from 1 to 15",
		     shown, r, what);
		return 0;
	}
	if (r == 0)
		return 0; /* reported at the object */
	*ref = r;
	return 1;
}

/* Compile an access condition to its security condition byte. Returns 1
 * with *sc (never: *never set), 0 on an error. */
static int compile_ac(ck_t *ck, const ac_src_t *ac, const char *field,
		      uint8_t *sc, int *never)
{
	*never = 0;
	if (ac->n == 1 && ac->t[0].kind == T_ALWAYS) {
		*sc = COS_AC_ALWAYS;
		return 1;
	}
	if (ac->n == 1 && ac->t[0].kind == T_NEVER) {
		*never = 1;
		return 1;
	}
	int pin = -1, key = -1, sm = 0, ok = 1;
	pos_t pin_pos = { 0, 0 };
	for (unsigned i = 0; i < ac->n; i++) {
		const term_t *t = &ac->t[i];
		uint8_t r;
		if (t->kind == T_SM) {
			if (sm) {
				CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
				     "sm is listed twice");
				ok = 0;
			}
			sm = 1;
			use(ck, PROFILE_FEAT_SM, t->pos, field,
			    "the access condition sm");
			continue;
		}
		if (!term_ref(ck, t, field, &r)) {
			ok = 0;
			continue;
		}
		int *slot = t->kind == T_PIN ? &pin : &key;
		if (*slot >= 0) {
			CERR(ck, PROFILE_ERR_ACCESS, t->pos, field,
			     "two %ss in one condition: the compact format "
			     "holds one PIN, one key and sm",
			     t->kind == T_PIN ? "PIN" : "key");
			ok = 0;
			continue;
		}
		*slot = r;
		if (t->kind == T_PIN)
			pin_pos = t->pos;
		else
			use(ck, PROFILE_FEAT_EXTERNAL_AUTH, t->pos, field,
			    "an access condition on a key");
	}
	if (!ok)
		return 0;
	if (pin >= 0 && key >= 0 && pin != key) {
		CERR(ck, PROFILE_ERR_ACCESS, pin_pos.line ? pin_pos : ac->pos,
		     field,
		     "pin:%d and key:%d cannot share one condition: the "
		     "compact format holds one reference (4 bits) for the PIN "
		     "and the key together; give them the same reference, or "
		     "use sm",
		     pin, key);
		return 0;
	}
	uint8_t b = (uint8_t)(ac->all ? COS_AC_ALL : 0);
	if (sm)
		b |= COS_AC_SM;
	if (pin >= 0)
		b |= (uint8_t)(COS_AC_PIN | pin);
	if (key >= 0)
		b |= (uint8_t)(COS_AC_KEY | key);
	if (b == COS_AC_NEVER) {
		CERR(ck, PROFILE_ERR_ACCESS, ac->pos, field,
		     "this combination codes as FF, which the card OS reads "
		     "as never");
		return 0;
	}
	*sc = b;
	return 1;
}

static void check_file_access(ck_t *ck, pfile_t *f)
{
	int df = f->pub.type == COS_FT_DF;
	f->pub.am = 0;
	memset(f->pub.sc, 0, sizeof f->pub.sc);
	if (!f->has_access)
		return;
	const char *apath = sub(f->path, "access");
	int any = 0;
	for (unsigned op = 0; op < PROFILE_OP_COUNT; op++) {
		const ac_src_t *ac = f->ac[op].set     ? &f->ac[op] :
				     f->ac_default.set ? &f->ac_default :
							 NULL;
		if (f->ac[op].bad || (!f->ac[op].set && f->ac_default.bad))
			any = 1; /* reported by the loader */
		if (!ac)
			continue;
		const char *opn =
			f->ac[op].set ? profile_op_name(df, op) : "default";
		uint8_t sc;
		int never;
		if (!compile_ac(ck, ac, sub(apath, opn), &sc, &never)) {
			any = 1; /* reported: no "all never" on top */
			continue;
		}
		if (never)
			continue;
		f->pub.am |= (uint8_t)(1u << op);
		f->pub.sc[op] = sc;
		any = 1;
		if (op == 2 && f->ac[op].set &&
		    f->pub.type == COS_FT_EF_TRANSPARENT)
			CWARN(ck, PROFILE_ERR_ACCESS, f->ac[op].pos,
			      sub(apath, "append"),
			      "a transparent EF has no append: APPEND RECORD "
			      "works on record files");
	}
	if (!any && f->pub.type != COS_FT_DF)
		CWARN(ck, PROFILE_ERR_ACCESS, f->access_pos, apath,
		      "every operation is never: once issued, nobody reads "
		      "or writes this file");
}

static int aid_prefix(const profile_file_t *a, const uint8_t *b, size_t bl)
{
	size_t n = a->aid_len < bl ? a->aid_len : bl;
	return memcmp(a->aid, b, n) == 0;
}

static void check_files(ck_t *ck)
{
	profile_t *p = ck->p;
	for (size_t i = 0; i < NFILES(p); i++) {
		pfile_t *f = FILE_AT(p, i);
		profile_file_t *pf = &f->pub;
		if (!pf->type)
			continue;
		if (pf->type == COS_FT_DF) {
			use(ck, PROFILE_FEAT_DF, f->type_pos,
			    sub(f->path, "type"), "a DF");
			if (pf->depth > COS_MAX_DEPTH)
				CERR(ck, PROFILE_ERR_CAPACITY, f->pos, f->path,
				     "DF at depth %u: the card OS nests DFs at "
				     "most %u deep under the MF",
				     pf->depth, COS_MAX_DEPTH);
		} else {
			static const uint32_t fb[] = {
				0,
				0,
				0,
				PROFILE_FEAT_TRANSPARENT,
				PROFILE_FEAT_LINEAR_FIXED,
				PROFILE_FEAT_LINEAR_VARIABLE,
				PROFILE_FEAT_CYCLIC
			};
			char how[64];
			snprintf(how, sizeof how, "a %s EF",
				 type_name(pf->type));
			use(ck, fb[pf->type], f->type_pos, sub(f->path, "type"),
			    how);
		}
		if (f->has_sfi)
			use(ck, PROFILE_FEAT_SFI, f->sfi_pos,
			    sub(f->path, "sfi"), "an SFI");
		if (f->has_fid && (pf->fid == 0x3F00 || pf->fid == 0x3FFF ||
				   pf->fid == 0xFFFF))
			CERR(ck, PROFILE_ERR_VALUE, f->fid_pos,
			     sub(f->path, "fid"),
			     "FID %04X is reserved (3F00 the MF, 3FFF the "
			     "current DF in a path, FFFF): choose another",
			     pf->fid);
		if (is_record(pf->type)) {
			if (f->has_size &&
			    (f->size_raw < 1 || f->size_raw > COS_REC_LEN_MAX))
				CERR(ck, PROFILE_ERR_RECORD, f->size_pos,
				     sub(f->path, "record-length"),
				     "record length %u: the card OS keeps "
				     "records of 1 to %u bytes",
				     f->size_raw, COS_REC_LEN_MAX);
			if (f->has_records &&
			    (f->records_raw < 1 ||
			     f->records_raw > COS_RECORDS_MAX))
				CERR(ck, PROFILE_ERR_RECORD, f->rec_pos,
				     sub(f->path, "records"),
				     "%u records: a record file holds 1 to %u",
				     f->records_raw, COS_RECORDS_MAX);
		}
		pf->body = profile_body_of(pf->type, pf->size, pf->records);
		check_file_access(ck, f);

		/* siblings: the first clash of each kind is enough */
		int dup_fid = 0, dup_sfi = 0;
		for (size_t j = 0; j < i; j++) {
			pfile_t *g = FILE_AT(p, j);
			if (g->pub.parent != pf->parent || !g->pub.type)
				continue;
			if (f->has_fid && g->has_fid && g->pub.fid == pf->fid &&
			    !dup_fid) {
				CERR(ck, PROFILE_ERR_DUP_FID, f->fid_pos,
				     sub(f->path, "fid"),
				     "FID %04X is already file '%s' (line %u) "
				     "in the same DF: CREATE FILE would answer "
				     "6A89",
				     pf->fid, g->pub.name, g->pos.line);
				dup_fid = 1;
			}
			if (f->has_sfi && g->has_sfi && g->pub.sfi == pf->sfi &&
			    !dup_sfi) {
				CERR(ck, PROFILE_ERR_DUP_SFI, f->sfi_pos,
				     sub(f->path, "sfi"),
				     "SFI %u is already EF '%s' (line %u) in "
				     "the same DF",
				     pf->sfi, g->pub.name, g->pos.line);
				dup_sfi = 1;
			}
		}
		if (pf->parent >= 0 && f->has_fid) {
			pfile_t *par = FILE_AT(p, (size_t)pf->parent);
			if (par->has_fid && par->pub.fid == pf->fid)
				CERR(ck, PROFILE_ERR_DUP_FID, f->fid_pos,
				     sub(f->path, "fid"),
				     "FID %04X is its own DF's: CREATE FILE "
				     "would answer 6A89",
				     pf->fid);
		}
		if (pf->type == COS_FT_DF && f->has_aid) {
			if (pf->aid_len == sizeof isd_aid &&
			    memcmp(pf->aid, isd_aid, sizeof isd_aid) == 0)
				CERR(ck, PROFILE_ERR_DUP_AID, f->aid_pos,
				     sub(f->path, "aid"),
				     "A000000151000000 is the MF's DF name "
				     "(the GlobalPlatform ISD AID)");
			else if (aid_prefix(pf, isd_aid, sizeof isd_aid))
				CWARN(ck, PROFILE_ERR_DUP_AID, f->aid_pos,
				      sub(f->path, "aid"),
				      "this AID and the MF's (A000000151000000) "
				      "are prefixes of each other: SELECT by "
				      "a partial name may find either");
			for (size_t j = 0; j < i; j++) {
				pfile_t *g = FILE_AT(p, j);
				if (g->pub.type != COS_FT_DF || !g->has_aid)
					continue;
				if (g->pub.aid_len == pf->aid_len &&
				    memcmp(g->pub.aid, pf->aid, pf->aid_len) ==
					    0) {
					CERR(ck, PROFILE_ERR_DUP_AID,
					     f->aid_pos, sub(f->path, "aid"),
					     "this AID is already DF '%s''s "
					     "(line %u): CREATE FILE would "
					     "answer 6A8A",
					     g->pub.name, g->pos.line);
					break;
				}
				if (aid_prefix(pf, g->pub.aid,
					       g->pub.aid_len)) {
					CWARN(ck, PROFILE_ERR_DUP_AID,
					      f->aid_pos, sub(f->path, "aid"),
					      "this AID and DF '%s''s are "
					      "prefixes of each other: SELECT "
					      "by name matches prefixes and "
					      "may find either",
					      g->pub.name);
					break;
				}
			}
		}
	}
}

/* ---------------------------------------------------------------- objects */

static int resolve_df(ck_t *ck, const char *name, pos_t pos, const char *field)
{
	int idx = find_file(ck->p, name);
	if (idx < 0) {
		undefined(ck, pos, field, "DF", name, 0);
		return -1;
	}
	if (FILE_AT(ck->p, (size_t)idx)->pub.type != COS_FT_DF) {
		CERR(ck, PROFILE_ERR_CONFLICT, pos, field,
		     "'%s' is an EF: objects belong to a DF (or, without df, "
		     "to the MF: global)",
		     name);
		return -1;
	}
	return idx;
}

static int all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void check_pins(ck_t *ck)
{
	profile_t *p = ck->p;
	for (size_t i = 0; i < p->pins.n; i++) {
		ppin_t *o = PIN_AT(p, i);
		profile_pin_t *pp = &o->pub;
		use(ck, PROFILE_FEAT_PIN, o->pos, o->path, "a PIN");
		if (o->df_name)
			pp->df = resolve_df(ck, o->df_name, o->df_pos,
					    sub(o->path, "df"));
		for (size_t j = 0; j < i && o->has_ref; j++) {
			ppin_t *q = PIN_AT(p, j);
			if (!q->has_ref || q->pub.ref != pp->ref)
				continue;
			int same_owner = (!o->df_name && !q->df_name) ||
					 (o->df_name && q->df_name &&
					  strcmp(o->df_name, q->df_name) == 0);
			if (same_owner)
				CERR(ck, PROFILE_ERR_DUP_REF, o->ref_pos,
				     sub(o->path, "ref"),
				     "PIN reference %u is already PIN '%s' "
				     "(line %u) %s: the second would replace "
				     "the first",
				     pp->ref, q->pub.name, q->pos.line,
				     o->df_name ? "in the same DF" :
						  "among the global PINs");
		}
		/* format and digits */
		if (o->has_length && o->has_format && o->has_digits) {
			unsigned need = pp->max_digits;
			const char *how = "one a byte";
			if (pp->format == PROFILE_PIN_BCD) {
				need = (pp->max_digits + 1u) / 2u;
				how = "two a byte";
			}
			if (pp->min_digits > pp->max_digits)
				CERR(ck, PROFILE_ERR_VALUE, o->pos, o->path,
				     "min-digits %u is more than max-digits %u",
				     pp->min_digits, pp->max_digits);
			if (pp->format == PROFILE_PIN_ISO9564_2) {
				if (pp->length != 8)
					CERR(ck, PROFILE_ERR_CONFLICT,
					     o->len_pos, sub(o->path, "length"),
					     "an ISO 9564 format 2 PIN block is "
					     "8 bytes, not %u",
					     pp->length);
				if (pp->min_digits < 4 || pp->max_digits > 12)
					CERR(ck, PROFILE_ERR_CONFLICT,
					     o->fmt_pos, sub(o->path, "format"),
					     "ISO 9564 format 2 holds 4 to 12 "
					     "digits; min-digits %u, max-digits "
					     "%u",
					     pp->min_digits, pp->max_digits);
			} else if (need > pp->length) {
				CERR(ck, PROFILE_ERR_CONFLICT, o->len_pos,
				     sub(o->path, "length"),
				     "%u bytes cannot hold %u digits (%s, "
				     "format %s): make length at least %u",
				     pp->length, pp->max_digits, how,
				     pp->format == PROFILE_PIN_BCD ? "bcd" :
								     "ascii",
				     need);
			}
		}
		/* PUK */
		if (o->puk_name) {
			pp->puk = find_pin(p, o->puk_name);
			if (pp->puk < 0) {
				undefined(ck, o->puk_pos, sub(o->path, "puk"),
					  "PIN", o->puk_name, 1);
			} else if ((size_t)pp->puk == i) {
				CERR(ck, PROFILE_ERR_CONFLICT, o->puk_pos,
				     sub(o->path, "puk"),
				     "a PIN cannot be its own PUK");
				pp->puk = -1;
			} else if (PIN_AT(p, (size_t)pp->puk)->df_name) {
				CERR(ck, PROFILE_ERR_CONFLICT, o->puk_pos,
				     sub(o->path, "puk"),
				     "PUK '%s' is specific to a DF: RESET "
				     "RETRY COUNTER finds the PUK among the "
				     "global PINs",
				     o->puk_name);
			} else {
				use(ck, PROFILE_FEAT_PUK, o->puk_pos,
				    sub(o->path, "puk"), "a PUK");
			}
		}
		/* value */
		const char *vp = sub(o->path, "value");
		if (pp->source == PROFILE_SRC_RANDOM && o->has_digits &&
		    (pp->random_digits < pp->min_digits ||
		     pp->random_digits > pp->max_digits))
			CERR(ck, PROFILE_ERR_CONFLICT, o->value_pos, vp,
			     "%u random digits: the PIN has %u to %u",
			     pp->random_digits, pp->min_digits, pp->max_digits);
		if (pp->source == PROFILE_SRC_FIXED && o->has_digits) {
			size_t l = strlen(pp->fixed);
			if (l < pp->min_digits || l > pp->max_digits)
				CERR(ck, PROFILE_ERR_CONFLICT, o->value_pos, vp,
				     "the fixed value has %zu characters: the "
				     "PIN has %u to %u",
				     l, pp->min_digits, pp->max_digits);
			else if (pp->format != PROFILE_PIN_ASCII &&
				 !all_digits(pp->fixed))
				CERR(ck, PROFILE_ERR_CONFLICT, o->value_pos, vp,
				     "a numeric PIN's fixed value is digits "
				     "only");
		}
		if (pp->source == PROFILE_SRC_HOLDER_FIELD && o->field_name) {
			pp->field = find_field(p, o->field_name);
			if (pp->field < 0) {
				undefined(ck, o->value_pos, vp, "field",
					  o->field_name, 3);
			} else {
				pfield_t *fl = FIELD_AT(p, (size_t)pp->field);
				if (!fl->pub.secret)
					CERR(ck, PROFILE_ERR_CONFLICT,
					     o->value_pos, vp,
					     "field '%s' gives a PIN's value: "
					     "mark it secret: true, so that it "
					     "is never stored or printed in "
					     "clear",
					     fl->pub.name);
				if (fl->has_type &&
				    pp->format != PROFILE_PIN_ASCII &&
				    fl->pub.type != PROFILE_FIELD_DIGITS)
					CERR(ck, PROFILE_ERR_CONFLICT,
					     o->value_pos, vp,
					     "field '%s' is not digits: a "
					     "numeric PIN needs type: digits",
					     fl->pub.name);
				if (fl->has_max && o->has_digits &&
				    fl->pub.max_length > pp->max_digits)
					CERR(ck, PROFILE_ERR_CONFLICT,
					     o->value_pos, vp,
					     "field '%s' holds up to %u "
					     "characters; the PIN at most %u",
					     fl->pub.name, fl->pub.max_length,
					     pp->max_digits);
			}
		}
	}
}

static void check_keys(ck_t *ck)
{
	profile_t *p = ck->p;
	for (size_t i = 0; i < p->keys.n; i++) {
		pkey_t *k = KEY_AT(p, i);
		profile_key_t *pk = &k->pub;
		if (k->df_name)
			pk->df = resolve_df(ck, k->df_name, k->df_pos,
					    sub(k->path, "df"));
		if (k->has_alg)
			use(ck,
			    pk->cos_alg == COS_ALG_AES ? PROFILE_FEAT_AES :
							 PROFILE_FEAT_3DES,
			    k->alg_pos, sub(k->path, "algorithm"),
			    "this key's algorithm");
		if (pk->usage & COS_KEY_USE_AUTH)
			use(ck, PROFILE_FEAT_EXTERNAL_AUTH, k->usage_pos,
			    sub(k->path, "usage"), "usage auth");
		if (pk->usage & COS_KEY_USE_CRYPTO)
			use(ck, PROFILE_FEAT_INTERNAL_AUTH, k->usage_pos,
			    sub(k->path, "usage"), "usage internal-auth");
		if (pk->usage & COS_KEY_USE_SCP03) {
			static const char *const roles[] = { "", "scp03-enc",
							     "scp03-mac",
							     "scp03-dek" };
			use(ck, PROFILE_FEAT_SCP03, k->usage_pos,
			    sub(k->path, "usage"), "an SCP03 key");
			if (pk->usage != COS_KEY_USE_SCP03)
				CERR(ck, PROFILE_ERR_CONFLICT, k->usage_pos,
				     sub(k->path, "usage"),
				     "an SCP03 key set member is only that: "
				     "give authentication its own key");
			if (k->has_ref && pk->ref != k->scp03_role)
				CERR(ck, PROFILE_ERR_REF_RANGE, k->ref_pos,
				     sub(k->path, "ref"),
				     "an %s key has reference %u (SCP03: 1 "
				     "ENC, 2 MAC, 3 DEK), not %u",
				     roles[k->scp03_role], k->scp03_role,
				     pk->ref);
			if (k->has_alg && pk->cos_alg != COS_ALG_AES)
				CERR(ck, PROFILE_ERR_CONFLICT, k->alg_pos,
				     sub(k->path, "algorithm"),
				     "SCP03 keys are AES (aes128, aes192 or "
				     "aes256)");
			if (k->df_name)
				CERR(ck, PROFILE_ERR_CONFLICT, k->df_pos,
				     sub(k->path, "df"),
				     "SCP03 keys are global: the card's key "
				     "set, not a DF's");
			if (!k->has_kvn || pk->kvn == 0)
				CERR(ck, PROFILE_ERR_MISSING,
				     k->has_kvn ? k->kvn_pos : k->pos,
				     sub(k->path, "kvn"),
				     "an SCP03 key needs its key set's "
				     "version, kvn: 1 to 255");
		}
		if (k->has_source && pk->master && k->has_alg) {
			if (pk->method == PROFILE_DIV_AES_ECB_SERIAL &&
			    pk->cos_alg != COS_ALG_AES)
				CERR(ck, PROFILE_ERR_CONFLICT, k->div_pos,
				     sub(k->path, "diversify"),
				     "aes-ecb-serial makes AES keys; a 3DES "
				     "key takes 3des-serial");
			if (pk->method == PROFILE_DIV_3DES_SERIAL &&
			    pk->cos_alg != COS_ALG_3DES)
				CERR(ck, PROFILE_ERR_CONFLICT, k->div_pos,
				     sub(k->path, "diversify"),
				     "3des-serial makes 3DES keys; an AES key "
				     "takes aes-ecb-serial");
		}
		for (size_t j = 0; j < i && k->has_ref; j++) {
			pkey_t *q = KEY_AT(p, j);
			if (!q->has_ref || q->pub.ref != pk->ref)
				continue;
			int same_owner = (!k->df_name && !q->df_name) ||
					 (k->df_name && q->df_name &&
					  strcmp(k->df_name, q->df_name) == 0);
			if (!same_owner)
				continue;
			if (q->pub.kvn == pk->kvn)
				CERR(ck, PROFILE_ERR_DUP_REF, k->ref_pos,
				     sub(k->path, "ref"),
				     "key reference %u version %u is already "
				     "key '%s' (line %u)",
				     pk->ref, pk->kvn, q->pub.name,
				     q->pos.line);
			else if (!(pk->usage & COS_KEY_USE_SCP03) ||
				 !(q->pub.usage & COS_KEY_USE_SCP03))
				CERR(ck, PROFILE_ERR_DUP_REF, k->ref_pos,
				     sub(k->path, "ref"),
				     "key reference %u is already key '%s' "
				     "(line %u): EXTERNAL AUTHENTICATE and "
				     "access conditions find a key by its "
				     "reference alone, whatever its version",
				     pk->ref, q->pub.name, q->pos.line);
		}
	}
}

static void check_scp03(ck_t *ck)
{
	profile_t *p = ck->p;
	profile_scp03_t *s = &p->scp03;
	s->enc = s->mac = s->dek = -1;
	if (p->info.kind != PROFILE_CHIP_COS)
		return;
	if (!s->present) {
		/* needed whatever the profile says: no unused warning */
		p->info.features_used |= PROFILE_FEAT_SCP03;
		CERR(ck, PROFILE_ERR_MISSING, TOP_POS, "scp03",
		     "missing 'scp03': a CPU chip is personalized through an "
		     "SCP03 key set (the fuse, SET STATUS 07, needs one): add "
		     "scp03: {kvn: N, level: [c-mac, c-dec]} and its three "
		     "keys");
		return;
	}
	use(ck, PROFILE_FEAT_SCP03, p->scp03_pos, "scp03",
	    "the personalization key set");
	static const uint8_t levels[] = { 0x01, 0x03, 0x11, 0x13, 0x33 };
	int ok = 0;
	for (size_t i = 0; i < sizeof levels; i++)
		ok |= s->level == levels[i];
	if (s->level && !ok)
		CERR(ck, PROFILE_ERR_VALUE, p->scp03_level_pos, "scp03.level",
		     "not a GlobalPlatform SCP03 level: c-mac comes first; "
		     "r-mac needs c-mac; r-enc needs c-dec and r-mac "
		     "(levels 01, 03, 11, 13, 33)");
	int *slot[4] = { NULL, &s->enc, &s->mac, &s->dek };
	for (size_t i = 0; i < p->keys.n; i++) {
		pkey_t *k = KEY_AT(p, i);
		if (!(k->pub.usage & COS_KEY_USE_SCP03) || !k->has_kvn ||
		    k->pub.kvn != s->kvn || !k->scp03_role)
			continue;
		int *dst = slot[k->scp03_role];
		if (*dst < 0)
			*dst = (int)i;
	}
	static const char *const names[] = { "", "scp03-enc", "scp03-mac",
					     "scp03-dek" };
	for (int r = 1; r <= 3; r++)
		if (s->kvn && *slot[r] < 0)
			CERR(ck, PROFILE_ERR_MISSING, p->scp03_kvn_pos,
			     "scp03.kvn",
			     "key set %u has no %s key: define a key with "
			     "usage: %s, ref: %d, kvn: %u",
			     s->kvn, names[r], names[r], r, s->kvn);
	if (s->enc >= 0) {
		uint8_t l = KEY_AT(p, (size_t)s->enc)->pub.key_len;
		for (int r = 2; r <= 3; r++) {
			if (*slot[r] < 0)
				continue;
			pkey_t *k = KEY_AT(p, (size_t)*slot[r]);
			if (k->pub.key_len != l)
				CERR(ck, PROFILE_ERR_CONFLICT, k->alg_pos,
				     sub(k->path, "algorithm"),
				     "the three keys of an SCP03 key set have "
				     "one length: ENC has %u bytes, this %u",
				     l, k->pub.key_len);
		}
	}
	/* Personalization puts PIN values with PUT DATA, which needs
	 * C-DECRYPTION (docs/card-os.md). */
	for (size_t i = 0; i < p->pins.n; i++) {
		profile_source_t src = PIN_AT(p, i)->pub.source;
		if ((src == PROFILE_SRC_HOLDER_FIELD ||
		     src == PROFILE_SRC_RANDOM) &&
		    s->level && !(s->level & PROFILE_SCP03_C_DEC)) {
			CERR(ck, PROFILE_ERR_CONFLICT, p->scp03_level_pos,
			     "scp03.level",
			     "PIN '%s' gets its value at personalization, "
			     "which the card OS accepts only with "
			     "C-DECRYPTION: add c-dec",
			     PIN_AT(p, i)->pub.name);
			break;
		}
	}
}

/* ---------------------------------------------------------------- memory card
 */

static void check_areas(ck_t *ck)
{
	profile_t *p = ck->p;
	for (size_t i = 0; i < p->areas.n; i++) {
		parea_t *a = AREA_AT(p, i);
		profile_area_t *pa = &a->pub;
		if (!a->has_start || !a->has_length)
			continue;
		unsigned end = pa->start + pa->length; /* exclusive */
		if (end > MC_MEM_SIZE) {
			CERR(ck, PROFILE_ERR_CAPACITY, a->pos, a->path,
			     "bytes %u..%u: the memory card has %u bytes "
			     "(0..%u)",
			     pa->start, end - 1, MC_MEM_SIZE, MC_MEM_SIZE - 1);
			continue;
		}
		uint32_t fab = 0;
		for (unsigned b = pa->start; b < end && b < 32; b++)
			fab |= PROFILE_MC_FAB_MASK & (1u << b);
		if (fab) {
			unsigned lo = bit_index(fab), hi = lo;
			while (hi + 1 < 32 && (fab & (1u << (hi + 1))))
				hi++;
			CERR(ck, PROFILE_ERR_OVERLAP, a->start_pos,
			     sub(a->path, "start"),
			     "bytes %u..%u are the fab's (0..3 ATR, 6..7 "
			     "ICM/ICT, 8..15 chip serial, 21..26 application "
			     "identifier; written and protected): an area may "
			     "use 4..5, 16..20, 27..255",
			     lo, hi);
		}
		for (size_t j = 0; j < i; j++) {
			parea_t *b = AREA_AT(p, j);
			if (!b->has_start || !b->has_length)
				continue;
			if (pa->start < b->pub.start + b->pub.length &&
			    b->pub.start < end)
				CERR(ck, PROFILE_ERR_OVERLAP, a->pos, a->path,
				     "bytes %u..%u overlap area '%s' (%u..%u, "
				     "line %u)",
				     pa->start, end - 1, b->pub.name,
				     b->pub.start,
				     b->pub.start + b->pub.length - 1,
				     b->pos.line);
		}
		if (pa->protect != PROFILE_PROTECT_NO) {
			use(ck, PROFILE_FEAT_PROTECTION, a->protect_pos,
			    sub(a->path, "protect"), "write protection");
			if (end > MC_PROT_BYTES)
				CERR(ck, PROFILE_ERR_FEATURE, a->protect_pos,
				     sub(a->path, "protect"),
				     "bytes %u..%u cannot be protected: only "
				     "bytes 0 to 31 have a protection bit",
				     pa->start > 31 ? pa->start : 32, end - 1);
		}
		if (pa->data && pa->data_len != pa->length)
			CERR(ck, PROFILE_ERR_VALUE, a->data_pos,
			     sub(a->path, "data"),
			     "%zu bytes of data for an area of %u",
			     pa->data_len, pa->length);
		if (pa->protect == PROFILE_PROTECT_INIT && !pa->data)
			CERR(ck, PROFILE_ERR_CONFLICT, a->protect_pos,
			     sub(a->path, "protect"),
			     "protected at initialization, but nothing is "
			     "written there then: give its data, or protect "
			     "it at perso");
	}
	if (p->info.kind == PROFILE_CHIP_MEMCARD) {
		if (!p->psc.present) {
			p->info.features_used |= PROFILE_FEAT_PSC;
			CERR(ck, PROFILE_ERR_MISSING, TOP_POS, "psc",
			     "missing 'psc': where the card's PSC comes from, "
			     "psc: {diversify: {master: LABEL, method: "
			     "aes-ecb-serial}}");
		} else {
			use(ck, PROFILE_FEAT_PSC, p->psc_pos, "psc", "the PSC");
		}
		if (!p->areas.n)
			CERR(ck, PROFILE_ERR_MISSING, TOP_POS, "areas",
			     "missing 'areas': a memory card profile lays "
			     "out its data areas");
	}
}

/* ---------------------------------------------------------------- fields */

typedef struct {
	unsigned lo, hi; /* [lo, hi) */
	int field;	 /* -1: a TLV block or area data */
	const char *what;
} span_t;

/* The TLV objects of one (file, record, offset): a tree of tags. */
typedef struct tnode {
	uint32_t tag;
	int field; /* leaf: field index; -1: template */
	struct tnode *kids, *next;
} tnode_t;

static unsigned tag_len(uint32_t t)
{
	return t > 0xFFFF ? 3 : t > 0xFF ? 2 : 1;
}

static unsigned len_len(unsigned n)
{
	return n < 0x80 ? 1 : n < 0x100 ? 2 : 3;
}

static unsigned tree_size(const profile_t *p, const tnode_t *n)
{
	unsigned sum = 0;
	for (; n; n = n->next) {
		unsigned v = n->field >= 0 ?
				     FIELD_AT(p, (size_t)n->field)->pub.size :
				     tree_size(p, n->kids);
		sum += tag_len(n->tag) + len_len(v) + v;
	}
	return sum;
}

static void tree_free(tnode_t *n)
{
	while (n) {
		tnode_t *next = n->next;
		tree_free(n->kids);
		free(n);
		n = next;
	}
}

static void check_tlv_tags(ck_t *ck, pfield_t *f, const char *tp)
{
	profile_place_t *pl = &f->pub.place;
	for (unsigned i = 0; i < pl->ntags; i++) {
		uint32_t t = pl->tags[i];
		unsigned first = t >> (8 * (tag_len(t) - 1));
		int constructed = (first & 0x20) != 0;
		int leaf = i + 1 == pl->ntags;
		if (leaf && constructed)
			CERR(ck, PROFILE_ERR_VALUE, f->tlv_pos, tp,
			     "tag %X is constructed (bit 6 of its first byte "
			     "set): a field's own tag is primitive",
			     t);
		else if (!leaf && !constructed)
			CERR(ck, PROFILE_ERR_VALUE, f->tlv_pos, tp,
			     "tag %X is primitive: a template's tag is "
			     "constructed (bit 6 of its first byte set, e.g. "
			     "70, 61, A5, BF0C)",
			     t);
	}
}

static void add_span(span_t **v, size_t *n, size_t *cap, span_t s)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		span_t *nv = realloc(*v, nc * sizeof *nv);
		if (!nv)
			return;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = s;
}

/* Fields placed in one container (file+record or area): check the TLV
 * blocks' size and every overlap. */
static void check_container(ck_t *ck, int file, unsigned record, int area,
			    unsigned cap_bytes, const char *cname)
{
	profile_t *p = ck->p;
	span_t *spans = NULL;
	size_t ns = 0, cs = 0;
	/* TLV blocks: one a distinct offset */
	for (size_t i = 0; i < p->fields.n; i++) {
		pfield_t *f = FIELD_AT(p, i);
		profile_place_t *pl = &f->pub.place;
		if (pl->kind != PROFILE_PLACE_TLV || pl->file != file ||
		    pl->record != record || area >= 0 || !pl->ntags)
			continue;
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++) {
			profile_place_t *q = &FIELD_AT(p, j)->pub.place;
			seen = q->kind == PROFILE_PLACE_TLV &&
			       q->file == file && q->record == record &&
			       q->offset == pl->offset && q->ntags;
		}
		if (seen)
			continue;
		/* build the tree of this block */
		tnode_t *root = NULL;
		int bad = 0;
		for (size_t j = i; j < p->fields.n; j++) {
			pfield_t *g = FIELD_AT(p, j);
			profile_place_t *q = &g->pub.place;
			if (q->kind != PROFILE_PLACE_TLV || q->file != file ||
			    q->record != record || q->offset != pl->offset ||
			    !q->ntags)
				continue;
			tnode_t **lvl = &root;
			for (unsigned k = 0; k < q->ntags; k++) {
				int leaf = k + 1 == q->ntags;
				tnode_t *n = *lvl;
				while (n && n->tag != q->tags[k])
					n = n->next;
				if (n && (leaf || n->field >= 0)) {
					CERR(ck, PROFILE_ERR_OVERLAP,
					     g->tlv_pos,
					     sub(sub(g->path, "place"), "tlv"),
					     "tag %X here is already %s",
					     q->tags[k],
					     n->field >= 0 ?
						     pool_printf(
							     p, "field '%s''s",
							     FIELD_AT(
								     p,
								     (size_t)n
									     ->field)
								     ->pub
								     .name) :
						     "a template");
					bad = 1;
					break;
				}
				if (!n) {
					n = calloc(1, sizeof *n);
					if (!n) {
						bad = 1;
						break;
					}
					n->tag = q->tags[k];
					n->field = leaf ? (int)j : -1;
					/* append, keeping document order */
					tnode_t **tail = lvl;
					while (*tail)
						tail = &(*tail)->next;
					*tail = n;
				}
				lvl = &n->kids;
			}
		}
		unsigned size = tree_size(p, root);
		tree_free(root);
		if (bad)
			continue;
		if (pl->offset + size > cap_bytes)
			CERR(ck, PROFILE_ERR_PLACEMENT, f->place_pos,
			     sub(f->path, "place"),
			     "the TLV objects at offset %u of %s take up to "
			     "%u bytes (tags, lengths and the longest "
			     "values): %u..%u, outside its %u bytes",
			     pl->offset, cname, size, pl->offset,
			     pl->offset + size - 1, cap_bytes);
		span_t s = { pl->offset, pl->offset + size, (int)i,
			     "the TLV objects of field" };
		add_span(&spans, &ns, &cs, s);
	}
	/* fixed-width fields */
	for (size_t i = 0; i < p->fields.n; i++) {
		pfield_t *f = FIELD_AT(p, i);
		profile_place_t *pl = &f->pub.place;
		int mine = area >= 0 ? pl->kind == PROFILE_PLACE_AREA &&
					       pl->area == area :
				       (pl->kind == PROFILE_PLACE_BINARY ||
					pl->kind == PROFILE_PLACE_RECORD) &&
					       pl->file == file &&
					       pl->record == record;
		if (!mine || !pl->width)
			continue;
		if (pl->offset + pl->width > cap_bytes) {
			CERR(ck, PROFILE_ERR_PLACEMENT, f->place_pos,
			     sub(f->path, "place"),
			     "bytes %u..%u are outside %s, which has %u bytes "
			     "(0..%u)",
			     pl->offset, pl->offset + pl->width - 1, cname,
			     cap_bytes, cap_bytes ? cap_bytes - 1 : 0);
			continue;
		}
		span_t s = { pl->offset, pl->offset + pl->width, (int)i,
			     "field" };
		add_span(&spans, &ns, &cs, s);
	}
	if (area >= 0 && AREA_AT(p, (size_t)area)->pub.data) {
		for (size_t i = 0; i < ns; i++)
			if (spans[i].field >= 0) {
				pfield_t *f =
					FIELD_AT(p, (size_t)spans[i].field);
				CERR(ck, PROFILE_ERR_OVERLAP, f->place_pos,
				     sub(f->path, "place"),
				     "area '%s' is written with its data at "
				     "initialization: a field cannot go there "
				     "too",
				     AREA_AT(p, (size_t)area)->pub.name);
			}
	}
	for (size_t i = 0; i < ns; i++)
		for (size_t j = 0; j < i; j++) {
			if (spans[i].lo < spans[j].hi &&
			    spans[j].lo < spans[i].hi) {
				pfield_t *f =
					FIELD_AT(p, (size_t)spans[i].field);
				pfield_t *g =
					FIELD_AT(p, (size_t)spans[j].field);
				CERR(ck, PROFILE_ERR_OVERLAP, f->place_pos,
				     sub(f->path, "place"),
				     "bytes %u..%u of %s overlap %s '%s' "
				     "(%u..%u, line %u)",
				     spans[i].lo, spans[i].hi - 1, cname,
				     spans[j].what, g->pub.name, spans[j].lo,
				     spans[j].hi - 1, g->place_pos.line);
			}
		}
	free(spans);
}

static void check_fields(ck_t *ck)
{
	profile_t *p = ck->p;
	int cos = p->info.kind == PROFILE_CHIP_COS;
	int mc = p->info.kind == PROFILE_CHIP_MEMCARD;
	size_t traces = 0;
	for (size_t i = 0; i < p->fields.n; i++) {
		pfield_t *f = FIELD_AT(p, i);
		profile_field_t *pf = &f->pub;
		profile_place_t *pl = &pf->place;
		const char *pp = sub(f->path, "place");
		if (pf->min_length > pf->max_length && f->has_max)
			CERR(ck, PROFILE_ERR_VALUE, f->pos, f->path,
			     "min-length %u is more than max-length %u",
			     pf->min_length, pf->max_length);
		pf->size = profile_field_size(pf);
		if (pf->trace) {
			traces++;
			if (!pf->required)
				CERR(ck, PROFILE_ERR_CONFLICT, f->trace_pos,
				     sub(f->path, "trace"),
				     "a trace field is what the MES records for "
				     "every card: it is required (remove "
				     "required: false)");
			if (pf->secret)
				CERR(ck, PROFILE_ERR_CONFLICT, f->trace_pos,
				     sub(f->path, "trace"),
				     "a secret is never recorded by the MES: a "
				     "field is trace or secret, not both");
		}
		if (pf->secret && pl->kind != PROFILE_PLACE_NONE) {
			CERR(ck, PROFILE_ERR_CONFLICT, f->place_pos, pp,
			     "a secret field is never written into a file in "
			     "clear: give it to a PIN (value: {holder-field: "
			     "%s}) instead",
			     pf->name);
			continue;
		}
		if (pl->kind == PROFILE_PLACE_NONE) {
			if (!pf->secret && !pf->trace)
				CWARN(ck, PROFILE_ERR_PLACEMENT, f->pos,
				      f->path,
				      "the field is not written on the card "
				      "(no place) nor traced");
			continue;
		}
		if (pl->kind == PROFILE_PLACE_AREA) {
			if (!mc) {
				CERR(ck, PROFILE_ERR_FEATURE, f->place_pos, pp,
				     "'area' places a field on a memory card; "
				     "chip %s has files: use file",
				     p->info.chip);
				continue;
			}
			if (!f->area_name)
				continue;
			pl->area = find_area(p, f->area_name);
			if (pl->area < 0) {
				undefined(ck, f->place_pos, sub(pp, "area"),
					  "area", f->area_name, 4);
				continue;
			}
			parea_t *a = AREA_AT(p, (size_t)pl->area);
			if (a->pub.protect == PROFILE_PROTECT_INIT)
				CERR(ck, PROFILE_ERR_CONFLICT, f->place_pos, pp,
				     "area '%s' is protected at "
				     "initialization, before personalization "
				     "writes this field: protect it at perso",
				     a->pub.name);
		} else {
			if (!cos) {
				if (mc)
					CERR(ck, PROFILE_ERR_FEATURE,
					     f->place_pos, pp,
					     "chip %s has no files: place the "
					     "field in an area (area: NAME, "
					     "offset: N)",
					     p->info.chip);
				continue;
			}
			if (!f->file_name)
				continue;
			pl->file = find_file(p, f->file_name);
			if (pl->file < 0) {
				undefined(ck, f->place_pos, sub(pp, "file"),
					  "file", f->file_name, 0);
				continue;
			}
			pfile_t *fl = FILE_AT(p, (size_t)pl->file);
			cos_file_type_t t = fl->pub.type;
			if (t == COS_FT_DF) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->place_pos,
				     sub(pp, "file"),
				     "'%s' is a DF: a field goes into an EF",
				     fl->pub.name);
				pl->file = -1;
				continue;
			}
			if (pl->kind == PROFILE_PLACE_RECORD &&
			    t == COS_FT_EF_TRANSPARENT) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->record_pos,
				     sub(pp, "record"),
				     "'%s' is transparent: it has no records "
				     "(give an offset)",
				     fl->pub.name);
				pl->file = -1;
				continue;
			}
			if (pl->kind == PROFILE_PLACE_BINARY && is_record(t)) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->place_pos,
				     pp,
				     "'%s' is a %s EF: say which record "
				     "(record: N)",
				     fl->pub.name, type_name(t));
				pl->file = -1;
				continue;
			}
			if (pl->kind == PROFILE_PLACE_TLV && is_record(t) &&
			    !f->has_record) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->place_pos,
				     pp,
				     "'%s' is a %s EF: say which record holds "
				     "the TLV objects (record: N)",
				     fl->pub.name, type_name(t));
				pl->file = -1;
				continue;
			}
			if (t == COS_FT_EF_CYCLIC) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->record_pos,
				     sub(pp, "record"),
				     "'%s' is cyclic: its record numbers move "
				     "at every append (record 1 is the "
				     "newest); place holder data in a linear "
				     "or transparent EF",
				     fl->pub.name);
				pl->file = -1;
				continue;
			}
			if (f->has_record && fl->has_records &&
			    pl->record > fl->pub.records) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->record_pos,
				     sub(pp, "record"),
				     "record %u: '%s' has %u records",
				     pl->record, fl->pub.name, fl->pub.records);
				pl->file = -1;
				continue;
			}
		}
		/* width */
		if (pl->kind != PROFILE_PLACE_TLV && f->has_type &&
		    (f->has_max || pf->type == PROFILE_FIELD_DATE ||
		     pf->type == PROFILE_FIELD_AMOUNT ||
		     pf->type == PROFILE_FIELD_NUMBER)) {
			if (!f->has_width) {
				pl->width = pf->size;
			} else if (pl->width < pf->size) {
				CERR(ck, PROFILE_ERR_PLACEMENT, f->width_pos,
				     sub(pp, "width"),
				     "%u bytes cannot hold the field: it takes "
				     "up to %u (%s, encoding %s)",
				     pl->width, pf->size,
				     f->has_max ?
					     pool_printf(p, "max-length %u",
							 pf->max_length) :
					     "fixed size",
				     enc_name(pf->encoding));
				pl->width = 0;
			}
		}
	}
	if (traces == 0 && p->info.kind != PROFILE_CHIP_NONE)
		CERR(ck, PROFILE_ERR_MISSING,
		     p->has_fields_section ? p->fields_pos : TOP_POS, "fields",
		     "no field has trace: true: the MES records which holder "
		     "each card was made for (e.g. the holder's id)");

	/* containers: every EF (each record of a record EF), every area */
	for (size_t i = 0; i < NFILES(p); i++) {
		pfile_t *fl = FILE_AT(p, i);
		cos_file_type_t t = fl->pub.type;
		if (!t || t == COS_FT_DF)
			continue;
		if (t == COS_FT_EF_TRANSPARENT) {
			check_container(
				ck, (int)i, 0, -1, fl->pub.size,
				pool_printf(p, "file '%s'", fl->pub.name));
			continue;
		}
		for (unsigned r = 1; r <= fl->pub.records; r++) {
			int any = 0;
			for (size_t j = 0; j < p->fields.n && !any; j++)
				any = FIELD_AT(p, j)->pub.place.file ==
					      (int)i &&
				      FIELD_AT(p, j)->pub.place.record == r;
			if (any)
				check_container(ck, (int)i, r, -1, fl->pub.size,
						pool_printf(p,
							    "record %u of '%s'",
							    r, fl->pub.name));
		}
	}
	for (size_t i = 0; i < p->areas.n; i++)
		check_container(
			ck, -1, 0, (int)i, AREA_AT(p, i)->pub.length,
			pool_printf(p, "area '%s'", AREA_AT(p, i)->pub.name));
	for (size_t i = 0; i < p->fields.n; i++) {
		pfield_t *f = FIELD_AT(p, i);
		if (f->pub.place.kind == PROFILE_PLACE_TLV &&
		    f->pub.place.ntags)
			check_tlv_tags(ck, f,
				       sub(sub(f->path, "place"), "tlv"));
	}
}

/* ---------------------------------------------------------------- face */

/* ISO/IEC 7816-2: the contacts lie within 10.25..19.87 mm from the left
 * edge and 19.23..28.55 mm from the top edge of the front. */
#define CONTACT_X0 10.25
#define CONTACT_X1 19.87
#define CONTACT_Y0 19.23
#define CONTACT_Y1 28.55

static void check_face(ck_t *ck)
{
	profile_t *p = ck->p;
	for (size_t i = 0; i < p->face_items.n; i++) {
		pface_t *it = FACE_AT(p, i);
		profile_face_item_t *pi = &it->pub;
		if (it->field_name) {
			pi->field = find_field(p, it->field_name);
			if (pi->field < 0)
				undefined(ck, it->field_pos,
					  sub(it->path, "field"), "field",
					  it->field_name, 3);
			else if (FIELD_AT(p, (size_t)pi->field)->pub.secret)
				CERR(ck, PROFILE_ERR_CONFLICT, it->field_pos,
				     sub(it->path, "field"),
				     "'%s' is secret: it is never printed",
				     it->field_name);
		}
		if (!it->box_pos.line)
			continue;
		const char *bp = sub(it->path, "box");
		if (pi->w <= 0 || pi->h <= 0)
			CERR(ck, PROFILE_ERR_VALUE, it->box_pos, bp,
			     "a box has a width and a height above 0");
		else if (pi->x + pi->w > p->face.width + 1e-9 ||
			 pi->y + pi->h > p->face.height + 1e-9)
			CERR(ck, PROFILE_ERR_PLACEMENT, it->box_pos, bp,
			     "the box (%g..%g x %g..%g mm) is outside the "
			     "card (%g x %g mm)",
			     pi->x, pi->x + pi->w, pi->y, pi->y + pi->h,
			     p->face.width, p->face.height);
		else if (!pi->back && pi->x < CONTACT_X1 &&
			 CONTACT_X0 < pi->x + pi->w && pi->y < CONTACT_Y1 &&
			 CONTACT_Y0 < pi->y + pi->h)
			CWARN(ck, PROFILE_ERR_OVERLAP, it->box_pos, bp,
			      "the box covers the chip's contacts (ISO/IEC "
			      "7816-2: %g..%g x %g..%g mm on the front)",
			      CONTACT_X0, CONTACT_X1, CONTACT_Y0, CONTACT_Y1);
	}
}

/* ---------------------------------------------------------------- budget */

static void compute_budget(profile_t *p)
{
	profile_budget_t *b = &p->budget;
	memset(b, 0, sizeof *b);
	b->kind = p->info.kind;
	if (p->info.kind == PROFILE_CHIP_COS) {
		const cos_model_t *m = p->info.cos_model;
		b->nvm_size = m->nvm_size;
		b->system = COS_SYSTEM_BYTES + COS_JOURNAL_BYTES;
		b->object_table = (uint32_t)m->max_objects * COS_SLOT_BYTES;
		b->file_table = (uint32_t)m->max_files * COS_SLOT_BYTES;
		b->capacity = b->nvm_size - b->system - b->object_table -
			      b->file_table;
		b->files_max = m->max_files;
		b->objects_max = m->max_objects;
		b->files_used = 1; /* the MF */
		for (size_t i = 0; i < NFILES(p); i++) {
			profile_file_t *f = &FILE_AT(p, i)->pub;
			f->body = profile_body_of(f->type, f->size, f->records);
			b->used += f->body;
			b->files_used++;
		}
		b->objects_used = (unsigned)(p->pins.n + p->keys.n);
	} else if (p->info.kind == PROFILE_CHIP_MEMCARD) {
		b->mem_size = MC_MEM_SIZE;
		b->prot_size = MC_PROT_BYTES;
		uint32_t m = PROFILE_MC_FAB_MASK;
		while (m) {
			b->mem_fab += m & 1u;
			m >>= 1;
		}
		b->prot_fab = b->mem_fab;
		for (size_t i = 0; i < p->areas.n; i++) {
			const profile_area_t *a = &AREA_AT(p, i)->pub;
			b->mem_used += a->length;
			if (a->protect == PROFILE_PROTECT_NO)
				continue;
			for (unsigned k = a->start;
			     k < a->start + a->length && k < MC_PROT_BYTES; k++)
				b->prot_used++;
		}
	}
}

static void check_capacity(ck_t *ck)
{
	profile_t *p = ck->p;
	profile_budget_t *b = &p->budget;
	if (p->info.kind != PROFILE_CHIP_COS)
		return;
	pos_t at = p->has_files_section ? p->files_pos : p->chip_pos;
	if (b->files_used > b->files_max)
		CERR(ck, PROFILE_ERR_CAPACITY, at, "files",
		     "%u files with the MF: chip %s's file table has %u slots",
		     b->files_used, p->info.chip, b->files_max);
	if (b->used > b->capacity)
		CERR(ck, PROFILE_ERR_CAPACITY, at, "files",
		     "the file bodies take %u bytes; chip %s has %u for "
		     "bodies (%u EEPROM - %u system area and journal - %u "
		     "object table - %u file table): %u bytes over",
		     b->used, p->info.chip, b->capacity, b->nvm_size, b->system,
		     b->object_table, b->file_table, b->used - b->capacity);
	if (b->objects_used > b->objects_max)
		CERR(ck, PROFILE_ERR_CAPACITY,
		     p->has_keys_section ? p->keys_pos : p->pins_pos, "keys",
		     "%u PINs and keys: chip %s's object table has %u slots",
		     b->objects_used, p->info.chip, b->objects_max);
}

/* ---------------------------------------------------------------- entry */

static void check_chip_sections(ck_t *ck)
{
	profile_t *p = ck->p;
	if (p->info.kind == PROFILE_CHIP_MEMCARD) {
		if (p->has_files_section)
			CERR(ck, PROFILE_ERR_FEATURE, p->files_pos, "files",
			     "chip %s is a memory card: no file system (no "
			     "DF, no EF, no cyclic file); lay out 'areas' "
			     "instead",
			     p->info.chip);
		if (p->has_pins_section)
			CERR(ck, PROFILE_ERR_FEATURE, p->pins_pos, "pins",
			     "chip %s has no PIN objects: its one secret is "
			     "the PSC ('psc')",
			     p->info.chip);
		if (p->has_keys_section)
			CERR(ck, PROFILE_ERR_FEATURE, p->keys_pos, "keys",
			     "chip %s has no keys: its one secret is the PSC "
			     "('psc')",
			     p->info.chip);
		if (p->scp03.present)
			CERR(ck, PROFILE_ERR_FEATURE, p->scp03_pos, "scp03",
			     "chip %s has no secure channel", p->info.chip);
	} else if (p->info.kind == PROFILE_CHIP_COS) {
		if (p->has_memory_section)
			CERR(ck, PROFILE_ERR_FEATURE, p->memory_pos, "areas",
			     "chip %s has a file system: lay out 'files' "
			     "(areas are a memory card's)",
			     p->info.chip);
		if (p->psc.present)
			CERR(ck, PROFILE_ERR_FEATURE, p->psc_pos, "psc",
			     "chip %s has PINs and keys, not a PSC "
			     "(a memory card's)",
			     p->info.chip);
		if (!NFILES(p))
			CERR(ck, PROFILE_ERR_MISSING,
			     p->has_files_section ? p->files_pos : TOP_POS,
			     "files",
			     "a CPU chip profile lays out its files: the MF's "
			     "DFs and EFs under 'files'");
	}
}

profile_status_t profile_check(profile_t *p, profile_diags_t *d)
{
	if (!p)
		return PROFILE_ERR_PARAM;
	profile_diags_t local;
	profile_diags_init(&local);
	if (!d)
		d = &local;
	size_t errors0 = d->errors;
	ck_t ck = { p, d, p->info.file };
	p->info.features_used = 0;

	dup_names(&ck);
	check_chip_sections(&ck);
	check_files(&ck);
	check_pins(&ck);
	check_keys(&ck);
	check_scp03(&ck);
	check_areas(&ck);
	check_fields(&ck);
	check_face(&ck);
	compute_budget(p);
	check_capacity(&ck);
	check_features(&ck, p->load_errors || d->errors > errors0);

	p->checked = 1;
	int nomem = d->nomem || profile_views(p) < 0;
	int failed = d->errors > errors0;
	profile_diags_free(&local);
	if (nomem)
		return PROFILE_ERR_NOMEM;
	return failed ? PROFILE_ERR_INVALID : PROFILE_OK;
}

profile_status_t profile_open(const char *path, profile_t **out,
			      profile_diags_t *d)
{
	if (!path || !out)
		return PROFILE_ERR_PARAM;
	*out = NULL;
	profile_t *p = NULL;
	profile_status_t st = profile_load_file(path, &p, d);
	if (p) {
		profile_status_t st2 = profile_check(p, d);
		if (st == PROFILE_OK)
			st = st2;
	}
	if (st != PROFILE_OK) {
		profile_free(p);
		return st;
	}
	*out = p;
	return PROFILE_OK;
}

/* ---------------------------------------------------------------- accessors */

const profile_info_t *profile_info(const profile_t *p)
{
	return p ? &p->info : NULL;
}

#define ACCESSOR(fn, type, view, vec)                 \
	const type *fn(const profile_t *p, size_t *n) \
	{                                             \
		if (n)                                \
			*n = p ? p->vec.n : 0;        \
		return p ? p->view : NULL;            \
	}
ACCESSOR(profile_files, profile_file_t, file_view, files)
ACCESSOR(profile_pins, profile_pin_t, pin_view, pins)
ACCESSOR(profile_keys, profile_key_t, key_view, keys)
ACCESSOR(profile_areas, profile_area_t, area_view, areas)
ACCESSOR(profile_fields, profile_field_t, field_view, fields)
#undef ACCESSOR

int profile_file_find(const profile_t *p, const char *name)
{
	return p ? find_file(p, name) : -1;
}

int profile_pin_find(const profile_t *p, const char *name)
{
	return p ? find_pin(p, name) : -1;
}

int profile_key_find(const profile_t *p, const char *name)
{
	return p ? find_key(p, name) : -1;
}

int profile_field_find(const profile_t *p, const char *name)
{
	return p ? find_field(p, name) : -1;
}

const profile_scp03_t *profile_scp03(const profile_t *p)
{
	return p ? &p->scp03 : NULL;
}

const profile_psc_t *profile_psc(const profile_t *p)
{
	return p ? &p->psc : NULL;
}

const profile_face_t *profile_face(const profile_t *p)
{
	return p ? &p->face : NULL;
}

profile_status_t profile_budget(const profile_t *p, profile_budget_t *b)
{
	if (!p || !b)
		return PROFILE_ERR_PARAM;
	if (!p->checked) {
		/* a budget without the checker's diagnostics */
		profile_t *q = (profile_t *)p;
		compute_budget(q);
	}
	*b = p->budget;
	return PROFILE_OK;
}

/* ---------------------------------------------------------------- encoding */

size_t profile_file_path(const profile_t *p, size_t i, uint8_t *out, size_t cap)
{
	if (!p || i >= NFILES(p) || !out)
		return 0;
	int chain[COS_MAX_DEPTH + 32];
	size_t n = 0;
	for (int k = (int)i; k >= 0 && n < sizeof chain / sizeof chain[0];
	     k = FILE_AT(p, (size_t)k)->pub.parent)
		chain[n++] = k;
	if (2 * n > cap)
		return 0;
	for (size_t j = 0; j < n; j++) {
		uint16_t fid = FILE_AT(p, (size_t)chain[n - 1 - j])->pub.fid;
		out[2 * j] = (uint8_t)(fid >> 8);
		out[2 * j + 1] = (uint8_t)fid;
	}
	return 2 * n;
}

size_t profile_file_fcp(const profile_t *p, size_t i, uint8_t *out, size_t cap)
{
	if (!p || i >= NFILES(p) || !out)
		return 0;
	const profile_file_t *f = &FILE_AT(p, i)->pub;
	uint8_t b[80];
	size_t n = 2;
	switch (f->type) {
	case COS_FT_DF:
		b[n++] = 0x82, b[n++] = 1, b[n++] = 0x38;
		break;
	case COS_FT_EF_TRANSPARENT:
		b[n++] = 0x82, b[n++] = 2, b[n++] = 0x01, b[n++] = 0x21;
		break;
	case COS_FT_EF_LINEAR_FIXED:
	case COS_FT_EF_LINEAR_VARIABLE:
	case COS_FT_EF_CYCLIC:
		b[n++] = 0x82, b[n++] = 5;
		b[n++] = f->type == COS_FT_EF_LINEAR_FIXED    ? 0x02 :
			 f->type == COS_FT_EF_LINEAR_VARIABLE ? 0x04 :
								0x06;
		b[n++] = 0x21;
		b[n++] = (uint8_t)(f->size >> 8);
		b[n++] = (uint8_t)f->size;
		b[n++] = f->records;
		break;
	default:
		return 0;
	}
	b[n++] = 0x83, b[n++] = 2;
	b[n++] = (uint8_t)(f->fid >> 8), b[n++] = (uint8_t)f->fid;
	if (f->type == COS_FT_EF_TRANSPARENT) {
		b[n++] = 0x80, b[n++] = 2;
		b[n++] = (uint8_t)(f->size >> 8), b[n++] = (uint8_t)f->size;
	}
	if (f->type == COS_FT_DF && f->aid_len) {
		b[n++] = 0x84, b[n++] = f->aid_len;
		memcpy(b + n, f->aid, f->aid_len);
		n += f->aid_len;
	}
	if (f->sfi && f->type != COS_FT_DF)
		b[n++] = 0x88, b[n++] = 1, b[n++] = (uint8_t)(f->sfi << 3);
	size_t l8c = n + 1;
	b[n++] = 0x8C, b[n++] = 0, b[n++] = f->am;
	for (int bit = PROFILE_OP_COUNT - 1; bit >= 0; bit--)
		if (f->am & (1u << bit))
			b[n++] = f->sc[bit];
	b[l8c] = (uint8_t)(n - l8c - 1);
	b[0] = 0x62;
	b[1] = (uint8_t)(n - 2);
	if (n > cap)
		return 0;
	memcpy(out, b, n);
	return n;
}
