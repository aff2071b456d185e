"""Default ``check()`` on torchvision's detection, segmentation, video and optical-flow
models: the architectures people train for tasks other than classification, in no
earlier wave (``bench/unseen_archs.py``). Config-built, no weights (``weights=None``,
``weights_backbone=None``, so backbones use trainable BatchNorm).

Each task is trained the way its own reference scripts train it:

* detection (Faster R-CNN, Mask R-CNN, Keypoint R-CNN, RetinaNet, FCOS, SSDlite):
  ``model(images, targets)`` returns a dict of named loss terms, summed
  (``check(..., loss_fn=None)``); 2 images of 128 px with 1-2 boxes of 20-60 px
  each, resized by the model's own transform to 128 (``min_size``/``max_size``;
  SSDlite to its fixed 320);
* segmentation (DeepLabV3, LR-ASPP, FCN): cross-entropy on ``out`` plus 0.5 x on
  ``aux`` where the model has it; 4 images of 64 px, 3 classes;
* video: R(2+1)D-18 on 4 clips of 8 frames at 32 px, S3D on 2 clips of 16 frames at
  224 px (its smallest input), cross-entropy;
* optical flow (RAFT small): the sequence loss over the model's refinement iterations
  (later iterations weighted more, 0.8 decay), 2 frame pairs of 128 px (its smallest)
  in [-1, 1], the range its preset transform maps images to.

torchvision's compiled ops do not load here (bench/torchvision_shim.py): RoIAlign
falls back to its Python implementation by itself (run eagerly here, see ``main``);
NMS has none, so this bench installs a greedy one (``torchvision.ops.boxes.nms``) in
its own process. Bench only.

    .venv/bin/python bench/unseen_vision_tasks.py [--only NAME ...] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from bench import speed_models  # noqa: E402

Built = tuple[nn.Module, Any, Any]  # model, batch, loss_fn


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> torch.Tensor:
    """Indices kept by non-maximum suppression, highest score first."""
    from torchvision.ops.boxes import box_iou

    order = scores.argsort(descending=True)
    overlaps = box_iou(boxes[order], boxes[order])
    kept: list[int] = []
    remaining = torch.ones(len(order), dtype=torch.bool)
    while bool(remaining.any()):  # one pass per kept box, not per box
        best = int(remaining.nonzero()[0])
        kept.append(best)
        remaining &= overlaps[best] <= iou
        remaining[best] = False
    return order[torch.tensor(kept, dtype=torch.long)]


def install_nms() -> None:
    speed_models.define_torchvision_ops()
    import torchvision.ops.boxes as boxes

    boxes.nms = greedy_nms


def _detection_batch(seed: int, keypoints: bool = False, masks: bool = False) -> Any:
    gen = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for count in (1, 2):
        images.append(torch.rand(3, 128, 128, generator=gen))
        corner = torch.randint(0, 60, (count, 2), generator=gen).float()
        size = torch.randint(20, 60, (count, 2), generator=gen).float()
        target: dict[str, torch.Tensor] = {
            "boxes": torch.cat([corner, corner + size], dim=1),
            "labels": torch.randint(1, 3, (count,), generator=gen),
        }
        if masks:
            target["masks"] = _box_masks(target["boxes"])
        if keypoints:
            inside = corner[:, None] + size[:, None] * torch.rand(
                count, 3, 2, generator=gen
            )
            target["keypoints"] = torch.cat([inside, torch.ones(count, 3, 1)], dim=2)
        targets.append(target)
    return ((images, targets), None)


def _box_masks(boxes: torch.Tensor) -> torch.Tensor:
    masks = torch.zeros(len(boxes), 128, 128, dtype=torch.uint8)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.long().tolist(), strict=True):
        mask[y0:y1, x0:x1] = 1
    return masks


def _detector(name: str, **extra: Any) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        from torchvision.models import detection

        torch.manual_seed(seed)
        make = getattr(detection, name)
        model = make(
            weights=None, weights_backbone=None, num_classes=3,
            min_size=128, max_size=128, **extra,
        )  # fmt: skip
        kinds = {"keypoints": "keypoint" in name, "masks": "mask" in name}
        return model, _detection_batch(seed, **kinds), None

    return build


def _ssdlite(seed: int) -> Built:
    from torchvision.models import detection

    torch.manual_seed(seed)
    model = detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=3
    )
    return model, _detection_batch(seed), None


def _segmentation_loss(output: dict[str, torch.Tensor], target: torch.Tensor) -> Any:
    loss = F.cross_entropy(output["out"], target)
    if "aux" in output:
        loss = loss + 0.5 * F.cross_entropy(output["aux"], target)
    return loss


def _segmenter(name: str, **extra: Any) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        from torchvision.models import segmentation

        torch.manual_seed(seed)
        make = getattr(segmentation, name)
        model = make(weights=None, weights_backbone=None, num_classes=3, **extra)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(4, 3, 64, 64, generator=gen)
        target = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
        return model, (x, target), _segmentation_loss

    return build


def _video(
    name: str, clips: int = 4, frames: int = 8, size: int = 32
) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        from torchvision.models import video

        torch.manual_seed(seed)
        model = getattr(video, name)(weights=None, num_classes=5)
        gen = torch.Generator().manual_seed(seed)
        batch = torch.randn(clips, 3, frames, size, size, generator=gen)
        return (
            model,
            (batch, torch.randint(0, 5, (clips,), generator=gen)),
            nn.CrossEntropyLoss(),
        )

    return build


def _flow_loss(predictions: list[torch.Tensor], flow: torch.Tensor) -> torch.Tensor:
    """The sequence loss: L1 to the true flow, later refinements weighted more."""
    count = len(predictions)
    weights = [0.8 ** (count - i - 1) for i in range(count)]
    return sum(
        w * (p - flow).abs().mean() for w, p in zip(weights, predictions, strict=True)
    )


def _raft(seed: int) -> Built:
    from torchvision.models import optical_flow

    torch.manual_seed(seed)
    model = optical_flow.raft_small(weights=None)
    gen = torch.Generator().manual_seed(seed)
    # Its correlation pyramid needs feature maps of 16 at 1/8 scale: 128 px at least.
    # In [-1, 1], as its weights' preset transform (OpticalFlow) maps images.
    first = torch.rand(2, 3, 128, 128, generator=gen) * 2 - 1
    second = torch.roll(first, shifts=(2, 3), dims=(2, 3))  # a known translation
    flow = torch.zeros(2, 2, 128, 128)
    flow[:, 0], flow[:, 1] = 3.0, 2.0
    inputs = {"image1": first, "image2": second, "num_flow_updates": 4}
    return model, (inputs, flow), _flow_loss


CASES: dict[str, Callable[[int], Built]] = {
    "fasterrcnn_mobilenet_v3_large_fpn": _detector("fasterrcnn_mobilenet_v3_large_fpn"),
    "fasterrcnn_resnet50_fpn": _detector(
        "fasterrcnn_resnet50_fpn", trainable_backbone_layers=5
    ),
    "maskrcnn_resnet50_fpn": _detector(
        "maskrcnn_resnet50_fpn", trainable_backbone_layers=5
    ),
    "keypointrcnn_resnet50_fpn": _detector(
        "keypointrcnn_resnet50_fpn", trainable_backbone_layers=5, num_keypoints=3
    ),
    "retinanet_resnet50_fpn": _detector(
        "retinanet_resnet50_fpn", trainable_backbone_layers=5
    ),
    "fcos_resnet50_fpn": _detector("fcos_resnet50_fpn", trainable_backbone_layers=5),
    "ssdlite320_mobilenet_v3_large": _ssdlite,
    "deeplabv3_mobilenet_v3_large": _segmenter(
        "deeplabv3_mobilenet_v3_large", aux_loss=True
    ),
    "lraspp_mobilenet_v3_large": _segmenter("lraspp_mobilenet_v3_large"),
    "fcn_resnet50": _segmenter("fcn_resnet50", aux_loss=True),
    "r2plus1d_18": _video("r2plus1d_18"),
    # S3D ends in a fixed (2, 7, 7) average pool: 16 frames of 224 px at the least.
    "s3d": _video("s3d", clips=2, frames=16, size=224),
    "raft_small": _raft,
}


def run(name: str, seed: int) -> dict[str, Any]:
    from pytest_nnhealth import check

    model, batch, loss_fn = CASES[name](seed)
    started = time.process_time()
    try:
        report = check(model, batch, loss_fn=loss_fn, seed=seed)
    except Exception as error:  # noqa: BLE001 - a bench row
        why = str(error).splitlines()[0][:300]
        return {"name": name, "seed": seed, "verdict": "crash", "why": why}
    errors = [
        {"check": f.check, "module": f.module, "value": f.value, "step": f.step}
        for f in report.findings
        if f.severity == "error"
    ]
    return {
        "name": name, "seed": seed, "verdict": "error finding" if errors else "ok",
        "seconds": round(time.process_time() - started, 1), "errors": errors,
        "losses": [round(report.losses[0], 3), round(report.losses[-1], 3)],
        "graph": report.meta.get("graph"),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    install_nms()
    # torchvision's Python RoIAlign (used where its compiled op is missing) is
    # torch.compile'd lazily; with a new box count every step it recompiles up to
    # dynamo's limit (minutes per R-CNN check, and a C compiler). Users' torchvision
    # runs the compiled C++ op, never this: run it eagerly.
    torch.compiler.set_stance("force_eager")
    rows = []
    for name in args.only:
        for seed in args.seeds:
            row = run(name, seed)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
