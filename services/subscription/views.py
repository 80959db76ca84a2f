"""Read models for the operations dashboard: the book by status and offer, terms ending soon, the EOS impact."""
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from shared.dates import start_of_day
from shared.http import row_json
from shared.rules.eos import EosRule, eos_state

LIVE = ("active", "suspended")  # what an EOS date can still touch
_LIST_LIMIT = 200


def _scope(partner_id: str | None, args: list[Any], column: str = "partner_id") -> str:
    """`AND partner_id = $n` when the reader is a partner (or an operator narrowed to one)."""
    if partner_id is None:
        return ""
    args.append(partner_id)
    return f" AND {column} = ${len(args)}"


async def summary(pool: asyncpg.Pool, partner_id: str | None) -> dict[str, Any]:
    args: list[Any] = []
    rows = await pool.fetch(
        "SELECT catalog_item_id, status, count(*) AS n, sum(quantity) AS seats FROM subscriptions WHERE true"
        + _scope(partner_id, args) + " GROUP BY 1, 2 ORDER BY 1, 2", *args)
    by_status: dict[str, int] = {}
    by_offer: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        offer = by_offer.setdefault(r["catalog_item_id"], {"catalog_item_id": r["catalog_item_id"], "total": 0,
                                                           "seats": 0, "by_status": {}})
        offer["total"] += r["n"]
        offer["by_status"][r["status"]] = r["n"]
        if r["status"] in LIVE:
            offer["seats"] += r["seats"]
    return {"total": sum(by_status.values()), "by_status": by_status,
            "by_offer": sorted(by_offer.values(), key=lambda o: -o["total"])}


async def due(pool: asyncpg.Pool, partner_id: str | None, today: date, days: int) -> dict[str, Any]:
    """Active terms ending within `days` of today: renewals (auto-renew on) and expiries (off), per day and listed."""
    args: list[Any] = [today, today + timedelta(days=days - 1)]
    where = "status = 'active' AND term_end BETWEEN $1 AND $2" + _scope(partner_id, args)
    per_day = await pool.fetch(
        f"SELECT term_end, count(*) FILTER (WHERE auto_renew) AS renewals, count(*) FILTER (WHERE NOT auto_renew)"
        f" AS expiries FROM subscriptions WHERE {where} GROUP BY 1 ORDER BY 1", *args)
    listed = await pool.fetch(
        "SELECT subscription_id, partner_id, customer_id, catalog_item_id, quantity, term_end, auto_renew,"
        " scheduled_change IS NOT NULL AS has_scheduled_change FROM subscriptions WHERE " + where
        + f" ORDER BY term_end, subscription_id LIMIT {_LIST_LIMIT}", *args)
    days_out = [{"term_end": r["term_end"].isoformat(), "renewals": r["renewals"], "expiries": r["expiries"]}
                for r in per_day]
    return {
        "from": today.isoformat(), "days": days,
        "renewals": sum(d["renewals"] for d in days_out), "expiries": sum(d["expiries"] for d in days_out),
        "per_day": days_out, "subscriptions": [row_json(r) for r in listed], "listed_at_most": _LIST_LIMIT,
    }


async def eos_impact(pool: asyncpg.Pool, partner_id: str | None, now: datetime) -> dict[str, Any]:
    """Each upcoming EOS/EOL date: what the offers' state becomes, the live subscriptions it reaches, and where
    they can go (upgrade targets still purchasable on that date)."""
    rules = [EosRule(r["product_id"], r["sku_id"] or None, r["market"] or None, r["term_duration"] or None,
                     r["billing_cycle"] or None, r["state"], r["effective_date"])
             for r in await pool.fetch("SELECT * FROM eos_rules")]
    upcoming = sorted({r.effective_date for r in rules if start_of_day(r.effective_date) > now})
    if not upcoming:
        return {"dates": []}
    args: list[Any] = []
    groups = await pool.fetch(
        "SELECT s.catalog_item_id, s.market, s.term_duration, s.billing_cycle, count(*) AS n, sum(s.quantity) AS seats,"
        " (array_agg(s.subscription_id ORDER BY s.subscription_id))[1:20] AS sample, o.upgrade_targets"
        " FROM subscriptions s LEFT JOIN offers o USING (catalog_item_id)"
        " WHERE s.status IN ('active', 'suspended')" + _scope(partner_id, args, "s.partner_id")
        + " GROUP BY 1, 2, 3, 4, o.upgrade_targets", *args)
    out = []
    for day in upcoming:
        at = start_of_day(day)
        affected = []
        for g in groups:
            product, sku, _ = g["catalog_item_id"].split(":")
            state_then = eos_state(rules, product, sku, g["market"], g["term_duration"], g["billing_cycle"], at)
            if state_then is None or state_then.effective_date != day:
                continue  # this date changes nothing for the group (still Active, or an earlier rule already won)
            targets = [t for t in g["upgrade_targets"] or []
                       if eos_state(rules, *t.split(":")[:2], g["market"], None, None, at) is None]
            affected.append({
                "catalog_item_id": g["catalog_item_id"], "market": g["market"], "term_duration": g["term_duration"],
                "billing_cycle": g["billing_cycle"], "state": state_then.state, "subscriptions": g["n"],
                "seats": g["seats"], "sample": list(g["sample"]), "transition_targets": targets,
            })
        out.append({"date": day.isoformat(), "rules": [
            {"product_id": r.product_id, "sku_id": r.sku_id, "market": r.market, "term_duration": r.term_duration,
             "billing_cycle": r.billing_cycle, "state": r.state} for r in rules if r.effective_date == day],
            "affected": affected, "subscriptions": sum(a["subscriptions"] for a in affected)})
    return {"dates": out}
