"""Plain-SQL migrations applied in order at start-up and recorded in `schema_migrations`."""
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)
KERNEL_MIGRATIONS = Path(__file__).parent / "migrations"


def pending(applied: set[str], kernel: Path, service: Path) -> list[tuple[str, Path]]:
    """The migrations not yet applied: the kernel's first, then the service's, each in file-name order."""
    files = [(f"kernel/{p.name}", p) for p in sorted(kernel.glob("*.sql"))]
    files += [(f"service/{p.name}", p) for p in sorted(service.glob("*.sql"))]
    return [(name, path) for name, path in files if name not in applied]


async def migrate(pool: asyncpg.Pool, schema: str, service_migrations: Path) -> list[str]:
    """Apply what is pending, each file in its own transaction, under a lock so two instances don't race."""
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            applied = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            done = []
            for name, path in pending(applied, KERNEL_MIGRATIONS, service_migrations):
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                log.info("applied migration %s to schema %s", name, schema)
                done.append(name)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")
