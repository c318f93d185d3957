"""The application factory: middleware, error handlers, routers and the database engine."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import api_reference
from app.audit import router as audit_router
from app.audit.models import AuditEvent
from app.audit.service import NO_ACTOR, denied_event, take_deferred
from app.audit.targets import NO_TARGET, target_of
from app.audit.writer import AuditWriter
from app.auth import router as auth_router
from app.auth.callers import CallerMemory, ChangeListener, forget_if_changed
from app.auth.dependencies import actor
from app.auth.service import LoginThrottle
from app.care_plans import router as care_plans_router
from app.clients import router as clients_router
from app.core.config import Settings
from app.core.context import parse_trusted_proxies
from app.core.db import create_engine, make_sessionmaker
from app.core.docs import install_docs
from app.core.errors import AppError, Forbidden, Hidden, Unauthorized, install_error_handlers
from app.core.http import ClinicCorsMiddleware, HttpSemanticsMiddleware
from app.core.middleware import RequestContextMiddleware
from app.core.observability import Metrics, configure_logging
from app.core.openapi import Reference, install_openapi
from app.core.routing import CheckedInputRoute
from app.core.secret_key import signing_key
from app.core.security import Caller, PasswordHashing
from app.directory import router as directory_router
from app.events import router as events_router
from app.events.worker import DeliveryPolicy, DeliveryWorker
from app.export import router as export_router
from app.fhir import router as fhir_router
from app.fhir.errors import PREFIX as FHIR_PREFIX
from app.fhir.errors import operation_outcome_response
from app.referrals import router as referrals_router
from app.session_records import router as session_records_router
from app.summaries import router as summaries_router

logger = logging.getLogger("careplan")

DESCRIPTION = """
Treatment plans for massage-therapy clinics: clients and their precautions, referring
professionals, referrals, care plans with measurable goals, signed session records and
progress summaries for the practitioners who referred the client.

* Authenticate with `Authorization: Bearer <token>`: a user access token from
  `POST /v1/auth/token` or an API key.
* Every error is an RFC 9457 `application/problem+json` document.
* `PATCH` is JSON merge-patch and needs `If-Match` with the resource's `ETag`.
* Lists are keyset-paginated: follow `next_cursor` until it is null.
"""


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> FastAPI:
    settings = settings or Settings()
    engine = None
    if sessionmaker is None:
        engine = create_engine(
            settings.database_url, pool_size=settings.db_pool_size, echo=settings.db_echo
        )
        sessionmaker = make_sessionmaker(engine)

    audit_writer = AuditWriter(sessionmaker)
    callers = CallerMemory()
    auth_changes = auth_change_listener(sessionmaker, callers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # webhook delivery in-process, one worker per server process (claims use SKIP LOCKED)
        stop = asyncio.Event()
        listening = None if auth_changes is None else asyncio.create_task(auth_changes.run(stop))
        delivery: asyncio.Task[None] | None = None
        if settings.delivery_worker:
            worker = DeliveryWorker(sessionmaker, DeliveryPolicy.from_settings(settings))
            delivery = asyncio.create_task(worker.run(stop))
        # What start-up built (modules, routes, schemas, mappers) lives as long as the process:
        # frozen, it is left out of the collector's full passes, which then walk only what the
        # requests made instead of the whole heap (a pause of ~0.1 s every few thousand requests)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
        stop.set()
        if delivery is not None:
            await delivery
            await worker.close()
        if listening is not None:
            await listening
        await audit_writer.drain()
        if engine is not None:
            await engine.dispose()

    app = FastAPI(
        title="Careplan API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from assets on this host
        redoc_url=None,
        openapi_url="/openapi.json",
        # metrics are Prometheus's (`/metrics`); no OpenTelemetry provider is set up, so the
        # framework need not look for one on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.state.metrics = metrics
    app.state.password_hashing = PasswordHashing(
        settings.argon2_time_cost, settings.argon2_memory_kib
    )
    app.state.secret_key = signing_key(settings)
    app.state.login_throttle = LoginThrottle(sessionmaker)
    app.state.on_error = _audit_denied
    app.state.audit_writer = audit_writer
    app.state.callers = callers
    app.state.auth_changes = auth_changes

    async def after_commit(session: AsyncSession) -> None:
        forget_if_changed(callers, session.sync_session)
        await audit_writer.write(take_deferred(session))

    app.state.after_commit = after_commit
    app.state.error_renderers = {FHIR_PREFIX: operation_outcome_response}
    install_error_handlers(app)
    if settings.cors_origins:  # innermost of the three: preflights get a request id too
        app.add_middleware(ClinicCorsMiddleware, origins=settings.cors_origins)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        access_log=settings.access_log,
        trusted_proxies=parse_trusted_proxies(settings.trusted_proxies),
    )
    app.add_middleware(HttpSemanticsMiddleware)
    install_docs(app)
    install_openapi(
        app,
        Reference(
            field_description=api_reference.field_description,
            operations=api_reference.OPERATIONS,
            examples=api_reference.EXAMPLES,
            parameters=api_reference.PARAMETERS,
        ),
    )

    app.router.route_class = CheckedInputRoute  # the routes declared on the app itself
    _add_operational_routes(app)
    # The routes are added to the app itself rather than through include_router, so that
    # `app.routes` lists every path operation (the route-rule test and tools walk it).
    for module in (
        auth_router,
        directory_router,
        clients_router,
        referrals_router,
        care_plans_router,
        session_records_router,
        summaries_router,
        fhir_router,
        audit_router,
        events_router,
        export_router,
    ):
        app.router.routes.extend(module.router.routes)
    return app


def _add_operational_routes(app: FastAPI) -> None:
    @app.get("/v1/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/v1/health/ready",
        tags=["operations"],
        summary="Readiness: the database answers",
        responses={503: {"description": "The database does not answer"}},
    )
    async def ready(request: Request) -> Response:
        try:
            async with request.app.state.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            logger.warning("readiness check failed", exc_info=True)
            return Response(
                b'{"status":"unavailable","database":"unreachable"}',
                status_code=503,
                media_type="application/json",
            )
        return Response(b'{"status":"ok","database":"ok"}', media_type="application/json")

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics, added up over every worker process",
        response_class=Response,
    )
    async def prometheus_metrics(request: Request) -> Response:
        metrics: Metrics = request.app.state.metrics
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _audit_denied(request: Request, error: AppError) -> None:
    """Denied requests are audited in a transaction of their own: the request's rolled back."""
    if not isinstance(error, Unauthorized | Forbidden | Hidden):
        return
    caller: Caller | None = getattr(request.state, "caller", None)
    who = actor(caller) if caller else NO_ACTOR
    route_path = getattr(request.scope.get("route"), "path", None)
    try:
        async with request.app.state.sessionmaker() as session:
            try:
                target = await target_of(session, route_path, request.path_params)
            except Exception:
                logger.warning("could not resolve what a denied request aimed at", exc_info=True)
                await session.rollback()
                target = NO_TARGET
            event: AuditEvent = denied_event(
                who, error.status, target.resource_type, target.resource_id, target.client_id
            )
            session.add(event)
            await session.commit()
    except Exception:
        logger.exception("could not write the audit event of a denied request")


def auth_change_listener(
    sessionmaker: async_sessionmaker[AsyncSession], callers: CallerMemory
) -> ChangeListener | None:
    """On PostgreSQL, the listener that lets this worker remember callers (`app.auth.callers`);
    None on SQLite, and for a session factory bound to one connection (nothing to listen with)."""
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "postgresql":
        return None
    dsn = bind.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return ChangeListener(dsn, callers)


def app_factory() -> FastAPI:
    """For `uvicorn --factory app.main:app_factory`: settings from the environment."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
