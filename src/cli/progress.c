/*
 * progress.c - progress bars of a run (contract in progress.h).
 *
 * A mutex guards the figures and the drawing: stations (threads) call
 * progress_add() after every card, and the bar is redrawn only when
 * enough time passed since the last draw, so the cost of a call is a
 * lock and a clock read.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"

#define BAR_WIDTH 24

struct progress {
	pthread_mutex_t mu;
	char label[40], unit[16];
	uint64_t total, done, rejected, before;
	double t0, last;
	int tty, drawn;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int progress_tty(void)
{
	return isatty(STDERR_FILENO);
}

progress_t *progress_new(const char *label, const char *unit, uint64_t total,
			 uint64_t done_before)
{
	progress_t *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	snprintf(p->label, sizeof p->label, "%s", label);
	snprintf(p->unit, sizeof p->unit, "%s", unit);
	p->total = total;
	p->done = p->before = done_before;
	p->t0 = p->last = now_s();
	p->tty = progress_tty();
	return p;
}

/* "12,345" */
static void grouped(uint64_t v, char *out, size_t cap)
{
	char tmp[32];
	size_t n, i, j = 0;

	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	n = strlen(tmp);
	for (i = 0; i < n && j + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[j++] = ',';
		out[j++] = tmp[i];
	}
	out[j] = '\0';
}

static void draw(progress_t *p, int final)
{
	double t = now_s(), el = t - p->t0, rate = 0, left;
	uint64_t mine = p->done > p->before ? p->done - p->before : 0;
	char bar[BAR_WIDTH + 1], d[32], tot[32], r[48], eta[32] = "";
	char rej[32] = "";
	unsigned fill = 0, i;

	if (el > 0.05 && mine > 0)
		rate = (double)mine / el * 3600.0;
	if (p->total > 0) {
		fill = (unsigned)((double)p->done / (double)p->total *
				  BAR_WIDTH);
		if (fill > BAR_WIDTH)
			fill = BAR_WIDTH;
	}
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	grouped(p->done, d, sizeof d);
	grouped(p->total, tot, sizeof tot);
	if (rate > 0) {
		grouped((uint64_t)(rate + 0.5), r, sizeof r);
		snprintf(r + strlen(r), sizeof r - strlen(r), " %s/h", p->unit);
	} else {
		r[0] = '\0';
	}
	if (final) {
		snprintf(eta, sizeof eta, "%.1f s", el);
	} else if (rate > 0 && p->total > p->done) {
		left = (double)(p->total - p->done) / rate * 3600.0;
		snprintf(eta, sizeof eta, "%u:%02u left", (unsigned)(left / 60),
			 (unsigned)left % 60);
	}
	if (p->rejected > 0)
		snprintf(rej, sizeof rej, "rej %llu",
			 (unsigned long long)p->rejected);
	fprintf(stderr, "%s%-14s [%s] %7s/%-7s %-9s %16s  %-10s%s",
		p->tty ? "\r" : "", p->label, bar, d, tot, rej, r, eta,
		p->tty && !final ? "" : "\n");
	fflush(stderr);
	p->last = t;
	p->drawn = 1;
}

static void maybe_draw(progress_t *p)
{
	double t = now_s();

	if (p->tty ? t - p->last >= 0.1 : t - p->last >= PROGRESS_LOG_SECONDS)
		draw(p, 0);
}

void progress_set_total(progress_t *p, uint64_t total)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->total = total;
	pthread_mutex_unlock(&p->mu);
}

void progress_set(progress_t *p, uint64_t done, uint64_t rejected)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->done = done;
	p->rejected = rejected;
	maybe_draw(p);
	pthread_mutex_unlock(&p->mu);
}

void progress_add(progress_t *p, int rejected)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->done++;
	if (rejected)
		p->rejected++;
	maybe_draw(p);
	pthread_mutex_unlock(&p->mu);
}

void progress_end(progress_t *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	draw(p, 1);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
