"""Parsers that turn an interaction file into :class:`Interactions`.

Supported formats (``fmt=`` values; see :func:`detect_format` for auto-detection):

- ``"inter"``: RecBole atomic file, tab-separated, header ``user_id:token<TAB>item_id:token...``;
  columns are found by name, extra columns are ignored.
- ``"udata"``: GroupLens ML-100K ``u.data``: ``user<TAB>item<TAB>rating<TAB>timestamp``.
- ``"ratings_dat"``: GroupLens ML-1M/10M ``ratings.dat``: ``user::item::rating::timestamp``.
- ``"lastfm"``: HetRec Lastfm-2K ``user_artists.dat``: ``userID<TAB>artistID<TAB>weight`` with a
  header; the weight becomes the rating, there is no timestamp.
- ``"csv"``: ``user,item[,rating[,timestamp]]``, with or without a header line.

Ids are re-indexed to ``0..n-1`` in sorted order of the original ids, where ids that all end in
an integer (``"196"``, ``"1m_196"``) sort by their prefix, then numerically (so GroupLens id 1
becomes 0), and any other ids (e.g. movie titles) sort as strings. The result does not depend on
the order of the lines.

The fast path parses the whole file with a few C-level string operations; only when it fails
does a slow path walk the lines to report the first bad one, so every error names the file and
its 1-based line number.
"""
from __future__ import annotations

import csv
import gc
import re
from contextlib import contextmanager
from itertools import repeat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, Path]

FORMATS = ("inter", "udata", "ratings_dat", "lastfm", "csv")

# Column roles every reader maps its columns onto.
USER, ITEM, RATING, TIMESTAMP = "user", "item", "rating", "timestamp"


class DataError(ValueError):
    """A data set could not be found, fetched or parsed; the message says where and why."""


@dataclass(frozen=True, eq=False)
class Interactions:
    """A log of user-item interactions, one row per line of the source, in file order.

    Attributes:
        users: int64 [n], user index in ``0..n_users-1``.
        items: int64 [n], item index in ``0..n_items-1``.
        ratings: float32 [n], the source's rating or weight (1.0 where it has none).
        timestamps: int64 [n], the source's timestamp (0 where it has none); rows with equal
            timestamps keep their file order, which later code uses to break ties.
        n_users: number of users.
        n_items: number of items.
        name: ``"ml-100k"``, ``"ml-1m"``, ``"synthetic"``, or the source file's stem.
        synthetic: True for generated data; results on it must be labelled as such.
        source: where the data came from (a path, or a description of the generator).
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    n_users: int
    n_items: int
    name: str
    synthetic: bool
    source: str

    def __post_init__(self) -> None:
        n = len(self.users)
        for field, dtype in (("users", np.int64), ("items", np.int64),
                             ("ratings", np.float32), ("timestamps", np.int64)):
            array = getattr(self, field)
            if array.dtype != dtype or array.shape != (n,):
                raise ValueError(f"Interactions.{field} must be {np.dtype(dtype)} [{n}], "
                                 f"got {array.dtype} {list(array.shape)}")

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        kind = "synthetic" if self.synthetic else "real"
        return (f"Interactions(name={self.name!r}, {kind}, n_users={self.n_users}, "
                f"n_items={self.n_items}, n={len(self)}, source={self.source!r})")


# --------------------------------------------------------------------------- text and lines


@dataclass
class _Lines:
    """The data lines of a file (header removed, blank lines dropped) and how to number them."""

    path: Path
    lines: List[str]
    first_lineno: int  # 1-based line number of lines[0] when no blank line was dropped
    linenos: Optional[List[int]] = None  # explicit numbers, only when blank lines were dropped

    def lineno(self, index: int) -> int:
        return self.linenos[index] if self.linenos is not None else self.first_lineno + index

    def error(self, index: int, what: str) -> DataError:
        return DataError(f"{self.path}: line {self.lineno(index)}: {what}")


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an interaction file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        # Latin-1 files exist (e.g. old GroupLens item lists); interaction ids are ASCII in all
        # supported sources, so a bad byte means a broken or binary file.
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path}: line {line}: not valid UTF-8 ({err.reason})") from None
    if text.startswith("\ufeff"):  # byte-order mark written by some spreadsheet tools
        text = text[1:]
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    return text


def _split_lines(text: str) -> List[str]:
    if "\r" in text:  # ML-1M's .inter has CRLF line ends
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _data_lines(path: Path, lines: List[str], start: int) -> _Lines:
    """``lines[start:]`` without empty lines, remembering original line numbers if needed."""
    body = lines[start:]
    if "" in body:  # C-level scan; whitespace-only lines are malformed, not skipped
        numbered = [(start + i + 1, line) for i, line in enumerate(body) if line]
        result = _Lines(path, [line for _, line in numbered], start + 1,
                        [n for n, _ in numbered])
    else:
        result = _Lines(path, body, start + 1)
    if not result.lines:
        raise DataError(f"{path}: no interactions (only a header or empty lines)")
    return result


# --------------------------------------------------------------------------- columns


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _split_columns(data: _Lines, sep: str, n_columns: int) -> List[List[str]]:
    """Split every line on ``sep`` into exactly ``n_columns`` fields; returns the columns."""
    lines = data.lines
    counts = list(map(str.count, lines, repeat(sep)))
    wanted = n_columns - 1
    if counts.count(wanted) != len(counts):
        bad = next(i for i, c in enumerate(counts) if c != wanted)
        raise data.error(bad, f"expected {n_columns} columns separated by {sep!r}, "
                              f"found {counts[bad] + 1}")
    # One join + split beats a split per line by ~3x on ML-1M; the per-line counts above
    # guarantee the flat list lines up.
    flat = sep.join(lines).split(sep)
    return [flat[c::n_columns] for c in range(n_columns)]


def _split_csv(data: _Lines, allowed: Sequence[int]) -> List[List[str]]:
    """Split CSV lines (quotes allowed) into columns; every line must have the same width."""
    try:
        rows = list(csv.reader(data.lines, skipinitialspace=True, strict=True))
    except csv.Error as err:
        raise DataError(f"{data.path}: {err}") from None
    width = len(rows[0])
    if width not in allowed:
        raise data.error(0, f"expected {' or '.join(map(str, allowed))} comma-separated columns "
                            f"(user,item[,rating[,timestamp]]), found {width}")
    for i, row in enumerate(rows):
        if len(row) != width:
            raise data.error(i, f"expected {width} comma-separated columns like the first line, "
                                f"found {len(row)}")
    return [[field.strip() for field in column] for column in zip(*rows)]


def _natural_key(ids: Sequence[str]) -> Callable[[str], object]:
    """Sort key for ids: (prefix, integer) when every id ends in digits, else the string."""
    matches = [re.fullmatch(r"(.*?)(\d+)", s) for s in ids]
    if all(m is not None for m in matches):
        keys = {s: (m.group(1), int(m.group(2)), s) for s, m in zip(ids, matches)}
        return keys.__getitem__
    return str


def _reindex(data: _Lines, tokens: List[str], role: str) -> Tuple[np.ndarray, int]:
    """Map string ids to int64 [n] indices ``0..k-1`` in sorted id order; returns (index, k)."""
    unique = list(dict.fromkeys(tokens))  # C-level dedup, first-appearance order
    if "" in unique:
        raise data.error(tokens.index(""), f"empty {role} id")
    index = {token: i for i, token in enumerate(sorted(unique, key=_natural_key(unique)))}
    return np.fromiter(map(index.__getitem__, tokens), np.int64, count=len(tokens)), len(index)


def _parse_numbers(data: _Lines, tokens: List[str], role: str, dtype: type) -> np.ndarray:
    """Parse a column of numbers into ``dtype`` [n]; a bad token is reported with its line."""
    if dtype is np.int64:
        try:  # exact for integer timestamps of any size
            return np.array(tokens, dtype=np.int64)
        except (ValueError, OverflowError):
            pass  # e.g. "881250949.0": parse as float below
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = next(i for i, token in enumerate(tokens) if not _is_number(token))
        raise data.error(bad, f"{role} {tokens[bad]!r} is not a number") from None
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise data.error(bad, f"{role} {tokens[bad]!r} is not a finite number")
    if dtype is np.int64:
        return np.floor(values).astype(np.int64)  # fractional timestamps keep their order
    return values.astype(dtype)


def _build(data: _Lines, columns: Dict[str, List[str]], name: str) -> Interactions:
    n = len(data.lines)
    users, n_users = _reindex(data, columns[USER], "user")
    items, n_items = _reindex(data, columns[ITEM], "item")
    ratings = (_parse_numbers(data, columns[RATING], "rating", np.float32)
               if RATING in columns else np.ones(n, dtype=np.float32))
    timestamps = (_parse_numbers(data, columns[TIMESTAMP], "timestamp", np.int64)
                  if TIMESTAMP in columns else np.zeros(n, dtype=np.int64))
    return Interactions(users=users, items=items, ratings=ratings, timestamps=timestamps,
                        n_users=n_users, n_items=n_items, name=name, synthetic=False,
                        source=str(data.path))


# --------------------------------------------------------------------------- formats


# RecBole field names (before the ":type" suffix) for each role.
_INTER_FIELDS = {"user_id": USER, "item_id": ITEM, "rating": RATING, "timestamp": TIMESTAMP}


def _parse_inter(path: Path, lines: List[str]) -> Tuple[_Lines, Dict[str, List[str]]]:
    header = lines[0].split("\t")
    names = [field.split(":", 1)[0].strip() for field in header]
    if not all(":" in field for field in header):
        raise DataError(f"{path}: line 1: expected a RecBole header like "
                        f"'user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float', "
                        f"got {lines[0][:80]!r}")
    for required in ("user_id", "item_id"):
        if required not in names:
            raise DataError(f"{path}: line 1: header has no {required!r} column")
    data = _data_lines(path, lines, 1)
    columns = _split_columns(data, "\t", len(header))
    return data, {_INTER_FIELDS[n]: columns[i] for i, n in enumerate(names) if n in _INTER_FIELDS}


def _parse_udata(path: Path, lines: List[str]) -> Tuple[_Lines, Dict[str, List[str]]]:
    data = _data_lines(path, lines, 0)
    columns = _split_columns(data, "\t", 4)
    return data, dict(zip((USER, ITEM, RATING, TIMESTAMP), columns))


def _parse_ratings_dat(path: Path, lines: List[str]) -> Tuple[_Lines, Dict[str, List[str]]]:
    data = _data_lines(path, lines, 0)
    columns = _split_columns(data, "::", 4)
    return data, dict(zip((USER, ITEM, RATING, TIMESTAMP), columns))


def _parse_lastfm(path: Path, lines: List[str]) -> Tuple[_Lines, Dict[str, List[str]]]:
    fields = lines[0].split("\t")
    has_header = len(fields) == 3 and not _is_number(fields[2])
    data = _data_lines(path, lines, 1 if has_header else 0)
    columns = _split_columns(data, "\t", 3)
    return data, dict(zip((USER, ITEM, RATING), columns))


def _csv_has_header(first: List[str]) -> bool:
    """A header names its columns: 'user...' and an item-like name, or a non-numeric
    rating/timestamp field (data rows always have numbers there)."""
    names = [f.strip().lower() for f in first]
    if len(names) >= 2 and "user" in names[0] and any(
            word in names[1] for word in ("item", "movie", "artist", "track", "product")):
        return True
    return any(not _is_number(f) for f in names[2:])


def _parse_csv(path: Path, lines: List[str], header: Optional[bool]
               ) -> Tuple[_Lines, Dict[str, List[str]]]:
    if header is None:
        first = next(csv.reader([lines[0]], skipinitialspace=True))
        header = _csv_has_header(first)
    data = _data_lines(path, lines, 1 if header else 0)
    columns = _split_csv(data, allowed=(2, 3, 4))
    return data, dict(zip((USER, ITEM, RATING, TIMESTAMP), columns))


def _detect(path: Path, lines: List[str]) -> str:
    suffix = path.suffix.lower()
    if suffix in (".inter", ".csv"):
        return suffix[1:]
    first = next(line for line in lines if line.strip())
    fields = first.split("\t")
    if re.match(r"^[^\t:]+:(token|float|token_seq|float_seq)\b", first):
        return "inter"
    if "::" in first:
        return "ratings_dat"
    if first.lower().startswith("userid\tartistid") or len(fields) == 3:
        return "lastfm"
    if len(fields) > 1:
        return "udata"
    return "csv"


def detect_format(path: PathLike) -> str:
    """Guess the format of an interaction file from its name, then its first line.

    Returns one of :data:`FORMATS`. A ``.inter`` or ``.csv`` suffix decides; otherwise a
    RecBole-style ``name:type`` header means ``"inter"``, ``::`` means ``"ratings_dat"``, a
    ``userID<TAB>artistID`` header or three tab-separated columns mean ``"lastfm"``, other
    tab-separated lines ``"udata"``, and anything else ``"csv"``.
    """
    path = Path(path).expanduser()
    return _detect(path, _split_lines(_read_text(path)))


def read_interactions(path: PathLike, fmt: Optional[str] = None, *,
                      header: Optional[bool] = None) -> Interactions:
    """Read an interaction file into :class:`Interactions` (rows in file order).

    Args:
        path: the file.
        fmt: one of :data:`FORMATS`; ``None`` auto-detects with :func:`detect_format`.
        header: CSV only: whether the first line is a header (``None``: guess; a line is taken
            as a header when it names a user and an item column, or has a non-numeric rating or
            timestamp field).

    Returns:
        Interactions with ids re-indexed (see the module docstring), ``name`` the file's stem,
        ``synthetic=False``.

    Raises:
        DataError: the file is missing, empty or malformed; the message names the file and
            the 1-based line number.
    """
    path = Path(path).expanduser()
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    with _no_cyclic_gc():
        lines = _split_lines(_read_text(path))
        if fmt is None:
            fmt = _detect(path, lines)
        if fmt == "csv":
            data, columns = _parse_csv(path, lines, header)
        else:
            parse = {"inter": _parse_inter, "udata": _parse_udata,
                     "ratings_dat": _parse_ratings_dat, "lastfm": _parse_lastfm}[fmt]
            data, columns = parse(path, lines)
        return _build(data, columns, name=path.stem)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates millions of strings held in
    lists, which it would traverse again and again (a third of ML-1M's load time) although
    parsing creates no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
