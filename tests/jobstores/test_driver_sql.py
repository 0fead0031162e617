"""Upserts compiled once per process and run as driver SQL by every store on one database."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("sqlalchemy")

from sqlalchemy import (  # noqa: E402
    JSON,
    Column,
    Float,
    MetaData,
    Table,
    Unicode,
    create_engine,
    select,
)

from apscheduler.jobstores.sqlalchemy import driver_sql  # noqa: E402
from apscheduler.jobstores.sqlalchemy.history_sql import (  # noqa: E402
    upsert_rows,
    upsert_statement,
)


def make_table(name: str, *extra: Column) -> Table:
    return Table(
        name,
        MetaData(),
        Column("key", Unicode(20), primary_key=True),
        Column("value", Float),
        *extra,
    )


def upsert(engine, table: Table, rows: list[dict]) -> None:
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        upsert_rows(connection, table, lambda: upsert_statement(table, connection.dialect), rows)


def read(engine, table: Table) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(table.c.key))]


def test_two_engines_share_one_compiled_upsert(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first_engine, second_engine = create_engine(url), create_engine(url)
    first_table, second_table = make_table("shared"), make_table("shared")
    upsert(first_engine, first_table, [{"key": "a", "value": 1.5}])
    cached = dict(driver_sql._STATEMENTS)

    built = []
    with second_engine.begin() as connection:
        upsert_rows(
            connection,
            second_table,
            lambda: built.append(1) or upsert_statement(second_table, connection.dialect),
            [{"key": "a", "value": 2.5}, {"key": "b", "value": 3.0}],
        )

    assert built == []  # the second engine neither built nor compiled the statement
    assert dict(driver_sql._STATEMENTS) == cached
    assert read(first_engine, first_table) == [("a", 2.5), ("b", 3.0)]


def test_parameters_are_converted_as_sqlalchemy_converts_them(tmp_path):
    # sqlite3 cannot bind a Decimal: only the Float type's conversion makes this write work
    engine = create_engine(f"sqlite:///{tmp_path / 'converted.sqlite'}")
    table = make_table("converted")

    upsert(engine, table, [{"key": "a", "value": Decimal("0.25")}, {"key": "b", "value": None}])

    assert read(engine, table) == [("a", 0.25), ("b", None)]


def test_a_column_of_another_type_is_written_by_sqlalchemy(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'json.sqlite'}")
    table = make_table("with_json", Column("extra", JSON))
    key = ("upsert", None, "with_json", tuple((c.key, type(c.type)) for c in table.columns))

    upsert(engine, table, [{"key": "a", "value": 1.0, "extra": {"n": [1, 2]}}])

    assert read(engine, table) == [("a", 1.0, {"n": [1, 2]})]
    cached = [entry for full_key, entry in driver_sql._STATEMENTS.items() if full_key[-1] == key]
    assert cached == [None]
