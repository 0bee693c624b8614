"""Keep webhook codes, OAuth tokens and client secrets out of logs and exception texts: the client's
name for :mod:`bitrix24_provider.redaction` (one registry of known secrets for the whole package, so
the destinations' errors are scrubbed without importing the client)."""

from __future__ import annotations

from ..redaction import (
    MASK,
    SECRETS,
    SENSITIVE_PARAMS,
    SecretRegistry,
    SecretsFilter,
    redact,
    redact_url,
    register_secret,
    scrub,
)

__all__ = [
    "MASK",
    "SECRETS",
    "SENSITIVE_PARAMS",
    "SecretRegistry",
    "SecretsFilter",
    "redact",
    "redact_url",
    "register_secret",
    "scrub",
]
