"""The import commands of `nce`: the offer matrix goes in as catalog commands; price lists, promotions and FX rates
run pricing's own importers against pricing's schema (its relay then publishes what changed)."""
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import typer

from services.catalog.offer_matrix import OfferMatrixError, read_offer_matrix
from services.pricing.app import SERVICE as PRICING
from services.pricing.importer import ImportRefusedError, ImportReport, import_pricelist as run_pricelist
from services.pricing.reference_data import ReferenceDataError, import_fx_rates, import_promotions
from services.send import command, is_rejection, send_many
from shared.messaging.signing import Signer
from shared.db.migrate import migrate
from shared.db.pool import create_pool


def import_catalog(path: Path, bootstrap: str, timeout: float, signed_by: Signer) -> int:
    try:
        offers, rules = read_offer_matrix(path.read_text())
    except OfferMatrixError as e:
        typer.echo(f"{path}: {e}", err=True)
        return 2
    commands = [command("catalog.publish_offer", o.model_dump(mode="json")) for o in offers]
    commands += [command("catalog.set_eos", r.model_dump(mode="json")) for r in rules]
    outcomes = asyncio.run(send_many(bootstrap, commands, timeout, signed_by))
    rejected = [(c, o) for c in commands if (o := outcomes[str(c.id)]) is not None and is_rejection(o)]
    missing = [c for c in commands if outcomes[str(c.id)] is None]
    for c, o in rejected:
        typer.echo(f"rejected {c.type} {c.data.get('catalog_item_id') or c.data.get('product_id')}: "
                   f"{o['data']['code']} {o['data']['message']}", err=True)
    typer.echo(f"{path}: {len(offers)} offers, {len(rules)} EOS rules; "
               f"{len(commands) - len(rejected) - len(missing)} applied, {len(rejected)} rejected, "
               f"{len(missing)} without an outcome after {timeout}s")
    return 2 if missing else 1 if rejected else 0


async def _with_pricing(url: str, work: Callable[[asyncpg.Pool], Awaitable[int]]) -> int:
    pool = await create_pool(url, "pricing")
    try:
        await migrate(pool, "pricing", PRICING.migrations)
        return await work(pool)
    finally:
        await pool.close()


def _print_report(path: Path, report: ImportReport) -> None:
    for line, reason in report.errors:
        typer.echo(f"{path}:{line}: {reason}", err=True)
    if report.invalid > len(report.errors):
        typer.echo(f"… and {report.invalid - len(report.errors)} more invalid rows", err=True)
    typer.echo(f"{path} ({report.market}): {report.rows} rows, {report.invalid} invalid, {report.changed} new or "
               f"changed, {report.eos_found} End-of-Sale dates found; "
               f"{'stored' if report.stored else 'nothing stored (use --skip-invalid to store the valid rows)'}")


def import_pricelist(path: Path, market: str, skip_invalid: bool, url: str) -> int:
    async def work(pool: asyncpg.Pool) -> int:
        try:
            report = await run_pricelist(pool, path, market, datetime.now(UTC), skip_invalid=skip_invalid)
        except ImportRefusedError as e:
            _print_report(path, e.report)
            return 1
        _print_report(path, report)
        return 1 if report.invalid else 0

    return asyncio.run(_with_pricing(url, work))


def import_reference(kind: str, path: Path, url: str) -> int:
    importer = import_promotions if kind == "promotions" else import_fx_rates

    async def work(pool: asyncpg.Pool) -> int:
        try:
            changed = await importer(pool, path, datetime.now(UTC))
        except ReferenceDataError as e:
            typer.echo(f"{path}: {e}; nothing stored", err=True)
            return 1
        typer.echo(f"{path}: {changed} new or changed {kind} entries")
        return 0

    return asyncio.run(_with_pricing(url, work))
