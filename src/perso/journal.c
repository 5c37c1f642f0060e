/*
 * journal.c - the durable record of a personalization run (contract in
 * perso.h): an append-only text file, one line a step, each fsync'd
 * before the station goes on.
 *
 * Why a journal and not the card alone: a card cannot say for whom it was
 * started, and a holder must never get two cards. The start line binds a
 * card to a holder before the first byte is written to the card; the
 * outcome line ends it. After a kill, a started card is taken up again for
 * the same holder, and no holder is given to a second card while its
 * first is unresolved.
 *
 * Concurrency: stations of one process share a journal through a mutex;
 * the file is locked (flock) against a second process on the same batch.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "perso/perso.h"
#include "perso/perso_int.h"

#define SERIAL_HEX 17

typedef struct {
	char serial[SERIAL_HEX]; /* "" : empty slot */
	char state;		 /* 'B', 'I', 'R' */
	unsigned seq;
} card_t;

struct perso_journal {
	int fd;
	char path[4096];
	pthread_mutex_t mu;
	size_t holders;
	unsigned char *hstate; /* per holder: 0 free, 'B', 'I' */
	card_t *cards;	       /* open addressing, power of two */
	size_t ncap, ncards;
	size_t issued, rejected;
	unsigned next_free; /* no free holder below this one */
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static card_t *card_find(const perso_journal_t *j, const char *serial)
{
	size_t i = hash(serial) & (j->ncap - 1);

	while (j->cards[i].serial[0] != '\0') {
		if (strcmp(j->cards[i].serial, serial) == 0)
			return &j->cards[i];
		i = (i + 1) & (j->ncap - 1);
	}
	return NULL;
}

static int card_grow(perso_journal_t *j)
{
	card_t *old = j->cards, *nc;
	size_t oc = j->ncap, i, k, cap = oc ? 2 * oc : 1024;

	nc = calloc(cap, sizeof *nc);
	if (nc == NULL)
		return -1;
	for (i = 0; i < oc; i++) {
		if (old[i].serial[0] == '\0')
			continue;
		k = hash(old[i].serial) & (cap - 1);
		while (nc[k].serial[0] != '\0')
			k = (k + 1) & (cap - 1);
		nc[k] = old[i];
	}
	free(old);
	j->cards = nc;
	j->ncap = cap;
	return 0;
}

static card_t *card_add(perso_journal_t *j, const char *serial)
{
	size_t i;

	if ((j->ncards + 1) * 2 > j->ncap && card_grow(j) != 0)
		return NULL;
	i = hash(serial) & (j->ncap - 1);
	while (j->cards[i].serial[0] != '\0')
		i = (i + 1) & (j->ncap - 1);
	snprintf(j->cards[i].serial, SERIAL_HEX, "%s", serial);
	j->ncards++;
	return &j->cards[i];
}

static int serial_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return i == 16;
}

/* Apply one step to the state; the rules of perso.h. 0 or -1. */
static int apply(perso_journal_t *j, char kind, unsigned seq,
		 const char *serial, const char **why)
{
	card_t *c;

	*why = NULL;
	if (seq == 0 || seq > j->holders) {
		*why = "holder number out of the batch";
		return -1;
	}
	if (!serial_ok(serial)) {
		*why = "a serial of 16 hex digits expected";
		return -1;
	}
	c = card_find(j, serial);
	if (kind == 'B') {
		if (c != NULL) {
			*why = "the card was started already";
			return -1;
		}
		if (j->hstate[seq - 1] != 0) {
			*why = "the holder has a card already";
			return -1;
		}
		c = card_add(j, serial);
		if (c == NULL) {
			*why = "out of memory";
			return -1;
		}
		c->state = 'B';
		c->seq = seq;
		j->hstate[seq - 1] = 'B';
		return 0;
	}
	if (c == NULL || c->state != 'B' || c->seq != seq) {
		*why = "an outcome for a card not started for that holder";
		return -1;
	}
	c->state = kind;
	if (kind == 'I') {
		j->hstate[seq - 1] = 'I';
		j->issued++;
	} else {
		j->hstate[seq - 1] = 0;
		j->rejected++;
		if (seq - 1 < j->next_free)
			j->next_free = seq - 1;
	}
	return 0;
}

static perso_status_t load(perso_journal_t *j, char *err, size_t cap)
{
	struct stat sb;
	char *buf, *p, *nl, *end;
	size_t good = 0;
	ssize_t got;
	unsigned lineno = 0;
	const char *why;

	if (fstat(j->fd, &sb) != 0)
		return pc_err(err, cap, PERSO_ERR_IO, "%s: %s", j->path,
			      strerror(errno));
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL)
		return PERSO_ERR_NOMEM;
	got = pread(j->fd, buf, (size_t)sb.st_size, 0);
	if (got != sb.st_size) {
		free(buf);
		return pc_err(err, cap, PERSO_ERR_IO, "%s: read error",
			      j->path);
	}
	buf[got] = '\0';
	for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		char kind, serial[SERIAL_HEX + 1];
		unsigned long seq;

		lineno++;
		*nl = '\0';
		kind = p[0];
		if ((kind != 'B' && kind != 'I' && kind != 'R') || p[1] != ' ')
			goto bad;
		seq = strtoul(p + 2, &end, 10);
		if (*end != ' ' || strlen(end + 1) < 16 || seq > 0xFFFFFFFFul)
			goto bad;
		memcpy(serial, end + 1, 16);
		serial[16] = '\0';
		if (end[17] != '\0' && !(kind == 'R' && end[17] == ' '))
			goto bad;
		if (apply(j, kind, (unsigned)seq, serial, &why) != 0) {
			free(buf);
			return pc_err(err, cap, PERSO_ERR_FORMAT,
				      "%s:%u: %s: the journal does not belong "
				      "to this batch, or was edited",
				      j->path, lineno, why);
		}
		good = (size_t)(nl + 1 - buf);
	}
	free(buf);
	/* A line cut by a kill: it never counted, drop it. */
	if (good != (size_t)got && ftruncate(j->fd, (off_t)good) != 0)
		return pc_err(err, cap, PERSO_ERR_IO, "%s: %s", j->path,
			      strerror(errno));
	return PERSO_OK;
bad:
	free(buf);
	return pc_err(err, cap, PERSO_ERR_FORMAT,
		      "%s:%u: not a journal line (B|I|R SEQ SERIAL)", j->path,
		      lineno);
}

perso_status_t perso_journal_open(const char *path, size_t holders,
				  perso_journal_t **out, char *err,
				  size_t errcap)
{
	perso_journal_t *j;
	perso_status_t st;

	if (out == NULL || path == NULL || holders == 0 ||
	    strlen(path) >= sizeof j->path)
		return PERSO_ERR_PARAM;
	*out = NULL;
	j = calloc(1, sizeof *j);
	if (j == NULL)
		return PERSO_ERR_NOMEM;
	snprintf(j->path, sizeof j->path, "%s", path);
	j->holders = holders;
	j->hstate = calloc(holders, 1);
	if (j->hstate == NULL || card_grow(j) != 0) {
		perso_journal_close(j);
		return PERSO_ERR_NOMEM;
	}
	pthread_mutex_init(&j->mu, NULL);
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		st = pc_err(err, errcap, PERSO_ERR_IO, "%s: %s", path,
			    strerror(errno));
		free(j->hstate);
		free(j->cards);
		free(j);
		return st;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
		st = pc_err(err, errcap, PERSO_ERR_IO,
			    "%s: another process is personalizing this batch",
			    path);
		perso_journal_close(j);
		return st;
	}
	st = load(j, err, errcap);
	if (st != PERSO_OK) {
		perso_journal_close(j);
		return st;
	}
	*out = j;
	return PERSO_OK;
}

void perso_journal_close(perso_journal_t *j)
{
	if (j == NULL)
		return;
	if (j->fd > 0)
		close(j->fd);
	pthread_mutex_destroy(&j->mu);
	free(j->hstate);
	free(j->cards);
	free(j);
}

perso_j_state_t perso_journal_holder(const perso_journal_t *j, unsigned seq,
				     char *serial)
{
	size_t i;
	unsigned char s;

	if (j == NULL || seq == 0 || seq > j->holders)
		return PERSO_J_FREE;
	s = j->hstate[seq - 1];
	if (s == 0)
		return PERSO_J_FREE;
	if (serial != NULL)
		for (i = 0; i < j->ncap; i++)
			if (j->cards[i].serial[0] && j->cards[i].seq == seq &&
			    j->cards[i].state == s) {
				memcpy(serial, j->cards[i].serial, SERIAL_HEX);
				break;
			}
	return s == 'I' ? PERSO_J_ISSUED : PERSO_J_STARTED;
}

int perso_journal_card(const perso_journal_t *j, const char *serial_hex,
		       unsigned *seq)
{
	const card_t *c;

	if (j == NULL || serial_hex == NULL)
		return 0;
	c = card_find(j, serial_hex);
	if (c == NULL)
		return 0;
	if (seq != NULL)
		*seq = c->seq;
	return c->state;
}

/* Write a line and make it durable; the state is changed by the caller
 * only once this succeeded. */
static perso_status_t append(perso_journal_t *j, const char *line)
{
	size_t n = strlen(line), done = 0;
	ssize_t w;

	while (done < n) {
		w = write(j->fd, line + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PERSO_ERR_IO;
		done += (size_t)w;
	}
	if (fdatasync(j->fd) != 0)
		return PERSO_ERR_IO;
	return PERSO_OK;
}

static perso_status_t step(perso_journal_t *j, char kind, unsigned seq,
			   const char *serial, const char *reason)
{
	char line[256], r[160];
	const char *why;
	card_t *c;
	size_t i;
	perso_status_t st;

	if (!serial_ok(serial) || seq == 0 || seq > j->holders)
		return PERSO_ERR_PARAM;
	c = card_find(j, serial);
	if (kind == 'B' ? (c != NULL || j->hstate[seq - 1] != 0) :
			  (c == NULL || c->state != 'B' || c->seq != seq))
		return PERSO_ERR_PARAM;
	if (kind == 'R') {
		/* One line: no control characters in the reason. */
		snprintf(r, sizeof r, "%s", reason ? reason : "rejected");
		for (i = 0; r[i]; i++)
			if ((unsigned char)r[i] < 0x20)
				r[i] = ' ';
		snprintf(line, sizeof line, "R %u %s %s\n", seq, serial, r);
	} else {
		snprintf(line, sizeof line, "%c %u %s\n", kind, seq, serial);
	}
	st = append(j, line);
	if (st == PERSO_OK && apply(j, kind, seq, serial, &why) != 0)
		st = PERSO_ERR_NOMEM;
	return st;
}

perso_status_t perso_journal_take(perso_journal_t *j, const char *serial_hex,
				  unsigned *seq, int *resumed)
{
	card_t *c;
	unsigned i;
	perso_status_t st = PERSO_ERR_NOT_FOUND;

	if (j == NULL || serial_hex == NULL || seq == NULL ||
	    !serial_ok(serial_hex))
		return PERSO_ERR_PARAM;
	if (resumed != NULL)
		*resumed = 0;
	pthread_mutex_lock(&j->mu);
	c = card_find(j, serial_hex);
	if (c != NULL) {
		if (c->state == 'B') {
			*seq = c->seq;
			if (resumed != NULL)
				*resumed = 1;
			st = PERSO_OK;
		} else {
			st = PERSO_ERR_EXISTS;
		}
		pthread_mutex_unlock(&j->mu);
		return st;
	}
	for (i = j->next_free; i < j->holders; i++) {
		if (j->hstate[i] != 0)
			continue;
		st = step(j, 'B', i + 1, serial_hex, NULL);
		if (st == PERSO_OK) {
			*seq = i + 1;
			j->next_free = i + 1;
		}
		break;
	}
	if (i == j->holders)
		j->next_free = i;
	pthread_mutex_unlock(&j->mu);
	return st;
}

static perso_status_t locked_step(perso_journal_t *j, char kind, unsigned seq,
				  const char *serial, const char *reason)
{
	perso_status_t st;

	if (j == NULL || serial == NULL)
		return PERSO_ERR_PARAM;
	pthread_mutex_lock(&j->mu);
	st = step(j, kind, seq, serial, reason);
	pthread_mutex_unlock(&j->mu);
	return st;
}

perso_status_t perso_journal_start(perso_journal_t *j, unsigned seq,
				   const char *serial_hex)
{
	return locked_step(j, 'B', seq, serial_hex, NULL);
}

perso_status_t perso_journal_issued(perso_journal_t *j, unsigned seq,
				    const char *serial_hex)
{
	return locked_step(j, 'I', seq, serial_hex, NULL);
}

perso_status_t perso_journal_rejected(perso_journal_t *j, unsigned seq,
				      const char *serial_hex,
				      const char *reason)
{
	return locked_step(j, 'R', seq, serial_hex, reason);
}

void perso_journal_counts(const perso_journal_t *j, size_t *issued,
			  size_t *rejected)
{
	if (issued != NULL)
		*issued = j != NULL ? j->issued : 0;
	if (rejected != NULL)
		*rejected = j != NULL ? j->rejected : 0;
}
