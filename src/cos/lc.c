/*
 * lc.c - the chip's life cycle and production data: the state machine of
 * docs/card-os.md (MANUFACTURING -> TRANSPORT -> INITIALIZATION -> fuse ->
 * PERSONALIZATION -> OPERATIONAL -> TERMINATED), the fab's test commands,
 * the CPLC and its write-once stamps, GlobalPlatform's view (GET STATUS,
 * SET STATUS, the SCP03 handshake) and GET/PUT DATA.
 *
 * The life cycle byte in the system area only ever increases:
 * lc_set_state() refuses anything else, whatever the command asking.
 */
#include "cos_int.h"

uint8_t lc_mf_lcs(uint8_t lc, int locked)
{
	switch (lc) {
	case COS_LC_MANUFACTURING:
	case COS_LC_TRANSPORT: return 0x01;
	case COS_LC_INITIALIZATION:
	case COS_LC_PERSONALIZATION: return 0x03;
	case COS_LC_OPERATIONAL: return locked ? 0x04 : 0x05;
	default: return 0x0C;
	}
}

uint16_t lc_commit_sys(cos_ctx_t *c, sys_area_t *s)
{
	nvm_begin(c);
	nvm_stage_sys(c, s);
	uint16_t sw = nvm_commit(c);
	if (sw == SW_OK)
		c->sys = *s;
	return sw;
}

uint16_t lc_set_state(cos_ctx_t *c, uint8_t lc, int locked)
{
	if (lc < c->sys.lc || lc > COS_LC_TERMINATED)
		return SW_CONDITIONS;
	sys_area_t s = c->sys;
	s.lc = lc;
	s.locked = lc == COS_LC_OPERATIONAL && locked;
	if (lc >= COS_LC_PERSONALIZATION) {
		/* The fuse: the transport code is gone for good. */
		cos_wipe(s.tcode, sizeof s.tcode);
		s.ttries = 0;
	}
	uint16_t sw = lc_commit_sys(c, &s);
	cos_wipe(&s, sizeof s);
	if (sw == SW_OK && lc == COS_LC_TERMINATED)
		scp03_reset(&c->sc);
	return sw;
}

uint16_t cmd_terminate_card(cos_ctx_t *c, apdu_t *a)
{
	if (a->ins == 0xFE && (a->p1 || a->p2 || a->nc))
		return a->nc ? SW_WRONG_LENGTH : SW_BAD_P1P2;
	uint16_t sw = sec_access(c, 0, 5 /* terminate */, a, 1);
	if (sw != SW_OK)
		return sw;
	return lc_set_state(c, COS_LC_TERMINATED, 0);
}

/* ---- GET DATA / PUT DATA ---- */

uint16_t cmd_get_data(cos_ctx_t *c, apdu_t *a)
{
	uint16_t tag = (uint16_t)(a->p1 << 8 | a->p2);
	size_t pos = 0;
	if (a->nc)
		return SW_WRONG_LENGTH;
	if (tag == 0x9F7F) {
		cos_tlv_put(c->rbuf, sizeof c->rbuf, &pos, 0x9F7F, c->sys.cplc,
			    COS_CPLC_LEN);
	} else if (tag == 0xDF30) {
		uint8_t v[COS_SERIAL_LEN + 4], inner[64];
		size_t n = 0;
		v[0] = c->sys.model;
		cos_tlv_put(inner, sizeof inner, &n, 0x80, v, 1);
		v[0] = c->sys.lc;
		cos_tlv_put(inner, sizeof inner, &n, 0x81, v, 1);
		v[0] = cos_gp_state((cos_lifecycle_t)c->sys.lc, c->sys.locked);
		cos_tlv_put(inner, sizeof inner, &n, 0x82, v, 1);
		cos_tlv_put(inner, sizeof inner, &n, 0x83, c->sys.serial,
			    COS_SERIAL_LEN);
		cos_put32(v, c->hal->nvm_size);
		cos_tlv_put(inner, sizeof inner, &n, 0x84, v, 4);
		cos_put32(v, c->hal->nvm_size - c->sys.data_off -
				     fs_used(c, NULL));
		cos_tlv_put(inner, sizeof inner, &n, 0x85, v, 4);
		v[0] = c->sys.lc == COS_LC_TRANSPORT ? c->sys.ttries : 0;
		cos_tlv_put(inner, sizeof inner, &n, 0x86, v, 1);
		cos_tlv_put(c->rbuf, sizeof c->rbuf, &pos, 0xDF30, inner, n);
	} else {
		return SW_REF_NOT_FOUND;
	}
	c->rlen = pos;
	return SW_OK;
}

/* CPLC stamps: offset and length of the fields each production part owns,
 * and the states in which it handles the chip. */
static const struct {
	uint16_t tag;
	uint8_t off, len;
	uint8_t states;
	uint8_t need_sm;
} stamps[] = {
	{0xDF41, 18, 4, 1u << COS_LC_TRANSPORT | 1u << COS_LC_INITIALIZATION, 0},
	{0xDF42, 22, 4, 1u << COS_LC_TRANSPORT | 1u << COS_LC_INITIALIZATION, 0},
	{0xDF43, 26, 8, 1u << COS_LC_INITIALIZATION, 0},
	{0xDF44, 34, 8, 1u << COS_LC_PERSONALIZATION, 1},
};

static uint16_t put_stamp(cos_ctx_t *c, const apdu_t *a, unsigned i)
{
	if (!(stamps[i].states & (1u << c->sys.lc)))
		return SW_CONDITIONS;
	if (stamps[i].need_sm && !a->sm)
		return SW_SECURITY;
	if (a->nc != stamps[i].len)
		return SW_WRONG_LENGTH;
	uint8_t acc = 0;
	for (size_t k = 0; k < a->nc; k++)
		acc |= a->data[k];
	if (!acc)
		return SW_BAD_DATA;
	acc = 0;
	for (size_t k = 0; k < stamps[i].len; k++)
		acc |= c->sys.cplc[stamps[i].off + k];
	if (acc)
		return SW_CONDITIONS; /* written once, by its owner */
	sys_area_t s = c->sys;
	cf_memcpy(s.cplc + stamps[i].off, a->data, stamps[i].len);
	uint16_t sw = lc_commit_sys(c, &s);
	cos_wipe(&s, sizeof s);
	return sw;
}

uint16_t cmd_put_data(cos_ctx_t *c, apdu_t *a)
{
	uint16_t tag = (uint16_t)(a->p1 << 8 | a->p2);
	if (tag == 0xDF01)
		return sec_put_object(c, a, COS_OBJ_PIN);
	if (tag == 0xDF02)
		return sec_put_object(c, a, COS_OBJ_KEY);
	for (unsigned i = 0; i < sizeof stamps / sizeof stamps[0]; i++)
		if (stamps[i].tag == tag)
			return put_stamp(c, a, i);
	return SW_REF_NOT_FOUND;
}

/* ---- GlobalPlatform ---- */

uint16_t cmd_init_update(cos_ctx_t *c, apdu_t *a)
{
	if (a->p2)
		return SW_BAD_P1P2;
	if (a->nc != 8)
		return SW_WRONG_LENGTH;
	scp03_keyset_t ks;
	uint16_t sw;
	if (sec_scp03_keyset(c, a->p1, &ks) < 0) {
		scp03_reset(&c->sc);
		sw = SW_REF_NOT_FOUND;
	} else {
		uint8_t div[10];
		cf_memcpy(div, c->sys.serial, COS_SERIAL_LEN);
		div[8] = c->sys.model;
		div[9] = 0x03;
		size_t n = 0;
		sw = scp03_initialize_update(&c->sc, c->hal, &ks, div, a->data,
					     c->rbuf, sizeof c->rbuf, &n);
		c->rlen = sw == SW_OK ? n : 0;
	}
	cos_wipe(&ks, sizeof ks);
	return sw;
}

uint16_t cmd_gp_ext_auth(cos_ctx_t *c, apdu_t *a)
{
	return scp03_external_authenticate(&c->sc, c->hal, a->raw, a->raw_len);
}

static const uint8_t isd_aid[] = {0xA0, 0x00, 0x00, 0x01,
				  0x51, 0x00, 0x00, 0x00};

uint16_t cmd_get_status(cos_ctx_t *c, apdu_t *a)
{
	if (a->p2 != 0x00 && a->p2 != 0x02)
		return SW_BAD_P1P2;
	if (a->nc < 2 || a->data[0] != 0x4F || !cos_tlv_valid(a->data, a->nc))
		return SW_BAD_DATA;
	if (a->p1 != 0x80)
		return SW_REF_NOT_FOUND; /* no applications, no load files */
	uint8_t lcs = cos_gp_state((cos_lifecycle_t)c->sys.lc, c->sys.locked);
	static const uint8_t priv[3] = {0x9E, 0x00, 0x00};
	size_t pos = 0;
	if (a->p2 == 0x00) {
		c->rbuf[pos++] = sizeof isd_aid;
		cf_memcpy(c->rbuf + pos, isd_aid, sizeof isd_aid);
		pos += sizeof isd_aid;
		c->rbuf[pos++] = lcs;
		c->rbuf[pos++] = priv[0];
	} else {
		uint8_t inner[32];
		size_t n = 0;
		cos_tlv_put(inner, sizeof inner, &n, 0x4F, isd_aid,
			    sizeof isd_aid);
		cos_tlv_put(inner, sizeof inner, &n, 0x9F70, &lcs, 1);
		cos_tlv_put(inner, sizeof inner, &n, 0xC5, priv, sizeof priv);
		cos_tlv_put(c->rbuf, sizeof c->rbuf, &pos, 0xE3, inner, n);
	}
	c->rlen = pos;
	return SW_OK;
}

uint16_t cmd_set_status(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 != 0x80)
		return SW_BAD_P1P2;
	if (a->nc)
		return SW_WRONG_LENGTH;
	uint8_t lc = c->sys.lc;
	int need_sm = lc >= COS_LC_PERSONALIZATION;
	scp03_keyset_t ks;
	switch (a->p2) {
	case 0x07: /* INITIALIZED: burn the fuse */
		if (lc != COS_LC_INITIALIZATION)
			return SW_CONDITIONS;
		if (sec_scp03_keyset(c, 0, &ks) < 0)
			return SW_CONDITIONS; /* no issuer keys: no way in */
		cos_wipe(&ks, sizeof ks);
		return lc_set_state(c, COS_LC_PERSONALIZATION, 0);
	case 0x0F: /* SECURED */
		if (lc != COS_LC_PERSONALIZATION && lc != COS_LC_OPERATIONAL)
			return SW_CONDITIONS;
		if (!a->sm)
			return SW_SECURITY;
		return lc_set_state(c, COS_LC_OPERATIONAL, 0);
	case 0x7F: /* CARD_LOCKED */
		if (lc != COS_LC_OPERATIONAL)
			return SW_CONDITIONS;
		if (!a->sm)
			return SW_SECURITY;
		return lc_set_state(c, COS_LC_OPERATIONAL, 1);
	case 0xFF: /* TERMINATED */
		if (need_sm && !a->sm)
			return SW_SECURITY;
		return lc_set_state(c, COS_LC_TERMINATED, 0);
	case 0x01:
		return SW_CONDITIONS; /* OP_READY: there is no way back */
	default:
		return SW_BAD_P1P2;
	}
}

/* ---- the fab's test commands (MANUFACTURING only) ---- */

uint16_t cmd_test_nvm(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || a->p2)
		return SW_BAD_P1P2;
	if (a->nc)
		return SW_WRONG_LENGTH;
	/* March over the body area, all free: in MANUFACTURING no file but
	 * the MF exists (CREATE FILE needs INITIALIZATION). Write 55, check,
	 * write AA, check, put the old bytes back. Each step is a journal transaction, so a
	 * power cut leaves the area as one of those states, all harmless:
	 * no file owns it. */
	static const uint8_t pat[2] = {0x55, 0xAA};
	uint8_t save[256], buf[256];
	uint32_t tested = 0;
	uint32_t end = c->hal->nvm_size;
	for (uint32_t off = c->sys.data_off; off < end; off += sizeof buf) {
		uint32_t n = end - off < sizeof buf ? end - off : sizeof buf;
		cf_memcpy(save, c->hal->nvm + off, n);
		for (int k = 0; k < 2; k++) {
			cf_memset(buf, pat[k], n);
			nvm_begin(c);
			nvm_stage(c, off, buf, n);
			if (nvm_commit(c) != SW_OK ||
			    cf_memcmp(c->hal->nvm + off, buf, n) != 0)
				return SW_MEMORY;
		}
		nvm_begin(c);
		nvm_stage(c, off, save, n);
		if (nvm_commit(c) != SW_OK)
			return SW_MEMORY;
		tested += n;
	}
	cos_put32(c->rbuf, tested);
	c->rlen = 4;
	return SW_OK;
}

uint16_t cmd_read_nvm(cos_ctx_t *c, apdu_t *a)
{
	if (a->nc || !a->has_le)
		return SW_WRONG_LENGTH;
	uint32_t off = (uint32_t)(a->p1 << 8 | a->p2);
	if (off >= c->hal->nvm_size)
		return SW_WRONG_OFFSET;
	size_t want = a->ne > COS_APDU_MAX_DATA ? COS_APDU_MAX_DATA : a->ne;
	size_t n = c->hal->nvm_size - off < want ? c->hal->nvm_size - off : want;
	cf_memcpy(c->rbuf, c->hal->nvm + off, n);
	c->rlen = n;
	return n < a->ne && n < COS_APDU_MAX_DATA ? SW_EOF : SW_OK;
}

uint16_t cmd_fab_close(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || a->p2)
		return SW_BAD_P1P2;
	const uint8_t *d = a->data, *v;
	size_t n = a->nc, vl;
	if (!n || !cos_tlv_valid(d, n))
		return SW_BAD_DATA;
	sys_area_t s = c->sys;
	uint16_t sw = SW_BAD_DATA;
	uint8_t acc = 0;
	if (cos_tlv_find(d, n, 0x80, &v, &vl) != 1 || vl != COS_SERIAL_LEN)
		goto out;
	cf_memcpy(s.serial, v, vl);
	for (size_t k = 0; k < vl; k++)
		acc |= v[k];
	if (!acc)
		goto out;
	if (cos_tlv_find(d, n, 0x81, &v, &vl) != 1 || vl != sizeof s.tcode)
		goto out;
	cf_memcpy(s.tcode, v, vl);
	s.tmax = 3;
	int r = cos_tlv_find(d, n, 0x82, &v, &vl);
	if (r == 1) {
		if (vl != 1 || v[0] < 1 || v[0] > 15)
			goto out;
		s.tmax = v[0];
	}
	s.ttries = s.tmax;
	r = cos_tlv_find(d, n, 0x83, &v, &vl);
	if (r == 1) {
		if (vl != 2)
			goto out;
		cf_memcpy(s.cplc + 10, v, 2); /* IC fabrication date */
	}
	cf_memcpy(s.cplc + 12, s.serial + 4, 4); /* IC serial number */
	r = cos_tlv_find(d, n, 0x84, &v, &vl);
	if (r == 1) {
		if (vl != 2)
			goto out;
		cf_memcpy(s.cplc + 16, v, 2); /* IC batch identifier */
	}
	s.lc = COS_LC_TRANSPORT;
	sw = lc_commit_sys(c, &s);
out:
	cos_wipe(&s, sizeof s);
	return sw;
}
