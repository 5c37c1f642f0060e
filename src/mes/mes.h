/*
 * mes.h - the production database (MES) of cardfab: the whole interface of
 * src/mes.
 *
 * The MES stores the facts of production, part by part: orders, wafer lots,
 * wafers, dies and their probe bins, grinding, modules, card bodies, chips
 * and their CPLC, stations, initialization and personalization runs, card
 * holders, and an append-only log of every step of every item. It answers
 * the genealogy of a card ("which wafer, die, module, card body, runs made
 * it, and for whom") in one query, and the yields of each part per order
 * and per lot. It knows nothing of APDUs: callers hand it facts.
 *
 * One schema, two backends behind this one interface:
 *
 *   PATH, sqlite:PATH                  SQLite, a file (WAL journal)
 *   postgresql://..., postgres://...   PostgreSQL through libpq (any URL
 *                                      libpq takes: host, port, dbname,
 *                                      user, ?host=/socket/dir, ...)
 *
 *     mes_t *m;
 *     char err[256];
 *     if (mes_open("work/cardfab.db", &m, err, sizeof err) != MES_OK) ...
 *     mes_migrate(m, NULL, NULL);       // create or upgrade the schema
 *     mes_add_dies(m, dies, n);         // one transaction, ids filled in
 *     mes_trace_chip(m, "0102030405060708", &g);
 *     mes_close(m);
 *
 * Transactions. Every write function is atomic: it applies all its rows or
 * none (a failed batch rolls back whole). Outside mes_begin() each call is
 * its own transaction; between mes_begin() and mes_commit() a call is a
 * savepoint inside the caller's transaction, so a failed call leaves the
 * rest of the transaction intact. Batch functions take arrays and reuse
 * prepared statements: group many rows in one call, and many calls in one
 * mes_begin()/mes_commit(), for speed.
 *
 * Durability. A committed write survives the process being killed on both
 * backends. The outcome of a claimed card (mes_claim_finish) is also
 * flushed to stable storage before the call returns (SQLite
 * synchronous=FULL for that transaction, PostgreSQL synchronous_commit=on),
 * so that a power cut cannot forget that a card was issued; other writes
 * on SQLite use synchronous=NORMAL (a power cut may lose the last
 * transactions, never corrupt the file). See docs/mes.md.
 *
 * Times are microseconds since the Unix epoch (UTC); a time of 0 given to
 * a write function means "now". Ids are the database's row ids (> 0),
 * filled in by the add functions. Strings are NUL-terminated UTF-8 in
 * fixed arrays of the sizes below; an over-long or non-UTF-8 string is
 * refused with MES_ERR_PARAM.
 *
 * Secrets: none is ever stored. A chip's transport code is stored only as
 * a reference to its object in the PKCS#11 token (a label or id); holders
 * carry an id and the fields their profile marks as needed. Error details
 * name the operation and the backend's message, never a value written.
 *
 * Errors: every function returns a mes_err_t; mes_strerror() says what the
 * code means, mes_error_detail() what failed in this handle's last call.
 * A mes_t is used by one thread at a time; open one per thread or process.
 */
#ifndef CARDFAB_MES_H
#define CARDFAB_MES_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	MES_OK = 0,
	MES_ERR_PARAM,	 /* a bad argument: NULL, empty, too long, range */
	MES_ERR_URL,	 /* not a database this build knows (scheme) */
	MES_ERR_CONNECT, /* cannot open the file or reach the server */
	MES_ERR_NOMEM,
	MES_ERR_SCHEMA,	    /* schema missing, or newer than this program */
	MES_ERR_CONSTRAINT, /* duplicate serial, unknown parent, issued twice */
	MES_ERR_NOT_FOUND,  /* no such record, or nothing left to claim */
	MES_ERR_STATE,	    /* not now: a record in the wrong stage, a
			       commit without begin, a claim inside begin */
	MES_ERR_CLAIM,	    /* the claim is no longer this station's */
	MES_ERR_BUSY,	    /* locked beyond the busy timeout; retry */
	MES_ERR_BACKEND,    /* any other database failure (detail says) */
} mes_err_t;

const char *mes_strerror(mes_err_t err);

/* String sizes, NUL included. */
#define MES_NAME_MAX 64	   /* order, lot, station, holder id, key ref */
#define MES_SERIAL_MAX 40  /* chip, module, card serials */
#define MES_HASH_MAX 72	   /* a profile hash, hex */
#define MES_MODEL_MAX 16   /* chip model name */
#define MES_STEP_MAX 32	   /* event step */
#define MES_TEXT_MAX 160   /* reasons and event details */
#define MES_ATR_MAX 72	   /* an ATR in hex (33 bytes at most) */
#define MES_FIELDS_MAX 512 /* a holder's fields (caller's format: JSON) */
#define MES_DETAIL_MAX 512 /* error details */

/* The seven parts of production (DESIGN.md), as events and yields name
 * them. */
typedef enum {
	MES_PART_DESIGN = 1,
	MES_PART_PROBE = 2, /* chip manufacturing: probe test of dies */
	MES_PART_GRINDING = 3,
	MES_PART_MODULE = 4,	/* module assembly and module test */
	MES_PART_CARD_BODY = 5, /* embedding and printing */
	MES_PART_INIT = 6,
	MES_PART_PERSO = 7,
} mes_part_t;

/* What an event is about. */
typedef enum {
	MES_ITEM_ORDER = 1,
	MES_ITEM_LOT = 2,
	MES_ITEM_WAFER = 3,
	MES_ITEM_DIE = 4,
	MES_ITEM_CHIP = 5,
	MES_ITEM_MODULE = 6,
	MES_ITEM_CARD = 7,
	MES_ITEM_HOLDER = 8,
	MES_ITEM_STATION = 9,
} mes_item_t;

typedef enum {
	MES_RESULT_INFO = 0, /* a step that neither passes nor fails */
	MES_RESULT_PASS = 1,
	MES_RESULT_FAIL = 2,
} mes_result_t;

typedef enum {
	MES_STATION_PROBE = 1,
	MES_STATION_GRINDING = 2,
	MES_STATION_MODULE = 3,
	MES_STATION_CARD_BODY = 4,
	MES_STATION_INIT = 5,
	MES_STATION_PERSO = 6,
	MES_STATION_OTHER = 7,
} mes_station_kind_t;

typedef enum {
	MES_ORDER_OPEN = 0,
	MES_ORDER_RUNNING = 1,
	MES_ORDER_DONE = 2,
	MES_ORDER_CANCELLED = 3,
} mes_order_status_t;

/* Where a card body stands. Only ever moves forward. */
typedef enum {
	MES_STAGE_BUILT = 1,	   /* embedded and printed: awaits init */
	MES_STAGE_INITIALIZED = 2, /* init passed: awaits personalization */
	MES_STAGE_ISSUED = 3,	   /* personalized for its holder: final */
	MES_STAGE_REJECTED = 4,	   /* failed a part: final, never issued */
} mes_stage_t;

/* The outcome of an initialization or personalization run. */
typedef enum {
	MES_RUN_OK = 1,	      /* init passed; perso: the card is issued */
	MES_RUN_REJECTED = 2, /* the card failed and is rejected */
} mes_run_outcome_t;

/* Probe bin of a good die (the industry's hard bin 1); any other is bad. */
#define MES_BIN_GOOD 1

/* ---------------------------------------------------------- the handle */

typedef struct mes mes_t;

/*
 * Opens a database (see the top of this file for the forms of url). Does
 * not touch the schema: call mes_migrate() before anything else on a new
 * database. On failure *out is NULL and err (if not NULL) receives what
 * failed, naming the file or the server (never a password).
 */
mes_err_t mes_open(const char *url, mes_t **out, char *err, size_t errcap);

/* Closes; rolls back an open transaction. NULL is fine. */
void mes_close(mes_t *m);

/* What failed in the last call on m that failed ("" if none). */
const char *mes_error_detail(const mes_t *m);

/* "sqlite" or "postgresql". */
const char *mes_backend(const mes_t *m);

/* The time now, microseconds since the Unix epoch. */
int64_t mes_now_us(void);

/*
 * Brings the schema to the newest version this program knows, applying
 * each missing migration in order, all in one transaction (on PostgreSQL
 * under an advisory lock, so concurrent processes migrate once). Running
 * it on an up-to-date database changes nothing. *from / *to (may be NULL)
 * receive the versions before and after. MES_ERR_SCHEMA if the database
 * is newer than this program.
 */
mes_err_t mes_migrate(mes_t *m, int *from, int *to);

/* The schema version of the database (0: none) and of this program. */
mes_err_t mes_schema_version(mes_t *m, int *version);
int mes_schema_latest(void);

/*
 * Refreshes the query planner's statistics: PostgreSQL ANALYZE (which
 * autovacuum does too, within a minute or so), SQLite PRAGMA optimize. Run
 * it after loading many records at once (a lot, an import), so that plans
 * made from then on (the claim queue's head, the genealogy) are made from
 * the table's real size. Not inside mes_begin().
 */
mes_err_t mes_analyze(mes_t *m);

/* A transaction of the caller's (see the top). No nesting. */
mes_err_t mes_begin(mes_t *m);
mes_err_t mes_commit(mes_t *m);
mes_err_t mes_rollback(mes_t *m);

/* ---------------------------------------------------------- records
 *
 * Each mes_add_*() takes n rows, inserts them in one transaction (or
 * savepoint) and fills in each row's id. Fields marked "out" are ignored
 * on input.
 */

typedef struct {
	int64_t id;		 /* out */
	char name[MES_NAME_MAX]; /* the order's reference, unique */
	char profile_name[MES_NAME_MAX];
	char profile_hash[MES_HASH_MAX]; /* e.g. SHA-256 of the profile, hex */
	int64_t quantity;		 /* cards ordered, > 0 */
	int64_t created_us;
	mes_order_status_t status;
} mes_order_t;

mes_err_t mes_add_order(mes_t *m, mes_order_t *order);
mes_err_t mes_find_order(mes_t *m, const char *name, mes_order_t *out);

/*
 * Every order, oldest first (id order): the last one given is the latest.
 * fn returns non-zero to stop. fn must not call the MES (the rows are
 * still being read): collect what it needs, then query. The same holds
 * for every mes_list_*() function.
 */
mes_err_t mes_list_orders(mes_t *m,
			  int (*fn)(void *ctx, const mes_order_t *order),
			  void *ctx);
mes_err_t mes_set_order_status(mes_t *m, int64_t order_id,
			       mes_order_status_t status);

typedef struct {
	int64_t id;		 /* out */
	char name[MES_NAME_MAX]; /* unique: one process or reader */
	mes_station_kind_t kind;
	char host[MES_NAME_MAX];
} mes_station_t;

/* Registers a station by name, or updates its kind and host if the name
 * is known (a restarted station gets its old id back). */
mes_err_t mes_register_station(mes_t *m, mes_station_t *station);

typedef struct {
	int64_t id; /* out */
	int64_t order_id;
	char name[MES_NAME_MAX]; /* the lot number, unique */
	char fab[MES_NAME_MAX];	 /* the fab that made it */
	int64_t created_us;
} mes_lot_t;

mes_err_t mes_add_lots(mes_t *m, mes_lot_t *lots, size_t n);

/* Lots of an order (0: all), in id order. fn returns non-zero to stop. */
mes_err_t mes_list_lots(mes_t *m, int64_t order_id,
			int (*fn)(void *ctx, const mes_lot_t *lot), void *ctx);

typedef struct {
	int64_t id; /* out */
	int64_t lot_id;
	int index; /* slot in the lot, unique in the lot */
	double diameter_mm;
	double die_w_mm, die_h_mm;
} mes_wafer_t;

mes_err_t mes_add_wafers(mes_t *m, mes_wafer_t *wafers, size_t n);

/* The wafers of a lot in index (slot) order; none for an unknown lot. fn
 * returns non-zero to stop. */
mes_err_t mes_list_wafers(mes_t *m, int64_t lot_id,
			  int (*fn)(void *ctx, const mes_wafer_t *wafer),
			  void *ctx);

/* A die at (x, y) of its wafer and its probe test. The test values are
 * NaN when not measured (stored as NULL). */
typedef struct {
	int64_t id; /* out */
	int64_t wafer_id;
	int x, y; /* unique on the wafer */
	int bin;  /* MES_BIN_GOOD or a failure bin */
	double idd_ua, vdd_v, leakage_na;
	int64_t probed_us;
} mes_die_t;

mes_err_t mes_add_dies(mes_t *m, mes_die_t *dies, size_t n);

/* The dies of a wafer, ordered by x then y; none for an unknown wafer.
 * Test values not measured come back as NaN. fn returns non-zero to
 * stop. */
mes_err_t mes_list_dies(mes_t *m, int64_t wafer_id,
			int (*fn)(void *ctx, const mes_die_t *die), void *ctx);

/* The thickness of a wafer after grinding, against its spec. One record a
 * wafer. */
typedef struct {
	int64_t wafer_id;
	double thickness_um, spec_min_um, spec_max_um;
	int pass; /* 0 or 1: the equipment's verdict */
	int64_t measured_us;
} mes_grinding_t;

mes_err_t mes_add_grindings(mes_t *m, const mes_grinding_t *g, size_t n);

/* The grinding record of a wafer; MES_ERR_NOT_FOUND if it was not ground
 * (yet). */
mes_err_t mes_find_grinding(mes_t *m, int64_t wafer_id, mes_grinding_t *out);

/* GlobalPlatform CPLC fields, as the chip carries them (docs/card-os.md):
 * each value is the big-endian number of its 2 or 4 bytes (dates are
 * YDDD in BCD, e.g. 0x4123). A field whose bit is clear in `set` is not
 * stamped yet (NULL in the database). */
typedef enum {
	MES_CPLC_IC_FABRICATOR,
	MES_CPLC_IC_TYPE,
	MES_CPLC_OS_ID,
	MES_CPLC_OS_RELEASE_DATE,
	MES_CPLC_OS_RELEASE_LEVEL,
	MES_CPLC_IC_FABRICATION_DATE,
	MES_CPLC_IC_SERIAL,
	MES_CPLC_IC_BATCH,
	MES_CPLC_MODULE_FABRICATOR,
	MES_CPLC_MODULE_PACKAGING_DATE,
	MES_CPLC_ICC_MANUFACTURER,
	MES_CPLC_EMBEDDING_DATE,
	MES_CPLC_PREPERSONALIZER,
	MES_CPLC_PREPERSO_DATE,
	MES_CPLC_PREPERSO_EQUIPMENT,
	MES_CPLC_PERSONALIZER,
	MES_CPLC_PERSO_DATE,
	MES_CPLC_PERSO_EQUIPMENT,
	MES_CPLC_FIELDS
} mes_cplc_field_t;

#define MES_CPLC_LEN 42u

typedef struct {
	uint32_t v[MES_CPLC_FIELDS];
	uint32_t set; /* bit f: v[f] is stamped */
} mes_cplc_t;

/* The 42 bytes of a CPLC (GET DATA 9F7F, without tag and length) to
 * fields, all marked set; and back (unset fields are zero). */
void mes_cplc_from_bytes(const uint8_t bytes[MES_CPLC_LEN], mes_cplc_t *out);
void mes_cplc_to_bytes(const mes_cplc_t *cplc, uint8_t bytes[MES_CPLC_LEN]);
/* A field's name ("ic_serial", as in the database's cplc_* columns) and
 * length in bytes (2 or 4); NULL and 0 for an unknown field. */
const char *mes_cplc_field_name(mes_cplc_field_t f);
size_t mes_cplc_field_len(mes_cplc_field_t f);

/* A chip: a good die with a serial, leaving the fab. */
typedef struct {
	int64_t id;			      /* out */
	int64_t die_id;			      /* unique */
	char serial[MES_SERIAL_MAX];	      /* unique, e.g. 16 hex digits */
	char model[MES_MODEL_MAX];	      /* "cf32" */
	char transport_key_ref[MES_NAME_MAX]; /* the PKCS#11 object holding
						 the transport code: a label
						 or id, NEVER the code */
	mes_cplc_t cplc;		      /* the fields stamped so far */
} mes_chip_t;

mes_err_t mes_add_chips(mes_t *m, mes_chip_t *chips, size_t n);
mes_err_t mes_find_chip(mes_t *m, const char *serial, mes_chip_t *out);

/* Stamps CPLC fields of chips: for each i, the fields set in cplc[i] on
 * chip chip_ids[i]. A field stamped already keeps its value: stamping the
 * same value again is fine, another value is MES_ERR_CONSTRAINT (the chip
 * refuses it too). */
mes_err_t mes_stamp_cplc(mes_t *m, const int64_t *chip_ids,
			 const mes_cplc_t *cplc, size_t n);

/* A micro-module: a die on an 8-contact module, and its test (the chip
 * answered reset with a valid ATR). */
typedef struct {
	int64_t id;		     /* out */
	int64_t die_id;		     /* unique */
	char serial[MES_SERIAL_MAX]; /* unique */
	int test_pass;		     /* 0 or 1 */
	char atr_hex[MES_ATR_MAX];   /* the ATR read at test, "" if none */
	int64_t tested_us;
} mes_module_t;

mes_err_t mes_add_modules(mes_t *m, mes_module_t *modules, size_t n);

/* A card body with its module embedded and its face printed. Its stage is
 * MES_STAGE_BUILT if both passed, else MES_STAGE_REJECTED. */
typedef struct {
	int64_t id; /* out */
	int64_t order_id;
	int64_t module_id;	     /* unique */
	char serial[MES_SERIAL_MAX]; /* unique */
	int embed_pass, print_pass;  /* 0 or 1 */
	int64_t made_us;
	mes_stage_t stage; /* out */
} mes_card_t;

mes_err_t mes_add_cards(mes_t *m, mes_card_t *cards, size_t n);
mes_err_t mes_find_card(mes_t *m, const char *serial, mes_card_t *out);

/* A card holder of an order: an id (unique in the order) and the fields
 * the profile marks as needed. Never a secret (no PIN, no key). */
typedef struct {
	int64_t id; /* out */
	int64_t order_id;
	char ref[MES_NAME_MAX];
	char fields[MES_FIELDS_MAX];
} mes_holder_t;

mes_err_t mes_add_holders(mes_t *m, mes_holder_t *holders, size_t n);

/*
 * An initialization or personalization run of a card, recorded after the
 * fact (a line without claims, an import). Adding runs moves the cards'
 * stage: init OK -> INITIALIZED, perso OK -> ISSUED (and links the card
 * to holder_id, which must not be issued yet), REJECTED -> REJECTED. Every
 * card must be in the stage the run needs (BUILT for init, INITIALIZED for
 * perso) and not claimed by a station, else MES_ERR_STATE and nothing is
 * written.
 */
typedef struct {
	int64_t id; /* out */
	int64_t card_id;
	int64_t station_id; /* 0: none */
	int64_t holder_id;  /* perso, issued: the holder; else 0 */
	int64_t start_us, end_us;
	mes_run_outcome_t outcome;
	char reason[MES_TEXT_MAX]; /* why rejected; "" when OK */
} mes_run_t;

mes_err_t mes_add_init_runs(mes_t *m, mes_run_t *runs, size_t n);
mes_err_t mes_add_perso_runs(mes_t *m, mes_run_t *runs, size_t n);

/* ---------------------------------------------------------- events
 *
 * The append-only log of every step of every item. event_id makes an
 * event idempotent: an event whose event_id is in the log already is not
 * inserted again (the first one stays), so a producer that replays after a
 * crash counts each step once. Choose ids that name the step, e.g.
 * "probe/L0001/3/12,7". Updating or deleting events is refused by the
 * database itself.
 */
typedef struct {
	char event_id[MES_NAME_MAX];
	mes_item_t item_kind;
	int64_t item_id;
	mes_part_t part;
	char step[MES_STEP_MAX]; /* "probe", "thickness", "atr", "issue" */
	mes_result_t outcome;
	int64_t time_us;
	int64_t station_id;	   /* 0: none */
	char detail[MES_TEXT_MAX]; /* never a secret */
} mes_event_t;

/* Appends n events in one transaction; *inserted (may be NULL) receives
 * how many were new. */
mes_err_t mes_add_events(mes_t *m, const mes_event_t *events, size_t n,
			 size_t *inserted);

/* The events of one item, oldest first. fn returns non-zero to stop. */
mes_err_t mes_list_events(mes_t *m, mes_item_t kind, int64_t item_id,
			  int (*fn)(void *ctx, const mes_event_t *ev),
			  void *ctx);

/* ---------------------------------------------------------- queries */

/* A run as the genealogy shows it. */
typedef struct {
	int64_t id; /* 0: no run */
	char station[MES_NAME_MAX];
	int64_t start_us, end_us;
	mes_run_outcome_t outcome;
	char reason[MES_TEXT_MAX];
} mes_run_info_t;

/* Everything that made a chip, card body and holder: one query. A part
 * not reached yet has id 0 (module, card, runs, holder) or has_* 0. */
typedef struct {
	mes_chip_t chip;
	mes_die_t die;
	mes_wafer_t wafer;
	mes_lot_t lot;
	int has_grinding;
	mes_grinding_t grinding;
	mes_module_t module;
	mes_card_t card;
	mes_run_info_t init;  /* the latest init run of the card */
	mes_run_info_t perso; /* the latest perso run of the card */
	mes_holder_t holder;  /* the holder the card was issued to */
	mes_order_t order;
} mes_genealogy_t;

/* The genealogy of a chip serial (one query), of a card body serial, or
 * of the card issued to a holder (order 0: the latest issued of any
 * order); the last two find their chip by its keys first.
 * MES_ERR_NOT_FOUND if there is none. */
mes_err_t mes_trace_chip(mes_t *m, const char *chip_serial, mes_genealogy_t *g);
mes_err_t mes_trace_card(mes_t *m, const char *card_serial, mes_genealogy_t *g);
mes_err_t mes_trace_holder(mes_t *m, int64_t order_id, const char *holder_ref,
			   mes_genealogy_t *g);

/*
 * Yields per part: in = units that entered the part, out = units that
 * passed it, pct = 100 * out / in (0 when in is 0). Units: dies (probe),
 * wafers (grinding), modules (module test), card bodies (embedding and
 * printing), cards (init, perso: a card counts once however many runs).
 */
#define MES_YIELD_PARTS 6 /* MES_PART_PROBE .. MES_PART_PERSO */

typedef struct {
	mes_part_t part;
	const char *unit; /* "die", "wafer", "module", "card" */
	int64_t in, out;
	double pct;
} mes_yield_t;

typedef struct {
	mes_yield_t part[MES_YIELD_PARTS]; /* part[i].part = i + 2 */
} mes_yields_t;

mes_err_t mes_yields_order(mes_t *m, int64_t order_id, mes_yields_t *y);
mes_err_t mes_yields_lot(mes_t *m, int64_t lot_id, mes_yields_t *y);

/* Counts for reports, of one order (0: the whole database; events are
 * always counted over the whole log). */
typedef struct {
	int64_t lots, wafers, dies, good_dies, chips, modules, cards;
	int64_t built, initialized, issued, rejected; /* cards per stage */
	int64_t claimed;			      /* cards held now */
	int64_t holders, holders_issued;
	int64_t init_runs, perso_runs;
	int64_t events;
} mes_counts_t;

mes_err_t mes_counts(mes_t *m, int64_t order_id, mes_counts_t *c);

/* ---------------------------------------------------------- claims
 *
 * Stations that work one order together take cards from the database:
 * a claim gives a card to one station for a lease. On PostgreSQL the claim
 * is SELECT ... FOR UPDATE SKIP LOCKED, so stations on many hosts never
 * wait for each other; on SQLite it is a single-writer transaction (BEGIN
 * IMMEDIATE). Each claim has a token that grows by one at every claim of
 * the card, and every later call must present it: a station whose lease
 * ran out and whose card another station took gets MES_ERR_CLAIM, never
 * records an outcome for it. A card is issued at most once (the database
 * enforces it), and a holder is issued one card.
 *
 * Resume: a station restarted under the same station id is given back the
 * card it held (resumed = 1), whether or not its lease ran out, unless
 * another station took it meanwhile. A card that was claimed before
 * (token > 1) may have been worked on partly: the caller checks the chip.
 */
typedef struct {
	int64_t order_id;
	mes_part_t part; /* MES_PART_INIT (BUILT cards) or
			    MES_PART_PERSO (INITIALIZED cards) */
	int64_t station_id;
	int64_t lease_ms;	 /* > 0; measured by the database's clock */
	const char *card_serial; /* NULL: the next card of the order; else
				    this card (the one in the reader) */
} mes_claim_req_t;

typedef struct {
	int64_t card_id;
	char card_serial[MES_SERIAL_MAX];
	char chip_serial[MES_SERIAL_MAX];
	int64_t order_id;
	mes_part_t part;
	int64_t station_id;
	int64_t token;	  /* 1 on the card's first claim */
	int64_t until_us; /* the lease ends (database clock) */
	int resumed;	  /* 1: this station held it already */
	/* perso: the holder this card is for (kept across re-claims) */
	int64_t holder_id;
	char holder_ref[MES_NAME_MAX];
	char holder_fields[MES_FIELDS_MAX];
} mes_claim_t;

/*
 * Claims a card (and, for perso, the next holder not issued yet). Must not
 * be called inside mes_begin(). MES_ERR_NOT_FOUND: no card to claim now
 * (none in the stage, all held by live claims, or no holder left); other
 * stations' leases may still run out: see mes_counts().claimed.
 */
mes_err_t mes_claim(mes_t *m, const mes_claim_req_t *req, mes_claim_t *out);

/* Extends the lease; MES_ERR_CLAIM if the card is no longer ours. */
mes_err_t mes_claim_renew(mes_t *m, mes_claim_t *claim, int64_t lease_ms);

/*
 * Records the outcome of a claimed card in one durable transaction: the
 * run, the card's new stage, the holder link if issued (a rejected card
 * frees its holder for another card), an event. Returns only once the
 * outcome is on stable storage. Calling it again with the same claim after
 * it succeeded (e.g. the reply was lost) returns MES_OK and writes
 * nothing; MES_ERR_CLAIM if another station holds the card. reason says
 * why a card is rejected (required then; NULL or "" when OK); times of 0
 * mean now.
 */
mes_err_t mes_claim_finish(mes_t *m, const mes_claim_t *claim,
			   mes_run_outcome_t outcome, const char *reason,
			   int64_t start_us, int64_t end_us);

/* Gives a claimed card back untouched (and its holder). */
mes_err_t mes_claim_release(mes_t *m, const mes_claim_t *claim);

#endif
