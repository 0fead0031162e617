"""
How the persistent job stores turn a job's state into bytes, and back.

Three ways, chosen with the store options ``serializer`` and ``pickle_secret``:

* plain pickles (the default, the format of APScheduler 3): whoever can write to the storage
  can make every scheduler on it run code of their choosing;
* signed pickles (``pickle_secret`` given): each pickle is preceded by :data:`SIGNED_PREFIX` and
  an HMAC-SHA256 of the pickle under the secret; a record whose signature is missing or wrong
  is never unpickled, and is reported as an unloadable job;
* JSON (``serializer="json"``): a document holding the job state as plain values, the callable
  by its text reference and the trigger by an explicit encoding of each built-in trigger. Loading
  one imports the module of the callable and nothing else (the trigger classes come from a
  fixed table of names); arguments must be plain JSON values.

Every serializer reads JSON records too (they are safe to read), so a store keeps working
while :func:`migrate` rewrites it, and a plain pickle store also reads signed pickles (it runs
any pickle anyway).
"""

from __future__ import annotations

# hashlib, hmac and json are imported where they are used: hashlib loads OpenSSL, and the three
# took about a tenth of the time it takes to import a scheduler, which most stores never need
import math
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from apscheduler.util import astimezone

if TYPE_CHECKING:
    from apscheduler.jobstores.base import BaseJobStore, UnloadableJob

#: what a signed pickle starts with (no pickle starts with a zero byte, so plain pickle loading
#: fails on it at once); the 32 bytes of the signature follow, then the pickle
SIGNED_PREFIX = b"\x00apscheduler-hmac-sha256\x00"
_DIGEST_SIZE = 32  # of SHA-256
#: the key of a JSON record that names its format, and its version
JSON_FORMAT_KEY = "apscheduler_job"
JSON_FORMAT_VERSION = 1
SERIALIZER_NAMES = ("pickle", "json")


class UntrustedJobError(Exception):
    """A stored job that is not loaded because it could run code its store did not write."""


class NotJSONSerializableError(TypeError):
    """A job that cannot be written as JSON; the message names the value that is in the way."""


@runtime_checkable
class Serializer(Protocol):
    """
    Turns stored documents (a job state dict, or a dict wrapping one) into bytes and back.

    ``loads`` must never run code from the data it is given, unless the serializer trusts
    plain pickles.
    """

    #: what the store options call this way of storing (for messages)
    name: str

    def dumps(self, document: dict[str, Any]) -> bytes: ...

    def loads(self, data: bytes) -> dict[str, Any]: ...


# --- pickles -----------------------------------------------------------------------------------


def _signature(secret: bytes, body: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(secret, body, hashlib.sha256).digest()


def _sign(secret: bytes, body: bytes) -> bytes:
    return SIGNED_PREFIX + _signature(secret, body) + body


def _verified_body(secret: bytes, data: bytes) -> bytes:
    """The pickle inside a signed record, after checking its signature."""
    start = len(SIGNED_PREFIX)
    signature, body = data[start : start + _DIGEST_SIZE], data[start + _DIGEST_SIZE :]
    import hmac

    if not hmac.compare_digest(signature, _signature(secret, body)):
        raise UntrustedJobError(
            "the signature of the stored pickle does not match: it was written with another "
            "pickle_secret, or changed since; it was not unpickled"
        )
    return body


def _is_json(data: bytes) -> bool:
    return data[:1] == b"{"


@dataclass
class PickleSerializer:
    """Plain pickles, as APScheduler 3 wrote them; reads signed pickles and JSON too."""

    protocol: int = pickle.HIGHEST_PROTOCOL
    name: str = "pickle"

    def dumps(self, document: dict[str, Any]) -> bytes:
        return pickle.dumps(document, self.protocol)

    def loads(self, data: bytes) -> dict[str, Any]:
        try:
            document: dict[str, Any] = pickle.loads(data)
            return document
        except Exception:
            # the rare records that are not plain pickles; a signed one fails on its first byte
            if data.startswith(SIGNED_PREFIX):
                document = pickle.loads(data[len(SIGNED_PREFIX) + _DIGEST_SIZE :])
                return document
            if _is_json(data):
                return json_loads(data)
            raise


@dataclass
class SignedPickleSerializer:
    """Pickles signed with HMAC-SHA256; unsigned or tampered pickles are never unpickled."""

    secret: bytes = field(repr=False)
    protocol: int = pickle.HIGHEST_PROTOCOL
    name: str = "signed pickle"

    def dumps(self, document: dict[str, Any]) -> bytes:
        return _sign(self.secret, pickle.dumps(document, self.protocol))

    def loads(self, data: bytes) -> dict[str, Any]:
        if data.startswith(SIGNED_PREFIX):
            document: dict[str, Any] = pickle.loads(_verified_body(self.secret, data))
            return document
        if _is_json(data):
            return json_loads(data)
        raise UntrustedJobError(
            "the stored pickle is not signed, and a store with a pickle_secret unpickles only "
            "signed pickles; it was not unpickled (if the store's contents are trusted, sign "
            "them with apscheduler.jobstores.migrate(..., to='signed'))"
        )


@dataclass
class JSONSerializer:
    """JSON documents; reads signed pickles too if given their secret, never plain pickles."""

    secret: bytes | None = field(default=None, repr=False)
    name: str = "json"

    def dumps(self, document: dict[str, Any]) -> bytes:
        return json_dumps(document)

    def loads(self, data: bytes) -> dict[str, Any]:
        if _is_json(data):
            return json_loads(data)
        if data.startswith(SIGNED_PREFIX):
            if self.secret is None:
                raise UntrustedJobError(
                    "the job is stored as a signed pickle, and this store (serializer='json') "
                    "has no pickle_secret to check it with; it was not unpickled"
                )
            document: dict[str, Any] = pickle.loads(_verified_body(self.secret, data))
            return document
        raise UntrustedJobError(
            "the job is stored as a pickle, and a store with serializer='json' never "
            "unpickles; it was not unpickled (if the store's contents are trusted, rewrite "
            "them with apscheduler.jobstores.migrate(..., to='json'))"
        )


def resolve_secret(secret: bytes | str | None) -> bytes | None:
    """
    Return the secret given as ``pickle_secret``: bytes, or the name of an environment variable.

    :raises ValueError: if the variable is not set, or the secret is empty
    """
    if secret is None:
        return None
    if isinstance(secret, str):
        value = os.environ.get(secret)
        if value is None:
            raise ValueError(
                f"pickle_secret names the environment variable {secret!r}, which is not set "
                f"(give the secret as bytes, or set the variable)"
            )
        secret = value.encode("utf-8")
    if not isinstance(secret, (bytes, bytearray)):
        raise TypeError(f"pickle_secret must be bytes or a str, got {type(secret).__name__}")
    if not secret:
        raise ValueError("pickle_secret must not be empty")
    return bytes(secret)


def make_serializer(
    serializer: str | Serializer, pickle_protocol: int, pickle_secret: bytes | str | None
) -> Serializer:
    """
    The serializer the store options ask for.

    :raises ValueError: for an unknown serializer name, or a secret that cannot be had
    """
    secret = resolve_secret(pickle_secret)
    if isinstance(serializer, Serializer):
        return serializer
    if serializer == "json":
        return JSONSerializer(secret)
    if serializer == "pickle":
        if secret is not None:
            return SignedPickleSerializer(secret, pickle_protocol)
        return PickleSerializer(pickle_protocol)
    raise ValueError(
        f"serializer must be one of {', '.join(map(repr, SERIALIZER_NAMES))}, got {serializer!r}"
    )


# --- JSON: plain values ------------------------------------------------------------------------


def _refuse(where: str, value: Any, why: str) -> NotJSONSerializableError:
    return NotJSONSerializableError(
        f"{where} ({value!r}, a {type(value).__name__}) cannot be stored as JSON: {why}"
    )


def _plain(value: Any, where: str) -> Any:
    """Return ``value`` if JSON holds it exactly as it is (and reads it back equal)."""
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _refuse(where, value, "JSON has no infinite or NaN numbers")
        return value
    if kind is list:
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise _refuse(f"{where} key {key!r}", key, "JSON object keys are text")
        return {key: _plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if kind is tuple:
        raise _refuse(where, value, "JSON has lists, not tuples (pass a list)")
    raise _refuse(
        where, value, "only None, bool, int, float, str, and lists and dicts of them can be"
    )


def _expect(value: Any, kinds: type | tuple[type, ...], where: str) -> Any:
    """Check the type of a value read back (bool is not taken for a number)."""
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ValueError(f"{where}: expected {kinds}, got {value!r}")
    if not isinstance(value, kinds):
        raise ValueError(f"{where}: expected {kinds}, got {value!r}")
    return value


# --- JSON: the value types of trigger states ---------------------------------------------------


@dataclass(frozen=True)
class _Codec:
    """The JSON form of one kind of value: how to write it, and how to read it back."""

    encode: Callable[[Any, str], Any]
    decode: Callable[[Any, str], Any]


def _optional(codec: _Codec) -> _Codec:
    return _Codec(
        lambda value, where: None if value is None else codec.encode(value, where),
        lambda value, where: None if value is None else codec.decode(value, where),
    )


def _encode_zone(zone: Any, where: str) -> Any:
    """A zone as its IANA name (``"UTC"`` for UTC), or ``{"offset_seconds": n}``."""
    if not isinstance(zone, tzinfo):
        raise _refuse(where, zone, "expected a time zone")
    zone = astimezone(zone)  # a pytz zone becomes its zoneinfo equivalent
    if zone is timezone.utc:
        return "UTC"
    if isinstance(zone, ZoneInfo) and zone.key:
        return zone.key
    if type(zone) is timezone:
        offset = zone.utcoffset(None)
        return {"offset_seconds": offset.total_seconds()}
    raise _refuse(where, zone, "only zoneinfo zones and fixed UTC offsets can be")


def _decode_zone(value: Any, where: str) -> tzinfo:
    if isinstance(value, str):
        zone = astimezone(value)
        assert zone is not None
        return zone
    if isinstance(value, dict) and set(value) == {"offset_seconds"}:
        seconds = _expect(value["offset_seconds"], (int, float), where)
        return timezone(timedelta(seconds=seconds))
    raise ValueError(f"{where}: not a time zone: {value!r}")


def _encode_datetime(moment: Any, where: str) -> Any:
    """A datetime as ISO 8601 text with its offset, and its zone (to come back in it)."""
    if type(moment) is not datetime:
        raise _refuse(where, moment, "expected a datetime")
    zone = None if moment.tzinfo is None else _encode_zone(moment.tzinfo, where)
    return {"iso": moment.isoformat(), "zone": zone}


def _decode_datetime(value: Any, where: str) -> datetime:
    if not isinstance(value, dict) or set(value) != {"iso", "zone"}:
        raise ValueError(f"{where}: not a datetime: {value!r}")
    moment = datetime.fromisoformat(_expect(value["iso"], str, where))
    if value["zone"] is None:
        return moment
    return moment.astimezone(_decode_zone(value["zone"], where))


def _encode_date(day: Any, where: str) -> str:
    if type(day) is not date:
        raise _refuse(where, day, "expected a date")
    return day.isoformat()


def _decode_date(value: Any, where: str) -> date:
    return date.fromisoformat(_expect(value, str, where))


def _encode_timedelta(delta: Any, where: str) -> list[int]:
    if type(delta) is not timedelta:
        raise _refuse(where, delta, "expected a timedelta")
    return [delta.days, delta.seconds, delta.microseconds]


def _decode_timedelta(value: Any, where: str) -> timedelta:
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"{where}: not a duration: {value!r}")
    days, seconds, microseconds = (_expect(part, int, where) for part in value)
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _encode_number(number: Any, where: str) -> Any:
    if type(number) not in (int, float):
        raise _refuse(where, number, "expected a number")
    return _plain(number, where)


def _decode_number(value: Any, where: str) -> Any:
    return _expect(value, (int, float), where)


def _encode_ints(values: Any, where: str) -> list[int]:
    if type(values) not in (list, tuple) or any(type(value) is not int for value in values):
        raise _refuse(where, values, "expected a list of integers")
    return list(values)


def _decode_ints(value: Any, where: str) -> list[int]:
    return [_expect(item, int, where) for item in _expect(value, list, where)]


def _encode_cron_fields(fields: Any, where: str) -> list[dict[str, Any]]:
    """The fields of a cron trigger as their expressions, which rebuild them."""
    fields_map = _trigger_classes()["cron"].FIELDS_MAP
    encoded = []
    for index, cron_field in enumerate(fields):
        name = getattr(cron_field, "name", None)
        if fields_map.get(name) is not type(cron_field):
            raise _refuse(f"{where}[{index}]", cron_field, "not a built-in cron field")
        encoded.append(
            {"name": name, "expression": str(cron_field), "is_default": cron_field.is_default}
        )
    return encoded


def _decode_cron_fields(value: Any, where: str) -> list[Any]:
    fields_map = _trigger_classes()["cron"].FIELDS_MAP
    fields = []
    for item in _expect(value, list, where):
        name = _expect(item.get("name"), str, where)
        if name not in fields_map:
            raise ValueError(f"{where}: unknown cron field {name!r}")
        expression = _expect(item.get("expression"), str, where)
        is_default = _expect(item.get("is_default"), bool, where)
        fields.append(fields_map[name](name, expression, is_default))
    return fields


def _encode_subtriggers(pairs: Any, where: str) -> list[dict[str, Any]]:
    """The ``(class reference, state)`` pairs of a combining trigger, each encoded by name."""
    from apscheduler.util import obj_to_ref

    names_by_ref = {obj_to_ref(cls): name for name, cls in _trigger_classes().items()}
    encoded = []
    for index, (class_ref, state) in enumerate(pairs):
        ref = class_ref if isinstance(class_ref, str) else obj_to_ref(class_ref)
        name = names_by_ref.get(ref)
        if name is None:
            raise _refuse(
                f"{where}[{index}]", class_ref, f"only {_BUILT_IN_TRIGGERS} triggers can be"
            )
        encoded.append(_encode_trigger_state(name, state, f"{where}[{index}]"))
    return encoded


def _decode_subtriggers(value: Any, where: str) -> list[tuple[Any, dict[str, Any]]]:
    pairs = []
    for index, item in enumerate(_expect(value, list, where)):
        cls, state = _decode_trigger_state(item, f"{where}[{index}]")
        # the class itself, not a reference: nothing is looked up by name
        pairs.append((cls, state))
    return pairs


_ZONE = _Codec(_encode_zone, _decode_zone)
_DATETIME = _Codec(_encode_datetime, _decode_datetime)
_DATE = _Codec(_encode_date, _decode_date)
_TIMEDELTA = _Codec(_encode_timedelta, _decode_timedelta)
_NUMBER = _Codec(_encode_number, _decode_number)
_INTS = _Codec(_encode_ints, _decode_ints)


def _encode_int(value: Any, where: str) -> int:
    if type(value) is not int:
        raise _refuse(where, value, "expected an integer")
    return value


_INT = _Codec(_encode_int, lambda value, where: _expect(value, int, where))
_CRON_FIELDS = _Codec(_encode_cron_fields, _decode_cron_fields)
_SUBTRIGGERS = _Codec(_encode_subtriggers, _decode_subtriggers)

#: the state keys of each built-in trigger, and the JSON form of each key's value
_TRIGGER_STATES: dict[str, dict[str, _Codec]] = {
    "date": {"version": _INT, "run_date": _DATETIME},
    "interval": {
        "version": _INT,
        "timezone": _ZONE,
        "start_date": _optional(_DATETIME),
        "end_date": _optional(_DATETIME),
        "interval": _TIMEDELTA,
        "jitter": _optional(_NUMBER),
    },
    "cron": {
        "version": _INT,
        "timezone": _ZONE,
        "start_date": _optional(_DATETIME),
        "end_date": _optional(_DATETIME),
        "fields": _CRON_FIELDS,
        "jitter": _optional(_NUMBER),
    },
    "calendarinterval": {
        "version": _INT,
        "interval": _INTS,
        "time": _INTS,
        "timezone": _ZONE,
        "start_date": _DATE,
        "end_date": _optional(_DATE),
        "jitter": _optional(_NUMBER),
    },
    "and": {"version": _INT, "jitter": _optional(_NUMBER), "triggers": _SUBTRIGGERS},
    "or": {"version": _INT, "jitter": _optional(_NUMBER), "triggers": _SUBTRIGGERS},
}
_BUILT_IN_TRIGGERS = "/".join(_TRIGGER_STATES)


def _trigger_classes() -> dict[str, Any]:
    """The fixed table of trigger classes a JSON record may name (imported when first used)."""
    from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
    from apscheduler.triggers.combining import AndTrigger, OrTrigger
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    return {
        "date": DateTrigger,
        "interval": IntervalTrigger,
        "cron": CronTrigger,
        "calendarinterval": CalendarIntervalTrigger,
        "and": AndTrigger,
        "or": OrTrigger,
    }


def _encode_trigger_state(name: str, state: Any, where: str) -> dict[str, Any]:
    codecs = _TRIGGER_STATES[name]
    if not isinstance(state, dict):
        raise _refuse(where, state, "a trigger state must be a dict")
    unknown = set(state) - set(codecs)
    if unknown:
        raise _refuse(where, state, f"unknown state keys {sorted(unknown)}")
    encoded = {key: codecs[key].encode(value, f"{where}.{key}") for key, value in state.items()}
    return {"type": name, "state": encoded}


def _decode_trigger_state(value: Any, where: str) -> tuple[Any, dict[str, Any]]:
    if not isinstance(value, dict) or set(value) != {"type", "state"}:
        raise ValueError(f"{where}: not a trigger: {value!r}")
    name = value["type"]
    codecs = _TRIGGER_STATES.get(name) if isinstance(name, str) else None
    if codecs is None:
        raise ValueError(
            f"{where}: unknown trigger type {name!r} (JSON records may hold only the "
            f"built-in triggers: {_BUILT_IN_TRIGGERS})"
        )
    encoded = _expect(value["state"], dict, where)
    unknown = set(encoded) - set(codecs)
    if unknown:
        raise ValueError(f"{where}: unknown state keys {sorted(unknown)} of a {name} trigger")
    state = {key: codecs[key].decode(item, f"{where}.{key}") for key, item in encoded.items()}
    return _trigger_classes()[name], state


def encode_trigger(trigger: Any, where: str = "trigger") -> dict[str, Any]:
    """The JSON form of a built-in trigger: its type name and its encoded state."""
    for name, cls in _trigger_classes().items():
        if type(trigger) is cls:
            return _encode_trigger_state(name, trigger.__getstate__(), where)
    raise _refuse(where, trigger, f"only the built-in triggers ({_BUILT_IN_TRIGGERS}) can be")


def decode_trigger(value: Any, where: str = "trigger") -> Any:
    """Rebuild a trigger from its JSON form; runs no code but the trigger class's own."""
    cls, state = _decode_trigger_state(value, where)
    trigger = cls.__new__(cls)
    trigger.__setstate__(state)
    return trigger


# --- JSON: job states --------------------------------------------------------------------------


def _encode_args(args: Any, where: str) -> list[Any]:
    if type(args) not in (list, tuple):
        raise _refuse(where, args, "expected the positional arguments")
    return [_plain(arg, f"{where}[{index}]") for index, arg in enumerate(args)]


def _encode_kwargs(kwargs: Any, where: str) -> dict[str, Any]:
    result: dict[str, Any] = _plain(dict(kwargs), where)
    return result


def _plain_of(kinds: tuple[type, ...]) -> _Codec:
    def encode(value: Any, where: str) -> Any:
        if type(value) not in kinds:
            names = ", ".join(kind.__name__ for kind in kinds)
            raise _refuse(where, value, f"expected one of {names}")
        return _plain(value, where)

    return _Codec(encode, lambda value, where: _expect(value, kinds, where))


_TEXT = _plain_of((str,))
_NONE = type(None)
#: the keys of a job's state, and the JSON form of each
_JOB_STATE: dict[str, _Codec] = {
    "version": _INT,
    "id": _TEXT,
    "func": _TEXT,
    "trigger": _Codec(encode_trigger, decode_trigger),
    "executor": _TEXT,
    "args": _Codec(_encode_args, lambda value, where: tuple(_expect(value, list, where))),
    "kwargs": _Codec(_encode_kwargs, lambda value, where: _expect(value, dict, where)),
    "name": _plain_of((str, _NONE)),
    "misfire_grace_time": _plain_of((int, float, _NONE)),
    "coalesce": _plain_of((bool,)),
    "max_instances": _INT,
    "next_run_time": _optional(_DATETIME),
    "run_control": _Codec(_plain, lambda value, where: _expect(value, dict, where)),
}


def encode_job_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """
    The JSON form of a :meth:`Job.__getstate__` dict.

    :raises NotJSONSerializableError: naming the first value JSON cannot hold
    """
    unknown = set(state) - set(_JOB_STATE)
    if unknown:
        raise NotJSONSerializableError(f"the job state has unknown keys {sorted(unknown)}")
    return {key: _JOB_STATE[key].encode(value, key) for key, value in state.items()}


def decode_job_state(encoded: Any) -> dict[str, Any]:
    """Rebuild a :meth:`Job.__getstate__` dict (trigger included) from its JSON form."""
    encoded = _expect(encoded, dict, "job")
    unknown = set(encoded) - set(_JOB_STATE)
    if unknown:
        raise ValueError(f"the stored job has unknown keys {sorted(unknown)}")
    return {key: _JOB_STATE[key].decode(value, key) for key, value in encoded.items()}


def json_dumps(document: Mapping[str, Any]) -> bytes:
    """
    A JSON record of a job state, or of a ``{"next_run_time", "job_state"}`` wrapper of one.

    :raises NotJSONSerializableError: naming the first value JSON cannot hold
    """
    record: dict[str, Any] = {JSON_FORMAT_KEY: JSON_FORMAT_VERSION}
    if "job_state" in document:
        record["next_run_time"] = _plain_of((int, float, _NONE)).encode(
            document["next_run_time"], "next_run_time"
        )
        record["job"] = encode_job_state(document["job_state"])
    else:
        record["job"] = encode_job_state(document)
    import json

    return json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_loads(data: bytes) -> dict[str, Any]:
    """The job state (or the wrapper of one) of a JSON record."""
    import json

    record = json.loads(data)
    if not isinstance(record, dict) or record.get(JSON_FORMAT_KEY) != JSON_FORMAT_VERSION:
        raise ValueError("the stored JSON is not a job record of a known version")
    state = decode_job_state(record.get("job"))
    if "next_run_time" in record:
        run_time = record["next_run_time"]
        _expect(run_time, (int, float, _NONE), "next_run_time")
        return {"next_run_time": run_time, "job_state": state}
    return state


# --- migrating a store -------------------------------------------------------------------------


@dataclass
class MigrationResult:
    """What :func:`migrate` did."""

    #: the ids of the jobs rewritten in the new format
    migrated: list[str]
    #: the stored jobs that could not be read, left as they are, with the reasons
    unloadable: list[UnloadableJob]


def migrate(
    store_or_config: BaseJobStore | Mapping[str, Any],
    to: str,
    *,
    pickle_secret: bytes | str | None = None,
) -> MigrationResult:
    """
    Rewrite every job of a persistent store as JSON, as signed pickles or as plain pickles.

    The jobs are read as a plain pickle store reads them (pickles run as they are unpickled:
    migrate only a store whose contents you trust), then written back in the format ``to``.
    Afterwards, give the store the matching options (``serializer="json"``, or
    ``pickle_secret``) in every scheduler that uses it. Jobs that cannot be read are left
    untouched and reported.

    :param store_or_config: a job store, or its configuration as a scheduler takes it (such as
        ``{"type": "sqlalchemy", "url": "sqlite:///jobs.sqlite"}``)
    :param to: ``"json"``, ``"signed"`` or ``"pickle"``
    :param pickle_secret: the secret to sign with (``to="signed"``), as bytes or the name of an
        environment variable; defaults to the store's own ``pickle_secret``
    :raises ValueError: for an unknown ``to``, a signed target without a secret, or a job that
        JSON cannot hold (nothing after it is written; run again once it is fixed)
    """
    from apscheduler.jobstores._persistent import PersistentJobStore

    if isinstance(store_or_config, PersistentJobStore) and store_or_config._alias is not None:
        # a store already started, by a scheduler or a client
        return _rewrite(store_or_config, _target_serializer(store_or_config, to, pickle_secret))

    from apscheduler.client import SchedulerClient

    client = SchedulerClient(jobstores={"migrated": store_or_config})
    try:
        store = client.store("migrated")
        if not isinstance(store, PersistentJobStore):
            raise TypeError(f"{store!r} does not serialize its jobs: there is nothing to migrate")
        return _rewrite(store, _target_serializer(store, to, pickle_secret))
    finally:
        client.close()


def _target_serializer(store: Any, to: str, pickle_secret: bytes | str | None) -> Serializer:
    secret = resolve_secret(pickle_secret) or getattr(store._serializer, "secret", None)
    if to == "json":
        return JSONSerializer(secret)
    if to == "signed":
        if secret is None:
            raise ValueError("migrating to signed pickles needs a pickle_secret")
        return SignedPickleSerializer(secret, store.pickle_protocol)
    if to == "pickle":
        return PickleSerializer(store.pickle_protocol)
    raise ValueError(f"to must be 'json', 'signed' or 'pickle', got {to!r}")


def _rewrite(store: Any, target: Serializer) -> MigrationResult:
    own = store._serializer
    try:
        store._serializer = PickleSerializer(store.pickle_protocol)
        jobs = store.get_all_jobs()
        unloadable = store.get_unloadable_jobs()
        store._serializer = target
        for job in jobs:
            try:
                store.update_job(job)
            except TypeError as exc:
                raise ValueError(f"job {job.id!r} cannot be migrated: {exc}") from exc
    finally:
        store._serializer = own
    return MigrationResult([job.id for job in jobs], unloadable)


__all__ = [
    "JSONSerializer",
    "MigrationResult",
    "NotJSONSerializableError",
    "PickleSerializer",
    "SIGNED_PREFIX",
    "Serializer",
    "SignedPickleSerializer",
    "UntrustedJobError",
    "make_serializer",
    "migrate",
]
