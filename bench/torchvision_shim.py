"""Make the registry's CPU-less torchvision wheel importable next to torch 2.13 (CPU).

torchvision 0.28.0 is installed with ``--no-deps`` (its own torch pin would pull a CUDA
build). Its compiled ops library does not load against this torch, so on import
``torchvision._meta_registrations`` registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms``, which fails with "operator torchvision::nms does not exist".
Declaring the two schemas first (no kernel: nothing here runs detection ops) is enough
for ``import torchvision`` and for timm/transformers, which import it.

Test and bench set-up only, never imported by the package.

    python bench/torchvision_shim.py install   # writes a .pth file into site-packages
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

# The schemas as torchvision's C++ library declares them (boxes, scores, threshold).
SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
PTH_NAME = "nnhealth_torchvision_shim.pth"

_LIBRARY: list[object] = []  # keeps the Library alive: dropping it undefines the ops


def declare_ops() -> None:
    """Define the missing op schemas once per process (idempotent)."""
    if _LIBRARY:
        return
    import torch

    missing = [
        name
        for name in SCHEMAS
        if not torch._C._dispatch_has_kernel(f"torchvision::{name}")
        and not _has_schema(f"torchvision::{name}")
    ]
    if not missing:
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    for name in missing:
        library.define(SCHEMAS[name])
    _LIBRARY.append(library)


def _has_schema(qualname: str) -> bool:
    import torch

    try:
        torch._C._get_schema(qualname, "")
    except RuntimeError:
        return False
    return True


class _BeforeTorchvision:
    """A meta-path finder that declares the ops just before ``torchvision`` is first
    imported, then steps aside: processes that never import torchvision (pytest's
    no-torch-at-load check, the linter) do not pay torch's ~1.2 s import."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "torchvision":
            sys.meta_path.remove(self)
            declare_ops()
        return None


def hook() -> None:
    """Called from the ``.pth`` line at interpreter start."""
    if not any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvision())


def install(site_packages: Path | None = None) -> Path:
    """Write a ``.pth`` file that installs the lazy hook at interpreter start, so the
    shim also applies in subprocesses (pytest-xdist workers, bench runs)."""
    target = site_packages or Path(sysconfig.get_paths()["purelib"])
    shim_dir = Path(__file__).resolve().parent
    line = (
        f"import sys; sys.path.insert(0, {str(shim_dir)!r}); "
        f"import torchvision_shim; sys.path.remove({str(shim_dir)!r}); "
        "torchvision_shim.hook()\n"
    )
    path = target / PTH_NAME
    path.write_text(line, encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if argv[:1] != ["install"]:
        print("usage: python bench/torchvision_shim.py install", file=sys.stderr)
        return 2
    print(f"wrote {install()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
