/*
 * hal_mem.c - a chip's NVM in RAM, with fault injection, for tests, fuzzing
 * and benchmarks.
 *
 * The image is one malloc'd block that hal_t's `nvm` points at; nvm_write()
 * copies into it. Nothing here touches the file system, so a fuzzer or a
 * benchmark can make and throw away thousands of chips a second.
 *
 * Fault injection follows SQLite's countdown idea: arm a fault at "the Nth
 * write from now", run the code under test, then check what it left.
 *
 *   cut (hal_mem_cut_at)    power lost during write N: only its first
 *                           `torn` bytes reach the image (torn >= len means
 *                           the whole write landed but the chip died before
 *                           it could hear so), the write returns
 *                           HAL_ERR_POWER, and from then on every write and
 *                           sync is dropped with HAL_ERR_POWER until
 *                           hal_mem_power_restore(). A harness sweeps N from
 *                           1 to the write count of a clean run, and torn
 *                           over 0..len, restoring and "powering on" the
 *                           chip after each cut to check the journal.
 *   I/O error (hal_mem_fail_at)  write N fails with HAL_ERR_IO and programs
 *                           nothing; power stays on and later writes work
 *                           (a worn cell, once).
 *
 * Counting: hal_mem_writes() counts every nvm_write() call whose range is
 * valid, including the calls dropped after a cut (a chip that keeps writing
 * after losing power is a bug a harness may want to see). A call with a bad
 * range returns HAL_ERR_PARAM before anything is counted or armed faults
 * advance: it is a programming error, not a write.
 * hal_mem_syncs() counts the barriers that reached the NVM.
 *
 * RNG: seed == 0 uses getrandom(2) (hal_host_rng). seed != 0 uses
 * splitmix64 (Steele, Lea, Flood 2014) from the seed, so that a test or a
 * fuzzer replays exactly the same challenges. It is NOT cryptographic and is
 * for tests only: anything that must be secret uses seed 0.
 *
 * Not thread-safe: one chip, one thread, as on a card.
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include "hal/hal_host.h"

struct hal_mem {
	hal_t hal; /* hal.ctx == this */
	uint8_t *image;
	uint32_t size;

	uint64_t writes; /* valid nvm_write() calls since the last reset */
	uint64_t syncs;	 /* barriers that reached the NVM */

	uint64_t cut_countdown; /* 0: disarmed; 1: the next write is cut */
	uint32_t cut_torn;	/* bytes of the cut write that land */
	int power_lost;

	uint64_t fail_countdown; /* 0: disarmed; 1: the next write fails */

	hal_mem_sync_fn on_sync;
	void *on_sync_arg;

	uint64_t rng_state; /* splitmix64 state, used when seeded */
};

static hal_status_t mem_write(void *ctx, uint32_t off, const uint8_t *src,
			      uint32_t len)
{
	hal_mem_t *m = ctx;

	/* Written so that off + len cannot wrap. */
	if (off > m->size || len > m->size - off || (len && !src))
		return HAL_ERR_PARAM;
	m->writes++;
	if (m->power_lost)
		return HAL_ERR_POWER;

	if (m->cut_countdown && --m->cut_countdown == 0) {
		uint32_t n = m->cut_torn < len ? m->cut_torn : len;
		/* memmove: the card OS may copy from its own NVM view (a
		 * journal replay), which could overlap the destination. */
		memmove(m->image + off, src, n);
		m->power_lost = 1;
		return HAL_ERR_POWER;
	}
	if (m->fail_countdown && --m->fail_countdown == 0)
		return HAL_ERR_IO;

	memmove(m->image + off, src, len);
	return HAL_OK;
}

static hal_status_t mem_sync(void *ctx)
{
	hal_mem_t *m = ctx;

	if (m->power_lost)
		return HAL_ERR_POWER;
	m->syncs++;
	/* The callback may arm or disarm faults (e.g. cut at the next
	 * write, to lose power right after this barrier). */
	if (m->on_sync)
		m->on_sync(m, m->on_sync_arg);
	return HAL_OK;
}

/* splitmix64: one 64-bit output per step, full period 2^64. */
static uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static hal_status_t mem_rng_seeded(void *ctx, uint8_t *dst, size_t len)
{
	hal_mem_t *m = ctx;

	if (len && !dst)
		return HAL_ERR_PARAM;
	/* Bytes in little-endian order of each output word, so that the
	 * stream is the same on every host. A partial last word is dropped:
	 * rng(4) then rng(4) differs from rng(8), which no test relies on. */
	while (len) {
		uint64_t r = splitmix64_next(&m->rng_state);
		for (int i = 0; i < 8 && len; i++, len--) {
			*dst++ = (uint8_t)r;
			r >>= 8;
		}
	}
	return HAL_OK;
}

hal_host_status_t hal_mem_new(uint32_t nvm_size, uint64_t seed, hal_mem_t **out)
{
	if (!out)
		return HAL_HOST_ERR_PARAM;
	*out = NULL;
	if (nvm_size == 0 || nvm_size > HAL_HOST_NVM_MAX)
		return HAL_HOST_ERR_PARAM;

	hal_mem_t *m = calloc(1, sizeof *m);
	if (!m)
		return HAL_HOST_ERR_NOMEM;
	m->image = malloc(nvm_size);
	if (!m->image) {
		free(m);
		return HAL_HOST_ERR_NOMEM;
	}
	memset(m->image, 0xFF, nvm_size); /* erased EEPROM */
	m->size = nvm_size;
	m->rng_state = seed;

	m->hal = (hal_t){
		.ctx = m,
		.nvm = m->image,
		.nvm_size = nvm_size,
		.nvm_write = mem_write,
		.nvm_sync = mem_sync,
		.rng = seed ? mem_rng_seeded : hal_host_rng,
		.cipher = hal_host_cipher,
		.cmac = hal_host_cmac,
	};
	*out = m;
	return HAL_HOST_OK;
}

void hal_mem_free(hal_mem_t *m)
{
	if (!m)
		return;
	/* The image holds the chip's keys and PINs. */
	explicit_bzero(m->image, m->size);
	free(m->image);
	explicit_bzero(m, sizeof *m);
	free(m);
}

const hal_t *hal_mem_hal(hal_mem_t *m)
{
	return &m->hal;
}

uint8_t *hal_mem_image(hal_mem_t *m)
{
	return m->image;
}

uint32_t hal_mem_size(const hal_mem_t *m)
{
	return m->size;
}

uint64_t hal_mem_writes(const hal_mem_t *m)
{
	return m->writes;
}

uint64_t hal_mem_syncs(const hal_mem_t *m)
{
	return m->syncs;
}

void hal_mem_reset_counters(hal_mem_t *m)
{
	/* Armed faults keep counting down: they were counted "from when
	 * armed", not from the last reset. */
	m->writes = 0;
	m->syncs = 0;
}

void hal_mem_cut_at(hal_mem_t *m, uint64_t n, uint32_t torn)
{
	m->cut_countdown = n;
	m->cut_torn = torn;
}

void hal_mem_fail_at(hal_mem_t *m, uint64_t n)
{
	m->fail_countdown = n;
}

int hal_mem_power_lost(const hal_mem_t *m)
{
	return m->power_lost;
}

void hal_mem_power_restore(hal_mem_t *m)
{
	/* Only the lost state clears: a cut armed but not yet reached stays
	 * armed (a cut that fired has already disarmed itself). */
	m->power_lost = 0;
}

void hal_mem_on_sync(hal_mem_t *m, hal_mem_sync_fn fn, void *arg)
{
	m->on_sync = fn;
	m->on_sync_arg = arg;
}
