"""A worker's pooled connection across the runs of records it handles in a batch, and ending a failed transaction
on a pooled connection (one that cannot is closed, never pooled mid-transaction)."""
from collections.abc import Iterable

import asyncpg

from shared.db.deferred import prepare


def gone(conn: asyncpg.Connection) -> bool:
    """Whether a pooled connection is closed; asyncpg takes one that closed back into its pool by itself, after which
    its proxy refuses every call."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


async def roll_back(conn: asyncpg.Connection) -> None:
    """End a failed transaction; a connection that cannot say ROLLBACK is closed, never pooled mid-transaction."""
    try:
        if not gone(conn):
            await conn.execute("ROLLBACK")
    except Exception:
        if not gone(conn):
            conn.terminate()  # the caller re-raises the error that made it roll back
    finally:
        if not gone(conn) and conn.is_in_transaction():
            conn.terminate()


class Lease:
    """The pool connection one worker keeps for the runs of records it handles in a batch. While the worker has more
    to handle, BEGIN goes out with each COMMIT, so the next message's first round trip is its handler's first
    statement; the last COMMIT sends none, and the connection goes back to the pool with no transaction open."""

    def __init__(self, pool: asyncpg.Pool, statements: Iterable[str]) -> None:
        self.pool, self.statements = pool, statements  # prepared on each connection with its first BEGIN
        self.conn: asyncpg.Connection | None = None

    async def begun(self) -> asyncpg.Connection:
        """The connection, in a transaction: BEGIN is sent unless the last COMMIT sent it."""
        if self.conn is not None and gone(self.conn):
            await self.release()
        if self.conn is None:
            self.conn = await self.pool.acquire()
        if not self.conn.is_in_transaction():
            try:
                await prepare(self.conn, self.statements, "BEGIN")
            except BaseException:
                await roll_back(self.conn)  # one that cannot say BEGIN (the server restarted) is closed
                await self.release()
                raise
        return self.conn

    async def release(self) -> None:
        """Give the connection back with no transaction open (one that cannot say ROLLBACK is closed)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if not gone(conn) and conn.is_in_transaction():
                await roll_back(conn)
            await self.pool.release(conn)  # a closed one too: releasing it finishes its cleanup
        except asyncpg.InterfaceError:
            pass  # asyncpg took it back into the pool itself when it closed
