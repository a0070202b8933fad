"""One error family for everything a user can get wrong, each able to say where.

Every user-caused problem is a :class:`ConvcalcError`; it renders as one line in the style of
compilers and linters: ``file:line:col: error: message (hint: ...)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1  # `check`: valid input, but an expectation or budget failed
    INVALID = 2  # bad YAML, unknown op or key, impossible shape, bad option


@dataclass(frozen=True)
class Loc:
    """A place in a file; line and col are 1-based (what editors and GitHub show); line 0
    means the file as a whole (missing, unreadable)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line > 0 else self.file


class ConvcalcError(Exception):
    """A user's mistake. ``key`` names the offending parameter so callers can point at it."""

    def __init__(self, message: str, *, loc: Loc | None = None, hint: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint
        self.key = key

    def at(self, loc: Loc | None) -> "ConvcalcError":
        """Attach a location unless a more precise one is already known."""
        if self.loc is None and loc is not None:
            self.loc = loc
        return self

    def prefixed(self, context: str) -> "ConvcalcError":
        """Add what was being computed in front of the message (einops style)."""
        self.message = f"{context}: {self.message}"
        return self

    def line(self) -> str:
        head = f"{self.loc}: " if self.loc else ""
        tail = f" (hint: {self.hint})" if self.hint else ""
        return printable(f"{head}error: {self.message}{tail}")

    def __str__(self) -> str:
        return self.line()


class SpecError(ConvcalcError):
    """The description is malformed: unknown op or key, wrong type, bad value."""


class ShapeError(ConvcalcError):
    """The description is well formed but impossible: sizes that do not fit."""


def did_you_mean(word: str, choices) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


MAX_LINE = 1000  # characters in one diagnostic; a 100,000-character key is cut short


def printable(text: str) -> str:
    """One line, whatever a file contains: newlines and other control characters quoted in
    user text (a key ``"\\n"``, a terminal escape ``"\\x1b[2J"``) are shown escaped, so a
    diagnostic stays one line and cannot rewrite the terminal or a CI log; and a short one,
    however long the name a hostile file used."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(text) > MAX_LINE:
        text = f"{text[:MAX_LINE]}… ({len(text) - MAX_LINE:,} more characters)"
    return text
