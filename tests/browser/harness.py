"""What the browser tests stand on: servers on loopback, Debian's Chromium, and a slider driver.

* :class:`Server` starts JupyterLab or the dashboard's Voila on 127.0.0.1 with a token and a free port, and knows
  it is up when the server prints its address (no polling, no sleeping).
* :func:`launch_chromium` starts the system's Chromium (never a downloaded one) through Playwright.
* :class:`WidgetDriver` moves a course widget's main slider by keyboard or by drag and measures,
  inside the page, the time from the input event to the load of the new image.

The course widgets carry CSS classes for this (``course_utils.widgets``): the root
``course-widget course-widget-<kind>``, the main slider ``course-main-slider``, the image
``course-widget-image`` and the readout ``course-widget-readout``, whose first number is the
slider's value. A move is complete when the readout shows the slider's value and the image the
kernel sent before it has loaded.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # the tests keep one tab per notebook: no tab may be slowed down for being in the background
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
HOW_TO_RUN = (
    "run `make test-browser`: it installs Debian's chromium (apt-get) and runs the browser tests; "
    "COURSE_CHROMIUM=/path/to/chromium points them at another Chromium"
)


def chromium_path() -> str | None:
    """The Chromium to drive: ``$COURSE_CHROMIUM``, else Debian's, else one on the PATH."""
    wanted = os.environ.get("COURSE_CHROMIUM")
    if wanted:
        return wanted if Path(wanted).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"the Python package playwright is not installed; {HOW_TO_RUN}"
    if chromium_path() is None:
        where = os.environ.get("COURSE_CHROMIUM") or " or ".join(CHROMIUM_CANDIDATES)
        return f"Chromium not found at {where}; {HOW_TO_RUN}"
    return None


def launch_chromium(playwright, user_data_dir: Path, viewport: tuple[int, int] = (1400, 1000)):
    """A headless Chromium with a fresh profile in ``user_data_dir`` (a Playwright BrowserContext)."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": viewport[0], "height": viewport[1]},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A Jupyter server process (JupyterLab or Voila) on 127.0.0.1, its log kept in a file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str], cwd: Path, timeout: float = 120.0):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        args = [a.format(port=self.port, token=self.token) for a in args]
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        up = threading.Event()

        def drain() -> None:  # copy the output to the log; note when the server says it is up
            with open(log, "w", encoding="utf-8") as out:
                for line in self.process.stdout:
                    out.write(line)
                    out.flush()
                    if f"{self.url}/" in line:  # the server prints its address once it listens
                        up.set()
            up.set()  # the process ended: stop waiting

        threading.Thread(target=drain, daemon=True).start()
        if not up.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(
                f"{args[2] if len(args) > 2 else args[0]} did not start within {timeout:.0f} s; "
                f"its log: {log}\n{log.read_text(encoding='utf-8')[-3000:]}"
            )

    def page_url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(home: Path) -> dict[str, str]:
    """The environment of a test server: the tests' own (fast mode, temporary checkpoints), fresh
    Jupyter settings, and no MPLBACKEND (kernels must use the inline backend, as for a student)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    settings = home / "lab-settings"
    for plugin, values in {
        # every cell stays in the page, so the tests see every output
        "@jupyterlab/notebook-extension/tracker": '{"windowingMode": "none"}',
        # no news or update checks: the machine is offline
        "@jupyterlab/apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values, encoding="utf-8")
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        PYTHONUNBUFFERED="1",
    )
    return env


def lab_args() -> list[str]:
    return [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        "--port={port}",
        "--port-retries=0",
        "--IdentityProvider.token={token}",
        "--allow-root",
    ]


def demo_args() -> list[str]:
    """``make demo``'s own command (``course demo``), on a free port, with a token, without a browser."""
    return [sys.executable, "-m", "course_tools", "demo", "--port={port}", "--token={token}", "--no-browser"]


# ------------------------------------------------------------------------------------------------
# What a page shows
# ------------------------------------------------------------------------------------------------
PAGE_PROBLEMS_JS = r"""() => {
  const text = e => e.textContent.trim().slice(0, 1500);
  const stderr = [...document.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(text);
  const widgetErrors = [...document.querySelectorAll('.jp-OutputArea-output')]
      .filter(e => /Error displaying widget|Model not found|Failed to load model class|Loading widget\.\.\./i
          .test(e.textContent)).map(text);
  const dialogs = [...document.querySelectorAll('.jp-Dialog, [role="dialog"], [role="alertdialog"]')]
      .filter(e => e.offsetParent !== null || getComputedStyle(e).position === 'fixed').map(text);
  return {stderr, widgetErrors, dialogs};
}"""


def page_problems(page) -> list[str]:
    """Errors, warnings, widgets that failed to render, and open dialogs, as a student would see them."""
    found = page.evaluate(PAGE_PROBLEMS_JS)
    return (
        [f"error or warning output:\n{t}" for t in found["stderr"]]
        + [f"a widget did not render: {t}" for t in found["widgetErrors"]]
        + [f"a dialog blocks the page: {t}" for t in found["dialogs"]]
    )


# ------------------------------------------------------------------------------------------------
# Driving a widget
# ------------------------------------------------------------------------------------------------
INSTALL_JS = """(root) => {
  if (root.__course) return;
  const img = root.querySelector('img.course-widget-image');
  const readout = root.querySelector('.course-widget-readout');
  const handle = root.querySelector('.course-main-slider .noUi-handle');
  const s = root.__course = {armed: false, inputs: [], loads: [], readouts: [], values: []};
  const stamp = e => { if (s.armed && (e.type !== 'pointermove' || e.buttons)) s.inputs.push(performance.now()); };
  for (const type of ['keydown', 'pointerdown', 'pointermove', 'pointerup'])
    document.addEventListener(type, stamp, true);
  img.addEventListener('load', () => s.loads.push({t: performance.now(), src: img.src}));
  new MutationObserver(() => s.readouts.push(performance.now()))
      .observe(readout, {childList: true, characterData: true, subtree: true});
  new MutationObserver(() => s.values.push(performance.now()))
      .observe(handle, {attributes: true, attributeFilter: ['aria-valuenow']});
}"""

ARM_JS = """(root) => {
  const s = root.__course;
  Object.assign(s, {armed: true, inputs: [], loads: [], readouts: [], values: [],
                    srcBefore: root.querySelector('img.course-widget-image').src,
                    readoutBefore: root.querySelector('.course-widget-readout').textContent});
}"""

# Done when the readout's first number is the slider's value; the kernel sends the image before
# the readout, so by then the image source is final: wait for it to load if it changed. The
# latency runs from the input event that gave the slider its final value (a drag's last moves and
# its release may change nothing) to the load of the image.
DONE_JS = """([root, tolerance]) => {
  const s = root.__course;
  const number = t => {
    const m = t.replace(/\\u2212/g, '-').match(/[-+]?\\d+(?:\\.\\d+)?/);
    return m ? parseFloat(m[0]) : NaN;
  };
  const slider = root.querySelector('.course-main-slider .widget-readout');
  const readout = root.querySelector('.course-widget-readout').textContent;
  const target = number(slider.textContent);
  if (!(Math.abs(number(readout) - target) <= tolerance) || readout === s.readoutBefore || !s.values.length) {
    return false;
  }
  const src = root.querySelector('img.course-widget-image').src;
  const changed = src !== s.srcBefore;
  const load = s.loads.find(l => l.src === src);
  if (changed && !load) return false;
  const lastChange = Math.max(...s.values);
  const lastInput = Math.max(...s.inputs.filter(t => t <= lastChange));
  const shown = changed ? load.t : s.readouts[s.readouts.length - 1];
  s.armed = false;
  return {latency: shown - lastInput, imageChanged: changed, readout, value: slider.textContent};
}"""

IMAGE_DIGEST_JS = """(root) => {
  const img = root.querySelector('img.course-widget-image');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 2166136261;
  for (let i = 0; i < pixels.length; i++) { hash ^= pixels[i]; hash = Math.imul(hash, 16777619) >>> 0; }
  return `${canvas.width}x${canvas.height}:${hash.toString(16)}`;
}"""


@dataclass
class Move:
    """One slider move as the page saw it."""

    how: str  #: "keyboard" or "drag"
    latency_ms: float  #: input event -> new image loaded (or readout updated, if the image did not change)
    image_changed: bool
    value: str  #: the slider's readout after the move
    readout: str


@dataclass
class WidgetDriver:
    """Moves one course widget's main slider in a page and records every move."""

    page: object
    root: object  #: a Playwright Locator of the widget's root element
    moves: list[Move] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.bring_to_front()  # the tab a student is looking at
        self.root.scroll_into_view_if_needed()
        self.element = self.root.element_handle()
        self.element.evaluate(INSTALL_JS)
        self.handle = self.root.locator(".course-main-slider .noUi-handle")

    # What the page shows
    def readout(self) -> str:
        return self.root.locator(".course-widget-readout").inner_text()

    def slider_value(self) -> str:
        return self.root.locator(".course-main-slider .widget-readout").inner_text()

    def slider_fraction(self) -> float:
        """Where the handle is along the track, 0 (left) to 1 (right)."""
        low, high, now = (
            float(self.handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax", "aria-valuenow")
        )
        return (now - low) / (high - low) if high > low else 0.0

    def image_digest(self) -> str:
        """A hash of the displayed image's pixels (what the student sees, not its URL)."""
        return self.element.evaluate(IMAGE_DIGEST_JS)

    # Moves
    def _move(self, how: str, act: Callable[[], None], timeout_ms: float) -> Move:
        self.element.evaluate(ARM_JS)
        act()
        try:
            result = self.page.wait_for_function(DONE_JS, arg=[self.element, 0.006], timeout=timeout_ms).json_value()
        except Exception as err:
            raise AssertionError(
                f"after a {how} move the slider shows {self.slider_value()!r}, but within {timeout_ms / 1000:.0f} s "
                f"the readout did not follow (or the new image did not load); the readout says {self.readout()!r}"
            ) from err
        move = Move(how, float(result["latency"]), bool(result["imageChanged"]), result["value"], result["readout"])
        self.moves.append(move)
        return move

    def press(self, key: str, timeout_ms: float = 30_000) -> Move:
        """Focus the slider's handle and press a key (ArrowRight, ArrowLeft, PageUp, Home, ...)."""
        self.handle.focus()
        return self._move("keyboard", lambda: self.page.keyboard.press(key), timeout_ms)

    def drag(self, fraction: float, timeout_ms: float = 30_000) -> Move:
        """Drag the handle by ``fraction`` of the track's width (negative: to the left)."""
        track = self.root.locator(".course-main-slider .noUi-target").bounding_box()
        box = self.handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

        def act() -> None:
            self.page.mouse.move(x, y)
            self.page.mouse.down()
            self.page.mouse.move(x + fraction * track["width"], y, steps=8)
            self.page.mouse.up()

        return self._move("drag", act, timeout_ms)

    def keyboard_sweep(self, presses: int) -> None:
        """``presses`` arrow-key moves, away from the nearer end of the track and back."""
        first, second = ("ArrowRight", "ArrowLeft") if self.slider_fraction() < 0.5 else ("ArrowLeft", "ArrowRight")
        for i in range(presses):
            self.press(first if i < presses // 2 else second)

    def drag_sweep(self, drags: int, fraction: float = 0.2) -> None:
        """``drags`` drags of ``fraction`` of the track, away from the nearer end and back."""
        sign = 1.0 if self.slider_fraction() < 0.5 else -1.0
        for i in range(drags):
            self.drag(sign * fraction if i < drags // 2 else -sign * fraction)


def summarize(latencies_ms: list[float]) -> dict[str, float]:
    """Median and 95th percentile (nearest rank) of a list of latencies, in ms."""
    ordered = sorted(latencies_ms)
    p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
    }


def widget_kinds_in(source: str) -> list[str]:
    """The course widgets a lesson source displays, in order, as CSS kinds (``latent-perturbation``)."""
    from course_utils.widgets import View

    kinds = {view.__name__: view.kind() for view in View.__subclasses__()}
    return [kinds[name] for name in re.findall(rf"\bwidgets\.({'|'.join(kinds)})\(", source)]


# ------------------------------------------------------------------------------------------------
# JupyterLab
# ------------------------------------------------------------------------------------------------
ALL_CELLS_RUN_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
      .map(e => e.textContent.trim());
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const idle = indicator !== null && indicator.dataset.status === 'idle';
  const queued = prompts.filter(p => p.includes('*')).length;
  if (!idle || prompts.length === 0 || queued > 0) return false;
  return prompts.filter(p => /\\d/.test(p)).length + '/' + prompts.length;
}"""


def open_notebook(page, server: Server, name: str, timeout_ms: float = 120_000) -> None:
    """Open ``name`` in JupyterLab, in a workspace of its own, and wait until its kernel is idle."""
    workspace = re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem)
    page.goto(server.page_url(f"/lab/workspaces/{workspace}/tree/{name}?reset"))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout_ms)
    # the status bar says "Idle" only once the kernel is connected and ready
    page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).wait_for(timeout=timeout_ms)
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=timeout_ms)


def run_all_cells(page, timeout_ms: float) -> tuple[int, int]:
    """Run > Run All Cells, as a student does; wait until the kernel is idle and no cell is queued.

    Returns (cells that ran, code cells). A cell that fails stops the run, so the rest stay unrun.
    """
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:  # the first code cell is queued or done: the run has started
        page.wait_for_function(
            "() => /[*\\d]/.test(document.querySelector('.jp-Notebook .jp-CodeCell .jp-InputPrompt').textContent)",
            timeout=30_000,
        )
    except Exception as err:
        raise AssertionError("Run > Run All Cells did not start the notebook within 30 s") from err
    ran, total = page.wait_for_function(ALL_CELLS_RUN_JS, timeout=timeout_ms, polling=250).json_value().split("/")
    return int(ran), int(total)


# ------------------------------------------------------------------------------------------------
# One widget, exercised
# ------------------------------------------------------------------------------------------------
def exercise_widget(page, root, screenshot: Path, presses: int = 20, drags: int = 6) -> list[Move]:
    """Move a widget's main slider by keyboard and by drag; check that the readout and the image follow.

    First one large move of each kind (PageUp or PageDown; a drag over a third of the track) whose
    picture must differ pixel for pixel, then ``presses`` arrow-key moves and ``drags`` short drags
    whose latencies are the measurement. Every move must update the readout to the slider's value
    (else :meth:`WidgetDriver._move` times out). Saves a screenshot of the widget.
    """
    driver = WidgetDriver(page, root)
    root.locator("img.course-widget-image").wait_for()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=root.locator("img.course-widget-image").element_handle()
    )
    before = driver.image_digest()
    move = driver.press("PageUp" if driver.slider_fraction() < 0.5 else "PageDown")
    after = driver.image_digest()
    assert after != before, f"the image did not change when the slider moved by keyboard to {move.value}"
    driver.keyboard_sweep(presses)
    move = driver.drag(0.33 if driver.slider_fraction() < 0.5 else -0.33)
    assert move.value != driver.moves[-2].value, "dragging the handle did not move the slider"
    assert driver.image_digest() != after, f"the image did not change when the slider was dragged to {move.value}"
    driver.drag_sweep(drags)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    root.screenshot(path=str(screenshot))
    return driver.moves
