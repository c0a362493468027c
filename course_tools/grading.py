"""The auto-grader: ``course grade`` (also ``python -m course_tools.grading``).

    course grade --assignment 01_autoencoder --submissions DIR --out DIR \\
        [--workers N] [--timeout-cell S] [--timeout-total S] [--memory-mb M] [--hidden-tests PATH] [--seed N]

Every ``*.ipynb`` in ``DIR`` is one student (the file name is the student id). For each one:

1. The notebook is copied alone into a fresh temporary folder and executed in fast mode by a
   worker process in its own kernel: per-cell time limit (the kernel is interrupted and the next
   cell runs), total time limit (the worker's process group is killed), address-space and
   file-size limits, outputs capped in the kernel, a scrubbed environment, and, where ``unshare``
   can make the namespaces (:class:`Sandbox`), a root of its own that holds only the system, the
   interpreter and this package (no reference solutions, no grader's files, no other submissions,
   no other copy of the course), a PID namespace that ends every process it started,
   and no network. If the kernel dies in a cell, a fresh kernel replays the notebook without it.
2. The student's kernel only computes. For each graded exercise the grader draws inputs (from a
   seed, once per batch: every score is reproducible), the kernel evaluates the exercise's *probes* on them and
   saves plain tensors, and the grader loads them with ``torch.load(weights_only=True)``. Nothing is
   unpickled from the kernel. The reference solution is evaluated on the same inputs in the
   grader's own process, and the comparison happens there, so nothing a student defines, prints or
   monkeypatches can change a verdict.
3. An exercise earns its points (from ``points=`` in ``solutions/NN_topic.py``) times the fraction
   of its probes that pass. Probes are plain functions in ``course_tools.probes.<topic>`` (its
   ``PROBES``); the kernel executes their module's source in a namespace of its own and calls them
   with the notebook's definitions they name. An instructor's ``--hidden-tests`` file adds more
   (``PROBES = {grade_id: [Probe, ...]}``, the same form), which count but whose code is never shown.
4. An exercise graded on what the student's model learned (``TRAINED`` in the checks module: one
   in each of lessons 02, 03 and 04) is scored from ``STUDENT.weights.pt`` beside the notebook,
   the file the notebook wrote after training in the lecture configuration. The grader loads it
   with ``weights_only=True`` into its own copy of the architecture and measures it on 90 digits no
   lesson loads (:mod:`course_tools.graded_models`), in a child process with the same memory limit
   and a time limit, with credit in proportion between two thresholds. A missing, corrupt, hostile,
   wrong-shaped or fast-mode file earns 0 and a message.

Writes ``gradebook.csv``, ``<student>/results.json`` (Gradescope's schema) and
``<student>/feedback.txt``. A batch never stops for one submission.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

import course_utils
from course_utils.checks import Trained

from .build import exercises, lesson_namespace, repo_root
from .graded_models import GradingData, grade_weights_isolated, weights_file_for
from .probes import Probe, evaluate, plain, source_of, topic_module
from .probes import lesson_probes as topic_probes

__all__ = [
    "Probe",
    "Prepared",
    "Submission",
    "TrainedGrading",
    "lesson_trained",
    "Sandbox",
    "find_sandbox",
    "sandbox_keep",
    "kill_marked",
    "split_points",
    "prepare_probes",
    "grade_submission",
    "grade_batch",
    "main",
]

OUTPUT_CAP = 20_000  # characters of output kept per cell (the rest is dropped in the kernel and in the worker)
MAX_RESTARTS = 3  # times a fresh kernel replays a submission after its kernel died, skipping the fatal cells

#: Run first in the student's kernel: each cell's printed output beyond OUTPUT_CAP characters is
#: dropped as it is written, so a cell printing 300 MB leaves no 300 MB buffer behind it.
CAP_OUTPUT = f"""
def __grader_cap_output(cap={OUTPUT_CAP}):
    import sys
    from IPython import get_ipython

    class Capped:
        def __init__(self, stream):
            self._stream, self.used = stream, 0

        def write(self, text):
            room = cap - self.used
            self.used += len(text)
            if room > 0:
                self._stream.write(text[:room])
            return len(text)

        def __getattr__(self, name):
            return getattr(self._stream, name)

    streams = [Capped(sys.stdout), Capped(sys.stderr)]
    sys.stdout, sys.stderr = streams

    def reset(*_):
        for stream in streams:
            stream.used = 0
    get_ipython().events.register("pre_run_cell", reset)


__grader_cap_output()
del __grader_cap_output
"""


# ------------------------------------------------------------------------------------------------
# What the student's kernel runs for the probes
# ------------------------------------------------------------------------------------------------
def _kernel_call(sources, loaded, source, function, names, inputs, seed, output):
    """Evaluate one probe in the student's kernel: ``function`` of the probe module ``sources[source]`` on the
    notebook's definitions ``names`` and the inputs saved in ``inputs``, after seeding torch; save its plain value
    in ``output``.

    Its own source is executed in the kernel (beside :func:`course_tools.probes.plain`). Each probe module is
    executed once, into a namespace of its own (kept in ``loaded``), never the notebook's.
    """
    import torch
    from IPython import get_ipython

    if source not in loaded:
        loaded[source] = {"__name__": "__grader_probes__"}
        exec(compile(sources[source], f"<probes {source}>", "exec"), loaded[source])
    notebook = get_ipython().user_ns
    missing = [name for name in names if name not in notebook]
    if missing:
        raise NameError(f"name {missing[0]!r} is not defined")
    inp = torch.load(inputs, weights_only=True)
    torch.manual_seed(seed)
    value = loaded[source][function](inp, **{name: notebook[name] for name in names})
    torch.save(plain(value), output)


def _kernel_helper(sources: dict[str, str]) -> str:
    """The cell that defines ``__grader_call`` in the student's kernel, with the probe modules' sources."""
    return (
        "import functools as __grader_functools\n"
        "__grader_ns = {}\n"
        f"exec({inspect.getsource(plain)!r}, __grader_ns)\n"
        f"exec({inspect.getsource(_kernel_call)!r}, __grader_ns)\n"
        f"__grader_call = __grader_functools.partial(__grader_ns['_kernel_call'], {sources!r}, {{}})\n"
        "del __grader_ns, __grader_functools\n"
    )


def _flatten(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten(v)]
    raise TypeError(f"unexpected value {type(value).__name__}")


def _compare(got: Any, expected: Any, probe: Probe) -> str:
    """'' when they match, else a short reason."""
    try:
        got_list, expected_list = _flatten(got), _flatten(expected)
    except TypeError as err:
        return str(err)
    if len(got_list) != len(expected_list):
        return f"expected {len(expected_list)} values, got {len(got_list)}"
    for g, e in zip(got_list, expected_list):
        if tuple(g.shape) != tuple(e.shape):
            return f"expected shape {tuple(e.shape)}, got {tuple(g.shape)}"
        g, e = g.double(), e.double()
        if not torch.isfinite(g).all() and torch.isfinite(e).all():
            return "got non-finite values (nan or inf)"
        if not torch.allclose(g, e, atol=probe.atol, rtol=probe.rtol, equal_nan=True):
            worst = float((g - e).abs().max())
            return f"values differ from the reference (largest difference {worst:.3g})"
    return ""


def split_points(points: float, n: int) -> list[float]:
    """``points`` shared over ``n`` tests, each rounded to 6 decimals so that they add up to ``points``.

    Each share is the difference of two rounded cumulative totals (2 points over 3 tests:
    0.666667, 0.666666, 0.666667), not a rounded third three times (which sums to 2.000001).
    """
    edges = [round(points * k / n, 6) for k in range(n + 1)]
    return [round(edges[k + 1] - edges[k], 6) for k in range(n)]


# ------------------------------------------------------------------------------------------------
# Probes and references
# ------------------------------------------------------------------------------------------------
def _checks_module(lesson: str):
    """``course_utils.checks.<topic>`` for lesson ``NN_topic``: its checks and TRAINED."""
    return importlib.import_module(f"course_utils.checks.{lesson.split('_', 1)[1]}")


def lesson_probes(lesson: str, hidden_tests: Path | None = None) -> dict[str, list[Probe]]:
    """The probes of a lesson (``course_tools.probes.<topic>``) and, if given, the instructor's hidden ones."""
    probes = topic_probes(lesson)
    if hidden_tests is not None:
        spec = importlib.util.spec_from_file_location("hidden_tests", hidden_tests)
        hidden = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hidden)  # type: ignore[union-attr]
        for grade_id, extra in getattr(hidden, "PROBES", {}).items():
            for probe in extra:
                probe.hidden = True
            probes.setdefault(grade_id, []).extend(extra)
    return probes


def reference_namespace(lesson: str, root: Path) -> dict:
    """The solution's setup cell and its ex- and lib- cells, executed in the grader's process (trusted code)."""
    return lesson_namespace(
        lesson,
        root=root,
        quiet=True,
        name=f"reference_{lesson}",
        constants=getattr(topic_module(lesson), "REFERENCE_CONTEXT", {}),
        select=lambda meta: str(meta.get("id", "")).startswith(("ex-", "lib-")),
    )


# ------------------------------------------------------------------------------------------------
# The worker: runs in its own process, limited; executes the notebook and the probes in a kernel
# ------------------------------------------------------------------------------------------------
def _limits(memory_mb: int, file_mb: int = 256) -> Callable[[], None]:
    def apply() -> None:
        import resource

        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


#: Run inside ``unshare``'s new namespaces, as root of a user namespace of its own: build a new root
#: on an empty tmpfs that holds only the paths given before ``--`` (the system's programs and
#: libraries, the interpreter, this package), each bound read-only at its own path, plus the
#: submission's folder (writable), ``/dev`` with a private ``/dev/shm``, the PID namespace's
#: ``/proc`` and an empty ``/tmp``; then ``chroot`` into it and become the command after ``--``.
#: Everything else on the machine (every copy of the course, the grader's files, the other
#: submissions, the home folder) does not exist for the submission.
SANDBOX_SCRIPT = r"""
set -e
own=$1; new=$2; shift 2
mkdir -p "$new"
mount -t tmpfs -o size=64m,mode=0755 sealed "$new"
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then
    mkdir -p "$new$1"; mount --rbind "$1" "$new$1"; mount -o remount,bind,ro "$new$1"
  elif [ -e "$1" ]; then
    mkdir -p "$new$(dirname "$1")"; : > "$new$1"; mount --bind "$1" "$new$1"; mount -o remount,bind,ro "$new$1"
  fi
  shift
done
shift
mkdir -p "$new$own" "$new/dev" "$new/proc" "$new/tmp"
mount --bind "$own" "$new$own"
mount --rbind /dev "$new/dev"
mount -t tmpfs -o size=256m shm "$new/dev/shm"
mount --rbind /proc "$new/proc"
chmod 1777 "$new/tmp"
exec chroot "$new" sh -c 'cd "$0" && exec "$@"' "$own" "$@"
"""


SANDBOX_LEVELS = {
    "sealed": "sealed (a root of its own with only the system, the interpreter and the course package; private "
    "processes and no network per submission)",
    "network": "network only (unshare cannot make mount and PID namespaces here: submissions can read the "
    "grader's files; their processes are ended by environment token)",
    "none": "none (no unshare here: submissions can read the grader's files and reach the network; their "
    "processes are ended by environment token)",
}

#: The system folders a submission's root holds (those that exist on this machine).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def sandbox_keep() -> list[Path]:
    """What a sealed submission sees besides its own folder: the system, the interpreter, the two packages.

    Each interpreter prefix appears both as Python names it and resolved (a virtual environment's
    ``python`` is a link into the base installation). Nothing else: the reference solutions, the
    tests, the submissions, the reports and any other copy of the course are simply absent.
    """
    packages = [Path(__file__).resolve().parent, Path(course_utils.__file__).resolve().parent]
    prefixes = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    prefixes |= {p.resolve() for p in prefixes}
    keep = [Path(p) for p in SYSTEM_PATHS if Path(p).exists()] + sorted(prefixes) + packages
    unique: list[Path] = []
    for path in keep:  # a folder inside one already kept comes along with it
        if not any(k == path or k in path.parents for k in unique):
            unique = [k for k in unique if path not in k.parents] + [path]
    return unique


@dataclass
class Sandbox:
    """How this machine confines a submission, found once per batch by :func:`find_sandbox`.

    ``"sealed"``: ``unshare`` gives each submission private mount, PID and network namespaces, and
    the submission runs in a root of its own (``chroot``) that holds only the ``keep`` paths
    (read-only) and its own folder: the reference solutions, the tests, the grader's files, the
    other submissions and any other copy of the course on the machine do not exist for it, every
    process it starts dies with its grading (the kernel ends a PID namespace's processes when its
    first one ends), and it has no network. ``"network"``: only the network namespace. ``"none"``:
    neither. In every case the processes that carry the submission's token in their environment are
    killed when it ends.
    """

    level: str
    keep: list[Path] = field(default_factory=list)

    def command(self, folder: Path, command: list[str]) -> list[str]:
        """``command`` confined; ``folder`` is the submission's own, and its sibling ``root`` the mount point."""
        unshare = shutil.which("unshare") or "unshare"
        if self.level == "sealed":
            return [
                unshare,
                "-rmn",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "sh",
                "-c",
                SANDBOX_SCRIPT,
                "sandbox",
                str(folder),
                str(folder.parent / "root"),
                *[str(p) for p in self.keep],
                "--",
                *command,
            ]
        if self.level == "network":
            return [unshare, "-rn", *command]
        return command


def find_sandbox(keep: list[Path] | None = None) -> Sandbox:
    """The strongest confinement that works here (see :class:`Sandbox`).

    The sealed level is tried for real: the interpreter must import the grader and the kernel's
    packages inside the new root, see its own folder and not see a folder beside it.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return Sandbox("none")
    keep = sandbox_keep() if keep is None else keep
    with tempfile.TemporaryDirectory(prefix="sandbox-test-") as tmp:
        secret, own = Path(tmp) / "secret", Path(tmp) / "own"
        secret.mkdir()
        (secret / "reference.py").write_text("x = 1\n")
        own.mkdir()
        (own / "job.json").write_text("{}")
        probe = (
            "import os, course_tools.grading, ipykernel, nbclient; "
            f"assert not os.path.exists({str(secret / 'reference.py')!r}) and os.path.exists('job.json'); "
            "print(os.getcwd())"
        )
        trial = Sandbox("sealed", keep).command(own, [sys.executable, "-c", probe])
        try:
            done = subprocess.run(
                trial,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=own,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(own)},
            )
            if done.returncode == 0 and done.stdout.strip() == str(own):
                return Sandbox("sealed", keep)
        except subprocess.TimeoutExpired:
            pass
    if subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return Sandbox("network")
    return Sandbox("none")


def kill_marked(token: str) -> int:
    """SIGKILL every process whose environment holds ``COURSE_GRADE_TOKEN=<token>``; return how many.

    The fallback that ends a submission's processes where no PID namespace is available: it finds
    the detached ones too, unless a process cleared its own environment.
    """
    marker = f"COURSE_GRADE_TOKEN={token}".encode()
    killed = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):  # gone already, or not ours to read
            continue
    return killed


def worker(job_path: Path) -> int:
    """Execute a submission and its probes; write ``status.json`` beside the job (runs in the limited process)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    job = json.loads(job_path.read_text())
    folder = job_path.parent
    status: dict = {"cells": 0, "errors": [], "timeouts": [], "died": "", "probes": {}}

    class CappedClient(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):  # keep a bounded amount of output per cell
            size = sum(len(json.dumps(o)) for o in outs)
            if size > OUTPUT_CAP:
                return None
            return super().output(outs, msg, display_id, cell_index)

    def save() -> None:
        (folder / "status.json").write_text(json.dumps(status))

    try:
        nb = nbformat.read(folder / "submission.ipynb", as_version=4)
    except Exception as err:  # noqa: BLE001
        status["died"] = f"the notebook could not be read: {type(err).__name__}: {str(err)[:200]}"
        save()
        return 0
    from traitlets.config import Config

    # IPC transport: the kernel talks to this worker over Unix sockets in the folder, so it needs no
    # network at all (inside `unshare -rn` not even loopback exists). nbclient's own asynchronous
    # kernel manager is configured rather than replaced: only it delivers interrupts on timeout.
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(folder / "kernel")
    cells = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    probes = [
        (
            k,
            probe,
            nbformat.v4.new_code_cell(
                f"__grader_call({probe['source']!r}, {probe['function']!r}, {probe['names']!r}, "
                f"{probe['inputs']!r}, {probe['seed']!r}, {probe['output']!r})"
            ),
        )
        for k, probe in enumerate(job["probes"])
    ]
    prelude, helper = nbformat.v4.new_code_cell(CAP_OUTPUT), nbformat.v4.new_code_cell(_kernel_helper(job["sources"]))
    nb.cells += [prelude, helper] + [cell for _, _, cell in probes]  # nbclient addresses cells by index
    fatal: set[int] = set()  # submission cells in which the kernel died: skipped when it is started again
    dead_probes: set[int] = set()
    status["skipped"] = []
    for attempt in range(MAX_RESTARTS + 1):
        # a pass: a fresh kernel runs every cell but the fatal ones, then the probes
        status.update(cells=0, errors=[], timeouts=[], died="")
        running: tuple[str, int] = ("start", -1)
        client = CappedClient(
            nb,
            kernel_name="python3",
            timeout=job["timeout_cell"],
            allow_errors=True,
            interrupt_on_timeout=True,
            record_timing=False,
            startup_timeout=120,
            resources={"metadata": {"path": str(folder)}},
            config=config,
        )
        try:
            with client.setup_kernel():
                client.execute_cell(prelude, nb.cells.index(prelude))
                for index, cell in cells:
                    if index in fatal:
                        continue
                    running = ("cell", index)
                    try:
                        client.execute_cell(cell, index)
                    except CellTimeoutError:
                        status["timeouts"].append(index)
                    status["cells"] += 1
                    for out in cell.get("outputs", []):
                        if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt":
                            status["timeouts"].append(index)
                        elif out.get("output_type") == "error":
                            status["errors"].append(
                                f"cell {index + 1}: {out.get('ename')}: {str(out.get('evalue'))[:160]}"
                            )
                    cell.outputs = []
                    save()
                running = ("helper", -1)
                client.execute_cell(helper, nb.cells.index(helper))
                failed = [o for o in helper.outputs if o.get("output_type") == "error"]
                if failed:  # the grader's own cell: no probe can run without it
                    why = f"{failed[0]['ename']}: {failed[0]['evalue']}"
                    status["died"] = f"the grader's probe helper failed: {why}"[:300]
                for k, probe, cell in probes:
                    if k in dead_probes:
                        continue
                    running = ("probe", k)
                    try:
                        client.execute_cell(cell, nb.cells.index(cell))
                        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                        status["probes"][probe["key"]] = (
                            f"{errors[0]['ename']}: {str(errors[0]['evalue'])[:160]}" if errors else ""
                        )
                    except CellTimeoutError:
                        status["probes"][probe["key"]] = f"timed out after {job['timeout_cell']} s"
                    cell.outputs = []
                save()
            break
        except DeadKernelError:
            kind, index = running
            if kind == "cell":
                fatal.add(index)
                status["skipped"].append(index)
            elif kind == "probe":
                dead_probes.add(index)
                status["probes"][probes[index][1]["key"]] = "the kernel died while evaluating it"
            if kind not in ("cell", "probe") or attempt == MAX_RESTARTS:
                status["died"] = (
                    f"the kernel died after {status['cells']} code cells (a crash, os._exit, or the memory limit)"
                )
                break
            save()
        except Exception as err:  # noqa: BLE001 - anything else is reported, never raised
            status["died"] = f"execution stopped: {type(err).__name__}: {str(err)[:200]}"
            break
    save()
    return 0


# ------------------------------------------------------------------------------------------------
# The parent: draws inputs, runs the worker, judges
# ------------------------------------------------------------------------------------------------
@dataclass
class Submission:
    """The grade of one student."""

    student: str
    scores: dict[str, float] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    tests: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sandbox: str = ""  #: how it was confined (:class:`Sandbox`'s level)

    @property
    def total(self) -> float:
        return round(sum(self.scores.values()), 6)

    @property
    def max_total(self) -> float:
        return round(sum(self.max_scores.values()), 6)


@dataclass
class Prepared:
    """A probe ready to judge: its inputs, drawn once per batch, and the reference's value on them."""

    key: str
    grade_id: str
    index: int
    probe: Probe
    inputs: dict[str, torch.Tensor]
    torch_seed: int  #: set as torch's global seed before the probe, on both sides
    expected: Any  #: the reference's plain value, or the exception the reference raised


def prepare_probes(
    lesson: str, probes: dict[str, list[Probe]], reference: dict, seed: int, root: Path
) -> list[Prepared]:
    """Draw every probe's inputs from ``seed`` and evaluate the reference on them (once per batch, in order)."""
    prepared = []
    for exercise in exercises(lesson, root):
        for k, probe in enumerate(probes.get(exercise.grade_id, [])):
            probe_seed = int(hashlib.sha256(f"{seed}:{exercise.grade_id}:{k}".encode()).hexdigest()[:15], 16)
            inputs = probe.inputs(torch.Generator().manual_seed(probe_seed))
            torch_seed = probe_seed % (2**31)
            torch.manual_seed(torch_seed)
            try:
                expected = evaluate(probe, reference, {n: t.clone() for n, t in inputs.items()})
            except Exception as err:  # noqa: BLE001 - a broken probe must not stop the batch
                expected = err
            prepared.append(
                Prepared(f"{exercise.grade_id}#{k}", exercise.grade_id, k, probe, inputs, torch_seed, expected)
            )
    return prepared


@dataclass
class TrainedGrading:
    """How a batch grades the lesson's :class:`~course_utils.checks.Trained` exercises: their specs, and the
    limits of the child process that measures each weights file (:func:`grade_weights_isolated`)."""

    specs: dict[str, Trained]
    memory_mb: int = 3072
    timeout: float = 300.0


def lesson_trained(lesson: str, memory_mb: int = 3072) -> TrainedGrading:
    """The lesson's exercises graded on its trained model (``TRAINED`` in its checks module), ready to grade.

    The digit classifier lesson 04's measurement needs is trained or loaded here, once, so that the
    measuring processes of parallel submissions only load it.
    """
    specs = dict(getattr(_checks_module(lesson), "TRAINED", {}))
    if any(spec.lesson == "04_gan" for spec in specs.values()):
        GradingData().classifier()
    return TrainedGrading(specs, memory_mb)


def _grade_trained(path: Path, grade_id: str, points: float, root: Path, trained: TrainedGrading) -> dict:
    """The one test of a Trained exercise: the submission's weights file, measured outside the student's kernel."""
    fraction, message = grade_weights_isolated(
        weights_file_for(path), trained.specs[grade_id], root, memory_mb=trained.memory_mb, timeout=trained.timeout
    )
    score = round(points * fraction, 6)
    if 0 < fraction < 1:
        message = f"partial credit, {score:g} of {points:g} points: {message}"
    return {
        "name": f"{grade_id}: the trained model, measured on held-out digits",
        "score": score,
        "max_score": points,
        "status": "passed" if fraction >= 1.0 else "failed",
        "output": message,
        "visibility": "visible",
        "exercise": grade_id,
    }


def grade_submission(
    path: Path,
    lesson: str,
    *,
    root: Path,
    prepared: list[Prepared],
    timeout_cell: float = 60,
    timeout_total: float = 600,
    memory_mb: int = 3072,
    sandbox: Sandbox | None = None,
    work: Path | None = None,
    trained: TrainedGrading | None = None,
) -> Submission:
    """Grade one notebook against prepared probes; never raises for anything the submission does.

    ``work`` is the folder under which its temporary folder is made (a sealed submission sees none of it but its own).
    ``trained`` grades the exercises scored on the model the student trained, from ``STUDENT.weights.pt``
    beside the notebook (measured by a limited child process of the grader, never given to the student's
    kernel); by default :func:`lesson_trained`.
    """
    start = time.perf_counter()
    result = Submission(path.stem)
    graded = exercises(lesson, root)
    trained = trained if trained is not None else lesson_trained(lesson, memory_mb)
    sandbox = sandbox or Sandbox("none")
    with tempfile.TemporaryDirectory(prefix="grade-", dir=work) as tmp:
        folder = Path(tmp) / "work"
        folder.mkdir()
        shutil.copyfile(path, folder / "submission.ipynb")
        jobs, sources = [], {}
        for n, item in enumerate(prepared):
            torch.save(item.inputs, folder / f"in-{n}.pt")
            source = item.probe.run.__module__
            sources.setdefault(source, source_of(item.probe))
            jobs.append(
                {
                    "key": item.key,
                    "source": source,
                    "function": item.probe.function,
                    "names": item.probe.names,
                    "seed": item.torch_seed,
                    "inputs": str(folder / f"in-{n}.pt"),
                    "output": str(folder / f"out-{n}.pt"),
                }
            )
        job = {"timeout_cell": timeout_cell, "probes": jobs, "sources": sources}
        (folder / "job.json").write_text(json.dumps(job))
        token = os.urandom(12).hex()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(folder),
            "TMPDIR": str(folder),
            "COURSE_FAST": "1",
            "MPLBACKEND": "Agg",
            "COURSE_CHECKPOINT_DIR": str(folder / "checkpoints"),
            "COURSE_DATA_DIR": str(folder / "data"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
            "COURSE_GRADE_TOKEN": token,
        }
        command = sandbox.command(
            folder, [sys.executable, "-m", "course_tools.grading", "worker", str(folder / "job.json")]
        )
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_limits(memory_mb),
        )
        try:
            process.wait(timeout=timeout_total)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            result.notes.append(f"stopped after the total time limit of {timeout_total:g} s")
        finally:  # nothing the submission started outlives its grading, detached or not
            kill_marked(token)
        try:
            status = json.loads((folder / "status.json").read_text())
        except Exception:  # noqa: BLE001
            status = {
                "cells": 0,
                "errors": [],
                "timeouts": [],
                "died": "the submission produced no status",
                "probes": {},
            }
        for index in status.get("skipped", []):
            result.notes.append(
                f"cell {index + 1} was skipped: the kernel died in it (a crash, os._exit, or the memory "
                "limit), so a fresh kernel ran the notebook again without it"
            )
        if status.get("died"):
            result.notes.append(str(status["died"]))
        for index in status.get("timeouts", []):
            result.notes.append(f"cell {index + 1} exceeded the {timeout_cell:g} s limit and was interrupted")
        result.notes.extend(str(e) for e in status.get("errors", [])[:10])
        for exercise in graded:
            if exercise.grade_id in trained.specs:
                test = _grade_trained(path, exercise.grade_id, exercise.points, root, trained)
                result.tests.append(test)
                result.scores[exercise.grade_id] = test["score"]
                result.max_scores[exercise.grade_id] = exercise.points
                continue
            exercise_probes = [(n, item) for n, item in enumerate(prepared) if item.grade_id == exercise.grade_id]
            passed = 0
            for n, item in exercise_probes:
                probe, k = item.probe, item.index
                output = folder / f"out-{n}.pt"
                reason = str(status.get("probes", {}).get(item.key, "not run (the execution stopped earlier)"))
                if isinstance(item.expected, Exception):
                    reason = f"grader error in this probe: {item.expected}"
                elif not reason and output.exists():
                    try:
                        got, want = torch.load(output, weights_only=True), item.expected
                        if probe.check is not None:  # properties, computed here from the raw values
                            got, want = plain(probe.check(got)), plain(probe.check(want))
                        reason = _compare(got, want, probe)
                    except Exception as err:  # noqa: BLE001 - a forged or broken output file
                        reason = f"unreadable output ({type(err).__name__})"
                elif not reason:
                    reason = "no output"
                if "NotImplementedError" in reason:
                    reason = "not done yet (NotImplementedError)"
                passed += not reason
                name = f"{exercise.grade_id}: {'hidden test ' + str(k + 1) if probe.hidden else probe.name}"
                result.tests.append(
                    {
                        "name": name,
                        "score": 0.0,
                        "max_score": 0.0,
                        "status": "passed" if not reason else "failed",
                        "output": "" if not reason else (reason if not probe.hidden else "failed"),
                        "visibility": "after_published" if probe.hidden else "visible",
                        "exercise": exercise.grade_id,
                    }
                )
            tests = [t for t in result.tests if t["exercise"] == exercise.grade_id]
            for test, share in zip(tests, split_points(exercise.points, len(tests))):
                test["max_score"] = share
                test["score"] = share if test["status"] == "passed" else 0.0
            result.scores[exercise.grade_id] = round(sum(t["score"] for t in tests), 6)
            result.max_scores[exercise.grade_id] = exercise.points
    result.seconds = time.perf_counter() - start
    return result


def _write_reports(results: list[Submission], out: Path, lesson: str, grade_ids: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *grade_ids, "total", "max", "notes"])
        for r in sorted(results, key=lambda r: r.student):
            writer.writerow(
                [
                    r.student,
                    *[f"{r.scores.get(g, 0.0):g}" for g in grade_ids],
                    f"{r.total:g}",
                    f"{r.max_total:g}",
                    " | ".join(r.notes)[:500],
                ]
            )
    for r in results:
        folder = out / r.student
        folder.mkdir(parents=True, exist_ok=True)
        tests = [{k: v for k, v in t.items() if k != "exercise"} for t in r.tests]
        (folder / "results.json").write_text(
            json.dumps(
                {
                    "score": round(sum(t["score"] for t in tests), 6) if tests else r.total,
                    "max_score": r.max_total,
                    "visibility": "visible",
                    "stdout_visibility": "hidden",
                    "output": f"{lesson}: {r.total:g} / {r.max_total:g}"
                    + ("\n" + "\n".join(r.notes) if r.notes else ""),
                    "tests": tests,
                },
                indent=1,
            )
        )
        lines = [f"{lesson}, {r.student}: {r.total:g} of {r.max_total:g} points", ""]
        for grade_id in grade_ids:
            lines.append(f"{grade_id}: {r.scores.get(grade_id, 0.0):g} / {r.max_scores.get(grade_id, 0.0):g}")
            for t in r.tests:
                if t["exercise"] == grade_id:
                    lines.append(
                        f"  {'✓' if t['status'] == 'passed' else '✗'} {t['name'].split(': ', 1)[1]}"
                        + (f": {t['output']}" if t["output"] else "")
                    )
        if r.notes:
            lines += ["", "Notes:"] + [f"  {n}" for n in r.notes]
        (folder / "feedback.txt").write_text("\n".join(lines) + "\n")


def grade_batch(
    lesson: str,
    submissions: Path,
    out: Path,
    *,
    workers: int = 2,
    seed: int = 0,
    timeout_cell: float = 60,
    timeout_total: float = 600,
    memory_mb: int = 3072,
    hidden_tests: Path | None = None,
    root: Path | None = None,
) -> list[Submission]:
    """Grade every ``*.ipynb`` in ``submissions``; write the gradebook, results.json and feedback files."""
    root = root or repo_root()
    # inputs and reference values are the same for every student: computed once, before any thread starts
    reference = reference_namespace(lesson, root)
    prepared = prepare_probes(lesson, lesson_probes(lesson, hidden_tests), reference, seed, root)
    trained = lesson_trained(lesson, memory_mb)
    paths = sorted(submissions.glob("*.ipynb"))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as work:
        sandbox = find_sandbox()

        def one(path: Path) -> Submission:
            try:
                return grade_submission(
                    path,
                    lesson,
                    root=root,
                    prepared=prepared,
                    timeout_cell=timeout_cell,
                    timeout_total=timeout_total,
                    memory_mb=memory_mb,
                    sandbox=sandbox,
                    work=Path(work),
                    trained=trained,
                )
            except Exception as err:  # noqa: BLE001 - the batch never stops for one submission
                return Submission(path.stem, notes=[f"grader error: {type(err).__name__}: {err}"])

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(one, paths))
    for r in results:
        r.sandbox = sandbox.level
    points = {e.grade_id: e.points for e in exercises(lesson, root)}
    for r in results:  # a submission the grader itself failed on still shows what it could have scored
        for grade_id, value in points.items():
            r.max_scores.setdefault(grade_id, value)
    _write_reports(results, out, lesson, list(points))
    return results


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        return worker(Path(argv[1]))
    parser = argparse.ArgumentParser(prog="course grade", description="Grade a folder of submissions.")
    parser.add_argument("--assignment", required=True, help="the lesson id, e.g. 02_vae")
    parser.add_argument("--submissions", type=Path, required=True, help="a folder of STUDENT.ipynb files")
    parser.add_argument("--out", type=Path, required=True, help="where the gradebook and reports go")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout-cell", type=float, default=60.0, help="seconds per cell (the kernel is interrupted)")
    parser.add_argument("--timeout-total", type=float, default=600.0, help="seconds per submission")
    parser.add_argument("--memory-mb", type=int, default=3072, help="address-space limit of a submission's processes")
    parser.add_argument("--hidden-tests", type=Path, default=None, help="an instructor's file defining PROBES")
    parser.add_argument("--seed", type=int, default=0, help="draws the probes' inputs (keep it secret per term)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = grade_batch(
        args.assignment,
        args.submissions,
        args.out,
        workers=args.workers,
        seed=args.seed,
        timeout_cell=args.timeout_cell,
        timeout_total=args.timeout_total,
        memory_mb=args.memory_mb,
        hidden_tests=args.hidden_tests,
    )
    if results:
        print(f"confinement: {SANDBOX_LEVELS.get(results[0].sandbox, results[0].sandbox)}")
    for r in sorted(results, key=lambda r: r.student):
        print(
            f"{r.student:30s} {r.total:6g} / {r.max_total:g}   {r.seconds:5.1f} s"
            + (f"   {r.notes[0][:70]}" if r.notes else "")
        )
    elapsed = time.perf_counter() - start
    print(
        f"{len(results)} submissions in {elapsed:.1f} s ({60 * len(results) / max(elapsed, 1e-9):.1f} per minute); "
        f"reports in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
