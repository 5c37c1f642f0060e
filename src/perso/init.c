/*
 * init.c - initialization (part 6) of one chip (contract in init.h).
 *
 * Secrets: the transport code and the clear card keys exist in this
 * process only in the APDU being built and the few bytes they come from;
 * both are wiped right after the exchange, whatever its outcome. Error
 * messages name the step, the command and the status word only.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "perso/init.h"
#include "perso/perso_int.h"

static perso_status_t put_pins(pc_ctx_t *c, const profile_t *p, int with_puk)
{
	const profile_pin_t *pins;
	size_t np, i, n;
	uint8_t data[48], a[64], val[16];
	char step[96];
	perso_status_t st;

	pins = profile_pins(p, &np);
	for (i = 0; i < np; i++) {
		const profile_pin_t *pin = &pins[i];

		if ((pin->puk >= 0) != with_puk)
			continue;
		snprintf(step, sizeof step, "PIN '%s'", pin->name);
		st = pc_select(c, p, pin->df, step);
		if (st != PERSO_OK)
			return st;
		n = 0;
		data[n++] = 0x80, data[n++] = 1, data[n++] = pin->ref;
		data[n++] = 0x81, data[n++] = 1, data[n++] = pin->tries;
		data[n++] = 0x82, data[n++] = 1, data[n++] = pin->length;
		if (pin->source == PROFILE_SRC_FIXED && pin->fixed != NULL) {
			if (pc_pin_encode(pin, pin->fixed, strlen(pin->fixed),
					  val) != 0) {
				OPENSSL_cleanse(val, sizeof val);
				return pc_fail(
					c, PERSO_ERR_FORMAT,
					"%s: the fixed value does not fit "
					"its format",
					step);
			}
			data[n++] = 0x83, data[n++] = pin->length;
			memcpy(data + n, val, pin->length);
			n += pin->length;
			OPENSSL_cleanse(val, sizeof val);
		}
		if (pin->puk >= 0) {
			data[n++] = 0x84, data[n++] = 1;
			data[n++] = pins[pin->puk].ref;
		}
		n = pc_mk(a, 0x00, 0xDA, 0xDF, 0x01, data, n, -1);
		OPENSSL_cleanse(data, sizeof data);
		st = pc_xchg(c, step, "PUT DATA DF01", a, n);
		OPENSSL_cleanse(a, sizeof a);
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

static perso_status_t put_keys(pc_ctx_t *c, const profile_t *p,
			       perso_token_t *t, const perso_init_opts_t *o,
			       const uint8_t serial[PERSO_SERIAL_LEN])
{
	const profile_key_t *keys;
	size_t nk, i, n;
	uint8_t clear[32], data[64], a[80];
	char step[96];
	perso_status_t st;

	keys = profile_keys(p, &nk);
	for (i = 0; i < nk; i++) {
		const profile_key_t *k = &keys[i];

		snprintf(step, sizeof step, "key '%s'", k->name);
		st = pc_card_key(c, k, t, o->wrap_label, serial, clear, step);
		if (st != PERSO_OK)
			return st;
		st = pc_select(c, p, k->df, step);
		if (st != PERSO_OK) {
			OPENSSL_cleanse(clear, sizeof clear);
			return st;
		}
		n = 0;
		data[n++] = 0x80, data[n++] = 1, data[n++] = k->ref;
		data[n++] = 0x81, data[n++] = 1, data[n++] = k->kvn;
		data[n++] = 0x82, data[n++] = 1, data[n++] = k->cos_alg;
		data[n++] = 0x83, data[n++] = 1, data[n++] = k->usage;
		data[n++] = 0x84, data[n++] = k->key_len;
		memcpy(data + n, clear, k->key_len);
		n += k->key_len;
		OPENSSL_cleanse(clear, sizeof clear);
		data[n++] = 0x85, data[n++] = 1, data[n++] = k->tries;
		n = pc_mk(a, 0x00, 0xDA, 0xDF, 0x02, data, n, -1);
		OPENSSL_cleanse(data, sizeof data);
		st = pc_xchg(c, step, "PUT DATA DF02", a, n);
		OPENSSL_cleanse(a, sizeof a);
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

/* ---- the memory card (ACS pseudo-APDUs, docs/memcard.md) ---- */

#define MC_PSC PC_PSC

static perso_status_t mc_init(pc_ctx_t *c, const profile_t *p, perso_token_t *t,
			      const perso_init_opts_t *o,
			      uint8_t serial_out[PERSO_SERIAL_LEN])
{
	static const uint8_t card_type = 0x06;
	const profile_area_t *areas;
	uint8_t serial[PERSO_SERIAL_LEN], code[8], psc[MC_PSC], a[300];
	uint8_t back[256];
	size_t na, i, n;
	unsigned len;
	char step[96];
	perso_status_t st;

	st = pc_xchg(c, "identify", "SELECT_CARD_TYPE", a,
		     pc_mk(a, 0xFF, 0xA4, 0x00, 0x00, &card_type, 1, -1));
	if (st == PERSO_OK)
		st = pc_mc_read(c, "identify", 8, PERSO_SERIAL_LEN, serial);
	if (st != PERSO_OK)
		return st;
	if (serial_out != NULL)
		memcpy(serial_out, serial, PERSO_SERIAL_LEN);

	/* The transport PSC: the first 3 bytes of the transport code. */
	st = perso_transport_code(t, o->tmk, serial, code);
	if (st != PERSO_OK)
		return pc_fail(c, st, "transport PSC: %s",
			       perso_token_error(t));
	n = pc_mk(a, 0xFF, 0x20, 0x00, 0x00, code, MC_PSC, -1);
	OPENSSL_cleanse(code, sizeof code);
	st = pc_xchg_sw(c, "transport PSC", "PRESENT_CODE_MEMORY_CARD", a, n,
			0x9007);
	OPENSSL_cleanse(a, sizeof a);
	if (st != PERSO_OK)
		return st;

	/* The areas written at initialization, read back. */
	areas = profile_areas(p, &na);
	for (i = 0; i < na; i++) {
		if (areas[i].data == NULL || areas[i].data_len == 0)
			continue;
		snprintf(step, sizeof step, "area '%s'", areas[i].name);
		len = (unsigned)areas[i].data_len;
		if (areas[i].start + len > 256 || len > 255)
			return pc_fail(c, PERSO_ERR_PARAM, "%s: out of memory",
				       step);
		st = pc_xchg(c, step, "WRITE_MEMORY_CARD", a,
			     pc_mk(a, 0xFF, 0xD0, 0x00, (uint8_t)areas[i].start,
				   areas[i].data, len, -1));
		if (st == PERSO_OK)
			st = pc_mc_read(c, step, areas[i].start, len, back);
		if (st != PERSO_OK)
			return st;
		if (memcmp(back, areas[i].data, len) != 0)
			return pc_fail(c, PERSO_ERR_CARD,
				       "%s: read back differs from what was "
				       "written",
				       step);
	}

	/* The issuer's PSC replaces the transport PSC. */
	st = pc_issuer_psc(c, p, t, o->wrap_label, serial, psc);
	if (st != PERSO_OK)
		return st;
	n = pc_mk(a, 0xFF, 0xD2, 0x00, 0x01, psc, MC_PSC, -1);
	OPENSSL_cleanse(psc, sizeof psc);
	st = pc_xchg(c, "issuer PSC", "CHANGE_CODE_MEMORY_CARD", a, n);
	OPENSSL_cleanse(a, sizeof a);
	if (st != PERSO_OK)
		return st;

	/* Protection of the areas the profile protects at initialization:
	 * each byte compared with its current content. */
	for (i = 0; i < na; i++) {
		if (areas[i].protect != PROFILE_PROTECT_INIT)
			continue;
		snprintf(step, sizeof step, "protect area '%s'", areas[i].name);
		if (areas[i].start >= 32 || areas[i].length == 0)
			return pc_fail(c, PERSO_ERR_PARAM,
				       "%s: outside bytes 0..31", step);
		len = areas[i].length;
		if (areas[i].start + len > 32)
			len = 32 - areas[i].start;
		st = pc_mc_read(c, step, areas[i].start, len, back);
		if (st == PERSO_OK)
			st = pc_xchg(c, step, "WRITE_PROTECTION_MEMORY_CARD", a,
				     pc_mk(a, 0xFF, 0xD1, 0x00,
					   (uint8_t)areas[i].start, back, len,
					   -1));
		if (st != PERSO_OK)
			return st;
	}
	return PERSO_OK;
}

perso_status_t perso_init_card(reader_t *r, const profile_t *p,
			       perso_token_t *t, const perso_init_opts_t *o,
			       uint8_t serial_out[PERSO_SERIAL_LEN], char *err,
			       size_t errcap)
{
	const profile_info_t *info;
	const profile_file_t *files;
	uint8_t serial[PERSO_SERIAL_LEN], code[8], a[128], fcp[96];
	uint8_t lcs = 0;
	uint16_t sw = 0;
	int resumed;
	size_t nf, i, n;
	char step[96];
	pc_ctx_t c;
	perso_status_t st;
	reader_status_t rs;

	memset(&c, 0, sizeof c);
	c.r = r, c.err = err, c.errcap = errcap;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (r == NULL || p == NULL || t == NULL || o == NULL || o->tmk == NULL)
		return pc_fail(&c, PERSO_ERR_PARAM, "init: missing argument");
	info = profile_info(p);
	if (info == NULL || (info->kind != PROFILE_CHIP_COS &&
			     info->kind != PROFILE_CHIP_MEMCARD))
		return pc_fail(&c, PERSO_ERR_PARAM,
			       "init: the profile's chip is not known");
	if (!reader_powered(r)) {
		rs = reader_power_up(r);
		if (rs != READER_OK)
			return pc_fail(
				&c, PERSO_ERR_IO, "init: power up: %s: %s",
				reader_strerror(rs), reader_error_detail(r));
	}
	if (info->kind == PROFILE_CHIP_MEMCARD)
		return mc_init(&c, p, t, o, serial_out);
	st = pc_select_mf(&c, "identify");
	if (st == PERSO_OK)
		st = pc_chip_data(&c, &lcs, serial);
	if (st != PERSO_OK)
		return st;
	if (serial_out != NULL)
		memcpy(serial_out, serial, PERSO_SERIAL_LEN);
	/* A chip in INITIALIZATION was opened by a run that was stopped:
	 * its transport code is spent, and what the run made is there. */
	resumed = o->resume && lcs == COS_LC_INITIALIZATION;
	if (lcs != COS_LC_TRANSPORT && !resumed)
		return pc_fail(&c, PERSO_ERR_CARD,
			       "init: the chip is not in TRANSPORT (life cycle "
			       "%02X)%s",
			       lcs,
			       lcs == COS_LC_INITIALIZATION ?
				       ": an initialization was stopped "
				       "half-way (resume it)" :
				       "");

	/* The transport code: derived in the token, in this buffer and the
	 * APDU for one exchange. */
	if (!resumed) {
		st = perso_transport_code(t, o->tmk, serial, code);
		if (st != PERSO_OK)
			return pc_fail(&c, st, "transport code: %s",
				       perso_token_error(t));
		n = pc_mk(a, 0x00, 0x20, 0x00, 0x1F, code, 8, -1);
		OPENSSL_cleanse(code, sizeof code);
		st = pc_xchg(&c, "transport code", "VERIFY 1F", a, n);
		OPENSSL_cleanse(a, sizeof a);
		if (st != PERSO_OK)
			return st;
	}

	/* CPLC: the pre-personalizer's stamp. */
	st = pc_cplc_stamp(&c, 0xDF43, o->prepersonalizer, o->equipment, 0);
	if (st != PERSO_OK)
		return st;

	/* The structure, a DF before its children. */
	files = profile_files(p, &nf);
	for (i = 0; i < nf; i++) {
		snprintf(step, sizeof step, "file '%s'", files[i].name);
		st = pc_select(&c, p, files[i].parent, step);
		if (st != PERSO_OK)
			return st;
		n = profile_file_fcp(p, i, fcp, sizeof fcp);
		if (n == 0 || n + 5 > sizeof a)
			return pc_fail(&c, PERSO_ERR_PARAM, "%s: no FCP", step);
		/* Resumed: a file the killed run created is there whole
		 * (CREATE FILE is one journal transaction on the chip). */
		st = pc_xchg_any(&c, step, "CREATE FILE", a,
				 pc_mk(a, 0x00, 0xE0, 0x00, 0x00, fcp, n, -1),
				 &sw);
		if (st != PERSO_OK)
			return st;
		if (sw != 0x9000 && !(resumed && sw == 0x6A89))
			return pc_fail(&c, PERSO_ERR_CARD,
				       "%s: CREATE FILE: SW %04X", step, sw);
	}

	/* PINs: the unblocking ones first, then those they unblock. */
	st = put_pins(&c, p, 0);
	if (st == PERSO_OK)
		st = put_pins(&c, p, 1);
	if (st == PERSO_OK)
		st = put_keys(&c, p, t, o, serial);
	if (st != PERSO_OK)
		return st;

	st = pc_select_mf(&c, "fuse");
	if (st == PERSO_OK)
		st = pc_xchg(&c, "fuse", "SET STATUS 07", a,
			     pc_mk(a, 0x80, 0xF0, 0x80, 0x07, NULL, 0, -1));
	return st;
}
