"""Throughput and latency of `intentforge serve` under 1, 2 and 4 concurrent clients, and its RSS.

    .venv/bin/python bench/server_throughput.py [--model x.gguf] [--workers 1] [--requests 24]

Starts the real server (a subprocess on 127.0.0.1), waits for /readyz, then for each concurrency
sends the same requests from that many clients at once and prints requests/s, p50/p95 latency,
status counts and the server's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

from intentforge.percentile import percentile
from parse_latency import REQUESTS, model_from


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_clients(url: str, clients: int, total: int) -> tuple[float, list[float], Counter]:
    latencies: list[float] = []
    statuses: Counter = Counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(REQUESTS[i % len(REQUESTS)])

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            text = queue.get_nowait()
            start = time.perf_counter()
            response = await http.post(f"{url}/v1/parse", json={"text": text})
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[response.status_code] += 1

    async with httpx.AsyncClient(timeout=120) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--model", type=Path, help="GGUF file (default as bench/parse_latency.py)")
    args.add_argument("--workers", type=int, default=1, help="model instances in the server")
    args.add_argument("--threads", type=int, default=2, help="llama.cpp threads per worker")
    args.add_argument("--requests", type=int, default=24, help="requests per concurrency level")
    opts = args.parse_args()

    model = model_from(opts.model)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "INTENTFORGE_RUNTIME__N_THREADS": str(opts.threads),
        "INTENTFORGE_SERVER__QUEUE_SIZE": "16",
    }
    env.pop("INTENTFORGE_API_KEY", None)
    command = [sys.executable, "-c", "from intentforge.cli import main; main()", "serve"]
    args_ = ["--model", str(model), "--port", str(port), "--workers", str(opts.workers)]
    server = subprocess.Popen(
        [*command, *args_, "--log-level", "warning"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        rss_idle = psutil.Process(server.pid).memory_info().rss
        print(f"model {model}")
        print(
            f"cores {os.cpu_count()}  workers {opts.workers} x {opts.threads} threads  "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        asyncio.run(run_clients(url, 1, 2))  # warm-up
        for clients in (1, 2, 4):
            elapsed, lat, statuses = asyncio.run(run_clients(url, clients, opts.requests))
            print(
                f"clients {clients}: {len(lat) / elapsed:5.2f} req/s  p50 "
                f"{percentile(lat, 50):7.1f} ms  p95 {percentile(lat, 95):7.1f} ms  "
                f"statuses {dict(statuses)}"
            )
        rss = psutil.Process(server.pid).memory_info().rss
        print(f"server RSS: {rss_idle / 2**20:.0f} MiB ready, {rss / 2**20:.0f} MiB after load")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
