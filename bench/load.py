"""Careplan against a bare asyncpg app, side by side under wrk: req/s, p50, p99, CPU per request.

Sets up the data set of `bench/dataset.py` in a database of its own (dropped and created fresh),
starts `careplan serve` (one worker, access log off) and the bare ASGI app of `bench/bare_app.py`
(one uvicorn worker, same pool size), then, for each endpoint, runs Debian's `wrk` against both
in turn, A B A B (`--rounds`), and prints one row per run and the ratios of the medians.

    .venv/bin/python bench/load.py                    # PostgreSQL: 10 k clients, 200 k sessions
    .venv/bin/python bench/load.py --database sqlite  # Careplan alone on SQLite
    .venv/bin/python bench/load.py --summary-scale    # the summary at 200 k and 1 M sessions,
                                                      # bare app and Careplan

Before the runs it checks that both servers answer the read endpoints with the same bytes (a
summary's `generated_at`, the time of the request, masked) and stops if they do not.

Needs `wrk` on PATH (`apt-get install wrk`) and, for PostgreSQL, a server that lets the URL's
user create databases. It stops the servers it started and drops its database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import drop, recreate  # noqa: E402
from bench.dataset import Dataset, load  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/careplan_bench"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str  # `{client}` / `{plan}` cycle through the data set's ids


ENDPOINTS = [
    Endpoint("client", "GET", "/v1/clients/{client}"),
    Endpoint("clients", "GET", "/v1/clients?limit=50"),
    Endpoint("summary", "GET", "/v1/care-plans/{plan}/summary"),
    Endpoint("create", "POST", "/v1/clients"),
]


@dataclass
class Run:
    server: str
    endpoint: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str, clients: int, sessions_per_plan: int, filler_clients: int = 0) -> Dataset:
    asyncio.run(recreate(url))
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [str(VENV_BIN / "careplan"), "db", "upgrade"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return asyncio.run(
        load(
            url, clients=clients, sessions_per_plan=sessions_per_plan, filler_clients=filler_clients
        )
    )


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int, cwd: Path) -> Iterator[int]:
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                assert process.stderr is not None  # stderr=PIPE
                raise RuntimeError(f"{argv[0]} exited: {process.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                break
            except OSError as exc:
                if "404" in str(exc) or "401" in str(exc):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not start") from exc
                time.sleep(0.2)
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def tree_cpu_ticks(pid: int) -> int:
    """User + system CPU ticks of a process and all its descendants (read from /proc)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        stats[int(entry.name)] = int(fields[11]) + int(fields[12])
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0)
        todo.extend(children.get(current, []))
    return total


def lua_script(endpoint: Endpoint, key: str, data: Dataset, folder: Path) -> Path:
    ids = data.client_ids if "{client}" in endpoint.path else data.care_plan_ids
    sample = random.Random(1).sample(ids, min(len(ids), 2000))
    lines = [
        f'wrk.method = "{endpoint.method}"',
        f'wrk.headers["Authorization"] = "Bearer {key}"',
        'wrk.headers["Content-Type"] = "application/json"',
        "ids = {" + ",".join(f'"{i}"' for i in sample) + "}",
        "counter = 0",
        "request = function()",
        "  counter = counter + 1",
    ]
    path = endpoint.path.replace("{client}", '" .. ids[counter % #ids + 1] .. "').replace(
        "{plan}", '" .. ids[counter % #ids + 1] .. "'
    )
    body = (
        '"{\\"given_name\\": \\"Mina\\", \\"family_name\\": \\"Haddad\\", '
        '\\"date_of_birth\\": \\"1984-03-02\\", \\"phone\\": \\"+44 20 7946 0018\\"}"'
        if endpoint.method == "POST"
        else "nil"
    )
    lines.append(f'  return wrk.format(nil, "{path}", nil, {body})')
    lines.append("end")
    script = folder / f"{endpoint.key}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    name: str, endpoint: Endpoint, port: int, pid: int, script: Path, args: argparse.Namespace
) -> Run:
    command = [
        "wrk",
        "-t2",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    warmup = [part if not part.startswith("-d") else "-d2s" for part in command]
    subprocess.run(warmup, capture_output=True, check=True)
    before = tree_cpu_ticks(pid)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = (tree_cpu_ticks(pid) - before) / TICKS
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    latencies = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(out)}
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    failed = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Run(
        name,
        endpoint.key,
        rps,
        latencies.get("50", float("nan")),
        latencies.get("99", float("nan")),
        (int(errors_match.group(1)) if errors_match else 0) + failed,
        1000 * cpu / max(total, 1),
    )


def print_runs(runs: list[Run]) -> None:
    print(
        f"{'endpoint':<9} {'server':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'CPU ms/req':>10}"
    )
    for r in runs:
        print(
            f"{r.endpoint:<9} {r.server:<9} {r.rps:>8.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
            f"{r.errors:>8} {r.cpu_ms:>10.2f}"
        )


def print_ratios(runs: list[Run]) -> None:
    print()
    print(
        f"{'endpoint':<9} {'bare req/s':>10} {'careplan':>9} {'ratio':>6} {'bare p99':>9} "
        f"{'careplan p99':>12} {'p99 ×':>6}"
    )
    for key in dict.fromkeys(r.endpoint for r in runs):
        bare = [r for r in runs if r.endpoint == key and r.server == "bare"]
        ours = [r for r in runs if r.endpoint == key and r.server == "careplan"]
        if not bare or not ours or not min(r.rps for r in bare):
            continue
        b_rps = statistics.median(r.rps for r in bare)
        c_rps = statistics.median(r.rps for r in ours)
        b_p99 = statistics.median(r.p99_ms for r in bare)
        c_p99 = statistics.median(r.p99_ms for r in ours)
        print(
            f"{key:<9} {b_rps:>10.0f} {c_rps:>9.0f} {c_rps / b_rps:>6.2f} {b_p99:>9.1f} "
            f"{c_p99:>12.1f} {c_p99 / b_p99:>6.2f}"
        )


def fetch(port: int, path: str, key: str) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


GENERATED_AT = re.compile(rb'"generated_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z"')


def comparable(body: bytes) -> bytes:
    """The body with a summary's `generated_at` (the time of the request, so never the same
    twice) replaced by a fixed mark; everything else, its format included, must match."""
    return GENERATED_AT.sub(b'"generated_at":"<time of the request>"', body)


def check_same_json(url: str, data: Dataset, keys: list[str]) -> None:
    """Both servers must answer the read endpoints with the same bytes, or the race is unfair."""
    env = server_env(url)
    paths = [
        e.path.replace("{client}", str(data.client_ids[0])).replace(
            "{plan}", str(data.care_plan_ids[0])
        )
        for e in ENDPOINTS
        if e.method == "GET" and e.key in keys
    ]
    answers: dict[str, list[bytes]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, argv in (("bare", bare_argv), ("careplan", careplan_argv)):
            port = free_port()
            with server(argv(port), env, port, Path(folder)):
                answers[name] = [fetch(port, path, data.admin_key) for path in paths]
    for path, bare, ours in zip(paths, answers["bare"], answers["careplan"], strict=True):
        if comparable(bare) != comparable(ours):
            raise SystemExit(
                f"different answers to GET {path}:\nbare:     {bare[:400]!r}\n"
                f"careplan: {ours[:400]!r}"
            )
    print(f"same JSON from both servers for {len(paths)} read endpoints", flush=True)


def careplan_argv(port: int) -> list[str]:
    return [
        str(VENV_BIN / "careplan"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def bare_argv(port: int) -> list[str]:
    return [
        str(VENV_BIN / "uvicorn"),
        "bench.bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def server_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "BENCH_DATABASE_URL": url,
        "CAREPLAN_ACCESS_LOG": "false",
        "CAREPLAN_ENV": "development",
        "CAREPLAN_DB_POOL_SIZE": os.environ.get("CAREPLAN_DB_POOL_SIZE", "64"),
        "PYTHONPATH": str(ROOT),
    }


def compare(args: argparse.Namespace, url: str, data: Dataset, keys: list[str]) -> list[Run]:
    runs: list[Run] = []
    env = server_env(url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for endpoint in [e for e in ENDPOINTS if e.key in keys]:
            script = lua_script(endpoint, data.admin_key, data, work)
            for _ in range(args.rounds):
                contenders = [("careplan", careplan_argv)]
                if not sqlite:
                    contenders.insert(0, ("bare", bare_argv))
                for name, argv in contenders:
                    port = free_port()
                    with server(argv(port), env, port, work) as pid:
                        run = run_wrk(name, endpoint, port, pid, script, args)
                    runs.append(run)
                    print_runs([run])
    return runs


def summary_scale(args: argparse.Namespace) -> None:
    """The summary of a 20-session plan with 200 k and with 1 M sessions in the database, bare
    app and Careplan alike (the bare app runs the same statements: what grows in both is the
    database's share, what grows in Careplan alone is its own)."""
    results: dict[int, list[Run]] = {}
    # the same 10 k plans of 20 sessions are requested; 8 k more plans of 100 sessions each
    # bring the tables from 200 k to 1 M sessions
    for filler in (0, 8_000):
        data = prepare(args.database_url, args.clients, 20, filler)
        check_same_json(args.database_url, data, ["summary"])
        results[args.clients * 20 + filler * 100] = compare(
            args, args.database_url, data, ["summary"]
        )
    print()
    for total, runs in results.items():
        for name in ("bare", "careplan"):
            own = [r for r in runs if r.server == name]
            print(
                f"summary with {total:>9,} sessions, {name:<8}: "
                f"{statistics.median(r.rps for r in own):.0f} req/s, "
                f"p50 {statistics.median(r.p50_ms for r in own):.1f} ms, "
                f"p99 {statistics.median(r.p99_ms for r in own):.1f} ms, "
                f"CPU {statistics.median(r.cpu_ms for r in own):.2f} ms/req"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_PG,
        help="dropped and created fresh: never one you want to keep",
    )
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--sessions-per-plan", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds per endpoint")
    parser.add_argument("--endpoints", default=",".join(e.key for e in ENDPOINTS))
    parser.add_argument("--summary-scale", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if args.database == "sqlite":
        args.database_url = f"sqlite:///{tempfile.mkdtemp(prefix='careplan-bench-')}/bench.db"
    try:
        if args.summary_scale:
            summary_scale(args)
            return
        data = prepare(args.database_url, args.clients, args.sessions_per_plan)
        if args.database == "postgresql":
            check_same_json(args.database_url, data, args.endpoints.split(","))
        runs = compare(args, args.database_url, data, args.endpoints.split(","))
        print()
        print_runs(runs)
        print_ratios(runs)
    finally:
        asyncio.run(drop(args.database_url))


if __name__ == "__main__":
    main()
