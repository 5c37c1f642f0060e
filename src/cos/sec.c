/*
 * sec.c - PINs, keys, access conditions and the security status.
 *
 * Objects (PINs and keys) live in a table of obj_entry_t in NVM, each owned
 * by a DF (slot 0, the MF: global). A reference in P2 has b8 = 1 for an
 * object specific to the current DF, else global; b5-b1 is its number.
 *
 * Try counters: the counter is decremented and committed to NVM before the
 * value is compared, and restored by a second transaction after a match.
 * Power cut anywhere: the try is spent, never free.
 *
 * The security status (PINs verified, keys authenticated) is RAM: wiped at
 * power up; when the current DF changes, the status of objects owned by a
 * DF that is no longer on the path from the MF is dropped.
 */
#include "cos_int.h"

static uint32_t obj_addr(const cos_ctx_t *c, uint8_t slot)
{
	return c->sys.obj_off + (uint32_t)slot * sizeof(obj_entry_t);
}

void obj_read(const cos_ctx_t *c, uint8_t slot, obj_entry_t *o)
{
	cf_memcpy(o, c->hal->nvm + obj_addr(c, slot), sizeof *o);
}

void obj_stage(cos_ctx_t *c, uint8_t slot, const obj_entry_t *o)
{
	nvm_stage(c, obj_addr(c, slot), o, sizeof *o);
}

static int ref_valid(uint8_t p2ref)
{
	uint8_t n = p2ref & 0x1F;
	return !(p2ref & 0x60) && n >= 1 && n <= 30;
}

static uint8_t find_obj(const cos_ctx_t *c, uint8_t kind, uint8_t owner,
			uint8_t num, int any_kvn, uint8_t kvn)
{
	for (uint8_t i = 0; i < c->sys.max_objects; i++) {
		const uint8_t *p = c->hal->nvm + obj_addr(c, i);
		if (p[0] == kind && p[1] == num && p[2] == owner &&
		    (any_kvn || p[5] == kvn))
			return i;
	}
	return NO_FILE;
}

uint8_t obj_find(const cos_ctx_t *c, uint8_t kind, uint8_t p2ref)
{
	if (!ref_valid(p2ref))
		return NO_FILE;
	uint8_t owner = (p2ref & 0x80) ? c->cur_df : 0;
	return find_obj(c, kind, owner, p2ref & 0x1F, 1, 0);
}

uint8_t sec_objects_used(const cos_ctx_t *c)
{
	uint8_t n = 0;
	for (uint8_t i = 0; i < c->sys.max_objects; i++)
		if (c->hal->nvm[obj_addr(c, i)])
			n++;
	return n;
}

int sec_scp03_keyset(const cos_ctx_t *c, uint8_t kvn, scp03_keyset_t *ks)
{
	obj_entry_t o;
	if (kvn == 0) {
		for (uint8_t i = 0; i < c->sys.max_objects && !kvn; i++) {
			obj_read(c, i, &o);
			if (o.kind == COS_OBJ_KEY && o.owner == 0 &&
			    (o.usage & COS_KEY_USE_SCP03))
				kvn = o.kvn;
		}
		if (!kvn)
			return -1;
	}
	uint8_t *dst[3] = {ks->enc, ks->mac, ks->dek};
	for (uint8_t id = 1; id <= 3; id++) {
		uint8_t s = find_obj(c, COS_OBJ_KEY, 0, id, 0, kvn);
		if (s == NO_FILE)
			return -1;
		obj_read(c, s, &o);
		if (!(o.usage & COS_KEY_USE_SCP03) || o.alg != COS_ALG_AES ||
		    (id > 1 && o.len != ks->key_len))
			return -1;
		ks->key_len = o.len;
		cf_memcpy(dst[id - 1], o.value, o.len);
		cos_wipe(&o, sizeof o);
	}
	ks->kvn = kvn;
	return 0;
}

void sec_df_changed(cos_ctx_t *c)
{
	uint32_t keep = 0;
	for (uint8_t i = 0; i < c->sys.max_objects; i++) {
		const uint8_t *p = c->hal->nvm + obj_addr(c, i);
		if (p[0] && (p[2] == 0 || fs_on_path(c, c->cur_df, p[2])))
			keep |= 1u << i;
	}
	c->pin_ok &= keep;
	c->key_ok &= keep;
}

void sec_stage_drop_objects(cos_ctx_t *c, uint8_t df_slot)
{
	for (uint8_t i = 0; i < c->sys.max_objects; i++) {
		const uint8_t *p = c->hal->nvm + obj_addr(c, i);
		if (p[0] && p[2] == df_slot) {
			nvm_stage_zero(c, obj_addr(c, i), sizeof(obj_entry_t));
			c->pin_ok &= ~(1u << i);
			c->key_ok &= ~(1u << i);
		}
	}
}

/* ---- access conditions ---- */

static int cond_holds(const cos_ctx_t *c, uint8_t sc, const apdu_t *a)
{
	if (sc == COS_AC_ALWAYS)
		return 1;
	if (sc == COS_AC_NEVER)
		return 0;
	uint8_t ref = COS_AC_REF(sc);
	int all = (sc & COS_AC_ALL) != 0;
	int n = 0, ok = 0;
	if (sc & COS_AC_PIN) {
		uint8_t s = find_obj(c, COS_OBJ_PIN, 0, ref, 1, 0);
		n++;
		ok += s != NO_FILE && (c->pin_ok & (1u << s));
	}
	if (sc & COS_AC_KEY) {
		uint8_t s = find_obj(c, COS_OBJ_KEY, 0, ref, 1, 0);
		n++;
		ok += s != NO_FILE && (c->key_ok & (1u << s));
	}
	if (sc & COS_AC_SM) {
		n++;
		ok += a->sm != 0;
	}
	if (n == 0)
		return 0;
	return all ? ok == n : ok > 0;
}

uint16_t sec_access(const cos_ctx_t *c, uint8_t slot, unsigned op,
		    const apdu_t *a, int write)
{
	switch (c->sys.lc) {
	case COS_LC_INITIALIZATION:
		return SW_OK;
	case COS_LC_PERSONALIZATION:
		if (a->sm)
			return SW_OK;
		if (write)
			return SW_SECURITY;
		break;
	case COS_LC_OPERATIONAL:
		break;
	default:
		return SW_CONDITIONS;
	}
	const uint8_t *p = fs_raw(c, slot);
	uint8_t am = p[8];
	if (!(am & (1u << op)))
		return SW_SECURITY;
	return cond_holds(c, p[9 + op], a) ? SW_OK : SW_SECURITY;
}

/* ---- try counters ---- */

static uint16_t tries_sw(uint8_t left)
{
	return left ? SW_TRIES(left) : SW_TRIES(0);
}

/* Spend a try of object `slot` durably. SW_OK, 6983 if none left. */
static uint16_t spend_try(cos_ctx_t *c, uint8_t slot, obj_entry_t *o)
{
	if (o->max_tries == 0)
		return SW_OK;
	if (o->tries == 0)
		return SW_BLOCKED;
	o->tries--;
	nvm_begin(c);
	nvm_stage(c, obj_addr(c, slot) + offsetof(obj_entry_t, tries),
		  &o->tries, 1);
	return nvm_commit(c);
}

/* Restore the tries of `slot` (after a match) and optionally its value. */
static uint16_t restore_tries(cos_ctx_t *c, uint8_t slot, obj_entry_t *o,
			      const uint8_t *new_value)
{
	if (new_value) {
		cf_memcpy(o->value, new_value, o->len);
		o->set = 1;
	} else if (o->tries == o->max_tries) {
		return SW_OK;
	}
	o->tries = o->max_tries;
	nvm_begin(c);
	obj_stage(c, slot, o);
	return nvm_commit(c);
}

/* Present a value for object `slot`: spend, compare, restore. */
static uint16_t present(cos_ctx_t *c, uint8_t slot, const uint8_t *v,
			const uint8_t *new_value)
{
	obj_entry_t o;
	obj_read(c, slot, &o);
	uint16_t sw = spend_try(c, slot, &o);
	if (sw != SW_OK)
		goto out;
	if (!cos_ct_equal(o.value, v, o.len)) {
		c->pin_ok &= ~(1u << slot);
		sw = tries_sw(o.tries);
		goto out;
	}
	sw = restore_tries(c, slot, &o, new_value);
	if (sw == SW_OK)
		c->pin_ok |= 1u << slot;
out:
	cos_wipe(&o, sizeof o);
	return sw;
}

/* ---- VERIFY and the transport code ---- */

static uint16_t verify_transport(cos_ctx_t *c, const apdu_t *a)
{
	if (c->sys.lc != COS_LC_TRANSPORT)
		return SW_REF_NOT_FOUND;
	if (a->nc == 0)
		return c->sys.ttries ? SW_TRIES(c->sys.ttries) : SW_BLOCKED;
	if (a->nc != sizeof c->sys.tcode)
		return SW_WRONG_LENGTH;
	if (c->sys.ttries == 0)
		return SW_BLOCKED;
	sys_area_t s = c->sys;
	s.ttries--;
	uint16_t sw = lc_commit_sys(c, &s);
	if (sw != SW_OK)
		goto out;
	if (!cos_ct_equal(s.tcode, a->data, sizeof s.tcode)) {
		sw = SW_TRIES(s.ttries);
		if (s.ttries == 0 &&
		    lc_set_state(c, COS_LC_TERMINATED, 0) != SW_OK)
			sw = SW_MEMORY;
		goto out;
	}
	/* Presented once, used up: the code is erased. */
	cos_wipe(s.tcode, sizeof s.tcode);
	s.ttries = 0;
	s.lc = COS_LC_INITIALIZATION;
	sw = lc_commit_sys(c, &s);
out:
	cos_wipe(&s, sizeof s);
	return sw;
}

uint16_t cmd_verify(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1)
		return SW_BAD_P1P2;
	if (a->p2 == TRANSPORT_REF)
		return verify_transport(c, a);
	if (!ref_valid(a->p2))
		return SW_BAD_P1P2;
	if (c->sys.lc < COS_LC_INITIALIZATION)
		return SW_CONDITIONS;
	uint8_t slot = obj_find(c, COS_OBJ_PIN, a->p2);
	if (slot == NO_FILE)
		return SW_REF_NOT_FOUND;
	obj_entry_t o;
	obj_read(c, slot, &o);
	uint8_t len = o.len, set = o.set, tries = o.tries;
	cos_wipe(&o, sizeof o);
	if (!set)
		return SW_UNUSABLE;
	if (a->nc == 0) {
		if (c->pin_ok & (1u << slot))
			return SW_OK;
		return tries ? SW_TRIES(tries) : SW_BLOCKED;
	}
	if (a->nc != len)
		return SW_WRONG_LENGTH;
	return present(c, slot, a->data, NULL);
}

/* May the reference data of `slot` be set without presenting the old? */
static int may_set_directly(const cos_ctx_t *c, uint8_t slot, const apdu_t *a)
{
	if (c->sys.lc == COS_LC_INITIALIZATION)
		return 1;
	if (a->sm)
		return 1;
	return (c->pin_ok & (1u << slot)) != 0;
}

uint16_t cmd_change_ref(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 > 1 || !ref_valid(a->p2))
		return SW_BAD_P1P2;
	uint8_t slot = obj_find(c, COS_OBJ_PIN, a->p2);
	if (slot == NO_FILE)
		return SW_REF_NOT_FOUND;
	obj_entry_t o;
	obj_read(c, slot, &o);
	uint8_t len = o.len, set = o.set;
	uint16_t sw;
	if (a->p1 == 0) {
		if (!set) {
			sw = SW_UNUSABLE;
		} else if (a->nc != 2u * len) {
			sw = SW_WRONG_LENGTH;
		} else {
			cos_wipe(&o, sizeof o);
			return present(c, slot, a->data, a->data + len);
		}
	} else if (a->nc != len) {
		sw = SW_WRONG_LENGTH;
	} else if (!may_set_directly(c, slot, a)) {
		sw = SW_SECURITY;
	} else {
		sw = restore_tries(c, slot, &o, a->data);
	}
	cos_wipe(&o, sizeof o);
	return sw;
}

uint16_t cmd_reset_retry(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 > 3 || !ref_valid(a->p2))
		return SW_BAD_P1P2;
	uint8_t slot = obj_find(c, COS_OBJ_PIN, a->p2);
	if (slot == NO_FILE)
		return SW_REF_NOT_FOUND;
	obj_entry_t o;
	obj_read(c, slot, &o);
	uint8_t len = o.len;
	uint16_t sw = SW_OK;
	if (a->p1 >= 2) {
		/* Without the PUK: only the issuer, over its secure channel. */
		size_t want = a->p1 == 2 ? len : 0;
		if (a->nc != want)
			sw = SW_WRONG_LENGTH;
		else if (c->sys.lc != COS_LC_INITIALIZATION && !a->sm)
			sw = SW_SECURITY;
		else
			sw = restore_tries(c, slot, &o,
					   a->p1 == 2 ? a->data : NULL);
		if (sw == SW_OK && a->p1 == 2)
			c->pin_ok &= ~(1u << slot);
		cos_wipe(&o, sizeof o);
		return sw;
	}
	uint8_t puk = o.kvn ? find_obj(c, COS_OBJ_PIN, 0, o.kvn, 1, 0)
			    : NO_FILE;
	if (puk == NO_FILE) {
		cos_wipe(&o, sizeof o);
		return SW_CONDITIONS;
	}
	obj_entry_t p;
	obj_read(c, puk, &p);
	size_t want = p.len + (a->p1 == 0 ? len : 0u);
	if (!p.set)
		sw = SW_UNUSABLE;
	else if (a->nc != want)
		sw = SW_WRONG_LENGTH;
	else
		sw = present(c, puk, a->data, NULL);
	if (sw == SW_OK) {
		c->pin_ok &= ~(1u << puk); /* the PUK grants nothing else */
		sw = restore_tries(c, slot, &o,
				   a->p1 == 0 ? a->data + p.len : NULL);
	}
	cos_wipe(&p, sizeof p);
	cos_wipe(&o, sizeof o);
	return sw;
}

/* ---- challenge-response ---- */

uint16_t cmd_get_challenge(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || a->p2)
		return SW_BAD_P1P2;
	if (!a->has_le || a->nc || a->ne > 256)
		return SW_WRONG_LENGTH;
	if (c->hal->rng(c->hal->ctx, c->rbuf, a->ne) != HAL_OK)
		return SW_MEMORY;
	c->chal_len = (uint8_t)(a->ne < sizeof c->chal ? a->ne : sizeof c->chal);
	cf_memcpy(c->chal, c->rbuf, c->chal_len);
	c->rlen = a->ne;
	return SW_OK;
}

static hal_cipher_t cipher_of(uint8_t alg, size_t *block)
{
	*block = alg == COS_ALG_AES ? 16 : 8;
	return alg == COS_ALG_AES ? HAL_CIPHER_AES : HAL_CIPHER_3DES;
}

uint16_t cmd_ext_auth(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || !ref_valid(a->p2))
		return SW_BAD_P1P2;
	uint8_t slot = obj_find(c, COS_OBJ_KEY, a->p2);
	if (slot == NO_FILE)
		return SW_REF_NOT_FOUND;
	obj_entry_t o;
	obj_read(c, slot, &o);
	uint8_t chal[16];
	size_t block;
	hal_cipher_t alg = cipher_of(o.alg, &block);
	uint16_t sw;
	uint8_t chal_len = c->chal_len;
	cf_memcpy(chal, c->chal, sizeof chal);
	c->chal_len = 0; /* a challenge answers one authentication */
	if (!(o.usage & COS_KEY_USE_AUTH)) {
		sw = SW_CONDITIONS;
	} else if (chal_len < block) {
		sw = SW_CONDITIONS;
	} else if (a->nc != block) {
		sw = SW_WRONG_LENGTH;
	} else if ((sw = spend_try(c, slot, &o)) == SW_OK) {
		uint8_t expect[16];
		if (c->hal->cipher(c->hal->ctx, alg, HAL_MODE_ECB, 1, o.value,
				   o.len, NULL, chal, block,
				   expect) != HAL_OK) {
			sw = SW_MEMORY;
		} else if (cos_ct_equal(expect, a->data, block)) {
			sw = restore_tries(c, slot, &o, NULL);
			if (sw == SW_OK)
				c->key_ok |= 1u << slot;
		} else {
			c->key_ok &= ~(1u << slot);
			sw = o.max_tries ? tries_sw(o.tries) : SW_AUTH_FAILED;
		}
		cos_wipe(expect, sizeof expect);
	}
	cos_wipe(chal, sizeof chal);
	cos_wipe(&o, sizeof o);
	return sw;
}

uint16_t cmd_int_auth(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || !ref_valid(a->p2))
		return SW_BAD_P1P2;
	uint8_t slot = obj_find(c, COS_OBJ_KEY, a->p2);
	if (slot == NO_FILE)
		return SW_REF_NOT_FOUND;
	if (a->nc == 0 || a->nc > COS_APDU_MAX_DATA - 16)
		return SW_WRONG_LENGTH;
	obj_entry_t o;
	obj_read(c, slot, &o);
	uint16_t sw = SW_OK;
	size_t block;
	hal_cipher_t alg = cipher_of(o.alg, &block);
	if (!(o.usage & (COS_KEY_USE_AUTH | COS_KEY_USE_CRYPTO))) {
		sw = SW_CONDITIONS;
	} else {
		/* ISO/IEC 9797-1 padding method 2 */
		size_t n = a->nc;
		cf_memcpy(c->rbuf, a->data, n);
		c->rbuf[n++] = 0x80;
		while (n % block)
			c->rbuf[n++] = 0x00;
		if (c->hal->cipher(c->hal->ctx, alg, HAL_MODE_CBC, 1, o.value,
				   o.len, NULL, c->rbuf, n, c->rbuf) != HAL_OK)
			sw = SW_MEMORY;
		else
			c->rlen = n;
	}
	cos_wipe(&o, sizeof o);
	return sw;
}

/* ---- PUT DATA of PIN and key objects ---- */

static int tlv_byte(const uint8_t *d, size_t n, uint8_t tag, uint8_t *out)
{
	const uint8_t *v;
	size_t vl;
	int r = cos_tlv_find(d, n, tag, &v, &vl);
	if (r != 1)
		return r;
	if (vl != 1)
		return -1;
	*out = v[0];
	return 1;
}

uint16_t sec_put_object(cos_ctx_t *c, const apdu_t *a, uint8_t kind)
{
	switch (c->sys.lc) {
	case COS_LC_INITIALIZATION:
		break;
	case COS_LC_PERSONALIZATION:
	case COS_LC_OPERATIONAL:
		if (!a->sm || !(c->sc.level & SCP03_C_DEC))
			return SW_SECURITY;
		break;
	default:
		return SW_CONDITIONS;
	}
	const uint8_t *d = a->data;
	size_t n = a->nc;
	if (!n || !cos_tlv_valid(d, n))
		return SW_BAD_DATA;
	obj_entry_t o;
	cf_memset(&o, 0, sizeof o);
	o.kind = kind;
	uint8_t ref = 0, b = 0;
	if (tlv_byte(d, n, 0x80, &ref) != 1 || !ref_valid(ref) ||
	    (kind == COS_OBJ_PIN && ref == TRANSPORT_REF))
		return SW_BAD_DATA;
	o.ref = ref & 0x1F;
	o.owner = (ref & 0x80) ? c->cur_df : 0;
	const uint8_t *v;
	size_t vl;
	int r;
	uint16_t sw = SW_OK;

	if (kind == COS_OBJ_PIN) {
		if (tlv_byte(d, n, 0x81, &o.max_tries) != 1 || !o.max_tries ||
		    o.max_tries > 15 || tlv_byte(d, n, 0x82, &o.len) != 1 ||
		    !o.len || o.len > 16)
			return SW_BAD_DATA;
		r = cos_tlv_find(d, n, 0x83, &v, &vl);
		if (r < 0 || (r == 1 && vl != o.len))
			return SW_BAD_DATA;
		if (r == 1) {
			cf_memcpy(o.value, v, vl);
			o.set = 1;
		}
		r = tlv_byte(d, n, 0x84, &b);
		if (r < 0 || (r == 1 && (!ref_valid(b) || (b & 0x80))))
			sw = SW_BAD_DATA;
		o.kvn = r == 1 ? b : 0;
	} else {
		if (tlv_byte(d, n, 0x81, &o.kvn) != 1 ||
		    tlv_byte(d, n, 0x82, &o.alg) != 1 ||
		    tlv_byte(d, n, 0x83, &o.usage) != 1 || !o.usage ||
		    (o.usage & ~0x07) ||
		    cos_tlv_find(d, n, 0x84, &v, &vl) != 1)
			return SW_BAD_DATA;
		if (o.alg == COS_ALG_AES) {
			if (vl != 16 && vl != 24 && vl != 32)
				return SW_BAD_DATA;
		} else if (o.alg == COS_ALG_3DES) {
			if (vl != 16 && vl != 24)
				return SW_BAD_DATA;
		} else {
			return SW_BAD_DATA;
		}
		if ((o.usage & COS_KEY_USE_SCP03) &&
		    (o.alg != COS_ALG_AES || o.owner || o.ref > 3 || !o.kvn))
			return SW_BAD_DATA;
		o.len = (uint8_t)vl;
		cf_memcpy(o.value, v, vl);
		o.set = 1;
		r = tlv_byte(d, n, 0x85, &o.max_tries);
		if (r < 0 || o.max_tries > 15)
			sw = SW_BAD_DATA;
	}
	o.tries = o.max_tries;
	if (sw == SW_OK) {
		uint8_t slot = find_obj(c, kind, o.owner, o.ref,
					kind == COS_OBJ_PIN, o.kvn);
		if (slot == NO_FILE) {
			for (uint8_t i = 0; i < c->sys.max_objects; i++)
				if (!c->hal->nvm[obj_addr(c, i)]) {
					slot = i;
					break;
				}
		}
		if (slot == NO_FILE) {
			sw = SW_NO_MEMORY;
		} else {
			nvm_begin(c);
			obj_stage(c, slot, &o);
			sw = nvm_commit(c);
			c->pin_ok &= ~(1u << slot);
			c->key_ok &= ~(1u << slot);
		}
	}
	cos_wipe(&o, sizeof o);
	return sw;
}

/* ---- walk and check ---- */

int sec_walk(const cos_ctx_t *c, cos_obj_fn fn, void *arg)
{
	obj_entry_t o;
	for (uint8_t i = 0; i < c->sys.max_objects; i++) {
		obj_read(c, i, &o);
		if (!o.kind)
			continue;
		cos_obj_info_t info;
		cf_memset(&info, 0, sizeof info);
		info.kind = (cos_obj_kind_t)o.kind;
		info.owner_fid = o.owner < c->sys.max_files
					 ? (uint16_t)(fs_raw(c, o.owner)[0] |
						      fs_raw(c, o.owner)[1] << 8)
					 : 0;
		info.ref = (uint8_t)(o.ref | (o.owner ? 0x80 : 0));
		info.kvn = o.kind == COS_OBJ_KEY ? o.kvn : 0;
		info.alg = o.alg;
		info.usage = o.usage;
		info.len = o.len;
		info.tries = o.tries;
		info.max_tries = o.max_tries;
		info.unblock_ref = o.kind == COS_OBJ_PIN ? o.kvn : 0;
		cos_wipe(&o, sizeof o);
		int r = fn(&info, arg);
		if (r)
			return r;
	}
	return 0;
}

const char *sec_check(const cos_ctx_t *c)
{
	obj_entry_t o;
	const char *why = NULL;
	for (uint8_t i = 0; i < c->sys.max_objects && !why; i++) {
		obj_read(c, i, &o);
		if (!o.kind)
			continue;
		if (o.kind != COS_OBJ_PIN && o.kind != COS_OBJ_KEY)
			why = "objects: unknown kind";
		else if (o.owner >= c->sys.max_files ||
			 !fs_raw(c, o.owner)[2] ||
			 (fs_raw(c, o.owner)[2] != COS_FT_MF &&
			  fs_raw(c, o.owner)[2] != COS_FT_DF))
			why = "objects: owner is not a DF";
		else if (o.len > sizeof o.value || o.tries > o.max_tries)
			why = "objects: length or tries out of range";
	}
	cos_wipe(&o, sizeof o);
	return why;
}
