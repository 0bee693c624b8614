"""The shared throttle's store on Redis, for clients on many machines: a lazy connection and the Lua
scripts that change its state (:class:`~.store.SharedStore`).

Every script reads the time from the Redis server (``TIME``), so all clients sharing the state
measure it on one clock whatever their own clocks say; stored instants are real Unix seconds of
that clock. Callers send and receive only durations and rates in real seconds. Floats are stored
and returned as ``%.17g`` strings (Lua numbers returned to Redis become integers; ``tostring`` keeps
only 14 digits).

The ``redis`` package is imported on first use (``pip install "airflow-provider-bitrix24[redis]"``).
Every failure becomes a :class:`~bitrix24_provider.client.errors.SharedThrottleError` that names the
URL with its password masked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import SharedThrottleError
from ..redact import MASK, SecretRegistry
from .store import BUCKET_KEEP, BucketReply

__all__ = ["RedisStore", "safe_url"]

_SCHEMES = ("redis", "rediss", "unix")
_SECRET_QUERY = ("pass", "auth", "token", "secret")

_NOW = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local function f(x) return string.format('%.17g', x) end
"""

_LOAD_BUCKET = """
local key = KEYS[1]
local state = redis.call('HMGET', key, 'tat', 'rate', 'gen', 'ok', 'pat')
local tat = tonumber(state[1]) or now
local rate = tonumber(state[2])
local gen = tonumber(state[3]) or 0
local ok = tonumber(state[4]) or 0
local pat = tonumber(state[5])
local function set_rate(new)
  if tat > now then tat = now + (tat - now) * rate / new end
  rate = new
end
local function save()
  redis.call('HSET', key, 'tat', f(tat), 'rate', f(rate), 'gen', gen, 'ok', ok)
  if pat then redis.call('HSET', key, 'pat', f(pat)) end
  redis.call('PEXPIRE', key, math.ceil((math.max(tat - now, 0) + tonumber(ARGV[#ARGV])) * 1000))
end
"""

#: GCRA reservation, the same arithmetic as ``Gcra.reserve``, after the reported successes
#: (``Gcra.on_successes``). ARGV: limit, drain rate, recovery step, recovery after, successes,
#: keep. Returns {delay, generation, rate, tat - now, tat}.
RESERVE = (
    _NOW
    + _LOAD_BUCKET
    + """
local limit, drain = tonumber(ARGV[1]), tonumber(ARGV[2])
local step, after, successes = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if rate == nil then rate = drain end
if rate > drain then set_rate(drain) end  -- clients with a lower nominal rate: the lower one holds
if rate < drain and successes > 0 then
  ok = ok + successes
  while ok >= after and rate < drain do
    ok = ok - after
    set_rate(math.min(drain, rate + step * drain))
  end
end
if rate >= drain then ok = 0 end
if tat < now then tat = now end
local at = math.max(now, tat - (limit - 1) / rate)
tat = tat + 1 / rate
save()
return {f(at - now), gen, f(rate), f(tat - now), f(tat)}
"""
)

#: The portal answered 503: mark the bucket full, and slow down when the last 503 came less than the
#: time a full bucket takes to drain ago (``Gcra.on_query_limit``), unless the rejected request
#: was released before the last penalty (generation ARGV[1]; -1 always applies). ARGV: generation,
#: limit, drain rate, min rate, slowdown, keep. Returns {applied, gen, rate}.
PENALIZE = (
    _NOW
    + _LOAD_BUCKET
    + """
local limit, drain = tonumber(ARGV[2]), tonumber(ARGV[3])
local min_rate, slowdown = tonumber(ARGV[4]), tonumber(ARGV[5])
if rate == nil then rate = drain end
local wanted = tonumber(ARGV[1])
if wanted >= 0 and wanted ~= gen then return {0, gen, f(rate)} end
if pat ~= nil and now - pat < limit / drain then
  rate = math.max(min_rate, math.min(rate, drain) * slowdown)
end
pat = now
tat = now + limit / rate
gen = gen + 1
ok = 0
save()
return {1, gen, f(rate)}
"""
)

#: A cancelled waiter gives its slot back when nothing was booked after it and no penalty voided it.
#: ARGV: generation, the booked tat as returned by RESERVE.
RELEASE = """
local state = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'gen')
if state[1] == ARGV[2] and tonumber(state[3]) == tonumber(ARGV[1]) then
  local tat = tonumber(state[1]) - 1 / tonumber(state[2])
  redis.call('HSET', KEYS[1], 'tat', string.format('%.17g', tat))
  return 1
end
return 0
"""

#: Methods blocked for some real seconds from now: ARGV = method, seconds, method, seconds...
#: A longer block already stored is kept. The key lives until its last block ends.
BLOCK = (
    _NOW
    + """
local key = KEYS[1]
for i = 1, #ARGV, 2 do
  local until_ = now + tonumber(ARGV[i + 1])
  local current = tonumber(redis.call('HGET', key, ARGV[i])) or 0
  if until_ > current then redis.call('HSET', key, ARGV[i], f(until_)) end
end
local last = now
for _, value in ipairs(redis.call('HVALS', key)) do last = math.max(last, tonumber(value)) end
redis.call('PEXPIRE', key, math.ceil((last - now) * 1000) + 1000)
return 1
"""
)

#: Real seconds each method (ARGV) stays blocked from now; "0" when it is not.
BLOCKS = (
    _NOW
    + """
local out = {}
for i = 1, #ARGV do
  local until_ = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  out[i] = f(until_ and math.max(until_ - now, 0) or 0)
end
return out
"""
)

_SCRIPTS = {"reserve": RESERVE, "penalize": PENALIZE, "release": RELEASE, "block": BLOCK, "blocks": BLOCKS}


def safe_url(url: str) -> str:
    """*url* with the password of its user part and password-like query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{user}@{host}"
    query = [
        (name, MASK if any(word in name.lower() for word in _SECRET_QUERY) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment))


def _secrets_of(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [parts.password or ""]
    found += [v for n, v in parse_qsl(parts.query) if any(w in n.lower() for w in _SECRET_QUERY)]
    return [s for s in found if s]


class RedisStore:
    """A lazily opened ``redis.asyncio`` connection pool and the throttle's scripts.

    :param url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) or ``unix://``.
    :param secrets: the registry that masks the URL's password in every log line and message.
    :param timeout: seconds to connect and to wait for an answer (URL options override it).
    """

    def __init__(self, url: str, secrets: SecretRegistry, timeout: float = 5.0) -> None:
        url = url.strip()
        self.safe_url = safe_url(url)
        if urlsplit(url).scheme not in _SCHEMES:
            raise ValueError(
                "shared_throttle must be a redis://, rediss:// or unix:// URL, file:///<directory> or "
                f"'none', got {self.safe_url!r}"
            )
        secrets.add(*_secrets_of(url))
        self._url = url
        self._secrets = secrets
        self._timeout = timeout
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<RedisStore {self.safe_url}>"

    def _connect(self) -> Any:
        if self._client is None:
            try:
                import redis.asyncio as aioredis
            except ImportError:
                raise SharedThrottleError(
                    "the 'redis' package is not installed: pip install 'airflow-provider-bitrix24[redis]'",
                    url=self.safe_url,
                ) from None
            self._client = aioredis.Redis.from_url(
                self._url, socket_connect_timeout=self._timeout, socket_timeout=self._timeout
            )
            self._scripts = {name: self._client.register_script(text) for name, text in _SCRIPTS.items()}
        return self._client

    def _error(self, error: BaseException) -> SharedThrottleError:
        text = self._secrets.redact(f"{type(error).__name__}: {error}")
        return SharedThrottleError(text, url=self.safe_url)

    async def _run(self, script: str, key: str, args: Sequence[Any]) -> Any:
        try:
            self._connect()
            return await self._scripts[script](keys=[key], args=list(args))
        except SharedThrottleError:
            raise
        except Exception as error:  # redis errors, OSError, timeouts
            raise self._error(error) from None

    async def reserve(
        self, key: str, limit: float, drain: float, step: float, after: int, successes: int
    ) -> BucketReply:
        reply = await self._run("reserve", key, [limit, drain, step, after, successes, BUCKET_KEEP])
        delay, generation, rate, ahead, tat = reply
        return BucketReply(float(delay), int(generation), float(rate), float(ahead), _text(tat))

    async def generation(self, key: str) -> int:
        try:
            value = await self._connect().hget(key, "gen")
        except SharedThrottleError:
            raise
        except Exception as error:  # redis errors, OSError, timeouts
            raise self._error(error) from None
        return int(value or 0)

    async def penalize(
        self, key: str, generation: int, limit: float, drain: float, min_rate: float, slowdown: float
    ) -> tuple[bool, int, float]:
        args = [generation, limit, drain, min_rate, slowdown, BUCKET_KEEP]
        applied, gen, rate = await self._run("penalize", key, args)
        return bool(applied), int(gen), float(rate)

    async def release(self, key: str, generation: int, tat: str) -> bool:
        return bool(await self._run("release", key, [generation, tat]))

    async def block(self, key: str, seconds: dict[str, float]) -> None:
        args: list[Any] = []
        for method, duration in seconds.items():
            if math.isfinite(duration) and duration > 0:
                args += [method, duration]
        if args:
            await self._run("block", key, args)

    async def blocks(self, key: str, methods: Sequence[str]) -> list[float]:
        if not methods:
            return []
        return [float(v) for v in await self._run("blocks", key, methods)]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
