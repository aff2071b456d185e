"""The caller's state is identical after check(): parameters, gradients, buffers,
optimizer state, RNG states, train/eval mode, requires_grad, hooks; also when a step
raises and when the model cannot be deep-copied (trained in place under a snapshot)."""

from __future__ import annotations

import random
import threading

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.training import arguments  # noqa: E402
from pytest_nnhealth.training.caller_state import ModelState, RngState  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402


class Net(nn.Module):
    def __init__(self, fail_at: int | None = None, lock: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2)
        )
        self.head = nn.Linear(16, 3)
        self.frozen = nn.Linear(6, 3)
        self.frozen.requires_grad_(False)
        self.calls = 0
        self.fail_at = fail_at
        if lock:
            self.lock = threading.Lock()  # deepcopy raises TypeError on a lock

    def forward(self, x):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise ValueError("boom in forward")
        return self.head(self.body(x)) + self.frozen(x)


def snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "grads": {
            k: None if v.grad is None else v.grad.clone()
            for k, v in model.named_parameters()
        },
        "buffers": {k: v.clone() for k, v in model.named_buffers()},
        "training": {k: m.training for k, m in model.named_modules()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "opt": _flat_state(optimizer),
        "groups": [
            {k: v for k, v in g.items() if k != "params"}
            for g in optimizer.param_groups
        ],
        "hooks": _hook_count(model),
        "torch_rng": torch.get_rng_state(),
        "np_rng": np.random.get_state()[1].copy(),
        "py_rng": random.getstate(),
        "calls": getattr(model, "calls", None),
    }


def _flat_state(optimizer: torch.optim.Optimizer) -> list:
    out = []
    for pid, state in sorted(optimizer.state_dict()["state"].items()):
        for key, value in sorted(state.items()):
            out.append((pid, key, value.clone() if torch.is_tensor(value) else value))
    return out


def _hook_count(model: nn.Module) -> int:
    from torch.nn.modules import module as module_mod

    per_module = sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )
    return per_module + len(module_mod._global_forward_hooks)


def assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key in ("params", "buffers"):
        for name, value in before[key].items():
            assert torch.equal(value, after[key][name]), f"{key} {name} changed"
    for name, grad in before["grads"].items():
        other = after["grads"][name]
        assert (grad is None) == (other is None), name
        if grad is not None:
            assert torch.equal(grad, other), f"grad {name} changed"
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert len(before["opt"]) == len(after["opt"])
    for (p1, k1, v1), (p2, k2, v2) in zip(before["opt"], after["opt"], strict=True):
        assert (p1, k1) == (p2, k2)
        assert torch.equal(v1, v2) if torch.is_tensor(v1) else v1 == v2
    assert before["groups"] == after["groups"]
    assert before["hooks"] == after["hooks"]
    assert torch.equal(before["torch_rng"], after["torch_rng"])
    assert (before["np_rng"] == after["np_rng"]).all()
    assert before["py_rng"] == after["py_rng"]
    assert before["calls"] == after["calls"]


def caller_setup(**kwargs) -> tuple[Net, torch.optim.Optimizer, tuple]:
    torch.manual_seed(3)
    model = Net(**kwargs)
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()  # the caller's optimizer has state
    F.cross_entropy(model(x), y).backward()  # and the caller's params have grads
    model.calls = 0
    model.body[1].eval()  # a mixed train/eval model
    np.random.seed(5)
    random.seed(5)
    return model, optimizer, (x, y)


def test_state_identical_after_check_with_caller_optimizer():
    model, optimizer, batch = caller_setup()
    before = snapshot(model, optimizer)
    report = check(model, batch, loss_fn=F.cross_entropy, optimizer=optimizer, steps=5)
    assert_same(before, snapshot(model, optimizer))
    assert report.meta["copy"] == "deepcopy"
    assert report.meta["optimizer"].startswith("Adam(lr=0.01")


def test_rebuilt_optimizer_continues_from_the_callers_state():
    model, optimizer, batch = caller_setup()
    from pytest_nnhealth.training.optimizers import rebuild

    memo: dict = {}
    import copy

    clone = copy.deepcopy(model, memo)
    rebuilt = rebuild(optimizer, memo)
    assert type(rebuilt) is torch.optim.Adam
    assert rebuilt.param_groups[0]["weight_decay"] == 1e-4
    assert rebuilt.param_groups[0]["params"][0] is clone.body[0].weight
    state = rebuilt.state[clone.body[0].weight]
    original = optimizer.state[model.body[0].weight]
    assert torch.equal(state["exp_avg"], original["exp_avg"])
    assert state["exp_avg"].data_ptr() != original["exp_avg"].data_ptr()


def test_state_identical_when_forward_raises_mid_step():
    model, optimizer, batch = caller_setup(fail_at=3)
    before = snapshot(model, optimizer)
    with pytest.raises(ValueError, match="boom in forward") as info:
        check(model, batch, loss_fn=F.cross_entropy, optimizer=optimizer, steps=5)
    assert any("at step 2" in note for note in info.value.__notes__)
    assert_same(before, snapshot(model, optimizer))


def test_model_that_cannot_be_deep_copied_is_restored():
    model, optimizer, batch = caller_setup(lock=True)
    before = snapshot(model, optimizer)
    report = check(model, batch, loss_fn=F.cross_entropy, optimizer=optimizer, steps=5)
    # Plain attributes (the forward-call counter) are restored too.
    assert_same(before, snapshot(model, optimizer))
    assert report.meta["copy"].startswith("in place")
    assert report.losses[-1] < report.losses[0]


def test_uncopyable_model_restored_when_forward_raises():
    model, optimizer, batch = caller_setup(fail_at=4, lock=True)
    before = snapshot(model, optimizer)
    with pytest.raises(ValueError, match="boom in forward"):
        check(model, batch, loss_fn=F.cross_entropy, steps=5)
    assert_same(before, snapshot(model, optimizer))


def test_uncopyable_model_on_another_device_is_a_clear_error(monkeypatch):
    # No second real device on a CPU machine: pretend the run's device is another one.
    monkeypatch.setattr(
        arguments, "run_device_for", lambda model, device: torch.device("meta")
    )
    model, _, batch = caller_setup(lock=True)
    with pytest.raises(ValueError, match="cannot be deep-copied"):
        check(model, batch, loss_fn=F.cross_entropy, steps=2)


def test_rng_state_round_trip():
    state = RngState.capture()
    torch.rand(3)
    random.random()
    np.random.rand()
    expected = (torch.rand(1), random.random(), np.random.rand())
    state.restore()
    torch.rand(3)
    random.random()
    np.random.rand()
    assert (torch.rand(1), random.random(), np.random.rand()) == expected


def test_model_state_restores_shapes_and_none_buffers():
    model = nn.BatchNorm1d(4)
    state = ModelState.capture(model)
    model.running_mean = torch.ones(7)
    model.weight.data.fill_(3.0)
    model.train(False)
    state.restore()
    assert model.running_mean.shape == (4,)
    assert torch.equal(model.weight, torch.ones(4))
    assert model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_restores_cuda_rng():
    model, _, batch = caller_setup()
    cuda_state = torch.cuda.get_rng_state_all()
    report = check(model, batch, loss_fn=F.cross_entropy, steps=3, device="cuda")
    assert report.meta["device"].startswith("cuda")
    assert all(
        torch.equal(a, b)
        for a, b in zip(cuda_state, torch.cuda.get_rng_state_all(), strict=True)
    )
    assert next(model.parameters()).device.type == "cpu"


def test_uncopyable_model_with_nan_is_replayed_in_place_and_restored():
    class NaNLater(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)
            self.lock = threading.Lock()
            self.register_buffer("calls", torch.zeros(()))

        def forward(self, x):
            self.calls += 1
            out = self.lin(x)
            return out / 0.0 if int(self.calls) == 3 else out

    torch.manual_seed(0)
    model = NaNLater()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = (torch.randn(8, 6), torch.randint(0, 3, (8,)))
    before = snapshot(model, optimizer)
    report = check(model, batch, loss_fn=F.cross_entropy, steps=5, graph=False)
    assert report.meta["copy"].startswith("in place")
    # The buffer counts calls, so the replay (restored to the snapshot) sees NaN at the
    # same step as the first run.
    assert [(f.module, f.step) for f in report.by_check("nonfinite")] == [("", 2)]
    assert_same(before, snapshot(model, optimizer))
