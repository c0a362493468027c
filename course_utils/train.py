"""A small training loop, and checkpoints that are loaded instead of retrained.

``fit`` runs mini-batch gradient descent on any loss written as ``loss_fn(model, batch)``. It shows
a ``tqdm.auto`` progress bar and, inside a notebook, a loss plot that is redrawn in place while
training runs. For a game of two players, whose step a lesson writes itself, three small pieces
compose in plain sight: seeded endless :func:`batches` of data and :func:`noise`, and
:func:`run_steps`, which calls the lesson's ``step(i)`` and keeps its losses and snapshots.
``load_or_train`` keys a checkpoint by the name and configuration of a run: the same
configuration loads the saved weights (with ``map_location``, so a GPU checkpoint opens on a
laptop), a new one trains and saves.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .device import course_seed, fast_mode, generator, get_device, seed_everything

__all__ = [
    "History",
    "fit",
    "batches",
    "noise",
    "run_steps",
    "load_or_train",
    "read_weights",
    "cached_only",
    "NotCached",
    "cached",
    "in_workers",
    "single_thread",
    "checkpoint_dir",
    "checkpoint_path",
    "config_key",
    "code_fingerprint",
    "save_atomically",
    "predict",
    "save_weights",
    "load_weights",
    "WeightsError",
    "WEIGHTS_FORMAT",
    "MAX_WEIGHTS_MB",
]

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch], "torch.Tensor | Mapping[str, torch.Tensor]"]


@dataclass
class History:
    """What a run logged: every step's terms, each epoch's means, and the wall time."""

    step: dict[str, list[float]] = field(default_factory=dict)
    epoch: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "History":
        return cls(dict(d["step"]), dict(d["epoch"]), float(d["seconds"]))

    def per_block(self, size: int = 100) -> None:
        """Set ``epoch`` to the means of each term over blocks of ``size`` steps (for runs without epochs)."""
        self.epoch = {
            k: [sum(v[j : j + size]) / len(v[j : j + size]) for j in range(0, len(v), size)]
            for k, v in self.step.items()
        }

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's mean of each logged term."""
        return {k: v[-1] for k, v in self.epoch.items() if v}


def _as_loader(data: Any, batch_size: int, seed: int) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, torch.Tensor):
        data = TensorDataset(data)
    elif hasattr(data, "loader"):
        return data.loader(batch_size=batch_size, shuffle=True, seed=seed)
    return DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator(seed))


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the course
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class _LivePlot:
    """A loss plot shown once and redrawn in place (one display handle, never a new output)."""

    def __init__(self, title: str, min_interval: float = 1.0):
        import matplotlib.pyplot as plt
        from IPython.display import display

        with plt.ioff():
            self.fig, self.ax = plt.subplots(figsize=(5, 3))
        self.title = title
        self.min_interval = min_interval
        self.last = 0.0
        self.handle = display(self.fig, display_id=True)

    def update(self, history: History, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.min_interval:
            return
        self.last = now
        from .viz import plot_losses

        self.ax.clear()
        plot_losses(history, ax=self.ax, title=self.title)
        self.fig.tight_layout()
        self.handle.update(self.fig)

    def close(self) -> None:
        import matplotlib.pyplot as plt

        plt.close(self.fig)


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    live_plot: bool | None = None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` for ``epochs`` passes over ``data`` and return its :class:`History`.

    Args:
        loss_fn: ``loss_fn(model, batch) -> loss`` where ``batch`` is the tuple of tensors of one
            mini-batch, already on the device. Return a scalar, or a dict of scalars whose
            ``"loss"`` entry is minimised and whose other entries are logged (e.g. ELBO terms).
        data: a tensor of inputs, an :class:`~course_utils.data.Images` / ``Points``, a
            ``Dataset`` or a ``DataLoader``.
        optimizer: defaults to Adam with ``lr`` and ``weight_decay``.
        live_plot: redraw a loss plot in place while training (default: inside a notebook only).
    """
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    model.to(device).train()
    loader = _as_loader(data, batch_size, seed)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
    plot = _LivePlot(desc) if (live_plot if live_plot is not None else _in_notebook()) and not _SILENT.get() else None

    from tqdm.auto import tqdm

    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress or _SILENT.get(), leave=False)
    try:
        for _ in bar:
            sums: dict[str, float] = {}
            count = 0
            for batch in loader:
                batch = tuple(t.to(device) for t in batch)
                out = loss_fn(model, batch)
                terms = dict(out) if isinstance(out, Mapping) else {"loss": out}
                loss = terms["loss"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"the loss became {loss.item()} at step {len(history.step.get('loss', []))}: "
                        "lower the learning rate or check the loss for log(0) or division by zero"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                n = len(batch[0])
                for key, value in terms.items():
                    v = float(value.detach())
                    history.step.setdefault(key, []).append(v)
                    sums[key] = sums.get(key, 0.0) + v * n
                count += n
            for key, total in sums.items():
                history.epoch.setdefault(key, []).append(total / count)
            bar.set_postfix(loss=f"{history.epoch['loss'][-1]:.4g}")
            if plot:
                plot.update(history)
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
        model.eval()
        if plot:
            plot.update(history, force=True)
            plot.close()
    return history


def checkpoint_dir() -> Path:
    """Where checkpoints go: ``$COURSE_CHECKPOINT_DIR`` or ``~/.cache/course_utils/checkpoints``."""
    env = os.environ.get("COURSE_CHECKPOINT_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "course_utils" / "checkpoints"


def code_fingerprint(*functions: Callable[..., Any], values: bool = True) -> str:
    """A short hash of the code of ``functions`` and of the code they call: a checkpoint keyed by it
    is retrained when the code that trains it changes, not only when its configuration does.

    Followed from each function: the values it closes over (a step built by ``wgan_step(5, penalty=10)``
    hashes its 5 and 10; ``values=False`` follows only the functions it closes over) and the functions
    and classes of its own module that it names (a lesson's ``gan_step`` brings in the student's
    ``discriminator_loss``; a class brings in its methods). Library code is not followed.

    The hash is of compiled code (instructions, constants, names), not of source text, so it is the
    same in a notebook's kernel and where a lesson's cells are executed from their source (the
    dashboard, the grader), and an edited comment does not retrain.
    """
    import inspect

    parts: list[str] = []
    seen: set[int] = set()

    def visit(obj: Any) -> None:
        target = getattr(obj, "__func__", obj)
        if id(target) in seen:
            return
        seen.add(id(target))
        if inspect.isclass(target):
            parts.append(target.__qualname__)
            for _, member in sorted(vars(target).items()):
                member = getattr(member, "__func__", member)  # static and class methods
                if inspect.isfunction(member):
                    visit(member)
            return
        code = getattr(target, "__code__", None)
        if code is None:
            parts.append(type(target).__qualname__)
            return
        parts.append(_code_text(code))
        for cell in getattr(target, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(value):
                visit(value)
            elif values and isinstance(value, (int, float, str, bool, tuple, type(None))):
                parts.append(repr(value))
        module = getattr(target, "__module__", None)
        names = getattr(target, "__globals__", {})
        for name in _names_used(code):
            value = names.get(name)
            if (inspect.isfunction(value) or inspect.isclass(value)) and getattr(value, "__module__", None) == module:
                visit(value)

    for fn in functions:
        visit(fn)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _names_used(code: Any) -> list[str]:
    """The global names a code object and the functions defined inside it use (a step written in ``fit``)."""
    names = list(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            names += [n for n in _names_used(c) if n not in names]
    return names


def _code_text(code: Any) -> str:
    """Bytecode, constants and names of a code object, nested code included (no memory addresses,
    no file names or line numbers; sets of constants in a fixed order, whatever the hash seed)."""

    def const(c: Any) -> str:
        if hasattr(c, "co_code"):
            return _code_text(c)
        if isinstance(c, frozenset):
            return f"frozenset({sorted(const(v) for v in c)})"
        if isinstance(c, tuple):
            return f"({', '.join(const(v) for v in c)})"
        return repr(c)

    return f"{code.co_code!r}|{[const(c) for c in code.co_consts]}|{code.co_names}"


def config_key(name: str, config: Mapping[str, Any]) -> str:
    """A short, stable hash of a run's name, configuration and lesson seed (key order does not matter)."""
    text = json.dumps({"name": name, "config": config, "course_seed": course_seed()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def checkpoint_path(name: str, config: Mapping[str, Any], folder: str | os.PathLike | None = None) -> Path:
    """Where the checkpoint of ``(name, config)`` lives: ``<folder>/<name>-<config key>.pt``."""
    return (Path(folder) if folder is not None else checkpoint_dir()) / f"{name}-{config_key(name, config)}.pt"


@contextlib.contextmanager
def single_thread(device: torch.device | str | None = None) -> Iterator[None]:
    """Within this block torch computes on one CPU thread (on a GPU, nothing changes).

    Small networks on a CPU (the 2D GANs' MLPs) are limited by the cost of launching each
    operation, not by arithmetic: a second thread speeds them up by under 10%, while a second
    process (:func:`in_workers`) trains another model at full speed. A run trained inside this
    block gives the same numbers in a worker process as in the notebook's own.
    """
    device = torch.device(device) if device is not None else get_device()
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


#: set in a worker process of :func:`in_workers`: no progress bars, no live plots
_SILENT = contextvars.ContextVar("silent", default=False)
K = TypeVar("K")
T = TypeVar("T")


def in_workers(
    calls: Mapping[K, Callable[[], T]],
    *,
    workers: int | None = None,
    desc: str = "training",
    priority: Callable[[K], Any] | None = None,
) -> tuple[dict[K, T], set[K]]:
    """Every ``call()``'s result, training the ones not cached yet side by side; and the keys trained.

    Each call must compute a cached result (:func:`cached` or :func:`load_or_train`): run twice, it
    loads the second time. First every call runs here inside :func:`cached_only`, which loads what
    is cached; the rest train in worker processes, at most ``workers`` at once (default: the CPU
    cores this process may use), each on one thread with its output discarded, and save their
    results; then they run here once more and load them. Workers are forked, so a call may be a
    function the notebook defined; where forking is not safe (not Linux, or the device is not the
    CPU) or there is one core or one call to train, they train here, one after another. A worker
    that fails is trained here again, so its error is raised here, with its traceback.

    ``priority(key)`` orders the calls to train: the largest value starts first (give the longest
    runs the largest, so no long run starts last and keeps the others waiting); ties keep the order
    of ``calls``, and the results always do. Each worker computes on one thread: a forked child that
    entered the OpenMP pool the parent had used would wait for its threads for ever.
    """
    results: dict[K, T] = {}
    missing: list[K] = []
    for key, call in calls.items():
        try:
            with cached_only():
                results[key] = call()
        except NotCached:
            missing.append(key)
    if priority is not None:
        missing.sort(key=priority, reverse=True)  # stable: ties keep the order of calls
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(workers or cores, len(missing))
    if workers > 1 and sys.platform.startswith("linux") and get_device().type == "cpu":
        _train_in_workers([calls[key] for key in missing], workers, desc)
    for key in missing:
        results[key] = calls[key]()  # loads what a worker saved; trains here what it could not
    return {key: results[key] for key in calls}, set(missing)


def _train_in_workers(calls: list[Callable[[], Any]], workers: int, desc: str) -> None:
    """Run ``calls`` in forked processes, ``workers`` at a time; a failed one is left to the caller."""
    import multiprocessing
    import multiprocessing.connection

    from tqdm.auto import tqdm

    def work(call: Callable[[], Any]) -> None:
        # the notebook's streams, progress bars and plots belong to the parent
        sys.stdout = sys.stderr = open(os.devnull, "w")
        _SILENT.set(True)
        torch.set_num_threads(1)  # never the parent's OpenMP pool: its threads do not exist here
        call()

    context = multiprocessing.get_context("fork")
    waiting, running = list(calls), []
    bar = tqdm(total=len(calls), desc=f"{desc}: {len(calls)} runs in {workers} processes", leave=False)
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                process = context.Process(target=work, args=(waiting.pop(0),), daemon=True)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)  # fork() of a threaded kernel
                        process.start()
                except OSError:  # no more processes (a sandbox's limit): the caller trains the rest
                    waiting.clear()
                    break
                running.append(process)
            if not running:
                break
            multiprocessing.connection.wait([p.sentinel for p in running])
            for process in [p for p in running if not p.is_alive()]:
                process.join()
                running.remove(process)
                bar.update()
    finally:
        for process in running:  # interrupted: stop the workers, keep what they saved
            process.terminate()
            process.join()
        bar.close()


def save_atomically(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
# The weights a student hands in
# ------------------------------------------------------------------------------------------------
WEIGHTS_FORMAT = "course-weights-1"
MAX_WEIGHTS_MB = 64  #: a larger file is refused before it is read


class WeightsError(ValueError):
    """A weights file that cannot be used: missing, too large, not a weights file, or not this model's."""


def save_weights(model: nn.Module, lesson: str, path: str | os.PathLike | None = None) -> Path:
    """Save the weights of the model a lesson trained, to hand in with the notebook; return the path.

    The file (``<lesson>.weights.pt`` in the working folder, that is beside the notebook, unless
    ``path`` says otherwise) holds the state dict as CPU tensors and what made it: the lesson, the
    model's class, the lesson seed and whether fast mode was on (the grader scores only weights
    trained in the lecture configuration). It is read back with ``torch.load(weights_only=True)``.
    A fast-mode run never replaces a file trained in the lecture configuration: it keeps it and says so.
    On a track other than the digits (``COURSE_TRACK``), the default name is ``<lesson>.<track>.weights.pt``
    and the file records its track: the grader scores the digits track's file, which such a run never replaces.
    """
    from .data import track

    current = track()
    if path is None:
        path = Path(f"{lesson}.weights.pt" if current == "digits" else f"{lesson}.{current}.weights.pt")
    path = Path(path)
    if fast_mode() and path.is_file():
        try:
            kept = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable file is simply replaced
            kept = None
        if isinstance(kept, dict) and kept.get("format") == WEIGHTS_FORMAT and kept.get("fast") is False:
            print(
                f"{path.name} holds weights trained in the lecture configuration: kept "
                "(fast mode does not replace them)"
            )
            return path
    state = {key: value.detach().to("cpu").clone() for key, value in model.state_dict().items()}
    save_atomically(
        {
            "format": WEIGHTS_FORMAT,
            "lesson": lesson,
            "model": type(model).__name__,
            "fast": fast_mode(),
            "seed": course_seed(),
            "track": current,
            "state_dict": state,
        },
        path,
    )
    return path


#: prefixes a wrapped model adds to its parameter names (DataParallel, torch.compile)
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _unwrapped(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def read_weights(path: str | os.PathLike, lesson: str, track: str = "digits") -> dict[str, Any]:
    """The contents of a file :func:`save_weights` wrote for ``lesson`` on ``track``, checked but not loaded
    into a model: every way it can be unusable raises :class:`WeightsError` (see :func:`load_weights`)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}")
    size_mb = path.stat().st_size / 2**20
    if size_mb > MAX_WEIGHTS_MB:
        raise WeightsError(f"{path.name} is {size_mb:.0f} MB, over the {MAX_WEIGHTS_MB} MB a lesson's model needs")
    try:
        with warnings.catch_warnings():  # torch's remarks on a foreign pickle protocol: the error below says it all
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every unreadable file gets the same kind of message
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise WeightsError(
            f"{path.name} is not a weights file written by save_weights ({type(err).__name__}: {first})"
        ) from None
    if (
        not isinstance(saved, dict)
        or saved.get("format") != WEIGHTS_FORMAT
        or not isinstance(saved.get("state_dict"), dict)
    ):
        raise WeightsError(f"{path.name} was not written by course_utils.train.save_weights")
    if saved.get("lesson") != lesson:
        raise WeightsError(f"{path.name} holds weights of lesson {saved.get('lesson')!r}, not {lesson!r}")
    if saved.get("track", "digits") != track:
        raise WeightsError(
            f"{path.name} was trained on the {saved.get('track')!r} track, not the {track!r} one "
            f"(run the notebook with COURSE_TRACK={track} to make the file)"
        )
    return saved


def load_weights(path: str | os.PathLike, model: nn.Module, lesson: str, track: str = "digits") -> dict[str, Any]:
    """Load a file written by :func:`save_weights` on ``track`` into ``model``; return its other entries.

    Parameters are matched by name (after removing the prefixes DataParallel and ``torch.compile``
    add); when the names differ but the same shapes come in the same order (an architecture built
    as the lesson lists it, with other attribute names), by position, and the result says
    ``"matched": "by order"``. Every way a file can be unusable raises :class:`WeightsError` with what
    is wrong (no file, over :data:`MAX_WEIGHTS_MB`, not a file ``torch.load`` reads with
    ``weights_only=True`` (so nothing in it is ever executed), another lesson's, parameters that do
    not fit, a wrong shape, a sparse or complex tensor, values that are not finite); ``model`` is left
    unchanged unless everything is right.
    """
    path = Path(path)
    saved = read_weights(path, lesson, track)
    state = {_unwrapped(str(key)): value for key, value in saved["state_dict"].items()}
    expected = model.state_dict()
    meta = {key: value for key, value in saved.items() if key != "state_dict"}
    if set(state) != set(expected):
        shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else None for v in state.values()]
        if shapes == [tuple(v.shape) for v in expected.values()]:
            state, meta["matched"] = dict(zip(expected, state.values())), "by order"
        else:
            missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
            raise WeightsError(
                f"{path.name} does not fit this architecture (its parameters differ in name and in shapes or order): "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing[:4])}" if missing else "",
                        f"unexpected {', '.join(extra[:4])}" if extra else "",
                    )
                    if part
                )
            )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(f"{path.name}: {key} should have shape {tuple(expected[key].shape)}, not {got}")
        if value.layout != torch.strided or value.is_complex():
            raise WeightsError(f"{path.name}: {key} is a {value.layout} {value.dtype} tensor, not a dense real one")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise WeightsError(f"{path.name}: {key} holds values that are not finite (nan or inf): training diverged")
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()})
    return meta


class NotCached(LookupError):
    """Raised by :func:`load_or_train` inside :func:`cached_only` when the checkpoint does not exist."""


_CACHED_ONLY = contextvars.ContextVar("cached_only", default=False)


@contextlib.contextmanager
def cached_only() -> Iterator[None]:
    """Within this block :func:`load_or_train` loads checkpoints but trains nothing: a missing one raises
    :class:`NotCached`. For tools that show a model only when a lesson has trained it (the dashboard)."""
    token = _CACHED_ONLY.set(True)
    try:
        yield
    finally:
        _CACHED_ONLY.reset(token)


def load_or_train(
    name: str,
    config: Mapping[str, Any],
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], History],
    *,
    folder: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
) -> tuple[nn.Module, History]:
    """Load the checkpoint of this ``(name, config)`` if one exists, else build, train and save it.

    ``config`` must hold everything that changes the result (sizes, epochs, learning rate, seed):
    the checkpoint is keyed by it and by the code of ``build`` and ``train`` and of the lesson's
    functions they call (:func:`code_fingerprint`), so a student whose loss or step differs from
    the one that made a checkpoint trains their own model. The model is built right after
    ``seed_everything(config.get("seed", 0))``, so a retrained model is the same in every process,
    and ``train`` receives it on the device. A checkpoint that does not load (corrupt, or made by a
    different architecture) is reported and retrained, never silently used.
    """
    device = torch.device(device) if device is not None else get_device()
    keyed = {**config, "code": code_fingerprint(build, train, values=False)}
    path = checkpoint_path(name, keyed, folder)
    seed_everything(int(config.get("seed", 0)))  # the initial weights depend on the config alone
    model = build()
    if path.exists():
        try:
            saved = torch.load(path, map_location=device, weights_only=True)
            model.load_state_dict(saved["state_dict"])
            history = History.from_dict(saved["history"])
            print(
                f"{name}: loaded the checkpoint {path.name} (trained in {history.seconds:.1f} s); "
                "delete it to train again"
            )
            return model.to(device).eval(), history
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is retrained
            if _CACHED_ONLY.get():
                raise NotCached(f"the checkpoint {path} of {name} could not be loaded ({err})") from None
            warnings.warn(f"checkpoint {path} could not be loaded ({err}); training again.", stacklevel=2)
            model = build()
    if _CACHED_ONLY.get():
        raise NotCached(f"no checkpoint of {name} for this configuration ({path.name})")
    history = train(model.to(device))
    save_atomically(
        {
            "state_dict": model.state_dict(),
            "history": history.to_dict(),
            "config": json.dumps(keyed, sort_keys=True, default=str),
        },
        path,
    )
    return model.to(device).eval(), history


def cached(
    name: str,
    config: Mapping[str, Any],
    compute: Callable[[], Any],
    *,
    folder: str | os.PathLike | None = None,
    valid: Callable[[Any], bool] | None = None,
) -> Any:
    """The result of ``compute()`` for this ``(name, config)``: loaded if saved, else computed and saved.

    For trained results that are not one model: a 1D discriminator's curve, a 2D GAN's snapshots.
    The result must be built of tensors, numbers, strings, lists, tuples and dicts (what
    ``torch.load(weights_only=True)`` reads back). An unreadable file is reported and recomputed;
    so is a saved result that ``valid`` (when given) rejects, which is then replaced.
    """
    path = checkpoint_path(name, config, folder)
    if path.exists():
        try:
            value = torch.load(path, map_location="cpu", weights_only=True)["value"]
        except Exception as err:  # noqa: BLE001 - any unreadable cache is recomputed
            warnings.warn(f"cache {path} could not be loaded ({err}); computing again.", stacklevel=2)
        else:
            if valid is None or valid(value):
                return value
    if _CACHED_ONLY.get():
        raise NotCached(f"nothing cached for {name} in this configuration ({path.name})")
    value = compute()
    save_atomically({"value": value, "config": json.dumps(config, sort_keys=True, default=str)}, path)
    return value


@torch.no_grad()
def predict(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in batches on the device, without gradients; return the result on the CPU."""
    device = torch.device(device) if device is not None else get_device()
    return torch.cat([fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def batches(
    *tensors: torch.Tensor, batch_size: int, seed: int = 0, device: torch.device | str | None = None
) -> Iterator[Batch]:
    """Endless mini-batches drawn with replacement: each yields one batch of every tensor, at the same rows.

    Row indices come from a generator seeded by ``seed`` (shifted by the lesson seed), so the same
    seed replays the same batches in every process. Pass the images and their labels together
    (``batches(x, y, batch_size=64)``) and the labels stay with their images. The batches are moved
    to ``device`` (default: :func:`~course_utils.device.get_device`).
    """
    if not tensors:
        raise ValueError("batches needs at least one tensor to draw from")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(
            f"batches draws the same rows of every tensor, but their lengths differ: {[len(t) for t in tensors]}"
        )
    if n == 0 or batch_size < 1:
        raise ValueError(f"cannot draw batches of {batch_size} from {n} rows")
    device = torch.device(device) if device is not None else get_device()
    rows = generator(seed)
    while True:
        index = torch.randint(n, (batch_size,), generator=rows)
        yield tuple(t[index].to(device) for t in tensors)


def noise(
    batch_size: int, z_dim: int, seed: int = 1, device: torch.device | str | None = None
) -> Iterator[torch.Tensor]:
    """Endless batches of ``z ~ N(0, I)`` of shape ``(batch_size, z_dim)``, from a generator seeded by ``seed``.

    Drawn on the CPU and moved to ``device``, so the same seed gives the same noise on any device.
    """
    device = torch.device(device) if device is not None else get_device()
    draws = generator(seed)
    while True:
        yield torch.randn(batch_size, z_dim, generator=draws).to(device)


def run_steps(
    step: Callable[[int], Mapping[str, float]],
    steps: int,
    *,
    models: Sequence[nn.Module] = (),
    seed: int | None = 0,
    snapshot: Callable[[int], Any] | None = None,
    every: int = 0,
    progress: bool = True,
    desc: str = "training",
) -> tuple[History, list]:
    """Call ``step(i)`` for ``i = 0 .. steps - 1`` and keep what it returns; the lesson writes the step.

    ``step(i)`` performs one update (draw its batches, compute the losses, step the optimizers) and
    returns the values to log, as numbers. This runner only keeps them (a :class:`History` whose
    ``epoch`` entries are means over blocks of 100 steps), shows a progress bar and, every
    ``every`` steps and after the last, calls ``snapshot(i)`` and keeps its result (the frames a
    widget replays). ``models`` (already on their device) are put in training mode first, into
    evaluation mode while a snapshot is taken and after the last step. With ``seed`` set, the
    global random state is seeded first (:func:`~course_utils.device.seed_everything`), so draws
    made inside the step (a penalty's interpolation points, a buffer's choice) replay too.
    """
    if steps < 0:
        raise ValueError(f"steps must be 0 or more, not {steps}")
    if seed is not None:
        seed_everything(seed)
    for model in models:
        model.train()
    history, snapshots = History(), []

    from tqdm.auto import tqdm

    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress or _SILENT.get(), leave=False, mininterval=0.5)
    try:
        for i in bar:
            for key, value in step(i).items():
                history.step.setdefault(key, []).append(float(value))
            if snapshot is not None and every and (i % every == 0 or i == steps - 1):
                for model in models:
                    model.eval()
                snapshots.append(snapshot(i))
                for model in models:
                    model.train()
            if i % 50 == 0:
                bar.set_postfix({k: f"{v[-1]:.3g}" for k, v in history.step.items()})
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
        for model in models:
            model.eval()
    history.per_block(100)
    return history, snapshots
