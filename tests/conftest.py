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


def solution_namespace(lesson: str, cell_ids: list[str] | None = None, constants: dict | None = None) -> dict:
    """Execute a lesson's first code cell (imports) and its exercise cells; return the namespace.

    ``cell_ids`` defaults to every cell whose id starts with ``ex-``; ``constants`` are set first
    (what the lesson's data cells would define, without loading or training anything).
    """
    import jupytext

    nb = jupytext.read(ROOT / "solutions" / f"{lesson}.py")
    code = [c for c in nb.cells if c.cell_type == "code"]
    chosen = [code[0]] + [c for c in code if (c.metadata.get("id") in cell_ids if cell_ids else
                                              str(c.metadata.get("id", "")).startswith("ex-"))]
    namespace: dict = {"__name__": f"solution_{lesson}", **(constants or {})}
    for cell in chosen:
        exec(compile(cell.source, f"<{lesson}:{cell.metadata.get('id', 'setup')}>", "exec"), namespace)
    return namespace
