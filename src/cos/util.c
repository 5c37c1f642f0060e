/*
 * util.c - small pieces every part of the card OS uses: constant-time
 * compare, wiping, byte order, and BER-TLV reading and writing for FCPs, CREATE FILE and data objects.
 */
#include "cos_int.h"

int cos_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

void cos_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

uint16_t cos_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t cos_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void cos_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void cos_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Read one TLV at data[*pos]; tags of one or two bytes, lengths up to 2
 * bytes (81 xx, 82 xx xx). Returns 0, or -1 if malformed. */
static int tlv_next(const uint8_t *data, size_t len, size_t *pos,
		    uint16_t *tag, size_t *vlen)
{
	size_t i = *pos;
	if (i >= len)
		return -1;
	uint16_t t = data[i++];
	if ((t & 0x1F) == 0x1F) {
		if (i >= len)
			return -1;
		t = (uint16_t)(t << 8 | data[i++]);
		if (t & 0x80)
			return -1; /* three-byte tags are not used here */
	}
	if (i >= len)
		return -1;
	size_t l = data[i++];
	if (l == 0x81) {
		if (i >= len)
			return -1;
		l = data[i++];
	} else if (l == 0x82) {
		if (i + 1 >= len)
			return -1;
		l = (size_t)data[i] << 8 | data[i + 1];
		i += 2;
	} else if (l > 0x80) {
		return -1;
	}
	if (l > len - i)
		return -1;
	*tag = t;
	*vlen = l;
	*pos = i;
	return 0;
}

int cos_tlv_find(const uint8_t *data, size_t len, uint16_t tag,
		 const uint8_t **value, size_t *vlen)
{
	size_t pos = 0;
	while (pos < len) {
		uint16_t t;
		size_t l;
		if (tlv_next(data, len, &pos, &t, &l) < 0)
			return -1;
		if (t == tag) {
			*value = data + pos;
			*vlen = l;
			return 1;
		}
		pos += l;
	}
	return 0;
}

int cos_tlv_valid(const uint8_t *data, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		uint16_t t;
		size_t l;
		if (tlv_next(data, len, &pos, &t, &l) < 0)
			return 0;
		pos += l;
	}
	return 1;
}

int cos_tlv_put(uint8_t *out, size_t cap, size_t *pos, uint16_t tag,
		const uint8_t *v, size_t vlen)
{
	size_t need = (tag > 0xFF ? 2 : 1) + (vlen > 127 ? 2 : 1) + vlen;
	if (vlen > 255 || *pos + need > cap)
		return -1;
	size_t i = *pos;
	if (tag > 0xFF)
		out[i++] = (uint8_t)(tag >> 8);
	out[i++] = (uint8_t)tag;
	if (vlen > 127)
		out[i++] = 0x81;
	out[i++] = (uint8_t)vlen;
	if (vlen)
		cf_memcpy(out + i, v, vlen);
	*pos = i + vlen;
	return 0;
}
