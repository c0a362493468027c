"""Shared fixtures. The environment (fast mode, temporary data and checkpoint folders) is set by the
repository's ``conftest.py``, for these tests and for the solution notebooks that nbval runs."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The verified MNIST / Fashion-MNIST files beside the checkout (never committed)."""
    if not (SHARED_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip(f"the verified data files are not at {SHARED_DATA}")
    return SHARED_DATA


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def serve() -> Iterator:
    """``serve(folder) -> base URL``: an HTTP server on 127.0.0.1 (a free port) for a folder."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
