/*
 * fs.c - the ISO/IEC 7816-4 file system: MF, DFs with names, transparent,
 * linear fixed, linear variable and cyclic EFs; SELECT and its FCP/FCI/FMD;
 * the binary and record commands; CREATE/DELETE FILE and the file life cycle
 * commands (ISO/IEC 7816-9).
 *
 * The file table is an array of fs_entry_t in NVM; slot 0 is the MF; a file
 * names its parent by slot. Bodies are contiguous extents of the body area,
 * allocated first fit at CREATE FILE and zeroed before the entry that owns
 * them is committed, so a file never shows a former file's bytes.
 *
 * Record storage: linear fixed and cyclic keep max_rec slots of `size`
 * bytes; linear variable keeps max_rec slots of a length byte and `size`
 * bytes. A cyclic file's `head` is the slot of record 1, the most recent.
 */
#include "cos_int.h"

#define FDB_DF 0x38
#define E_FID(p) ((uint16_t)((p)[0] | (p)[1] << 8)) /* little-endian */
#define E_TYPE(p) ((p)[2])
#define E_PARENT(p) ((p)[3])

/* Operation bits of the access mode byte (cos.h), as indices. */
enum { OP_READ = 0, OP_UPDATE = 1, OP_APPEND = 2, OP_DEACTIVATE = 3,
       OP_ACTIVATE = 4, OP_TERMINATE = 5, OP_DELETE_SELF = 6 };
enum { OP_DELETE_CHILD = 0, OP_CREATE_EF = 1, OP_CREATE_DF = 2 };

const uint8_t *fs_raw(const cos_ctx_t *c, uint8_t slot)
{
	return c->hal->nvm + c->sys.file_off + (uint32_t)slot * sizeof(fs_entry_t);
}

void fs_read(const cos_ctx_t *c, uint8_t slot, fs_entry_t *e)
{
	cf_memcpy(e, fs_raw(c, slot), sizeof *e);
}

void fs_stage(cos_ctx_t *c, uint8_t slot, const fs_entry_t *e)
{
	nvm_stage(c, c->sys.file_off + (uint32_t)slot * sizeof(fs_entry_t), e,
		  sizeof *e);
}

int fs_is_df(const fs_entry_t *e)
{
	return e->type == COS_FT_MF || e->type == COS_FT_DF;
}

static int is_record(uint8_t type)
{
	return type == COS_FT_EF_LINEAR_FIXED ||
	       type == COS_FT_EF_LINEAR_VARIABLE || type == COS_FT_EF_CYCLIC;
}

void fs_make_mf(fs_entry_t *mf)
{
	static const uint8_t isd[] = {0xA0, 0x00, 0x00, 0x01,
				      0x51, 0x00, 0x00, 0x00};
	cf_memset(mf, 0, sizeof *mf);
	mf->fid = 0x3F00;
	mf->type = COS_FT_MF;
	mf->parent = NO_FILE;
	mf->lcs = 0x05;
	/* After issuance the card's structure changes only through the
	 * issuer's secure channel. */
	mf->am = 0x7F;
	cf_memset(mf->ac, COS_AC_SM, sizeof mf->ac);
	mf->aid_len = sizeof isd;
	cf_memcpy(mf->aid, isd, sizeof isd);
}

uint8_t fs_lcs(const cos_ctx_t *c, uint8_t slot)
{
	if (slot == 0)
		return lc_mf_lcs(c->sys.lc, c->sys.locked);
	const uint8_t *p = fs_raw(c, slot);
	uint8_t own = p[4];
	for (unsigned d = 0; d < MAX_DEPTH + 1; d++) {
		uint8_t parent = E_PARENT(p);
		if (parent == 0 || parent == NO_FILE)
			break;
		p = fs_raw(c, parent);
		if (p[4] >= 0x0C)
			return 0x0C;
	}
	return own;
}

/* Is `node` (a DF slot) df itself or one of its ancestors? */
int fs_on_path(const cos_ctx_t *c, uint8_t df, uint8_t node)
{
	for (unsigned d = 0; d < MAX_DEPTH + 2 && df != NO_FILE; d++) {
		if (df == node)
			return 1;
		df = E_PARENT(fs_raw(c, df));
	}
	return 0;
}

static unsigned depth_of(const cos_ctx_t *c, uint8_t slot)
{
	unsigned d = 0;
	while (slot != 0 && slot != NO_FILE && d <= MAX_DEPTH + 1) {
		slot = E_PARENT(fs_raw(c, slot));
		d++;
	}
	return d;
}

uint32_t fs_used(const cos_ctx_t *c, uint8_t *files)
{
	uint32_t used = 0;
	uint8_t n = 0;
	fs_entry_t e;
	for (uint8_t i = 0; i < c->sys.max_files; i++) {
		fs_read(c, i, &e);
		if (!e.type)
			continue;
		n++;
		used += e.data_len;
	}
	if (files)
		*files = n;
	return used;
}

static void fs_set_df(cos_ctx_t *c, uint8_t df)
{
	uint8_t old = c->cur_df;
	c->cur_df = df;
	c->cur_ef = NO_FILE;
	c->rec = 0;
	if (old != df)
		sec_df_changed(c);
}

static void select_ef(cos_ctx_t *c, uint8_t slot)
{
	uint8_t parent = E_PARENT(fs_raw(c, slot));
	if (parent != c->cur_df)
		fs_set_df(c, parent);
	c->cur_ef = slot;
	c->rec = 0;
}

/* ---- lookups ---- */

static uint8_t find_child(const cos_ctx_t *c, uint8_t df, uint16_t fid)
{
	for (uint8_t i = 1; i < c->sys.max_files; i++) {
		const uint8_t *p = fs_raw(c, i);
		if (E_TYPE(p) && E_PARENT(p) == df && E_FID(p) == fid)
			return i;
	}
	return NO_FILE;
}

static uint8_t find_sfi(const cos_ctx_t *c, uint8_t df, uint8_t sfi)
{
	for (uint8_t i = 1; i < c->sys.max_files; i++) {
		const uint8_t *p = fs_raw(c, i);
		if (E_TYPE(p) && E_PARENT(p) == df && p[5] == sfi &&
		    E_TYPE(p) != COS_FT_DF)
			return i;
	}
	return NO_FILE;
}

/* FID search of SELECT with P1 = 00 (ISO/IEC 7816-4 7.1.1): the MF, the
 * current DF, its children, its parent, the parent's children. */
static uint8_t find_fid(const cos_ctx_t *c, uint16_t fid)
{
	if (fid == 0x3F00)
		return 0;
	if (E_FID(fs_raw(c, c->cur_df)) == fid)
		return c->cur_df;
	uint8_t s = find_child(c, c->cur_df, fid);
	if (s != NO_FILE)
		return s;
	uint8_t parent = E_PARENT(fs_raw(c, c->cur_df));
	if (parent == NO_FILE)
		return NO_FILE;
	if (E_FID(fs_raw(c, parent)) == fid)
		return parent;
	return find_child(c, parent, fid);
}

static uint8_t find_path(const cos_ctx_t *c, uint8_t from, const uint8_t *p,
			 size_t n)
{
	if (n == 0 || n % 2)
		return NO_FILE;
	uint8_t cur = from;
	for (size_t i = 0; i < n; i += 2) {
		uint16_t fid = cos_get16(p + i);
		if (i == 0 && from == 0 && fid == 0x3F00)
			continue;
		if (fid == 0x3FFF && i == 0)
			continue; /* current DF */
		const uint8_t *e = fs_raw(c, cur);
		if (E_TYPE(e) != COS_FT_MF && E_TYPE(e) != COS_FT_DF)
			return NO_FILE;
		cur = find_child(c, cur, fid);
		if (cur == NO_FILE)
			return NO_FILE;
	}
	return cur;
}

/* DF name, prefix match, in table order, after slot `after` (NO_FILE: from
 * the start). */
static uint8_t find_name(const cos_ctx_t *c, const uint8_t *name, size_t n,
			 uint8_t after)
{
	uint8_t start = after == NO_FILE ? 0 : (uint8_t)(after + 1);
	fs_entry_t e;
	for (uint8_t i = start; i < c->sys.max_files; i++) {
		const uint8_t *p = fs_raw(c, i);
		if (E_TYPE(p) != COS_FT_DF && E_TYPE(p) != COS_FT_MF)
			continue;
		fs_read(c, i, &e);
		if (e.aid_len >= n && cf_memcmp(e.aid, name, n) == 0)
			return i;
	}
	return NO_FILE;
}

/* ---- FCP ---- */

static uint32_t subtree_alloc(const cos_ctx_t *c, uint8_t df)
{
	uint32_t sum = 0;
	fs_entry_t e;
	for (uint8_t i = 1; i < c->sys.max_files; i++) {
		fs_read(c, i, &e);
		if (e.type && e.data_len && fs_on_path(c, e.parent, df))
			sum += e.data_len;
	}
	return sum;
}

static uint8_t fdb_of(uint8_t type)
{
	switch (type) {
	case COS_FT_MF:
	case COS_FT_DF: return FDB_DF;
	case COS_FT_EF_TRANSPARENT: return 0x01;
	case COS_FT_EF_LINEAR_FIXED: return 0x02;
	case COS_FT_EF_LINEAR_VARIABLE: return 0x04;
	case COS_FT_EF_CYCLIC: return 0x06;
	}
	return 0;
}

/* The FCP objects of a file (without the template tag). */
static size_t fcp_objects(const cos_ctx_t *c, uint8_t slot, uint8_t *out,
			  size_t cap)
{
	fs_entry_t e;
	fs_read(c, slot, &e);
	uint8_t v[20];
	size_t pos = 0;
	int df = fs_is_df(&e);
	if (!df) {
		uint32_t data = e.type == COS_FT_EF_TRANSPARENT
					? e.size
					: (uint32_t)e.size * e.max_rec;
		cos_put16(v, (uint16_t)data);
		cos_tlv_put(out, cap, &pos, 0x80, v, 2);
		cos_put16(v, (uint16_t)e.data_len);
	} else {
		cos_put16(v, (uint16_t)subtree_alloc(c, slot));
	}
	cos_tlv_put(out, cap, &pos, 0x81, v, 2);
	v[0] = fdb_of(e.type);
	v[1] = 0x21;
	if (is_record(e.type)) {
		cos_put16(v + 2, e.size);
		v[4] = e.max_rec;
		cos_tlv_put(out, cap, &pos, 0x82, v, 5);
	} else {
		cos_tlv_put(out, cap, &pos, 0x82, v, df ? 1 : 2);
	}
	cos_put16(v, e.fid);
	cos_tlv_put(out, cap, &pos, 0x83, v, 2);
	if (df && e.aid_len)
		cos_tlv_put(out, cap, &pos, 0x84, e.aid, e.aid_len);
	if (e.sfi) {
		v[0] = (uint8_t)(e.sfi << 3);
		cos_tlv_put(out, cap, &pos, 0x88, v, 1);
	}
	v[0] = fs_lcs(c, slot);
	cos_tlv_put(out, cap, &pos, 0x8A, v, 1);
	size_t n = 0;
	v[n++] = e.am;
	for (int bit = 6; bit >= 0; bit--)
		if (e.am & (1u << bit))
			v[n++] = e.ac[bit];
	cos_tlv_put(out, cap, &pos, 0x8C, v, n);
	return pos;
}

static void respond_fci(cos_ctx_t *c, uint8_t slot, uint8_t p2)
{
	uint8_t tmp[128];
	size_t n = 0, pos = 0;
	switch (p2 & 0x0C) {
	case 0x00:
	case 0x04:
		n = fcp_objects(c, slot, tmp, sizeof tmp);
		cos_tlv_put(c->rbuf, sizeof c->rbuf, &pos,
			    (p2 & 0x0C) ? 0x62 : 0x6F, tmp, n);
		break;
	case 0x08: {
		fs_entry_t e;
		fs_read(c, slot, &e);
		if (fs_is_df(&e) && e.aid_len)
			cos_tlv_put(tmp, sizeof tmp, &n, 0x84, e.aid, e.aid_len);
		cos_tlv_put(c->rbuf, sizeof c->rbuf, &pos, 0x64, tmp, n);
		break;
	}
	default:
		break;
	}
	c->rlen = pos;
}

/* ---- SELECT ---- */

uint16_t cmd_select(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot = NO_FILE;
	const uint8_t *d = a->data;
	size_t n = a->nc;
	uint8_t occ = a->p2 & 0x03;

	if (a->p2 & 0xF0)
		return SW_BAD_P1P2;
	if (occ && !(a->p1 == 0x04 && occ == 0x02))
		return SW_BAD_P1P2;

	switch (a->p1) {
	case 0x00:
		if (n == 0)
			slot = 0;
		else if (n == 2)
			slot = find_fid(c, cos_get16(d));
		else
			return SW_WRONG_LENGTH;
		break;
	case 0x01:
	case 0x02:
		if (n != 2)
			return SW_WRONG_LENGTH;
		slot = find_child(c, c->cur_df, cos_get16(d));
		if (slot != NO_FILE) {
			int df = E_TYPE(fs_raw(c, slot)) == COS_FT_DF;
			if ((a->p1 == 0x01) != df)
				slot = NO_FILE;
		}
		break;
	case 0x03:
		if (n != 0)
			return SW_WRONG_LENGTH;
		slot = E_PARENT(fs_raw(c, c->cur_df));
		break;
	case 0x04:
		if (n == 0) {
			slot = 0;
		} else if (n > COS_AID_MAX) {
			return SW_WRONG_LENGTH;
		} else {
			uint8_t after = occ == 0x02 ? c->name_match : NO_FILE;
			if (occ == 0x02 && after == NO_FILE)
				return SW_NOT_FOUND;
			slot = find_name(c, d, n, after);
		}
		break;
	case 0x08:
	case 0x09:
		if (n == 0 || n % 2)
			return SW_WRONG_LENGTH;
		slot = find_path(c, a->p1 == 0x08 ? 0 : c->cur_df, d, n);
		break;
	default:
		return SW_BAD_P1P2;
	}
	if (slot == NO_FILE)
		return SW_NOT_FOUND;

	const uint8_t *p = fs_raw(c, slot);
	if (E_TYPE(p) == COS_FT_MF || E_TYPE(p) == COS_FT_DF)
		fs_set_df(c, slot);
	else
		select_ef(c, slot);
	c->name_match = a->p1 == 0x04 && n ? slot : NO_FILE;

	respond_fci(c, slot, a->p2);
	/* The MF reports the card: deactivated while the card is locked. */
	uint8_t lcs = fs_lcs(c, slot);
	if (lcs >= 0x0C)
		return SW_TERMINATED;
	if ((lcs & 0x05) == 0x04)
		return SW_DEACTIVATED;
	return SW_OK;
}

/* ---- EF resolution for the data commands ---- */

/* A file usable for data access: activated, not terminated. */
static uint16_t usable(const cos_ctx_t *c, uint8_t slot)
{
	uint8_t lcs = fs_lcs(c, slot);
	if (lcs >= 0x0C || (lcs & 0x05) == 0x04)
		return SW_CONDITIONS;
	return SW_OK;
}

/* READ/UPDATE/ERASE BINARY: P1 b8 = 1: SFI in b5-b1, offset P2. */
static uint16_t binary_target(cos_ctx_t *c, const apdu_t *a, uint8_t *slot,
			      uint32_t *off)
{
	if (a->p1 & 0x80) {
		if (a->p1 & 0x60)
			return SW_BAD_P1P2;
		uint8_t s = find_sfi(c, c->cur_df, a->p1 & 0x1F);
		if (s == NO_FILE)
			return SW_NOT_FOUND;
		select_ef(c, s);
		*off = a->p2;
	} else {
		if (c->cur_ef == NO_FILE)
			return SW_NO_EF;
		*off = (uint32_t)(a->p1 << 8 | a->p2);
	}
	*slot = c->cur_ef;
	if (E_TYPE(fs_raw(c, *slot)) != COS_FT_EF_TRANSPARENT)
		return SW_INCOMPATIBLE;
	return usable(c, *slot);
}

uint16_t cmd_read_binary(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	uint32_t off;
	if (a->nc)
		return SW_WRONG_LENGTH;
	uint16_t sw = binary_target(c, a, &slot, &off);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_READ, a, 0);
	if (sw != SW_OK)
		return sw;
	if (!a->has_le)
		return SW_WRONG_LENGTH;
	fs_entry_t e;
	fs_read(c, slot, &e);
	if (off >= e.size)
		return SW_WRONG_OFFSET;
	size_t want = a->ne > COS_APDU_MAX_DATA ? COS_APDU_MAX_DATA : a->ne;
	size_t n = e.size - off < want ? e.size - off : want;
	cf_memcpy(c->rbuf, c->hal->nvm + e.data_off + off, n);
	c->rlen = n;
	return n < a->ne && n < COS_APDU_MAX_DATA ? SW_EOF : SW_OK;
}

uint16_t cmd_update_binary(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	uint32_t off;
	if (!a->nc)
		return SW_WRONG_LENGTH;
	uint16_t sw = binary_target(c, a, &slot, &off);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_UPDATE, a, 1);
	if (sw != SW_OK)
		return sw;
	fs_entry_t e;
	fs_read(c, slot, &e);
	if (off > e.size)
		return SW_WRONG_OFFSET;
	if (off + a->nc > e.size)
		return SW_NO_MEMORY;
	nvm_begin(c);
	nvm_stage(c, e.data_off + off, a->data, (uint32_t)a->nc);
	return nvm_commit(c);
}

uint16_t cmd_erase_binary(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	uint32_t off;
	uint16_t sw = binary_target(c, a, &slot, &off);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_UPDATE, a, 1);
	if (sw != SW_OK)
		return sw;
	fs_entry_t e;
	fs_read(c, slot, &e);
	uint32_t end = e.size;
	if (a->nc == 2)
		end = cos_get16(a->data);
	else if (a->nc)
		return SW_WRONG_LENGTH;
	if (off > e.size || end > e.size)
		return SW_WRONG_OFFSET;
	if (end < off)
		return SW_BAD_DATA;
	nvm_begin(c);
	nvm_stage_zero(c, e.data_off + off, end - off);
	return nvm_commit(c);
}

/* ---- records ---- */

static uint16_t record_target(cos_ctx_t *c, const apdu_t *a, uint8_t *slot,
			      fs_entry_t *e)
{
	uint8_t sfi = a->p2 >> 3;
	if (sfi == 0x1F)
		return SW_BAD_P1P2;
	if (sfi) {
		uint8_t s = find_sfi(c, c->cur_df, sfi);
		if (s == NO_FILE)
			return SW_NOT_FOUND;
		if (s != c->cur_ef)
			select_ef(c, s);
	} else if (c->cur_ef == NO_FILE) {
		return SW_NO_EF;
	}
	*slot = c->cur_ef;
	fs_read(c, *slot, e);
	if (!is_record(e->type))
		return SW_INCOMPATIBLE;
	return usable(c, *slot);
}

/* NVM offset of the slot holding record number n (1..nrec). */
static uint32_t rec_addr(const fs_entry_t *e, unsigned n)
{
	unsigned idx = n - 1;
	if (e->type == COS_FT_EF_CYCLIC)
		idx = (e->head + e->max_rec - (n - 1)) % e->max_rec;
	uint32_t stride = e->size + (e->type == COS_FT_EF_LINEAR_VARIABLE);
	return e->data_off + idx * stride;
}

static const uint8_t *rec_data(const cos_ctx_t *c, const fs_entry_t *e,
			       unsigned n, size_t *len)
{
	const uint8_t *p = c->hal->nvm + rec_addr(e, n);
	if (e->type == COS_FT_EF_LINEAR_VARIABLE) {
		*len = p[0] <= e->size ? p[0] : e->size;
		return p + 1;
	}
	*len = e->size;
	return p;
}

static int rec_append(cos_ctx_t *c, size_t *pos, const fs_entry_t *e,
		      unsigned n)
{
	size_t len;
	const uint8_t *d = rec_data(c, e, n, &len);
	if (*pos + len > COS_APDU_MAX_DATA)
		return -1;
	cf_memcpy(c->rbuf + *pos, d, len);
	*pos += len;
	return 0;
}

uint16_t cmd_read_record(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	fs_entry_t e;
	if (a->nc)
		return SW_WRONG_LENGTH;
	uint16_t sw = record_target(c, a, &slot, &e);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_READ, a, 0);
	if (sw != SW_OK)
		return sw;
	if (!a->has_le)
		return SW_WRONG_LENGTH;
	unsigned mode = a->p2 & 0x07, n = a->p1, last = e.nrec;
	if (last == 0)
		return SW_RECORD_NOT_FOUND;
	size_t pos = 0;
	if (n == 0) {
		switch (mode) {
		case 0: n = 1; break;
		case 1: n = last; break;
		case 2: n = c->rec ? c->rec + 1u : 1; break;
		case 3: n = c->rec ? c->rec - 1u : last; break;
		case 4: n = c->rec; break;
		default: return SW_BAD_P1P2;
		}
		if (n == 0 || n > last)
			return SW_RECORD_NOT_FOUND;
		rec_append(c, &pos, &e, n);
		c->rec = (uint8_t)n;
	} else {
		if (n > last)
			return SW_RECORD_NOT_FOUND;
		switch (mode) {
		case 4:
			rec_append(c, &pos, &e, n);
			c->rec = (uint8_t)n;
			break;
		case 5:
			for (unsigned i = n; i <= last; i++)
				if (rec_append(c, &pos, &e, i) < 0)
					break;
			c->rec = (uint8_t)last;
			break;
		case 6:
			for (unsigned i = last; i >= n; i--)
				if (rec_append(c, &pos, &e, i) < 0)
					break;
			c->rec = (uint8_t)n;
			break;
		default:
			return SW_BAD_P1P2;
		}
	}
	c->rlen = pos;
	return SW_OK;
}

static uint16_t check_rec_len(const fs_entry_t *e, size_t nc)
{
	if (e->type == COS_FT_EF_LINEAR_VARIABLE)
		return nc >= 1 && nc <= e->size ? SW_OK : SW_WRONG_LENGTH;
	return nc == e->size ? SW_OK : SW_WRONG_LENGTH;
}

static void stage_record(cos_ctx_t *c, const fs_entry_t *e, unsigned n,
			 const uint8_t *d, size_t len)
{
	uint32_t addr = rec_addr(e, n);
	if (e->type == COS_FT_EF_LINEAR_VARIABLE) {
		uint8_t l = (uint8_t)len;
		nvm_stage(c, addr, &l, 1);
		addr++;
	}
	nvm_stage(c, addr, d, (uint32_t)len);
}

uint16_t cmd_update_record(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	fs_entry_t e;
	uint16_t sw = record_target(c, a, &slot, &e);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_UPDATE, a, 1);
	if (sw != SW_OK)
		return sw;
	if ((a->p2 & 0x07) != 4)
		return SW_BAD_P1P2;
	unsigned n = a->p1 ? a->p1 : c->rec;
	if (n == 0 || n > e.nrec)
		return SW_RECORD_NOT_FOUND;
	sw = check_rec_len(&e, a->nc);
	if (sw != SW_OK)
		return sw;
	nvm_begin(c);
	stage_record(c, &e, n, a->data, a->nc);
	sw = nvm_commit(c);
	if (sw == SW_OK)
		c->rec = (uint8_t)n;
	return sw;
}

uint16_t cmd_append_record(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	fs_entry_t e;
	uint16_t sw = record_target(c, a, &slot, &e);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_APPEND, a, 1);
	if (sw != SW_OK)
		return sw;
	if (a->p1 || (a->p2 & 0x07))
		return SW_BAD_P1P2;
	sw = check_rec_len(&e, a->nc);
	if (sw != SW_OK)
		return sw;
	unsigned n;
	if (e.type == COS_FT_EF_CYCLIC) {
		e.head = e.nrec ? (uint8_t)((e.head + 1) % e.max_rec) : 0;
		if (e.nrec < e.max_rec)
			e.nrec++;
		n = 1;
	} else {
		if (e.nrec >= e.max_rec)
			return SW_NO_MEMORY;
		n = ++e.nrec;
	}
	nvm_begin(c);
	stage_record(c, &e, n, a->data, a->nc);
	fs_stage(c, slot, &e);
	sw = nvm_commit(c);
	if (sw == SW_OK)
		c->rec = (uint8_t)n;
	return sw;
}

static int contains(const uint8_t *h, size_t hn, const uint8_t *s, size_t sn)
{
	if (sn > hn)
		return 0;
	for (size_t i = 0; i + sn <= hn; i++)
		if (cf_memcmp(h + i, s, sn) == 0)
			return 1;
	return 0;
}

uint16_t cmd_search_record(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	fs_entry_t e;
	uint16_t sw = record_target(c, a, &slot, &e);
	if (sw == SW_OK)
		sw = sec_access(c, slot, OP_READ, a, 0);
	if (sw != SW_OK)
		return sw;
	unsigned mode = a->p2 & 0x07;
	if (mode != 4 && mode != 5)
		return SW_BAD_P1P2;
	if (a->nc == 0)
		return SW_WRONG_LENGTH;
	unsigned last = e.nrec, n = a->p1;
	if (n > last)
		return SW_RECORD_NOT_FOUND;
	size_t pos = 0;
	if (mode == 4) {
		for (unsigned i = n ? n : 1; i <= last; i++) {
			size_t len;
			const uint8_t *d = rec_data(c, &e, i, &len);
			if (contains(d, len, a->data, a->nc))
				c->rbuf[pos++] = (uint8_t)i;
		}
	} else {
		for (unsigned i = n ? n : last; i >= 1; i--) {
			size_t len;
			const uint8_t *d = rec_data(c, &e, i, &len);
			if (contains(d, len, a->data, a->nc))
				c->rbuf[pos++] = (uint8_t)i;
		}
	}
	if (!pos)
		return SW_RECORD_NOT_FOUND;
	c->rec = c->rbuf[0];
	c->rlen = pos;
	return SW_OK;
}

/* ---- CREATE FILE ---- */

/* First fit in the body area. Returns 0 and *off, or -1. */
static int alloc_extent(const cos_ctx_t *c, uint32_t need, uint32_t *off)
{
	uint32_t cand = c->sys.data_off;
	fs_entry_t e;
	int moved = 1;
	while (moved) {
		moved = 0;
		if (cand + need > c->hal->nvm_size)
			return -1;
		for (uint8_t i = 0; i < c->sys.max_files; i++) {
			fs_read(c, i, &e);
			if (!e.type || !e.data_len)
				continue;
			if (e.data_off < cand + need &&
			    cand < e.data_off + e.data_len) {
				cand = e.data_off + e.data_len;
				moved = 1;
			}
		}
	}
	*off = cand;
	return 0;
}

static int name_exists(const cos_ctx_t *c, const uint8_t *aid, size_t n)
{
	fs_entry_t e;
	for (uint8_t i = 0; i < c->sys.max_files; i++) {
		fs_read(c, i, &e);
		if (fs_is_df(&e) && e.aid_len == n &&
		    cf_memcmp(e.aid, aid, n) == 0)
			return 1;
	}
	return 0;
}

static int sfi_exists(const cos_ctx_t *c, uint8_t df, uint8_t sfi)
{
	return find_sfi(c, df, sfi) != NO_FILE;
}

/* Parse the FCP of CREATE FILE into e. Returns SW_OK or 6A80. */
static uint16_t parse_fcp(const uint8_t *d, size_t n, fs_entry_t *e)
{
	const uint8_t *v;
	size_t vl;
	if (n < 2 || d[0] != 0x62)
		return SW_BAD_DATA;
	if (cos_tlv_find(d, n, 0x62, &v, &vl) != 1 || v + vl != d + n)
		return SW_BAD_DATA;
	d = v;
	n = vl;
	if (!cos_tlv_valid(d, n))
		return SW_BAD_DATA;
	cf_memset(e, 0, sizeof *e);
	e->lcs = 0x05;
	e->am = 0x7F;

	if (cos_tlv_find(d, n, 0x82, &v, &vl) != 1 || vl < 1)
		return SW_BAD_DATA;
	switch (v[0] & ~0x40) { /* ignore the shareable bit */
	case FDB_DF: e->type = COS_FT_DF; break;
	case 0x01: e->type = COS_FT_EF_TRANSPARENT; break;
	case 0x02: e->type = COS_FT_EF_LINEAR_FIXED; break;
	case 0x04: e->type = COS_FT_EF_LINEAR_VARIABLE; break;
	case 0x06: e->type = COS_FT_EF_CYCLIC; break;
	default: return SW_BAD_DATA;
	}
	if (is_record(e->type)) {
		unsigned rs, nr;
		if (vl == 4) {
			rs = v[2];
			nr = v[3];
		} else if (vl == 5) {
			rs = cos_get16(v + 2);
			nr = v[4];
		} else if (vl == 6) {
			rs = cos_get16(v + 2);
			nr = cos_get16(v + 4);
		} else {
			return SW_BAD_DATA;
		}
		if (rs < 1 || rs > 255 || nr < 1 || nr > 254)
			return SW_BAD_DATA;
		e->size = (uint16_t)rs;
		e->max_rec = (uint8_t)nr;
		e->data_len = (uint32_t)nr *
			      (rs + (e->type == COS_FT_EF_LINEAR_VARIABLE));
	} else if (vl > 2) {
		return SW_BAD_DATA;
	}

	if (cos_tlv_find(d, n, 0x83, &v, &vl) != 1 || vl != 2)
		return SW_BAD_DATA;
	e->fid = cos_get16(v);
	if (e->fid == 0x3F00 || e->fid == 0x3FFF || e->fid == 0xFFFF)
		return SW_BAD_DATA;

	int r = cos_tlv_find(d, n, 0x80, &v, &vl);
	if (r == 1) {
		if (e->type != COS_FT_EF_TRANSPARENT || vl < 1 || vl > 2)
			return SW_BAD_DATA;
		uint32_t size = vl == 1 ? v[0] : cos_get16(v);
		if (size > 0x7FFF)
			return SW_BAD_DATA;
		e->size = (uint16_t)size;
		e->data_len = size;
	} else if (e->type == COS_FT_EF_TRANSPARENT) {
		return SW_BAD_DATA;
	}

	r = cos_tlv_find(d, n, 0x84, &v, &vl);
	if (r == 1) {
		if (e->type != COS_FT_DF || vl < 1 || vl > COS_AID_MAX)
			return SW_BAD_DATA;
		cf_memcpy(e->aid, v, vl);
		e->aid_len = (uint8_t)vl;
	}

	r = cos_tlv_find(d, n, 0x88, &v, &vl);
	if (r == 1) {
		if (e->type == COS_FT_DF || vl != 1 || (v[0] & 0x07) ||
		    (v[0] >> 3) == 0 || (v[0] >> 3) == 0x1F)
			return SW_BAD_DATA;
		e->sfi = v[0] >> 3;
	}

	r = cos_tlv_find(d, n, 0x8C, &v, &vl);
	if (r == 1) {
		if (vl < 1 || (v[0] & 0x80))
			return SW_BAD_DATA;
		size_t k = 1;
		e->am = v[0];
		for (int bit = 6; bit >= 0; bit--) {
			if (!(e->am & (1u << bit)))
				continue;
			if (k >= vl)
				return SW_BAD_DATA;
			e->ac[bit] = v[k++];
		}
		if (k != vl)
			return SW_BAD_DATA;
	}
	return SW_OK;
}

uint16_t cmd_create_file(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || a->p2)
		return SW_BAD_P1P2;
	fs_entry_t e;
	uint16_t sw = parse_fcp(a->data, a->nc, &e);
	if (sw != SW_OK)
		return sw;
	uint8_t df = c->cur_df;
	sw = usable(c, df);
	if (sw == SW_OK)
		sw = sec_access(c, df,
				e.type == COS_FT_DF ? OP_CREATE_DF : OP_CREATE_EF,
				a, 1);
	if (sw != SW_OK)
		return sw;
	if (e.fid == E_FID(fs_raw(c, df)) || find_child(c, df, e.fid) != NO_FILE)
		return SW_FILE_EXISTS;
	if (e.sfi && sfi_exists(c, df, e.sfi))
		return SW_FILE_EXISTS;
	if (e.aid_len && name_exists(c, e.aid, e.aid_len))
		return SW_NAME_EXISTS;
	if (e.type == COS_FT_DF && depth_of(c, df) + 1 > MAX_DEPTH)
		return SW_NO_MEMORY;

	uint8_t slot = NO_FILE;
	for (uint8_t i = 1; i < c->sys.max_files; i++)
		if (!E_TYPE(fs_raw(c, i))) {
			slot = i;
			break;
		}
	if (slot == NO_FILE)
		return SW_NO_MEMORY;
	if (e.data_len && alloc_extent(c, e.data_len, &e.data_off) < 0)
		return SW_NO_MEMORY;
	e.parent = df;
	/* One transaction: the entry and its body zeroed, so a file never
	 * shows a former file's bytes. */
	nvm_begin(c);
	nvm_stage_zero(c, e.data_off, e.data_len);
	fs_stage(c, slot, &e);
	sw = nvm_commit(c);
	if (sw != SW_OK)
		return sw;
	if (e.type == COS_FT_DF)
		fs_set_df(c, slot);
	else
		select_ef(c, slot);
	return SW_OK;
}

/* ---- DELETE FILE and the file life cycle ---- */

static uint16_t file_target(cos_ctx_t *c, const apdu_t *a, uint8_t *slot)
{
	if (a->p1 || a->p2)
		return SW_BAD_P1P2;
	if (a->nc == 0) {
		*slot = c->cur_ef != NO_FILE ? c->cur_ef : c->cur_df;
		return SW_OK;
	}
	if (a->nc != 2)
		return SW_WRONG_LENGTH;
	uint16_t fid = cos_get16(a->data);
	*slot = fid == 0x3F00 ? 0 : find_child(c, c->cur_df, fid);
	return *slot == NO_FILE ? SW_NOT_FOUND : SW_OK;
}

uint16_t cmd_delete_file(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	uint16_t sw = file_target(c, a, &slot);
	if (sw != SW_OK)
		return sw;
	if (slot == 0)
		return SW_CONDITIONS;
	uint8_t parent = E_PARENT(fs_raw(c, slot));
	/* Both the file (delete self) and its DF (delete child) must allow. */
	sw = sec_access(c, slot, OP_DELETE_SELF, a, 1);
	if (sw == SW_OK)
		sw = sec_access(c, parent, OP_DELETE_CHILD, a, 1);
	if (sw != SW_OK)
		return sw;

	/* One transaction: every file of the subtree and every object of its
	 * DFs, each a six-byte zero-fill entry of the journal. */
	nvm_begin(c);
	for (uint8_t i = 1; i < c->sys.max_files; i++) {
		const uint8_t *p = fs_raw(c, i);
		if (!E_TYPE(p) || !fs_on_path(c, i, slot))
			continue;
		if (E_TYPE(p) == COS_FT_DF)
			sec_stage_drop_objects(c, i);
		nvm_stage_zero(c, c->sys.file_off + (uint32_t)i * sizeof(fs_entry_t),
			       sizeof(fs_entry_t));
	}
	sw = nvm_commit(c);
	if (sw != SW_OK)
		return sw;
	if (c->cur_ef != NO_FILE && !E_TYPE(fs_raw(c, c->cur_ef)))
		c->cur_ef = NO_FILE;
	if (!E_TYPE(fs_raw(c, c->cur_df)))
		fs_set_df(c, parent);
	c->name_match = NO_FILE;
	return SW_OK;
}

static uint16_t set_lcs(cos_ctx_t *c, uint8_t slot, uint8_t lcs)
{
	fs_entry_t e;
	fs_read(c, slot, &e);
	e.lcs = lcs;
	nvm_begin(c);
	fs_stage(c, slot, &e);
	return nvm_commit(c);
}

uint16_t cmd_activate_file(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	uint16_t sw = file_target(c, a, &slot);
	if (sw != SW_OK)
		return sw;
	if (slot == 0) {
		if (c->sys.lc == COS_LC_PERSONALIZATION) {
			if (!a->sm)
				return SW_SECURITY;
			return lc_set_state(c, COS_LC_OPERATIONAL, 0);
		}
		if (c->sys.lc != COS_LC_OPERATIONAL)
			return SW_CONDITIONS;
		sw = sec_access(c, 0, OP_ACTIVATE, a, 1);
		if (sw != SW_OK || !c->sys.locked)
			return sw;
		return lc_set_state(c, COS_LC_OPERATIONAL, 0);
	}
	if (fs_lcs(c, slot) >= 0x0C)
		return SW_CONDITIONS;
	sw = sec_access(c, slot, OP_ACTIVATE, a, 1);
	if (sw != SW_OK)
		return sw;
	return set_lcs(c, slot, 0x05);
}

uint16_t cmd_deactivate_file(cos_ctx_t *c, apdu_t *a)
{
	uint8_t slot;
	uint16_t sw = file_target(c, a, &slot);
	if (sw != SW_OK)
		return sw;
	if (slot == 0) {
		if (c->sys.lc != COS_LC_OPERATIONAL)
			return SW_CONDITIONS;
		sw = sec_access(c, 0, OP_DEACTIVATE, a, 1);
		if (sw != SW_OK || c->sys.locked)
			return sw;
		return lc_set_state(c, COS_LC_OPERATIONAL, 1);
	}
	if (fs_lcs(c, slot) >= 0x0C)
		return SW_CONDITIONS;
	sw = sec_access(c, slot, OP_DEACTIVATE, a, 1);
	if (sw != SW_OK)
		return sw;
	return set_lcs(c, slot, 0x04);
}

static uint16_t terminate(cos_ctx_t *c, apdu_t *a, int want_df)
{
	uint8_t slot;
	uint16_t sw = file_target(c, a, &slot);
	if (sw != SW_OK)
		return sw;
	int df = E_TYPE(fs_raw(c, slot)) == COS_FT_DF ||
		 E_TYPE(fs_raw(c, slot)) == COS_FT_MF;
	if (df != want_df)
		return SW_INCOMPATIBLE;
	if (slot == 0)
		return cmd_terminate_card(c, a);
	if (fs_lcs(c, slot) >= 0x0C)
		return SW_CONDITIONS;
	sw = sec_access(c, slot, OP_TERMINATE, a, 1);
	if (sw != SW_OK)
		return sw;
	return set_lcs(c, slot, 0x0C);
}

uint16_t cmd_terminate_df(cos_ctx_t *c, apdu_t *a)
{
	return terminate(c, a, 1);
}

uint16_t cmd_terminate_ef(cos_ctx_t *c, apdu_t *a)
{
	return terminate(c, a, 0);
}

/* ---- walk and check ---- */

static int walk_from(const cos_ctx_t *c, uint8_t slot, unsigned depth,
		     cos_file_fn fn, void *arg)
{
	fs_entry_t e;
	fs_read(c, slot, &e);
	cos_file_info_t f;
	cf_memset(&f, 0, sizeof f);
	f.depth = depth;
	f.type = (cos_file_type_t)e.type;
	f.fid = e.fid;
	f.sfi = e.sfi;
	f.aid_len = e.aid_len;
	cf_memcpy(f.aid, e.aid, COS_AID_MAX);
	f.lcs = fs_lcs(c, slot);
	f.size = e.size;
	f.records = e.nrec;
	f.max_records = e.max_rec;
	f.allocated = fs_is_df(&e) ? subtree_alloc(c, slot) : e.data_len;
	for (int bit = 0; bit < COS_AC_OPS; bit++)
		f.ac[bit] = (e.am & (1u << bit)) ? e.ac[bit] : COS_AC_NEVER;
	int r = fn(&f, arg);
	if (r || !fs_is_df(&e) || depth > MAX_DEPTH)
		return r;
	for (uint8_t i = 1; i < c->sys.max_files; i++) {
		const uint8_t *p = fs_raw(c, i);
		if (E_TYPE(p) && E_PARENT(p) == slot) {
			r = walk_from(c, i, depth + 1, fn, arg);
			if (r)
				return r;
		}
	}
	return 0;
}

int fs_walk(const cos_ctx_t *c, cos_file_fn fn, void *arg)
{
	return walk_from(c, 0, 0, fn, arg);
}

const char *fs_check(const cos_ctx_t *c)
{
	fs_entry_t e, f;
	fs_read(c, 0, &e);
	if (e.type != COS_FT_MF || e.fid != 0x3F00 || e.parent != NO_FILE)
		return "file table: slot 0 is not the MF";
	uint32_t lo = c->sys.data_off, hi = c->hal->nvm_size;
	for (uint8_t i = 1; i < c->sys.max_files; i++) {
		fs_read(c, i, &e);
		if (!e.type)
			continue;
		if (e.type < COS_FT_DF || e.type > COS_FT_EF_CYCLIC)
			return "file table: unknown file type";
		if (e.parent >= c->sys.max_files)
			return "file table: parent out of range";
		fs_read(c, e.parent, &f);
		if (!fs_is_df(&f))
			return "file table: parent is not a DF";
		if (depth_of(c, i) > MAX_DEPTH + 1)
			return "file table: too deep or a cycle";
		if (e.aid_len > COS_AID_MAX)
			return "file table: DF name too long";
		if (e.data_len &&
		    (e.data_off < lo || e.data_off + e.data_len > hi ||
		     e.data_off + e.data_len < e.data_off))
			return "file table: body outside the body area";
		if (is_record(e.type) &&
		    (e.max_rec == 0 || e.nrec > e.max_rec ||
		     e.head >= e.max_rec))
			return "file table: record counters out of range";
		if (e.type == COS_FT_EF_TRANSPARENT && e.data_len != e.size)
			return "file table: transparent size mismatch";
		for (uint8_t j = (uint8_t)(i + 1); j < c->sys.max_files; j++) {
			fs_read(c, j, &f);
			if (!f.type)
				continue;
			if (f.parent == e.parent && f.fid == e.fid)
				return "file table: duplicate FID in a DF";
			if (e.data_len && f.data_len &&
			    e.data_off < f.data_off + f.data_len &&
			    f.data_off < e.data_off + e.data_len)
				return "file table: overlapping bodies";
		}
	}
	return NULL;
}
