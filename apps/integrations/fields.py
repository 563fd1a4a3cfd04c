"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256)."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

_PREFIX = "fernet:"


def _fernet() -> Fernet:
    # Read at call time so that tests and key rotation see the current settings.
    secret = getattr(settings, "FIELD_ENCRYPTION_KEY", "") or settings.SECRET_KEY
    key = base64.urlsafe_b64encode(hashlib.sha256(f"tformance-field:{secret}".encode()).digest())
    return Fernet(key)


class EncryptedTextField(models.TextField):
    """Stores ``fernet:<token>`` in the database; Python code sees the plaintext."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        if not value.startswith(_PREFIX):
            raise ImproperlyConfigured("EncryptedTextField found an unencrypted value in the database.")
        try:
            return _fernet().decrypt(value[len(_PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                "EncryptedTextField could not decrypt a value: FIELD_ENCRYPTION_KEY (or SECRET_KEY) changed."
            ) from exc

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return _PREFIX + _fernet().encrypt(value.encode()).decode()
