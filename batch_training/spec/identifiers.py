"""SQL identifiers that come from a spec: validated here, quoted where SQL is built.

A spec is configuration, and configuration is input: a table or column name such as
``flights; DROP TABLE x`` must never reach a query. Only plain identifiers are allowed
(optionally schema-qualified for tables), and they are always double-quoted when used.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise ValueError saying why."""
    if not isinstance(name, str) or not _PLAIN.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} is not a plain SQL identifier "
            "(letters, digits and underscores, starting with a letter or underscore, at most 63 characters)"
        )
    return name


def check_table_name(name: str) -> str:
    """A table name: ``table`` or ``schema.table``, each part a plain identifier."""
    parts = name.split(".") if isinstance(name, str) else [name]
    if len(parts) > 2:
        raise ValueError(f"table name {name!r} has more than one dot (expected table or schema.table)")
    for part in parts:
        check_identifier(part, "table name part")
    return name


def quote_identifier(name: str) -> str:
    """Double-quote a validated identifier (``schema.table`` quotes each part)."""
    parts = name.split(".")
    for part in parts:
        check_identifier(part)
    return ".".join(f'"{part}"' for part in parts)
