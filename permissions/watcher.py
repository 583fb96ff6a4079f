"""Keeps every process's enforcer in step through Redis.

A process publishes each committed change on one channel; the others apply it. Whenever the
subscription is (re)established, the enforcer is rebuilt from the grants table, so a change published
while a process was disconnected (Redis restarted, network cut) is not lost: the grants table is the
source of truth, Redis only carries news. Casbin's own Redis watcher is not used: its pub/sub stops
silently after a disconnect and its default callback only prints.
"""

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cellorg.permissions.enforcer import GrantWindow, PolicyChange, PolicyEnforcer
from cellorg.permissions.service import load_policy

log = logging.getLogger(__name__)

CHANNEL = "cellorg:policy"
RECONNECT_SECONDS = 0.2
POLL_SECONDS = 1.0
PUBLISH_ATTEMPTS = 2


def encode(change: PolicyChange) -> str:
    return json.dumps(
        {"upserted": [_window(w) for w in change.upserted], "discarded": [_window(w) for w in change.discarded]}
    )


def decode(payload: str | bytes) -> PolicyChange:
    data = json.loads(payload)
    return PolicyChange(
        upserted=tuple(_parse(w) for w in data["upserted"]), discarded=tuple(_parse(w) for w in data["discarded"])
    )


def _window(window: GrantWindow) -> dict[str, Any]:
    return {
        "grant_id": window.grant_id,
        "subject": window.subject,
        "role": window.role,
        "scope": window.scope,
        "valid_from": window.valid_from.isoformat(),
        "valid_until": window.valid_until.isoformat() if window.valid_until else None,
    }


def _parse(data: dict[str, Any]) -> GrantWindow:
    until = data["valid_until"]
    return GrantWindow(
        data["grant_id"],
        data["subject"],
        data["role"],
        data["scope"],
        datetime.fromisoformat(data["valid_from"]),
        datetime.fromisoformat(until) if until else None,
    )


class PolicyWatcher:
    def __init__(
        self, redis_url: str, policy: PolicyEnforcer, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        self._redis = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=2.0)
        self._policy = policy
        self._session_factory = session_factory
        self.reloads = 0

    def attach(self) -> None:
        """Publish this process's changes from now on."""
        self._policy.publisher = self.publish

    async def publish(self, change: PolicyChange) -> None:
        payload = encode(change)
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                await self._redis.publish(CHANNEL, payload)
                return
            except RedisError as error:
                # A pooled connection from before a Redis restart fails once; the next one is fresh.
                if attempt == PUBLISH_ATTEMPTS - 1:
                    # The others reload from the grants table when they reconnect; nothing is lost.
                    log.warning("could not publish a policy change: %s", error)

    async def run(self) -> None:
        """Follow the channel forever, reconnecting (and reloading) after any failure."""
        while True:
            try:
                await self._follow()
            except (RedisError, OSError) as error:
                log.warning("policy channel lost (%s); reconnecting", error)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            await self._reload()  # after subscribing: whatever commits later arrives as a message
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                if message is None:
                    await pubsub.ping()  # a dead connection fails here instead of waiting forever
                elif message["type"] == "message":
                    self._policy.apply_locally(decode(message["data"]))
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _reload(self) -> None:
        async with self._session_factory() as session:
            loaded = await load_policy(session, self._policy)
        self.reloads += 1
        log.info("policy reloaded from the grants table: %d windows", loaded)

    async def close(self) -> None:
        self._policy.publisher = None
        await self._redis.aclose()
