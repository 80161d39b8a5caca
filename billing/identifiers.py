"""The one identifier rule, for the contracts, the catalog and the repositories alike.

Ids are 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit: 64 is the
width of the database's id columns, so an id the edge accepts is one the database can store.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 64
ID_RULE = (
    f"1-{MAX_ID_LENGTH} letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
)
_IDENTIFIER = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_ID_LENGTH - 1}}}")


def is_identifier(value: object) -> bool:
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None
