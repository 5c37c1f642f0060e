/*
 * cos.c - the card OS's front door: chip models, mask load (format), power
 * up with journal recovery, the answer to reset, and the APDU loop.
 *
 * The APDU loop: parse the command (cases 1 to 4, short or extended), check
 * the class, unwrap secure messaging when an SCP03 session is open, look the
 * instruction up in one const table, gate it by life cycle state, run its
 * handler, wrap the response (R-MAC/R-ENC), and deliver at most Ne bytes,
 * keeping the rest for GET RESPONSE (61xx).
 */
#include "cos_int.h"

static const cos_model_t models[] = {
	{"cf32", "CPU chip, 32 KiB EEPROM, 64 files, 32 PIN/key objects", 0x32,
	 32u * 1024u, 64, 32, 0x3201},
	{"cf64", "CPU chip, 64 KiB EEPROM, 128 files, 32 PIN/key objects",
	 0x64, 64u * 1024u, 128, 32, 0x6401},
};

#define N_MODELS (sizeof models / sizeof models[0])

static int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

const cos_model_t *cos_model_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_MODELS; i++)
		if (str_eq(models[i].name, name))
			return &models[i];
	return NULL;
}

const cos_model_t *cos_model_by_id(uint8_t id)
{
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].id == id)
			return &models[i];
	return NULL;
}

const cos_model_t *cos_models(size_t *count)
{
	if (count)
		*count = N_MODELS;
	return models;
}

const char *cos_strerror(cos_status_t st)
{
	switch (st) {
	case COS_OK: return "success";
	case COS_ERR_PARAM: return "invalid argument";
	case COS_ERR_MODEL: return "unknown chip model or image size mismatch";
	case COS_ERR_FORMAT: return "image holds no card OS (not formatted)";
	case COS_ERR_CORRUPT: return "image failed its consistency check";
	case COS_ERR_NVM: return "NVM write failed";
	case COS_ERR_POWER: return "power lost: chip mute until power up";
	case COS_ERR_NOT_POWERED: return "chip not powered";
	case COS_ERR_CRYPTO: return "crypto engine or RNG failed";
	}
	return "unknown error";
}

const char *cos_lifecycle_name(cos_lifecycle_t lc)
{
	switch (lc) {
	case COS_LC_MANUFACTURING: return "MANUFACTURING";
	case COS_LC_TRANSPORT: return "TRANSPORT";
	case COS_LC_INITIALIZATION: return "INITIALIZATION";
	case COS_LC_PERSONALIZATION: return "PERSONALIZATION";
	case COS_LC_OPERATIONAL: return "OPERATIONAL";
	case COS_LC_TERMINATED: return "TERMINATED";
	}
	return "UNKNOWN";
}

uint8_t cos_gp_state(cos_lifecycle_t lc, int locked)
{
	switch (lc) {
	case COS_LC_PERSONALIZATION: return 0x07;
	case COS_LC_OPERATIONAL: return locked ? 0x7F : 0x0F;
	case COS_LC_TERMINATED: return 0xFF;
	default: return 0x01;
	}
}

static cos_ctx_t *ctx_of(cos_chip_t *chip)
{
	return (cos_ctx_t *)(void *)chip;
}

static const cos_ctx_t *cctx_of(const cos_chip_t *chip)
{
	return (const cos_ctx_t *)(const void *)chip;
}

/* ---- mask load ---- */

/* YDDD of the card OS release, the CPLC's OS release date. */
#define OS_ID 0x4346u
#define OS_RELEASE_DATE 0x6320u
#define OS_RELEASE_LEVEL 0x0100u
#define IC_FABRICATOR 0x4346u

cos_status_t cos_format(const hal_t *hal, const cos_model_t *model)
{
	if (!hal || !model)
		return COS_ERR_PARAM;
	if (hal->nvm_size != model->nvm_size)
		return COS_ERR_MODEL;

	/* Not journaled: until the system area's magic and CRC are written
	 * (last), the image is simply not formatted. */
	static const uint8_t zero[256];
	sys_area_t s;
	cf_memset(&s, 0, sizeof s);
	hal_status_t st = hal->nvm_write(hal->ctx, SYS_OFF, zero, sizeof zero);
	if (st == HAL_OK)
		st = jrnl_format(hal, JRNL_OFF);

	s.magic = COS_MAGIC;
	s.layout = COS_LAYOUT;
	s.model = model->id;
	s.lc = COS_LC_MANUFACTURING;
	s.max_files = model->max_files;
	s.max_objects = model->max_objects;
	s.obj_off = OBJ_OFF;
	s.file_off = OBJ_OFF + (uint32_t)model->max_objects * sizeof(obj_entry_t);
	s.data_off = s.file_off + (uint32_t)model->max_files * sizeof(fs_entry_t);
	cos_put16(s.cplc + 0, IC_FABRICATOR);
	cos_put16(s.cplc + 2, model->ic_type);
	cos_put16(s.cplc + 4, OS_ID);
	cos_put16(s.cplc + 6, OS_RELEASE_DATE);
	cos_put16(s.cplc + 8, OS_RELEASE_LEVEL);

	for (uint32_t off = s.obj_off; st == HAL_OK && off < s.data_off;
	     off += sizeof zero) {
		uint32_t n = s.data_off - off < sizeof zero ? s.data_off - off
							    : sizeof zero;
		st = hal->nvm_write(hal->ctx, off, zero, n);
	}
	fs_entry_t mf;
	fs_make_mf(&mf);
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, s.file_off, (const uint8_t *)&mf,
				    sizeof mf);
	s.crc = cos_crc32(0, (const uint8_t *)&s, offsetof(sys_area_t, crc));
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, SYS_OFF, (const uint8_t *)&s,
				    sizeof s);
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);
	if (st == HAL_ERR_POWER)
		return COS_ERR_POWER;
	return st == HAL_OK ? COS_OK : COS_ERR_NVM;
}

/* ---- power ---- */

size_t cos_make_atr(const cos_ctx_t *c, uint8_t *atr, size_t cap)
{
	uint8_t a[COS_ATR_MAX];
	size_t n = 0;
	a[n++] = 0x3B;       /* TS: direct convention */
	a[n++] = 0x9E;       /* T0: TA1, TD1; 14 historical bytes */
	a[n++] = 0x96;       /* TA1: Fi 512, Di 32 */
	a[n++] = 0x80;       /* TD1: TD2 follows; T=0 */
	a[n++] = 0x31;       /* TD2: TA3, TB3 follow; T=1 */
	a[n++] = 0xFE;       /* TA3: IFSC 254 */
	a[n++] = 0x45;       /* TB3: BWI 4, CWI 5 */
	a[n++] = 0x80;       /* compact-TLV historical bytes */
	a[n++] = 0x31;       /* card service data */
	a[n++] = 0xC0;       /*   selection by full and partial DF name */
	a[n++] = 0x73;       /* card capabilities */
	a[n++] = 0xF6;       /*   DF name full/partial, path, FID, SFI, rec# */
	a[n++] = 0x21;       /*   writes: proprietary (overwrite); 1-byte units */
	a[n++] = 0x40;       /*   extended Lc and Le */
	a[n++] = 0x64;       /* pre-issuing data: serial hint */
	cf_memcpy(a + n, c->sys.serial + 4, 4);
	n += 4;
	a[n++] = 0x81;       /* status indicator: LCS */
	a[n++] = lc_mf_lcs(c->sys.lc, c->sys.locked);
	uint8_t tck = 0;
	for (size_t i = 1; i < n; i++)
		tck ^= a[i];
	a[n++] = tck;
	if (n > cap)
		return 0;
	cf_memcpy(atr, a, n);
	return n;
}

static cos_status_t load_sys(cos_ctx_t *c)
{
	const hal_t *hal = c->hal;
	cf_memcpy(&c->sys, hal->nvm + SYS_OFF, sizeof c->sys);
	if (c->sys.magic != COS_MAGIC || c->sys.layout != COS_LAYOUT)
		return COS_ERR_FORMAT;
	if (cos_crc32(0, (const uint8_t *)&c->sys, offsetof(sys_area_t, crc)) !=
	    c->sys.crc)
		return COS_ERR_CORRUPT;
	c->model = cos_model_by_id(c->sys.model);
	if (!c->model || c->model->nvm_size != hal->nvm_size ||
	    c->sys.max_files != c->model->max_files ||
	    c->sys.max_objects != c->model->max_objects)
		return COS_ERR_MODEL;
	if (c->sys.lc < COS_LC_MANUFACTURING || c->sys.lc > COS_LC_TERMINATED)
		return COS_ERR_CORRUPT;
	return COS_OK;
}

cos_status_t cos_power_on(cos_chip_t *chip, const hal_t *hal, uint8_t *atr,
			  size_t atr_cap, size_t *atr_len)
{
	if (!chip || !hal || !hal->nvm || hal->nvm_size < 8192 || !atr ||
	    !atr_len)
		return COS_ERR_PARAM;
	cos_ctx_t *c = ctx_of(chip);
	cos_wipe(c, sizeof *c);
	c->hal = hal;
	cos_status_t st = nvm_recover(c);
	if (st != COS_OK)
		return st;
	st = load_sys(c);
	if (st != COS_OK)
		return st;
	c->powered = 1;
	c->proto = COS_PROTO_T1;
	c->cur_df = 0;
	c->cur_ef = NO_FILE;
	c->name_match = NO_FILE;

	/* A transport chip out of tries is dead, even if the power was cut
	 * between the last decrement and the state change. */
	if (c->sys.lc == COS_LC_TRANSPORT && c->sys.ttries == 0) {
		if (lc_set_state(c, COS_LC_TERMINATED, 0) != SW_OK) {
			c->powered = 0;
			return c->mute ? COS_ERR_POWER : COS_ERR_NVM;
		}
	}
	size_t n = cos_make_atr(c, atr, atr_cap);
	if (!n) {
		c->powered = 0;
		return COS_ERR_PARAM;
	}
	*atr_len = n;
	return COS_OK;
}

cos_status_t cos_set_protocol(cos_chip_t *chip, int proto)
{
	cos_ctx_t *c = ctx_of(chip);
	if (!chip || (proto != COS_PROTO_T0 && proto != COS_PROTO_T1))
		return COS_ERR_PARAM;
	if (!c->powered)
		return COS_ERR_NOT_POWERED;
	c->proto = (uint8_t)proto;
	return COS_OK;
}

void cos_power_off(cos_chip_t *chip)
{
	if (chip)
		cos_wipe(chip, sizeof *chip);
}

/* ---- the APDU loop ---- */

/* Parse cases 1 to 4, short and extended (ISO/IEC 7816-3 12.1). */
static int parse(const uint8_t *b, size_t n, apdu_t *a)
{
	cf_memset(a, 0, sizeof *a);
	if (n < 4)
		return -1;
	a->cla = b[0];
	a->ins = b[1];
	a->p1 = b[2];
	a->p2 = b[3];
	a->raw = b;
	a->raw_len = n;
	a->data = b + 4; /* no data: an empty field, never NULL */
	if (n == 4)
		return 0; /* case 1 */
	if (n == 5) { /* case 2S */
		a->has_le = 1;
		a->ne = b[4] ? b[4] : 256;
		return 0;
	}
	if (b[4] != 0) { /* case 3S or 4S */
		size_t lc = b[4];
		if (n == 5 + lc) {
			a->nc = lc;
		} else if (n == 6 + lc) {
			a->nc = lc;
			a->has_le = 1;
			a->ne = b[5 + lc] ? b[5 + lc] : 256;
		} else {
			return -1;
		}
		a->data = b + 5;
		return 0;
	}
	/* extended: b[4] == 0 */
	if (n < 7)
		return -1;
	a->ext = 1;
	if (n == 7) { /* case 2E */
		size_t le = (size_t)b[5] << 8 | b[6];
		a->has_le = 1;
		a->ne = le ? le : 65536;
		return 0;
	}
	size_t lc = (size_t)b[5] << 8 | b[6];
	if (lc == 0)
		return -1;
	if (n == 7 + lc) {
		a->nc = lc;
	} else if (n == 9 + lc) {
		size_t le = (size_t)b[7 + lc] << 8 | b[8 + lc];
		a->nc = lc;
		a->has_le = 1;
		a->ne = le ? le : 65536;
	} else {
		return -1;
	}
	a->data = b + 7;
	return 0;
}

static uint16_t cmd_get_response(cos_ctx_t *c, apdu_t *a)
{
	if (a->p1 || a->p2)
		return SW_BAD_P1P2;
	if (!c->pend_len)
		return SW_CONDITIONS;
	if (!a->has_le || a->nc)
		return SW_WRONG_LENGTH;
	/* Delivered straight from the pending buffer by the loop. */
	return SW_OK;
}

/* States in which a command may run: bit (1 << lc). */
#define ST(x) (1u << COS_LC_##x)
#define ST_ANY (ST(MANUFACTURING) | ST(TRANSPORT) | ST(INITIALIZATION) | \
		ST(PERSONALIZATION) | ST(OPERATIONAL) | ST(TERMINATED))
#define ST_ALIVE (ST_ANY & ~ST(TERMINATED))
#define ST_ISSUED (ST(INITIALIZATION) | ST(PERSONALIZATION) | ST(OPERATIONAL))
#define ST_SECURED (ST(PERSONALIZATION) | ST(OPERATIONAL))

enum { ISO = 1, GP = 2 };
#define F_TEST 1u /* exists only in MANUFACTURING: elsewhere 6D00 */

typedef struct {
	uint8_t cls, ins;
	uint8_t states;
	uint8_t flags;
	cmd_fn fn;
} cmd_t;

static const cmd_t commands[] = {
	{ISO, 0xA4, ST_ALIVE, 0, cmd_select},
	{ISO, 0xB0, ST_ISSUED, 0, cmd_read_binary},
	{ISO, 0xD6, ST_ISSUED, 0, cmd_update_binary},
	{ISO, 0x0E, ST_ISSUED, 0, cmd_erase_binary},
	{ISO, 0xB2, ST_ISSUED, 0, cmd_read_record},
	{ISO, 0xDC, ST_ISSUED, 0, cmd_update_record},
	{ISO, 0xE2, ST_ISSUED, 0, cmd_append_record},
	{ISO, 0xA2, ST_ISSUED, 0, cmd_search_record},
	{ISO, 0xE0, ST_ISSUED, 0, cmd_create_file},
	{ISO, 0xE4, ST_ISSUED, 0, cmd_delete_file},
	{ISO, 0x44, ST_ISSUED, 0, cmd_activate_file},
	{ISO, 0x04, ST_ISSUED, 0, cmd_deactivate_file},
	{ISO, 0xE6, ST_ISSUED, 0, cmd_terminate_df},
	{ISO, 0xE8, ST_ISSUED, 0, cmd_terminate_ef},
	{ISO, 0xFE, ST_ISSUED, 0, cmd_terminate_card},
	{ISO, 0x20, ST_ALIVE & ~ST(MANUFACTURING), 0, cmd_verify},
	{ISO, 0x24, ST_ISSUED, 0, cmd_change_ref},
	{ISO, 0x2C, ST_ISSUED, 0, cmd_reset_retry},
	{ISO, 0x84, ST_ISSUED, 0, cmd_get_challenge},
	{ISO, 0x82, ST_ISSUED, 0, cmd_ext_auth},
	{ISO, 0x88, ST_ISSUED, 0, cmd_int_auth},
	{ISO, 0xCA, ST_ANY, 0, cmd_get_data},
	{ISO, 0xDA, ST_ALIVE & ~ST(MANUFACTURING), 0, cmd_put_data},
	{ISO, 0xC0, ST_ANY, 0, cmd_get_response},
	{GP, 0xCA, ST_ANY, 0, cmd_get_data},
	{GP, 0x50, ST_ISSUED, 0, cmd_init_update},
	{GP, 0x82, ST_ISSUED, 0, cmd_gp_ext_auth},
	{GP, 0xF2, ST_ALIVE, 0, cmd_get_status},
	{GP, 0xF0, ST_ISSUED, 0, cmd_set_status},
	{GP, 0x30, ST(MANUFACTURING), F_TEST, cmd_test_nvm},
	{GP, 0x32, ST(MANUFACTURING), F_TEST, cmd_read_nvm},
	{GP, 0x34, ST(MANUFACTURING), F_TEST, cmd_fab_close},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Class byte: interindustry 00-0F, or proprietary 80-9F with the same
 * meaning of the low bits (as GlobalPlatform uses them). */
static uint16_t check_cla(uint8_t cla, int *cls)
{
	if ((cla & 0xE0) == 0x00)
		*cls = ISO;
	else if ((cla & 0xE0) == 0x80)
		*cls = GP;
	else if ((cla & 0xC0) == 0x40)
		return SW_CHANNEL; /* further interindustry: channels 4-19 */
	else
		return SW_CLA;
	if (cla & 0x10)
		return SW_CHAINING;
	if (cla & 0x08)
		return SW_SM_UNSUPPORTED; /* ISO secure messaging */
	if (cla & 0x03)
		return SW_CHANNEL;
	return SW_OK;
}

static const cmd_t *lookup(int cls, uint8_t ins)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (commands[i].cls == cls && commands[i].ins == ins)
			return &commands[i];
	return NULL;
}

static int is_warning(uint16_t sw)
{
	return sw == SW_EOF || sw == SW_DEACTIVATED || sw == SW_TERMINATED;
}

static uint16_t process(cos_ctx_t *c, apdu_t *a, int *wrap)
{
	int cls = 0;
	uint16_t sw = check_cla(a->cla, &cls);
	if (sw != SW_OK)
		return sw;

	/* Secure messaging first: while a session exists every command but
	 * the handshake itself and GET RESPONSE (transport) passes through
	 * it, even one the card then refuses, so that the MAC chain of card
	 * and host never part. */
	int handshake = cls == GP && (a->ins == 0x50 || a->ins == 0x82);
	int get_response = cls == ISO && a->ins == 0xC0;
	if (!handshake && !get_response) {
		if (c->sc.state != SCP03_STATE_NONE) {
			uint8_t hdr[4] = {a->cla, a->ins, a->p1, a->p2};
			size_t nc = a->nc;
			/* a->data points into cbuf, a copy: unwrap in place */
			sw = scp03_unwrap(&c->sc, c->hal, hdr, (uint8_t *)a->data,
					  &nc, a->ext);
			if (sw != SW_OK)
				return sw;
			a->cla = hdr[0];
			a->nc = nc;
			a->sm = c->sc.cmd_macked;
			*wrap = c->sc.state == SCP03_STATE_OPEN;
		} else if (a->cla & 0x04) {
			return SW_SECURITY;
		}
	}

	const cmd_t *cmd = lookup(cls, a->ins);
	if (!cmd || ((cmd->flags & F_TEST) &&
		     c->sys.lc != COS_LC_MANUFACTURING))
		return SW_INS;
	if (c->sys.lc == COS_LC_TERMINATED &&
	    !(cmd->fn == cmd_get_data &&
	      ((a->p1 == 0x9F && a->p2 == 0x7F) ||
	       (a->p1 == 0xDF && a->p2 == 0x30))))
		return SW_CONDITIONS;
	if (!(cmd->states & (1u << c->sys.lc)))
		return SW_CONDITIONS;
	return cmd->fn(c, a);
}

cos_status_t cos_transmit(cos_chip_t *chip, const uint8_t *capdu,
			  size_t capdu_len, uint8_t *rapdu, size_t rapdu_cap,
			  size_t *rapdu_len)
{
	if (!chip || !rapdu || !rapdu_len || (!capdu && capdu_len))
		return COS_ERR_PARAM;
	cos_ctx_t *c = ctx_of(chip);
	if (!c->powered)
		return COS_ERR_NOT_POWERED;
	if (c->mute)
		return COS_ERR_POWER;
	if (rapdu_cap < COS_RAPDU_MAX)
		return COS_ERR_PARAM;

	apdu_t a;
	uint16_t sw;
	size_t out = 0;
	int wrap = 0;
	int get_response = capdu_len >= 2 && capdu[1] == 0xC0 &&
			   (capdu[0] & 0xFC) == 0x00;
	if (capdu_len > sizeof c->cbuf) {
		sw = SW_WRONG_LENGTH;
		cf_memset(&a, 0, sizeof a);
	} else {
		if (capdu_len)
			cf_memcpy(c->cbuf, capdu, capdu_len);
		if (parse(c->cbuf, capdu_len, &a) < 0 ||
		    a.nc > COS_APDU_MAX_DATA) {
			sw = SW_WRONG_LENGTH;
		} else {
			if (!get_response)
				c->pend_len = 0;
			c->rlen = 0;
			sw = process(c, &a, &wrap);
		}
	}
	if (c->mute)
		return COS_ERR_POWER;

	if (get_response && sw == SW_OK) {
		size_t ne = a.ne > COS_APDU_MAX_DATA ? COS_APDU_MAX_DATA : a.ne;
		size_t n = c->pend_len < ne ? c->pend_len : ne;
		cf_memcpy(rapdu, c->rbuf + c->pend_off, n);
		out = n;
		c->pend_off += n;
		c->pend_len -= n;
		sw = c->pend_len ? SW_MORE(c->pend_len) : SW_OK;
	} else if (!get_response) {
		if (sw != SW_OK && !is_warning(sw) && (sw & 0xFF00) != 0x6300)
			c->rlen = 0;
		if (wrap) {
			size_t len = c->rlen;
			uint16_t wsw = scp03_wrap(&c->sc, c->hal, c->rbuf, &len,
						  sizeof c->rbuf, sw);
			c->rlen = wsw == SW_OK ? len : 0;
			if (wsw != SW_OK)
				sw = wsw;
		}
		size_t ne = a.has_le ? a.ne : 0;
		if (ne > COS_APDU_MAX_DATA)
			ne = COS_APDU_MAX_DATA;
		if (c->proto == COS_PROTO_T0 && a.nc)
			ne = 0; /* T=0 case 4: data only via GET RESPONSE */
		if (c->rlen <= ne) {
			cf_memcpy(rapdu, c->rbuf, c->rlen);
			out = c->rlen;
		} else if (sw == SW_OK) {
			cf_memcpy(rapdu, c->rbuf, ne);
			out = ne;
			c->pend_off = ne;
			c->pend_len = c->rlen - ne;
			sw = SW_MORE(c->pend_len);
		} else {
			cf_memcpy(rapdu, c->rbuf, ne);
			out = ne;
		}
	} else {
		/* a failed GET RESPONSE keeps the pending data */
	}
	rapdu[out] = (uint8_t)(sw >> 8);
	rapdu[out + 1] = (uint8_t)sw;
	*rapdu_len = out + 2;
	return COS_OK;
}

/* ---- introspection ---- */

cos_status_t cos_get_info(const cos_chip_t *chip, cos_info_t *info)
{
	if (!chip || !info)
		return COS_ERR_PARAM;
	const cos_ctx_t *c = cctx_of(chip);
	if (!c->powered)
		return COS_ERR_NOT_POWERED;
	cf_memset(info, 0, sizeof *info);
	info->model = c->model;
	info->lifecycle = (cos_lifecycle_t)c->sys.lc;
	info->locked = c->sys.locked;
	info->gp_state = cos_gp_state(info->lifecycle, info->locked);
	cf_memcpy(info->serial, c->sys.serial, COS_SERIAL_LEN);
	info->transport_tries = c->sys.lc == COS_LC_TRANSPORT ? c->sys.ttries : 0;
	cf_memcpy(info->cplc, c->sys.cplc, COS_CPLC_LEN);
	info->nvm_size = c->hal->nvm_size;
	info->fs_capacity = c->hal->nvm_size - c->sys.data_off;
	info->fs_used = fs_used(c, &info->files_used);
	info->files_max = c->sys.max_files;
	info->objects_used = sec_objects_used(c);
	info->objects_max = c->sys.max_objects;
	return COS_OK;
}

int cos_walk(const cos_chip_t *chip, cos_file_fn file_fn, cos_obj_fn obj_fn,
	     void *arg)
{
	const cos_ctx_t *c = cctx_of(chip);
	if (!chip || !c->powered)
		return -1;
	int r = 0;
	if (file_fn)
		r = fs_walk(c, file_fn, arg);
	if (!r && obj_fn)
		r = sec_walk(c, obj_fn, arg);
	return r;
}

cos_status_t cos_check(const cos_chip_t *chip, const char **why)
{
	if (!chip)
		return COS_ERR_PARAM;
	const cos_ctx_t *c = cctx_of(chip);
	if (!c->powered)
		return COS_ERR_NOT_POWERED;
	sys_area_t s;
	const char *w = NULL;
	cf_memcpy(&s, c->hal->nvm + SYS_OFF, sizeof s);
	if (s.magic != COS_MAGIC ||
	    cos_crc32(0, (const uint8_t *)&s, offsetof(sys_area_t, crc)) != s.crc)
		w = "system area: bad magic or CRC";
	else if (s.lc < COS_LC_MANUFACTURING || s.lc > COS_LC_TERMINATED)
		w = "system area: life cycle out of range";
	else if (s.obj_off != OBJ_OFF ||
		 s.file_off != OBJ_OFF + (uint32_t)s.max_objects * 48u ||
		 s.data_off != s.file_off + (uint32_t)s.max_files * 48u ||
		 s.data_off >= c->hal->nvm_size)
		w = "system area: table offsets inconsistent";
	else if (s.lc >= COS_LC_TRANSPORT && s.lc <= COS_LC_INITIALIZATION &&
		 s.ttries > s.tmax)
		w = "system area: transport tries above maximum";
	else if ((w = fs_check(c)) == NULL)
		w = sec_check(c);
	if (why)
		*why = w ? w : "consistent";
	return w ? COS_ERR_CORRUPT : COS_OK;
}
