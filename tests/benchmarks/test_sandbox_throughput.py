"""Sandbox throughput and concurrency, against a bare aiohttp server measured in the same run.

Both servers run in their own process (as `billing-desk sandbox` does), driven by one
concurrent aiohttp client. Figures:
- throughput: Stripe-shaped traffic (half `GET /v1/customers/{id}`, half
  `POST /v1/invoiceitems` with an idempotency key) with no injected latency, in requests per
  second, and its ratio to a bare "hello" handler answered by the same client (the ceiling of
  this machine and client). Target: 2,000 requests/s.
- concurrency: requests in flight at once with latency injected, as the sandbox itself counts
  them (`/_sandbox/health` peak). Target: 500.

Client and server share this machine's cores, so the wall-clock rate is often the client's
limit (the baseline shows it). The server's own CPU time per request (from /proc) gives the
rate one core could serve; the full run asserts the target on the better of the two.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

THROUGHPUT_TARGET = 2000.0
IN_FLIGHT_TARGET = 500
SIZES = {
    # (requests for throughput, concurrent workers, requests held in flight, latency ms)
    "smoke": (2_000, 32, 600, 2000),
    "full": (20_000, 64, 1_000, 2000),
}
KEY = "sk_test_benchmark0000000000000000"

_SANDBOX = """
from billing_desk.sandbox.sandbox import Sandbox
from billing_desk.sandbox.server import serve_forever
serve_forever(Sandbox(), "127.0.0.1", 0, lambda url: print(url, flush=True))
"""
_HELLO = """
import asyncio, socket
from aiohttp import web

async def hello(request):
    await request.read()
    return web.json_response({"hello": "world"})

async def main():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, backlog=1024).start()
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@dataclass
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used (Linux /proc), else None."""
        stat = Path(f"/proc/{self.pid}/stat")
        if not stat.exists():
            return None
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _server(code: str) -> Iterator[Server]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "the server did not start"
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


async def _drive(url: str, total: int, workers: int, request: Request) -> float:
    """Run `total` requests over `workers` concurrent loops; returns requests per second."""
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        await request(session, -1)  # warm up (the sandbox builds its schemas on first use)
        counter = iter(range(total))

        async def loop() -> None:
            for n in counter:
                status = await request(session, n)
                assert status == 200, status

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(workers)))
        return total / (time.perf_counter() - started)


async def _stripe_traffic(url: str, total: int, workers: int) -> float:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession(url) as session,
        session.post("/v1/customers", data={"name": "Bench"}, headers=auth) as r,
    ):
        customer = (await r.json())["id"]

    async def request(session: aiohttp.ClientSession, n: int) -> int:
        if n % 2:
            async with session.get(f"/v1/customers/{customer}", headers=auth) as response:
                await response.read()
                return response.status
        data = {
            "customer": customer,
            "amount": "1250",
            "currency": "usd",
            "metadata[billing_desk_line]": f"line-{n}",
        }
        headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        async with session.post("/v1/invoiceitems", data=data, headers=headers) as response:
            await response.read()
            return response.status

    return await _drive(url, total, workers, request)


async def _hello_traffic(url: str, total: int, workers: int) -> float:
    async def request(session: aiohttp.ClientSession, n: int) -> int:
        if n % 2:
            async with session.get("/v1/customers/cus_x") as response:
                await response.read()
                return response.status
        async with session.post("/v1/invoiceitems", data={"amount": "1250"}) as response:
            await response.read()
            return response.status

    return await _drive(url, total, workers, request)


async def _in_flight(url: str, count: int, latency_ms: int) -> tuple[int, float]:
    """Fire `count` requests at once with latency injected: (server's peak, seconds taken)."""
    auth = {"Authorization": f"Bearer {KEY}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        config = {"latency_ms": latency_ms, "latency_jitter_ms": 0}
        async with session.post("/_sandbox/config", json=config, headers=auth) as r:
            assert r.status == 200

        async def one() -> int:
            async with session.get("/v1/customers", headers=auth) as response:
                await response.read()
                return response.status

        started = time.perf_counter()
        statuses = await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - started
        assert set(statuses) == {200}
        async with session.get("/_sandbox/health") as r:
            peak = int((await r.json())["peak_in_flight"])
    return peak, elapsed


def _cpu_per_request(server: Server, run: Callable[[], float], total: int) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request or NaN)."""
    before = server.cpu_seconds()
    rps = run()
    after = server.cpu_seconds()
    if before is None or after is None:
        return rps, float("nan")
    return rps, (after - before) / total * 1e6


def test_sandbox_throughput_and_concurrency(bench_size: str) -> None:
    total, workers, held, latency_ms = SIZES[bench_size]
    with _server(_HELLO) as hello:
        hello_rps, hello_cpu = _cpu_per_request(
            hello, lambda: asyncio.run(_hello_traffic(hello.url, total, workers)), total
        )
    with _server(_SANDBOX) as sandbox:
        sandbox_rps, sandbox_cpu = _cpu_per_request(
            sandbox, lambda: asyncio.run(_stripe_traffic(sandbox.url, total, workers)), total
        )
        peak, elapsed = asyncio.run(_in_flight(sandbox.url, held, latency_ms))
    capacity = 1e6 / sandbox_cpu if sandbox_cpu == sandbox_cpu else float("nan")
    rows = [
        ("case", "figure", "ratio", "note"),
        (
            "bare aiohttp hello (baseline)",
            f"{hello_rps:,.0f} req/s",
            "1.00",
            f"server CPU {hello_cpu:,.0f} us/request",
        ),
        (
            "sandbox, no latency",
            f"{sandbox_rps:,.0f} req/s",
            f"{sandbox_rps / hello_rps:.2f}",
            (
                f"target {THROUGHPUT_TARGET:,.0f}; server CPU {sandbox_cpu:,.0f} us/request = "
                f"{capacity:,.0f} req/s per core ({sandbox_cpu / hello_cpu:.1f}x the baseline's)"
            ),
        ),
        (
            f"sandbox, {held} requests at {latency_ms} ms",
            f"{peak} in flight",
            f"{latency_ms / 1000 / elapsed:.2f}",
            f"target {IN_FLIGHT_TARGET}; ratio = injected latency / time for all ({elapsed:.2f} s)",
        ),
    ]
    print(f"\nsandbox throughput ({bench_size}: {total} requests, {workers} concurrent workers)")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"  {cells}  {row[3]}")
    figures = {"hello_rps": hello_rps, "sandbox_rps": sandbox_rps, "peak_in_flight": peak}
    print(json.dumps({**figures, "sandbox_cpu_us": sandbox_cpu, "hello_cpu_us": hello_cpu}))
    assert peak >= IN_FLIGHT_TARGET
    if bench_size == "full":
        # Smoke runs are too short (and CI machines too busy) for a throughput verdict.
        assert max(sandbox_rps, capacity) >= THROUGHPUT_TARGET, f"{sandbox_rps:.0f} req/s"
