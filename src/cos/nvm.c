/*
 * nvm.c - the card OS's side of the journal (jrnl.h): a transaction a
 * command, and a chip that goes mute when the power is lost under it.
 */
#include "cos_int.h"

void nvm_begin(cos_ctx_t *c)
{
	jrnl_begin(&c->j);
}

void nvm_stage(cos_ctx_t *c, uint32_t off, const void *src, uint32_t len)
{
	jrnl_stage(&c->j, off, src, len);
}

void nvm_stage_zero(cos_ctx_t *c, uint32_t off, uint32_t len)
{
	jrnl_stage_zero(&c->j, off, len);
}

void nvm_stage_sys(cos_ctx_t *c, sys_area_t *s)
{
	s->crc = cos_crc32(0, (const uint8_t *)s, offsetof(sys_area_t, crc));
	nvm_stage(c, SYS_OFF, s, sizeof *s);
}

uint16_t nvm_commit(cos_ctx_t *c)
{
	hal_status_t st = jrnl_commit(&c->j);
	if (st == HAL_OK)
		return SW_OK;
	if (st == HAL_ERR_IO && jrnl_recover(&c->j) == HAL_OK) {
		/* The EEPROM refused a write but took the retry: the image is
		 * the old state or the new one again. Which one decides the
		 * system area the chip works with. The command answers 6581. */
		cf_memcpy(&c->sys, c->hal->nvm + SYS_OFF, sizeof c->sys);
		return SW_MEMORY;
	}
	if (st != HAL_ERR_PARAM) {
		/* Power lost, or the EEPROM refused a write: the chip stops
		 * answering; the next power up finishes or forgets the
		 * transaction. */
		c->mute = 1;
	}
	return SW_MEMORY;
}

cos_status_t nvm_recover(cos_ctx_t *c)
{
	jrnl_init(&c->j, c->hal, JRNL_OFF, JRNL_SIZE, c->jbuf);
	hal_status_t st = jrnl_recover(&c->j);
	if (st == HAL_ERR_POWER)
		return COS_ERR_POWER;
	return st == HAL_OK ? COS_OK : COS_ERR_NVM;
}
