/*
 * hal_file.c - a virtual chip's NVM in a file, one file a chip.
 *
 * The whole image is mapped MAP_SHARED; hal_t's `nvm` is the mapping and
 * nvm_write() is a copy into it. A store into a shared mapping is in the
 * kernel's page cache the moment it is made, so a chip process killed at any
 * instant (SIGKILL, a crash, an abort in the middle of a journal write)
 * leaves the image exactly as far as its writes got, byte for byte: the
 * same thing as a card pulled from the reader, which the card OS's journal
 * recovers at the next power up. That is the failure this back end models.
 * Losing the *host's* power (page cache gone before writeback) is not: that
 * would need an fsync per barrier, thousands per personalised card, for a
 * failure the in-RAM back end (hal_mem.c) already sweeps byte by byte.
 *
 * Hence nvm_sync() is only a barrier (a release fence, so that neither the
 * compiler nor the CPU lets a later store overtake an earlier one, even when
 * LTO inlines the call) and costs nothing; hal_file_close() does the one
 * synchronous msync, so a clean shutdown leaves the image on disk.
 *
 * Creating an image is durable the usual way: a temporary file in the same
 * directory, written and fsynced, then renamed over the path (or, without
 * overwrite, moved there only if the path is free), then the directory
 * fsynced so the new name survives too.
 *
 * A session holds flock(LOCK_EX) on the image for as long as it is open:
 * two processes never drive one chip. The lock dies with the process, so a
 * killed session never leaves a stale lock. A read-only open takes no lock.
 * The lock is advisory: a process that ignores it and truncates the file
 * under a mapping makes the mapping's owner die of SIGBUS. Nothing of ours
 * does that.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/hal_host.h"

struct hal_file {
	hal_t hal; /* hal.ctx == this */
	int fd;	   /* holds the lock (read-write opens) */
	uint8_t *map;
	uint32_t size;
	int ro;
};

/* ---- The chip's side ---- */

static hal_status_t file_write(void *ctx, uint32_t off, const uint8_t *src,
			       uint32_t len)
{
	hal_file_t *f = ctx;

	/* Written so that off + len cannot wrap. */
	if (off > f->size || len > f->size - off || (len && !src))
		return HAL_ERR_PARAM;
	if (f->ro)
		return HAL_ERR_IO;
	/* memmove: the source may be the chip's own NVM view (a journal
	 * replay) and may overlap the destination. */
	memmove(f->map + off, src, len);
	return HAL_OK;
}

static hal_status_t file_sync(void *ctx)
{
	(void)ctx;
	/* See the file's comment: stores in a shared mapping survive the
	 * process, so a barrier only has to keep them in order. */
	atomic_thread_fence(memory_order_release);
	return HAL_OK;
}

/* ---- Helpers ---- */

/* Close fd keeping the errno of the failure that made us close it. */
static void close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

/* Lock fd exclusively without waiting. */
static hal_host_status_t lock_fd(int fd)
{
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return HAL_HOST_OK;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? HAL_HOST_ERR_LOCKED :
					      HAL_HOST_ERR_IO;
	}
}

/* Write all of buf, over short writes and EINTR. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory that holds path, so a new name in it is durable. */
static int fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -1;

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	free(dir);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	if (fsync(fd) != 0) {
		close_keep_errno(fd);
		return -1;
	}
	return close(fd);
}

/*
 * Move tmp to path only if path does not exist, atomically. renameat2's
 * RENAME_NOREPLACE does it in one step where the file system supports it;
 * link() + unlink() is the POSIX way elsewhere.
 */
static hal_host_status_t move_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return HAL_HOST_OK;
	if (errno == EEXIST)
		return HAL_HOST_ERR_EXISTS;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return HAL_HOST_ERR_IO;

	if (link(tmp, path) != 0)
		return errno == EEXIST ? HAL_HOST_ERR_EXISTS : HAL_HOST_ERR_IO;
	/* path is in place; tmp is only a second name for it now. A failed
	 * unlink leaves a stray name, not a broken image: not an error. */
	unlink(tmp);
	return HAL_HOST_OK;
}

/* ---- Create ---- */

hal_host_status_t hal_file_create(const char *path, uint32_t nvm_size,
				  int overwrite)
{
	static const char suffix[] = ".tmp.XXXXXX";

	if (!path || !*path || nvm_size == 0 || nvm_size > HAL_HOST_NVM_MAX)
		return HAL_HOST_ERR_PARAM;

	hal_host_status_t st = HAL_HOST_ERR_IO;
	int old_fd = -1, fd = -1;
	char *tmp = NULL;

	/* Replacing an image a session has open would fork the chip: the
	 * session keeps writing the old inode. Hold the old image's lock
	 * across the rename so that no session can start on it either. */
	if (overwrite) {
		old_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (old_fd >= 0) {
			st = lock_fd(old_fd);
			if (st != HAL_HOST_OK)
				goto out;
			st = HAL_HOST_ERR_IO;
		} else if (errno != ENOENT) {
			goto out;
		}
	}

	size_t plen = strlen(path);
	tmp = malloc(plen + sizeof suffix);
	if (!tmp) {
		st = HAL_HOST_ERR_NOMEM;
		goto out;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, suffix, sizeof suffix);

	/* mkostemp makes the file 0600, which is what a chip image wants. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		tmp = NULL; /* nothing to unlink */
		goto out;
	}

	uint8_t erased[4096];
	memset(erased, 0xFF, sizeof erased);
	for (uint32_t done = 0; done < nvm_size;) {
		uint32_t n = nvm_size - done;
		if (n > sizeof erased)
			n = sizeof erased;
		if (write_all(fd, erased, n) != 0)
			goto out;
		done += n;
	}
	if (fsync(fd) != 0)
		goto out;
	int rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto out;

	if (overwrite) {
		if (rename(tmp, path) != 0)
			goto out;
	} else {
		st = move_noreplace(tmp, path);
		if (st != HAL_HOST_OK)
			goto out;
		st = HAL_HOST_ERR_IO;
	}
	free(tmp);
	tmp = NULL; /* moved: nothing left to unlink */
	if (fsync_dir_of(path) != 0)
		goto out;
	st = HAL_HOST_OK;
out:
	if (fd >= 0)
		close_keep_errno(fd);
	if (tmp) {
		/* Only on failure: the temporary is junk. */
		int e = errno;
		unlink(tmp);
		errno = e;
		free(tmp);
	}
	if (old_fd >= 0)
		close_keep_errno(old_fd); /* releases the old image's lock */
	return st;
}

/* ---- Open and close ---- */

static hal_host_status_t open_image(const char *path, int ro, hal_file_t **out)
{
	if (!out)
		return HAL_HOST_ERR_PARAM;
	*out = NULL;
	if (!path || !*path)
		return HAL_HOST_ERR_PARAM;

	hal_host_status_t st;
	int fd = -1;
	struct stat sb;

	/*
	 * hal_file_create(overwrite) renames a new image over the path while
	 * holding the old one's lock: a session that opened the old inode
	 * just before and locks it just after would run a chip nobody can
	 * reach by name. So after locking, check the path still names the
	 * inode we locked, and start again if not (a few times: only a
	 * stream of concurrent re-creations keeps it moving).
	 */
	for (int attempt = 0;; attempt++) {
		fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0)
			return HAL_HOST_ERR_IO;
		if (ro)
			break;
		st = lock_fd(fd);
		if (st != HAL_HOST_OK) {
			close_keep_errno(fd);
			return st;
		}
		struct stat by_name, by_fd;
		if (stat(path, &by_name) != 0 || fstat(fd, &by_fd) != 0) {
			close_keep_errno(fd);
			return HAL_HOST_ERR_IO;
		}
		if (by_name.st_dev == by_fd.st_dev &&
		    by_name.st_ino == by_fd.st_ino)
			break;
		close(fd);
		if (attempt == 8)
			return HAL_HOST_ERR_LOCKED;
	}

	if (fstat(fd, &sb) != 0) {
		st = HAL_HOST_ERR_IO;
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > (off_t)HAL_HOST_NVM_MAX) {
		st = HAL_HOST_ERR_SIZE;
		goto fail;
	}

	hal_file_t *f = calloc(1, sizeof *f);
	if (!f) {
		st = HAL_HOST_ERR_NOMEM;
		goto fail;
	}
	f->size = (uint32_t)sb.st_size;
	f->ro = ro;
	f->fd = fd;
	f->map = mmap(NULL, f->size, ro ? PROT_READ : PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, 0);
	if (f->map == MAP_FAILED) {
		int e = errno;
		free(f);
		errno = e;
		st = HAL_HOST_ERR_IO;
		goto fail;
	}

	f->hal = (hal_t){
		.ctx = f,
		.nvm = f->map,
		.nvm_size = f->size,
		.nvm_write = file_write,
		.nvm_sync = file_sync,
		.rng = hal_host_rng,
		.cipher = hal_host_cipher,
		.cmac = hal_host_cmac,
	};
	*out = f;
	return HAL_HOST_OK;
fail:
	close_keep_errno(fd);
	return st;
}

hal_host_status_t hal_file_open(const char *path, hal_file_t **out)
{
	return open_image(path, 0, out);
}

hal_host_status_t hal_file_open_ro(const char *path, hal_file_t **out)
{
	return open_image(path, 1, out);
}

const hal_t *hal_file_hal(hal_file_t *f)
{
	return &f->hal;
}

hal_host_status_t hal_file_close(hal_file_t *f)
{
	if (!f)
		return HAL_HOST_OK;

	hal_host_status_t st = HAL_HOST_OK;
	int e = 0;
	if (!f->ro && msync(f->map, f->size, MS_SYNC) != 0) {
		st = HAL_HOST_ERR_IO;
		e = errno;
	}
	if (munmap(f->map, f->size) != 0 && st == HAL_HOST_OK) {
		st = HAL_HOST_ERR_IO;
		e = errno;
	}
	if (close(f->fd) != 0 && st == HAL_HOST_OK) {
		st = HAL_HOST_ERR_IO;
		e = errno;
	}
	free(f);
	if (st != HAL_HOST_OK)
		errno = e;
	return st;
}
