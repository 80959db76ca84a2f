"""Subscriptions and their seat batches."""
import json
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any

import asyncpg

from shared.http import row_json
from shared.rules.eos import EosRule
from shared.rules.prices import Promo, Redeemed, Row, promo_from

from services.subscription.domain.changes import Batch, full_price_seats
from services.subscription.domain.purchase import Customer, Offer, Subscription
from services.subscription.domain.scheduled import NextTerm
from services.subscription.storage.copies import (EOS_COLUMNS, OFFER_COLUMNS, PRICE_COLUMNS, eos_rule,
                                                  offer_from)


async def scheduled_change(conn: asyncpg.Connection, subscription_id: str) -> NextTerm | None:
    raw = await conn.fetchval("SELECT scheduled_change FROM subscriptions WHERE subscription_id = $1", subscription_id)
    return _next_term(raw)


def _next_term(raw: str | None) -> NextTerm | None:
    if raw is None:
        return None
    d = json.loads(raw)
    end = d.get("custom_term_end_date")
    return NextTerm(d["catalog_item_id"], d["term_duration"], d["billing_cycle"], d["quantity"],
                    datetime.fromisoformat(d["submitted_at"]), date.fromisoformat(end) if end else None)


async def set_scheduled_change(conn: asyncpg.Connection, subscription_id: str, change: NextTerm | None) -> None:
    value = None if change is None else json.dumps(asdict(change), default=lambda d: d.isoformat())
    await conn.execute("UPDATE subscriptions SET scheduled_change = $2::jsonb WHERE subscription_id = $1",
                       subscription_id, value)


def _pooled_held(customer: str, item: str) -> str:
    """An expression: the seats the customer holds of the item's product:SKU when its offer (joined as `o`) has a
    pooled per-customer maximum, else NULL."""
    return f"""CASE WHEN o.pooled_max_per_customer IS NOT NULL THEN (
        SELECT coalesce(sum(h.quantity), 0) FROM subscriptions h
        WHERE h.customer_id = {customer} AND split_part(h.catalog_item_id, ':', 1) = split_part({item}, ':', 1)
          AND split_part(h.catalog_item_id, ':', 2) = split_part({item}, ':', 2) AND h.status IN ('active', 'suspended'))
    END"""


async def pooled_room(conn: asyncpg.Connection, customer_id: str, catalog_item_id: str, other_than: str) -> int | None:
    """The seats the customer may hold of the item's product:SKU under its offer's pooled maximum besides those of
    subscription `other_than` (whose own seats a change replaces), or None when it has no such maximum."""
    room = await conn.fetchval(  # NULL without a pooled maximum (no row, or a NULL maximum)
        f"""SELECT o.pooled_max_per_customer - {_pooled_held("$1", "$2")} + coalesce((
                      SELECT s.quantity FROM subscriptions s WHERE s.subscription_id = $3
                        AND split_part(s.catalog_item_id, ':', 1) = split_part($2, ':', 1)
                        AND split_part(s.catalog_item_id, ':', 2) = split_part($2, ':', 2)
                        AND s.status IN ('active', 'suspended')), 0)
            FROM offers o WHERE o.catalog_item_id = $2""", customer_id, catalog_item_id, other_than)
    return None if room is None else max(0, room)


def _room(offer: Offer | None, held: int | None) -> int | None:
    """Seats the customer may still add of the offer's product:SKU under its pooled maximum (None: no such limit)."""
    limit = offer.pooled_max_per_customer if offer else None
    return None if limit is None or held is None else max(0, limit - held)


def _replacing_batches(first: int) -> str:
    """The start of one statement replacing the seat batches of subscription $1 by the batches whose quantities,
    deadlines and full-price flags are the array parameters numbered from `first`; it goes on with an UPDATE of the
    subscription. The batches kept are upserted and only the others deleted: one statement must not delete and
    insert the same row."""
    quantities, deadlines, full = f"${first}::int[]", f"${first + 1}::timestamptz[]", f"${first + 2}::bool[]"
    return f"""
WITH gone AS (DELETE FROM seat_batches WHERE subscription_id = $1 AND seq >= cardinality({quantities})),
kept AS (
    INSERT INTO seat_batches
    SELECT $1, n - 1, q, r, f FROM unnest({quantities}, {deadlines}, {full}) WITH ORDINALITY AS b (q, r, f, n)
    ON CONFLICT (subscription_id, seq) DO UPDATE SET quantity = EXCLUDED.quantity,
                                                     refundable_until = EXCLUDED.refundable_until,
                                                     full_price = EXCLUDED.full_price
)
"""


def _batch_args(seats: list[Batch]) -> tuple[list[int], list[datetime], list[bool], int, int]:
    """The batches' quantities, deadlines and full-price flags, their sum (the subscription's quantity) and the sum
    of the full-price ones (its full_price_seats)."""
    return ([b.quantity for b in seats], [b.refundable_until for b in seats], [b.full_price for b in seats],
            sum(b.quantity for b in seats), full_price_seats(seats))


async def save_batches(conn: asyncpg.Connection, subscription_id: str, seats: list[Batch]) -> None:
    """Replace the subscription's seat batches; the subscription's quantity (and full_price_seats) is their sum."""
    await conn.execute(_replacing_batches(2) + "UPDATE subscriptions SET quantity = $5, full_price_seats = $6"
                       " WHERE subscription_id = $1", subscription_id, *_batch_args(seats))


async def set_auto_renew(conn: asyncpg.Connection, subscription_id: str, enabled: bool) -> None:
    await conn.execute("UPDATE subscriptions SET auto_renew = $2 WHERE subscription_id = $1", subscription_id, enabled)


async def insert_subscription(conn: asyncpg.Connection, s: Subscription, now: datetime, seats: list[Batch],
                              parent: str | None = None, trial_of: str | None = None) -> None:
    """Store a new subscription with its seat batches, in one statement (an id taken already is a unique violation:
    a purchase reads whether it is, with its facts)."""
    fields = vars(s)  # asdict would deep-copy each value
    columns = ", ".join([*fields, "status", "created_at", "parent_subscription_id", "trial_of"])
    n = len(fields) + 4
    marks = ", ".join(f"${i}" for i in range(1, n + 1))
    quantities, deadlines, full, _, _ = _batch_args(seats)
    await conn.execute(
        f"""WITH s AS (INSERT INTO subscriptions ({columns}) VALUES ({marks}) RETURNING subscription_id)
            INSERT INTO seat_batches
            SELECT s.subscription_id, k - 1, q, r, f
            FROM s, unnest(${n + 1}::int[], ${n + 2}::timestamptz[], ${n + 3}::bool[]) WITH ORDINALITY AS b (q, r, f, k)""",
        *fields.values(), "active", now, parent, trial_of, quantities, deadlines, full,
    )


_FIELDS = [f.name for f in fields(Subscription)]


def _subscription(row: asyncpg.Record) -> Subscription:
    """The subscription in a row holding every one of its fields (_FIELDS)."""
    return Subscription(**{f: row[f] for f in _FIELDS})


def _promo(stored: str | None) -> Promo | None:
    return promo_from(json.loads(stored)) if stored else None


@dataclass(frozen=True)
class AtTermEnd:
    """What a term end is decided on, read with the subscription locked: its offer's kind and trial flag (None, False:
    no such offer), its scheduled change, its product's End-of-Sale rules, its current promotion, its SKU's
    promotions with the customer's redemptions, and the price rows of its own plan a renewal on that day could take
    (`renewal_row` picks one)."""

    sub: Subscription
    status: str
    kind: str | None
    trial: bool
    next_term: NextTerm | None
    eos_rules: list[EosRule]
    price_rows: list[Row]
    promotion: Promo | None
    promotions: list[Promo]  # its SKU's for its own plan (a renewal into that plan may take one, §2.5)
    redeemed: dict[str, Redeemed]  # the customer's use of each by its other subscriptions


# A promotion `m` is for the customer's segment (§1.7: Partner Center's promotions are commercial ones; a promotion
# names its segment, commercial when it names none)
_FOR_SEGMENT = ("lower(coalesce(m.promotion->>'segment', 'commercial')) "
                "= (SELECT cs.segment FROM customers cs WHERE cs.customer_id = {customer})")

_AT_TERM_END = f"""
SELECT {", ".join(f"s.{f}" for f in _FIELDS)}, s.status, s.scheduled_change, o.kind, coalesce(o.trial, false) AS trial,
       p.promotion, sku_promotions.promotions,
       ARRAY(SELECT ROW(u.promotion_id, count(*), sum(u.seats)) FROM promotion_redemptions u
             WHERE cardinality(sku_promotions.promotions) > 0 AND u.customer_id = s.customer_id
               AND u.subscription_id <> s.subscription_id GROUP BY u.promotion_id) AS redeemed,
       ARRAY(SELECT ROW({EOS_COLUMNS}) FROM eos_rules e
             WHERE e.product_id = split_part(s.catalog_item_id, ':', 1)) AS eos_rules,
       ARRAY(SELECT ROW({PRICE_COLUMNS})
             FROM price_rows r
             WHERE (r.product_id, r.sku_id) = (split_part(s.catalog_item_id, ':', 1), split_part(s.catalog_item_id, ':', 2))
               AND (r.market, r.currency, r.term_duration, r.billing_cycle)
                   = (s.market, s.currency, s.term_duration, s.billing_cycle)
               AND r.effective_start <= $2 AND s.quantity BETWEEN r.tier_min AND r.tier_max) AS price_rows
FROM subscriptions s LEFT JOIN offers o USING (catalog_item_id) LEFT JOIN promotions p USING (promotion_id),
     LATERAL (SELECT ARRAY(SELECT m.promotion FROM promotions m
                           WHERE m.promotion->>'product_id' = split_part(s.catalog_item_id, ':', 1)
                             AND m.promotion->>'sku_id' = split_part(s.catalog_item_id, ':', 2)
                             AND m.promotion->>'term_duration' = s.term_duration
                             AND m.promotion->>'billing_cycle' = s.billing_cycle
                             AND {_FOR_SEGMENT.format(customer="s.customer_id")}) AS promotions
             ) sku_promotions
WHERE s.subscription_id = ANY($1::text[])
FOR UPDATE OF s"""


async def at_term_ends(conn: asyncpg.Connection, subscription_ids: list[str],
                       renewal: date) -> dict[str, AtTermEnd]:
    """Everything the term ends of these subscriptions on `renewal` need, by subscription id, in one statement; the
    subscriptions locked for this transaction."""
    return {row["subscription_id"]: AtTermEnd(
        _subscription(row), row["status"], row["kind"], row["trial"],
        _next_term(row["scheduled_change"]), [eos_rule(*r) for r in row["eos_rules"]],
        [Row(*r) for r in row["price_rows"]], _promo(row["promotion"]),
        [promo_from(json.loads(p)) for p in row["promotions"]], _redeemed(row["redeemed"]),
    ) for row in await conn.fetch(_AT_TERM_END, subscription_ids, renewal)}


async def at_term_end(conn: asyncpg.Connection, subscription_id: str, renewal: date) -> AtTermEnd | None:
    return (await at_term_ends(conn, [subscription_id], renewal)).get(subscription_id)


async def subscription_for_update(conn: asyncpg.Connection, subscription_id: str) -> tuple[Subscription, str] | None:
    """The subscription and its status, locked for this transaction."""
    row = await conn.fetchrow(
        f"SELECT {', '.join(_FIELDS)}, status FROM subscriptions WHERE subscription_id = $1 FOR UPDATE",
        subscription_id,
    )
    return (_subscription(row), row["status"]) if row else None


@dataclass(frozen=True)
class Locked:
    """A subscription locked for this transaction, with what commands on it are decided on: its status, scheduled
    change, offer (None: unknown), seat batches, its product's End-of-Sale rules and the seats its customer holds of
    its product:SKU (`room`: what it may add under a pooled maximum)."""

    sub: Subscription
    status: str
    next_term: NextTerm | None
    offer: Offer | None
    batches: list[Batch]
    eos_rules: list[EosRule]
    room: int | None
    promotion: Promo | None  # the one it holds
    promoted_elsewhere: int  # the seats its customer's other subscriptions hold or held under that promotion


_LOCKED = f"""
SELECT {", ".join(f"s.{f}" for f in _FIELDS)}, s.status, s.scheduled_change, {OFFER_COLUMNS}, p.promotion,
       CASE WHEN s.promotion_id IS NULL THEN 0
            ELSE (SELECT coalesce(sum(u.seats), 0) FROM promotion_redemptions u
                  WHERE (u.customer_id, u.promotion_id) = (s.customer_id, s.promotion_id)
                    AND u.subscription_id <> s.subscription_id) END AS promoted_elsewhere,
       ARRAY(SELECT ROW(b.quantity, b.refundable_until, b.full_price) FROM seat_batches b
             WHERE b.subscription_id = s.subscription_id ORDER BY b.seq) AS batches,
       ARRAY(SELECT ROW({EOS_COLUMNS}) FROM eos_rules e
             WHERE e.product_id = split_part(s.catalog_item_id, ':', 1)) AS eos_rules,
       {_pooled_held("s.customer_id", "s.catalog_item_id")} AS pooled_held
FROM subscriptions s LEFT JOIN offers o USING (catalog_item_id) LEFT JOIN promotions p USING (promotion_id)
WHERE s.subscription_id = $1
FOR UPDATE OF s"""


async def locked(conn: asyncpg.Connection, subscription_id: str) -> Locked | None:
    """The subscription and what commands on it are decided on (see Locked), in one statement."""
    row = await conn.fetchrow(_LOCKED, subscription_id)
    if row is None:
        return None
    offer = offer_from(row)
    return Locked(_subscription(row), row["status"], _next_term(row["scheduled_change"]),
                  offer, [Batch(*b) for b in row["batches"]], [eos_rule(*r) for r in row["eos_rules"]],
                  _room(offer, row["pooled_held"]), _promo(row["promotion"]), row["promoted_elsewhere"])


@dataclass(frozen=True)
class AtPurchase:
    """What a purchase is decided on, read in one statement: the customer (None: unknown) and its partner's currency,
    the offer (None: unknown), the plan's price rows in the customer's market (every currency), the currencies
    billing can convert into the partner's on the day, the product's End-of-Sale rules, the SKU's promotions, the
    customer's redemptions of each, the room under a pooled maximum, the trials of the offer it ever had, whether
    the new subscription's id is taken and, for an add-on, the (term end, kind) of the customer's active
    subscriptions of its prerequisite SKUs."""

    customer: Customer | None
    offer: Offer | None
    price_rows: list[Row]
    converts_from: frozenset[str]
    eos_rules: list[EosRule]
    promotions: list[Promo]
    redeemed: dict[str, Redeemed]
    room: int | None
    trials_held: int
    taken: bool
    bases: list[tuple[date, str]]


# The SKU's promotions ($2: its catalog item id) and the customer's ($1) redemptions of each, by its subscriptions
# other than `{other_than}` (a parameter, or NULL): every promotion a subscription ever took counts, kept in
# promotion_redemptions by a trigger on subscriptions (migration 0016)
_PROMOTIONS = f"""ARRAY(SELECT m.promotion FROM promotions m
             WHERE m.promotion->>'product_id' = split_part($2, ':', 1)
               AND m.promotion->>'sku_id' = split_part($2, ':', 2)
               AND {_FOR_SEGMENT.format(customer="$1")}) AS promotions,
       ARRAY(SELECT ROW(u.promotion_id, count(*), sum(u.seats)) FROM promotion_redemptions u
             WHERE u.customer_id = $1 AND u.subscription_id IS DISTINCT FROM {{other_than}}
             GROUP BY u.promotion_id) AS redeemed"""


def _redeemed(rows: list[tuple[str, int, int]]) -> dict[str, Redeemed]:
    return {promotion_id: Redeemed(times, seats) for promotion_id, times, seats in rows}


async def promotions(conn: asyncpg.Connection, customer_id: str, catalog_item_id: str,
                     other_than: str) -> tuple[list[Promo], dict[str, Redeemed]]:
    """The SKU's promotions and the customer's redemptions of each by its subscriptions other than `other_than` (a
    mid-term change or a renewal of that one to another term or offer may take one, §2.5)."""
    row = await conn.fetchrow(f"SELECT {_PROMOTIONS.format(other_than='$3')}", customer_id, catalog_item_id,
                              other_than)
    assert row is not None
    return [promo_from(json.loads(p)) for p in row["promotions"]], _redeemed(row["redeemed"])


_AT_PURCHASE = f"""
SELECT c.customer_id, c.partner_id, c.country, pa.billing_currency, c.segment, o.catalog_item_id, {OFFER_COLUMNS},
       ARRAY(SELECT ROW({PRICE_COLUMNS})
             FROM price_rows r
             WHERE (r.product_id, r.sku_id, r.market, r.term_duration, r.billing_cycle)
                   = (split_part($2, ':', 1), split_part($2, ':', 2), c.country, $3, $4)) AS price_rows,
       ARRAY(SELECT f.from_currency FROM fx_pairs f
             WHERE f.to_currency = pa.billing_currency AND f.first_month <= $5) AS converts_from,
       ARRAY(SELECT ROW({EOS_COLUMNS}) FROM eos_rules e WHERE e.product_id = split_part($2, ':', 1)) AS eos_rules,
       {_PROMOTIONS.format(other_than='NULL')},
       {_pooled_held("$1", "$2")} AS pooled_held,
       CASE WHEN o.trial THEN (SELECT count(*) FROM subscriptions t WHERE t.customer_id = $1 AND t.trial_of = $2)
            ELSE 0 END AS trials_held,
       EXISTS (SELECT FROM subscriptions WHERE subscription_id = $6) AS taken,
       CASE WHEN cardinality(o.addon_prerequisites) > 0 THEN ARRAY(
           SELECT ROW(b.term_end, coalesce(bo.kind, 'license'))
           FROM subscriptions b LEFT JOIN offers bo USING (catalog_item_id)
           WHERE b.customer_id = $1 AND b.status = 'active'
             AND split_part(b.catalog_item_id, ':', 1) || ':' || split_part(b.catalog_item_id, ':', 2)
                 = ANY(o.addon_prerequisites))
       END AS bases
FROM (VALUES (1)) AS one
LEFT JOIN customers c ON c.customer_id = $1 LEFT JOIN partners pa ON pa.partner_id = c.partner_id
LEFT JOIN offers o ON o.catalog_item_id = $2"""


async def at_purchase(conn: asyncpg.Connection, customer_id: str, catalog_item_id: str, term: str, cycle: str,
                      on: date, subscription_id: str) -> AtPurchase:
    row = await conn.fetchrow(_AT_PURCHASE, customer_id, catalog_item_id, term, cycle, on, subscription_id)
    assert row is not None
    customer = Customer(row["customer_id"], row["partner_id"], row["country"], row["billing_currency"],
                        row["segment"]) if row["customer_id"] else None
    offer = offer_from(row)
    return AtPurchase(customer, offer, [Row(*r) for r in row["price_rows"]], frozenset(row["converts_from"]),
                      [eos_rule(*r) for r in row["eos_rules"]], [promo_from(json.loads(p)) for p in row["promotions"]],
                      _redeemed(row["redeemed"]), _room(offer, row["pooled_held"]), row["trials_held"], row["taken"],
                      [(end, kind) for end, kind in row["bases"] or []])


_TERM = """term_start = $2, term_end = $3, cancellation_allowed_until = $4, unit_price = $5, catalog_item_id = $6,
term_duration = $7, billing_cycle = $8, scheduled_change = NULL, promotion_id = $9, effective_unit_price = $10,
anchor = $11"""


def _term_args(s: Subscription) -> tuple[Any, ...]:
    return (s.subscription_id, s.term_start, s.term_end, s.cancellation_allowed_until, s.unit_price, s.catalog_item_id,
            s.term_duration, s.billing_cycle, s.promotion_id, s.effective_unit_price, s.anchor)


_TERM_WITH_SEATS = (_replacing_batches(12)
                    + f"UPDATE subscriptions SET quantity = $15, full_price_seats = $16, {_TERM} WHERE subscription_id = $1")


async def save_term(conn: asyncpg.Connection, s: Subscription, seats: list[Batch]) -> None:
    """Store a new term: dates, window, price, and the plan a scheduled change may have changed, with its seat
    batches in the same statement (the subscription's quantity is their sum)."""
    await save_terms(conn, [(s, seats)])


async def save_terms(conn: asyncpg.Connection, terms: list[tuple[Subscription, list[Batch]]]) -> None:
    """Store new terms with their seat batches (as save_term), pipelined: one round trip for them all."""
    if terms:
        await conn.executemany(_TERM_WITH_SEATS, [(*_term_args(s), *_batch_args(seats)) for s, seats in terms])


async def term_ends(conn: asyncpg.Connection, customer_id: str, other_than: str | None = None) -> list[tuple[date, str]]:
    """The (term end, term duration) of the customer's active non-trial subscriptions, for coterming (§3.7)."""
    rows = await conn.fetch(
        """SELECT s.term_end, s.term_duration FROM subscriptions s JOIN offers o USING (catalog_item_id)
           WHERE s.customer_id = $1 AND s.status = 'active' AND NOT o.trial AND s.subscription_id IS DISTINCT FROM $2""",
        customer_id, other_than,
    )
    return [(r["term_end"], r["term_duration"]) for r in rows]


async def set_status(conn: asyncpg.Connection, subscription_id: str, status: str) -> None:
    await conn.execute("UPDATE subscriptions SET status = $2 WHERE subscription_id = $1", subscription_id, status)


async def subscription(pool: asyncpg.Pool, subscription_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM subscriptions WHERE subscription_id = $1", subscription_id)
    if row is None:
        return None
    seats = await pool.fetch(
        "SELECT quantity, refundable_until, full_price FROM seat_batches WHERE subscription_id = $1 ORDER BY seq",
        subscription_id
    )
    return {**_read(row), "seat_batches": [row_json(b) for b in seats]}


async def subscriptions_of(pool: asyncpg.Pool, customer_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM subscriptions WHERE customer_id = $1 ORDER BY created_at", customer_id)
    return [_read(r) for r in rows]


def _read(row: asyncpg.Record) -> dict[str, Any]:
    """A subscription row as the reads show it: JSON, its scheduled change an object (stored as jsonb text)."""
    scheduled = json.loads(row["scheduled_change"]) if row["scheduled_change"] else None
    return {**row_json(row), "scheduled_change": scheduled}
