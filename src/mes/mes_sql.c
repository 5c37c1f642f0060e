/*
 * mes_sql.c - the schema (its migrations) and every statement of the MES.
 *
 * One SQL text serves both backends: types both understand (BIGINT, TEXT,
 * INTEGER, DOUBLE PRECISION), INSERT ... ON CONFLICT and RETURNING (SQLite
 * 3.35+, PostgreSQL), partial indexes, CAST on parameters whose type
 * PostgreSQL could not infer. What differs is a token, expanded per
 * backend (mes_int.h): {ID}, {LOCK}, {NOW_US}, and id {IN_IDS}$n{/IN_IDS},
 * "id is in the list of ids given as parameter n" (SQLite: a JSON array
 * through json_each; PostgreSQL: a BIGINT[] through = ANY, which a plan
 * made with the list known turns into one index scan), so a set of rows is
 * updated in one statement on both. Triggers are per
 * backend DDL.
 *
 * A migration is never edited once released: a change of schema is a new
 * migration at the end of the list.
 */
#include "mes/mes_int.h"

/* ---------------------------------------------------------- migrations */

static const char m1_records[] =
	/* What the factory was asked to make. */
	"CREATE TABLE production_order ("
	" id {ID},"
	" name TEXT NOT NULL UNIQUE,"
	" profile_name TEXT NOT NULL,"
	" profile_hash TEXT NOT NULL,"
	" quantity BIGINT NOT NULL CHECK (quantity > 0),"
	" created_us BIGINT NOT NULL,"
	" status INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 3));"
	/* A process or reader that does a part. */
	"CREATE TABLE station ("
	" id {ID},"
	" name TEXT NOT NULL UNIQUE,"
	" kind INTEGER NOT NULL,"
	" host TEXT NOT NULL DEFAULT '');"
	/* Part 2: lots of wafers, dies, probe test. */
	"CREATE TABLE wafer_lot ("
	" id {ID},"
	" order_id BIGINT NOT NULL REFERENCES production_order (id),"
	" name TEXT NOT NULL UNIQUE,"
	" fab TEXT NOT NULL DEFAULT '',"
	" created_us BIGINT NOT NULL);"
	"CREATE TABLE wafer ("
	" id {ID},"
	" lot_id BIGINT NOT NULL REFERENCES wafer_lot (id),"
	" idx INTEGER NOT NULL,"
	" diameter_mm DOUBLE PRECISION NOT NULL,"
	" die_w_mm DOUBLE PRECISION NOT NULL,"
	" die_h_mm DOUBLE PRECISION NOT NULL,"
	" UNIQUE (lot_id, idx));"
	"CREATE TABLE die ("
	" id {ID},"
	" wafer_id BIGINT NOT NULL REFERENCES wafer (id),"
	" x INTEGER NOT NULL,"
	" y INTEGER NOT NULL,"
	" bin INTEGER NOT NULL,"
	" idd_ua DOUBLE PRECISION,"
	" vdd_v DOUBLE PRECISION,"
	" leakage_na DOUBLE PRECISION,"
	" probed_us BIGINT NOT NULL,"
	" UNIQUE (wafer_id, x, y));"
	/* Part 3: one thickness measurement a wafer. */
	"CREATE TABLE grinding ("
	" wafer_id BIGINT PRIMARY KEY REFERENCES wafer (id),"
	" thickness_um DOUBLE PRECISION NOT NULL,"
	" spec_min_um DOUBLE PRECISION NOT NULL,"
	" spec_max_um DOUBLE PRECISION NOT NULL,"
	" pass INTEGER NOT NULL CHECK (pass IN (0, 1)),"
	" measured_us BIGINT NOT NULL);"
	/* A good die with its serial; CPLC columns NULL until stamped. The
	 * transport code is only referenced in the token, never stored. */
	"CREATE TABLE chip ("
	" id {ID},"
	" serial TEXT NOT NULL UNIQUE,"
	" die_id BIGINT NOT NULL UNIQUE REFERENCES die (id),"
	" model TEXT NOT NULL,"
	" transport_key_ref TEXT NOT NULL DEFAULT '',"
	" cplc_ic_fabricator BIGINT,"
	" cplc_ic_type BIGINT,"
	" cplc_os_id BIGINT,"
	" cplc_os_release_date BIGINT,"
	" cplc_os_release_level BIGINT,"
	" cplc_ic_fabrication_date BIGINT,"
	" cplc_ic_serial BIGINT,"
	" cplc_ic_batch BIGINT,"
	" cplc_module_fabricator BIGINT,"
	" cplc_module_packaging_date BIGINT,"
	" cplc_icc_manufacturer BIGINT,"
	" cplc_embedding_date BIGINT,"
	" cplc_prepersonalizer BIGINT,"
	" cplc_prepersonalization_date BIGINT,"
	" cplc_prepersonalization_equipment BIGINT,"
	" cplc_personalizer BIGINT,"
	" cplc_personalization_date BIGINT,"
	" cplc_personalization_equipment BIGINT);"
	/* Part 4. */
	"CREATE TABLE module ("
	" id {ID},"
	" serial TEXT NOT NULL UNIQUE,"
	" die_id BIGINT NOT NULL UNIQUE REFERENCES die (id),"
	" test_pass INTEGER NOT NULL CHECK (test_pass IN (0, 1)),"
	" atr TEXT NOT NULL DEFAULT '',"
	" tested_us BIGINT NOT NULL);"
	/* Holders: an id and the profile's fields, no secret. claim_card is
	 * the card whose claim reserves this holder (no foreign key: card
	 * and holder point at each other). */
	"CREATE TABLE holder ("
	" id {ID},"
	" order_id BIGINT NOT NULL REFERENCES production_order (id),"
	" ref TEXT NOT NULL,"
	" fields TEXT NOT NULL DEFAULT '',"
	" issued INTEGER NOT NULL DEFAULT 0 CHECK (issued IN (0, 1)),"
	" claim_card BIGINT,"
	" UNIQUE (order_id, ref));"
	/* Part 5, and where the card stands (stage) and who holds it now
	 * (claim_*): the work queue of init and perso stations. */
	"CREATE TABLE card ("
	" id {ID},"
	" serial TEXT NOT NULL UNIQUE,"
	" order_id BIGINT NOT NULL REFERENCES production_order (id),"
	" module_id BIGINT NOT NULL UNIQUE REFERENCES module (id),"
	" embed_pass INTEGER NOT NULL CHECK (embed_pass IN (0, 1)),"
	" print_pass INTEGER NOT NULL CHECK (print_pass IN (0, 1)),"
	" made_us BIGINT NOT NULL,"
	" stage INTEGER NOT NULL CHECK (stage BETWEEN 1 AND 4),"
	" claim_station BIGINT REFERENCES station (id),"
	" claim_token BIGINT NOT NULL DEFAULT 0,"
	" claim_until_us BIGINT,"
	" claim_holder BIGINT REFERENCES holder (id));"
	/* Parts 6 and 7: one row a run; claim_token ties a run to the claim
	 * that made it (0: recorded without a claim). */
	"CREATE TABLE init_run ("
	" id {ID},"
	" card_id BIGINT NOT NULL REFERENCES card (id),"
	" station_id BIGINT REFERENCES station (id),"
	" claim_token BIGINT NOT NULL DEFAULT 0,"
	" start_us BIGINT NOT NULL,"
	" end_us BIGINT NOT NULL,"
	" outcome INTEGER NOT NULL CHECK (outcome IN (1, 2)),"
	" reason TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE perso_run ("
	" id {ID},"
	" card_id BIGINT NOT NULL REFERENCES card (id),"
	" station_id BIGINT REFERENCES station (id),"
	" holder_id BIGINT REFERENCES holder (id),"
	" claim_token BIGINT NOT NULL DEFAULT 0,"
	" start_us BIGINT NOT NULL,"
	" end_us BIGINT NOT NULL,"
	" outcome INTEGER NOT NULL CHECK (outcome IN (1, 2)),"
	" reason TEXT NOT NULL DEFAULT '');"
	/* A card is issued once, a holder gets one card. */
	"CREATE UNIQUE INDEX perso_run_issued_once ON perso_run (card_id)"
	" WHERE outcome = 1;"
	"CREATE TABLE card_holder ("
	" card_id BIGINT PRIMARY KEY REFERENCES card (id),"
	" holder_id BIGINT NOT NULL UNIQUE REFERENCES holder (id),"
	" linked_us BIGINT NOT NULL);";

static const char m2_events[] =
	"CREATE TABLE event ("
	" id {ID},"
	" event_id TEXT NOT NULL UNIQUE,"
	" item_kind INTEGER NOT NULL,"
	" item_id BIGINT NOT NULL,"
	" part INTEGER NOT NULL,"
	" step TEXT NOT NULL,"
	" outcome INTEGER NOT NULL,"
	" time_us BIGINT NOT NULL,"
	" station_id BIGINT REFERENCES station (id),"
	" detail TEXT NOT NULL DEFAULT '');";

/* The log is append-only: the database refuses UPDATE and DELETE. */
static const char m2_events_sqlite[] =
	"CREATE TRIGGER event_no_update BEFORE UPDATE ON event"
	" BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
	"CREATE TRIGGER event_no_delete BEFORE DELETE ON event"
	" BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;";

static const char m2_events_pg[] =
	"CREATE FUNCTION mes_event_append_only() RETURNS trigger"
	" LANGUAGE plpgsql AS"
	" $f$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $f$;"
	"CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event"
	" FOR EACH ROW EXECUTE FUNCTION mes_event_append_only();";

static const char m3_indexes[] =
	/* Lots of an order (yields, reports). */
	"CREATE INDEX wafer_lot_order ON wafer_lot (order_id);"
	/* The claim queue: the next card of an order in a stage, in id
	 * order; counts per stage. */
	"CREATE INDEX card_queue ON card (order_id, stage, id);"
	/* A restarted station finds its own claim (a few rows, where
	 * card_queue would walk every card of the stage). */
	"CREATE INDEX card_claimed ON card (claim_station, order_id, stage, id)"
	" WHERE claim_station IS NOT NULL;"
	/* Free holders of an order, in id order. */
	"CREATE INDEX holder_free ON holder (order_id, id) WHERE issued = 0;"
	/* Trace by holder across orders. */
	"CREATE INDEX holder_ref ON holder (ref);"
	/* Trace: the latest run of a card, MAX(id) WHERE card_id = ?, one
	 * index probe (on (card_id) alone, PostgreSQL without statistics
	 * walks the primary key backwards instead: a scan of the table). */
	"CREATE INDEX init_run_card ON init_run (card_id, id);"
	"CREATE INDEX perso_run_card ON perso_run (card_id, id);"
	/* The events of an item. */
	"CREATE INDEX event_item ON event (item_kind, item_id);";

const mes_migration_t mes_migrations[] = {
	{1, "records", m1_records, NULL, NULL},
	{2, "event log", m2_events, m2_events_sqlite, m2_events_pg},
	{3, "indexes for trace, yields and claims", m3_indexes, NULL, NULL},
};
const size_t mes_migration_count =
	sizeof mes_migrations / sizeof mes_migrations[0];

/* ---------------------------------------------------------- statements */

#define CPLC_COLS                                                          \
	"cplc_ic_fabricator, cplc_ic_type, cplc_os_id, "                   \
	"cplc_os_release_date, cplc_os_release_level, "                    \
	"cplc_ic_fabrication_date, cplc_ic_serial, cplc_ic_batch, "        \
	"cplc_module_fabricator, cplc_module_packaging_date, "             \
	"cplc_icc_manufacturer, cplc_embedding_date, cplc_prepersonalizer, " \
	"cplc_prepersonalization_date, cplc_prepersonalization_equipment, " \
	"cplc_personalizer, cplc_personalization_date, "                   \
	"cplc_personalization_equipment"

#define CPLC_COLS_C                                                        \
	"c.cplc_ic_fabricator, c.cplc_ic_type, c.cplc_os_id, "             \
	"c.cplc_os_release_date, c.cplc_os_release_level, "                \
	"c.cplc_ic_fabrication_date, c.cplc_ic_serial, c.cplc_ic_batch, "  \
	"c.cplc_module_fabricator, c.cplc_module_packaging_date, "         \
	"c.cplc_icc_manufacturer, c.cplc_embedding_date, "                 \
	"c.cplc_prepersonalizer, c.cplc_prepersonalization_date, "         \
	"c.cplc_prepersonalization_equipment, c.cplc_personalizer, "       \
	"c.cplc_personalization_date, c.cplc_personalization_equipment"

/* A CPLC column set to $n unless NULL; and the check that a stamped
 * column is not given another value. */
#define STAMP_SET(col, n) col " = COALESCE(CAST($" #n " AS BIGINT), " col ")"
#define STAMP_OK(col, n)                                                   \
	" AND (" col " IS NULL OR CAST($" #n " AS BIGINT) IS NULL OR " col \
	" = CAST($" #n " AS BIGINT))"

/* The genealogy: chip -> die -> wafer -> lot, grinding, module, card body,
 * latest init and perso runs and their stations, holder, order. Column
 * positions are in mes_query.c (TR_*). */
#define TRACE_SELECT                                                       \
	"SELECT c.id, c.die_id, c.serial, c.model, c.transport_key_ref, "  \
	CPLC_COLS_C ", "                                                   \
	"d.wafer_id, d.x, d.y, d.bin, d.idd_ua, d.vdd_v, d.leakage_na, "   \
	"d.probed_us, "                                                    \
	"w.lot_id, w.idx, w.diameter_mm, w.die_w_mm, w.die_h_mm, "         \
	"l.order_id, l.name, l.fab, l.created_us, "                        \
	"g.wafer_id, g.thickness_um, g.spec_min_um, g.spec_max_um, "       \
	"g.pass, g.measured_us, "                                          \
	"mo.id, mo.serial, mo.test_pass, mo.atr, mo.tested_us, "           \
	"k.id, k.order_id, k.serial, k.embed_pass, k.print_pass, "         \
	"k.made_us, k.stage, "                                             \
	"ir.id, ist.name, ir.start_us, ir.end_us, ir.outcome, ir.reason, " \
	"pr.id, pst.name, pr.start_us, pr.end_us, pr.outcome, pr.reason, " \
	"h.id, h.order_id, h.ref, h.fields, "                              \
	"o.id, o.name, o.profile_name, o.profile_hash, o.quantity, "       \
	"o.created_us, o.status "                                          \
	"FROM chip c "                                                     \
	"JOIN die d ON d.id = c.die_id "                                   \
	"JOIN wafer w ON w.id = d.wafer_id "                               \
	"JOIN wafer_lot l ON l.id = w.lot_id "                             \
	"LEFT JOIN grinding g ON g.wafer_id = w.id "                       \
	"LEFT JOIN module mo ON mo.die_id = d.id "                         \
	"LEFT JOIN card k ON k.module_id = mo.id "                         \
	"LEFT JOIN init_run ir ON ir.id = "                                \
	"(SELECT MAX(id) FROM init_run WHERE card_id = k.id) "             \
	"LEFT JOIN station ist ON ist.id = ir.station_id "                 \
	"LEFT JOIN perso_run pr ON pr.id = "                               \
	"(SELECT MAX(id) FROM perso_run WHERE card_id = k.id) "            \
	"LEFT JOIN station pst ON pst.id = pr.station_id "                 \
	"LEFT JOIN card_holder ch ON ch.card_id = k.id "                   \
	"LEFT JOIN holder h ON h.id = ch.holder_id "                       \
	"LEFT JOIN production_order o ON o.id = COALESCE(k.order_id, "     \
	"l.order_id) "

/* Yields: (part, in, out) for parts 2 to 7; SCOPE_* restrict each part's
 * rows to an order or a lot. */
#define YIELDS(die_from, die_where, wafer_where, card_from, card_where)    \
	"SELECT 2, COUNT(*), "                                             \
	"COALESCE(SUM(CASE WHEN d.bin = 1 THEN 1 ELSE 0 END), 0) "         \
	"FROM die d " die_from " WHERE " die_where " "                     \
	"UNION ALL SELECT 3, COUNT(*), COALESCE(SUM(g.pass), 0) "          \
	"FROM grinding g JOIN wafer w ON w.id = g.wafer_id WHERE "         \
	wafer_where " "                                                    \
	"UNION ALL SELECT 4, COUNT(*), COALESCE(SUM(mo.test_pass), 0) "    \
	"FROM module mo JOIN die d ON d.id = mo.die_id " die_from          \
	" WHERE " die_where " "                                            \
	"UNION ALL SELECT 5, COUNT(*), "                                   \
	"COALESCE(SUM(k.embed_pass * k.print_pass), 0) "                   \
	"FROM card k " card_from " WHERE " card_where " "                  \
	"UNION ALL SELECT 6, COUNT(DISTINCT r.card_id), "                  \
	"COUNT(DISTINCT CASE WHEN r.outcome = 1 THEN r.card_id END) "      \
	"FROM init_run r JOIN card k ON k.id = r.card_id " card_from       \
	" WHERE " card_where " "                                           \
	"UNION ALL SELECT 7, COUNT(DISTINCT r.card_id), "                  \
	"COUNT(DISTINCT CASE WHEN r.outcome = 1 THEN r.card_id END) "      \
	"FROM perso_run r JOIN card k ON k.id = r.card_id " card_from      \
	" WHERE " card_where

#define ORDER_DIES                                                         \
	"JOIN wafer w ON w.id = d.wafer_id "                               \
	"JOIN wafer_lot l ON l.id = w.lot_id"
#define LOT_CARDS                                                          \
	"JOIN module mo ON mo.id = k.module_id "                           \
	"JOIN die d ON d.id = mo.die_id "                                  \
	"JOIN wafer w ON w.id = d.wafer_id"

/* Counts of one order, or all ($1 = 0). */
#define ALL_OR(col) "(CAST($1 AS BIGINT) = 0 OR " col " = $1)"
#define COUNT_LOT_ROWS(from, join)                                         \
	"(SELECT COUNT(*) FROM " from " " join                             \
	" JOIN wafer_lot l ON l.id = w.lot_id WHERE " ALL_OR("l.order_id")
#define COUNT_CARDS(cond)                                                  \
	"(SELECT COUNT(*) FROM card k WHERE " cond ALL_OR("k.order_id") ")"

/* The card's columns a claim reads (CLAIM_C_*: mes_claim.c). */
#define CLAIM_COLS "id, serial, claim_token, claim_holder, claim_station"

const mes_stmt_t mes_stmts[SID_COUNT] = {
	[SID_VERSION_EXISTS] = {"look for the schema version table",
		"{HAS_VERSION_TABLE}", 0, 0},
	[SID_VERSION] = {"read the schema version",
		"SELECT COALESCE(MAX(version), 0) FROM schema_version", 0, 0},
	[SID_VERSION_ADD] = {"record a schema version",
		"INSERT INTO schema_version (version, name, applied_us) "
		"VALUES ($1, $2, $3)", 0, 0},

	[SID_ORDER_ADD] = {"insert order",
		"INSERT INTO production_order (name, profile_name, "
		"profile_hash, quantity, created_us, status) "
		"VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", 1, 0},
	[SID_ORDER_FIND] = {"find order",
		"SELECT id, name, profile_name, profile_hash, quantity, "
		"created_us, status FROM production_order WHERE name = $1", 0, 0},
	[SID_ORDER_STATUS] = {"set order status",
		"UPDATE production_order SET status = $2 WHERE id = $1", 0, 0},
	[SID_STATION_UPSERT] = {"register station",
		"INSERT INTO station (name, kind, host) VALUES ($1, $2, $3) "
		"ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
		"host = excluded.host RETURNING id", 0, 0},

	[SID_LOT_ADD] = {"insert wafer lot",
		"INSERT INTO wafer_lot (order_id, name, fab, created_us) "
		"VALUES ($1, $2, $3, $4) RETURNING id", 1, 0},
	[SID_LOT_LIST] = {"list wafer lots",
		"SELECT id, order_id, name, fab, created_us FROM wafer_lot "
		"WHERE " ALL_OR("order_id") " ORDER BY id", 0, 0},
	[SID_WAFER_ADD] = {"insert wafer",
		"INSERT INTO wafer (lot_id, idx, diameter_mm, die_w_mm, "
		"die_h_mm) VALUES ($1, $2, $3, $4, $5) RETURNING id", 1, 0},
	[SID_DIE_ADD] = {"insert die",
		"INSERT INTO die (wafer_id, x, y, bin, idd_ua, vdd_v, "
		"leakage_na, probed_us) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id", 1, 0},
	[SID_GRINDING_ADD] = {"insert grinding",
		"INSERT INTO grinding (wafer_id, thickness_um, spec_min_um, "
		"spec_max_um, pass, measured_us) "
		"VALUES ($1, $2, $3, $4, $5, $6)", 1, 0},

	[SID_CHIP_ADD] = {"insert chip",
		"INSERT INTO chip (serial, die_id, model, transport_key_ref, "
		CPLC_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
		"$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) "
		"RETURNING id", 1, 0},
	[SID_CHIP_FIND] = {"find chip",
		"SELECT id, die_id, serial, model, transport_key_ref, "
		CPLC_COLS " FROM chip WHERE serial = $1", 0, 0},
	[SID_CPLC_STAMP] = {"stamp CPLC",
		"UPDATE chip SET "
		STAMP_SET("cplc_ic_fabricator", 2) ", "
		STAMP_SET("cplc_ic_type", 3) ", "
		STAMP_SET("cplc_os_id", 4) ", "
		STAMP_SET("cplc_os_release_date", 5) ", "
		STAMP_SET("cplc_os_release_level", 6) ", "
		STAMP_SET("cplc_ic_fabrication_date", 7) ", "
		STAMP_SET("cplc_ic_serial", 8) ", "
		STAMP_SET("cplc_ic_batch", 9) ", "
		STAMP_SET("cplc_module_fabricator", 10) ", "
		STAMP_SET("cplc_module_packaging_date", 11) ", "
		STAMP_SET("cplc_icc_manufacturer", 12) ", "
		STAMP_SET("cplc_embedding_date", 13) ", "
		STAMP_SET("cplc_prepersonalizer", 14) ", "
		STAMP_SET("cplc_prepersonalization_date", 15) ", "
		STAMP_SET("cplc_prepersonalization_equipment", 16) ", "
		STAMP_SET("cplc_personalizer", 17) ", "
		STAMP_SET("cplc_personalization_date", 18) ", "
		STAMP_SET("cplc_personalization_equipment", 19)
		" WHERE id = $1"
		STAMP_OK("cplc_ic_fabricator", 2)
		STAMP_OK("cplc_ic_type", 3)
		STAMP_OK("cplc_os_id", 4)
		STAMP_OK("cplc_os_release_date", 5)
		STAMP_OK("cplc_os_release_level", 6)
		STAMP_OK("cplc_ic_fabrication_date", 7)
		STAMP_OK("cplc_ic_serial", 8)
		STAMP_OK("cplc_ic_batch", 9)
		STAMP_OK("cplc_module_fabricator", 10)
		STAMP_OK("cplc_module_packaging_date", 11)
		STAMP_OK("cplc_icc_manufacturer", 12)
		STAMP_OK("cplc_embedding_date", 13)
		STAMP_OK("cplc_prepersonalizer", 14)
		STAMP_OK("cplc_prepersonalization_date", 15)
		STAMP_OK("cplc_prepersonalization_equipment", 16)
		STAMP_OK("cplc_personalizer", 17)
		STAMP_OK("cplc_personalization_date", 18)
		STAMP_OK("cplc_personalization_equipment", 19), 0, 0},
	[SID_CHIP_EXISTS] = {"find chip",
		"SELECT id FROM chip WHERE id = $1", 0, 0},

	[SID_MODULE_ADD] = {"insert module",
		"INSERT INTO module (serial, die_id, test_pass, atr, "
		"tested_us) VALUES ($1, $2, $3, $4, $5) RETURNING id", 1, 0},
	[SID_CARD_ADD] = {"insert card body",
		"INSERT INTO card (serial, order_id, module_id, embed_pass, "
		"print_pass, made_us, stage) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", 1, 0},
	[SID_CARD_FIND] = {"find card",
		"SELECT id, order_id, module_id, serial, embed_pass, "
		"print_pass, made_us, stage FROM card WHERE serial = $1", 0, 0},
	[SID_HOLDER_ADD] = {"insert holder",
		"INSERT INTO holder (order_id, ref, fields) "
		"VALUES ($1, $2, $3) RETURNING id", 1, 0},

	[SID_INIT_RUN_ADD] = {"insert init run",
		"INSERT INTO init_run (card_id, station_id, claim_token, "
		"start_us, end_us, outcome, reason) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", 1, 0},
	[SID_PERSO_RUN_ADD] = {"insert perso run",
		"INSERT INTO perso_run (card_id, station_id, holder_id, "
		"claim_token, start_us, end_us, outcome, reason) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id", 1, 0},
	[SID_CARD_STAGE_SET] = {"move cards to their next stage",
		"UPDATE card SET stage = $1 WHERE stage = $2 "
		"AND claim_station IS NULL AND id {IN_IDS}$3{/IN_IDS}", 0, 1},
	[SID_LINK_ADD] = {"link card to holder",
		"INSERT INTO card_holder (card_id, holder_id, linked_us) "
		"VALUES ($1, $2, $3)", 1, 0},
	[SID_HOLDERS_ISSUE] = {"mark holders issued",
		"UPDATE holder SET issued = 1 WHERE issued = 0 "
		"AND claim_card IS NULL AND id {IN_IDS}$1{/IN_IDS}", 0, 1},

	[SID_EVENT_ADD] = {"insert event",
		"INSERT INTO event (event_id, item_kind, item_id, part, step, "
		"outcome, time_us, station_id, detail) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
		"ON CONFLICT (event_id) DO NOTHING", 1, 0},
	[SID_EVENT_LIST] = {"list events",
		"SELECT event_id, item_kind, item_id, part, step, outcome, "
		"time_us, station_id, detail FROM event "
		"WHERE item_kind = $1 AND item_id = $2 "
		"ORDER BY time_us, id", 0, 0},

	[SID_TRACE_CHIP] = {"trace chip",
		TRACE_SELECT "WHERE c.serial = $1", 0, 0},
	/* A card's chip first: started from the card, the planners would
	 * not walk the chain backwards through its unique keys. */
	[SID_CARD_SERIAL_CHIP] = {"find the chip of a card",
		"SELECT c.serial FROM card k "
		"JOIN module mo ON mo.id = k.module_id "
		"JOIN chip c ON c.die_id = mo.die_id WHERE k.serial = $1", 0, 0},
	[SID_HOLDER_CHIP] = {"find the card of a holder",
		"SELECT c.serial FROM holder h "
		"JOIN card_holder ch ON ch.holder_id = h.id "
		"JOIN card k ON k.id = ch.card_id "
		"JOIN module mo ON mo.id = k.module_id "
		"JOIN chip c ON c.die_id = mo.die_id "
		"WHERE h.ref = $2 AND " ALL_OR("h.order_id")
		" ORDER BY ch.linked_us DESC, ch.card_id DESC LIMIT 1", 0, 0},

	[SID_YIELDS_ORDER] = {"yields of an order",
		YIELDS(ORDER_DIES, "l.order_id = $1",
		       "w.lot_id IN (SELECT id FROM wafer_lot "
		       "WHERE order_id = $1)",
		       "", "k.order_id = $1"), 0, 1},
	[SID_YIELDS_LOT] = {"yields of a lot",
		YIELDS("JOIN wafer w ON w.id = d.wafer_id", "w.lot_id = $1",
		       "w.lot_id = $1", LOT_CARDS, "w.lot_id = $1"), 0, 1},
	[SID_COUNTS] = {"counts",
		"SELECT "
		"(SELECT COUNT(*) FROM wafer_lot l WHERE "
		ALL_OR("l.order_id") "), "
		COUNT_LOT_ROWS("wafer w", "") "), "
		COUNT_LOT_ROWS("die d", "JOIN wafer w ON w.id = d.wafer_id")
		"), "
		COUNT_LOT_ROWS("die d", "JOIN wafer w ON w.id = d.wafer_id")
		" AND d.bin = 1), "
		COUNT_LOT_ROWS("chip c", "JOIN die d ON d.id = c.die_id "
			       "JOIN wafer w ON w.id = d.wafer_id") "), "
		COUNT_LOT_ROWS("module mo", "JOIN die d ON d.id = mo.die_id "
			       "JOIN wafer w ON w.id = d.wafer_id") "), "
		COUNT_CARDS("") ", "
		COUNT_CARDS("k.stage = 1 AND ") ", "
		COUNT_CARDS("k.stage = 2 AND ") ", "
		COUNT_CARDS("k.stage = 3 AND ") ", "
		COUNT_CARDS("k.stage = 4 AND ") ", "
		COUNT_CARDS("k.claim_station IS NOT NULL AND ") ", "
		"(SELECT COUNT(*) FROM holder h WHERE " ALL_OR("h.order_id")
		"), "
		"(SELECT COUNT(*) FROM holder h WHERE h.issued = 1 AND "
		ALL_OR("h.order_id") "), "
		"(SELECT COUNT(*) FROM init_run r JOIN card k "
		"ON k.id = r.card_id WHERE " ALL_OR("k.order_id") "), "
		"(SELECT COUNT(*) FROM perso_run r JOIN card k "
		"ON k.id = r.card_id WHERE " ALL_OR("k.order_id") "), "
		"(SELECT COUNT(*) FROM event)", 0, 1},

	/* Claims. {LOCK} is FOR UPDATE SKIP LOCKED on PostgreSQL: rows
	 * another station is claiming right now are skipped, not waited
	 * for. SQLite runs the whole claim under BEGIN IMMEDIATE. */
	[SID_CLAIM_MINE] = {"find this station's claim",
		"SELECT " CLAIM_COLS " FROM card WHERE claim_station = $1 "
		"AND order_id = $2 AND stage = $3 ORDER BY id LIMIT 1{LOCK}",
		0, 0},
	/* The queue's head. "stage BETWEEN $2 AND $2" and "ORDER BY stage,
	 * id" (not "stage = $2 ... ORDER BY id", which PostgreSQL turns into
	 * ORDER BY id) leave card_queue the only order-giving index: walking
	 * the primary key instead, with the cards already done all in front,
	 * would read the whole order for every claim. */
	[SID_CLAIM_NEXT] = {"find the next card",
		"SELECT " CLAIM_COLS " FROM card WHERE order_id = $1 "
		"AND stage BETWEEN $2 AND $2 AND (claim_station IS NULL "
		"OR claim_until_us < {NOW_US}) "
		"ORDER BY stage, id LIMIT 1{LOCK}", 0, 0},
	[SID_CLAIM_SERIAL] = {"find the card",
		"SELECT " CLAIM_COLS " FROM card WHERE serial = $1 "
		"AND order_id = $2 AND stage = $3 AND (claim_station IS NULL "
		"OR claim_station = $4 OR claim_until_us < {NOW_US}){LOCK}", 0, 0},
	[SID_CLAIM_TAKE] = {"claim the card",
		"UPDATE card SET claim_station = $2, "
		"claim_token = claim_token + 1, "
		"claim_until_us = {NOW_US} + CAST($3 AS BIGINT) * 1000 "
		"WHERE id = $1 RETURNING claim_token, claim_until_us", 0, 0},
	/* The same trick: only holder_free gives (order_id, id) order. */
	[SID_CLAIM_HOLDER_NEXT] = {"find the next holder",
		"SELECT id FROM holder WHERE order_id BETWEEN $1 AND $1 "
		"AND issued = 0 AND claim_card IS NULL "
		"ORDER BY order_id, id LIMIT 1{LOCK}", 0, 0},
	[SID_CLAIM_HOLDER_TAKE] = {"claim the holder",
		"UPDATE holder SET claim_card = $2 WHERE id = $1", 0, 0},
	[SID_CLAIM_HOLDER_GET] = {"read the holder",
		"SELECT id, ref, fields, issued, claim_card FROM holder "
		"WHERE id = $1", 0, 0},
	[SID_CLAIM_CARD_HOLDER] = {"tie the holder to the card",
		"UPDATE card SET claim_holder = $2 WHERE id = $1", 0, 0},
	[SID_CLAIM_RENEW] = {"renew the claim",
		"UPDATE card SET claim_until_us = {NOW_US} + "
		"CAST($4 AS BIGINT) * 1000 "
		"WHERE id = $1 AND claim_station = $2 "
		"AND claim_token = $3 AND stage = $5 RETURNING claim_until_us",
		0, 0},
	[SID_CLAIM_CLEAR] = {"end the claim",
		"UPDATE card SET stage = $5, claim_station = NULL, "
		"claim_until_us = NULL, claim_holder = NULL WHERE id = $1 "
		"AND claim_station = $2 AND claim_token = $3 "
		"AND stage = $4", 0, 0},
	[SID_CLAIM_DONE_INIT] = {"find the run of the claim",
		"SELECT outcome FROM init_run WHERE card_id = $1 "
		"AND station_id = $2 AND claim_token = $3", 0, 0},
	[SID_CLAIM_DONE_PERSO] = {"find the run of the claim",
		"SELECT outcome FROM perso_run WHERE card_id = $1 "
		"AND station_id = $2 AND claim_token = $3", 0, 0},
	[SID_CLAIM_HOLDER_FREE] = {"free the holder",
		"UPDATE holder SET claim_card = NULL WHERE id = $1 "
		"AND claim_card = $2", 0, 0},
	[SID_CLAIM_HOLDER_ISSUE] = {"mark the holder issued",
		"UPDATE holder SET issued = 1, claim_card = NULL WHERE id = $1 "
		"AND claim_card = $2 AND issued = 0", 0, 0},
	[SID_CARD_CHIP] = {"find the chip of a card",
		"SELECT c.serial FROM card k "
		"JOIN module mo ON mo.id = k.module_id "
		"JOIN chip c ON c.die_id = mo.die_id WHERE k.id = $1", 0, 0},

	/* Reports: the records of an order, lot and wafer, walked down. */
	[SID_ORDER_LIST] = {"list orders",
		"SELECT id, name, profile_name, profile_hash, quantity, "
		"created_us, status FROM production_order ORDER BY id", 0, 0},
	[SID_WAFER_LIST] = {"list wafers",
		"SELECT id, lot_id, idx, diameter_mm, die_w_mm, die_h_mm "
		"FROM wafer WHERE lot_id = $1 ORDER BY idx", 0, 0},
	/* By the (wafer_id, x, y) key: the index gives the order. */
	[SID_DIE_LIST] = {"list dies",
		"SELECT id, wafer_id, x, y, bin, idd_ua, vdd_v, leakage_na, "
		"probed_us FROM die WHERE wafer_id = $1 ORDER BY wafer_id, x, y",
		0, 0},
	[SID_GRINDING_FIND] = {"find grinding",
		"SELECT wafer_id, thickness_um, spec_min_um, spec_max_um, "
		"pass, measured_us FROM grinding WHERE wafer_id = $1", 0, 0},
};
