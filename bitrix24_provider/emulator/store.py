"""The emulated portal's data: deterministic seeded tables with on-demand rows.

A table keeps only its sorted live ids (``array('q')``, 8 bytes per row), a dict of full rows
added through the API, a dict of field overrides for updated rows and the set of deleted seeded
ids. Every other value is generated from (seed, entity, field, id) when asked for, so a
1,000,000-row table is built in well under a second. Values are canonical (see :mod:`.values`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .fields import ITEM_TYPES, SCHEMAS, Schema
from .generators import AUDIT, build_gens
from .generators_other import SHARED_FOLDER_ID
from .rules import defaults, derive
from .seeding import Gen, Kit, Many, Mapped, mix64, salt, seed_ids, step_after

if TYPE_CHECKING:
    from .config import EmulatorConfig

#: Store entity names (crm.item entityTypeId 1032 rows are ``item``); a table may link to the ones
#: before it (disk objects live in the first storage).
ENTITIES = (
    "user", "company", "contact", "lead", "deal", "item", "task",
    "department", "list_element", "storage", "disk_object", "product",
)  # fmt: skip
#: How many field columns a table keeps for scans (each holds one value per row).
MAX_COLUMNS = 4
_COUNT_SETTINGS = {
    "user": "users",
    "company": "companies",
    "contact": "contacts",
    "lead": "leads",
    "deal": "deals",
    "item": "items",
    "task": "tasks",
    "department": "departments",
    "list_element": "list_elements",
    "storage": "storages",
    "disk_object": "disk_objects",
    "product": "products",
}

_ALIASES = {
    **{plural: entity for entity, plural in _COUNT_SETTINGS.items()},
    **{f"crm.{e}": e for e in ("deal", "lead", "contact", "company", "item")},
    "tasks.task": "task",
    "lists.element": "list_element",
    "catalog.product": "product",
}


def _first_id(seed: int, entity: str) -> int:
    if entity in ("user", "department"):  # the webhook's user; the company department
        return 1
    after = SHARED_FOLDER_ID if entity == "disk_object" else 0  # the folder they live in
    return after + 1 + mix64(salt(seed, entity, "first")) % 9


class Table:
    """One entity's rows."""

    def __init__(
        self,
        entity: str,
        schema: Schema,
        ids: array[int],
        gens: dict[str, Gen],
        many: dict[str, Many],
        mapped: dict[str, Mapped],
        seed: int,
    ) -> None:
        self.entity = entity
        self.schema = schema
        #: Live ids, ascending. Read it, never change it from outside.
        self.ids = ids
        #: Bumped on every write (lets callers cache derived data).
        self.version = 0
        self._gens = gens
        self._many = many
        self._mapped = mapped
        #: Data callers derive from the generators alone (never from writes), e.g. rendered columns.
        self.derived: dict[Any, Any] = {}
        self._seed = seed
        self._added: dict[int, dict[str, Any]] = {}
        self._overrides: dict[int, dict[str, Any]] = {}
        self._deleted: set[int] = set()
        #: deleted rows as they were (the recycle bin): (added row or None, overrides or None)
        self._bin: dict[int, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
        self._last_id = ids[-1] if ids else 0
        self._columns: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def exists(self, rid: int) -> bool:
        i = bisect_left(self.ids, rid)
        return i < len(self.ids) and self.ids[i] == rid

    def value(self, rid: int, code: str) -> Any:
        """The canonical value of one field of an existing row."""
        row = self._added.get(rid)
        if row is not None:
            return row.get(code)
        over = self._overrides.get(rid)
        if over is not None and code in over:
            return over[code]
        return self._gens[code](rid)

    def values(self, rid: int, codes: Sequence[str]) -> list[Any]:
        """Several fields of one row at once (the hot path of list pages)."""
        row = self._added.get(rid)
        if row is not None:
            return [row.get(code) for code in codes]
        gens, over = self._gens, self._overrides.get(rid)
        if over is None:
            return [gens[code](rid) for code in codes]
        return [over[code] if code in over else gens[code](rid) for code in codes]

    def columns(self, rids: Sequence[int], codes: Sequence[str]) -> list[list[Any]]:
        """Several fields of many existing rows, one list per field aligned with ``rids`` (the hot
        path of list pages): what :meth:`values` gives row by row."""
        rids = tuple(rids)  # generators share base columns between fields for a tuple (read-only)
        cols = [self._many[code](rids) for code in codes]
        added, overrides = self._added, self._overrides
        if (added or overrides) and any(rid in added or rid in overrides for rid in rids):
            cols = [list(col) for col in cols]
            for i, rid in enumerate(rids):
                row = added.get(rid)
                if row is not None:
                    for col, code in zip(cols, codes, strict=True):
                        col[i] = row.get(code)
                    continue
                over = overrides.get(rid)
                if over is not None:
                    for col, code in zip(cols, codes, strict=True):
                        if code in over:
                            col[i] = over[code]
        return cols

    def touched(self, rids: Sequence[int]) -> bool:
        """Whether any of ``rids`` was added or updated through the API (its values are not the
        generators' any more)."""
        added, overrides = self._added, self._overrides
        return bool(added or overrides) and any(rid in added or rid in overrides for rid in rids)

    def generated(self, code: str) -> Many:
        """The generator's column form for ``code``: writes are not applied (see :meth:`touched`)."""
        return self._many[code]

    def generated_as(self, code: str, fn: Callable[[Any], Any]) -> Many | None:
        """:meth:`generated` with ``fn`` applied to each value, ``fn`` called once per distinct value;
        only for fields drawn from a few values (None for the others)."""
        mapper = self._mapped.get(code)
        return None if mapper is None else mapper(fn)

    def column(self, code: str) -> list[Any]:
        """All values of one field, aligned with :attr:`ids`; cached (a few fields) and kept
        current on writes, so repeated scans of big tables are list lookups."""
        col = self._columns.pop(code, None)
        if col is None:
            col = self._many[code](self.ids)
            for rid, row in self._added.items():
                col[self._index(rid)] = row.get(code)
            for rid, over in self._overrides.items():
                if code in over:
                    col[self._index(rid)] = over[code]
            if len(self._columns) >= MAX_COLUMNS:
                del self._columns[next(iter(self._columns))]
        self._columns[code] = col
        return col

    def cached(self, code: str) -> bool:
        return code in self._columns

    def _index(self, rid: int) -> int:
        return bisect_left(self.ids, rid)

    def row(self, rid: int, codes: Iterable[str] | None = None) -> dict[str, Any]:
        """Canonical values of a row (all fields by default)."""
        names = [f.code for f in self.schema.fields] if codes is None else codes
        return {code: self.value(rid, code) for code in names}

    def add(self, values: Mapping[str, Any], now: int, user: int) -> int:
        """Insert a row (values canonical, read-only fields already dropped); returns its id."""
        rid = step_after(self._seed, self.entity, self._last_id)
        created, modified, created_by, modified_by = AUDIT[self.entity]
        row: dict[str, Any] = {f.code: [] if f.multiple else None for f in self.schema.fields}
        row |= {f.code: False for f in self.schema.fields if f.uf and f.type == "boolean"}
        row |= defaults(self.entity, rid, now, user)
        row |= {"ID": rid, created: now, modified: now}
        for code in (created_by, modified_by):
            if code:
                row[code] = user
        row |= values
        row |= derive(self.entity, lambda code: None, row, now, user, rid)
        self._added[rid] = row
        self._last_id = rid
        self.ids.append(rid)
        for code, col in self._columns.items():
            col.append(row.get(code))
        self.version += 1
        return rid

    def update(self, rid: int, values: Mapping[str, Any], now: int, user: int, *, touch: bool = True) -> bool:
        """Change fields of an existing row and move its modification time to ``now``.

        Returns whether anything was written; with ``touch=False`` an update that changes no
        value is skipped (crm.item), otherwise the modification time moves anyway (classic CRM).
        """
        changes = {code: v for code, v in values.items() if self.value(rid, code) != v}
        if not changes and not touch:
            return False
        changes |= derive(self.entity, lambda code: self.value(rid, code), changes, now, user, rid)
        _, modified, _, modified_by = AUDIT[self.entity]
        changes[modified] = now
        if modified_by:
            changes[modified_by] = user
        target = self._added.get(rid)
        if target is None:
            target = self._overrides.setdefault(rid, {})
        target |= changes
        if self._columns:
            i = self._index(rid)
            for code, col in self._columns.items():
                if code in changes:
                    col[i] = changes[code]
        self.version += 1
        return True

    def delete(self, rid: int) -> None:
        i = bisect_left(self.ids, rid)
        if i == len(self.ids) or self.ids[i] != rid:
            raise KeyError(rid)
        del self.ids[i]
        for col in self._columns.values():
            del col[i]
        added = self._added.pop(rid, None)
        if added is None:
            self._deleted.add(rid)
        self._bin[rid] = (added, self._overrides.pop(rid, None))
        self.version += 1

    def restore(self, rid: int) -> None:
        """Bring a deleted row back from the recycle bin with its id and its values as they were
        (its modification time included). KeyError when *rid* was not deleted."""
        added, over = self._bin.pop(rid)
        self.ids.insert(bisect_left(self.ids, rid), rid)
        self._columns.clear()
        if added is not None:
            self._added[rid] = added
        else:
            self._deleted.discard(rid)
        if over is not None:
            self._overrides[rid] = over
        self.version += 1

    @property
    def deleted(self) -> frozenset[int]:
        """Seeded ids deleted through the API."""
        return frozenset(self._deleted)


class Store:
    """All tables of one emulated portal."""

    def __init__(self, seed: int = 42, counts: Mapping[str, int] | None = None) -> None:
        self.seed = seed
        wanted = {e: 0 for e in ENTITIES} | dict(counts or {})
        wanted["user"] = max(1, wanted["user"])
        unknown = set(wanted) - set(ENTITIES)
        if unknown:
            raise ValueError(f"unknown entities {sorted(unknown)}")
        #: The seeded ids, never changed (links of generated rows point into them).
        self._seeded = {e: seed_ids(seed, e, wanted[e], _first_id(seed, e)) for e in ENTITIES}
        self.tables: dict[str, Table] = {}
        for entity in ENTITIES:
            ids = self._seeded[entity]
            kit = Kit(seed, entity, ids)
            gens = build_gens(entity, kit, self._seeded)
            many = {code: kit.many(gen) for code, gen in gens.items()}
            mapped = {code: m for code, gen in gens.items() if (m := kit.mapper(gen)) is not None}
            self.tables[entity] = Table(entity, SCHEMAS[entity], array("q", ids), gens, many, mapped, seed)

    @classmethod
    def seeded(cls, config: EmulatorConfig) -> Store:
        """The store an :class:`~.config.EmulatorConfig` describes (seed and entity counts)."""
        return cls(config.seed, {e: int(getattr(config, name)) for e, name in _COUNT_SETTINGS.items()})

    def table(self, entity: str) -> Table:
        """``deal``, ``lead``, ``contact``, ``company``, ``item`` (smart process 1032), ``task`` or ``user``.

        Also accepted: plurals (``deals``, ``companies``), a ``crm.`` prefix (``crm.deal``, ``crm.item``)
        and ``tasks.task``. Raises KeyError for anything else.
        """
        name = entity.strip().lower()
        name = _ALIASES.get(name, name)
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}") from None

    def item_table(self, entity_type_id: int) -> Table | None:
        """The table behind a crm.item ``entityTypeId`` (1 lead, 2 deal, 3 contact, 4 company, 1032)."""
        entity = ITEM_TYPES.get(entity_type_id)
        return None if entity is None else self.tables[entity]

    def seeded_ids(self, entity: str) -> list[int]:
        """Ids of the entity's rows as they exist now: the seeded ids minus deleted plus added ones
        (what ``/_emulator/ids/<entity>`` reports). Raises KeyError for an unknown entity."""
        return self.table(entity).ids.tolist()

    ids = seeded_ids

    def original_ids(self, entity: str) -> list[int]:
        """The ids the seed generated, regardless of later writes."""
        return self._seeded[self.table(entity).entity].tolist()

    def counts(self) -> dict[str, int]:
        return {entity: len(table) for entity, table in self.tables.items()}
