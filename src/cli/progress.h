/*
 * progress.h - progress of a production part for the person watching a
 * run: one bar a part on a terminal, a plain line now and then otherwise.
 *
 *   part 6 init     [##########..........]   523/1000  rej 3
 *                   41,200 cards/h  0:46 left
 *
 * On a terminal (isatty(stderr)) the bar is redrawn in place at most ten
 * times a second and ends with a newline when the part is done; in a log
 * (not a terminal) a line is printed at most every PROGRESS_LOG_SECONDS
 * and once at the end, so that a log of a long run stays readable. The
 * rate counts only what this process did (a resumed run does not claim
 * the cards of the run before it as its speed); time left is the rest at
 * that rate.
 *
 * Thread-safe: stations of one process update one bar.
 */
#ifndef CARDFAB_CLI_PROGRESS_H
#define CARDFAB_CLI_PROGRESS_H

#include <stdint.h>

#define PROGRESS_LOG_SECONDS 5

typedef struct progress progress_t;

/* A bar for a part: label ("part 6 init"), unit ("card", "die"), total
 * (0: not known yet), done already before this process started. NULL if
 * out of memory (progress_* accept NULL and do nothing). */
progress_t *progress_new(const char *label, const char *unit, uint64_t total,
			 uint64_t done_before);
void progress_set_total(progress_t *p, uint64_t total);
/* Absolute figures: done (passed or rejected, all told) and rejected. */
void progress_set(progress_t *p, uint64_t done, uint64_t rejected);
/* One more unit done by this process, rejected or not. */
void progress_add(progress_t *p, int rejected);
/* The final line (whatever the throttle), then free. */
void progress_end(progress_t *p);

/* 1 if progress goes to a terminal. */
int progress_tty(void);

#endif
