"""The auto-grader: ``course grade`` (also ``python -m course_utils.grading``).

    course grade --assignment 01_autoencoder --submissions DIR --out DIR \\
        [--workers N] [--timeout-cell S] [--timeout-total S] [--memory-mb M] [--hidden-tests PATH] [--seed N]

Every ``*.ipynb`` in ``DIR`` is one student (the file name is the student id). For each one:

1. The notebook is copied alone into a fresh temporary folder and executed in fast mode by a
   worker process in its own kernel: per-cell time limit (the kernel is interrupted and the next
   cell runs), total time limit (the worker's process group is killed), address-space and
   file-size limits, outputs capped, a scrubbed environment, and no network where ``unshare`` can
   make a network namespace.
2. The student's kernel only computes. For each graded exercise the grader draws inputs (from a
   seed, once per batch: every score is reproducible), the kernel evaluates the exercise's *probes* on them and
   saves plain tensors, and the grader loads them with ``torch.load(weights_only=True)``. Nothing is
   unpickled from the kernel. The reference solution is evaluated on the same inputs in the
   grader's own process, and the comparison happens there, so nothing a student defines, prints or
   monkeypatches can change a verdict.
3. An exercise earns its points (from ``points=`` in ``solutions/NN_topic.py``) times the fraction
   of its probes that pass. Probes come from ``course_utils.checks.<topic>.PROBES``; an
   instructor's ``--hidden-tests`` file adds more (``PROBES = {grade_id: [Probe, ...]}``), which
   count but whose code is never shown.

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

from .build import exercises, repo_root
from .checks import Probe

__all__ = ["Probe", "Prepared", "Submission", "prepare_probes", "grade_submission", "grade_batch", "main"]

OUTPUT_CAP = 20_000  # characters of output kept per cell (the rest is dropped in the worker)


# ------------------------------------------------------------------------------------------------
# Plain values
# ------------------------------------------------------------------------------------------------
def _plain(value):
    """Tensors, numbers, sizes and (nested) lists of them, as CPU tensors: all a probe may return.

    Its source is also executed in the student's kernel (in a namespace of its own), so both sides
    save exactly the same kind of value.
    """
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if isinstance(value, torch.Size):
        return torch.tensor(list(value), dtype=torch.float64)
    if isinstance(value, (bool, int, float)):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise TypeError(f"a probe must give tensors or numbers, not {type(value).__name__}")


PLAIN_HELPER = (f"__grader_ns = {{}}\nexec({inspect.getsource(_plain)!r}, __grader_ns)\n"
                "__grader_plain = __grader_ns['_plain']\n")


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


# ------------------------------------------------------------------------------------------------
# Probes and references
# ------------------------------------------------------------------------------------------------
def _checks_module(lesson: str):
    """``course_utils.checks.<topic>`` for lesson ``NN_topic``: its checks, PROBES and REFERENCE_CONTEXT."""
    return importlib.import_module(f"course_utils.checks.{lesson.split('_', 1)[1]}")


def lesson_probes(lesson: str, hidden_tests: Path | None = None) -> dict[str, list[Probe]]:
    """The probes of a lesson (from its checks module) and, if given, the instructor's hidden ones."""
    probes = {k: list(v) for k, v in getattr(_checks_module(lesson), "PROBES", {}).items()}
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
    """The solution's setup cell and every cell with an id, executed in the grader's process (trusted code)."""
    import jupytext

    namespace: dict = {"__name__": f"reference_{lesson}", **getattr(_checks_module(lesson), "REFERENCE_CONTEXT", {})}
    nb = jupytext.read(root / "solutions" / f"{lesson}.py")
    code = [c for c in nb.cells if c.cell_type == "code"]
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        for cell in [code[0]] + [c for c in code[1:] if c.metadata.get("id") and not c.metadata.get("points")]:
            exec(compile(cell.source, f"<reference {lesson}:{cell.metadata.get('id', 'setup')}>", "exec"), namespace)
    return namespace


def _evaluate(expr: str, namespace: dict, inp: dict) -> Any:
    local = dict(namespace)
    local["inp"] = inp
    return _plain(eval(expr, local))  # noqa: S307 - the reference solution, in the grader's process


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


def _network_isolation() -> list[str]:
    """``unshare -rn`` when it works here (a private network namespace with no interfaces), else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


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
    client = CappedClient(nb, kernel_name="python3", timeout=job["timeout_cell"], allow_errors=True,
                          interrupt_on_timeout=True, record_timing=False, startup_timeout=120,
                          resources={"metadata": {"path": str(folder)}}, config=config)
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status["timeouts"].append(index)
                status["cells"] += 1
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt":
                        status["timeouts"].append(index)
                    elif out.get("output_type") == "error":
                        status["errors"].append(f"cell {index + 1}: {out.get('ename')}: {str(out.get('evalue'))[:160]}")
                cell.outputs = []
                save()
            setup = nbformat.v4.new_code_cell(PLAIN_HELPER)
            nb.cells.append(setup)
            client.execute_cell(setup, len(nb.cells) - 1)
            for k, probe in enumerate(job["probes"]):
                code = (f"import torch as __t\n__grader_in = __t.load({probe['inputs']!r}, weights_only=True)\n"
                        f"__t.save(__grader_plain((lambda inp: ({probe['expr']}))(__grader_in)), {probe['output']!r})")
                cell = nbformat.v4.new_code_cell(code)
                nb.cells.append(cell)
                try:
                    client.execute_cell(cell, len(nb.cells) - 1)
                    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                    status["probes"][probe["key"]] = (f"{errors[0]['ename']}: {str(errors[0]['evalue'])[:160]}"
                                                      if errors else "")
                except CellTimeoutError:
                    status["probes"][probe["key"]] = f"timed out after {job['timeout_cell']} s"
            save()
    except DeadKernelError:
        status["died"] = f"the kernel died after {status['cells']} code cells (a crash, os._exit, or the memory limit)"
    except Exception as err:  # noqa: BLE001 - anything else is reported, never raised
        status["died"] = f"execution stopped: {type(err).__name__}: {str(err)[:200]}"
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


def prepare_probes(lesson: str, probes: dict[str, list[Probe]], reference: dict, seed: int, root: Path) -> list[Prepared]:
    """Draw every probe's inputs from ``seed`` and evaluate the reference on them (once per batch, in order)."""
    prepared = []
    for exercise in exercises(lesson, root):
        for k, probe in enumerate(probes.get(exercise.grade_id, [])):
            probe_seed = int(hashlib.sha256(f"{seed}:{exercise.grade_id}:{k}".encode()).hexdigest()[:15], 16)
            inputs = probe.inputs(torch.Generator().manual_seed(probe_seed))
            torch_seed = probe_seed % (2**31)
            torch.manual_seed(torch_seed)
            try:
                expected = _evaluate(probe.expr, reference, {n: t.clone() for n, t in inputs.items()})
            except Exception as err:  # noqa: BLE001 - a broken probe must not stop the batch
                expected = err
            prepared.append(Prepared(f"{exercise.grade_id}#{k}", exercise.grade_id, k, probe, inputs, torch_seed, expected))
    return prepared


def grade_submission(path: Path, lesson: str, *, root: Path, prepared: list[Prepared], timeout_cell: float = 60,
                     timeout_total: float = 600, memory_mb: int = 3072,
                     isolate_network: list[str] | None = None) -> Submission:
    """Grade one notebook against prepared probes; never raises for anything the submission does."""
    start = time.perf_counter()
    result = Submission(path.stem)
    graded = exercises(lesson, root)
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        folder = Path(tmp) / "work"
        folder.mkdir()
        shutil.copyfile(path, folder / "submission.ipynb")
        jobs = []
        for n, item in enumerate(prepared):
            torch.save(item.inputs, folder / f"in-{n}.pt")
            jobs.append({"key": item.key, "expr": f"(__t.manual_seed({item.torch_seed}), {item.probe.expr})[1]",
                         "inputs": str(folder / f"in-{n}.pt"), "output": str(folder / f"out-{n}.pt")})
        (folder / "job.json").write_text(json.dumps({"timeout_cell": timeout_cell, "probes": jobs}))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "COURSE_FAST": "1", "MPLBACKEND": "Agg",
               "COURSE_CHECKPOINT_DIR": str(folder / "checkpoints"), "COURSE_DATA_DIR": str(folder / "data"),
               "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "JUPYTER_PLATFORM_DIRS": "1"}
        command = [*(isolate_network or []), sys.executable, "-m", "course_utils.grading", "worker", str(folder / "job.json")]
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=_limits(memory_mb))
        try:
            process.wait(timeout=timeout_total)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            result.notes.append(f"stopped after the total time limit of {timeout_total:g} s")
        try:
            status = json.loads((folder / "status.json").read_text())
        except Exception:  # noqa: BLE001
            status = {"cells": 0, "errors": [], "timeouts": [], "died": "the submission produced no status", "probes": {}}
        if status.get("died"):
            result.notes.append(str(status["died"]))
        for index in status.get("timeouts", []):
            result.notes.append(f"cell {index + 1} exceeded the {timeout_cell:g} s limit and was interrupted")
        result.notes.extend(str(e) for e in status.get("errors", [])[:10])
        for exercise in graded:
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
                            got, want = _plain(probe.check(got)), _plain(probe.check(want))
                        reason = _compare(got, want, probe)
                    except Exception as err:  # noqa: BLE001 - a forged or broken output file
                        reason = f"unreadable output ({type(err).__name__})"
                elif not reason:
                    reason = "no output"
                if "NotImplementedError" in reason:
                    reason = "not done yet (NotImplementedError)"
                passed += not reason
                name = f"{exercise.grade_id}: {'hidden test ' + str(k + 1) if probe.hidden else probe.name}"
                result.tests.append({"name": name, "score": 0.0, "max_score": 0.0, "status": "passed" if not reason else "failed",
                                     "output": "" if not reason else (reason if not probe.hidden else "failed"),
                                     "visibility": "after_published" if probe.hidden else "visible",
                                     "exercise": exercise.grade_id})
            share = passed / len(exercise_probes) if exercise_probes else 0.0
            result.scores[exercise.grade_id] = round(exercise.points * share, 6)
            result.max_scores[exercise.grade_id] = exercise.points
            per_probe = exercise.points / len(exercise_probes) if exercise_probes else 0.0
            for test in result.tests:
                if test["exercise"] == exercise.grade_id:
                    test["max_score"] = round(per_probe, 6)
                    test["score"] = round(per_probe if test["status"] == "passed" else 0.0, 6)
    result.seconds = time.perf_counter() - start
    return result


def _write_reports(results: list[Submission], out: Path, lesson: str, grade_ids: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *grade_ids, "total", "max", "notes"])
        for r in sorted(results, key=lambda r: r.student):
            writer.writerow([r.student, *[f"{r.scores.get(g, 0.0):g}" for g in grade_ids], f"{r.total:g}",
                             f"{r.max_total:g}", " | ".join(r.notes)[:500]])
    for r in results:
        folder = out / r.student
        folder.mkdir(parents=True, exist_ok=True)
        tests = [{k: v for k, v in t.items() if k != "exercise"} for t in r.tests]
        (folder / "results.json").write_text(json.dumps({
            "score": r.total, "max_score": r.max_total, "visibility": "visible", "stdout_visibility": "hidden",
            "output": f"{lesson}: {r.total:g} / {r.max_total:g}" + ("\n" + "\n".join(r.notes) if r.notes else ""),
            "tests": tests}, indent=1))
        lines = [f"{lesson}, {r.student}: {r.total:g} of {r.max_total:g} points", ""]
        for grade_id in grade_ids:
            lines.append(f"{grade_id}: {r.scores.get(grade_id, 0.0):g} / {r.max_scores.get(grade_id, 0.0):g}")
            for t in r.tests:
                if t["exercise"] == grade_id:
                    lines.append(f"  {'✓' if t['status'] == 'passed' else '✗'} {t['name'].split(': ', 1)[1]}"
                                 + (f": {t['output']}" if t["output"] else ""))
        if r.notes:
            lines += ["", "Notes:"] + [f"  {n}" for n in r.notes]
        (folder / "feedback.txt").write_text("\n".join(lines) + "\n")


def grade_batch(lesson: str, submissions: Path, out: Path, *, workers: int = 2, seed: int = 0, timeout_cell: float = 60,
                timeout_total: float = 600, memory_mb: int = 3072, hidden_tests: Path | None = None,
                root: Path | None = None) -> list[Submission]:
    """Grade every ``*.ipynb`` in ``submissions``; write the gradebook, results.json and feedback files."""
    root = root or repo_root()
    # inputs and reference values are the same for every student: computed once, before any thread starts
    prepared = prepare_probes(lesson, lesson_probes(lesson, hidden_tests), reference_namespace(lesson, root), seed, root)
    isolation = _network_isolation()
    paths = sorted(submissions.glob("*.ipynb"))

    def one(path: Path) -> Submission:
        try:
            return grade_submission(path, lesson, root=root, prepared=prepared, timeout_cell=timeout_cell,
                                    timeout_total=timeout_total, memory_mb=memory_mb, isolate_network=isolation)
        except Exception as err:  # noqa: BLE001 - the batch never stops for one submission
            return Submission(path.stem, notes=[f"grader error: {type(err).__name__}: {err}"])

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, paths))
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
    results = grade_batch(args.assignment, args.submissions, args.out, workers=args.workers, seed=args.seed,
                          timeout_cell=args.timeout_cell, timeout_total=args.timeout_total, memory_mb=args.memory_mb,
                          hidden_tests=args.hidden_tests)
    for r in sorted(results, key=lambda r: r.student):
        print(f"{r.student:30s} {r.total:6g} / {r.max_total:g}   {r.seconds:5.1f} s" + (f"   {r.notes[0][:70]}" if r.notes else ""))
    elapsed = time.perf_counter() - start
    print(f"{len(results)} submissions in {elapsed:.1f} s ({60 * len(results) / max(elapsed, 1e-9):.1f} per minute); "
          f"reports in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
