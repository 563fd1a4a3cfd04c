"""Bulk-load numpy columns into PostgreSQL with binary COPY.

The data generator builds millions of rows as numpy arrays. Formatting them as CSV text
(timestamps above all) costs more CPU than PostgreSQL spends ingesting them, and this
machine has two cores to share between the two. The binary COPY format takes big-endian
fixed-width values that numpy lays out without per-row Python, has a real NULL (so ""
stays an empty string), and carries timestamps as UTC microseconds that no session time
zone can reinterpret.

Values accepted per PostgreSQL column type:

- ``smallint``, ``integer``, ``bigint``: integer arrays (checked for overflow).
- ``boolean``: boolean arrays.
- ``timestamp with time zone``: ``datetime64`` arrays, taken as UTC.
- ``date``: ``datetime64`` arrays, whole days.
- ``numeric(p, s)``: integer arrays in units of ``10**-s`` (hundredths for
  ``numeric(10, 2)``), so no float rounding happens on the way.
- ``character varying``, ``text``: a `Text` (codes into a vocabulary), a fixed-width
  bytes array (dtype ``S<n>``, every value exactly n ASCII bytes), or a sequence of str.

NULLs: a masked array (``numpy.ma``) for every type but `Text`, whose code -1 is NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"
PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
INT_TYPES = {"smallint": ">i2", "integer": ">i4", "bigint": ">i8"}
TEXT_TYPES = {"text", "character varying"}
NUMERIC_SIGN_NEGATIVE = 0x4000
NUMERIC_BASE = 10_000
NUMERIC_MAX_INTEGER_DIGITS = 3  # base-10000 digits before the point: up to 10**12


@dataclass(frozen=True)
class Text:
    """Strings as codes into a vocabulary (code -1 is NULL), like a pandas Categorical."""

    vocabulary: Sequence[str]
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class PgColumn:
    name: str
    type_name: str
    typmod: int

    @property
    def numeric_scale(self) -> int:
        if self.typmod < 4:
            raise TypeError(f"column {self.name}: numeric without a declared scale")
        return (self.typmod - 4) & 0xFFFF


def table_columns(cursor, table: str) -> dict[str, PgColumn]:
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL), atttypmod FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return {name: PgColumn(name, type_name, typmod) for name, type_name, typmod in cursor.fetchall()}


def copy_columns(
    cursor,
    table: str,
    columns: Mapping[str, object],
    *,
    chunk_rows: int = 100_000,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """COPY ``columns`` (name -> values, all of one length) into ``table``; return the row count.

    ``cursor`` is a psycopg 3 cursor. Rows are encoded chunk by chunk while a writer thread
    sends the previous chunk, so encoding overlaps with the server's ingestion.
    """
    pg_columns = table_columns(cursor, table)
    unknown = sorted(set(columns) - set(pg_columns))
    if unknown:
        raise ValueError(f"{table} has no column(s) {', '.join(unknown)}")
    row_count = _common_length(table, columns)
    sources = [_source(pg_columns[name], values) for name, values in columns.items()]
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(HEADER)
        for start in range(0, row_count, chunk_rows):
            stop = min(row_count, start + chunk_rows)
            fields = [source.field(start, stop) for source in sources]
            copy.write(memoryview(encode_rows(fields, stop - start)))
            if on_rows:
                on_rows(stop - start)
        copy.write(TRAILER)
    return row_count


def _common_length(table: str, columns: Mapping[str, object]) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{table}: columns differ in length: {lengths}")
    return next(iter(lengths.values()))


# --- fields: one column's payload for a chunk of rows -----------------------------------------


@dataclass(frozen=True)
class FixedField:
    """Every non-NULL value takes the same number of bytes: one row of ``matrix`` each."""

    matrix: np.ndarray  # (rows, width) uint8
    nulls: np.ndarray | None

    @property
    def sizes(self) -> np.ndarray:
        sizes = np.full(len(self.matrix), self.matrix.shape[1], dtype=np.int64)
        if self.nulls is not None:
            sizes[self.nulls] = 0
        return sizes

    def put(self, out: np.ndarray, positions: np.ndarray) -> None:
        if self.nulls is None:
            _put_matrix(out, positions, self.matrix)
        else:
            keep = ~self.nulls
            _put_matrix(out, positions[keep], self.matrix[keep])


@dataclass(frozen=True)
class TextField:
    """Values drawn from a vocabulary encoded once as one flat UTF-8 byte array."""

    flat: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    codes: np.ndarray

    @property
    def nulls(self) -> np.ndarray:
        return self.codes < 0

    @property
    def sizes(self) -> np.ndarray:
        return np.where(self.codes < 0, 0, self.lengths[self.codes])

    def put(self, out: np.ndarray, positions: np.ndarray) -> None:
        keep = self.codes >= 0
        codes, positions = self.codes[keep], positions[keep]
        lengths = self.lengths[codes]
        before = np.cumsum(lengths) - lengths  # bytes of earlier values in this chunk
        within = np.arange(int(lengths.sum())) - np.repeat(before, lengths)
        np.put(out, np.repeat(positions, lengths) + within,
               self.flat[np.repeat(self.starts[codes], lengths) + within])


def _put_matrix(out: np.ndarray, positions: np.ndarray, matrix: np.ndarray) -> None:
    # np.put on flat indices is an order of magnitude faster than fancy-index assignment.
    np.put(out, positions[:, None] + np.arange(matrix.shape[1]), matrix)


def encode_rows(fields: Sequence[FixedField | TextField], row_count: int) -> np.ndarray:
    """The binary COPY tuples (no header) of ``row_count`` rows, as one uint8 array."""
    sizes = [field.sizes for field in fields]
    row_sizes = 2 + 4 * len(fields) + np.sum(sizes, axis=0, dtype=np.int64)
    row_starts = np.zeros(row_count, dtype=np.int64)
    np.cumsum(row_sizes[:-1], out=row_starts[1:])
    out = np.empty(int(row_sizes.sum()), dtype=np.uint8)
    _put_matrix(out, row_starts, _big_endian_bytes(np.full(row_count, len(fields)), ">i2"))
    positions = row_starts + 2
    for field, size in zip(fields, sizes, strict=True):
        length_words = size if field.nulls is None else np.where(field.nulls, -1, size)
        _put_matrix(out, positions, _big_endian_bytes(length_words, ">i4"))
        positions += 4
        field.put(out, positions)
        positions += size
    return out


def _big_endian_bytes(values: np.ndarray, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=dtype).view(np.uint8).reshape(len(values), -1)


# --- sources: a whole column, validated once, cut into fields per chunk ---------------------


class FixedSource:
    def __init__(self, matrix: np.ndarray, nulls: np.ndarray | None):
        self.matrix, self.nulls = matrix, nulls

    def field(self, start: int, stop: int) -> FixedField:
        nulls = None if self.nulls is None else self.nulls[start:stop]
        return FixedField(self.matrix[start:stop], nulls)


class TextSource:
    def __init__(self, text: Text):
        encoded = [value.encode() for value in text.vocabulary]
        self.lengths = np.array([len(value) for value in encoded], dtype=np.int64)
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.flat = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.codes = np.asarray(text.codes, dtype=np.int64)
        if len(self.codes) and self.codes.max(initial=-1) >= len(encoded):
            raise ValueError("Text codes point past the end of the vocabulary")

    def field(self, start: int, stop: int) -> TextField:
        return TextField(self.flat, self.starts, self.lengths, self.codes[start:stop])


def _source(column: PgColumn, values) -> FixedSource | TextSource:
    if column.type_name in TEXT_TYPES:
        return _text_source(column, values)
    data, nulls = _split_mask(values)
    return FixedSource(_fixed_matrix(column, data), nulls)


def _split_mask(values) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(values, np.ma.MaskedArray):
        nulls = np.ma.getmaskarray(values)
        return np.asarray(values.data), (nulls if nulls.any() else None)
    return np.asarray(values), None


def _fixed_matrix(column: PgColumn, data: np.ndarray) -> np.ndarray:
    kind = column.type_name
    if kind in INT_TYPES:
        return _big_endian_bytes(_checked_integers(column, data, INT_TYPES[kind]), INT_TYPES[kind])
    if kind == "boolean":
        return _big_endian_bytes(data.astype(bool), "u1")
    if kind == "timestamp with time zone":
        micros = (data.astype("datetime64[us]") - PG_EPOCH).astype(np.int64)
        return _big_endian_bytes(micros, ">i8")
    if kind == "date":
        days = (data.astype("datetime64[D]") - PG_EPOCH.astype("datetime64[D]")).astype(np.int64)
        return _big_endian_bytes(days, ">i4")
    if kind == "numeric":
        return _numeric_matrix(column, data)
    raise TypeError(f"column {column.name}: type {kind} is not supported by binary COPY here")


def _checked_integers(column: PgColumn, data: np.ndarray, dtype: str) -> np.ndarray:
    if not np.issubdtype(data.dtype, np.integer) and data.dtype != bool:
        raise TypeError(f"column {column.name} ({column.type_name}) needs integers, got {data.dtype}")
    limits = np.iinfo(np.dtype(dtype))
    if len(data) and (data.min() < limits.min or data.max() > limits.max):
        raise ValueError(f"column {column.name}: values out of range for {column.type_name}")
    return data


def _numeric_matrix(column: PgColumn, units: np.ndarray) -> np.ndarray:
    """numeric's binary form with a fixed digit count; the server strips the zero digits."""
    scale = column.numeric_scale
    if scale > 4:
        raise TypeError(f"column {column.name}: numeric scale above 4 is not supported")
    units = np.asarray(units, dtype=np.int64)
    whole, fraction = np.divmod(np.abs(units), 10**scale)
    if len(units) and whole.max() >= NUMERIC_BASE**NUMERIC_MAX_INTEGER_DIGITS:
        raise ValueError(f"column {column.name}: value too large")
    digits = NUMERIC_MAX_INTEGER_DIGITS + 1
    record = np.zeros(len(units), dtype=[("header", ">i2", 4), ("digits", ">i2", digits)])
    record["header"] = (digits, NUMERIC_MAX_INTEGER_DIGITS - 1, 0, scale)  # ndigits weight sign dscale
    record["header"][:, 2] = np.where(units < 0, NUMERIC_SIGN_NEGATIVE, 0)
    for position in range(NUMERIC_MAX_INTEGER_DIGITS):
        power = NUMERIC_BASE ** (NUMERIC_MAX_INTEGER_DIGITS - 1 - position)
        record["digits"][:, position] = (whole // power) % NUMERIC_BASE
    record["digits"][:, -1] = fraction * 10 ** (4 - scale)
    return record.view(np.uint8).reshape(len(units), -1)


def _text_source(column: PgColumn, values) -> TextSource | FixedSource:
    if isinstance(values, Text):
        return TextSource(values)
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        matrix = values.view(np.uint8).reshape(len(values), -1)
        if (matrix == 0).any() or (matrix > 127).any():
            raise ValueError(f"column {column.name}: fixed-width bytes must be full-width ASCII")
        return FixedSource(matrix, None)
    vocabulary, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    return TextSource(Text(list(vocabulary), codes))
