"""The delivery worker: the same application (settings, engine, services), state in the database.

Each round: fan new events out into deliveries, claim the due ones (committed leases), send them
concurrently, record each attempt. `careplan serve` runs one in every worker process (a
background task of the app's lifespan); `careplan worker` runs it alone. Any number of them can
run at once (claims use SKIP LOCKED) and any one can die: an expired lease makes its delivery due
again, so every event is delivered at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import utcnow
from app.events import service
from app.events.service import Job, Outcome, UnsafeWebhookUrl

logger = logging.getLogger("careplan.webhooks")

PURGE_EVERY_S = 3600.0


@dataclass(frozen=True)
class DeliveryPolicy:
    timeout_s: float = 10.0
    lease: dt.timedelta = dt.timedelta(seconds=60)
    retry_base_s: float = 30.0
    poll_s: float = 1.0
    batch: int = 20
    allow_private: bool = False
    retention_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            timeout_s=settings.webhook_timeout_seconds,
            lease=dt.timedelta(seconds=settings.webhook_lease_seconds),
            retry_base_s=settings.webhook_retry_base_seconds,
            poll_s=settings.webhook_poll_seconds,
            allow_private=settings.allows_private_webhooks,
            retention_days=settings.event_retention_days,
        )


class DeliveryWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: DeliveryPolicy,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.policy = policy
        self._http = http
        self._last_purge = float("-inf")

    async def run_once(self) -> int:
        """One round; returns how many deliveries it attempted."""
        async with self.sessionmaker() as db:
            await service.fan_out(db, utcnow())
            await db.commit()
        async with self.sessionmaker() as db:
            jobs = await service.claim_due(db, utcnow(), self.policy.lease, self.policy.batch)
            await db.commit()
        if not jobs:
            return 0
        outcomes = await asyncio.gather(*(self.send(job) for job in jobs))
        for job, outcome in zip(jobs, outcomes, strict=True):
            async with self.sessionmaker() as db:
                await service.record_attempt(db, job, outcome, utcnow(), self.policy.retry_base_s)
                await db.commit()
        return len(jobs)

    async def purge(self) -> int:
        async with self.sessionmaker() as db:
            purged = await service.purge_events(db, self.policy.retention_days, utcnow())
            await db.commit()
        self._last_purge = time.monotonic()
        if purged:
            logger.info("purged events past retention", extra={"purged": purged})
        return purged

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set; a failing round is logged and the loop goes on."""
        logger.info("webhook delivery worker started")
        while not stop.is_set():
            busy = 0
            try:
                if time.monotonic() - self._last_purge >= PURGE_EVERY_S:
                    await self.purge()
                busy = await self.run_once()
            except Exception:
                logger.exception("webhook delivery round failed")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.policy.poll_s)
        logger.info("webhook delivery worker stopped")

    async def send(self, job: Job) -> Outcome:
        started = time.perf_counter()

        def took() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            # checked again now: the name may resolve elsewhere than when the webhook was saved
            await service.check_webhook_url(job.url, self.policy.allow_private)
        except UnsafeWebhookUrl as error:
            return Outcome(None, f"refused: {error}", took())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Careplan-Webhooks/1",
            **service.signature_headers(job.secret, job.event_id, job.body, int(time.time())),
        }
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                response = await self._client().post(job.url, content=job.body, headers=headers)
        except TimeoutError:
            return Outcome(None, f"no response within {self.policy.timeout_s:g} s", took())
        except httpx.HTTPError as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:500], took())
        failure = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return Outcome(response.status_code, failure, took())

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.policy.timeout_s, follow_redirects=False, trust_env=False
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
