"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), under a list of keys.

**Keys.** ``settings.FIELD_ENCRYPTION_KEYS`` is a list of secrets; each becomes a Fernet key through
``derive_key`` (SHA-256 of ``tformance-field:<secret>``). The first encrypts, all decrypt
(``cryptography.fernet.MultiFernet``). When the list is empty the secrets are ``SECRET_KEY`` then
``SECRET_KEY_FALLBACKS``: the first derived key is the one every token was encrypted with before
keys were a list, so those tokens stay readable, and rotating ``SECRET_KEY`` with the old one in the
fallbacks keeps them readable until ``manage.py reencrypt_tokens`` has moved them to the new key.

**A value no key decrypts** never raises while a row is read (a page showing the row would answer
500): the field returns ``Unreadable``, an empty, falsy string that keeps the stored ciphertext,
writes it back unchanged when the row is saved, and never shows it. Code that needs the plaintext
checks ``is_unreadable`` and raises ``UnreadableSecret``.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

PREFIX = "fernet:"
KEY_SETTINGS = frozenset({"FIELD_ENCRYPTION_KEYS", "SECRET_KEY", "SECRET_KEY_FALLBACKS"})
UNREADABLE_TEXT = "unreadable, enter it again"


class UnreadableSecret(Exception):
    """A stored secret that none of the configured keys decrypts: it has to be entered again."""


class Unreadable(str):
    """What the field returns for a stored value no key decrypts (or one that is not ours).

    It equals "" (so nothing uses it as a secret: an empty webhook secret verifies nothing), keeps the
    stored text in ``stored`` so that saving the row writes it back unchanged, and shows neither.
    """

    stored: str

    def __new__(cls, stored: str = ""):
        value = super().__new__(cls, "")
        value.stored = stored
        return value

    def __repr__(self) -> str:
        return "<unreadable secret>"


def is_unreadable(value) -> bool:
    return isinstance(value, Unreadable)


def derive_key(secret: str) -> bytes:
    """The Fernet key of one secret (the derivation every stored token was written with)."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"tformance-field:{secret}".encode()).digest())


def key_secrets() -> list[str]:
    """The configured secrets, the encrypting one first."""
    listed = [secret for secret in getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [] if secret]
    if listed:
        return listed
    return [settings.SECRET_KEY, *[secret for secret in settings.SECRET_KEY_FALLBACKS if secret]]


@functools.cache
def fernets() -> tuple[Fernet, MultiFernet]:
    """(the encrypting key, all keys): derived once, again after a key setting changes."""
    keys = [Fernet(derive_key(secret)) for secret in key_secrets()]
    return keys[0], MultiFernet(keys)


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    # as Django resets its own caches: override_settings, and tests, see the new keys at once
    if setting in KEY_SETTINGS:
        fernets.cache_clear()


def encrypt(plaintext: str) -> str:
    return PREFIX + fernets()[0].encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str | Unreadable:
    """The plaintext of a stored value, or ``Unreadable`` when no key reads it."""
    if not stored.startswith(PREFIX):
        return Unreadable(stored)
    try:
        return fernets()[1].decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        return Unreadable(stored)


def reencrypted(stored: str) -> str | None:
    """``stored`` encrypted with the first key; None when it already is. ``UnreadableSecret`` when no key reads it."""
    if not stored.startswith(PREFIX):
        raise UnreadableSecret("not an encrypted value")
    token = stored[len(PREFIX) :].encode()
    first, every = fernets()
    try:
        first.decrypt(token)
        return None
    except InvalidToken:
        pass
    try:
        return PREFIX + every.rotate(token).decode()
    except InvalidToken as exc:
        raise UnreadableSecret("no configured key decrypts it") from exc


class EncryptedTextField(models.TextField):
    """Stores ``fernet:<token>`` in the database; Python code sees the plaintext (or ``Unreadable``)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        if is_unreadable(value):
            return value.stored  # saved as it was read: a save never destroys what a later key may read
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


def encrypted_fields(model) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]


def unreadable_fields(instance) -> list[str]:
    """The names of ``instance``'s encrypted fields that no configured key reads."""
    return [name for name in encrypted_fields(type(instance)) if is_unreadable(getattr(instance, name))]
