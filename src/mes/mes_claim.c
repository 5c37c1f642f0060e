/*
 * mes_claim.c - stations taking cards from the database: claim, renew,
 * finish (the durable outcome), release.
 *
 * A claim is three columns of the card: claim_station (who), claim_until_us
 * (the lease, by the database's clock) and claim_token (grows by one at
 * every claim: a fencing token). Every call after mes_claim() matches all
 * three of station, token and stage in its UPDATE's WHERE clause, so a
 * station that lost its card (lease ran out, another station took it)
 * changes nothing and gets MES_ERR_CLAIM. A perso claim also reserves a
 * holder (holder.claim_card, card.claim_holder); the reservation stays
 * with the card when another station takes the card over, so a half-
 * personalized card keeps its holder.
 *
 * Why a card is never issued twice, even with stations killed anywhere:
 * the outcome moves the card out of INITIALIZED in the same transaction
 * that records the run (fenced by the token), and the database enforces
 * one issued perso run per card (perso_run_issued_once) and one card per
 * holder (card_holder.holder_id UNIQUE).
 */
#include <stdio.h>
#include <string.h>

#include "mes/mes_int.h"

/* The columns of CLAIM_COLS (mes_sql.c). */
typedef struct {
	int found;
	int64_t id, token, holder, station;
	char serial[MES_SERIAL_MAX];
} card_row_t;

static int read_card_row(mes_t *m, void *ctx)
{
	card_row_t *r = ctx;

	r->found = 1;
	r->id = mes_col_int(m, 0);
	mes_col_copy(m, 1, r->serial, sizeof r->serial);
	r->token = mes_col_int(m, 2);
	r->holder = mes_col_null(m, 3) ? 0 : mes_col_int(m, 3);
	r->station = mes_col_null(m, 4) ? 0 : mes_col_int(m, 4);
	return 1;
}

typedef struct {
	int found;
	int64_t a, b;
} two_t;

static int read_two(mes_t *m, void *ctx)
{
	two_t *t = ctx;

	t->found = 1;
	t->a = mes_col_null(m, 0) ? 0 : mes_col_int(m, 0);
	t->b = 0;
	return 1;
}

static int read_token_until(mes_t *m, void *ctx)
{
	two_t *t = ctx;

	t->found = 1;
	t->a = mes_col_int(m, 0);
	t->b = mes_col_int(m, 1);
	return 1;
}

typedef struct {
	int found;
	mes_claim_t *c;
	int issued;
	int64_t claim_card;
} holder_row_t;

static int read_holder(mes_t *m, void *ctx)
{
	holder_row_t *h = ctx;

	h->found = 1;
	h->c->holder_id = mes_col_int(m, 0);
	mes_col_copy(m, 1, h->c->holder_ref, sizeof h->c->holder_ref);
	mes_col_copy(m, 2, h->c->holder_fields, sizeof h->c->holder_fields);
	h->issued = (int)mes_col_int(m, 3);
	h->claim_card = mes_col_null(m, 4) ? 0 : mes_col_int(m, 4);
	return 1;
}

static int read_serial_into(mes_t *m, void *ctx)
{
	mes_col_copy(m, 0, ctx, MES_SERIAL_MAX);
	return 1;
}

static mes_stage_t stage_of(mes_part_t part)
{
	return part == MES_PART_INIT ? MES_STAGE_BUILT : MES_STAGE_INITIALIZED;
}

static mes_err_t add_event(mes_t *m, const char *kind, const mes_claim_t *c,
			   const char *step, mes_result_t result,
			   const char *detail)
{
	char id[MES_NAME_MAX];
	mes_val_t p[9];
	mes_call_t call = { SID_EVENT_ADD, p, NULL, -1, 0 };

	snprintf(id, sizeof id, "%s/%d/%lld/%lld", kind, (int)c->part,
		 (long long)c->card_id, (long long)c->token);
	p[0] = mv_text(id);
	p[1] = mv_int(MES_ITEM_CARD);
	p[2] = mv_int(c->card_id);
	p[3] = mv_int(c->part);
	p[4] = mv_text(step);
	p[5] = mv_int(result);
	p[6] = mv_int(mes_now_us());
	p[7] = mv_int(c->station_id);
	p[8] = mv_text(detail);
	return m->be->run(m, &call, 1, NULL);
}

static mes_err_t check_claim_args(mes_t *m, mes_part_t part, int64_t order,
				  int64_t station)
{
	if (part != MES_PART_INIT && part != MES_PART_PERSO)
		return mes_fail(m, MES_ERR_PARAM,
				"claim: part %d is not init (6) or perso (7)",
				(int)part);
	if (order <= 0 || station <= 0)
		return mes_fail(m, MES_ERR_PARAM,
				"claim: needs an order id and a station id");
	if (m->in_tx)
		return mes_fail(m, MES_ERR_STATE,
				"claim: not inside mes_begin(): a claim is "
				"its own transaction");
	return mes_need_schema(m);
}

/* Reserves a holder for the card (perso): the one the card holds already
 * if it is still free for it, else the next free holder of the order. */
static mes_err_t claim_holder(mes_t *m, const card_row_t *card,
			      mes_claim_t *out)
{
	holder_row_t h = { 0, out, 0, 0 };
	mes_val_t p[2];
	mes_err_t st;

	if (card->holder) {
		p[0] = mv_int(card->holder);
		st = m->be->query(m, SID_CLAIM_HOLDER_GET, p, read_holder, &h);
		if (st != MES_OK)
			return st;
		if (h.found && !h.issued && h.claim_card == card->id)
			return MES_OK;
		h.found = 0;
	}
	{
		two_t next = { 0, 0, 0 };
		mes_call_t calls[2];
		mes_val_t q[2], r[2];
		p[0] = mv_int(out->order_id);
		st = m->be->query(m, SID_CLAIM_HOLDER_NEXT, p, read_two, &next);
		if (st != MES_OK)
			return st;
		if (!next.found)
			return mes_fail(m, MES_ERR_NOT_FOUND,
					"claim: no holder of order %lld is "
					"left to issue a card to",
					(long long)out->order_id);
		q[0] = mv_int(next.a);
		q[1] = mv_int(card->id);
		r[0] = mv_int(card->id);
		r[1] = mv_int(next.a);
		calls[0] = (mes_call_t){ SID_CLAIM_HOLDER_TAKE, q, NULL, 1, 0 };
		calls[1] = (mes_call_t){ SID_CLAIM_CARD_HOLDER, r, NULL, 1, 0 };
		st = m->be->run(m, calls, 2, NULL);
		if (st != MES_OK)
			return st;
		p[0] = mv_int(next.a);
		return m->be->query(m, SID_CLAIM_HOLDER_GET, p, read_holder,
				    &h);
	}
}

mes_err_t mes_claim(mes_t *m, const mes_claim_req_t *req, mes_claim_t *out)
{
	card_row_t card = { 0 };
	two_t taken = { 0, 0, 0 };
	mes_stage_t stage;
	mes_val_t p[4];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	if (!req || !out)
		return mes_fail(m, MES_ERR_PARAM,
				"claim: no request or output");
	if (req->lease_ms <= 0)
		return mes_fail(m, MES_ERR_PARAM,
				"claim: lease must be > 0 ms");
	if (req->card_serial && (!req->card_serial[0] ||
				 strlen(req->card_serial) >= MES_SERIAL_MAX))
		return mes_fail(m, MES_ERR_PARAM, "claim: bad card serial");
	st = check_claim_args(m, req->part, req->order_id, req->station_id);
	if (st != MES_OK)
		return st;
	memset(out, 0, sizeof *out);
	stage = stage_of(req->part);

	st = m->be->tx(m, TX_BEGIN);
	if (st != MES_OK)
		return st;
	if (req->card_serial) {
		p[0] = mv_text(req->card_serial);
		p[1] = mv_int(req->order_id);
		p[2] = mv_int(stage);
		p[3] = mv_int(req->station_id);
		st = m->be->query(m, SID_CLAIM_SERIAL, p, read_card_row, &card);
	} else {
		/* A restarted station first gets its own card back. */
		p[0] = mv_int(req->station_id);
		p[1] = mv_int(req->order_id);
		p[2] = mv_int(stage);
		st = m->be->query(m, SID_CLAIM_MINE, p, read_card_row, &card);
		if (st == MES_OK && !card.found) {
			p[0] = mv_int(req->order_id);
			p[1] = mv_int(stage);
			st = m->be->query(m, SID_CLAIM_NEXT, p, read_card_row,
					  &card);
		}
	}
	if (st == MES_OK && !card.found)
		st = req->card_serial ?
			     mes_fail(m, MES_ERR_NOT_FOUND,
				      "claim: card %s is not in order %lld, "
				      "not awaiting %s, or held by another "
				      "station",
				      req->card_serial,
				      (long long)req->order_id,
				      req->part == MES_PART_INIT ? "init" :
								   "perso") :
			     mes_fail(m, MES_ERR_NOT_FOUND,
				      "claim: no card of order %lld awaits "
				      "%s now",
				      (long long)req->order_id,
				      req->part == MES_PART_INIT ? "init" :
								   "perso");
	if (st == MES_OK) {
		p[0] = mv_int(card.id);
		p[1] = mv_int(req->station_id);
		p[2] = mv_int(req->lease_ms);
		st = m->be->query(m, SID_CLAIM_TAKE, p, read_token_until,
				  &taken);
		if (st == MES_OK && !taken.found)
			st = mes_fail(m, MES_ERR_BACKEND,
				      "claim: the card vanished");
	}
	if (st == MES_OK) {
		out->card_id = card.id;
		snprintf(out->card_serial, sizeof out->card_serial, "%s",
			 card.serial);
		out->order_id = req->order_id;
		out->part = req->part;
		out->station_id = req->station_id;
		out->token = taken.a;
		out->until_us = taken.b;
		out->resumed = card.station == req->station_id;
		if (req->part == MES_PART_PERSO)
			st = claim_holder(m, &card, out);
	}
	if (st == MES_OK) {
		p[0] = mv_int(card.id);
		st = m->be->query(m, SID_CARD_CHIP, p, read_serial_into,
				  out->chip_serial);
	}
	if (st == MES_OK)
		st = add_event(m, "claim", out, "claim", MES_RESULT_INFO,
			       out->resumed ? "resumed" : "");
	if (st == MES_OK)
		st = m->be->tx(m, TX_COMMIT);
	if (st != MES_OK) {
		char saved[MES_DETAIL_MAX];
		memcpy(saved, m->detail, sizeof saved);
		m->be->tx(m, TX_ROLLBACK);
		memcpy(m->detail, saved, sizeof saved);
		memset(out, 0, sizeof *out);
	}
	return st;
}

static mes_err_t check_claim(mes_t *m, const mes_claim_t *c)
{
	if (!c)
		return mes_fail(m, MES_ERR_PARAM, "claim: none given");
	if (c->card_id <= 0 || c->token <= 0)
		return mes_fail(m, MES_ERR_PARAM,
				"claim: not a claim (no card or token)");
	return check_claim_args(m, c->part, c->order_id, c->station_id);
}

static mes_err_t lost(mes_t *m, const mes_claim_t *c)
{
	return mes_fail(m, MES_ERR_CLAIM,
			"card %s: the claim of station %lld (token %lld) is "
			"no longer valid: its lease ran out and another "
			"station took the card, or the card is done",
			c->card_serial, (long long)c->station_id,
			(long long)c->token);
}

mes_err_t mes_claim_renew(mes_t *m, mes_claim_t *c, int64_t lease_ms)
{
	two_t t = { 0, 0, 0 };
	mes_val_t p[5];
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	st = check_claim(m, c);
	if (st != MES_OK)
		return st;
	if (lease_ms <= 0)
		return mes_fail(m, MES_ERR_PARAM,
				"renew: lease must be > 0 ms");
	p[0] = mv_int(c->card_id);
	p[1] = mv_int(c->station_id);
	p[2] = mv_int(c->token);
	p[3] = mv_int(lease_ms);
	p[4] = mv_int(stage_of(c->part));
	st = m->be->tx(m, TX_BEGIN);
	if (st != MES_OK)
		return st;
	st = m->be->query(m, SID_CLAIM_RENEW, p, read_two, &t);
	if (st == MES_OK && !t.found)
		st = lost(m, c);
	st = mes_unit_end(m, 0, st);
	if (st == MES_OK)
		c->until_us = t.a;
	return st;
}

mes_err_t mes_claim_finish(mes_t *m, const mes_claim_t *c,
			   mes_run_outcome_t outcome, const char *reason,
			   int64_t start_us, int64_t end_us)
{
	int perso;
	mes_stage_t from, to;
	mes_val_t p[8], q[3], h[2];
	mes_call_t calls[3];
	int64_t now = mes_now_us(), run_id = 0;
	size_t nc = 0;
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	st = check_claim(m, c);
	if (st != MES_OK)
		return st;
	if (outcome != MES_RUN_OK && outcome != MES_RUN_REJECTED)
		return mes_fail(m, MES_ERR_PARAM, "finish: unknown outcome %d",
				(int)outcome);
	if (!reason)
		reason = "";
	st = mes_check_str(m, 0, "reason", reason, MES_TEXT_MAX,
			   outcome == MES_RUN_REJECTED);
	if (st != MES_OK)
		return st;
	perso = c->part == MES_PART_PERSO;
	if (perso && outcome == MES_RUN_OK && c->holder_id <= 0)
		return mes_fail(m, MES_ERR_PARAM,
				"finish: a perso claim without its holder");
	from = stage_of(c->part);
	to = outcome == MES_RUN_REJECTED ? MES_STAGE_REJECTED :
	     perso			 ? MES_STAGE_ISSUED :
					   MES_STAGE_INITIALIZED;

	st = mes_unit_begin(m, 1);
	if (st != MES_OK)
		return st;
	/* The fence: only the holder of the claim moves the card on. */
	p[0] = mv_int(c->card_id);
	p[1] = mv_int(c->station_id);
	p[2] = mv_int(c->token);
	p[3] = mv_int(from);
	p[4] = mv_int(to);
	calls[0] = (mes_call_t){ SID_CLAIM_CLEAR, p, NULL, 1, 0 };
	st = m->be->run(m, calls, 1, NULL);
	if (st == MES_ERR_STATE) {
		/* Done already by this very claim (a retry)? */
		two_t done = { 0, 0, 0 };
		st = m->be->query(
			m, perso ? SID_CLAIM_DONE_PERSO : SID_CLAIM_DONE_INIT,
			p, read_two, &done);
		if (st == MES_OK && done.found && done.a == (int64_t)outcome)
			return mes_unit_end(m, 1, MES_OK);
		if (st == MES_OK)
			st = lost(m, c);
		return mes_unit_end(m, 1, st);
	}
	if (st != MES_OK)
		return mes_unit_end(m, 1, st);

	/* The run. */
	if (perso) {
		p[0] = mv_int(c->card_id);
		p[1] = mv_int(c->station_id);
		p[2] = mv_ref(outcome == MES_RUN_OK ? c->holder_id : 0);
		p[3] = mv_int(c->token);
		p[4] = mv_int(start_us ? start_us : now);
		p[5] = mv_int(end_us ? end_us : now);
		p[6] = mv_int(outcome);
		p[7] = mv_text(reason);
	} else {
		p[0] = mv_int(c->card_id);
		p[1] = mv_int(c->station_id);
		p[2] = mv_int(c->token);
		p[3] = mv_int(start_us ? start_us : now);
		p[4] = mv_int(end_us ? end_us : now);
		p[5] = mv_int(outcome);
		p[6] = mv_text(reason);
	}
	calls[nc++] =
		(mes_call_t){ perso ? SID_PERSO_RUN_ADD : SID_INIT_RUN_ADD, p,
			      &run_id, -1, 0 };
	/* The holder: issued to this card, or free for another. */
	if (perso && c->holder_id > 0) {
		h[0] = mv_int(c->holder_id);
		h[1] = mv_int(c->card_id);
		if (outcome == MES_RUN_OK) {
			q[0] = mv_int(c->card_id);
			q[1] = mv_int(c->holder_id);
			q[2] = mv_int(end_us ? end_us : now);
			calls[nc++] =
				(mes_call_t){ SID_LINK_ADD, q, NULL, 1, 0 };
			calls[nc++] = (mes_call_t){ SID_CLAIM_HOLDER_ISSUE, h,
						    NULL, 1, 0 };
		} else {
			calls[nc++] = (mes_call_t){ SID_CLAIM_HOLDER_FREE, h,
						    NULL, -1, 0 };
		}
	}
	st = m->be->run(m, calls, nc, NULL);
	if (st == MES_ERR_STATE)
		st = mes_fail(m, MES_ERR_CONSTRAINT,
			      "finish: card %s: holder %lld is not reserved "
			      "for this card or is issued already",
			      c->card_serial, (long long)c->holder_id);
	if (st == MES_OK)
		st = add_event(m, perso ? "perso" : "init", c,
			       outcome == MES_RUN_OK ?
				       (perso ? "issue" : "init") :
				       "reject",
			       outcome == MES_RUN_OK ? MES_RESULT_PASS :
						       MES_RESULT_FAIL,
			       reason);
	return mes_unit_end(m, 1, st);
}

mes_err_t mes_claim_release(mes_t *m, const mes_claim_t *c)
{
	mes_val_t p[5], h[2];
	mes_call_t calls[2];
	size_t nc = 0;
	mes_err_t st;

	if (!m)
		return MES_ERR_PARAM;
	st = check_claim(m, c);
	if (st != MES_OK)
		return st;
	p[0] = mv_int(c->card_id);
	p[1] = mv_int(c->station_id);
	p[2] = mv_int(c->token);
	p[3] = mv_int(stage_of(c->part));
	p[4] = mv_int(stage_of(c->part));
	calls[nc++] = (mes_call_t){ SID_CLAIM_CLEAR, p, NULL, 1, 0 };
	if (c->part == MES_PART_PERSO && c->holder_id > 0) {
		h[0] = mv_int(c->holder_id);
		h[1] = mv_int(c->card_id);
		calls[nc++] =
			(mes_call_t){ SID_CLAIM_HOLDER_FREE, h, NULL, -1, 0 };
	}
	st = mes_unit_begin(m, 0);
	if (st != MES_OK)
		return st;
	st = m->be->run(m, calls, nc, NULL);
	if (st == MES_ERR_STATE)
		st = lost(m, c);
	if (st == MES_OK)
		st = add_event(m, "release", c, "release", MES_RESULT_INFO, "");
	return mes_unit_end(m, 0, st);
}
