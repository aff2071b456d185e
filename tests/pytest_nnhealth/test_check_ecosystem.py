"""check() on ecosystem-native inputs: models returning their own loss, keyword batches
(transformers), and LightningModules with their own training_step and optimizers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnhealth import check  # noqa: E402
from pytest_nnhealth.training.lightning_adapter import configured_optimizer  # noqa: E402


@dataclass
class Output:
    logits: torch.Tensor
    loss: torch.Tensor | None = None


class SelfLossNet(nn.Module):
    """Computes its own loss from ``labels``, like a transformers model; returns a dict
    or an object with a ``loss`` attribute."""

    def __init__(self, as_dict: bool) -> None:
        super().__init__()
        self.as_dict = as_dict
        self.embed = nn.Embedding(20, 16)
        self.head = nn.Linear(16, 3)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> Any:
        h = self.embed(input_ids)
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        logits = self.head(h.mean(1))
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return (
            {"loss": loss, "logits": logits} if self.as_dict else Output(logits, loss)
        )


def keyword_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 20, (32, 6), generator=generator)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones(32, 6),
        "labels": ids[:, 0] % 3,
    }


@pytest.mark.parametrize("as_dict", [True, False])
def test_loss_comes_from_the_output_of_a_keyword_batch(as_dict: bool) -> None:
    report = check(SelfLossNet(as_dict), keyword_batch(), steps=12)
    assert report.losses[-1] < report.losses[0]
    # The graph analysis traced forward with the keyword inputs, labels included.
    assert report.meta["graph"] == "ran: 0 finding(s)"


def test_loss_fn_none_without_a_loss_in_the_output_is_a_clear_error() -> None:
    batch = {k: v for k, v in keyword_batch().items() if k != "labels"}
    with pytest.raises(TypeError, match="loss_fn=None takes the loss from the model"):
        check(SelfLossNet(True), batch, steps=2, graph=False)


class LossTermsNet(nn.Module):
    """Returns its loss in named terms and leaves the sum to the caller, as
    torchvision's detection models do in training mode."""

    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__()
        self.extra = extra
        self.body = nn.Linear(6, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
        logits = self.head(torch.relu(self.body(x)))
        terms = {
            "loss_classifier": F.cross_entropy(logits, labels),
            "loss_size": logits.pow(2).mean(),
        }
        return {**terms, **self.extra}


def terms_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 6, generator=generator)
    return {"x": x, "labels": (x[:, 0] > 0).long()}


def test_loss_fn_none_sums_a_dict_of_named_loss_terms() -> None:
    # The accuracy beside the terms is not a loss: only keys starting with "loss".
    model, batch = LossTermsNet({"accuracy": torch.tensor(0.5)}), terms_batch()
    with torch.no_grad():
        terms = model(**batch)
    expected = terms["loss_classifier"] + terms["loss_size"]
    report = check(model, batch, steps=8)
    assert report.losses[0] == pytest.approx(float(expected), rel=1e-5)
    assert report.losses[-1] < report.losses[0]


def test_loss_fn_none_sums_a_dict_made_only_of_scalar_terms() -> None:
    """RetinaNet/FCOS/SSD in torchvision name their terms without a "loss" prefix."""

    class TermsOnly(LossTermsNet):
        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
            terms = super().forward(x, labels)
            return {
                "classification": terms["loss_classifier"],
                "size": terms["loss_size"],
            }

    model, batch = TermsOnly({}), terms_batch()
    with torch.no_grad():
        expected = sum(model(**batch).values())
    report = check(model, batch, steps=8)
    assert report.losses[0] == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    "extra",
    [
        {"loss_per_level": [torch.tensor(1.0), torch.tensor(2.0)]},  # not a scalar
        {"loss_map": torch.ones(3)},  # a tensor, not a scalar
    ],
)
def test_loss_terms_not_all_scalar_tensors_are_a_clear_error(
    extra: dict[str, Any],
) -> None:
    with pytest.raises(TypeError, match=r"keys: loss_classifier, loss_size, loss_"):
        check(LossTermsNet(extra), terms_batch(), steps=2, graph=False)


def test_an_auxiliary_loss_alone_is_not_taken_for_the_loss() -> None:
    class AuxOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(6, 3)

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
            logits = self.head(x)
            return {"logits": logits, "aux_loss": logits.pow(2).mean()}

    with pytest.raises(TypeError, match="loss_fn=None takes the loss from the model"):
        check(AuxOnly(), terms_batch(), steps=2, graph=False)


def test_keyword_batch_with_a_loss_fn_gets_the_batch_as_target() -> None:
    def loss_fn(output: dict[str, Any], batch: dict[str, torch.Tensor]) -> Any:
        return F.cross_entropy(output["logits"], batch["labels"])

    batch = keyword_batch()
    report = check(SelfLossNet(True), batch, loss_fn=loss_fn, steps=3, graph=False)
    assert report.losses[0] == pytest.approx(1.1, abs=0.3)


def test_tiny_bert_from_config_trains_on_its_own_loss() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, num_labels=3,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    batch = keyword_batch()
    batch["token_type_ids"] = torch.zeros(32, 6, dtype=torch.long)
    report = check(model, batch, steps=6)
    assert report.steps == 6
    assert report.meta["graph"].startswith("ran: ")  # traced with keyword inputs


lightning = pytest.importorskip("lightning")


class LitClassifier(lightning.LightningModule):
    def __init__(self, form: str = "optimizer") -> None:
        super().__init__()
        self.form = form
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        self.example_input_array = torch.zeros(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)  # outside a Trainer, Lightning would warn
        self.log_dict({"batch_idx": float(batch_idx)})
        return {"loss": loss} if self.form == "dict-step" else loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.2, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 5)
        return {
            "optimizer": optimizer,
            "list": [optimizer],
            "pair": ([optimizer], [scheduler]),
            "dict": {"optimizer": optimizer, "lr_scheduler": scheduler},
            "dicts": [
                {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}
            ],
            "dict-step": optimizer,
        }[self.form]


def loader() -> Any:
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=32)


@pytest.mark.parametrize(
    ("form", "note"),
    [
        ("optimizer", ""),
        ("list", ""),
        ("pair", "; its lr scheduler is not stepped (lr as at step 0)"),
        ("dict", "; its lr scheduler is not stepped (lr as at step 0)"),
        ("dicts", "; its lr scheduler is not stepped (lr as at step 0)"),
        ("dict-step", ""),
    ],
)
def test_lightning_module_trains_with_its_own_step_and_optimizer(
    form: str, note: str
) -> None:
    module = LitClassifier(form)
    before = [p.detach().clone() for p in module.parameters()]
    report = check(module, loader(), steps=12)
    assert report.meta["lightning"] == "training_step and configure_optimizers" + note
    assert report.meta["optimizer"].startswith("SGD(lr=0.2")
    assert report.losses[8] < report.losses[4] < report.losses[0]  # same batch
    assert report.meta["graph"] == "ran: 0 finding(s)"  # from example_input_array
    assert "log" not in module.__dict__  # only the working copy was patched
    after = list(module.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_optimizer_with_a_scheduler_attached_trains_the_copy() -> None:
    """An LR scheduler wraps ``optimizer.step`` on the instance; the rebuilt optimizer
    must step the copy's parameters, not call the caller's wrapped step."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    torch.optim.lr_scheduler.StepLR(optimizer, 5)
    before = [p.detach().clone() for p in model.parameters()]
    batch = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    report = check(
        model, batch, loss_fn=F.cross_entropy, optimizer=optimizer, steps=4,
        graph=False,
    )  # fmt: skip
    assert report.losses[3] < report.losses[0]
    after = list(model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_lightning_datamodule_supplies_the_batches() -> None:
    class Data(lightning.LightningDataModule):
        def setup(self, stage: str) -> None:
            self.stage = stage

        def train_dataloader(self) -> Any:
            return loader()

    data = Data()
    report = check(LitClassifier(), data, steps=4)
    assert data.stage == "fit"
    assert report.meta["lightning"].endswith("from the datamodule's train_dataloader()")


def test_lightning_misuse_gives_clear_errors() -> None:
    module = LitClassifier()
    with pytest.raises(TypeError, match="drop loss_fn="):
        check(module, loader(), loss_fn=F.cross_entropy)
    module.automatic_optimization = False
    with pytest.raises(TypeError, match="manual optimisation"):
        check(module, loader())

    class NoOptimizer(LitClassifier):
        def configure_optimizers(self) -> Any:
            return None

    with pytest.raises(TypeError, match="returned no optimizer"):
        configured_optimizer(NoOptimizer())


def test_both_lightning_packages_are_recognised_without_importing_them() -> None:
    from pytest_nnhealth.training.lightning_adapter import (
        is_datamodule,
        is_lightning_module,
    )

    pytorch_lightning = pytest.importorskip("pytorch_lightning")

    class Legacy(pytorch_lightning.LightningModule):
        pass

    assert is_lightning_module(LitClassifier())
    assert is_lightning_module(Legacy())
    assert not is_lightning_module(nn.Linear(2, 2))
    assert is_datamodule(pytorch_lightning.LightningDataModule())
    assert not is_datamodule(loader())
