/*
 * vcard.c - the virtual chip backend: a chip whose EEPROM is an image file
 * (src/hal's hal_file_*, locked while open), run in this process.
 *
 * The backend knows chips only through a table of families, one
 * vcard_family_t each: how to recognise an image of the family (probe, on
 * the raw bytes), power it up and down, pass it an APDU, choose a protocol.
 * Opening an image tries every family's probe in turn; the first that
 * claims the image drives it. So a new kind of chip is one entry in
 * families[] and nothing else here changes.
 *
 *   card OS      src/cos, CPU chips: "FCOS" at offset 0 (cos_int.h)
 *   memory card  src/memcard, SLE4442-compatible: "S442" at offset 0,
 *                mc_probe(); present when the build defines
 *                CARDFAB_HAVE_MEMCARD (CMakeLists.txt does when the
 *                cardfab_memcard library exists)
 *
 * State lives in the image: power cycles only wipe the chip's RAM, and
 * every NVM write is in the mapped image at once; closing flushes it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "hal/hal_host.h"
#include "reader/reader_int.h"
#ifdef CARDFAB_HAVE_MEMCARD
#include "memcard/memcard.h"
#endif

typedef struct vcard vcard_t;

/* One family of chips: how the backend recognises and drives it. */
typedef struct {
	const char *name; /* "card OS": what reader_chip_family() says */
	const char *what; /* for messages: "a card OS chip (CPU)" */
	/* Does the image (raw bytes) belong to this family? */
	int (*probe)(const uint8_t *nvm, size_t n);
	/* Power up: fill r->atr, r->atr_len; apply r->want_proto. */
	reader_status_t (*power_on)(vcard_t *v, reader_t *r);
	void (*power_off)(vcard_t *v);
	reader_status_t (*transmit)(vcard_t *v, reader_t *r,
				    const uint8_t *capdu, size_t n,
				    uint8_t *rapdu, size_t cap, size_t *rlen);
	reader_status_t (*set_protocol)(vcard_t *v, reader_t *r, int proto);
	size_t rapdu_min; /* the capacity its transmit needs */
} vcard_family_t;

struct vcard {
	hal_file_t *file; /* NULL when the caller gave the hal */
	const hal_t *hal;
	const vcard_family_t *fam;
	union {
		cos_chip_t cos;
#ifdef CARDFAB_HAVE_MEMCARD
		mc_chip_t mc;
#endif
	} ram; /* the chip's RAM: session keys live here */
};

/* ---------------------------------------------------------------- card OS */

static int cos_probe(const uint8_t *nvm, size_t n)
{
	/* cos_int.h: the system area starts with COS_MAGIC, "FCOS". */
	return n >= 4 && memcmp(nvm, "FCOS", 4) == 0;
}

static reader_status_t cos_fail(reader_t *r, cos_status_t st, const char *when)
{
	switch (st) {
	case COS_ERR_FORMAT:
	case COS_ERR_MODEL:
		return reader_fail(r, READER_ERR_NOT_CHIP,
				   "%s: not a usable card OS image (%s)",
				   r->target, cos_strerror(st));
	case COS_ERR_CORRUPT:
		return reader_fail(r, READER_ERR_CHIP,
				   "%s: the chip image failed its consistency "
				   "check (%s)",
				   r->target, when);
	case COS_ERR_NOT_POWERED:
		return reader_fail(r, READER_ERR_NOT_POWERED,
				   "%s: the chip is not powered", r->target);
	case COS_ERR_POWER:
	case COS_ERR_NVM:
		return reader_fail(r, READER_ERR_MUTE,
				   "%s: the chip is mute (%s %s): an NVM write "
				   "failed under it; power it up again to "
				   "recover its journal",
				   r->target, when, cos_strerror(st));
	default:
		return reader_fail(r, READER_ERR_CHIP, "%s: %s: %s", r->target,
				   when, cos_strerror(st));
	}
}

static reader_status_t cos_fam_power_on(vcard_t *v, reader_t *r)
{
	cos_status_t st;

	st = cos_power_on(&v->ram.cos, v->hal, r->atr, sizeof r->atr,
			  &r->atr_len);
	if (st != COS_OK) {
		r->atr_len = 0;
		return cos_fail(r, st, "power up");
	}
	r->proto = READER_PROTO_T1; /* the card OS starts in T=1 */
	if (r->want_proto == READER_PROTO_T0) {
		st = cos_set_protocol(&v->ram.cos, COS_PROTO_T0);
		if (st != COS_OK) {
			cos_power_off(&v->ram.cos);
			return cos_fail(r, st, "T=0");
		}
		r->proto = READER_PROTO_T0;
	}
	return READER_OK;
}

static void cos_fam_power_off(vcard_t *v)
{
	cos_power_off(&v->ram.cos);
}

static reader_status_t cos_fam_transmit(vcard_t *v, reader_t *r,
					const uint8_t *capdu, size_t n,
					uint8_t *rapdu, size_t cap,
					size_t *rlen)
{
	cos_status_t st = cos_transmit(&v->ram.cos, capdu, n, rapdu, cap, rlen);

	if (st != COS_OK || *rlen < 2) {
		*rlen = 0;
		return cos_fail(r, st != COS_OK ? st : COS_ERR_CORRUPT,
				"command");
	}
	return READER_OK;
}

static reader_status_t cos_fam_set_protocol(vcard_t *v, reader_t *r, int proto)
{
	cos_status_t st = cos_set_protocol(&v->ram.cos, proto);

	if (st != COS_OK)
		return cos_fail(r, st,
				proto == READER_PROTO_T0 ? "T=0" : "T=1");
	r->proto = proto;
	return READER_OK;
}

/* ----------------------------------------------------------- memory card */

#ifdef CARDFAB_HAVE_MEMCARD
static int mc_fam_probe(const uint8_t *nvm, size_t n)
{
	/* The magic alone claims the image, so that a damaged memory card
	 * is reported as one (mc_power_on says what is wrong with it). */
	return mc_probe(nvm, n) || (n >= 4 && memcmp(nvm, "S442", 4) == 0);
}

static reader_status_t mc_fail(reader_t *r, mc_status_t st, const char *when)
{
	switch (st) {
	case MC_ERR_FORMAT:
	case MC_ERR_MODEL:
		return reader_fail(r, READER_ERR_NOT_CHIP,
				   "%s: not a usable memory card image (%s)",
				   r->target, mc_strerror(st));
	case MC_ERR_NOT_POWERED:
		return reader_fail(r, READER_ERR_NOT_POWERED,
				   "%s: the chip is not powered", r->target);
	case MC_ERR_POWER:
	case MC_ERR_NVM:
		return reader_fail(r, READER_ERR_MUTE,
				   "%s: the memory card is mute (%s: %s); "
				   "power it up again to recover its journal",
				   r->target, when, mc_strerror(st));
	default:
		return reader_fail(r, READER_ERR_CHIP, "%s: %s: %s", r->target,
				   when, mc_strerror(st));
	}
}

static reader_status_t mc_fam_power_on(vcard_t *v, reader_t *r)
{
	mc_status_t st = mc_power_on(&v->ram.mc, v->hal, r->atr, sizeof r->atr,
				     &r->atr_len);

	if (st != MC_OK) {
		r->atr_len = 0;
		return mc_fail(r, st, "power up");
	}
	/* A synchronous card has no T=0 or T=1; the reader's pseudo-APDUs
	 * work the same under either. */
	r->proto = r->want_proto == READER_PROTO_T0 ? READER_PROTO_T0 :
						      READER_PROTO_T1;
	return READER_OK;
}

static void mc_fam_power_off(vcard_t *v)
{
	mc_power_off(&v->ram.mc);
}

static reader_status_t mc_fam_transmit(vcard_t *v, reader_t *r,
				       const uint8_t *capdu, size_t n,
				       uint8_t *rapdu, size_t cap, size_t *rlen)
{
	mc_status_t st = mc_transmit(&v->ram.mc, capdu, n, rapdu, cap, rlen);

	if (st != MC_OK || *rlen < 2) {
		*rlen = 0;
		return mc_fail(r, st != MC_OK ? st : MC_ERR_CORRUPT, "command");
	}
	return READER_OK;
}

static reader_status_t mc_fam_set_protocol(vcard_t *v, reader_t *r, int proto)
{
	(void)v;
	r->proto = proto;
	return READER_OK;
}
#endif

/* ------------------------------------------------------------ the table */

static const vcard_family_t families[] = {
	{ "card OS", "a cardfab CPU chip (card OS)", cos_probe,
	  cos_fam_power_on, cos_fam_power_off, cos_fam_transmit,
	  cos_fam_set_protocol, COS_RAPDU_MAX },
#ifdef CARDFAB_HAVE_MEMCARD
	{ "memory card", "a memory card (SLE4442 compatible)", mc_fam_probe,
	  mc_fam_power_on, mc_fam_power_off, mc_fam_transmit,
	  mc_fam_set_protocol, MC_RAPDU_MAX },
#endif
};

#define N_FAMILIES (sizeof families / sizeof families[0])

/* ------------------------------------------------------------- backend */

static reader_status_t vc_power_up(reader_t *r)
{
	vcard_t *v = r->be;
	reader_status_t st = v->fam->power_on(v, r);

	if (st == READER_OK)
		r->powered = 1;
	return st;
}

static reader_status_t vc_power_down(reader_t *r)
{
	vcard_t *v = r->be;

	v->fam->power_off(v);
	r->powered = 0;
	return READER_OK;
}

static reader_status_t vc_reset(reader_t *r)
{
	vc_power_down(r);
	return vc_power_up(r);
}

static reader_status_t vc_set_protocol(reader_t *r, int proto)
{
	vcard_t *v = r->be;
	reader_status_t st = READER_OK;

	if (r->powered)
		st = v->fam->set_protocol(v, r, proto);
	if (st == READER_OK) {
		r->want_proto = proto;
		r->proto = proto;
	}
	return st;
}

static reader_status_t vc_transmit(reader_t *r, const uint8_t *capdu, size_t n,
				   uint8_t *rapdu, size_t cap, size_t *rlen)
{
	vcard_t *v = r->be;
	uint8_t *tmp;
	reader_status_t st;

	if (cap >= v->fam->rapdu_min)
		return v->fam->transmit(v, r, capdu, n, rapdu, cap, rlen);
	/* The chip wants room for its largest answer; the caller's buffer
	 * may still hold this one. */
	tmp = malloc(v->fam->rapdu_min);
	if (tmp == NULL)
		return reader_fail(r, READER_ERR_NOMEM, "out of memory");
	st = v->fam->transmit(v, r, capdu, n, tmp, v->fam->rapdu_min, rlen);
	if (st == READER_OK && *rlen > cap) {
		st = reader_fail(r, READER_ERR_BUFFER,
				 "%s: the response (%zu bytes) is larger than "
				 "the buffer (%zu bytes)",
				 r->name, *rlen, cap);
		*rlen = 0;
	} else if (st == READER_OK) {
		memcpy(rapdu, tmp, *rlen);
	}
	reader_wipe(tmp, v->fam->rapdu_min);
	free(tmp);
	return st;
}

static reader_status_t vc_close(reader_t *r, char *err, size_t err_cap)
{
	vcard_t *v = r->be;
	hal_host_status_t hst;
	reader_status_t st = READER_OK;

	if (v == NULL)
		return READER_OK;
	if (r->powered && v->fam != NULL)
		v->fam->power_off(v);
	r->powered = 0;
	if (v->file != NULL) {
		errno = 0;
		hst = hal_file_close(v->file);
		if (hst != HAL_HOST_OK) {
			reader_errf(
				err, err_cap,
				"%s: flushing the chip image failed: %s%s%s",
				r->target, hal_host_strerror(hst),
				errno ? ": " : "",
				errno ? strerror(errno) : "");
			st = READER_ERR_IMAGE_IO;
		}
	}
	reader_wipe(v, sizeof *v);
	free(v);
	r->be = NULL;
	return st;
}

static const reader_ops_t vcard_ops = {
	READER_KIND_VCARD, vc_power_up, vc_power_down, vc_reset,
	vc_set_protocol,   vc_transmit, vc_close,
};

/*
 * Who holds the flock on path, from /proc/locks: " (held by pid N: CMD)",
 * or "" when that cannot be told.
 */
static void lock_holder(const char *path, char *out, size_t cap)
{
	struct stat sb;
	FILE *f;
	char line[256], want[64], cmd[160];
	long pid = 0;
	size_t n, i;

	out[0] = '\0';
	if (stat(path, &sb) != 0)
		return;
	snprintf(want, sizeof want, "%02x:%02x:%lu", major(sb.st_dev),
		 minor(sb.st_dev), (unsigned long)sb.st_ino);
	f = fopen("/proc/locks", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		char kind[16], adv[16], mode[16], dev[64];
		long p;

		if (sscanf(line, "%*[^:]: %15s %15s %15s %ld %63s", kind, adv,
			   mode, &p, dev) == 5 &&
		    strcmp(kind, "FLOCK") == 0 && strcmp(dev, want) == 0) {
			pid = p;
			break;
		}
	}
	fclose(f);
	if (pid <= 0)
		return;
	snprintf(line, sizeof line, "/proc/%ld/cmdline", pid);
	f = fopen(line, "r");
	n = 0;
	if (f != NULL) {
		n = fread(cmd, 1, sizeof cmd - 1, f);
		fclose(f);
	}
	for (i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	while (n > 0 && cmd[n - 1] == ' ')
		n--;
	cmd[n] = '\0';
	if (n > 0)
		snprintf(out, cap, " (held by pid %ld: %s)", pid, cmd);
	else
		snprintf(out, cap, " (held by pid %ld)", pid);
}

/* Probe the image and power the chip up; takes v (freed on failure). */
static reader_status_t start(reader_t *r, vcard_t *v, reader_t **out, char *err,
			     size_t err_cap)
{
	reader_status_t st;
	size_t i;

	r->be = v;
	for (i = 0; i < N_FAMILIES; i++) {
		if (families[i].probe(v->hal->nvm, v->hal->nvm_size)) {
			v->fam = &families[i];
			break;
		}
	}
	if (v->fam == NULL) {
		reader_errf(err, err_cap,
			    "%s: not a chip image (%lu bytes, no card OS%s "
			    "header at its start)",
			    r->target, (unsigned long)v->hal->nvm_size,
#ifdef CARDFAB_HAVE_MEMCARD
			    " or memory card"
#else
			    ""
#endif
		);
		vc_close(r, NULL, 0);
		reader_free(r);
		return READER_ERR_NOT_CHIP;
	}
	st = vc_power_up(r);
	if (st != READER_OK) {
		reader_errf(err, err_cap, "%s", r->detail);
		vc_close(r, NULL, 0);
		reader_free(r);
		return st;
	}
	*out = r;
	return READER_OK;
}

reader_status_t reader_vcard_open(const char *path, int proto, reader_t **out,
				  char *err, size_t err_cap)
{
	reader_t *r;
	vcard_t *v;
	hal_host_status_t hst;
	char holder[224];
	int e;

	r = reader_new(&vcard_ops, "vcard:", path);
	v = calloc(1, sizeof *v);
	if (r == NULL || v == NULL) {
		reader_free(r);
		free(v);
		reader_errf(err, err_cap, "out of memory");
		return READER_ERR_NOMEM;
	}
	r->want_proto = proto;
	errno = 0;
	hst = hal_file_open(path, &v->file);
	e = errno;
	if (hst != HAL_HOST_OK) {
		reader_status_t st;

		free(v);
		if (hst == HAL_HOST_ERR_IO && e == ENOENT) {
			reader_errf(err, err_cap, "%s: no such chip image",
				    path);
			st = READER_ERR_NO_IMAGE;
		} else if (hst == HAL_HOST_ERR_LOCKED) {
			lock_holder(path, holder, sizeof holder);
			reader_errf(err, err_cap,
				    "%s: the chip image is in use by another "
				    "process%s; one process drives a chip at "
				    "a time",
				    path, holder);
			st = READER_ERR_LOCKED;
		} else if (hst == HAL_HOST_ERR_SIZE) {
			reader_errf(err, err_cap,
				    "%s: not a chip image (not a regular file "
				    "of 1 byte to 1 MiB)",
				    path);
			st = READER_ERR_NOT_CHIP;
		} else if (hst == HAL_HOST_ERR_NOMEM) {
			reader_errf(err, err_cap, "out of memory");
			st = READER_ERR_NOMEM;
		} else {
			reader_errf(err, err_cap, "%s: %s%s%s", path,
				    hal_host_strerror(hst), e ? ": " : "",
				    e ? strerror(e) : "");
			st = READER_ERR_IMAGE_IO;
		}
		reader_free(r);
		return st;
	}
	v->hal = hal_file_hal(v->file);
	return start(r, v, out, err, err_cap);
}

reader_status_t reader_vcard_open_hal(const hal_t *hal, const char *name,
				      int proto, reader_t **out, char *err,
				      size_t err_cap)
{
	reader_t *r;
	vcard_t *v;

	if (out == NULL || hal == NULL || hal->nvm == NULL)
		return READER_ERR_PARAM;
	*out = NULL;
	r = reader_new(&vcard_ops, "vcard:", name ? name : "(memory)");
	v = calloc(1, sizeof *v);
	if (r == NULL || v == NULL) {
		reader_free(r);
		free(v);
		reader_errf(err, err_cap, "out of memory");
		return READER_ERR_NOMEM;
	}
	r->want_proto = proto;
	v->hal = hal;
	return start(r, v, out, err, err_cap);
}

const char *reader_vcard_family(const reader_t *r)
{
	const vcard_t *v = r->be;

	return v != NULL && v->fam != NULL ? v->fam->name : NULL;
}

const cos_chip_t *reader_vcard_cos(const reader_t *r)
{
	const vcard_t *v = r->be;

	if (v == NULL || v->fam != &families[0])
		return NULL;
	return &v->ram.cos;
}

const void *reader_vcard_ram(const reader_t *r)
{
	const vcard_t *v = r->be;

	return v != NULL ? (const void *)&v->ram : NULL;
}
