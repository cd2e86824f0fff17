"""The engine's fast path (core.training.accel): choice rules, the device sampler, the buffer-fed step,
read-back in blocks, the large-batch learning-rate rule; on CUDA, graph replay against eager."""

import math

import pytest
import torch

from core.training.accel import ACCEL_CHOICES, GraphedStep, resolve_accel
from core.training.engine import TrainConfig, TrainingError, effective_lr, train
from core.methods import METHODS, Batch, Context, get_method
from core.models import build_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA, CPU = torch.device("cuda"), torch.device("cpu")


# ---------------------------------------------------------------------------- choosing the path

def test_auto_is_graph_on_cuda_for_graph_safe_methods_and_off_elsewhere():
    safe = [n for n, c in METHODS.items() if c.graph_safe]
    assert {"dann", "mmd", "source_only", "oracle", "finetune", "distill"} <= set(safe)
    assert {"adda", "self_training"}.isdisjoint(safe)  # data-dependent branches / several optimisers
    for name, cls in METHODS.items():
        assert resolve_accel("auto", CPU, cls) == "off"
        assert resolve_accel("auto", CUDA, cls) == ("graph" if cls.graph_safe else "off")


def test_bad_accel_choices_say_what_is_valid():
    with pytest.raises(ValueError, match="auto, off, graph, compile"):
        resolve_accel("turbo", CPU, get_method("dann"))
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_accel("graph", CPU, get_method("dann"))
    with pytest.raises(ValueError, match="cannot be captured"):
        resolve_accel("graph", CUDA, get_method("adda"))
    assert resolve_accel("compile", CPU, get_method("dann")) == "compile"
    assert set(ACCEL_CHOICES) == {"auto", "off", "graph", "compile"}


def test_large_batch_learning_rate_rule():
    assert effective_lr(TrainConfig(lr=1e-3, batch_size=1024)) == pytest.approx(1e-3)
    assert effective_lr(TrainConfig(lr=1e-3, batch_size=1024, lr_rule="sqrt")) == pytest.approx(4e-3)
    assert effective_lr(TrainConfig(lr=0.01, batch_size=256, lr_rule="linear")) == pytest.approx(0.04)
    assert effective_lr(TrainConfig(lr=1e-3, batch_size=64, lr_rule="sqrt")) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="none, sqrt, linear"):
        effective_lr(TrainConfig(lr_rule="cubic"))


def test_learning_rate_warm_up_ramps_linearly_then_holds():
    method = _dann(CPU)  # ctx.steps = 20
    method.warmup, method.lr_anneal = 0.25, False  # a ramp over the first 5 of 20 steps
    factors = [method.lr_factor(k / 20) for k in range(8)]
    assert factors == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0, 1.0])
    for k in range(8):  # a tensor progress (the captured step) gives the same values
        assert float(method.lr_factor(torch.tensor(k / 20))) == pytest.approx(factors[k])
    method.lr_anneal = True  # both: the ramp times the DANN annealing
    assert method.lr_factor(0.1) == pytest.approx(0.6 * 2 ** -0.75)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    opt.param_groups[0]["initial_lr"] = 0.5
    method.lr_anneal = False
    method.anneal(opt, 0.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup is a fraction"):
        get_method("dann")(build_model({"arch": "digits_cnn", "num_classes": 10}), method.ctx, warmup=1.5)


def test_warm_up_reaches_the_optimiser_in_a_training_run(monkeypatch):
    seen = []
    from core.methods import optimizers  # the engine's Adam: torch.optim's update (core/methods/optimizers.py)

    real = optimizers.Adam.step

    def step(self, *a, **k):
        seen.append(float(self.param_groups[0]["lr"]))
        return real(self, *a, **k)

    monkeypatch.setattr(optimizers.Adam, "step", step)
    result = train(_cfg(method="source_only", steps=8, warmup=0.5, eval_every=0, batch_size=8))
    assert seen == pytest.approx([1e-3 * k / 4 for k in (1, 2, 3, 4)] + [1e-3] * 4)
    assert result.card["hyperparameters"]["warmup"] == 0.5


# ---------------------------------------------------------------------------- buffer-fed step

def _dann(device, seed=0, capturable=False, amp=None):
    torch.manual_seed(seed)
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).to(device)
    ctx = Context(device=device, source_classes=list("0123456789"), target_classes=list("0123456789"),
                  steps=20, seed=seed, generator=torch.Generator(device=device).manual_seed(seed),
                  amp_dtype=amp, fused_optimizer=device.type == "cuda", capturable=capturable)
    return get_method("dann")(model, ctx, lr=1e-3, lr_anneal=True)


def _data(device, n=40):
    g = torch.Generator().manual_seed(1)
    xs = torch.randint(0, 256, (n, 3, 28, 28), dtype=torch.uint8, generator=g)
    xt = torch.randint(0, 256, (n, 3, 28, 28), dtype=torch.uint8, generator=g)
    ys = torch.randint(0, 10, (n,), generator=g)
    return (xs.to(device), ys.to(device)), (xt.to(device), ys.flip(0).to(device))


def _replay_eagerly(method, source, target, indices, steps):
    """The plain loop over the same index sequence: what the buffer-fed step must equal."""
    out = []
    for k, (i_s, i_t) in enumerate(indices):
        batch = Batch(source[0][i_s].float() / 255, source[1][i_s], target[0][i_t].float() / 255, None)
        out.append({n: float(v) for n, v in method.train_step(batch, k / steps).items()})
    return out


def _run_buffered(step, steps):
    seen, losses = [], []
    for k in range(steps):
        out = step(k / steps)
        seen.append((step.idx_s.clone(), step.idx_t.clone()))
        losses.append({n: float(v) for n, v in out.items()})
    return seen, losses


def test_buffer_fed_step_trains_exactly_like_the_eager_loop_on_the_same_batches():
    source, target = _data(CPU)
    fast, plain = _dann(CPU), _dann(CPU)
    step = GraphedStep(fast, source, target, batch_size=8, with_target_labels=False,
                       generator=torch.Generator().manual_seed(3), capture=False)
    seen, losses = _run_buffered(step, 6)
    expected = _replay_eagerly(plain, source, target, seen, 6)
    assert step.names == ["loss", "cls", "domain", "lambda"]
    for a, b in zip(losses, expected):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    for p, q in zip(fast.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert losses[0]["lambda"] == 0.0 and losses[-1]["lambda"] > 0.9  # λ followed the tensor progress


def test_progress_as_a_tensor_drives_lambda_and_annealing_like_a_number():
    from core.models import dann_lambda

    for p in (0.0, 0.13, 0.5, 0.99):
        assert float(dann_lambda(torch.tensor(p))) == pytest.approx(dann_lambda(p), abs=1e-6)
    assert float(dann_lambda(torch.tensor(3.0))) == pytest.approx(dann_lambda(1.0))  # clamped like a number
    method = _dann(CPU)
    as_number = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    as_tensor = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=torch.tensor(0.1))
    for opt in (as_number, as_tensor):
        opt.param_groups[0]["initial_lr"] = 0.1
    lr_tensor = as_tensor.param_groups[0]["lr"]
    method.anneal(as_number, 0.37)
    method.anneal(as_tensor, torch.tensor(0.37))
    assert as_tensor.param_groups[0]["lr"] is lr_tensor  # updated in place: a captured step sees it
    assert float(lr_tensor) == pytest.approx(as_number.param_groups[0]["lr"]) == pytest.approx(0.1 / 4.7 ** 0.75)


# ---------------------------------------------------------------------------- read-back in blocks

def _cfg(**kw):
    base = dict(method="dann", source="mnist", target="mnistm", steps=12, batch_size=16, eval_every=5,
                device="cpu", seed=0, precision="fp32")
    return TrainConfig(**{**base, **kw})


def test_reading_losses_back_in_blocks_changes_nothing_but_when_the_host_waits():
    every, blocks = train(_cfg(sync_every=1)), train(_cfg(sync_every=7))
    assert [h["step"] for h in blocks.history] == list(range(1, 13))
    for a, b in zip(every.history, blocks.history):
        assert a.keys() == b.keys()
        assert a == pytest.approx(b, rel=1e-6)
    assert "target_acc" in blocks.history[4] and "target_acc" in blocks.history[9]
    assert blocks.target_acc == pytest.approx(every.target_acc)


def test_progress_is_reported_for_every_step_in_order_when_read_back_in_blocks():
    seen = []
    train(_cfg(sync_every=5, steps=11), progress=lambda p: seen.append((p.step, "target_acc" in p.metrics)))
    assert [s for s, _ in seen] == list(range(1, 12))
    assert seen[4] == (5, True) and seen[9] == (10, True) and not seen[3][1]


def test_a_diverged_loss_in_a_block_names_the_step_it_happened_at(monkeypatch):
    from core.methods.base import Method

    real = Method.train_step
    calls = {"n": 0}

    def train_step(self, batch, progress):
        calls["n"] += 1
        out = real(self, batch, progress)
        return {**out, "loss": torch.tensor(math.inf)} if calls["n"] == 4 else out

    monkeypatch.setattr(Method, "train_step", train_step)
    with pytest.raises(TrainingError, match="at step 4"):
        train(_cfg(method="source_only", sync_every=10, eval_every=0))


def test_the_card_records_the_path_and_the_learning_rate_used():
    result = train(_cfg(steps=2, batch_size=32, lr_rule="sqrt", eval_every=0))
    hp = result.card["hyperparameters"]
    assert hp["accel_used"] == "off" and hp["lr_rule"] == "sqrt"
    assert hp["effective_lr"] == pytest.approx(1e-3 * math.sqrt(0.5))


# ---------------------------------------------------------------------------- CUDA (device machine)

@cuda
def test_cuda_graph_replay_equals_the_eager_step_on_the_same_batches():
    source, target = _data(CUDA, n=64)
    graphed, plain = _dann(CUDA, capturable=True), _dann(CUDA)
    step = GraphedStep(graphed, source, target, batch_size=16, with_target_labels=False,
                       generator=torch.Generator(device=CUDA).manual_seed(3), capture=True, eager_steps=2)
    seen, losses = _run_buffered(step, 10)
    assert step.graph is not None  # steps 4-10 were replays
    expected = _replay_eagerly(plain, source, target, seen, 10)
    for a, b in zip(losses, expected):
        assert a == pytest.approx(b, rel=1e-3, abs=1e-4)
    for p, q in zip(graphed.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)


@cuda
@pytest.mark.parametrize("method", ["dann", "mmd", "source_only", "finetune", "oracle"])
def test_graph_path_learns_as_well_as_the_eager_path(method):
    base = dict(method=method, source="mnist", target="mnistm", steps=300, batch_size=64, eval_every=0,
                device="cuda", seed=0)
    plain = train(TrainConfig(**base, accel="off", precision="fp32"))
    fast = train(TrainConfig(**base, accel="graph"))
    assert fast.card["hyperparameters"]["accel_used"] == "graph"
    assert fast.target_acc > 20 and abs(fast.target_acc - plain.target_acc) < 8


@cuda
def test_compiled_graph_path_trains():
    r = train(TrainConfig(method="dann", steps=60, batch_size=256, lr_rule="sqrt", eval_every=0,
                          device="cuda", accel="compile"))
    assert r.card["hyperparameters"]["accel_used"] == "compile" and r.target_acc > 15


@cuda
def test_a_step_that_cannot_be_captured_falls_back_to_eager_and_says_why(monkeypatch):
    from core.methods.source_only import SourceOnly

    def loss_reading_the_host(self, batch, progress):
        ce = self.cross_entropy(self.model(batch.xs), batch.ys)
        if float(ce) < 0:  # a host read: not allowed while a CUDA graph is being captured
            raise AssertionError
        return {"loss": ce, "cls": ce}

    monkeypatch.setattr(SourceOnly, "loss", loss_reading_the_host)
    r = train(TrainConfig(method="source_only", steps=80, eval_every=0, device="cuda", accel="graph"))
    used = r.card["hyperparameters"]["accel_used"]
    assert used.startswith("off (graph capture failed: ") and r.steps_done == 80
    assert r.target_acc > 15 and all(math.isfinite(h["loss"]) for h in r.history)
