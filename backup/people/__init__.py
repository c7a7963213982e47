"""People: the humans behind profiles (SPEC §2 person, contact point; §7 identity and contacts).

- ``extract``: contact points (emails, phones, websites, handles elsewhere) found in one
  profile's fields; pure, no database.
"""

from .extract import (
    SHARED_HOSTS,
    Found,
    extract,
    handle_from_url,
    is_shared_host,
    normalize_email,
    normalize_handle,
    normalize_phone,
    normalize_url,
    own_handles,
)

__all__ = [
    "SHARED_HOSTS",
    "Found",
    "extract",
    "handle_from_url",
    "is_shared_host",
    "normalize_email",
    "normalize_handle",
    "normalize_phone",
    "normalize_url",
    "own_handles",
]
