"""
Statements compiled once per process, for every store on the same kind of database, and run as
the driver's own SQL.

SQLAlchemy keeps compiled statements per engine, and each store makes its own engine, so every
new store compiled its statements again on first use: for the facts upsert that a scheduler
writes when it shuts down, the compiling took longer than the write. The SQL text depends only on
the dialect (its class, parameter style and server version) and the table, so it is kept here by
those, with the conversions SQLAlchemy applies to its parameters (bind processors). Those are
plain functions for the column types of :data:`PLAIN_TYPES`; a statement with a column of any
other type (whose conversion may depend on an engine's options, as JSON's does) is not turned
into text, and the caller runs it the usual way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, Float, Integer, LargeBinary, String
from sqlalchemy.engine import Connection, Dialect

#: the column types whose parameter conversions depend on nothing but the dialect's class
PLAIN_TYPES = (String, Float, Integer, Boolean, LargeBinary)

# (dialect class, parameter style, server version, caller's key) -> the statement, or None
# where it cannot be run as text
_STATEMENTS: dict[Hashable, DriverStatement | None] = {}
_STATEMENTS_LIMIT = 256
_lock = threading.Lock()


class DriverStatement:
    """A compiled statement's SQL text, the order of its parameters and their conversions."""

    __slots__ = ("sql", "positions", "names", "processors")

    def __init__(
        self,
        sql: str,
        positions: tuple[str, ...] | None,
        names: tuple[str, ...],
        processors: Mapping[str, Callable[[Any], Any]],
    ) -> None:
        self.sql = sql
        #: the parameter names in placeholder order (positional parameter styles), else None
        self.positions = positions
        #: the parameter names
        self.names = names
        #: parameter name -> the conversion SQLAlchemy applies to its values
        self.processors = dict(processors)

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row (a mapping of parameter names to values)."""
        params: list[Any] = [self._converted(row) for row in rows]
        positions = self.positions
        if positions is not None:
            params = [tuple([values[name] for name in positions]) for values in params]
        connection.exec_driver_sql(self.sql, params)

    def _converted(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters of ``row``, converted as SQLAlchemy converts them (``None`` stays)."""
        values = {name: row[name] for name in self.names}
        for name, convert in self.processors.items():
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        return values


def driver_statement(
    dialect: Dialect, key: Hashable, build: Callable[[], Any], columns: Sequence[Any]
) -> DriverStatement | None:
    """
    Return the statement that ``build()`` makes, compiled for ``dialect`` with the values of
    ``columns`` (table columns) as its parameters, from the process-wide cache when another
    store compiled it already; or ``None`` if a column is not of a plain type (the caller
    executes the statement itself).

    :param key: what tells the statement apart from others on the same dialect (its kind and
        its table's schema, name and columns)
    """
    full_key = (
        type(dialect),
        dialect.paramstyle,
        getattr(dialect, "server_version_info", None),
        key,
    )
    try:
        return _STATEMENTS[full_key]
    except KeyError:
        pass

    statement = None
    if all(isinstance(column.type, PLAIN_TYPES) for column in columns):
        statement = _compile(dialect, build(), [column.key for column in columns])
    with _lock:
        if len(_STATEMENTS) >= _STATEMENTS_LIMIT:
            _STATEMENTS.clear()
        _STATEMENTS[full_key] = statement
    return statement


def _compile(
    dialect: Dialect, statement: Any, column_keys: Sequence[str]
) -> DriverStatement | None:
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(column_keys))
    if (
        compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or set(compiled.binds) != set(column_keys)
    ):
        return None

    positions = tuple(compiled.positiontup) if dialect.positional else None
    processors = compiled._bind_processors
    return DriverStatement(compiled.string, positions, tuple(column_keys), processors)
