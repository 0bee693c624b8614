"""Keep webhook codes, OAuth tokens and client secrets out of logs and exception texts.

Two complementary mechanisms:

* **Known secrets.** :func:`redact` masks every occurrence of given strings (and their
  percent-encoded forms). The process-wide :data:`SECRETS` registry holds the secrets the client
  knows about (the webhook code, the current access/refresh tokens, the client secret);
  :func:`register_secret` adds to it.
* **Recognisable shapes.** :func:`redact_url` and :func:`scrub` mask what *looks* secret even if
  nobody registered it: the code segment of a webhook path ``/rest/<user>/<code>/...``, the values of
  ``auth``/``access_token``/``refresh_token``/``client_secret``/``application_token``/``ap`` query
  or form parameters (also in bracket form such as ``auth[access_token]``), and the same keys in
  JSON or Python-repr text.

:class:`SecretsFilter` applies both to log records. Attach it to **handlers** (a filter on a logger
does not see records propagated from child loggers)::

    handler.addFilter(SecretsFilter())

Exception classes of the client (:mod:`bitrix24_provider.client.errors`) and of the destinations
(:mod:`bitrix24_provider.staging.errors`) run their texts through :func:`scrub`; the client imports this
module as :mod:`bitrix24_provider.client.redact`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote_plus

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

#: What a secret is replaced with.
MASK = "***"

#: Parameter / JSON key names whose values are always masked (compared case-insensitively; for a
#: bracketed name such as ``auth[access_token]`` every bracket component is checked).
SENSITIVE_PARAMS: frozenset[str] = frozenset(
    {"auth", "access_token", "refresh_token", "client_secret", "application_token", "ap"}
)

# /rest/<user>/<code>[/...]: the second path segment after /rest/ is the webhook code. OAuth paths
# (/rest/<method>[.json][/]) have a single segment and are left alone.
_WEBHOOK_PATH = re.compile(r"(/rest/[^/\s?#\"'<>]+/)([^/\s?#\"'<>]+)")
# name=value pairs in query strings, form bodies and free text.
_PARAM = re.compile(r"(?:^|(?<=[?&;\s\"'(,]))(?P<name>[^\s=&?#;\"'<>,()]+)=(?P<value>[^&#?\s\"'<>]*)")
# "key": "value" / 'key': 'value' in JSON or Python reprs.
_KEYED = re.compile(
    r"(?P<q>[\"'])(?P<key>" + "|".join(sorted(SENSITIVE_PARAMS, key=len, reverse=True)) + r")(?P=q)"
    r"(?P<sep>\s*:\s*)(?P<vq>[\"'])(?P<value>(?:\\.|(?!(?P=vq))[^\\])*)(?P=vq)",
    re.IGNORECASE,
)
_BRACKETS = re.compile(r"[\[\]]")
# Authorization: Bearer <token>
_BEARER = re.compile(r"(\bBearer\s+)[^\s\"',]+", re.IGNORECASE)


def _variants(secret: str) -> set[str]:
    """A secret as it may appear in text: raw, percent-encoded, form-encoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe="")}


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    variants: set[str] = set()
    for secret in secrets:
        if secret:
            variants |= _variants(secret)
    if not variants:
        return None
    # Longest first, so that a secret containing another one is masked whole.
    return re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in *text* with :data:`MASK`.

    Percent-encoded and form-encoded spellings of a secret are masked as well.
    """
    pattern = _pattern(secrets)
    return text if pattern is None else pattern.sub(MASK, text)


def _is_sensitive_name(name: str) -> bool:
    decoded = unquote_plus(name)
    return any(part.lower() in SENSITIVE_PARAMS for part in _BRACKETS.split(decoded) if part)


def _mask_param(match: re.Match[str]) -> str:
    if _is_sensitive_name(match.group("name")) and match.group("value"):
        return f"{match.group('name')}={MASK}"
    return match.group(0)


def _mask_keyed(match: re.Match[str]) -> str:
    q, key, sep, vq = match.group("q", "key", "sep", "vq")
    return f"{q}{key}{q}{sep}{vq}{MASK}{vq}"


def redact_url(url: str) -> str:
    """Mask the webhook code in ``/rest/<user>/<code>/...`` and sensitive query values of *url*.

    ``https://p.bitrix24.com/rest/1/abc123/crm.deal.list?auth=tok&start=0`` becomes
    ``https://p.bitrix24.com/rest/1/***/crm.deal.list?auth=***&start=0``.
    """
    return _PARAM.sub(_mask_param, _WEBHOOK_PATH.sub(rf"\g<1>{MASK}", url))


def _mask_shapes(text: str) -> str:
    text = _KEYED.sub(_mask_keyed, redact_url(text))
    return _BEARER.sub(rf"\g<1>{MASK}", text)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secret-looking shapes and known secrets in *text*.

    Shapes: webhook paths and sensitive parameters (:func:`redact_url`), sensitive keys in JSON or
    Python reprs (``"access_token": "..."``) and ``Bearer <token>``. Known secrets: the given
    *secrets* plus everything in the :data:`SECRETS` registry.
    """
    return SECRETS.redact(redact(_mask_shapes(text), secrets))


class SecretRegistry:
    """A thread-safe set of secrets with a cached matcher."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = {s for s in secrets if s}
        self._compiled: re.Pattern[str] | None = _pattern(self._secrets)

    def add(self, *secrets: str | None) -> None:
        """Register secrets (``None`` and empty strings are ignored)."""
        with self._lock:
            new = {s for s in secrets if s} - self._secrets
            if new:
                self._secrets |= new
                self._compiled = _pattern(self._secrets)

    def discard(self, *secrets: str | None) -> None:
        """Forget secrets that are no longer in use (e.g. a replaced access token)."""
        with self._lock:
            self._secrets -= {s for s in secrets if s}
            self._compiled = _pattern(self._secrets)

    def redact(self, text: str) -> str:
        """Mask every registered secret in *text*."""
        compiled = self._compiled
        return text if compiled is None else compiled.sub(MASK, text)

    def __contains__(self, secret: object) -> bool:
        return secret in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)


#: Process-wide registry consulted by :func:`scrub` and (by default) :class:`SecretsFilter`.
SECRETS = SecretRegistry()


def register_secret(*secrets: str | None) -> None:
    """Add secrets to the process-wide :data:`SECRETS` registry."""
    SECRETS.add(*secrets)


class SecretsFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message, exception text and stack.

    The message is formatted (``msg % args``) and replaced by its scrubbed form, with ``args``
    cleared, so handlers never see the raw values. Secrets come from the filter's own set, from
    *registry* (the process-wide :data:`SECRETS` unless ``None`` is passed) and from the
    recognisable shapes handled by :func:`scrub`. The filter never drops a record.
    """

    def __init__(
        self, secrets: Iterable[str] = (), *, registry: SecretRegistry | None = SECRETS, name: str = ""
    ) -> None:
        super().__init__(name)
        self._own = SecretRegistry(secrets)
        self._registry = registry

    def add(self, *secrets: str | None) -> None:
        """Register further secrets with this filter only."""
        self._own.add(*secrets)

    def _clean(self, text: str) -> str:
        text = self._own.redact(_mask_shapes(text))
        return text if self._registry is None else self._registry.redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we have, still masked
            message = f"{record.msg} {record.args!r}"
        record.msg = self._clean(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True
