"""The bench's process meters count a server's workers too."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import aiohttp
from aiohttp import web

from bench.load import Request, _cpu_of, closed_loop, cpu_seconds, process_tree

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_a_servers_cpu_includes_its_workers() -> None:
    # A parent whose child burns 0.3 s of CPU and then waits: the child's time is the
    # parent's tree's, not the parent's own.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"child = subprocess.Popen([sys.executable, '-c', {BUSY + 'time.sleep(30)'!r}])\n"
            "time.sleep(30)\n",
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tree = process_tree(parent.pid)
            if len(tree) == 2 and _cpu_of(tree[1]) >= 0.25:
                break
            time.sleep(0.1)
        assert len(tree) == 2, tree
        assert _cpu_of(parent.pid) < 0.25
        assert cpu_seconds(parent.pid) >= 0.25
        assert os.getpid() not in tree
    finally:
        for pid in reversed(process_tree(parent.pid)):
            os.kill(pid, 9)
        parent.wait()


async def test_a_request_goes_with_its_own_method_and_body() -> None:
    # The variants are POSTed GraphQL; a source called directly is a plain GET.
    seen: list[tuple[str, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with aiohttp.ClientSession() as session:
            got = await closed_loop(session, Request(url, b"", {}, "GET"), 1, count=2)
            posted = await closed_loop(session, Request(url, b'{"q":1}', {}), 1, count=1)
    finally:
        await runner.cleanup()
    assert seen == [("GET", b""), ("GET", b""), ("POST", b'{"q":1}')]
    assert len(got.latencies) == 2 and got.errors == 0
    assert len(posted.latencies) == 1 and posted.errors == 0
