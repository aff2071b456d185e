"""check() under hostile input: every case works, or fails with a message naming the
argument and why; the caller's tensors and model attributes are never changed.

Table-driven: each case builds its arguments, runs ``check()``, and either checks the
report and the caller's objects afterwards, or matches the error type and text. Every
case failed (raw library error, or a changed caller object) before the fix.
"""

from __future__ import annotations

import collections
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pytest_nnhealth.training.health_check import check  # noqa: E402

STEPS = 6


def mlp(dtype: Any = None) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
    return model.to(dtype) if dtype is not None else model


def data(n: int = 64, dtype: Any = None):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 10, generator=g, dtype=dtype)
    return x, torch.randint(0, 3, (n,), generator=g)


@dataclass
class Case:
    name: str
    arrange: Callable[[], tuple[tuple[Any, ...], dict[str, Any], Any]]
    # Either an (exception type, regex) pair, or a check of (report, context).
    raises: tuple[type[BaseException], str] | None = None
    verify: Callable[[Any, Any], None] | None = None


def simple(model=None, batch=None, **kwargs):
    kwargs.setdefault("loss_fn", F.cross_entropy)
    return (model if model is not None else mlp(), batch or data()), kwargs, None


# --- inputs -------------------------------------------------------------------------


def input_requiring_grad():
    x, y = data()
    x.requires_grad_(True)
    return (mlp(), (x, y)), {"loss_fn": F.cross_entropy}, (x, x.detach().clone())


def verify_input_untouched(report, ctx):
    x, original = ctx
    assert x.grad is None
    assert x.requires_grad
    assert torch.equal(x.detach(), original)
    assert report.findings == []


class InPlaceInput(nn.Module):
    """Edits its input in place (a common normalisation shortcut)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        x.mul_(0.5)
        return self.net(x)


def input_edited_in_place():
    x, y = data()
    return (InPlaceInput(), (x, y)), {"loss_fn": F.cross_entropy}, (x, x.clone())


def verify_input_bytes(report, ctx):
    x, original = ctx
    assert torch.equal(x, original)


class DictInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, features):
        return self.net(features)


def defaultdict_inputs():
    x, y = data()
    inputs = collections.defaultdict(list, features=x)
    return (DictInput(), (inputs, y)), {"loss_fn": F.cross_entropy}, None


def verify_healthy(report, ctx):
    assert report.findings == []
    assert report.losses[-1] < report.losses[0]


def meta_inputs():
    x, y = data()
    return (mlp(), (x.to("meta"), y)), {"loss_fn": F.cross_entropy}, None


def meta_model():
    return simple(model=mlp().to("meta"))


# --- optimizers -----------------------------------------------------------------------


def lbfgs_factory():
    return simple(optimizer=lambda params: torch.optim.LBFGS(params, max_iter=4))


def lbfgs_instance():
    model = mlp()
    return simple(model=model, optimizer=torch.optim.LBFGS(model.parameters()))


def optimizer_with_a_scheduler():
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    # The scheduler wraps optimizer.step on the instance, through a weak reference to
    # this optimizer: a copied wrapper would step the caller's optimizer instead.
    torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)
    return simple(model=model, optimizer=optimizer)


def verify_learns(report, ctx):
    assert report.losses[-1] < report.losses[0]


class ScaledSGD(torch.optim.SGD):
    """A subclass whose constructor needs an argument that is not in ``defaults``."""

    def __init__(self, params, scale: float) -> None:
        super().__init__(params, lr=0.01 * scale)


def optimizer_needing_constructor_arguments():
    model = mlp()
    return simple(model=model, optimizer=ScaledSGD(model.parameters(), scale=5.0))


def verify_scaled_lr(report, ctx):
    assert report.meta["optimizer"] == "ScaledSGD(lr=0.05)"


def optimizer_neither_copyable_nor_constructible():
    model = mlp()
    optimizer = ScaledSGD(model.parameters(), scale=5.0)
    optimizer.lock = threading.Lock()  # type: ignore[attr-defined]
    return simple(model=model, optimizer=optimizer)


def optimizer_on_another_model():
    other = mlp()
    return simple(optimizer=torch.optim.SGD(other.parameters(), lr=0.1))


# --- devices, dtypes, loss ------------------------------------------------------------


def float64_model():
    return simple(model=mlp(torch.float64), batch=data(dtype=torch.float64))


def loss_class_not_instance():
    return simple(loss_fn=nn.CrossEntropyLoss)


def cuda_on_cpu_build():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    return simple(device="cuda")


def meta_device():
    return simple(device="meta")


def tiny_batch(n: int, seed: int) -> Callable[[], Any]:
    """A healthy two-hidden-layer ReLU MLP on ``n`` samples; seeds where the dead-unit
    rule fired before the minimum-sample guard."""

    def arrange():
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
        )
        return simple(model=model, batch=data(n))

    return arrange


def verify_no_dead_units(report, ctx):
    assert report.by_check("dead_units") == []


# --- the in-place path (a model that cannot be deep-copied) ---------------------------


class Uncopyable(nn.Module):
    def __init__(self, extra: Any = None) -> None:
        super().__init__()
        self.net = mlp()
        self.lock = threading.Lock()  # deepcopy raises TypeError on a lock
        self.calls = 0
        self.seen: list[int] = []
        self.noise = torch.Generator().manual_seed(3)
        self.extra = extra

    def forward(self, x):
        self.calls += 1
        self.seen.append(self.calls)
        self.last_shape = tuple(x.shape)  # a new attribute, created during the run
        jitter = torch.randn(x.shape, generator=self.noise) * 1e-3
        if self.extra is not None:
            next(self.extra)
        return self.net(x + jitter)


def in_place_plain_attributes():
    model = Uncopyable()
    args, kwargs, _ = simple(model=model)
    return args, kwargs, (model, model.seen, model.noise.get_state())


def verify_attributes_restored(report, ctx):
    model, seen, noise_state = ctx
    assert report.meta["copy"].startswith("in place")
    assert model.calls == 0
    assert model.seen is seen
    assert seen == []
    assert not hasattr(model, "last_shape")
    assert torch.equal(model.noise.get_state(), noise_state)


def in_place_python_generator():
    return simple(model=Uncopyable(extra=itertools.count()))


class UncopyableFailing(Uncopyable):
    def forward(self, x):
        raise ValueError("boom")


def in_place_note():
    return simple(model=UncopyableFailing())


CASES = [
    Case("input requiring grad gets no .grad", input_requiring_grad,
         verify=verify_input_untouched),
    Case("input edited in place by the model", input_edited_in_place,
         verify=verify_input_bytes),
    Case("defaultdict inputs work like dict", defaultdict_inputs,
         verify=verify_healthy),
    Case("meta-device inputs", meta_inputs,
         raises=(ValueError, r"^check\(\): batch\[0\] is a tensor on the meta device")),
    Case("meta-device model", meta_model,
         raises=(ValueError, r"^check\(\): the model's `0.weight` \(and 3 more\) is on "
                 r"the meta device and holds no data")),
    Case("device='meta'", meta_device,
         raises=(ValueError, r"^check\(\): device='meta' cannot train")),
    Case("device='cuda' on a CPU build", cuda_on_cpu_build,
         raises=(ValueError, r"^check\(\): device='cuda' is not usable in this torch "
                 r"build or on this machine")),
    Case("LBFGS factory gets a closure", lbfgs_factory, verify=verify_learns),
    Case("LBFGS instance gets a closure", lbfgs_instance, verify=verify_learns),
    Case("optimizer with an LR scheduler attached", optimizer_with_a_scheduler,
         verify=verify_learns),
    Case("optimizer class needing constructor arguments",
         optimizer_needing_constructor_arguments, verify=verify_scaled_lr),
    Case("optimizer neither copyable nor constructible",
         optimizer_neither_copyable_nor_constructible,
         raises=(ValueError, r"^check\(\): cannot rebuild the `optimizer` "
                 r"\(ScaledSGD\) .*pass a factory instead")),
    Case("optimizer built on another model", optimizer_on_another_model,
         raises=(ValueError, r"^check\(\): `optimizer` \(SGD\) was built on another "
                 r"model's parameters: none of its 4 parameter\(s\) belongs")),
    Case("float64 model", float64_model, verify=verify_healthy),
    Case("loss_fn is a class", loss_class_not_instance,
         raises=(TypeError, r"^check\(\): loss_fn is the class CrossEntropyLoss, not a "
                 r"loss; pass an instance, e.g. loss_fn=CrossEntropyLoss\(\)$")),
    Case("batch of 1 sample: no dead_units", tiny_batch(1, seed=0),
         verify=verify_no_dead_units),
    Case("batch of 2 samples: no dead_units", tiny_batch(2, seed=4),
         verify=verify_no_dead_units),
    Case("in place: plain attributes and generators restored",
         in_place_plain_attributes, verify=verify_attributes_restored),
    Case("in place: a Python iterator is refused", in_place_python_generator,
         raises=(ValueError, r"holds an iterator at `extra` \(count\) that training "
                 r"would advance")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_check_input(case: Case) -> None:
    (model, batch), kwargs, ctx = case.arrange()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    kwargs.setdefault("steps", STEPS)
    kwargs.setdefault("graph", False)
    if case.raises is not None:
        kind, pattern = case.raises
        with pytest.raises(kind) as info:
            check(model, batch, **kwargs)
        assert re.search(pattern, str(info.value)), str(info.value)
    else:
        report = check(model, batch, **kwargs)
        assert case.verify is not None
        case.verify(report, ctx)
    after = model.state_dict()
    if not any(t.is_meta for t in before.values()):
        assert all(torch.equal(before[k], after[k]) for k in before)


def test_in_place_error_note_does_not_claim_a_copy():
    with pytest.raises(ValueError, match="boom") as info:
        check(UncopyableFailing(), data(), loss_fn=F.cross_entropy, steps=2)
    note = info.value.__notes__[-1]
    assert "run in place on your model, which cannot be deep-copied" in note
    assert "run on a copy" not in note
