"""HTTP load benchmark: throughput and latency of a few endpoints of a real `careplan serve`.

Starts the installed `careplan serve` on a free loopback port against a database of its own
(PostgreSQL by default, dropped and created fresh; or a temporary SQLite file), seeds it through
the API with an admin API key from `careplan admin create-api-key` (a therapist, 200 clients, an
active care plan with a goal, 100 completed sessions; on PostgreSQL then `ANALYZE`, as
autovacuum would on a live server), then loads each endpoint in turn from a pool of asyncio
httpx clients (one keep-alive connection per concurrent slot) for a fixed time (or a fixed
number of requests) and prints one row per endpoint: requests, req/s, p50/p90/p99 latency,
non-2xx count, and the CPU time the server (its process tree), the PostgreSQL backends serving
it and this load generator spent per request. It stops by itself, stops the server it started
(also on Ctrl-C, SIGTERM or an error) and drops its database.

Usage, from the project folder:

    .venv/bin/python bench/http_load.py                              # PostgreSQL, 2 workers
    .venv/bin/python bench/http_load.py --database sqlite --workers 1

`--help` lists the options; bench/README.md has the measured figures. Requirements: the project
installed in `.venv` (httpx comes with it); for PostgreSQL, the `psql` client on PATH and a
server that lets the URL's user create and drop databases. Linux `/proc` is read for CPU times;
elsewhere those columns show `-`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import importlib.util
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAREPLAN = ROOT / ".venv" / "bin" / "careplan"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/careplan_bench"
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SERVER_START_TIMEOUT_S = 120.0
SERVER_STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 60.0
SEED_CONCURRENCY = 8
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ENDPOINT_KEYS = ("health", "client", "clients", "sessions", "create", "patch", "summary")


class BenchError(Exception):
    """The benchmark could not run: a setup step failed. The message says which."""


# --- options -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Options:
    database: str
    database_url: str
    workers: int
    concurrency: int
    duration: float
    requests: int | None
    warmup: float
    clients: int
    sessions: int
    endpoints: tuple[str, ...]
    careplan: Path


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative number")
    return value


def endpoint_list(text: str) -> tuple[str, ...]:
    keys = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [key for key in keys if key not in ENDPOINT_KEYS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(ENDPOINT_KEYS)} (got {text!r})")
    return keys


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="Load a freshly started `careplan serve` and print throughput and latency.",
    )
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="backend (default postgresql; sqlite uses a temporary file)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_POSTGRES_URL,
        help="PostgreSQL database to DROP and create fresh, then drop at the end "
        f"(default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="server worker processes (default 2)"
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=32,
        help="requests in flight at once (default 32)",
    )
    parser.add_argument(
        "--duration",
        type=non_negative_float,
        default=10.0,
        help="seconds of measured load per endpoint (default 10)",
    )
    parser.add_argument(
        "--requests",
        type=positive_int,
        default=None,
        help="a fixed number of measured requests per endpoint instead of --duration",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=1.0,
        help="seconds of unmeasured load per endpoint before measuring (default 1)",
    )
    parser.add_argument(
        "--clients", type=positive_int, default=200, help="clients to seed (default 200)"
    )
    parser.add_argument(
        "--sessions",
        type=positive_int,
        default=100,
        help="completed sessions to seed in the care plan (default 100)",
    )
    parser.add_argument(
        "--endpoints",
        type=endpoint_list,
        default=ENDPOINT_KEYS,
        help=f"comma-separated subset of {','.join(ENDPOINT_KEYS)} (default all)",
    )
    parser.add_argument(
        "--careplan",
        type=Path,
        default=DEFAULT_CAREPLAN,
        help=f"the careplan command to run (default {DEFAULT_CAREPLAN})",
    )
    args = parser.parse_args(argv)
    if args.requests is None and args.duration <= 0:
        parser.error("--duration must be positive unless --requests is given")
    return Options(
        database=args.database,
        database_url=args.database_url,
        workers=args.workers,
        concurrency=args.concurrency,
        duration=args.duration,
        requests=args.requests,
        warmup=args.warmup,
        clients=args.clients,
        sessions=args.sessions,
        endpoints=args.endpoints,
        careplan=args.careplan,
    )


# --- the database --------------------------------------------------------------------------


class PostgresDatabase:
    """A database on a PostgreSQL server, dropped and created with `psql`."""

    backend = "postgresql"

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise BenchError(f"--database-url must be a postgresql:// URL, got {url!r}")
        name = parts.path.lstrip("/")
        if not DATABASE_NAME.match(name):
            raise BenchError(f"--database-url must name a plain database, got {name!r}")
        if shutil.which("psql") is None:
            raise BenchError("the PostgreSQL benchmark needs the `psql` client on PATH")
        self.url = url
        self.name = name
        self._maintenance_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))

    def _psql(self, sql: str, *, in_database: bool = False) -> str:
        url = self.url if in_database else self._maintenance_url
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url],
            input=sql,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"psql failed on {sql.strip()!r}: {result.stderr.strip()}")
        return result.stdout

    def create(self) -> None:
        self.drop()
        self._psql(f'CREATE DATABASE "{self.name}";')

    def drop(self) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE);')

    def analyze(self) -> None:
        """Table statistics, as autovacuum gathers them on a live server within a minute of a
        load: without them the planner takes every fresh table for empty and picks plans
        (nested loops over whole tables) that no running installation would use."""
        self._psql("ANALYZE;", in_database=True)

    def backend_pids(self) -> list[int]:
        """The server processes serving connections to this database, to read their CPU."""
        out = self._psql(
            f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.name}' "
            "AND pid <> pg_backend_pid();"
        )
        return [int(line) for line in out.split() if line.strip().isdigit()]


class SqliteDatabase:
    """A SQLite file in a temporary folder, removed with its WAL files at the end."""

    backend = "sqlite"

    def __init__(self) -> None:
        self._folder: Path | None = None
        self.url = ""

    def create(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="careplan-bench-"))
        self.url = f"sqlite:///{self._folder / 'careplan_bench.db'}"

    def drop(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def analyze(self) -> None:
        """Nothing: SQLite keeps no statistics unless the application gathers them, and this
        one does not, so its planner's defaults are what a real installation runs with."""

    def backend_pids(self) -> list[int]:
        return []  # SQLite runs inside the server's processes


Database = PostgresDatabase | SqliteDatabase


# --- CPU accounting from /proc -------------------------------------------------------------


def _read_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read_stat(int(entry.name))
        if stat is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    times = {}
    for pid in pids:
        stat = _read_stat(pid)
        if stat is not None:
            times[pid] = stat[1]
    return times


@dataclasses.dataclass(frozen=True)
class CpuUsage:
    """CPU seconds over one measured phase; None where /proc could not tell."""

    server: float | None
    database: float | None
    client: float
    # each busy server process's share of the server's CPU, largest first: how evenly the
    # workers shared the load (keep-alive connections stay with the worker that accepted them)
    server_shares: tuple[float, ...] = ()


class CpuMeter:
    """CPU seconds spent between `start()` and `stop()` by the server's process tree and the
    database backends serving it (processes that appear meanwhile count from zero)."""

    def __init__(self, server_pid: int, database: Database) -> None:
        self.server_pid = server_pid
        self.database = database
        self.available = Path(f"/proc/{server_pid}/stat").exists()
        self._server: dict[int, float] = {}
        self._db: dict[int, float] = {}
        self._client = 0.0

    def _db_pids(self) -> list[int]:
        return self.database.backend_pids() if self.available else []

    def start(self) -> None:
        if self.available:
            self._server = cpu_seconds(process_tree(self.server_pid))
            self._db = cpu_seconds(self._db_pids())
        self._client = time.process_time()

    def stop(self) -> CpuUsage:
        client = time.process_time() - self._client
        if not self.available:
            return CpuUsage(None, None, client)
        server_now = cpu_seconds(process_tree(self.server_pid))
        per_process = [t - self._server.get(pid, 0.0) for pid, t in server_now.items()]
        server = sum(per_process)
        shares = tuple(
            sorted(
                (spent / server for spent in per_process if server > 0 and spent / server >= 0.01),
                reverse=True,
            )
        )
        if self.database.backend == "sqlite":
            return CpuUsage(server, None, client, shares)
        db_now = cpu_seconds(self._db_pids())
        db = sum(t - self._db.get(pid, 0.0) for pid, t in db_now.items())
        return CpuUsage(server, db, client, shares)


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`careplan serve` in its own process group, logging to a file in a temporary folder."""

    def __init__(self, careplan: Path, database_url: str, workers: int) -> None:
        if not careplan.is_file():
            raise BenchError(f"{careplan} not found: install the project into .venv first")
        self.careplan = careplan.absolute()  # the server runs in a folder of its own
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="careplan-bench-server-"))
        self.log_path = self.folder / "server.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CAREPLAN_ACCESS_LOG": "false",
            "CAREPLAN_ENV": "development",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # the working folder is an empty one, so no stray .env file changes the settings
            self.process = subprocess.Popen(
                [
                    str(self.careplan),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"the server exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                response = httpx.get(f"{self.base_url}/v1/health", timeout=2.0, trust_env=False)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BenchError(f"the server did not answer within {SERVER_START_TIMEOUT_S:.0f} s")

    def create_admin_key(self) -> str:
        result = subprocess.run(
            [str(self.careplan), "admin", "create-api-key", "--name", "bench", "--role", "admin"],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            raise BenchError(f"create-api-key failed: {result.stderr.strip()}")
        return lines[-1].strip()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """SIGTERM to the server's process group (workers included), SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=SERVER_STOP_TIMEOUT_S)
            except ProcessLookupError:
                pass
        if process is not None:
            # workers that outlived their supervisor are still in its process group
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


# --- seeding through the API ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fixture:
    therapist_id: str
    client_ids: list[str]
    care_plan_id: str
    goal_id: str


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body)
    if response.status_code != 201:
        raise BenchError(f"seeding: POST {path} answered {response.status_code}: {response.text}")
    data: dict[str, Any] = response.json()
    return data


async def _bounded(jobs: list[Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(SEED_CONCURRENCY)

    async def one(job: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


def session_body(
    fixture_ids: tuple[str, str, str, str], index: int, start: dt.datetime
) -> dict[str, Any]:
    therapist_id, client_id, care_plan_id, goal_id = fixture_ids
    techniques = ["effleurage", "petrissage", "myofascial release", "trigger point"]
    pain_before = max(0.0, 7.0 - index * 0.05)
    return {
        "client_id": client_id,
        "care_plan_id": care_plan_id,
        "therapist_id": therapist_id,
        "scheduled_start": start.isoformat().replace("+00:00", "Z"),
        "duration_minutes": 60,
        "status": "completed",
        "session_type": "therapeutic",
        "body_regions": ["neck", "shoulders", "upper_back"],
        "techniques": techniques[: 2 + index % 3],
        "pressure": "moderate",
        "soap": {
            "subjective": f"Neck stiffness after desk work, visit {index + 1}.",
            "objective": "Hypertonic upper trapezius, limited cervical rotation.",
            "assessment": "Gradual improvement of range and pain.",
            "plan": "Continue weekly; stretches at home.",
        },
        "measurements": [
            {"goal_id": goal_id, "measure": "nprs", "value": pain_before, "timing": "pre"},
            {"goal_id": goal_id, "measure": "nprs", "value": pain_before - 1, "timing": "post"},
        ],
        "health_update": "No change since last visit.",
        "adverse_event": "Mild soreness for a day." if index % 25 == 0 else None,
        "home_care": "Heat and gentle stretches.",
    }


async def seed(http: httpx.AsyncClient, clients: int, sessions: int) -> Fixture:
    therapist = await _post(
        http,
        "/v1/therapists",
        {
            "full_name": "Bench Therapist",
            "license_number": "LMT-1",
            "license_expires_on": "2099-12-31",
            "credentials": ["LMT"],
            "certifications": ["sports", "medical_massage"],
        },
    )
    created = await _bounded(
        [
            _post(
                http,
                "/v1/clients",
                {
                    "given_name": "Client",
                    "family_name": f"Bench{number:04d}",
                    "date_of_birth": "1980-01-01",
                    "email": f"client{number}@example.com",
                    "phone": "+1 555 0100",
                },
            )
            for number in range(clients)
        ]
    )
    client_ids = [client["id"] for client in created]
    first_start = dt.datetime.now(dt.UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    first_start -= dt.timedelta(days=sessions + 1)
    plan = await _post(
        http,
        "/v1/care-plans",
        {
            "client_id": client_ids[0],
            "primary_therapist_id": therapist["id"],
            "title": "Neck and shoulder pain",
            "kind": "therapeutic",
            "status": "active",
            "start_date": first_start.date().isoformat(),
            "planned_sessions": sessions + 20,
            "sessions_per_week": 1,
        },
    )
    goal = await _post(
        http,
        f"/v1/care-plans/{plan['id']}/goals",
        {
            "description": "Less neck pain",
            "measure": "nprs",
            "baseline_value": 7,
            "target_value": 2,
            "status": "active",
        },
    )
    ids = (therapist["id"], client_ids[0], plan["id"], goal["id"])
    await _bounded(
        [
            _post(http, "/v1/sessions", session_body(ids, i, first_start + dt.timedelta(days=i)))
            for i in range(sessions)
        ]
    )
    return Fixture(therapist["id"], client_ids, plan["id"], goal["id"])


# --- the load ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    status: int  # 0: the request failed before a response (connection error, timeout)
    seconds: float


Scenario = Callable[[httpx.AsyncClient, int, int], Awaitable[Sample]]


async def timed(request: Awaitable[httpx.Response]) -> Sample:
    began = time.perf_counter()
    try:
        response = await request
    except httpx.TransportError:
        return Sample(0, time.perf_counter() - began)
    return Sample(response.status_code, time.perf_counter() - began)


def scenarios(fixture: Fixture) -> dict[str, tuple[str, Scenario]]:
    """Each scenario makes one measured request; its arguments are the slot's own client, the
    slot's number (0 … concurrency-1) and a running request number."""
    clients = fixture.client_ids
    plan = fixture.care_plan_id

    async def health(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        return await timed(http.get("/v1/health"))

    async def get_client(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        return await timed(http.get(f"/v1/clients/{clients[n % len(clients)]}"))

    async def list_clients(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        return await timed(http.get("/v1/clients", params={"limit": 50}))

    async def list_sessions(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        return await timed(http.get("/v1/sessions", params={"care_plan_id": plan, "limit": 50}))

    async def create_client(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        body = {"given_name": "Load", "family_name": f"Test{n}", "date_of_birth": "1990-05-17"}
        return await timed(http.post("/v1/clients", json=body))

    async def patch_client(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        # each slot works on its own client, so concurrent slots do not invalidate each
        # other's If-Match (with more slots than clients some share one and may get 412)
        client_id = clients[slot % len(clients)]
        began = time.perf_counter()
        try:
            current = await http.get(f"/v1/clients/{client_id}")
        except httpx.TransportError:
            return Sample(0, time.perf_counter() - began)
        if not current.is_success:
            return Sample(current.status_code, time.perf_counter() - began)
        return await timed(
            http.patch(
                f"/v1/clients/{client_id}",
                json={"notes": f"Load test update {n}"},
                headers={"If-Match": current.headers.get("ETag", "")},
            )
        )

    async def summary(http: httpx.AsyncClient, slot: int, n: int) -> Sample:
        return await timed(
            http.get(f"/v1/care-plans/{plan}/summary", headers={"Accept": "application/json"})
        )

    return {
        "health": ("GET /v1/health", health),
        "client": ("GET /v1/clients/{id}", get_client),
        "clients": ("GET /v1/clients?limit=50", list_clients),
        "sessions": ("GET /v1/sessions?care_plan_id=…&limit=50", list_sessions),
        "create": ("POST /v1/clients", create_client),
        "patch": ("PATCH /v1/clients/{id} (+ GET for If-Match)", patch_client),
        "summary": ("GET /v1/care-plans/{id}/summary", summary),
    }


async def drive(
    pool: list[httpx.AsyncClient],
    scenario: Scenario,
    concurrency: int,
    seconds: float | None,
    requests: int | None,
) -> tuple[list[Sample], float]:
    """Runs `scenario` from `concurrency` slots, slot i on `pool[i]`, until `seconds` pass or
    `requests` are made."""
    samples: list[Sample] = []
    counter = 0
    began = time.perf_counter()
    deadline = began + seconds if seconds is not None else math.inf

    async def slot(number: int) -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            if requests is not None and counter >= requests:
                return
            counter += 1
            samples.append(await scenario(pool[number], number, counter))

    await asyncio.gather(*(slot(number) for number in range(concurrency)))
    return samples, time.perf_counter() - began


@dataclasses.dataclass(frozen=True)
class Row:
    endpoint: str
    samples: list[Sample]
    elapsed: float
    cpu: CpuUsage

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ordered = sorted(sample.seconds for sample in self.samples)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def errors(self) -> Counter[int]:
        return Counter(s.status for s in self.samples if not 200 <= s.status < 300)


def http_client(base_url: str, api_key: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=REQUEST_TIMEOUT_S,
        trust_env=False,  # loopback only: no proxy from the environment
    )


async def measure(
    options: Options, server: Server, database: Database, api_key: str
) -> tuple[list[Row], Fixture]:
    # The load comes from a pool of clients with one keep-alive connection each, one client
    # per slot: a single client with N connections scans all N for every request it sends
    # (httpcore 1.0), which at 32 costs the load generator ~4 times the CPU of the requests
    # themselves on these machines and would make it, not the server, the bottleneck.
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            http_client(server.base_url, api_key, SEED_CONCURRENCY)
        )
        pool = [
            await stack.enter_async_context(http_client(server.base_url, api_key, 1))
            for _ in range(options.concurrency)
        ]
        print("seeding through the API …", flush=True)
        began = time.perf_counter()
        fixture = await seed(http, options.clients, options.sessions)
        database.analyze()
        print(
            f"seeded 1 therapist, {len(fixture.client_ids)} clients, 1 care plan with a goal and "
            f"{options.sessions} sessions in {time.perf_counter() - began:.1f} s",
            flush=True,
        )
        assert server.process is not None
        meter = CpuMeter(server.process.pid, database)
        table = scenarios(fixture)
        rows = []
        for key in options.endpoints:
            endpoint, scenario = table[key]
            print(f"loading {endpoint} …", flush=True)
            if options.warmup > 0:
                await drive(pool, scenario, options.concurrency, options.warmup, None)
            meter.start()
            if options.requests is not None:
                samples, elapsed = await drive(
                    pool, scenario, options.concurrency, None, options.requests
                )
            else:
                samples, elapsed = await drive(
                    pool, scenario, options.concurrency, options.duration, None
                )
            rows.append(Row(endpoint, samples, elapsed, meter.stop()))
        return rows, fixture


# --- the report ----------------------------------------------------------------------------


def _per_request_ms(total: float | None, row: Row) -> str:
    if total is None or not row.samples:
        return "-"
    return f"{total * 1000 / len(row.samples):.2f}"


def print_table(rows: list[Row]) -> None:
    header = (
        "endpoint",
        "requests",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
        "server CPU ms/req",
        "db CPU ms/req",
        "client CPU ms/req",
        "server CPU split %",
    )
    lines = [header]
    for row in rows:
        count = len(row.samples)
        lines.append(
            (
                row.endpoint,
                str(count),
                f"{count / row.elapsed:.0f}" if row.elapsed > 0 else "-",
                f"{row.percentile(0.50):.1f}" if count else "-",
                f"{row.percentile(0.90):.1f}" if count else "-",
                f"{row.percentile(0.99):.1f}" if count else "-",
                str(sum(row.errors.values())),
                _per_request_ms(row.cpu.server, row),
                _per_request_ms(row.cpu.database, row),
                _per_request_ms(row.cpu.client, row),
                "/".join(f"{share * 100:.0f}" for share in row.cpu.server_shares) or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ]
        print("| " + " | ".join(cells) + " |")
        if number == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        if row.errors:
            detail = ", ".join(
                f"{'no response' if status == 0 else status} × {count}"
                for status, count in sorted(row.errors.items())
            )
            print(f"errors on {row.endpoint}: {detail}")


def describe_run(options: Options, database: Database) -> None:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    mode = (
        f"{options.requests} requests"
        if options.requests is not None
        else f"{options.duration:g} s"
    )
    print(f"date:        {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine:     {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"httpx {httpx.__version__}"
    )
    if load is not None:
        print(f"load avg:    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (before the run)")
    print(f"database:    {database.backend}")
    print(f"workers:     {options.workers}")
    print(
        f"load:        concurrency {options.concurrency}, {mode} per endpoint after "
        f"{options.warmup:g} s of warm-up, loopback"
    )
    if "patch" in options.endpoints and options.concurrency > options.clients:
        print(
            f"note:        {options.concurrency} slots share {options.clients} clients for "
            "PATCH: concurrent updates of one client answer 412"
        )


# --- main ----------------------------------------------------------------------------------


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the server is stopped and the database dropped."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred() -> Iterator[None]:
    deferred = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, deferred)


def run(options: Options) -> int:
    database: Database = (
        PostgresDatabase(options.database_url)
        if options.database == "postgresql"
        else SqliteDatabase()
    )
    server: Server | None = None
    try:
        describe_run(options, database)
        database.create()
        server = Server(options.careplan, database.url, options.workers)
        print(f"starting careplan serve on {server.base_url} …", flush=True)
        server.start()
        server.wait_ready()
        api_key = server.create_admin_key()
        rows, _ = asyncio.run(measure(options, server, database, api_key))
        if server.process is not None and server.process.poll() is not None:
            raise BenchError(f"the server died during the run:\n{server.log_tail()}")
        print()
        print_table(rows)
        return 0
    finally:
        # a second Ctrl-C must not cut the clean-up short: it is delivered once it is done
        with signals_deferred():
            if server is not None:
                server.stop()
            database.drop()


def cache_missing_async_library_probe() -> None:
    """httpcore 1.0 runs `import sniffio` for every request it sends; anyio 4 no longer
    installs sniffio, and each failed import searches the whole import path again (~0.5 ms of
    CPU a request here, a third of the load generator's cost). Recording the module as absent
    makes the failure instant; httpcore then assumes asyncio, which is what runs here."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    cache_missing_async_library_probe()
    try:
        with terminate_as_interrupt():
            return run(options)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; server stopped and database dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
