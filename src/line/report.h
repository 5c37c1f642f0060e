/*
 * report.h - production reports and genealogy, read from the MES: what
 * `cardfab report` and `cardfab trace` print.
 *
 * Every number a report shows is read from the database at the time of
 * the report (mes_yields_order, mes_yields_lot, mes_counts, the dies and
 * grinding of each wafer), never from a run's own counters: a report and
 * a query of the database always agree. The queries of one report are
 * not one snapshot: while a line or a station is writing, a table read a
 * moment after another may count a few more units.
 *
 *   report_text()   yields per part, per lot, per wafer and counts, as
 *                   aligned tables, to a FILE
 *   report_html()   the same tables in one self-contained HTML file
 *                   (inline CSS, no script, nothing fetched), a bar chart
 *                   of the yield of each part per lot and a wafer map of
 *                   every wafer (inline SVG); written durably: a
 *                   temporary file beside PATH, fsync, rename, fsync of
 *                   the folder, so PATH is the old file or the whole new
 *                   one, never half a report
 *   report_trace_*  the genealogy of one chip or card, or of the card
 *                   issued to a holder, one line a fact
 *
 * An order is named by its name; NULL means every order of the database,
 * oldest first. Text from the database (names, holder fields, reasons) is
 * escaped in HTML, and control characters are replaced by '?' in text.
 *
 * Errors: report_status_t and report_strerror(); err (may be NULL)
 * receives what failed, with the MES's own detail for database errors.
 */
#ifndef CARDFAB_REPORT_H
#define CARDFAB_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "mes/mes.h"

typedef enum {
	REPORT_OK = 0,
	REPORT_ERR_PARAM,     /* a bad argument */
	REPORT_ERR_NOT_FOUND, /* no such order, serial or holder */
	REPORT_ERR_MES,	      /* the database failed (err says) */
	REPORT_ERR_IO,	      /* the output could not be written */
	REPORT_ERR_NOMEM,
} report_status_t;

const char *report_strerror(report_status_t st);

/*
 * Opens a database to read a report from. Unlike mes_open(), a SQLite
 * file that does not exist is an error (REPORT_ERR_NOT_FOUND) instead of
 * a new empty database. The schema is not migrated: a database of
 * another version fails at the first query with the MES's message.
 */
report_status_t report_open_db(const char *url, mes_t **out, char *err,
			       size_t errcap);

/* The SQLite file of a database URL ("sqlite:PATH" or a bare PATH), or
 * NULL for a server URL (postgresql://...). Points into url. */
const char *report_sqlite_path(const char *url);

/*
 * Where the HTML report goes by default: `name` in the folder of the
 * SQLite file, or in the current folder for a server database. 0, or -1
 * if buf (cap bytes) is too small.
 */
int report_default_html_path(const char *url, const char *name, char *buf,
			     size_t cap);

/* The name of the latest order (the highest id) into name (cap bytes);
 * REPORT_ERR_NOT_FOUND if the database has no order. */
report_status_t report_latest_order(mes_t *m, char *name, size_t cap,
				    char *err, size_t errcap);

/* The text report of an order (NULL: every order) to f. */
report_status_t report_text(mes_t *m, const char *order, FILE *f, char *err,
			    size_t errcap);

/* The HTML report of an order (NULL: every order), written durably to
 * path (mode 0644; an existing file is replaced). */
report_status_t report_html(mes_t *m, const char *order, const char *path,
			    char *err, size_t errcap);

/*
 * The genealogy of a chip serial or, if no chip has it, of a card body
 * serial, printed to f: order, lot, wafer, die (position, bin, test
 * values), grinding, module and its ATR, card body, the CPLC fields
 * stamped, the latest init and perso runs (station, times, outcome), the
 * holder and the holder's fields. REPORT_ERR_NOT_FOUND if neither.
 */
report_status_t report_trace_serial(mes_t *m, const char *serial, FILE *f,
				    char *err, size_t errcap);

/* The same for the card issued to a holder (by the holder's id), in an
 * order (NULL: the latest card issued to that id in any order). */
report_status_t report_trace_holder(mes_t *m, const char *order,
				    const char *holder_ref, FILE *f, char *err,
				    size_t errcap);

/* Prints a genealogy already read (what report_trace_* print). */
void report_print_genealogy(FILE *f, const mes_genealogy_t *g);

#endif
