"""Instructions per request, Careplan against the bare app, counted by callgrind: a figure that
does not move with the load of a shared machine, for comparing two versions of the code.

Both apps are called directly as ASGI apps in a child process (no HTTP server and no client in
the process, so the HTTP parsing both would share is left out), on the data set of
`bench/dataset.py` in a database of its own (dropped and created fresh). For each endpoint and
app, the child warms up, then callgrind counts the instructions of `--requests` requests made
`--concurrency` at a time. The table gives instructions per request and the ratio bare/Careplan
(what req/s would be if both were bound by their own CPU). The same code gives the same count
within about 1 % run after run, whatever else the machine does. Valgrind slows a process about
fifty times: the defaults take a few minutes per endpoint.

    .venv/bin/python bench/instructions.py                      # the four requests
    .venv/bin/python bench/instructions.py --endpoints client,create --requests 320

Needs Debian's `valgrind` (`apt-get install valgrind`) and a PostgreSQL server that lets the
URL's user create databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/careplan_bench_instructions"
CREATE_BODY = (
    b'{"given_name": "Mina", "family_name": "Haddad", "date_of_birth": "1984-03-02", '
    b'"phone": "+44 20 7946 0018"}'
)
ENDPOINTS = ("client", "clients", "summary", "create")
ASGIApp = Callable[..., Awaitable[None]]


# ---- the child: requests in process, counted between two toggles --------------------------------


def _request(
    key: str, data: dict[str, list[str]], kind: str, i: int
) -> tuple[dict[str, Any], bytes]:
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {key}".encode())]
    method, path, query, body = "GET", "", b"", b""
    if kind == "client":
        path = f"/v1/clients/{data['clients'][i % len(data['clients'])]}"
    elif kind == "clients":
        path, query = "/v1/clients", b"limit=50"
    elif kind == "summary":
        path = f"/v1/care-plans/{data['plans'][i % len(data['plans'])]}/summary"
    else:
        method, path, body = "POST", "/v1/clients", CREATE_BODY
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    return scope, body


async def _call(app: ASGIApp, scope: dict[str, Any], body: bytes) -> int:
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


@contextlib.asynccontextmanager
async def _running(name: str, url: str, pool: int) -> AsyncIterator[ASGIApp]:
    os.environ.update(
        {
            "BENCH_DATABASE_URL": url,
            "CAREPLAN_DB_POOL_SIZE": str(pool),
            "CAREPLAN_ENV": "development",
        }
    )
    if name == "careplan":
        from app.core.config import Settings
        from app.main import create_app

        careplan = create_app(Settings(database_url=url, db_pool_size=pool, access_log=False))
        async with careplan.router.lifespan_context(careplan):
            yield careplan
        return
    from bench.bare_app import app as bare

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(bare({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    await outbox.get()
    try:
        yield bare
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def _instrument(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=True,
        capture_output=True,
    )


async def child(
    name: str, kind: str, url: str, data: dict[str, Any], requests: int, concurrency: int
) -> None:
    counter = iter(range(10**9))

    async def client(count: int) -> None:
        for _ in range(count):
            scope, body = _request(data["key"], data, kind, next(counter))
            status = await _call(app, scope, body)
            if status >= 300:
                raise SystemExit(f"{name} answered {status} to {scope['method']} {scope['path']}")

    per_client = max(1, requests // concurrency)
    async with _running(name, url, concurrency + 4) as app:
        await asyncio.gather(*(client(max(1, per_client // 4)) for _ in range(concurrency)))
        _instrument(True)
        await asyncio.gather(*(client(per_client) for _ in range(concurrency)))
        _instrument(False)
    print(per_client * concurrency)


# ---- the parent: data, one child per (endpoint, app), the table --------------------------------


def count(name: str, kind: str, url: str, info: Path, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                name,
                kind,
                "--database-url",
                url,
                "--info",
                str(info),
                "--requests",
                str(args.requests),
                "--concurrency",
                str(args.concurrency),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if run.returncode != 0:
            raise SystemExit(f"{name} {kind} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
        made = int(run.stdout.strip().splitlines()[-1])
        total = sum(
            int(line.split()[1])
            for line in out.read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        )
        return total / made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--requests", type=int, default=160, help="counted requests per run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="bare, Careplan: how many times")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--child", nargs=2, metavar=("APP", "ENDPOINT"))
    parser.add_argument("--info", type=Path)
    args = parser.parse_args()
    if args.child:
        data = json.loads(args.info.read_text())
        asyncio.run(child(*args.child, args.database_url, data, args.requests, args.concurrency))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    from bench.load import drop, prepare

    data = prepare(args.database_url, args.clients, 20)
    rows: list[tuple[str, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            info = Path(folder) / "dataset.json"
            info.write_text(
                json.dumps(
                    {
                        "key": data.admin_key,
                        "clients": [str(i) for i in data.client_ids[:2000]],
                        "plans": [str(i) for i in data.care_plan_ids[:2000]],
                    }
                )
            )
            for kind in args.endpoints.split(","):
                for _ in range(args.rounds):
                    bare = count("bare", kind, args.database_url, info, args)
                    ours = count("careplan", kind, args.database_url, info, args)
                    rows.append((kind, bare, ours))
                    print(f"{kind:<8} bare {bare:>12,.0f}  careplan {ours:>12,.0f}", flush=True)
    finally:
        asyncio.run(drop(args.database_url))
    print()
    print(f"{'endpoint':<9} {'bare instr/req':>15} {'careplan instr/req':>19} {'ratio':>6}")
    for kind, bare, ours in rows:
        print(f"{kind:<9} {bare:>15,.0f} {ours:>19,.0f} {bare / ours:>6.2f}")


if __name__ == "__main__":
    main()
