import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils import train


def _regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return torch.utils.data.TensorDataset(x, y)


def _mse(model, batch):
    x, y = batch
    error = ((model(x) - y) ** 2).mean()
    return {"loss": error, "rmse": error.sqrt()}


def test_fit_learns_and_logs_every_term():
    model = nn.Linear(3, 1)
    history = train.fit(model, _mse, _regression(), epochs=40, lr=5e-2, batch_size=32, progress=False, live_plot=False)
    assert len(history.epoch["loss"]) == 40 and len(history.step["loss"]) == 40 * 8
    assert set(history.epoch) == {"loss", "rmse"}
    assert history.epoch["loss"][-1] < 1e-3 < history.epoch["loss"][0]
    assert history.seconds > 0 and not model.training


def test_fit_is_deterministic_under_a_seed():
    runs = []
    for _ in range(2):
        torch.manual_seed(99)  # a different global state must not matter: fit seeds itself
        model = nn.Linear(3, 1)
        model.load_state_dict({"weight": torch.zeros(1, 3), "bias": torch.zeros(1)})
        runs.append(
            train.fit(model, _mse, _regression(), epochs=3, seed=5, progress=False, live_plot=False).step["loss"]
        )
    assert runs[0] == runs[1]


def test_fit_accepts_a_tensor_and_reports_a_diverging_loss():
    x = torch.randn(64, 2)
    train.fit(
        nn.Linear(2, 2), lambda m, b: ((m(b[0]) - b[0]) ** 2).mean(), x, epochs=1, progress=False, live_plot=False
    )
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train.fit(
            nn.Linear(2, 2), lambda m, b: m(b[0]).sum() * float("nan"), x, epochs=1, progress=False, live_plot=False
        )


def test_config_key_is_stable_and_order_free():
    assert train.config_key("m", {"a": 1, "b": [1, 2]}) == train.config_key("m", {"b": [1, 2], "a": 1})
    assert train.config_key("m", {"a": 1}) != train.config_key("m", {"a": 2})
    assert train.config_key("m", {"a": 1}) != train.config_key("n", {"a": 1})


def test_load_or_train_trains_once_then_loads(tmp_path):
    calls = []

    def fit(model):
        calls.append(1)
        return train.fit(model, _mse, _regression(), epochs=5, lr=5e-2, progress=False, live_plot=False)

    config = {"epochs": 5, "lr": 5e-2}
    first, h1 = train.load_or_train("reg", config, lambda: nn.Linear(3, 1), fit, folder=tmp_path)
    second, h2 = train.load_or_train("reg", config, lambda: nn.Linear(3, 1), fit, folder=tmp_path, device="cpu")
    assert len(calls) == 1 and h1.epoch == h2.epoch
    assert torch.equal(first.weight.cpu(), second.weight)
    train.load_or_train("reg", {**config, "epochs": 6}, lambda: nn.Linear(3, 1), fit, folder=tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("reg-*.pt"))) == 2


def test_load_or_train_uses_map_location(tmp_path, monkeypatch):
    fit = lambda m: train.History(seconds=0.0)  # noqa: E731
    train.load_or_train("m", {}, lambda: nn.Linear(2, 2), fit, folder=tmp_path)
    seen = {}
    original = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    train.load_or_train("m", {}, lambda: nn.Linear(2, 2), fit, folder=tmp_path, device="cpu")
    assert seen["map_location"] == torch.device("cpu") and seen["weights_only"] is True


def test_broken_or_mismatched_checkpoints_are_retrained(tmp_path):
    fit = lambda m: train.History(seconds=0.0)  # noqa: E731
    width = [2]  # an architecture the key does not see (held outside the config and the code)
    build = lambda: nn.Linear(2, width[0])  # noqa: E731
    train.load_or_train("m", {}, build, fit, folder=tmp_path)
    width[0] = 3
    with pytest.warns(UserWarning, match="could not be loaded"):
        model, _ = train.load_or_train("m", {}, build, fit, folder=tmp_path)
    assert model.out_features == 3
    (path,) = tmp_path.glob("m-*.pt")
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="could not be loaded"):
        train.load_or_train("m", {}, build, fit, folder=tmp_path)
    assert torch.load(path, weights_only=True)["state_dict"]["weight"].shape == (3, 2)


def test_predict_batches_without_gradients():
    layer = nn.Linear(4, 2)
    x = torch.randn(1000, 4)
    out = train.predict(layer, x, batch_size=64, device="cpu")
    assert out.shape == (1000, 2) and not out.requires_grad
    assert torch.allclose(out, layer(x).detach(), atol=1e-6)


def _toy_gan(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)), nn.Sequential(
        nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)
    )


def _step(G, D, opt_G, opt_D, real, z, y=None):
    from course_utils.checks.gan import _reference_step

    _reference_step(G, D, opt_G, opt_D, real, z)  # one discriminator step, one non-saturating generator step
    with torch.no_grad():
        loss_G = float(torch.nn.functional.softplus(-D(G(z))).mean())
    return {"loss_G": loss_G, **({"y_mean": float(y.float().mean())} if y is not None else {})}


def _toy_game(seed: int = 0, steps: int = 120, every: int = 50):
    """A 1D GAN composed as the lessons compose theirs: seeded batches and noise, the step, the runner."""
    real = torch.randn(500, 1, generator=torch.Generator().manual_seed(0)) * 0.3 + 2.0
    G, D = _toy_gan()
    opt_G, opt_D = (torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999)) for net in (G, D))
    data, z = (
        train.batches(real, batch_size=32, seed=seed, device="cpu"),
        train.noise(32, 1, seed=seed + 1, device="cpu"),
    )

    def step(i):
        (x,) = next(data)
        return _step(G, D, opt_G, opt_D, x, next(z))

    history, snaps = train.run_steps(
        step,
        steps,
        models=(G, D),
        snapshot=lambda i: (i, G.training, float(G(torch.ones(1, 1)).detach())),
        every=every,
        progress=False,
    )
    return G, D, history, snaps


def test_run_steps_replays_exactly_and_snapshots():
    runs = [_toy_game() for _ in range(2)]
    assert runs[0][2].step["loss_G"] == runs[1][2].step["loss_G"] and runs[0][3] == runs[1][3]
    G, D, history, snaps = runs[0]
    assert [i for i, _, _ in snaps] == [0, 50, 100, 119]
    assert not any(training for _, training, _ in snaps)  # snapshots see the models in evaluation mode
    assert not G.training and not D.training  # and so does whatever comes after the run
    assert len(history.epoch["loss_G"]) == 2 and history.seconds > 0
    assert history.epoch["loss_G"][0] == sum(history.step["loss_G"][:100]) / 100
    with torch.no_grad():
        assert abs(float(G(torch.randn(2000, 1)).mean()) - 2.0) < 0.5  # the generator moved toward the data
    assert _toy_game(seed=1)[2].step["loss_G"] != history.step["loss_G"]  # another seed, another game


def test_run_steps_seeds_the_draws_made_inside_the_step():
    def draw(i):
        return {"u": float(torch.rand(()))}

    first, _ = train.run_steps(draw, 3, progress=False)
    torch.rand(5)  # whatever ran in between
    again, _ = train.run_steps(draw, 3, progress=False)
    assert first.step["u"] == again.step["u"]
    other, _ = train.run_steps(draw, 3, seed=1, progress=False)
    assert other.step["u"] != first.step["u"]
    with pytest.raises(ValueError, match="steps"):
        train.run_steps(draw, -1)


def test_batches_keep_rows_together_and_replay():
    x, y = torch.arange(100.0).view(100, 1), torch.arange(100)
    draws = train.batches(x, y, batch_size=16, seed=3, device="cpu")
    first = [next(draws) for _ in range(5)]
    for xb, yb in first:
        assert xb.shape == (16, 1) and yb.shape == (16,)
        assert torch.equal(xb[:, 0].long(), yb)  # the labels stay with their rows
    again = train.batches(x, y, batch_size=16, seed=3, device="cpu")
    assert all(torch.equal(a[1], next(again)[1]) for a in first)
    assert not torch.equal(first[0][1], next(train.batches(x, y, batch_size=16, seed=4, device="cpu"))[1])
    seen = torch.cat([yb for _, yb in first])
    assert len(seen.unique()) > 40  # drawn across the whole set, with replacement
    with pytest.raises(ValueError, match="lengths differ"):
        next(train.batches(x, y[:50], batch_size=4))
    with pytest.raises(ValueError, match="at least one"):
        next(train.batches(batch_size=4))


def test_noise_is_standard_normal_and_seeded():
    z = train.noise(4000, 3, seed=5, device="cpu")
    first = next(z)
    assert first.shape == (4000, 3)
    assert abs(float(first.mean())) < 0.05 and abs(float(first.std()) - 1) < 0.05
    assert not torch.equal(first, next(z))  # a new draw each step
    assert torch.equal(first, next(train.noise(4000, 3, seed=5, device="cpu")))


def test_batches_and_noise_land_on_the_chosen_device(monkeypatch):
    """The draws are made on the CPU (the same numbers everywhere) and moved where the models are."""
    moved = []
    real_to = torch.Tensor.to

    def spy(self, *args, **kwargs):
        moved.append(args[0] if args else kwargs.get("device"))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    monkeypatch.setattr(train, "get_device", lambda: torch.device("meta"))
    xb, yb = next(train.batches(torch.zeros(10, 2), torch.zeros(10), batch_size=4))
    z = next(train.noise(4, 2))
    assert {xb.device.type, yb.device.type, z.device.type} == {"meta"}
    assert all(torch.device(d).type == "meta" for d in moved)


def test_load_or_train_builds_the_same_model_in_every_process(tmp_path):
    import subprocess
    import sys

    code = (
        "import torch; from torch import nn; from course_utils import train; "
        "m, _ = train.load_or_train('m', {'seed': 3}, lambda: nn.Linear(4, 4), lambda m: train.History(), "
        f"folder=r'{tmp_path}/' + str(torch.initial_seed()), device='cpu'); print(m.weight.sum().item())"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(outputs) == 1, outputs


def test_cached_computes_once_and_recomputes_an_unreadable_file(tmp_path):
    from course_utils import train as train_module

    calls = []

    def compute():
        calls.append(1)
        return {"curve": [1.0, 2.0], "weights": torch.ones(2), "label": ("a", 3)}

    first = train_module.cached("thing", {"n": 2}, compute, folder=tmp_path)
    second = train_module.cached("thing", {"n": 2}, compute, folder=tmp_path)
    assert len(calls) == 1 and second["curve"] == [1.0, 2.0] and torch.equal(second["weights"], first["weights"])
    assert tuple(second["label"]) == ("a", 3)
    train_module.checkpoint_path("thing", {"n": 2}, tmp_path).write_bytes(b"not torch")
    with pytest.warns(UserWarning, match="could not be loaded"):
        train_module.cached("thing", {"n": 2}, compute, folder=tmp_path)
    assert len(calls) == 2


def test_code_fingerprint_follows_the_source():
    from course_utils import train as train_module

    def a(x):
        return x + 1

    def b(x):
        return x + 2

    assert train_module.code_fingerprint(a) == train_module.code_fingerprint(a) != train_module.code_fingerprint(b)


def test_code_fingerprint_follows_closures_and_the_functions_a_step_calls():
    from course_utils import train as train_module

    namespace: dict = {"__name__": "lesson"}
    exec(
        "def loss(x):\n    return x * 2\n"
        "def make_step(k):\n    def step(x):\n        return loss(x) + k\n    return step\n",
        namespace,
    )
    before = train_module.code_fingerprint(namespace["make_step"](1))
    assert train_module.code_fingerprint(namespace["make_step"](1)) == before
    assert train_module.code_fingerprint(namespace["make_step"](2)) != before  # the value it closes over
    exec("def loss(x):\n    return x * 3\n", namespace)  # the student changes the loss the step calls
    assert train_module.code_fingerprint(namespace["make_step"](1)) != before


def test_a_changed_loss_trains_again_and_the_same_code_loads(tmp_path):
    """load_or_train keys a checkpoint by the code that trains it (a student's loss included), not only its config."""
    from course_utils import train as train_module

    namespace: dict = {"__name__": "lesson", "torch": torch, "nn": nn, "train_module": train_module, "folder": tmp_path}
    lesson = (
        "def loss(model, x):\n    return ((model(x) - x) ** 2).mean()\n"
        "def fit(model):\n"
        "    x = torch.ones(4, 2)\n"
        "    history = train_module.History()\n"
        "    loss(model, x).backward()\n"
        "    return history\n"
        "def trained(live_plot=False):\n"
        "    return train_module.load_or_train('thing', {'n': 2}, build=lambda: nn.Linear(2, 2),\n"
        "                                      train=lambda model: fit(model) if not live_plot else fit(model),\n"
        "                                      folder=folder)\n"
    )
    exec(lesson, namespace)
    namespace["trained"]()
    first = sorted(tmp_path.glob("thing-*.pt"))
    assert len(first) == 1
    exec(lesson, namespace)  # the same cells run again
    namespace["trained"](live_plot=True)  # and a display option is not a different model
    assert sorted(tmp_path.glob("thing-*.pt")) == first
    exec("def loss(model, x):\n    return (model(x) - x).abs().mean()\n", namespace)  # the student's loss changes
    namespace["trained"]()
    assert len(sorted(tmp_path.glob("thing-*.pt"))) == 2


def test_code_fingerprint_is_the_same_from_a_file_and_from_exec(tmp_path):
    """The dashboard executes a lesson's cells from their source: it must find the notebook's checkpoints."""
    from course_utils import train as train_module

    source = "KEYS = {'a', 'b', 'c'}\ndef loss(x):\n    # a comment\n    return x * 2 if 'a' in {'a', 'b'} else x\n"
    from_exec: dict = {"__name__": "lesson"}
    exec(compile(source, "<cell>", "exec"), from_exec)
    path = tmp_path / "lesson_module.py"
    path.write_text("\n\n" + source.replace("# a comment", "# another comment"))
    spec = importlib.util.spec_from_file_location("lesson_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert train_module.code_fingerprint(from_exec["loss"]) == train_module.code_fingerprint(module.loss)
    script = (
        "import sys; sys.path.insert(0, %r); import lesson_module; from course_utils.train import code_fingerprint; "
        "print(code_fingerprint(lesson_module.loss))" % str(tmp_path)
    )
    for hash_seed in ("1", "2"):  # sets of constants are hashed in a fixed order, whatever the hash seed
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout.strip()
        assert out == train_module.code_fingerprint(module.loss)


def _lesson_loss(x):
    return x * 2


def _nested_fit(model):
    def step(i):
        return _lesson_loss(i)

    return step


def test_code_fingerprint_follows_functions_named_inside_nested_steps(monkeypatch):
    """A lesson's fit builds its step inside: a changed loss called only from that step still retrains."""
    before = train.code_fingerprint(_nested_fit, values=False)
    monkeypatch.setitem(globals(), "_lesson_loss", lambda x: x * 3)
    assert train.code_fingerprint(_nested_fit, values=False) != before


def test_cached_only_loads_a_checkpoint_and_trains_nothing(tmp_path):
    from torch import nn

    from course_utils import train

    calls = []

    def fit(model):
        calls.append(1)
        return train.History()

    build = lambda: nn.Linear(2, 2)  # noqa: E731
    with train.cached_only(), pytest.raises(train.NotCached, match="no checkpoint of tiny"):
        train.load_or_train("tiny", {"seed": 0}, build, fit, folder=tmp_path)
    assert not calls and not list(tmp_path.iterdir())
    train.load_or_train("tiny", {"seed": 0}, build, fit, folder=tmp_path)  # outside the block: trains
    with train.cached_only():
        train.load_or_train("tiny", {"seed": 0}, build, fit, folder=tmp_path)
    assert len(calls) == 1
    (path,) = tmp_path.glob("tiny-*.pt")
    path.write_bytes(b"not a checkpoint")
    with train.cached_only(), pytest.raises(train.NotCached, match="could not be loaded"):
        train.load_or_train("tiny", {"seed": 0}, build, fit, folder=tmp_path)
    assert len(calls) == 1


def _pid_result(name, folder, fail_in_workers=False):
    """A cached computation that records which process computed it (and can refuse to run in a worker)."""
    parent = os.getpid()

    def call():
        def compute():
            if fail_in_workers and os.getpid() != parent:
                raise RuntimeError("this one fails in a worker")
            return {"pid": os.getpid(), "threads": torch.get_num_threads()}

        return train.cached(name, {"n": 1}, compute, folder=folder)

    return call


def test_in_workers_trains_the_missing_ones_side_by_side_and_loads_the_rest(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    calls = {key: _pid_result(key, tmp_path) for key in ("a", "b", "c")}
    calls["a"]()  # cached before
    results, trained = train.in_workers(calls, workers=2)
    assert list(results) == ["a", "b", "c"] and trained == {"b", "c"}
    assert results["a"]["pid"] == os.getpid()
    assert {results["b"]["pid"], results["c"]["pid"]}.isdisjoint({os.getpid()})
    assert results["b"]["pid"] != results["c"]["pid"]  # two at once
    assert results["b"]["threads"] == 1  # one thread each
    again, trained = train.in_workers(calls, workers=2)
    assert trained == set() and again == results


def test_in_workers_trains_a_failed_worker_here_so_its_error_is_seen(tmp_path):
    calls = {key: _pid_result(key, tmp_path, fail_in_workers=True) for key in ("a", "b")}
    results, trained = train.in_workers(calls, workers=2)
    assert trained == {"a", "b"} and all(r["pid"] == os.getpid() for r in results.values())

    def broken():
        return train.cached("broken", {}, lambda: 1 / 0, folder=tmp_path)

    with pytest.raises(ZeroDivisionError):
        train.in_workers({"x": broken, "y": _pid_result("y", tmp_path)}, workers=2)


@pytest.mark.parametrize("where", ["a GPU", "not Linux", "one worker"])
def test_in_workers_trains_here_where_forking_is_unsafe_or_useless(tmp_path, monkeypatch, where):
    if where == "a GPU":
        monkeypatch.setattr(train, "get_device", lambda: torch.device("cuda"))
    elif where == "not Linux":
        monkeypatch.setattr(train.sys, "platform", "darwin")
    calls = {key: _pid_result(key, tmp_path) for key in ("a", "b")}
    results, trained = train.in_workers(calls, workers=1 if where == "one worker" else 2)
    assert trained == {"a", "b"} and all(r["pid"] == os.getpid() for r in results.values())


def test_in_workers_starts_the_highest_priority_first_and_keeps_the_order_of_calls(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(train, "_train_in_workers", lambda calls, workers, desc: started.extend(calls))
    calls = {key: _pid_result(key, tmp_path) for key in ("short", "long", "medium", "long too")}
    steps = {"short": 1, "long": 3, "medium": 2, "long too": 3}
    results, trained = train.in_workers(calls, workers=2, priority=steps.get)
    assert started == [calls[key] for key in ("long", "long too", "medium", "short")]  # ties: calls' order
    assert list(results) == list(calls) and trained == set(calls)
    order = []
    fresh = {key: _pid_result(key, tmp_path / "fresh") for key in calls}
    logged = {key: (lambda key=key: order.append(key) or fresh[key]()) for key in calls}
    results, _ = train.in_workers(logged, workers=1, priority=steps.get)  # one worker: trained here
    assert order == list(calls) + ["long", "long too", "medium", "short"]  # looked up, then trained
    assert list(results) == list(calls)


_HANG_SCRIPT = """
from pathlib import Path

import torch
from course_utils import train
torch.set_num_threads(2)
a = torch.randn(600, 600)
(a @ a).sum().item()  # the parent's OpenMP pool now exists

def call(name):
    return lambda: train.cached(name, {}, lambda: float((a @ a).sum()), folder=Path(FOLDER))

results, trained = train.in_workers({"x": call("x"), "y": call("y")}, workers=2)
print(sorted(trained))
"""


def test_in_workers_does_not_hang_after_the_parent_computed_on_several_threads(tmp_path):
    """A forked worker that computed on the parent's thread count would wait for ever."""
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    script = f"FOLDER = {str(tmp_path)!r}\n" + _HANG_SCRIPT
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['x', 'y']"


def test_single_thread_is_one_cpu_thread_inside_and_restores_the_count(monkeypatch):
    before = torch.get_num_threads()
    with train.single_thread("cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    with train.single_thread("cuda"):  # a GPU's work does not run on the CPU's threads
        pass
    assert seen == []


def test_cached_only_computes_nothing(tmp_path):
    with train.cached_only(), pytest.raises(train.NotCached, match="nothing cached for thing"):
        train.cached("thing", {}, lambda: 1, folder=tmp_path)
    assert not list(tmp_path.iterdir())


def test_in_workers_trains_here_what_it_cannot_fork(tmp_path, monkeypatch):
    import multiprocessing.context

    def refuse(self):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.ForkProcess, "start", refuse)
    calls = {key: _pid_result(key, tmp_path) for key in ("a", "b")}
    results, trained = train.in_workers(calls, workers=2)
    assert trained == {"a", "b"} and all(r["pid"] == os.getpid() for r in results.values())
