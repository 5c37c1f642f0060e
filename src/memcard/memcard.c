/*
 * memcard.c - the memory card's front door: the model, the fab (format),
 * power up with journal recovery, the ATR, the command entry point, and
 * introspection. The commands themselves are in mc_cmd.c; the NVM layout
 * in mc_int.h.
 */
#include "mc_int.h"

static const mc_model_t models[] = {
	{"sle4442",
	 "memory card, SLE 4442 compatible: 256 B, 32 protection bits, "
	 "3-byte PSC",
	 0x42, MC_NVM_SIZE},
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

const mc_model_t *mc_model_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_MODELS; i++)
		if (str_eq(models[i].name, name))
			return &models[i];
	return NULL;
}

const mc_model_t *mc_model_by_id(uint8_t id)
{
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].id == id)
			return &models[i];
	return NULL;
}

const mc_model_t *mc_models(size_t *count)
{
	if (count)
		*count = N_MODELS;
	return models;
}

const char *mc_strerror(mc_status_t st)
{
	switch (st) {
	case MC_OK: return "success";
	case MC_ERR_PARAM: return "invalid argument";
	case MC_ERR_MODEL: return "unknown chip model or image size mismatch";
	case MC_ERR_FORMAT: return "image holds no memory card (not formatted)";
	case MC_ERR_CORRUPT: return "image failed its consistency check";
	case MC_ERR_NVM: return "NVM write failed again: chip mute until power up";
	case MC_ERR_POWER: return "power lost: chip mute until power up";
	case MC_ERR_NOT_POWERED: return "chip not powered";
	}
	return "unknown error";
}

static mc_ctx_t *ctx_of(mc_chip_t *chip)
{
	return (mc_ctx_t *)(void *)chip;
}

static const mc_ctx_t *cctx_of(const mc_chip_t *chip)
{
	return (const mc_ctx_t *)(const void *)chip;
}

void mc_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

uint32_t mc_hdr_crc(const uint8_t *hdr)
{
	return jrnl_crc32(0, hdr, MC_HDR_CRC_OFF);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- the fab ---- */

/* The chip's own ATR (SLE 4442 data sheet, "ATR header"): H1 A2 two-wire
 * link protocol, H2 13 protocol parameter, H3 10 category indicator (DIR
 * data reference follows), H4 91 the DIR data reference. */
static const uint8_t chip_atr[MC_ATR_LEN] = {0xA2, 0x13, 0x10, 0x91};

void mc_fab_default(mc_fab_t *fab)
{
	if (!fab)
		return;
	mc_memset(fab, 0, sizeof *fab);
	fab->psc[0] = fab->psc[1] = fab->psc[2] = 0xFF;
	/* Bytes 4..31 of SLE 4442 cards as sold (a published dump: sigrok
	 * sle44xx decoder page; pyscard issue 137): FF FF, ICM/ICT 81 15,
	 * FF x 13, application identifier D2 76 00 00 04 00 at 21..26, FF. */
	mc_memset(fab->mfr, 0xFF, sizeof fab->mfr);
	fab->mfr[6 - 4] = 0x81;
	fab->mfr[7 - 4] = 0x15;
	static const uint8_t aid[6] = {0xD2, 0x76, 0x00, 0x00, 0x04, 0x00};
	mc_memcpy(fab->mfr + 21 - 4, aid, sizeof aid);
	/* Every byte the fab wrote stays the fab's. */
	fab->protect = 0x0000000Fu | 0x000000C0u | 0x07E00000u;
}

/* The protection mask the fab leaves for fab (ATR and serial forced). */
static uint32_t fab_protect(const mc_fab_t *fab)
{
	uint32_t p = fab->protect | 0x0000000Fu;
	if (fab->has_serial)
		p |= 0x0000FF00u;
	return p;
}

mc_status_t mc_format(const hal_t *hal, const mc_model_t *model,
		      const mc_fab_t *fab)
{
	if (!hal || !model || !fab || !hal->nvm_write || !hal->nvm_sync)
		return MC_ERR_PARAM;
	if (hal->nvm_size != model->nvm_size || model->nvm_size != MC_NVM_SIZE)
		return MC_ERR_MODEL;

	/* Kill an old header first: from here until the new one is
	 * written, the image is not a memory card. */
	uint8_t blk[MC_MAIN_OFF];
	mc_memset(blk, 0, sizeof blk);
	hal_status_t st = hal->nvm_write(hal->ctx, 0, blk, MC_HDR_LEN);
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);

	/* Security and protection memory. */
	blk[MC_SEC_OFF] = MC_EC_FULL;
	mc_memcpy(blk + MC_SEC_OFF + 1, fab->psc, MC_PSC_LEN);
	uint32_t prot = ~fab_protect(fab); /* 1: writable */
	for (unsigned k = 0; k < MC_PROT_LEN; k++)
		blk[MC_PROT_OFF + k] = (uint8_t)(prot >> (8 * k));
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, MC_HDR_LEN, blk + MC_HDR_LEN,
				    MC_MAIN_OFF - MC_HDR_LEN);

	/* Main memory: the fab's 32 bytes, then erased. */
	uint8_t mem[MC_MEM_SIZE];
	mc_memset(mem, 0xFF, sizeof mem);
	mc_memcpy(mem, chip_atr, MC_ATR_LEN);
	mc_memcpy(mem + MC_ATR_LEN, fab->mfr, sizeof fab->mfr);
	if (fab->has_serial)
		mc_memcpy(mem + MC_SERIAL_OFF, fab->serial, MC_SERIAL_LEN);
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, MC_MAIN_OFF, mem, sizeof mem);
	mc_memset(mem, 0, sizeof mem);
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, MC_MAIN_OFF + MC_MEM_SIZE, mem,
				    MC_JRNL_OFF - MC_MAIN_OFF - MC_MEM_SIZE);
	if (st == HAL_OK)
		st = jrnl_format(hal, MC_JRNL_OFF);
	mc_wipe(blk, sizeof blk); /* held the transport code */
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);

	/* The header, last. */
	uint8_t h[MC_HDR_LEN];
	mc_memset(h, 0, sizeof h);
	h[0] = MC_MAGIC0;
	h[1] = MC_MAGIC1;
	h[2] = MC_MAGIC2;
	h[3] = MC_MAGIC3;
	h[4] = MC_LAYOUT;
	h[5] = model->id;
	h[6] = fab->has_serial ? MC_FLAG_SERIAL : 0;
	put32(h + 8, model->nvm_size);
	put32(h + MC_HDR_CRC_OFF, mc_hdr_crc(h));
	if (st == HAL_OK)
		st = hal->nvm_write(hal->ctx, 0, h, sizeof h);
	if (st == HAL_OK)
		st = hal->nvm_sync(hal->ctx);
	if (st == HAL_ERR_POWER)
		return MC_ERR_POWER;
	return st == HAL_OK ? MC_OK : MC_ERR_NVM;
}

/* Header check shared by mc_probe, power up and mc_check. */
static mc_status_t check_header(const uint8_t *nvm, size_t n,
				const mc_model_t **model)
{
	if (!nvm || n < MC_HDR_LEN)
		return MC_ERR_FORMAT;
	if (nvm[0] != MC_MAGIC0 || nvm[1] != MC_MAGIC1 ||
	    nvm[2] != MC_MAGIC2 || nvm[3] != MC_MAGIC3)
		return MC_ERR_FORMAT;
	if (nvm[4] != MC_LAYOUT ||
	    get32(nvm + MC_HDR_CRC_OFF) != mc_hdr_crc(nvm))
		return MC_ERR_CORRUPT;
	const mc_model_t *m = mc_model_by_id(nvm[5]);
	if (!m || get32(nvm + 8) != m->nvm_size || n != m->nvm_size)
		return MC_ERR_MODEL;
	if (model)
		*model = m;
	return MC_OK;
}

int mc_probe(const uint8_t *nvm, size_t n)
{
	return check_header(nvm, n, NULL) == MC_OK;
}

/* ---- power ---- */

size_t mc_atr_pcsc(const uint8_t chip[MC_ATR_LEN], uint8_t *out, size_t cap)
{
	if (!chip || !out || cap < MC_ATR_PCSC_LEN)
		return 0;
	out[0] = 0x3B; /* TS: direct convention */
	out[1] = 0x04; /* T0: no interface bytes, four historical bytes */
	mc_memcpy(out + 2, chip, MC_ATR_LEN);
	return MC_ATR_PCSC_LEN;
}

mc_status_t mc_power_on(mc_chip_t *chip, const hal_t *hal, uint8_t *atr,
			size_t atr_cap, size_t *atr_len)
{
	if (!chip || !hal || !hal->nvm || !atr || !atr_len ||
	    atr_cap < MC_ATR_PCSC_LEN)
		return MC_ERR_PARAM;
	mc_ctx_t *c = ctx_of(chip);
	mc_wipe(c, sizeof *c);
	const mc_model_t *model = NULL;
	/* The header is written once, by the fab, and never through the
	 * journal: it can be checked before recovery. */
	mc_status_t st = check_header(hal->nvm, hal->nvm_size, &model);
	if (st != MC_OK)
		return st;
	c->hal = hal;
	c->model = model;
	jrnl_init(&c->j, hal, MC_JRNL_OFF, MC_JRNL_SIZE, c->jbuf);
	hal_status_t hs = jrnl_recover(&c->j);
	if (hs == HAL_ERR_POWER)
		return MC_ERR_POWER;
	if (hs != HAL_OK)
		return MC_ERR_NVM;
	c->powered = 1;
	/* The chip clocks out main memory bytes 0..3 as its ATR. */
	*atr_len = mc_atr_pcsc(hal->nvm + MC_MAIN_OFF, atr, atr_cap);
	return MC_OK;
}

void mc_power_off(mc_chip_t *chip)
{
	if (chip)
		mc_wipe(chip, sizeof *chip);
}

/* ---- commands ---- */

mc_status_t mc_transmit(mc_chip_t *chip, const uint8_t *capdu,
			size_t capdu_len, uint8_t *rapdu, size_t rapdu_cap,
			size_t *rapdu_len)
{
	if (!chip || !rapdu || !rapdu_len || (!capdu && capdu_len))
		return MC_ERR_PARAM;
	mc_ctx_t *c = ctx_of(chip);
	if (!c->powered)
		return MC_ERR_NOT_POWERED;
	if (c->mute)
		return (mc_status_t)c->mute_status;
	if (rapdu_cap < MC_RAPDU_MAX)
		return MC_ERR_PARAM;
	size_t out = 0;
	uint16_t sw = mc_cmd(c, capdu, capdu_len, rapdu, &out);
	if (c->mute) {
		*rapdu_len = 0;
		return (mc_status_t)c->mute_status;
	}
	rapdu[out] = (uint8_t)(sw >> 8);
	rapdu[out + 1] = (uint8_t)sw;
	*rapdu_len = out + 2;
	return MC_OK;
}

/* ---- introspection ---- */

static uint32_t protected_mask(const uint8_t *prot)
{
	uint32_t writable = (uint32_t)prot[0] | (uint32_t)prot[1] << 8 |
			    (uint32_t)prot[2] << 16 | (uint32_t)prot[3] << 24;
	return ~writable;
}

mc_status_t mc_get_info(const mc_chip_t *chip, mc_info_t *info)
{
	if (!chip || !info)
		return MC_ERR_PARAM;
	const mc_ctx_t *c = cctx_of(chip);
	if (!c->powered)
		return MC_ERR_NOT_POWERED;
	const uint8_t *nvm = c->hal->nvm;
	mc_memset(info, 0, sizeof *info);
	info->model = c->model;
	info->nvm_size = c->hal->nvm_size;
	mc_memcpy(info->memory, nvm + MC_MAIN_OFF, MC_MEM_SIZE);
	mc_memcpy(info->atr, info->memory, MC_ATR_LEN);
	mc_memcpy(info->prot, nvm + MC_PROT_OFF, MC_PROT_LEN);
	info->protected_mask = protected_mask(info->prot);
	for (uint32_t m = info->protected_mask; m; m &= m - 1)
		info->protected_count++;
	/* The error counter only: the PSC bytes after it are not read. */
	info->error_counter = nvm[MC_SEC_OFF];
	for (uint8_t e = info->error_counter & MC_EC_FULL; e; e &= e - 1)
		info->tries_left++;
	info->locked = info->tries_left == 0;
	info->selected = c->selected;
	info->psc_verified = c->psc_ok;
	info->has_serial = (nvm[6] & MC_FLAG_SERIAL) != 0;
	if (info->has_serial)
		mc_memcpy(info->serial, info->memory + MC_SERIAL_OFF,
			  MC_SERIAL_LEN);
	return MC_OK;
}

mc_status_t mc_check(const mc_chip_t *chip, const char **why)
{
	const char *w = NULL;
	if (!chip)
		return MC_ERR_PARAM;
	const mc_ctx_t *c = cctx_of(chip);
	if (!c->powered)
		return MC_ERR_NOT_POWERED;
	const uint8_t *nvm = c->hal->nvm;
	uint32_t pmask = protected_mask(nvm + MC_PROT_OFF);
	mc_status_t hs = check_header(nvm, c->hal->nvm_size, NULL);
	if (hs == MC_ERR_FORMAT)
		w = "header: bad magic";
	else if (hs == MC_ERR_CORRUPT)
		w = "header: bad layout or CRC";
	else if (hs != MC_OK)
		w = "header: model or size mismatch";
	else if (nvm[6] & ~MC_FLAG_SERIAL)
		w = "header: unknown flags";
	else if (nvm[MC_SEC_OFF] & ~MC_EC_FULL)
		w = "security memory: error counter bits above bit 2";
	else if ((pmask & 0x0000000Fu) != 0x0000000Fu)
		w = "protection memory: ATR header (bytes 0..3) not protected";
	else if ((nvm[6] & MC_FLAG_SERIAL) &&
		 (pmask & 0x0000FF00u) != 0x0000FF00u)
		w = "protection memory: serial (bytes 8..15) not protected";
	if (why)
		*why = w ? w : "consistent";
	return w ? MC_ERR_CORRUPT : MC_OK;
}
