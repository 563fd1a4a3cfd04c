"""Moving every encrypted value to the first key (``manage.py reencrypt_tokens``), after a key rotation.

Every model with an ``EncryptedTextField`` is read in primary-key order, ``batch_size`` rows a statement,
as stored (the ciphertext, not through the field). ``find_unreadable`` lists the values that no
configured key decrypts; ``reencrypt`` then, one transaction per batch, locks the batch's rows
(``SELECT ... FOR UPDATE``: a token replaced meanwhile is not overwritten with its old value),
re-encrypts with the first key (``MultiFernet.rotate``) what another key encrypted, and writes those rows
in one ``UPDATE`` (``bulk_update``). A value already under the first key is left alone, so a second
run writes nothing; an unreadable one is left as it is (counted). Statements: one a batch to scan,
two a batch to re-encrypt (one when nothing in it changes), whatever the number of rows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction
from django.db.models import ExpressionWrapper, F, TextField, Value

from apps.integrations.fields import UnreadableSecret, encrypted_fields, reencrypted

BATCH_SIZE = 200


@dataclass(frozen=True)
class UnreadableValue:
    table: str
    pk: int
    field: str


@dataclass
class TableResult:
    table: str
    rows: int = 0  # rows read
    rows_reencrypted: int = 0  # rows written
    values_reencrypted: int = 0
    unreadable: list[UnreadableValue] = field(default_factory=list)


def encrypted_models() -> list[tuple[type, list[str]]]:
    """Every installed model with encrypted fields, and those fields' names."""
    found = [(model, encrypted_fields(model)) for model in apps.get_models()]
    return [(model, names) for model, names in found if names]


def _stored_batches(model, names: list[str], *, batch_size: int, lock: bool = False):
    """Yield lists of ``(pk, {name: stored text})``, ``batch_size`` rows each, in pk order; with ``lock``
    each batch is read ``FOR UPDATE`` and handled inside its own transaction (the caller writes in it)."""
    # the stored text, not through the field (no decryption); under other names, as annotations must be
    stored = {f"stored_{name}": ExpressionWrapper(F(name), output_field=TextField()) for name in names}
    after = None
    while True:
        rows = model._base_manager.order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        with transaction.atomic() if lock else contextlib.nullcontext():
            if lock:
                rows = rows.select_for_update()
            batch = [
                (row["pk"], {name: row[f"stored_{name}"] for name in names})
                for row in rows.values("pk", **stored)[:batch_size]
            ]
            if batch:
                yield batch
        if len(batch) < batch_size:
            return
        after = batch[-1][0]


def find_unreadable(*, batch_size: int = BATCH_SIZE) -> list[UnreadableValue]:
    """Every stored encrypted value no configured key decrypts (one statement a batch, nothing written)."""
    unreadable = []
    for model, names in encrypted_models():
        for batch in _stored_batches(model, names, batch_size=batch_size):
            unreadable += [
                UnreadableValue(model._meta.db_table, pk, name)
                for pk, row in batch
                for name in names
                if row[name] and not _readable(row[name])
            ]
    return unreadable


def _readable(stored: str) -> bool:
    try:
        reencrypted(stored)
    except UnreadableSecret:
        return False
    return True


def reencrypt(*, batch_size: int = BATCH_SIZE) -> list[TableResult]:
    """Re-encrypt every value another configured key encrypted with the first one; results per table."""
    results = []
    for model, names in encrypted_models():
        result = TableResult(model._meta.db_table)
        for batch in _stored_batches(model, names, batch_size=batch_size, lock=True):
            result.rows += len(batch)
            changed_rows = []
            for pk, row in batch:
                new = _reencrypt_row(result, pk, row, names)
                if new:
                    changed_rows.append((pk, row, new))
            if changed_rows:
                _write(model, changed_rows)
                result.rows_reencrypted += len(changed_rows)
                result.values_reencrypted += sum(len(new) for _pk, _row, new in changed_rows)
        results.append(result)
    return results


def _reencrypt_row(result: TableResult, pk: int, row: dict, names: list[str]) -> dict[str, str]:
    new = {}
    for name in names:
        if not row[name]:
            continue
        try:
            value = reencrypted(row[name])
        except UnreadableSecret:
            result.unreadable.append(UnreadableValue(result.table, pk, name))
            continue
        if value is not None:
            new[name] = value
    return new


def _write(model, changed_rows: list[tuple[int, dict, dict[str, str]]]) -> None:
    """One UPDATE for the batch. The values are ciphertext already: ``Value`` expressions bypass the field's
    encryption; a field that changed on some rows only is written back as stored on the others (rows locked)."""
    names = sorted({name for _pk, _row, new in changed_rows for name in new})
    instances = []
    for pk, row, new in changed_rows:
        instance = model(pk=pk)
        for name in names:
            setattr(instance, name, Value(new.get(name, row[name]), output_field=TextField()))
        instances.append(instance)
    model._base_manager.bulk_update(instances, names)
