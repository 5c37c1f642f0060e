/*
 * softhsm_guard.c - keeps a SoftHSM2 token alive across a process killed
 * at the wrong instant.
 *
 * SoftHSM2's file object store (the only one Debian's build has) rewrites
 * <tokendir>/<token>/token.object in place, ftruncate() then write(), at
 * every login. A process killed between the two (a SIGKILL, a crash, a
 * power cut) leaves the file empty, and the token, with every master key
 * in it, is gone for SoftHSM2 ("no token labelled ..."). A card factory
 * restarts killed stations as a matter of course, so cardfab guards the
 * file: after each login it keeps a copy beside it (token.object.cardfab,
 * written to a temporary file and renamed: never torn), and before a
 * login it puts the copy back over a token.object found empty. The copy
 * holds what token.object holds (label, flags, the PIN-wrapped token
 * key): nothing that is not already in the folder.
 *
 * Only for SoftHSM2 with SOFTHSM2_CONF set (the project's token, made by
 * `cardfab keys init`); any other module is left alone.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "perso/perso_int.h"

#define BACKUP ".cardfab"

/* The tokendir of the SoftHSM2 config SOFTHSM2_CONF names, or 0. */
static int token_dir(char *out, size_t cap)
{
	const char *conf = getenv("SOFTHSM2_CONF");
	char line[4200], *k, *v, *end;
	FILE *f;
	int found = 0;

	if (conf == NULL || conf[0] == '\0')
		return 0;
	f = fopen(conf, "r");
	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		k = line + strspn(line, " \t");
		if (strncmp(k, "directories.tokendir", 20) != 0)
			continue;
		v = strchr(k, '=');
		if (v == NULL)
			continue;
		v += 1 + strspn(v + 1, " \t");
		end = v + strcspn(v, "\r\n");
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		if ((size_t)(end - v) < cap && v[0] != '\0') {
			memcpy(out, v, (size_t)(end - v) + 1);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* Copy src over dst through dst.tmp and a rename. */
static void copy_over(const char *src, const char *dst)
{
	char tmp[4400], buf[65536];
	int in, out;
	ssize_t n;
	int ok = 1;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= sizeof tmp)
		return;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			ok = 0;
	if (n < 0 || fsync(out) != 0)
		ok = 0;
	close(in);
	if (close(out) != 0)
		ok = 0;
	if (ok)
		ok = rename(tmp, dst) == 0;
	if (!ok)
		unlink(tmp);
}

static off_t size_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Another process's login empties token.object for the microseconds
 * between its ftruncate and its write: only a file that stays empty was
 * torn by a kill. */
static int still_empty(const char *path)
{
	struct timespec ts = { 0, 200 * 1000000L };

	nanosleep(&ts, NULL);
	return size_of(path) == 0;
}

void pc_softhsm_guard(const char *module, int after_login)
{
	char dir[4096], obj[4400], bak[4400];
	DIR *d;
	struct dirent *e;

	if (module != NULL && strstr(module, "softhsm") == NULL)
		return;
	if (!token_dir(dir, sizeof dir))
		return;
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(obj, sizeof obj, "%s/%s/token.object", dir,
				     e->d_name) >= sizeof obj ||
		    (size_t)snprintf(bak, sizeof bak, "%s" BACKUP, obj) >=
			    sizeof bak)
			continue;
		if (after_login) {
			if (size_of(obj) > 0)
				copy_over(obj, bak);
		} else if (size_of(obj) == 0 && size_of(bak) > 0 &&
			   still_empty(obj)) {
			fprintf(stderr,
				"cardfab: %s was left empty by a process killed "
				"while SoftHSM2 rewrote it: restored from its "
				"copy\n",
				obj);
			copy_over(bak, obj);
		}
	}
	closedir(d);
}
