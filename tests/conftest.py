"""Shared fixtures. Every test runs in fast mode, with data and checkpoints in temporary folders."""

from __future__ import annotations

import functools
import http.server
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Set before any kernel starts, so that executed notebooks inherit them.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="course-tests-"))
os.environ["COURSE_FAST"] = "1"
os.environ["COURSE_CHECKPOINT_DIR"] = str(_SESSION_TMP / "checkpoints")
os.environ["COURSE_DATA_DIR"] = str(_SESSION_TMP / "data")
os.environ["MPLBACKEND"] = "Agg"
for var in ("COURSE_DEVICE", "COURSE_MIRRORS_MNIST", "COURSE_MIRRORS_FASHION_MNIST"):
    os.environ.pop(var, None)


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
