/*
 * mc_cmd.c - the pseudo-APDUs of the ACS readers for SLE 4432/4442 cards
 * (class FF), as the reader and the chip answer them together.
 *
 * The chip itself has no status channel: a write to a protected byte, or
 * any write before a correct PSC, simply does not happen (SLE 4442 data
 * sheet), and the reader answers 9000 as for any write it has clocked out.
 * Errors are the reader's: the command's form (class, instruction,
 * parameters, lengths, addresses) and the card type not selected yet.
 * docs/memcard.md gives every answer and its source.
 *
 * NVM: a command computes everything first, then stages only the bytes
 * that change and commits them as one journal transaction; a command that
 * changes nothing writes nothing. An EEPROM error answers 6581 once the
 * journal has put the image back in a legal state; a power loss makes the
 * chip mute until the next power up (which recovers the journal), as the
 * card OS does.
 */
#include "mc_int.h"

#define INS_SELECT 0xA4      /* SELECT_CARD_TYPE */
#define INS_READ 0xB0        /* READ_MEMORY_CARD */
#define INS_READ_EC 0xB1     /* READ_PRESENTATION_ERROR_COUNTER */
#define INS_READ_PROT 0xB2   /* READ_PROTECTION_BITS */
#define INS_WRITE 0xD0       /* WRITE_MEMORY_CARD */
#define INS_WRITE_PROT 0xD1  /* WRITE_PROTECTION_MEMORY_CARD */
#define INS_PRESENT 0x20     /* PRESENT_CODE_MEMORY_CARD */
#define INS_CHANGE 0xD2      /* CHANGE_CODE_MEMORY_CARD */

typedef struct {
	uint8_t ins, p1, p2;
	const uint8_t *data; /* Lc bytes (case 3) */
	size_t lc;
	size_t le;           /* case 2: 1..256 (00 means 256) */
	int has_le;
} cmd_t;

/* Short APDUs only, as the readers take them: case 1 (4 bytes), case 2
 * (Le), case 3 (Lc != 0 and exactly Lc bytes). Anything else (case 4,
 * extended lengths, a length that does not match) is -1: 6700. */
static int parse(const uint8_t *b, size_t n, cmd_t *a)
{
	a->ins = b[1];
	a->p1 = b[2];
	a->p2 = b[3];
	a->data = b + 4;
	a->lc = 0;
	a->le = 0;
	a->has_le = 0;
	if (n == 4)
		return 0;
	if (n == 5) {
		a->has_le = 1;
		a->le = b[4] ? b[4] : 256;
		return 0;
	}
	if (b[4] != 0 && n == 5u + b[4]) {
		a->lc = b[4];
		a->data = b + 5;
		return 0;
	}
	return -1;
}

static const uint8_t *nvm(const mc_ctx_t *c)
{
	return c->hal->nvm;
}

/* Byte `a` of main memory may be written (its protection bit is 1). */
static int writable(const uint8_t *prot, unsigned a)
{
	return a >= MC_PROT_BYTES || (prot[a >> 3] >> (a & 7)) & 1;
}

/* Commit what is staged. An EEPROM write error: finish or forget the
 * transaction at once (the image is the old state or the new one again)
 * and answer 6581, as the card OS does (cos/hal.h). Power lost, or the
 * retry failed too: the chip goes mute until the next power up. */
static uint16_t commit(mc_ctx_t *c)
{
	hal_status_t st = jrnl_commit(&c->j);
	if (st == HAL_OK)
		return MC_SW_OK;
	if (st == HAL_ERR_PARAM)
		return MC_SW_MEMORY; /* nothing written: cannot happen */
	if (st == HAL_ERR_IO) {
		st = jrnl_recover(&c->j);
		if (st == HAL_OK)
			return MC_SW_MEMORY;
	}
	c->mute = 1;
	c->mute_status = st == HAL_ERR_POWER ? MC_ERR_POWER : MC_ERR_NVM;
	c->psc_ok = 0;
	return MC_SW_MEMORY;
}

static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

/* FF A4 00 00 01 06: the reader powers the card down and up (a card
 * reset: the PSC must be presented again) and talks SLE 4432/4442. */
static uint16_t cmd_select(mc_ctx_t *c, const cmd_t *a)
{
	if (a->p1 || a->p2)
		return MC_SW_BAD_P1P2;
	if (a->lc != 1)
		return MC_SW_WRONG_LENGTH;
	c->psc_ok = 0;
	c->selected = a->data[0] == MC_CARD_TYPE;
	return c->selected ? MC_SW_OK : MC_SW_NO_FUNCTION;
}

/* FF B0 00 addr Le: main memory, always readable. P1 is the address's
 * high byte on the 1 KiB cards (SLE 4428): anything but 00 is beyond. */
static uint16_t cmd_read(mc_ctx_t *c, const cmd_t *a, uint8_t *out,
			 size_t *out_len)
{
	if (!a->has_le)
		return MC_SW_WRONG_LENGTH;
	if (a->p1 || a->p2 + a->le > MC_MEM_SIZE)
		return MC_SW_WRONG_OFFSET;
	mc_memcpy(out, nvm(c) + MC_MAIN_OFF + a->p2, a->le);
	*out_len = a->le;
	return MC_SW_OK;
}

/* The fixed 4-byte reads: FF B1 00 00 04 and FF B2 00 00 04 (the older
 * ACR38 manual gives Le 00 for B1: both are taken). */
static uint16_t check_read4(const cmd_t *a)
{
	if (a->p1 || a->p2)
		return MC_SW_BAD_P1P2;
	if (!a->has_le || (a->le != 4 && a->le != 256))
		return MC_SW_WRONG_LENGTH;
	return MC_SW_OK;
}

/* FF B1 00 00 04: the security memory as the chip reads it out: the error
 * counter, then the reference data, which the chip outputs as 00 until the
 * PSC has been verified and as the PSC after (SLE 4442 data sheet, Read
 * Security Memory; the ACR38 manual's PRESENT_CODE answer "CODE ... read
 * from the card, identical to the code presented when correct"). */
static uint16_t cmd_read_ec(mc_ctx_t *c, const cmd_t *a, uint8_t *out,
			    size_t *out_len)
{
	uint16_t sw = check_read4(a);
	if (sw != MC_SW_OK)
		return sw;
	out[0] = nvm(c)[MC_SEC_OFF];
	if (c->psc_ok)
		mc_memcpy(out + 1, nvm(c) + MC_SEC_OFF + 1, MC_PSC_LEN);
	else
		mc_memset(out + 1, 0, MC_PSC_LEN);
	*out_len = 4;
	return MC_SW_OK;
}

/* FF B2 00 00 04: the 32 protection bits, bit 0 of the first byte for
 * byte 0; 0 = protected. */
static uint16_t cmd_read_prot(mc_ctx_t *c, const cmd_t *a, uint8_t *out,
			      size_t *out_len)
{
	uint16_t sw = check_read4(a);
	if (sw != MC_SW_OK)
		return sw;
	mc_memcpy(out, nvm(c) + MC_PROT_OFF, MC_PROT_LEN);
	*out_len = MC_PROT_LEN;
	return MC_SW_OK;
}

/* FF D0 00 addr Lc data: each byte is updated (erase and write) unless
 * the PSC has not been verified or the byte is protected: then the chip
 * leaves it as it is, and the reader still answers 9000. */
static uint16_t cmd_write(mc_ctx_t *c, const cmd_t *a)
{
	if (!a->lc)
		return MC_SW_WRONG_LENGTH;
	if (a->p1 || a->p2 + a->lc > MC_MEM_SIZE)
		return MC_SW_WRONG_OFFSET;
	if (!c->psc_ok)
		return MC_SW_OK;
	const uint8_t *mem = nvm(c) + MC_MAIN_OFF;
	const uint8_t *prot = nvm(c) + MC_PROT_OFF;
	size_t first = a->lc, last = 0;
	for (size_t i = 0; i < a->lc; i++) {
		unsigned addr = a->p2 + (unsigned)i;
		if (writable(prot, addr) && mem[addr] != a->data[i]) {
			if (first == a->lc)
				first = i;
			last = i;
		}
	}
	if (first == a->lc)
		return MC_SW_OK; /* nothing changes */
	/* One journal entry from the first to the last changed byte; the
	 * protected bytes in between keep their value. */
	uint8_t buf[MC_MEM_SIZE];
	for (size_t i = first; i <= last; i++) {
		unsigned addr = a->p2 + (unsigned)i;
		buf[i - first] = writable(prot, addr) ? a->data[i] : mem[addr];
	}
	jrnl_begin(&c->j);
	jrnl_stage(&c->j, MC_MAIN_OFF + a->p2 + (uint32_t)first, buf,
		   (uint32_t)(last - first + 1));
	return commit(c);
}

/* FF D1 00 addr Lc data (addr 00..1F): each byte is compared with main
 * memory; where equal, its protection bit is programmed to 0, for good.
 * Before a correct PSC nothing is programmed (answer 9000). */
static uint16_t cmd_write_prot(mc_ctx_t *c, const cmd_t *a)
{
	if (!a->lc)
		return MC_SW_WRONG_LENGTH;
	if (a->p1 || a->p2 + a->lc > MC_PROT_BYTES)
		return MC_SW_WRONG_OFFSET;
	if (!c->psc_ok)
		return MC_SW_OK;
	const uint8_t *mem = nvm(c) + MC_MAIN_OFF;
	uint8_t prot[MC_PROT_LEN];
	mc_memcpy(prot, nvm(c) + MC_PROT_OFF, MC_PROT_LEN);
	int changed = 0;
	for (size_t i = 0; i < a->lc; i++) {
		unsigned addr = a->p2 + (unsigned)i;
		uint8_t bit = (uint8_t)(1u << (addr & 7));
		if ((prot[addr >> 3] & bit) && mem[addr] == a->data[i]) {
			prot[addr >> 3] &= (uint8_t)~bit; /* 1 -> 0 only */
			changed = 1;
		}
	}
	if (!changed)
		return MC_SW_OK;
	jrnl_begin(&c->j);
	jrnl_stage(&c->j, MC_PROT_OFF, prot, MC_PROT_LEN);
	return commit(c);
}

/*
 * FF 20 00 00 03 PSC: the reader's procedure (ACS manuals): write one
 * error counter bit from 1 to 0, compare the three bytes, then erase the
 * counter (back to 07) if they matched. The decrement is committed before
 * the compare, so that cutting the power at any point never gives a try
 * back. Answer 90 and the counter: 07 correct, 00 locked (no compare is
 * made any more), 06 / 04 one or two tries lost.
 */
static uint16_t cmd_present(mc_ctx_t *c, const cmd_t *a)
{
	if (a->p1 || a->p2)
		return MC_SW_BAD_P1P2;
	if (a->lc != MC_PSC_LEN)
		return MC_SW_WRONG_LENGTH;
	c->psc_ok = 0;
	uint8_t ec = nvm(c)[MC_SEC_OFF] & MC_EC_FULL;
	if (!ec)
		return MC_SW_PSC(0);
	uint8_t dec = (uint8_t)(ec & (ec - 1)); /* the lowest 1 bit to 0 */
	jrnl_begin(&c->j);
	jrnl_stage(&c->j, MC_SEC_OFF, &dec, 1);
	uint16_t sw = commit(c);
	if (sw != MC_SW_OK)
		return sw;
	if (!ct_equal(nvm(c) + MC_SEC_OFF + 1, a->data, MC_PSC_LEN))
		return MC_SW_PSC(dec);
	static const uint8_t full = MC_EC_FULL;
	jrnl_begin(&c->j);
	jrnl_stage(&c->j, MC_SEC_OFF, &full, 1);
	sw = commit(c);
	if (sw != MC_SW_OK)
		return sw;
	c->psc_ok = 1;
	return MC_SW_PSC(MC_EC_FULL);
}

/* FF D2 00 01 03 PSC: write the new reference data (security memory
 * bytes 1..3). Before a correct PSC the chip does not write (answer
 * 9000, as for any write). */
static uint16_t cmd_change(mc_ctx_t *c, const cmd_t *a)
{
	if (a->p1 != 0x00 || a->p2 != 0x01)
		return MC_SW_BAD_P1P2;
	if (a->lc != MC_PSC_LEN)
		return MC_SW_WRONG_LENGTH;
	if (!c->psc_ok ||
	    ct_equal(nvm(c) + MC_SEC_OFF + 1, a->data, MC_PSC_LEN))
		return MC_SW_OK;
	jrnl_begin(&c->j);
	jrnl_stage(&c->j, MC_SEC_OFF + 1, a->data, MC_PSC_LEN);
	return commit(c);
}

uint16_t mc_cmd(mc_ctx_t *c, const uint8_t *capdu, size_t n, uint8_t *out,
		size_t *out_len)
{
	cmd_t a;
	*out_len = 0;
	if (n < 4 || n > MC_CAPDU_MAX)
		return MC_SW_WRONG_LENGTH;
	if (capdu[0] != 0xFF)
		return MC_SW_CLA;
	switch (capdu[1]) {
	case INS_SELECT:
	case INS_READ:
	case INS_READ_EC:
	case INS_READ_PROT:
	case INS_WRITE:
	case INS_WRITE_PROT:
	case INS_PRESENT:
	case INS_CHANGE:
		break;
	default:
		return MC_SW_INS;
	}
	if (capdu[1] != INS_SELECT && !c->selected)
		return MC_SW_CONDITIONS;
	if (parse(capdu, n, &a) < 0)
		return MC_SW_WRONG_LENGTH;
	/* Case 2 and case 3 commands: the other forms are wrong lengths. */
	int reads = a.ins == INS_READ || a.ins == INS_READ_EC ||
		    a.ins == INS_READ_PROT;
	if (reads ? a.lc != 0 : a.has_le)
		return MC_SW_WRONG_LENGTH;
	switch (a.ins) {
	case INS_SELECT: return cmd_select(c, &a);
	case INS_READ: return cmd_read(c, &a, out, out_len);
	case INS_READ_EC: return cmd_read_ec(c, &a, out, out_len);
	case INS_READ_PROT: return cmd_read_prot(c, &a, out, out_len);
	case INS_WRITE: return cmd_write(c, &a);
	case INS_WRITE_PROT: return cmd_write_prot(c, &a);
	case INS_PRESENT: return cmd_present(c, &a);
	default: return cmd_change(c, &a);
	}
}
