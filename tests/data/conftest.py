"""Fixtures for the gattn.data tests."""

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def loopback_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve a fresh directory on 127.0.0.1 only; yields ``(base_url, directory)``.

    The server thread handles requests one at a time and stops by itself after 30 s at the
    latest (or when the test ends).
    """
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 0.1
    stop = threading.Event()
    deadline = time.monotonic() + 30.0

    def loop() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            httpd.handle_request()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        stop.set()
        thread.join(timeout=5)
        httpd.server_close()
