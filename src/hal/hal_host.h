/*
 * hal_host.h - host implementations of the chip's HAL (src/cos/hal.h).
 *
 * Two NVM back ends, one crypto and RNG:
 *
 *   hal_file_*  a virtual chip's EEPROM in a file (one file a chip), mapped
 *               shared: every nvm_write() lands in the page cache at once, so
 *               a process killed at any point leaves the image exactly as far
 *               as the chip's own journal got (which the chip recovers at its
 *               next power up). New images are made durably: temporary file,
 *               fsync, rename, fsync of the directory. An open image is
 *               locked (flock, exclusive): two processes never drive one chip.
 *               nvm_sync() is a barrier only, not an fsync: what a killed
 *               process wrote is already safe, and the host itself losing
 *               power is not what this back end models. hal_file_close()
 *               flushes to disk.
 *
 *   hal_mem_*   EEPROM in RAM, for tests, fuzzing and benchmarks, with fault
 *               injection: cut the power at the Nth write (after programming
 *               only some of its bytes), observe every sync barrier, and a
 *               seeded deterministic RNG. One thread a chip.
 *
 * Crypto is OpenSSL's libcrypto; the RNG is getrandom(2).
 * Functions return hal_host_status_t; errno is kept for I/O failures.
 *
 * Both back ends fill a hal_t whose ctx is their own object and whose rng,
 * cipher and cmac are the hal_host_* functions below (a seeded hal_mem has
 * its own deterministic rng). nvm_write() accepts a source that overlaps the
 * image (it copies with memmove); off + len > nvm_size is HAL_ERR_PARAM.
 */
#ifndef CARDFAB_HAL_HOST_H
#define CARDFAB_HAL_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "cos/hal.h"

typedef enum {
	HAL_HOST_OK = 0,
	HAL_HOST_ERR_PARAM,  /* bad argument */
	HAL_HOST_ERR_EXISTS, /* image exists and overwrite was not asked */
	HAL_HOST_ERR_IO,     /* a system call failed: see errno */
	HAL_HOST_ERR_LOCKED, /* another process has the image open */
	HAL_HOST_ERR_SIZE,   /* the file is not a chip image (size) */
	HAL_HOST_ERR_NOMEM,
} hal_host_status_t;

/* Largest image either back end accepts: 1 MiB, well above any chip's
 * EEPROM, small enough that a wrong file is refused rather than mapped. */
#define HAL_HOST_NVM_MAX (UINT32_C(1) << 20)

const char *hal_host_strerror(hal_host_status_t st);

/* ---- A virtual chip's NVM in a file ---- */

typedef struct hal_file hal_file_t;

/*
 * Create a blank image of nvm_size bytes (1..HAL_HOST_NVM_MAX, else
 * HAL_HOST_ERR_PARAM), erased (all 0xFF), durably: the path holds either
 * nothing (or the old image) or the whole new one, even across a crash.
 * The file is mode 0600: an image holds the chip's keys. overwrite == 0 and
 * an existing path: HAL_HOST_ERR_EXISTS. overwrite != 0 and the existing
 * image is open in a chip session: HAL_HOST_ERR_LOCKED.
 */
hal_host_status_t hal_file_create(const char *path, uint32_t nvm_size,
				  int overwrite);
/*
 * Open an image for a chip session: exclusive lock (HAL_HOST_ERR_LOCKED if
 * another session holds it), size checked (HAL_HOST_ERR_SIZE if it is not a
 * regular file of 1..HAL_HOST_NVM_MAX bytes). *out is the caller's to close;
 * NULL on error.
 */
hal_host_status_t hal_file_open(const char *path, hal_file_t **out);
/* Open read-only (no lock taken, writes fail with HAL_ERR_IO): to inspect an
 * image, even one a running session holds. */
hal_host_status_t hal_file_open_ro(const char *path, hal_file_t **out);
/* The chip's HAL; valid until hal_file_close(). */
const hal_t *hal_file_hal(hal_file_t *f);
/* Flush (msync, synchronous), unmap, close and so unlock. NULL is accepted.
 * Everything is released even when the flush fails (HAL_HOST_ERR_IO). */
hal_host_status_t hal_file_close(hal_file_t *f);

/* ---- NVM in RAM, with fault injection ---- */

typedef struct hal_mem hal_mem_t;

/* An erased image (all 0xFF) of 1..HAL_HOST_NVM_MAX bytes. seed != 0:
 * deterministic RNG from the seed (splitmix64, NOT cryptographic: tests
 * only); seed == 0: getrandom(2). */
hal_host_status_t hal_mem_new(uint32_t nvm_size, uint64_t seed,
			      hal_mem_t **out);
void hal_mem_free(hal_mem_t *m); /* wipes the image; NULL is accepted */
const hal_t *hal_mem_hal(hal_mem_t *m);
uint8_t *hal_mem_image(hal_mem_t *m); /* the image, to snapshot or load */
uint32_t hal_mem_size(const hal_mem_t *m);

/* Number of nvm_write() calls so far (since creation or the last reset),
 * counting the ones dropped after a cut, not those refused with
 * HAL_ERR_PARAM. */
uint64_t hal_mem_writes(const hal_mem_t *m);
/* Number of nvm_sync() barriers that reached the NVM (same period). */
uint64_t hal_mem_syncs(const hal_mem_t *m);
/* Zero both counters; armed faults keep their own countdowns. */
void hal_mem_reset_counters(hal_mem_t *m);

/*
 * Cut the power during write number n (1-based, counted from now): only the
 * first `torn` bytes of that write are programmed, it returns HAL_ERR_POWER,
 * and every later write and sync does nothing and returns HAL_ERR_POWER until
 * hal_mem_power_restore(). n == 0 disarms. torn >= the write's length
 * programs all of it (power lost just after). A cut fires once.
 */
void hal_mem_cut_at(hal_mem_t *m, uint64_t n, uint32_t torn);
/*
 * Fail write number n (1-based, counted from now) with HAL_ERR_IO, programming
 * nothing; power stays on and later writes work. n == 0 disarms. Fires once.
 */
void hal_mem_fail_at(hal_mem_t *m, uint64_t n);
int hal_mem_power_lost(const hal_mem_t *m);
/* Power back: writes and syncs work again. The image is as the cut left it. */
void hal_mem_power_restore(hal_mem_t *m);

/* Called at every nvm_sync() barrier that reaches the NVM (not while the
 * power is lost); it may arm faults. fn == NULL removes it. */
typedef void (*hal_mem_sync_fn)(hal_mem_t *m, void *arg);
void hal_mem_on_sync(hal_mem_t *m, hal_mem_sync_fn fn, void *arg);

/* ---- The crypto and RNG both back ends use ----
 *
 * ctx is ignored. Thread-safe. Errors: unsupported alg, mode or key length,
 * or a length that is not a multiple of the block: HAL_ERR_CRYPTO; NULL
 * buffers with a non-zero length: HAL_ERR_PARAM. cipher's in and out are the
 * same buffer or do not overlap at all. No padding anywhere.
 */

hal_status_t hal_host_rng(void *ctx, uint8_t *dst, size_t len);
hal_status_t hal_host_cipher(void *ctx, hal_cipher_t alg, hal_mode_t mode,
			     int encrypt, const uint8_t *key, size_t key_len,
			     const uint8_t *iv, const uint8_t *in, size_t len,
			     uint8_t *out);
hal_status_t hal_host_cmac(void *ctx, hal_cipher_t alg, const uint8_t *key,
			   size_t key_len, const uint8_t *in, size_t len,
			   uint8_t *mac);

#endif
