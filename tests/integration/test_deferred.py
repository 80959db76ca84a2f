"""A handler's writes sent with the COMMIT (shared/db/deferred.py) against a real PostgreSQL: every value arrives as
it was given, reads see the writes before them, and what cannot be a literal runs at once."""
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from shared.db.deferred import Deferring, execute_sql, literal, prepare
from shared.db.pool import create_pool

pytestmark = pytest.mark.integration

ODD = "O'Brien \\x00 \\\\ \"quoted\" {a,b} ünïcødé ☃ $$ $q$ ; COMMIT; -- \n\t"
ROW = ("k1", ODD, uuid.UUID("6b0c54a8-3f55-4f3e-9d0f-2d7c1a4f0e11"), 2**40, True, Decimal("-1234.5678"),
       date(9999, 12, 31), datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
       b"\x00\x01\\'\xff", [1, None, -3], [ODD, None, "", "NULL"], [datetime(2025, 2, 1, tzinfo=UTC)],
       [b"\x00", b"'\\"], ['{"a": "\\"b\\\\"}', "[]"], None)
INSERT = "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb[], $15)"


@pytest.fixture
async def pool(stack) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    pool = await create_pool(stack.database_url, "deferred_test")
    await pool.execute("""CREATE TABLE IF NOT EXISTS t (k text PRIMARY KEY, s text, u uuid, i bigint, b bool,
        n numeric, d date, ts timestamptz, by bytea, ia int[], ta text[], tsa timestamptz[], ba bytea[], ja jsonb[],
        z text CHECK (z IS DISTINCT FROM 'refused'))""")
    yield pool
    await pool.execute("DROP TABLE t")
    await pool.close()


async def in_transaction(pool: asyncpg.Pool, work: Any) -> None:
    """As the kernel does: BEGIN, the handler's work on a Deferring connection, then what it kept with the COMMIT."""
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        try:
            deferring = Deferring(conn)
            await work(deferring)
            await conn.execute(deferring.pending() + "COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise


async def test_a_deferred_write_stores_every_value_exactly_as_a_direct_one_does(pool: asyncpg.Pool) -> None:
    async def write(conn: Deferring) -> None:
        assert await conn.execute(INSERT, *ROW) is None  # kept, to go with the COMMIT
        await conn.executemany(INSERT, [("k2", *ROW[1:]), ("k3", *ROW[1:])])

    await in_transaction(pool, write)
    await pool.execute(INSERT, "direct", *ROW[1:])
    rows = {r["k"]: tuple(r)[1:] for r in await pool.fetch("SELECT * FROM t")}
    assert rows["k1"] == rows["k2"] == rows["k3"] == rows["direct"]
    assert rows["k1"][0] == ODD and rows["k1"][7] == ROW[8] and rows["k1"][12] == ROW[13]


async def test_a_read_after_deferred_writes_sees_them_in_order(pool: asyncpg.Pool) -> None:
    async def write_then_read(conn: Deferring) -> None:
        await conn.execute("INSERT INTO t (k, i) VALUES ($1, $2)", "r", 1)
        await conn.execute("UPDATE t SET i = i + $2 WHERE k = $1", "r", 41)
        assert await conn.fetchval("SELECT i FROM t WHERE k = $1", "r") == 42
        await conn.execute("UPDATE t SET i = i * $2 WHERE k = $1", "r", 2)

    await in_transaction(pool, write_then_read)
    assert await pool.fetchval("SELECT i FROM t WHERE k = 'r'") == 84


async def test_a_deferred_writes_error_comes_with_the_commit_and_leaves_nothing(pool: asyncpg.Pool) -> None:
    async def refused(conn: Deferring) -> None:
        await conn.execute("INSERT INTO t (k) VALUES ($1)", "kept")
        await conn.execute("INSERT INTO t (k, z) VALUES ($1, $2)", "bad", "refused")  # the CHECK fails at COMMIT

    with pytest.raises(asyncpg.CheckViolationError):
        await in_transaction(pool, refused)
    assert await pool.fetchval("SELECT count(*) FROM t") == 0


async def test_what_has_no_literal_form_runs_at_once_as_without_deferring(pool: asyncpg.Pool) -> None:
    async def nul(conn: Deferring) -> None:
        await conn.execute("INSERT INTO t (k, s) VALUES ($1, $2)", "n", "a\x00b")  # asyncpg's own error, at the call

    with pytest.raises(asyncpg.CharacterNotInRepertoireError):
        await in_transaction(pool, nul)

    async def naive(conn: Deferring) -> None:
        await conn.execute("INSERT INTO t (k, ts) VALUES ($1, $2)", "naive", datetime(2025, 1, 1, 12))

    await in_transaction(pool, naive)  # asyncpg takes a naive datetime as UTC; a literal would take the session's zone
    assert await pool.fetchval("SELECT ts FROM t WHERE k = 'naive'") == datetime(2025, 1, 1, 12, tzinfo=UTC)


def test_literals_cannot_break_out_of_their_quotes() -> None:
    assert literal(None) == "NULL"
    assert literal("it's \\ here") == "E'it''s \\\\ here'"
    assert literal([None, 'a"b']) == "E'{NULL,\"a\\\\\"b\"}'"


async def test_a_connection_whose_prepare_round_trip_failed_is_closed_and_the_next_one_prepares_again(
        pool: asyncpg.Pool) -> None:
    """PREPARE outlives a failed round trip (and a rollback), so which statements a session holds is then unknown:
    that session is not used again, and a fresh connection prepares and runs the statement."""
    query = "INSERT INTO t (k, s) VALUES ($1, $2)"
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await prepare(conn, [query], "SELECT 1/0")
        with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
            conn.is_closed()  # terminated: asyncpg took it back into the pool by itself
    async with pool.acquire() as conn:
        await prepare(conn, [query], "BEGIN")
        await conn.execute(execute_sql(query, ("prepared-again", "yes")) + "COMMIT")
        await prepare(conn, [query])  # known now: nothing is sent
    assert await pool.fetchval("SELECT s FROM t WHERE k = 'prepared-again'") == "yes"
