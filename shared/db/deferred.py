"""A handler's writes sent with its transaction's COMMIT instead of one round trip each.

A message's handler gets its connection wrapped in `Deferring`: a statement run with `execute` or `executemany`
(whose status nobody reads) is not sent, but kept as `EXECUTE name(literals)` of a statement prepared once per
connection (PREPARE in a round trip of its own, the first time); the kernel sends what was kept in the round trip
of the COMMIT. Any read sends what was kept first, so the handler reads its own writes. A value with no literal
form here (an unknown type, a NUL, a naive datetime), or an executemany of many rows, makes its statement run at
once, as without the wrapper.

A deferred statement's error (a constraint, say) is raised by the COMMIT, not by the call: the message is retried
and, failing again, parked, as a handler error always is.
"""
import functools
import hashlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg


class Connection(asyncpg.Connection):
    """The pools' connection class: it remembers the statements `Deferring` prepared on it (PREPARE lives as long
    as the session)."""

    __slots__ = ("prepared",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


class Unwritable(TypeError):
    """A value with no literal form here: its statement runs at once instead."""


_PLAIN = (int, UUID, Decimal, date)  # text forms with no quote, backslash, comma, brace or space (bool is an int)
_BARE = (*_PLAIN, list, tuple)  # array elements written unquoted (a datetime is a date)


def _text(value: Any) -> str:
    """A value's text form, as PostgreSQL's input function of the parameter's type reads it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise Unwritable("NUL")  # a query string is NUL-terminated: never let one in
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise Unwritable("naive datetime")
        return value.isoformat()
    if isinstance(value, Decimal) and not value.is_finite():
        raise Unwritable(f"{value}")
    if isinstance(value, _PLAIN):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, list | tuple):
        return "{" + ",".join(_element(v) for v in value) + "}"
    raise Unwritable(type(value).__name__)


def _element(value: Any) -> str:
    """An array element: quoted and escaped unless its text form needs neither."""
    if value is None:
        return "NULL"
    text = _text(value)
    if isinstance(value, _BARE):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: Any) -> str:
    """An untyped SQL literal of `value` (NULL for None), escaped whatever standard_conforming_strings says."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):  # hex digits: nothing to escape but the \x before them
        return "E'\\\\x" + value.hex() + "'"
    text = _text(value)
    if "\\" in text or "'" in text:
        text = text.replace("\\", "\\\\").replace("'", "''")
    return "E'" + text + "'"


_MOST_ROWS = 4  # an executemany of more rows goes at once (binary, pipelined): rendering them costs more than a round trip


@functools.lru_cache(maxsize=1024)
def _name(query: str) -> str:
    return "nce_" + hashlib.blake2b(query.encode(), digest_size=10).hexdigest()


def execute_sql(query: str, args: Sequence[Any]) -> str:
    """`EXECUTE` of `query` (prepared on the connection: `prepare`, or `Deferring`) with `args` as literals; raises
    `Unwritable` for a value with no literal form."""
    if not args:
        return f"EXECUTE {_name(query)}; "
    return f"EXECUTE {_name(query)}({', '.join(literal(v) for v in args)}); "


async def prepare(conn: asyncpg.Connection, queries: Iterable[str], then: str = "") -> None:
    """Prepare on `conn` those of `queries` it lacks, and run `then`, in one round trip (none when there is nothing
    to send). Only connections of our class remember what they prepared."""
    prepared: set[str] = conn.prepared  # type: ignore[attr-defined]
    missing = {_name(q): q for q in queries if _name(q) not in prepared}
    sql = "".join(f"PREPARE {name} AS {q}; " for name, q in missing.items()) + then
    if not sql:
        return
    try:
        await conn.execute(sql)
    except BaseException:
        if missing:  # which PREPAREs went through is unknown (they outlive a rollback): no one uses this session again
            conn.terminate()
        raise
    prepared.update(missing)


class Deferring:
    """A connection for one message's handler whose writes go with the COMMIT (see the module's docstring)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._prepared: set[str] | None = getattr(conn, "prepared", None)  # None: not our class, nothing deferred
        self._kept: list[str] = []

    async def _keep(self, query: str, rows: list[Sequence[Any]]) -> bool:
        if self._prepared is None or len(rows) > _MOST_ROWS:
            return False
        try:
            executes = [execute_sql(query, args) for args in rows]
        except Unwritable:
            return False
        await prepare(self._conn, [query])  # once per connection; PREPARE outlives a rollback, so it goes on its own
        self._kept += executes
        return True

    def pending(self) -> str:
        """What was kept, as statements to send before the COMMIT; taken, so each goes once."""
        sql, self._kept = "".join(self._kept), []
        return sql

    async def flush(self) -> None:
        if self._kept:
            await self._conn.execute(self.pending())

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str | None:
        if args and timeout is None and await self._keep(query, [args]):
            return None
        await self.flush()
        return await self._conn.execute(query, *args, timeout=timeout)

    async def executemany(self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None) -> None:
        rows = list(args)
        if timeout is None and await self._keep(command, rows):
            return
        await self.flush()
        await self._conn.executemany(command, rows, timeout=timeout)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        await self.flush()
        return await self._conn.fetch(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> asyncpg.Record | None:
        await self.flush()
        return await self._conn.fetchrow(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        await self.flush()
        return await self._conn.fetchval(query, *args, **kwargs)

    async def fetchmany(self, query: str, args: Iterable[Sequence[Any]], **kwargs: Any) -> list[asyncpg.Record]:
        await self.flush()
        return await self._conn.fetchmany(query, args, **kwargs)
