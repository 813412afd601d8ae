"""The keyset pages of the admin lists: newest first, cut on the id (no OFFSET: a deep page
costs what the first does)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_before: int | None  # keyset cursor: the smallest id shown, when there is an older page


def cut(rows: Sequence[Any], limit: int, id_of: Callable[[Any], int]) -> Page:
    """`rows`: up to limit + 1 of them, newest first; the extra one only says there is more."""
    shown = list(rows[:limit])
    return Page(shown, id_of(shown[-1]) if len(rows) > limit and shown else None)
