"""check() with a loss, step function or optimizer that refers to the caller's model.

Each pattern must train the copy consistently (same losses as the recommended
`step_fn(model, batch)` form, healthy verdict on a healthy model), leave the caller's
parameters, gradients, buffers and optimizer state byte-identical, or fail with a
message naming the argument and the part of the model.
"""

from __future__ import annotations

import copy
import functools

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from pytest_nnhealth.training.health_check import check  # noqa: E402
from pytest_nnhealth.training.rewire import RewireError, rewire  # noqa: E402

STEPS = 8
CRIT = nn.CrossEntropyLoss()


class Net(nn.Module):
    """Body in forward, head applied by the loss (the Annotated Transformer's
    `SimpleLossCompute(model.generator, criterion)` shape)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU())
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.body(x)


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 10, generator=g), torch.randint(0, 3, (64,), generator=g)


def caller_state(model: nn.Module, optimizer=None) -> dict:
    state = {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "grads": {
            k: None if v.grad is None else v.grad.clone()
            for k, v in model.named_parameters()
        },
        "buffers": {k: v.clone() for k, v in model.named_buffers()},
    }
    if optimizer is not None:
        state["opt"] = {
            (i, k): v.clone() if torch.is_tensor(v) else v
            for i, s in enumerate(optimizer.state.values())
            for k, v in s.items()
        }
    return state


def assert_identical(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for part in before:
        assert before[part].keys() == after[part].keys(), part
        for key, value in before[part].items():
            now = after[part][key]
            if value is None:
                assert now is None, (part, key)
            elif torch.is_tensor(value):
                assert torch.equal(value, now), (part, key)
            else:
                assert value == now, (part, key)


def reference_losses() -> list[float]:
    """The recommended form: a step_fn that uses the model it receives."""

    def step(model, batch):
        return CRIT(model.head(model(batch[0])), batch[1])

    return check(Net(), data(), step_fn=step, steps=STEPS, graph=False).losses


def run(model: nn.Module, **kwargs):
    before = caller_state(model)
    report = check(model, data(), steps=STEPS, graph=False, **kwargs)
    assert_identical(before, caller_state(model))
    for p in model.parameters():
        assert p.grad is None
    return report


def test_loss_closure_over_a_submodule_trains_the_copys_head():
    model = Net()
    report = run(model, loss_fn=lambda out, y: CRIT(model.head(out), y))
    assert report.healthy, report.findings
    assert report.findings == []  # no params_without_grad / unregistered_params
    assert report.losses == reference_losses()


def test_loss_closure_over_the_submodule_itself():
    model = Net()
    head = model.head
    report = run(model, loss_fn=lambda out, y: CRIT(head(out), y))
    assert report.findings == []
    assert report.losses == reference_losses()


def test_step_fn_closure_over_the_callers_model():
    model = Net()
    report = run(model, step_fn=lambda m, b: CRIT(model.head(m(b[0])), b[1]))
    assert report.findings == []
    assert report.losses == reference_losses()


def test_optimizer_factory_over_the_original_parameters():
    model = Net()
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    report = run(
        model,
        loss_fn=lambda out, y: CRIT(model.head(out), y),
        optimizer=lambda params: adam(model.parameters()),
    )
    assert report.findings == []
    assert report.losses == reference_losses()


class LossCompute:
    """A loss helper object holding the model (Lightning / LightGlue style)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.calls: list[int] = []

    def loss(self, out, y):
        self.calls.append(1)
        return CRIT(self.model.head(out), y)


def test_bound_method_of_an_object_holding_the_model():
    model = Net()
    helper = LossCompute(model)
    report = run(model, loss_fn=helper.loss)
    assert report.findings == []
    assert report.losses == reference_losses()
    assert helper.model is model  # the caller's object is not rewired, a copy is


class HeadLoss(nn.Module):
    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, out, y):
        return CRIT(self.head(out), y)


def test_loss_module_holding_the_models_head():
    model = Net()
    report = run(model, loss_fn=HeadLoss(model.head))
    assert report.findings == []
    assert report.losses == reference_losses()


GLOBAL_MODEL = Net()
WRITES: list[int] = []
COUNTER = 0


def global_loss(out, y):
    return CRIT(GLOBAL_MODEL.head(out), y)


def global_loss_that_writes(out, y):
    global COUNTER
    COUNTER += 1
    return CRIT(GLOBAL_MODEL.head(out), y)


def test_loss_reaching_the_model_through_a_module_global():
    before = caller_state(GLOBAL_MODEL)
    report = check(GLOBAL_MODEL, data(), loss_fn=global_loss, steps=STEPS, graph=False)
    assert_identical(before, caller_state(GLOBAL_MODEL))
    assert report.findings == []
    assert report.losses == reference_losses()
    assert globals()["GLOBAL_MODEL"] is GLOBAL_MODEL  # the module is not changed


def test_loss_through_a_global_that_also_assigns_globals_is_refused():
    before = caller_state(GLOBAL_MODEL)
    with pytest.raises(RewireError) as info:
        check(GLOBAL_MODEL, data(), loss_fn=global_loss_that_writes, steps=2)
    assert str(info.value) == (
        "check(): `loss_fn` refers to the model through the module-level global "
        "`GLOBAL_MODEL` and assigns module-level globals (`COUNTER`) in "
        "`global_loss_that_writes`, so it cannot run on a private copy of its "
        "module's globals; pass step_fn(model, batch) that takes the model as an "
        "argument"
    )
    assert COUNTER == 0
    assert_identical(before, caller_state(GLOBAL_MODEL))


class Uncopyable:
    def __init__(self, head: nn.Module) -> None:
        self.head = head

    def __deepcopy__(self, memo):
        raise TypeError("no copies of this one")

    def __call__(self, out, y):
        return CRIT(self.head(out), y)


def test_loss_that_cannot_be_copied_names_argument_and_submodule():
    model = Net()
    with pytest.raises(RewireError) as info:
        run(model, loss_fn=Uncopyable(model.head))
    assert str(info.value) == (
        "check(): `loss_fn` refers to the model's `head` and cannot be copied "
        "(TypeError: no copies of this one); pass step_fn(model, batch) that takes "
        "the model as an argument"
    )


def test_optimizer_factory_on_other_parameters_is_an_error():
    model, other = Net(), Net()
    with pytest.raises(
        ValueError, match=r"the `optimizer` factory did not use the `params`"
    ):
        run(
            model,
            loss_fn=lambda out, y: CRIT(model.head(out), y),
            optimizer=lambda params: torch.optim.SGD(other.parameters(), lr=0.1),
        )


class SelfCopying:
    """Hides the model from the copy: its __deepcopy__ returns the same object."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __deepcopy__(self, memo):
        return self

    def __call__(self, out, y):
        return CRIT(self.model.head(out), y)


def test_guard_restores_and_reports_what_the_copy_could_not_follow():
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data()
    CRIT(model.head(model(x)), y).backward()
    optimizer.step()  # the caller's optimizer has state, the parameters have grads
    before = caller_state(model, optimizer)
    with pytest.raises(ValueError, match="ran the caller's") as info:
        check(model, (x, y), loss_fn=SelfCopying(model), optimizer=optimizer, steps=3)
    assert_identical(before, caller_state(model, optimizer))
    message = str(info.value)
    assert message.startswith(
        "check(): `loss_fn` ran the caller's `head` instead of the copy check() "
        "trains, which changed `head.weight` (gradient changed), `head.bias` "
        "(gradient changed); they were restored"
    )
    assert "no verdict is given" in message


def test_guard_adds_a_note_when_the_run_raises():
    model = Net()

    class Failing(SelfCopying):
        def __call__(self, out, y):
            loss = super().__call__(out, y)
            loss.backward(retain_graph=True)  # reaches the caller's head
            raise RuntimeError("loss failed")

    with pytest.raises(RuntimeError, match="loss failed") as info:
        check(model, data(), loss_fn=Failing(model), steps=2, graph=False)
    assert any("`loss_fn` ran the caller's `head`" in n for n in info.value.__notes__)
    for p in model.parameters():
        assert p.grad is None


def test_rewire_points_closures_at_the_copy_and_shares_the_rest():
    model, metrics = Net(), []
    weights = torch.ones(3)

    def loss(out, y):
        metrics.append(1)
        return F_cross(model.head(out), y, weights)

    head_loss = HeadLoss(model.head)
    memo: dict = {}
    clone = copy.deepcopy(model, memo)
    wired = rewire({"loss_fn": loss, "step_fn": None, "other": head_loss}, model, memo)
    cells = dict(
        zip(loss.__code__.co_freevars, wired["loss_fn"].__closure__, strict=True)
    )
    assert cells["model"].cell_contents is clone
    assert cells["metrics"].cell_contents is metrics  # does not lead to the model
    assert cells["weights"].cell_contents is weights
    assert wired["step_fn"] is None
    assert wired["other"].head is clone.head
    # A copied module owns its bookkeeping even where it held nothing shared.
    assert wired["other"]._parameters is not head_loss._parameters


def F_cross(logits, y, weights):
    return torch.nn.functional.cross_entropy(logits, y, weight=weights)


class Proxy:
    """An object whose attribute access raises something other than AttributeError."""

    def __getattribute__(self, name):
        raise RuntimeError("proxy: no attributes")

    def __call__(self, out, y):
        return CRIT(out, y)


def test_objects_that_refuse_attribute_access_are_leaves():
    model = Net()
    proxy = Proxy()
    memo: dict = {}
    copy.deepcopy(model, memo)
    assert rewire({"loss_fn": proxy}, model, memo)["loss_fn"] is proxy


class SparseBuffered(nn.Module):
    """A sparse buffer beside dense layers (Whisper keeps its ``alignment_heads`` as
    a sparse boolean mask)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
        heads = torch.zeros(2, 4, dtype=torch.bool)
        heads[1, 2:] = True
        self.register_buffer("heads", heads.to_sparse(), persistent=False)

    def forward(self, x):
        return self.net(x)


def test_a_sparse_buffer_is_compared_and_left_as_it_was():
    model = SparseBuffered()
    before = model.heads.clone()
    report = check(model, data(), loss_fn=CRIT, steps=STEPS, graph=False)
    assert report.healthy, report.findings
    assert model.heads.is_sparse
    assert torch.equal(model.heads.to_dense(), before.to_dense())


def test_the_guard_restores_a_sparse_buffer_changed_in_place():
    from pytest_nnhealth.training.caller_guard import CallerGuard

    model = SparseBuffered()
    before = model.heads.clone()
    guard = CallerGuard.capture(model, None)
    assert guard.restore() == []  # unchanged: compared without raising
    model.heads.copy_(torch.ones(2, 4, dtype=torch.bool).to_sparse())
    assert guard.restore() == ["`heads` (changed)"]
    assert torch.equal(model.heads.to_dense(), before.to_dense())


class LambdaBlock(nn.Module):
    """Keeps its MLP as a lambda over its own submodules (minGPT's ``self.mlpf``)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.mlp = nn.ModuleDict(
            {
                "fc": nn.Linear(10, 32),
                "norm": nn.BatchNorm1d(32),
                "out": nn.Linear(32, 3),
            }
        )
        m = self.mlp
        self.mlpf = lambda x: m["out"](torch.relu(m["norm"](m["fc"](x))))

    def forward(self, x):
        return self.mlpf(x)


class MethodBlock(LambdaBlock):
    def forward(self, x):
        m = self.mlp
        return m["out"](torch.relu(m["norm"](m["fc"](x))))


def test_a_closure_kept_as_an_attribute_runs_the_copys_modules():
    model = LambdaBlock()
    report = run(model, loss_fn=CRIT)  # the caller's state is compared inside
    assert report.healthy, report.findings
    # The same training as the model written with a method.
    assert report.losses == run(MethodBlock(), loss_fn=CRIT).losses
    assert model.mlp["norm"].num_batches_tracked.item() == 0


def test_the_graph_step_runs_the_closures_on_its_own_copy():
    model = LambdaBlock()
    before = copy.deepcopy(model.state_dict())
    report = check(model, data(), loss_fn=CRIT, steps=2)
    assert report.meta["graph"].startswith("ran")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
