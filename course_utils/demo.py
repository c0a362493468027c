"""The lecture dashboard: ``course demo`` (``make demo``) serves ``dashboard/lecture.ipynb`` with Voila.

The page holds three widgets on trained models: lesson 02's latent perturbation and interpolation
on its VAE (loaded from the checkpoint that ``make run`` made, or trained on first use) and
lesson 04's mode-collapse explorer on its ring GAN (trained when the page opens, about 10 s).
Voila runs the notebook in a fresh kernel for each visitor and shows its outputs only; progress
bars appear while a model trains (progressive rendering). Tracebacks are shown: the server
listens on 127.0.0.1 only, for the lecturer's own browser.
"""

from __future__ import annotations

import argparse
import os
import sys

from .build import repo_root

__all__ = ["voila_command", "main"]


def voila_command(port: int = 8866, token: str | None = None, open_browser: bool = True) -> list[str]:
    """The Voila command line that serves the dashboard on 127.0.0.1:``port``."""
    notebook = repo_root() / "dashboard" / "lecture.ipynb"
    if not notebook.exists():
        raise FileNotFoundError(f"{notebook} is missing: run `make build` to generate it from dashboard/lecture.py")
    command = [sys.executable, "-m", "voila", str(notebook), "--Voila.ip=127.0.0.1", f"--port={port}",
               "--Voila.port_retries=0", "--progressive_rendering=True", "--show_tracebacks=True"]
    if token is not None:
        command.append(f"--token={token}")
    if not open_browser:
        command.append("--no-browser")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course demo", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8866, help="the port on 127.0.0.1 (default 8866)")
    parser.add_argument("--token", default=None, help="ask visitors for this token (default: none, loopback only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    try:
        command = voila_command(args.port, args.token, not args.no_browser)
    except FileNotFoundError as err:
        print(f"course demo: {err}", file=sys.stderr)
        return 2
    print(f"starting Voila for the lecture dashboard on port {args.port} (Ctrl-C stops it) ...", flush=True)
    os.execv(command[0], command)  # Voila takes over this process: Ctrl-C stops it directly
    return 0  # not reached
