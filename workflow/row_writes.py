"""One table statement for what a command changed on a loaded object, instead of the ORM's flush.

A command changes a few columns of its process instance and of its dossier. The unit of work
would find them at commit through its whole flush machinery; here the changed columns are read
from the object's own history, written with one UPDATE, and marked committed on the object, so
that the flush at commit has nothing left to do for it. The instance keeps its optimistic lock:
the UPDATE names the version it was loaded at, and a row another command moved meanwhile is a
StaleDataError, exactly as the ORM would raise it.

Statements are built once per set of changed columns and run with bound parameters: building a
statement costs SQLAlchemy several times what running a built one does.
"""
from __future__ import annotations

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm.attributes import get_history, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from models import db
from models.kept import kept


def write_changes(obj, bump_version: bool = False, deferred: dict | None = None) -> None:
    """Write the object's changed columns now (with its version check and bump when `bump_version`); with
    `deferred` (a dict the caller writes out with write_deferred before its commit), gather them there instead."""
    state = inspect(obj)
    mapper = state.mapper
    values, only_columns = {}, True
    for key in list(state.committed_state):  # the attributes set since the object was loaded
        prop = mapper.attrs.get(key)
        if prop is None or not hasattr(prop, "columns"):
            only_columns = False  # a relationship: left to the flush at commit
            continue
        history = get_history(obj, key)
        if history.added and (not history.deleted or history.added[0] != history.deleted[0]):
            values[prop.columns[0].key] = history.added[0]
    version_column = mapper.version_id_col if bump_version else None
    if version_column is None and not values:
        _clean(state, only_columns)
        return
    primary_key = mapper.primary_key[0]
    params = {"_pk": getattr(obj, mapper.get_property_by_column(primary_key).key)}
    if version_column is not None:
        params["_version"] = getattr(obj, mapper.get_property_by_column(version_column).key)
        values[version_column.key] = params["_version"] + 1
    if deferred is not None:
        # The first deferral keeps the version the row holds; later ones only add and replace values.
        entry = deferred.setdefault(id(obj), (obj, mapper, {k: v for k, v in params.items() if k != "_version"},
                                              params.get("_version")))
        entry[2].update(values)
    else:
        params.update(values)
        _write(mapper, params, version_column is not None)
    for column_key, value in values.items():
        set_committed_value(obj, mapper.get_property_by_column(mapper.local_table.c[column_key]).key, value)
    _clean(state, only_columns)


def write_deferred(deferred: dict) -> None:
    """Write what write_changes gathered in `deferred`: one UPDATE per object, whatever the number of commands."""
    for obj, mapper, params, version in deferred.values():
        values = {key: value for key, value in params.items() if key != "_pk"}
        if version is not None:
            params = dict(params, _version=version)
        if values or version is not None:
            _write(mapper, params, version is not None, columns=tuple(sorted(values)))
    deferred.clear()


def _write(mapper, params: dict, versioned: bool, columns: tuple | None = None) -> None:
    columns = columns if columns is not None else tuple(sorted(k for k in params if k not in ("_pk", "_version")))
    result = db.session.execute(_statement(mapper, columns, versioned), params)
    if result.rowcount != 1:
        raise StaleDataError(f"{mapper.local_table.name} {params['_pk']} was changed by another command")


def _clean(state, only_columns: bool) -> None:
    """Mark the object unmodified: attributes set to the value they had are no change either, and an
    object left "modified" would make the commit run the whole flush to find nothing to write.
    (`_commit_all` is what SQLAlchemy itself runs on an object after flushing it; pinned in pyproject.)"""
    if only_columns and state.modified:
        state._commit_all(state.dict, state.session.identity_map if state.session else None)


def _statement(mapper, columns: tuple, versioned: bool):
    """UPDATE of these columns by primary key (and version), built once (models/kept.py)."""
    def build():
        table = mapper.local_table
        statement = update(table).where(table.c[mapper.primary_key[0].key] == bindparam("_pk"))
        if versioned:
            statement = statement.where(table.c[mapper.version_id_col.key] == bindparam("_version"))
        return statement.values({name: bindparam(name) for name in columns})
    return kept(("row_writes", mapper.local_table.name, columns, versioned), build)
