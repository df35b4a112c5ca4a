"""Public identifiers: an opaque random string behind a type prefix (`sub_7k9mNp2QrT8xLw3q`).

Rows keep a bigint primary key for joins; only the public id leaves the database.
"""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
PUBLIC_ID_RANDOM_LENGTH = 16
PUBLIC_ID_MAX_LENGTH = 64


def new_public_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(PUBLIC_ID_RANDOM_LENGTH))


def is_storable_public_id(text: str) -> bool:
    """An id from a URL may hold anything; one that could not have been stored (too long, NUL) names nothing."""
    return len(text) <= PUBLIC_ID_MAX_LENGTH and "\x00" not in text
