"""The FastAPI application factory. Settings are passed in; nothing is read at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from campus import __version__
from campus.settings import Settings

__all__ = ["ApiError", "create_app"]


class ApiError(Exception):
    """An expected failure with its HTTP status and a readable reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Health(BaseModel):
    status: str
    version: str


class IngestWorker(BaseModel):
    instance: str
    seen_s_ago: float
    sightings: int
    rows: int
    rejected: dict[str, int]
    commit_p99_ms: float | None


class PlatformStatus(BaseModel):
    site_id: str
    gateways_enrolled: int
    ingest: list[IngestWorker]


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            settings.dsn, min_size=1, max_size=8, open=False, kwargs={"application_name": "campus-api"}
        )
        pool.open(wait=False)
        app.state.pool = pool
        yield
        pool.close()

    app = FastAPI(title="Campus presence API", version=__version__, lifespan=lifespan)
    # Operator metrics of every service running in this process (ingest's
    # counters when run by `campus up`); `campus ingest run --metrics-port`
    # serves the same for a separate ingest process.
    app.mount("/metrics", make_asgi_app())

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.reason})

    def _pool(request: Request) -> ConnectionPool:
        pool: ConnectionPool = request.app.state.pool
        return pool

    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz(request: Request) -> Health:
        """Liveness and database reachability."""
        try:
            with _pool(request).connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, TimeoutError) as exc:
            raise ApiError(503, "database unreachable") from exc
        return Health(status="ok", version=__version__)

    @app.get("/api/v1/status", response_model=PlatformStatus, tags=["operations"])
    def status(request: Request) -> PlatformStatus:
        """Operational counters (no personal data)."""
        try:
            with _pool(request).connection(timeout=2) as conn:
                gateways = conn.execute(
                    "SELECT count(*) FROM gateways WHERE site_id = %s AND revoked_at IS NULL",
                    (settings.site_id,),
                ).fetchone()
                rows = conn.execute(
                    "SELECT instance, seen_at, stats FROM service_heartbeats WHERE service = 'ingest' ORDER BY instance"
                ).fetchall()
        except (psycopg.Error, TimeoutError) as exc:
            raise ApiError(503, "database unreachable") from exc
        now = datetime.now(UTC)
        workers = [_worker(instance, (now - seen).total_seconds(), stats) for instance, seen, stats in rows]
        return PlatformStatus(
            site_id=settings.site_id, gateways_enrolled=gateways[0] if gateways else 0, ingest=workers
        )

    return app


def _worker(instance: str, age_s: float, stats: dict[str, Any]) -> IngestWorker:
    return IngestWorker(
        instance=instance,
        seen_s_ago=round(age_s, 1),
        sightings=int(stats.get("sightings", 0)),
        rows=int(stats.get("rows", 0)),
        rejected={str(k): int(v) for k, v in stats.get("rejected", {}).items()},
        commit_p99_ms=stats.get("commit_p99_ms"),
    )
