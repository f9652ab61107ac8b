"""Connection URLs are secrets: this is the one way to show one (logs, messages, metadata).

Every place libpq (and the other drivers) accept a credential is redacted:

- the userinfo of a URL: ``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``;
- credential parameters in a URL's query: ``postgresql://host/db?user=u&password=secret`` (also
  ``sslpassword``, ``passfile`` contents never appear, and token-like keys such as ``token``,
  ``api_key``, ``secret``);
- a key/value connection string: ``host=h dbname=d password='s e c'`` (quoted or not).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_KEYS = ("password", "sslpassword", "passwd", "pwd", "pass", "secret", "client_secret", "token",
               "access_token", "api_key", "apikey", "key")
_KEY_VALUE = re.compile(
    r"(?i)\b(?P<key>" + "|".join(SECRET_KEYS) + r")\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'?|\S+)")
_LOOKS_KEY_VALUE = re.compile(r"^\s*\w+\s*=")


def _redact_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in SECRET_KEYS for k, _ in pairs):
        return query
    return urlencode([(k, "***" if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="*/:@")


def redact_key_values(text: str) -> str:
    """``password=...`` (and the other credential keys) replaced by ``***`` wherever they appear."""
    return _KEY_VALUE.sub(lambda m: f"{m.group('key')}=***", text)


def redact_url(url: str) -> str:
    """The URL (or key/value connection string) with every credential replaced by ``***``."""
    if "://" not in url and _LOOKS_KEY_VALUE.match(url):
        return redact_key_values(url)
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    query = _redact_query(parts.query)
    if password is None and query == parts.query:
        return redact_key_values(url) if "password=" in url.lower() else url
    netloc = parts.netloc
    if password is not None:
        host = f"{host}:{port}" if port else host
        netloc = (f"{parts.username}:***@" if parts.username else "***@") + host
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
