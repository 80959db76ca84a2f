"""One asyncpg pool per service, confined to the service's own schema."""
import asyncpg

from shared.db.deferred import Connection

# Errors after which the same work may succeed later: the database is away, restarting or overloaded (SQLSTATE
# classes 08 connection, 53 insufficient resources: disk full, out of memory, too many connections; 57 operator
# intervention: shutdown, cancelled; 58 system error: I/O), read-only (25006, a standby after a failover), or
# PostgreSQL asks us to retry (serialization failure, deadlock). A message failing so waits; it is never parked.
# InternalClientError is what a connection the server dropped mid-operation raises until asyncpg notices it is
# closed ("cannot switch to state …; another operation is in progress"), seen when PostgreSQL restarts under load:
# another connection succeeds.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresSystemError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,
)


def _session(schema: str) -> dict[str, str]:
    return {"search_path": schema, "application_name": f"nce-{schema}"}


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query: pooled connections keep no session state (locks, LISTEN, SET)."""


async def connect(url: str, schema: str) -> asyncpg.Connection:
    """A connection outside the pool, for work that holds session state (the relay's advisory lock)."""
    return await asyncpg.connect(url, timeout=5, command_timeout=30, server_settings=_session(schema))


async def create_pool(url: str, schema: str, max_size: int = 8) -> asyncpg.Pool:
    """Open a pool whose connections see only `schema` (created if missing)."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=max_size, timeout=5, command_timeout=30, server_settings=_session(schema),
        reset=_no_reset, connection_class=Connection,
    )
    assert pool is not None
    return pool
