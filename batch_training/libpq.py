"""What PostgreSQL's errors mean for this platform, shared by the DWH and the registry.

A failed statement carries a SQLSTATE whose class says what went wrong. A failed *connection*
carries none: libpq reports it as text only, so the messages libpq documents for wrong settings
(authentication, a database or role that does not exist, an invalid option, TLS) are recognised
here, once, where the connection error is turned into a typed error. Anything else at connect time
(refused, timed out, starting up, too many clients) is transient.
"""

from __future__ import annotations

from batch_training.errors import CODE, CONFIG, DATA, TRANSIENT

# SQLSTATE classes and codes (PostgreSQL manual, appendix A)
_CONFIG_STATES = ("28", "3D", "3F", "42501", "42P01", "42703", "42704", "42P02")
_TRANSIENT_STATES = ("08", "53", "57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03", "58")
_DATA_STATES = ("22",)
_SETTINGS_TEXT = (
    "authentication failed", "password is required", "no password supplied", "no pg_hba.conf entry",
    "does not exist", "is not permitted to log in", "permission denied", "invalid sslmode",
    "invalid connection option", "invalid uri", "invalid integer value", "invalid port", 'missing "="',
    "server does not support ssl", "certificate", "unsupported frontend protocol",
    "invalid value for parameter",
)


def sqlstate_class(state: str | None) -> str | None:
    """The failure class a SQLSTATE names, or None when it names none of ours."""
    state = state or ""
    if state.startswith(_CONFIG_STATES):
        return CONFIG
    if state.startswith(_TRANSIENT_STATES):
        return TRANSIENT
    if state.startswith(_DATA_STATES):
        return DATA
    return CODE if state else None


def connect_failure_class(message: str) -> str:
    """The failure class of a connection that libpq could not open, from libpq's own message."""
    text = message.lower()
    return CONFIG if any(fragment in text for fragment in _SETTINGS_TEXT) else TRANSIENT
