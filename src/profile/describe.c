/*
 * describe.c - a profile in words: the memory budget table that
 * `cardfab profile check` prints, and the whole design (`cardfab profile
 * show`): chip, file tree with access conditions in the profile's own
 * notation, PIN and key objects (never a value), the SCP03 key set, the
 * memory card's areas, the fields with where each goes, the card face.
 */
#define _POSIX_C_SOURCE 200809L

#include <string.h>

#include "profile/profile_int.h"

const char *profile_ac_text(uint8_t sc, char *out, size_t cap)
{
	if (!out || cap == 0)
		return "";
	if (sc == COS_AC_ALWAYS) {
		snprintf(out, cap, "always");
		return out;
	}
	if (sc == COS_AC_NEVER) {
		snprintf(out, cap, "never");
		return out;
	}
	char terms[3][16];
	int n = 0;
	if (sc & COS_AC_PIN)
		snprintf(terms[n++], sizeof terms[0], "pin:%u", COS_AC_REF(sc));
	if (sc & COS_AC_KEY)
		snprintf(terms[n++], sizeof terms[0], "key:%u", COS_AC_REF(sc));
	if (sc & COS_AC_SM)
		snprintf(terms[n++], sizeof terms[0], "sm");
	if (n == 0) {
		snprintf(out, cap, "never (%02X)", sc);
		return out;
	}
	if (n == 1 && !(sc & COS_AC_ALL)) {
		snprintf(out, cap, "%s", terms[0]);
		return out;
	}
	char list[48];
	size_t o = 0;
	list[0] = 0;
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
				      i ? ", " : "", terms[i]);
	if (sc & COS_AC_ALL)
		snprintf(out, cap, "{all: [%s]}", list);
	else
		snprintf(out, cap, "[%s]", list);
	return out;
}

static double pct(uint32_t part, uint32_t whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

void profile_print_budget(FILE *f, const profile_t *p, const char *in)
{
	profile_budget_t b;
	if (!f || !p || profile_budget(p, &b) != PROFILE_OK)
		return;
	if (!in)
		in = "";
	if (b.kind == PROFILE_CHIP_COS) {
		const cos_model_t *m = p->info.cos_model;
		fprintf(f, "%schip %s: %s\n", in, m->name, m->summary);
		fprintf(f, "%s%-34s %8s %7s\n", in, "EEPROM", "bytes", "%");
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in, "  total", b.nvm_size,
			100.0);
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in,
			"  system area + journal", b.system,
			pct(b.system, b.nvm_size));
		char label[64];
		snprintf(label, sizeof label, "  object table (%u x 48)",
			 b.objects_max);
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in, label, b.object_table,
			pct(b.object_table, b.nvm_size));
		snprintf(label, sizeof label, "  file table (%u x 48)",
			 b.files_max);
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in, label, b.file_table,
			pct(b.file_table, b.nvm_size));
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in,
			"  file bodies: capacity", b.capacity,
			pct(b.capacity, b.nvm_size));
		fprintf(f, "%s%-34s %8u %6.1f%% of bodies\n", in,
			"    used by the profile", b.used,
			pct(b.used, b.capacity));
		if (b.used <= b.capacity)
			fprintf(f, "%s%-34s %8u %6.1f%% of bodies\n", in,
				"    free", b.capacity - b.used,
				pct(b.capacity - b.used, b.capacity));
		else
			fprintf(f, "%s%-34s %8u  OVER CAPACITY\n", in,
				"    over", b.used - b.capacity);
		fprintf(f, "%s%-34s %4u of %u%s\n", in,
			"file table slots (MF included)", b.files_used,
			b.files_max,
			b.files_used > b.files_max ? "  OVER" : "");
		fprintf(f, "%s%-34s %4u of %u%s\n", in,
			"object slots (PINs and keys)", b.objects_used,
			b.objects_max,
			b.objects_used > b.objects_max ? "  OVER" : "");
	} else if (b.kind == PROFILE_CHIP_MEMCARD) {
		fprintf(f, "%schip %s: SLE4442-compatible memory card\n", in,
			p->info.chip);
		fprintf(f, "%s%-34s %8s %7s\n", in, "main memory", "bytes",
			"%");
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in, "  total", b.mem_size,
			100.0);
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in,
			"  the fab's (ATR, ids, serial)", b.mem_fab,
			pct(b.mem_fab, b.mem_size));
		fprintf(f, "%s%-34s %8u %6.1f%%\n", in, "  data areas",
			b.mem_used, pct(b.mem_used, b.mem_size));
		unsigned taken = b.mem_fab + b.mem_used;
		if (taken <= b.mem_size)
			fprintf(f, "%s%-34s %8u %6.1f%%\n", in, "  free",
				b.mem_size - taken,
				pct(b.mem_size - taken, b.mem_size));
		else
			fprintf(f, "%s%-34s %8u  OVER CAPACITY\n", in, "  over",
				taken - b.mem_size);
		fprintf(f, "%s%-34s %8s\n", in, "protection bits (bytes 0..31)",
			"bytes");
		fprintf(f, "%s%-34s %8u\n", in, "  total", b.prot_size);
		fprintf(f, "%s%-34s %8u\n", in, "  the fab's", b.prot_fab);
		fprintf(f, "%s%-34s %8u\n", in, "  protected by the profile",
			b.prot_used);
		unsigned pt = b.prot_fab + b.prot_used;
		fprintf(f, "%s%-34s %8u\n", in, "  left",
			pt <= b.prot_size ? b.prot_size - pt : 0);
	} else {
		fprintf(f, "%sno budget: unknown chip\n", in);
	}
}

static const char *ftype(cos_file_type_t t)
{
	switch (t) {
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
	default:
		return "?";
	}
}

static void print_hex(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02X", p[i]);
}

static const char *alg_name(profile_alg_t a)
{
	switch (a) {
	case PROFILE_ALG_AES128:
		return "aes128";
	case PROFILE_ALG_AES192:
		return "aes192";
	case PROFILE_ALG_AES256:
		return "aes256";
	case PROFILE_ALG_3DES2:
		return "3des2";
	case PROFILE_ALG_3DES3:
		return "3des3";
	}
	return "?";
}

static const char *div_name(profile_div_t m)
{
	switch (m) {
	case PROFILE_DIV_NONE:
		return "none";
	case PROFILE_DIV_AES_ECB_SERIAL:
		return "aes-ecb-serial";
	case PROFILE_DIV_3DES_SERIAL:
		return "3des-serial";
	}
	return "?";
}

static const char *pin_fmt(profile_pin_format_t fm)
{
	switch (fm) {
	case PROFILE_PIN_ASCII_NUMERIC:
		return "ascii-numeric";
	case PROFILE_PIN_ASCII:
		return "ascii";
	case PROFILE_PIN_BCD:
		return "bcd";
	case PROFILE_PIN_ISO9564_2:
		return "iso9564-2";
	}
	return "?";
}

static const char *field_type(profile_field_type_t t)
{
	static const char *const n[] = { "?",	   "text",   "digits", "date",
					 "amount", "number", "bytes" };
	return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

static const char *owner_name(const profile_t *p, int df)
{
	size_t n;
	const profile_file_t *fs = profile_files(p, &n);
	if (df < 0 || (size_t)df >= n)
		return "global";
	return fs[df].name;
}

static void print_files(FILE *f, const profile_t *p)
{
	size_t n;
	const profile_file_t *fs = profile_files(p, &n);
	fprintf(f, "files (FID, name, type, size, SFI; access conditions; "
		   "body bytes)\n");
	fprintf(f, "  3F00 MF  A000000151000000  (structure changes: sm)\n");
	for (size_t i = 0; i < n; i++) {
		const profile_file_t *x = &fs[i];
		int df = x->type == COS_FT_DF;
		unsigned ind = 2 + 2 * x->depth;
		fprintf(f, "%*s%04X %s  %s", ind, "", x->fid, x->name,
			ftype(x->type));
		if (df) {
			fputs("  ", f);
			print_hex(f, x->aid, x->aid_len);
		} else if (x->type == COS_FT_EF_TRANSPARENT) {
			fprintf(f, " %u bytes", x->size);
		} else {
			fprintf(f, " %u x %u", x->records, x->size);
		}
		if (x->sfi)
			fprintf(f, "  SFI %u", x->sfi);
		if (!df)
			fprintf(f, "  [%u]", x->body);
		fputc('\n', f);
		fprintf(f, "%*s", ind + 5, "");
		int first = 1;
		for (unsigned op = 0; op < PROFILE_OP_COUNT; op++) {
			char buf[48];
			const char *t = (x->am & (1u << op)) ?
						profile_ac_text(x->sc[op], buf,
								sizeof buf) :
						"never";
			fprintf(f, "%s%s: %s", first ? "" : "  ",
				profile_op_name(df, op), t);
			first = 0;
		}
		fputc('\n', f);
	}
}

void profile_print(FILE *f, const profile_t *p)
{
	if (!f || !p)
		return;
	const profile_info_t *in = profile_info(p);
	fprintf(f, "profile %s: %s\n", in->name,
		in->description[0] ? in->description : "(no description)");
	fprintf(f, "chip %s", in->chip);
	if (in->cos_model)
		fprintf(f, " (%s)", in->cos_model->summary);
	fputc('\n', f);
	fputs("features:", f);
	for (unsigned i = 0; i < PROFILE_FEAT_COUNT; i++)
		if (in->features & (1u << i))
			fprintf(f, " %s", profile_feature_names[i]);
	fputc('\n', f);

	if (in->kind == PROFILE_CHIP_COS) {
		print_files(f, p);
		size_t n;
		const profile_pin_t *pins = profile_pins(p, &n);
		if (n)
			fputs("PINs\n", f);
		for (size_t i = 0; i < n; i++) {
			const profile_pin_t *x = &pins[i];
			fprintf(f,
				"  %02u %s  %s, %u bytes %s pad %02X, %u-%u "
				"digits, %u tries",
				x->ref, x->name, owner_name(p, x->df),
				x->length, pin_fmt(x->format), x->pad,
				x->min_digits, x->max_digits, x->tries);
			if (x->puk >= 0)
				fprintf(f, ", PUK %s", pins[x->puk].name);
			switch (x->source) {
			case PROFILE_SRC_HOLDER_FIELD: {
				size_t nf;
				const profile_field_t *fl =
					profile_fields(p, &nf);
				fprintf(f, ", value from field %s",
					x->field >= 0 ? fl[x->field].name :
							"?");
				break;
			}
			case PROFILE_SRC_RANDOM:
				fprintf(f, ", value random %u digits",
					x->random_digits);
				break;
			case PROFILE_SRC_FIXED:
				fputs(", value fixed (test)", f);
				break;
			default:
				break;
			}
			fputc('\n', f);
		}
		const profile_key_t *keys = profile_keys(p, &n);
		if (n)
			fputs("keys\n", f);
		for (size_t i = 0; i < n; i++) {
			const profile_key_t *x = &keys[i];
			fprintf(f, "  %02u %s  %s, kvn 0x%02X, %s, usage",
				x->ref, x->name, owner_name(p, x->df), x->kvn,
				alg_name(x->alg));
			if (x->usage & COS_KEY_USE_AUTH)
				fputs(" auth", f);
			if (x->usage & COS_KEY_USE_CRYPTO)
				fputs(" internal-auth", f);
			if (x->usage & COS_KEY_USE_SCP03)
				fprintf(f, " scp03-%s",
					x->ref == 1 ? "enc" :
					x->ref == 2 ? "mac" :
						      "dek");
			if (x->master)
				fprintf(f, ", from %s by %s", x->master,
					div_name(x->method));
			else
				fputs(", fixed (test)", f);
			fputc('\n', f);
		}
		const profile_scp03_t *s = profile_scp03(p);
		if (s->present)
			fprintf(f, "scp03: key set 0x%02X, level %02X\n",
				s->kvn, s->level);
	} else if (in->kind == PROFILE_CHIP_MEMCARD) {
		size_t n;
		const profile_area_t *a = profile_areas(p, &n);
		fputs("areas (bytes, protection)\n", f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "  %3u..%3u %s  %s%s\n", a[i].start,
				a[i].start + a[i].length - 1, a[i].name,
				a[i].protect == PROFILE_PROTECT_INIT ?
					"protected at initialization" :
				a[i].protect == PROFILE_PROTECT_PERSO ?
					"protected after personalization" :
					"writable with the PSC",
				a[i].data ? ", data written at initialization" :
					    "");
		}
		const profile_psc_t *psc = profile_psc(p);
		if (psc->present)
			fprintf(f, "psc: %s%s%s\n",
				psc->master ? psc->master : "fixed (test)",
				psc->master ? " by " : "",
				psc->master ? div_name(psc->method) : "");
	}

	size_t n;
	const profile_field_t *fl = profile_fields(p, &n);
	size_t nfiles;
	const profile_file_t *fs = profile_files(p, &nfiles);
	size_t nareas;
	const profile_area_t *as = profile_areas(p, &nareas);
	if (n)
		fputs("fields (type, length, flags: where)\n", f);
	for (size_t i = 0; i < n; i++) {
		const profile_field_t *x = &fl[i];
		const profile_place_t *pl = &x->place;
		fprintf(f, "  %s  %s", x->name, field_type(x->type));
		if (x->max_length)
			fprintf(f, " %u..%u", x->min_length, x->max_length);
		fprintf(f, "%s%s%s%s: ", x->required ? " required" : "",
			x->trace ? " trace" : "", x->secret ? " secret" : "",
			x->unique ? " unique" : "");
		const char *fname = pl->file >= 0 && (size_t)pl->file < nfiles ?
					    fs[pl->file].name :
					    "?";
		switch (pl->kind) {
		case PROFILE_PLACE_NONE:
			fputs("not written", f);
			break;
		case PROFILE_PLACE_BINARY:
			fprintf(f, "%s bytes %u..%u", fname, pl->offset,
				pl->offset + pl->width - 1);
			break;
		case PROFILE_PLACE_RECORD:
			fprintf(f, "%s record %u bytes %u..%u", fname,
				pl->record, pl->offset,
				pl->offset + pl->width - 1);
			break;
		case PROFILE_PLACE_TLV:
			fprintf(f, "%s", fname);
			if (pl->record)
				fprintf(f, " record %u", pl->record);
			if (pl->offset)
				fprintf(f, " from byte %u", pl->offset);
			fputs(" TLV", f);
			for (unsigned k = 0; k < pl->ntags; k++)
				fprintf(f, " %X", pl->tags[k]);
			break;
		case PROFILE_PLACE_AREA:
			if (pl->area >= 0 && (size_t)pl->area < nareas)
				fprintf(f, "area %s bytes %u..%u",
					as[pl->area].name,
					as[pl->area].start + pl->offset,
					as[pl->area].start + pl->offset +
						pl->width - 1);
			break;
		}
		fputc('\n', f);
	}
	const profile_face_t *face = profile_face(p);
	if (face->n)
		fprintf(f, "face (%g x %g mm)\n", face->width, face->height);
	for (size_t i = 0; i < face->n; i++) {
		const profile_face_item_t *x = &face->items[i];
		fprintf(f, "  %s %g,%g %gx%g mm  ", x->back ? "back " : "front",
			x->x, x->y, x->w, x->h);
		if (x->field >= 0 && (size_t)x->field < n)
			fprintf(f, "field %s\n", fl[x->field].name);
		else
			fprintf(f, "\"%s\"\n", x->text ? x->text : "");
	}
}
