"""
One look at the schema at start: are the store's tables there, whole, with their indexes?

Asking SQLAlchemy's inspector table by table, column list by index list, took two dozen
statements on SQLite and PostgreSQL (and more Python than the rest of a store's start). On
those two databases one catalog query answers for all four tables; a store that finds them
whole has nothing to make or upgrade. Anything else (another database, a table missing, a
column or an index lacking, a catalog query the database refuses) goes the long way round,
which makes or completes what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

#: the dialects whose catalogs this module knows how to read in one query
QUICK_LOOK_DIALECTS = ("sqlite", "postgresql")
#: the placeholder of the n-th parameter in each DBAPI parameter style, and whether the
#: parameters go by name
_PLACEHOLDERS = {
    "qmark": ("?", False),
    "format": ("%s", False),
    "numeric": (":{n}", False),
    "numeric_dollar": ("${n}", False),
    "pyformat": ("%(p{n})s", True),
    "named": (":p{n}", True),
}

_SQLITE_LOOK = """
SELECT lower(m.name), 'c', lower(p.name)
  FROM {master} AS m, pragma_table_info(m.name, ?) AS p
 WHERE m.type = 'table' AND lower(m.name) IN ({names})
UNION ALL
SELECT lower(tbl_name), 'i', lower(name) FROM {master}
 WHERE type = 'index' AND lower(tbl_name) IN ({names})
"""

# pg_table_is_visible: without a schema, the table found is the one the search path finds
_POSTGRES_LOOK = """
SELECT c.relname, 'c', lower(a.attname)
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute AS a
    ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p') AND c.relname IN ({names}) AND {where}
UNION ALL
SELECT c.relname, 'i', lower(i.relname)
  FROM pg_catalog.pg_index AS x
  JOIN pg_catalog.pg_class AS c ON c.oid = x.indrelid
  JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relname IN ({names}) AND {where}
"""


def tables_are_complete(connection: Connection, tables: Sequence[Table]) -> bool:
    """
    Tell, in one statement, whether every one of ``tables`` exists with all of its columns and
    indexes. ``False`` also means "could not tell": the caller then looks the long way.

    All ``tables`` must share one schema.
    """
    dialect = connection.dialect
    if dialect.name not in QUICK_LOOK_DIALECTS or dialect.paramstyle not in _PLACEHOLDERS:
        return False

    sqlite = dialect.name == "sqlite"
    schema = tables[0].schema
    # str.lower: the names are quoted_name objects, whose own lower() is slow
    keys = [str.lower(table.name) if sqlite else str(table.name) for table in tables]
    values: list[str] = []
    if sqlite:
        master = "sqlite_master"
        if schema is not None:
            master = f"{dialect.identifier_preparer.quote_schema(schema)}.sqlite_master"
        values = [schema or "main", *keys, *keys]
        query = _SQLITE_LOOK.format(master=master, names=", ".join(["?"] * len(keys)))
    else:
        where = "pg_catalog.pg_table_is_visible(c.oid)"
        names = ", ".join(["?"] * len(keys))
        if schema is None:
            values = [*keys, *keys]
        else:
            where = "n.nspname = ?"
            values = [*keys, schema, *keys, schema]
        query = _POSTGRES_LOOK.format(names=names, where=where)
    # written out for the driver: compiling a text() statement cost as much as running it
    query, params = _for_driver(query, values, dialect.paramstyle)

    try:
        rows = connection.exec_driver_sql(query, params).all()
    except DBAPIError:
        # an old SQLite without table-valued pragmas, a catalog this role may not read
        connection.rollback()
        return False

    found: dict[str, tuple[set[str], set[str]]] = {key: (set(), set()) for key in keys}
    for table_name, kind, name in rows:
        entry = found.get(table_name.lower() if sqlite else table_name)
        if entry is not None:
            entry[kind == "i"].add(name)

    preparer = dialect.identifier_preparer
    for key, table in zip(keys, tables, strict=True):
        columns, indexes = found[key]
        if not columns or any(str.lower(column.name) not in columns for column in table.columns):
            return False
        for index in table.indexes:
            # the name the database knows, which SQLAlchemy may have shortened from index.name
            if preparer.format_index(index).strip('"`[]').lower() not in indexes:
                return False
    return True


def _for_driver(query: str, values: list[str], paramstyle: str) -> tuple[str, Any]:
    """Put the driver's placeholders for the ``?`` of ``query``, and its parameters."""
    placeholder, by_name = _PLACEHOLDERS[paramstyle]
    parts = query.split("?")
    written = [parts[0]]
    for n, part in enumerate(parts[1:]):
        written.append(placeholder.format(n=n + 1 if "{n}" in placeholder and not by_name else n))
        written.append(part)
    if by_name:
        return "".join(written), {f"p{n}": value for n, value in enumerate(values)}
    return "".join(written), tuple(values)
