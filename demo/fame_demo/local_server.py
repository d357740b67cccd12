"""The shell the demo's agency servers share: an aiohttp app served on a local port,
started and stopped by the demo, the tests and the benchmark."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LocalServer:
    """Serves ``app`` on a local port; ``async with`` starts and stops it."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the base URL."""
        if self._runner is not None:
            raise RuntimeError("already started")
        # A short shutdown timeout: stop() must not wait on a client's idle connection.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.base_url = f"http://{host}:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
