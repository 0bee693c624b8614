"""Safe SQL identifiers: table and schema names are checked, every identifier is quoted."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import InvalidIdentifierError, StagingConfigError

#: PostgreSQL truncates longer identifiers silently; SQLite has no limit, we use the stricter one.
MAX_IDENTIFIER = 63
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_simple(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_IDENTIFIER and _SIMPLE.fullmatch(name) is not None


def check_identifier(name: object, argument: str) -> str:
    """*name* if it is a simple identifier, else :class:`InvalidIdentifierError` naming *argument*."""
    if not is_simple(name):
        raise InvalidIdentifierError(argument, name)
    return str(name)


def quote(name: str) -> str:
    """Quote an identifier (a column name from the portal may be anything; table names are checked)."""
    if not name or "\x00" in name or len(name) > MAX_IDENTIFIER:
        raise StagingConfigError(f"cannot use {name!r} as a column name (empty, NUL or over 63 characters)")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableName:
    """A table, optionally in a schema (PostgreSQL) or attached database (SQLite)."""

    name: str
    schema: str | None = None

    @classmethod
    def checked(cls, name: object, schema: object = None) -> TableName:
        table = check_identifier(name, "target_table")
        return cls(table, None if schema in (None, "") else check_identifier(schema, "target_schema"))

    @property
    def sql(self) -> str:
        """The quoted, qualified name for SQL text."""
        return f"{quote(self.schema)}.{quote(self.name)}" if self.schema else quote(self.name)

    @property
    def label(self) -> str:
        """The unquoted qualified name for messages, state rows and XCom."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def sibling(self, name: str) -> TableName:
        """Another table in the same schema (a rename cannot move a table between schemas)."""
        return TableName(check_identifier(name, "table name"), self.schema)


def staging_name(target: str, token: str) -> str:
    """``_b24stg_<target prefix>_<10 hex>``: unique per load, at most 63 characters."""
    digest = hashlib.sha256(f"{target}/{token}".encode()).hexdigest()[:10]
    prefix = "_b24stg_"
    room = MAX_IDENTIFIER - len(prefix) - 1 - len(digest)
    return f"{prefix}{target[:room]}_{digest}"
