"""Peak memory of the server while it streams `GET /v1/export?resources=sessions`, at two table
sizes (10 000 and 1 000 000 session rows by default): the export reads from a server-side
cursor in batches, so the two peaks should differ by little (the aim: under 20 MB).

For each size it fills a PostgreSQL database of its own (`generate_series`, one statement) to
that many session rows, starts a fresh `careplan serve` (one process) on a free loopback port,
makes an admin key with `careplan admin create-api-key`, reads its resident memory (VmRSS from
/proc) before the export, samples it every 20 ms during the export, reads the process's
high-water mark (VmHWM) after, and checks the export had one line per row. Then it stops the
server and drops the database.

Usage, from the project folder (Linux, PostgreSQL on 127.0.0.1 reachable by `postgres`):

    .venv/bin/python bench/export_memory.py
    .venv/bin/python bench/export_memory.py --sizes 10000,100000 --database-url postgresql://…

The database named by `--database-url` is dropped and created: never point it at one you keep.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CAREPLAN = ROOT / ".venv" / "bin" / "careplan"

from bench.databases import connect, drop, recreate  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/careplan_bench_export"
SAMPLE_EVERY_S = 0.02

SEED_SQL = """
INSERT INTO session_records (
    id, client_id, care_plan_id, therapist_id, scheduled_start, scheduled_end,
    duration_minutes, status, session_type, body_regions, regions_avoided, techniques,
    pressure, soap, warnings, note_status, created_at, updated_at, version, archived_at)
SELECT gen_random_uuid(), $1, NULL, $2,
       timestamptz '2020-01-01' + n * interval '1 hour',
       timestamptz '2020-01-01' + n * interval '1 hour' + interval '60 minutes',
       60, 'completed', 'therapeutic', '["lower_back", "hips"]'::jsonb, '[]'::jsonb,
       '["effleurage", "myofascial release"]'::jsonb, 'moderate',
       jsonb_build_object('subjective', 'Week ' || n || ': pain 4/10 before the session.',
                          'assessment', 'Improving steadily toward the goals.'),
       '[]'::jsonb, 'draft', now() + n * interval '1 microsecond', now(), 1, NULL
FROM generate_series($3::bigint, $4::bigint) AS n
"""


async def fill_to(url: str, rows: int) -> float:
    """Adds session rows until the table holds `rows`; returns the seconds it took."""
    started = time.perf_counter()
    conn = await connect(url)
    try:
        therapist = await conn.fetchval("SELECT id FROM therapists LIMIT 1")
        client = await conn.fetchval("SELECT id FROM clients LIMIT 1")
        if therapist is None:
            therapist = await conn.fetchval(
                "INSERT INTO therapists (id, full_name, credentials, certifications, active,"
                " created_at, updated_at, version) VALUES (gen_random_uuid(), 'Bench Therapist',"
                " '[]', '[]', true, now(), now(), 1) RETURNING id"
            )
            client = await conn.fetchval(
                "INSERT INTO clients (id, given_name, family_name, created_at, updated_at,"
                " version) VALUES (gen_random_uuid(), 'Bench', 'Client', now(), now(), 1)"
                " RETURNING id"
            )
        have = await conn.fetchval("SELECT count(*) FROM session_records")
        if have < rows:
            await conn.execute(SEED_SQL, client, therapist, have + 1, rows)
        await conn.execute("ANALYZE session_records")
    finally:
        await conn.close()
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


async def measure(url: str, rows: int, workdir: Path) -> dict[str, float]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAREPLAN_")},
        "DATABASE_URL": url,
        "CAREPLAN_ACCESS_LOG": "false",
        "CAREPLAN_LOG_LEVEL": "WARNING",
    }
    key = (
        subprocess.run(  # noqa: ASYNC221  (a benchmark: nothing else runs meanwhile)
            [str(CAREPLAN), "admin", "create-api-key", "--name", "bench", "--role", "admin"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = _free_port()
    server = subprocess.Popen(  # noqa: ASYNC220
        [str(CAREPLAN), "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=None) as http:
            for _ in range(600):
                try:
                    if (await http.get("/v1/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            headers = {"Authorization": f"Bearer {key}"}
            await http.get("/v1/export?resources=clients", headers=headers)  # warm the path
            before = _memory_kib(server.pid, "VmRSS")
            peak_sampled = before
            lines = 0
            size = 0
            started = time.perf_counter()
            async with http.stream(
                "GET", "/v1/export?resources=sessions", headers=headers
            ) as response:
                response.raise_for_status()
                last_sample = 0.0
                async for chunk in response.aiter_bytes():
                    lines += chunk.count(b"\n")
                    size += len(chunk)
                    now = time.perf_counter()
                    if now - last_sample >= SAMPLE_EVERY_S:
                        last_sample = now
                        peak_sampled = max(peak_sampled, _memory_kib(server.pid, "VmRSS"))
            elapsed = time.perf_counter() - started
            high_water = _memory_kib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)
    if lines != rows:
        raise RuntimeError(f"exported {lines} lines for {rows} rows")
    return {
        "rows": rows,
        "seconds": elapsed,
        "mb": size / 1e6,
        "rss_before_mib": before / 1024,
        "rss_peak_mib": max(peak_sampled, high_water) / 1024,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sizes", default="10000,1000000", help="session rows, ascending")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    await recreate(args.database_url)
    results = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            workdir = Path(folder)
            env = {**os.environ, "DATABASE_URL": args.database_url}
            subprocess.run(  # noqa: ASYNC221
                [str(CAREPLAN), "db", "upgrade"],
                env=env,
                cwd=workdir,
                check=True,
                capture_output=True,
            )
            for rows in sizes:
                seeded = await fill_to(args.database_url, rows)
                print(f"{rows} session rows in the table (seeding {seeded:.1f} s)", file=sys.stderr)
                results.append(await measure(args.database_url, rows, workdir))
                r = results[-1]
                print(  # as soon as measured: a long run still leaves its first figures
                    f"{rows} rows: exported in {r['seconds']:.1f} s, RSS before "
                    f"{r['rss_before_mib']:.1f} MiB, peak {r['rss_peak_mib']:.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        await drop(args.database_url)
    print("| session rows | export s | NDJSON MB | RSS before MiB | peak RSS MiB | peak − before |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['seconds']:.1f} | {r['mb']:.0f} | {r['rss_before_mib']:.1f} "
            f"| {r['rss_peak_mib']:.1f} | {r['rss_peak_mib'] - r['rss_before_mib']:.1f} |"
        )
    if len(results) >= 2:
        spread = results[-1]["rss_peak_mib"] - results[0]["rss_peak_mib"]
        print(
            f"\npeak RSS at {results[-1]['rows']:,} rows − at {results[0]['rows']:,}: "
            f"{spread:.1f} MiB"
        )


if __name__ == "__main__":
    asyncio.run(main())
