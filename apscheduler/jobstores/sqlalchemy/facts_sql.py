"""
The SQL with which :class:`~apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore` keeps the facts
of the history (:class:`~apscheduler.runs.SchedulerFact` records) in ``<tablename>_facts``.

Recording is an upsert by ``fact_id``, as the history's is by run id. Reading and pruning go by
the index on ``(at, fact_id)``, newest first: pruning finds the newest fact beyond the count
kept with one indexed read and deletes it and everything older, so it needs no window function
and works the same on every database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Float, Integer, Table, Unicode, and_, bindparam, delete, insert, or_, select
from sqlalchemy.engine import Connection, Dialect

from apscheduler.jobstores.sqlalchemy.history_sql import has_upsert, upsert_rows, upsert_statement
from apscheduler.runs import RetentionPolicy, SchedulerFact
from apscheduler.util import datetime_to_utc_timestamp


def latest_by_fact_id(facts: Sequence[SchedulerFact]) -> list[SchedulerFact]:
    """One record per fact id, the last given: an upsert of one statement may touch a row once."""
    return list({fact.fact_id: fact for fact in facts}.values())


def fact_of(row: Any) -> SchedulerFact:
    """A row of the facts table (all its columns, by name) as the fact it records."""
    return SchedulerFact.from_fields(row._mapping)


class FactsTableSQL:
    """The statements on the facts table ``facts``."""

    def __init__(self, facts: Table, dialect: Dialect) -> None:
        self.facts = facts
        self.dialect = dialect
        #: whether the dialect has its own upsert (else: delete then insert, one transaction)
        self.upserts_in_one_statement = has_upsert(dialect)

    # Each statement is built on first use: most stores never prune, many never read facts,
    # and building them all made a store's construction several times slower.

    @cached_property
    def _upsert(self) -> Any:
        return upsert_statement(self.facts, self.dialect)

    @cached_property
    def _insert(self) -> Any:
        return insert(self.facts)

    @cached_property
    def _delete_ids(self) -> Any:
        return delete(self.facts).where(
            self.facts.c.fact_id.in_(bindparam("fact_ids", expanding=True))
        )

    @property
    def _newest_first(self) -> tuple[Any, Any]:
        f = self.facts.c
        return f.at.desc(), f.fact_id.desc()

    @cached_property
    def _newest(self) -> Any:
        limit = bindparam("limit", type_=Integer)
        return select(self.facts).order_by(*self._newest_first).limit(limit)

    @cached_property
    def _newest_until(self) -> Any:
        f = self.facts.c
        limit = bindparam("limit", type_=Integer)
        return (
            select(self.facts)
            .where(f.at <= bindparam("until"))
            .order_by(*self._newest_first)
            .limit(limit)
        )

    @cached_property
    def _first_beyond_count(self) -> Any:
        """The newest fact that the count no longer keeps: it and every older one go."""
        f = self.facts.c
        return (
            select(f.at, f.fact_id)
            .order_by(*self._newest_first)
            .limit(1)
            .offset(bindparam("max_facts", type_=Integer))
        )

    @cached_property
    def _delete_from(self) -> Any:
        f = self.facts.c
        at, fact_id = bindparam("at", type_=Float), bindparam("fact_id", type_=Unicode)
        return delete(self.facts).where(or_(f.at < at, and_(f.at == at, f.fact_id <= fact_id)))

    @cached_property
    def _delete_older(self) -> Any:
        return delete(self.facts).where(self.facts.c.at < bindparam("cutoff"))

    def record(self, connection: Connection, facts: Sequence[SchedulerFact]) -> None:
        """Store ``facts`` (distinct fact ids), replacing the rows of the same fact ids."""
        rows = [fact.to_fields() for fact in facts]
        if self.upserts_in_one_statement:
            upsert_rows(connection, self.facts, lambda: self._upsert, rows)
            return
        connection.execute(self._delete_ids, {"fact_ids": [row["fact_id"] for row in rows]})
        connection.execute(self._insert, rows)

    def read(self, connection: Connection, until: datetime | None, limit: int) -> list[Any]:
        """The facts that happened by ``until`` (all if ``None``), newest first."""
        if until is None:
            rows = connection.execute(self._newest, {"limit": limit})
        else:
            params = {"until": datetime_to_utc_timestamp(until), "limit": limit}
            rows = connection.execute(self._newest_until, params)
        return [fact_of(row) for row in rows]

    def prune(self, connection: Connection, policy: RetentionPolicy, now: datetime) -> None:
        """Delete the facts beyond ``policy.max_facts`` and those older than its ``max_age``."""
        boundary = connection.execute(
            self._first_beyond_count, {"max_facts": max(policy.max_facts, 0)}
        ).first()
        if boundary is not None:
            connection.execute(self._delete_from, {"at": boundary.at, "fact_id": boundary.fact_id})
        if policy.max_age is not None:
            cutoff = datetime_to_utc_timestamp(now - policy.max_age)
            connection.execute(self._delete_older, {"cutoff": cutoff})
