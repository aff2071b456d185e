"""A wider corpus of published PyTorch code, linted and reviewed finding by finding.

    python bench/corpus.py fetch  --root DIR   # download pinned releases, unpack .py
    python bench/corpus.py lint   --root DIR   # every rule -> DIR/findings.json
    python bench/corpus.py review --root DIR [--table]
    python bench/corpus.py fetch  --root DIR --set unseen   # the second set

``fetch`` runs ``pip download --no-deps`` for each pinned release below (a wheel when
one exists, else the sdist; never a dependency), keeps only the ``.py`` files under
``DIR/<project>/`` and prints files and lines per project. Nothing is installed or
imported. Keep ``DIR`` outside the repository: the corpus is never committed.

``review`` compares the error and warning findings with the committed verdicts in
``bench/corpus_review.tsv`` and lists only findings that have none yet. A verdict is
keyed on path, code and a hash of the finding's source line with whitespace removed,
not on the line number, so an unrelated edit elsewhere in a file keeps its verdicts.
``--table`` prints, per rule, findings / true / defensible / false / precision
(true + defensible over findings) in the Markdown of ``docs/false-alarms.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REVIEW_TSV = Path(__file__).with_name("corpus_review.tsv")
VERDICTS = ("true", "defensible", "false")


@dataclass(frozen=True)
class Project:
    dist: str  # the PyPI distribution name
    version: str
    field: str


# Pinned so a rerun lints the same code; no timm, torchvision or transformers
# (those are the known corpus, fetched by /work/shared/corpus/fetch.sh).
PROJECTS = (
    Project("diffusers", "0.42.1", "diffusion"),
    Project("speechbrain", "1.1.2", "speech/audio"),
    Project("espnet", "202611", "speech/audio"),
    Project("asteroid", "0.7.0", "speech/audio"),
    Project("pyannote-audio", "4.0.7", "speech/audio"),
    Project("torch-geometric", "2.8.1", "graph networks"),
    Project("ultralytics", "8.4.190", "detection/segmentation"),
    Project("segmentation-models-pytorch", "0.6.0", "detection/segmentation"),
    Project("mmdet", "3.3.0", "detection/segmentation"),
    Project("peft", "0.21.2", "language models"),
    Project("x-transformers", "2.31.10", "language models"),
    Project("litgpt", "0.5.13", "language models"),
    Project("torchgeo", "0.10.1", "geospatial"),
    Project("monai", "1.6.1", "medical imaging"),
    Project("kornia", "0.9.0", "vision (differentiable CV)"),
    Project("open-clip-torch", "3.3.0", "vision-language"),
    Project("vit-pytorch", "1.26.11", "vision"),
)

# A second set no one on the team had linted before it was reviewed (trust review,
# 2026-12-06): ``--set unseen``, kept apart so the wide corpus's figures stay as
# published.
UNSEEN = (
    Project("torchaudio", "2.11.0", "speech/audio"),
    Project("torchtune", "0.6.1", "language models"),
    Project("mmpretrain", "1.2.0", "vision"),
    Project("segment-anything", "1.0", "detection/segmentation"),
    Project("audiocraft", "1.3.0", "audio generation"),
    Project("demucs", "4.1.0", "speech/audio"),
    Project("lightly", "1.6.0", "self-supervised vision"),
    Project("neuralforecast", "3.3.0", "time series"),
    Project("pytorchvideo", "0.1.5", "video"),
    Project("mmsegmentation", "1.2.2", "detection/segmentation"),
    Project("mmagic", "1.2.0", "diffusion/generative"),
    Project("salesforce-lavis", "1.0.2", "vision-language"),
    Project("fair-esm", "2.0.0", "protein language models"),
    Project("pytorch-forecasting", "1.8.0", "time series"),
)
# A third set from fields the other two miss (scientific ML, probabilistic models,
# reinforcement learning, recommenders, spiking networks, NLP libraries, training
# frameworks), reviewed on 2026-12-06: ``--set fresh``.
FRESH = (
    Project("e3nn", "0.6.0", "scientific ML / molecules"),
    Project("mace-torch", "0.3.16", "scientific ML / molecules"),
    Project("schnetpack", "2.2.0", "scientific ML / molecules"),
    Project("torchani", "2.9.0", "scientific ML / molecules"),
    Project("pyro-ppl", "1.9.2", "probabilistic / flows"),
    Project("gpytorch", "1.15.2", "probabilistic / flows"),
    Project("zuko", "1.6.0", "probabilistic / flows"),
    Project("sbi", "0.27.0", "probabilistic / flows"),
    Project("stable-baselines3", "2.9.2", "reinforcement learning"),
    Project("tianshou", "2.0.1", "reinforcement learning"),
    Project("pytorch-tabnet", "4.1.0", "recommender / tabular"),
    Project("pykeen", "1.11.1", "recommender / tabular"),
    Project("recbole", "1.2.1", "recommender / tabular"),
    Project("snntorch", "1.0.0", "spiking / neuro"),
    Project("spikingjelly", "2.0.0", "spiking / neuro"),
    Project("braindecode", "1.8.1", "spiking / neuro"),
    Project("openai-whisper", "20250625", "speech/audio"),
    Project("sentence-transformers", "6.2.0", "NLP libraries"),
    Project("flair", "0.15.1", "NLP libraries"),
    Project("denoising-diffusion-pytorch", "2.3.4", "diffusion/generative"),
    Project("fastai", "2.8.12", "training frameworks"),
    Project("mosaicml", "0.32.1", "training frameworks"),
)
# A fourth set, linted for the first time on 2026-12-06 (night) to see whether the
# precision measured on the first three holds on code the rules were never adjusted
# to: medicine and biology, atomistic models, speech synthesis and codecs, diffusion,
# detection and pose, forecasting, tabular, reinforcement learning, 3-D, Bayesian
# optimisation, NLP. ``--set fourth``.
FOURTH = (
    Project("nnunetv2", "2.8.1", "medical imaging"),
    Project("cellpose", "4.2.1.1", "medical / bio imaging"),
    Project("scvi-tools", "1.5.1", "biology / probabilistic"),
    Project("torchdrug", "0.2.1", "biology / graph networks"),
    Project("nequip", "0.19.1", "scientific ML / molecules"),
    Project("pytorch-metric-learning", "2.9.0", "metric learning"),
    Project("coqui-tts", "0.28.0", "speech synthesis"),
    Project("encodec", "0.1.1", "audio codec"),
    Project("audiolm-pytorch", "2.4.0", "audio generation"),
    Project("k-diffusion", "0.1.1.post1", "diffusion/generative"),
    Project("imagen-pytorch", "2.1.0", "diffusion/generative"),
    Project("effdet", "0.4.1", "detection/segmentation"),
    Project("mmpose", "1.3.2", "pose estimation"),
    Project("gluonts", "0.17.0", "time series"),
    Project("chronos-forecasting", "2.3.2", "time series"),
    Project("pytorch-tabular", "1.2.0", "recommender / tabular"),
    Project("torchrl", "0.14.1", "reinforcement learning"),
    Project("nerfstudio", "1.1.5", "3-D vision"),
    Project("botorch", "0.18.1", "probabilistic / Bayesian optimisation"),
    Project("allennlp", "2.10.1", "NLP libraries"),
    Project("perceiver-pytorch", "0.11.0", "vision / language"),
)
# A fifth set, linted for the first time on 2026-12-07 (session 25), again from code
# no rule was adjusted to: sequence-to-sequence toolkits, speech recognition, audio
# codecs, molecules and operators for PDEs, graph time series, tabular and time
# series, reinforcement learning, detection, OCR and video, vector quantisation and
# diffusion priors, linear-attention language models, neural ODEs, self-supervised
# vision. ``--set fifth``.
FIFTH = (
    Project("fairseq", "0.12.2", "sequence-to-sequence / speech"),
    Project("funasr", "1.4.16", "speech recognition"),
    Project("vocos", "0.1.0", "audio codec / vocoder"),
    Project("descript-audio-codec", "1.0.0", "audio codec"),
    Project("chemprop", "2.3.1", "scientific ML / molecules"),
    Project("torchmd-net", "3.1.0", "scientific ML / molecules"),
    Project("neuraloperator", "2.0.0", "scientific ML / PDE operators"),
    Project("deepxde", "1.15.0", "scientific ML / physics-informed"),
    Project("torch-geometric-temporal", "0.56.2", "graph networks / time series"),
    Project("dgl", "2.1.0", "graph networks"),
    Project("pytorch-widedeep", "1.7.0", "recommender / tabular"),
    Project("tsai", "1.0.1", "time series"),
    Project("pypots", "1.5", "time series"),
    Project("sample-factory", "2.1.1", "reinforcement learning"),
    Project("pfrl", "0.4.0", "reinforcement learning"),
    Project("super-gradients", "3.7.1", "detection/segmentation"),
    Project("yolov5", "7.0.14", "detection/segmentation"),
    Project("mmocr", "1.0.1", "OCR"),
    Project("mmaction2", "1.2.0", "video"),
    Project("vector-quantize-pytorch", "1.32.0", "generative / quantisation"),
    Project("dalle2-pytorch", "1.15.6", "diffusion/generative"),
    Project("flash-linear-attention", "0.6.0", "language models"),
    Project("rwkv", "0.8.32", "language models"),
    Project("torchdyn", "1.0.6", "neural ODEs"),
    Project("lightning-bolts", "0.7.0", "self-supervised vision"),
)
# A sixth set, linted for the first time on 2026-12-07 (session 25) right after the
# fifth set's fixes, to see whether they were the last of their kind: translation and
# NLP pipelines, zoos of vision models, promptable segmentation, pitch and audio
# front ends, source separation, chemistry, offline reinforcement learning, GANs and
# audio diffusion, efficient-attention transformers, equivariant networks,
# forecasting, tabular deep learning and CTR models, medical image tools. ``--set
# sixth``.
SIXTH = (
    Project("opennmt-py", "3.5.1", "translation / NLP"),
    Project("stanza", "1.15.0", "NLP pipelines"),
    Project("pytorchcv", "0.0.74", "vision model zoo"),
    Project("efficientnet-pytorch", "0.7.1", "vision"),
    Project("pretrainedmodels", "0.7.4", "vision model zoo"),
    Project("sam2", "1.1.0", "promptable segmentation"),
    Project("openai-clip", "1.0.1", "vision-language"),
    Project("torchcrepe", "0.0.24", "audio / pitch"),
    Project("nnaudio", "0.3.4", "audio front ends"),
    Project("openunmix", "1.3.0", "source separation"),
    Project("dgllife", "0.3.2", "chemistry / graph networks"),
    Project("deepchem", "2.8.0", "chemistry"),
    Project("d3rlpy", "2.8.1", "offline reinforcement learning"),
    Project("stylegan2-pytorch", "1.9.0", "GANs"),
    Project("lightweight-gan", "1.2.1", "GANs"),
    Project("audio-diffusion-pytorch", "0.1.3", "audio diffusion"),
    Project("performer-pytorch", "1.1.4", "efficient attention"),
    Project("reformer-pytorch", "1.4.4", "efficient attention"),
    Project("se3-transformer-pytorch", "0.9.0", "equivariant networks"),
    Project("egnn-pytorch", "0.2.8", "equivariant networks"),
    Project("conformer", "0.3.2", "speech"),
    Project("axial-attention", "0.6.1", "efficient attention"),
    Project("darts", "0.41.0", "time series"),
    Project("neuralprophet", "0.9.0", "time series"),
    Project("rtdl", "0.0.13", "tabular"),
    Project("deepctr-torch", "0.3.0", "recommender / CTR"),
    Project("torchio", "1.2.1", "medical imaging"),
)
# A seventh set, linted for the first time on 2026-12-07 (session 26) after the sixth
# set's fixes: audio tagging and audio-language models, audio diffusion, graph
# toolkits, reinforcement learning, detection (2-D, 3-D) and OCR, super-resolution and
# faces, time-series foundation models, recommenders, NER and state-space language
# models, medical imaging, Gaussian splatting and point clouds, atomistic and physics
# models, genomics and protein structure, masked generative transformers.
# ``--set seventh``.
SEVENTH = (
    Project("torchlibrosa", "0.1.0", "audio front ends"),
    Project("laion-clap", "1.1.7", "audio-language"),
    Project("stable-audio-tools", "0.0.20", "audio diffusion"),
    Project("cogdl", "0.6", "graph networks"),
    Project("skrl", "2.1.1", "reinforcement learning"),
    Project("rl-games", "1.6.5", "reinforcement learning"),
    Project("rfdetr", "1.11.2", "detection/segmentation"),
    Project("mmdet3d", "1.4.0", "3-D detection"),
    Project("pytorch-toolbelt", "0.8.0", "detection/segmentation"),
    Project("python-doctr", "1.1.0", "OCR"),
    Project("basicsr", "1.4.2", "super-resolution"),
    Project("facenet-pytorch", "2.6.0", "faces"),
    Project("uni2ts", "2.0.0", "time series"),
    Project("momentfm", "0.1.4", "time series"),
    Project("torchrec", "1.9.2", "recommender"),
    Project("transformers4rec", "23.12.0", "recommender"),
    Project("gliner", "0.2.29", "NLP"),
    Project("mamba-ssm", "2.3.2.post1", "language models / state space"),
    Project("torchxrayvision", "1.5.7", "medical imaging"),
    Project("dynamic-network-architectures", "0.4.4", "medical imaging"),
    Project("gsplat", "1.5.3", "3-D / Gaussian splatting"),
    Project("torch-points3d", "1.3.0", "3-D / point clouds"),
    Project("fairchem-core", "2.24.0", "scientific ML / molecules"),
    Project("orb-models", "0.7.0", "scientific ML / molecules"),
    Project("nvidia-physicsnemo", "2.2.2", "scientific ML / physics"),
    Project("enformer-pytorch", "0.8.12", "genomics"),
    Project("alphafold3-pytorch", "0.8.3", "protein structure"),
    Project("muse-maskgit-pytorch", "0.3.5", "generative"),
)
SETS = {
    "wide": PROJECTS,
    "unseen": UNSEEN,
    "fresh": FRESH,
    "fourth": FOURTH,
    "fifth": FIFTH,
    "sixth": SIXTH,
    "seventh": SEVENTH,
}


def _pip_download(project: Project, into: Path) -> Path:
    """The one archive published for ``project``: its wheel, else its sdist."""
    spec = f"{project.dist}=={project.version}"
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
    # The corpus is read, never installed: a release needing a newer Python is fine.
    command += ["--ignore-requires-python", "-d", str(into), "--only-binary", ":all:"]
    done = subprocess.run([*command, spec], capture_output=True, text=True)
    archives = [p for p in into.iterdir() if p.is_file()]
    if done.returncode == 0 and archives:
        return archives[0]
    return _sdist_download(project, into)


def _sdist_download(project: Project, into: Path) -> Path:
    """The release's sdist, taken from the index's JSON simple page. Not through
    ``pip download``: pip prepares an sdist's metadata, which builds its build
    requirements (numpy, Cython, ...) from source, minutes of compiling for files
    that are only read here."""
    page = urllib.request.Request(
        f"https://pypi.org/simple/{project.dist}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(page, timeout=60) as response:  # noqa: S310
        files = json.load(response)["files"]
    sdists = [f for f in files if _is_sdist_of(f["filename"], project)]
    if not sdists:
        raise SystemExit(f"{project.dist}=={project.version}: no wheel and no sdist")
    target = into / sdists[0]["filename"]
    with urllib.request.urlopen(sdists[0]["url"], timeout=300) as response:  # noqa: S310
        target.write_bytes(response.read())
    return target


def _is_sdist_of(filename: str, project: Project) -> bool:
    for suffix in (".tar.gz", ".zip"):
        stem = filename.removesuffix(suffix)
        if stem != filename:
            dist, _, version = stem.rpartition("-")
            return version == project.version and _normal(dist) == _normal(project.dist)
    return False


def _normal(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _unpack_py(archive: Path, dest: Path) -> None:
    """Copy the ``.py`` members of a wheel or sdist under ``dest``."""
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                if name.endswith(".py") and ".." not in name:
                    target = dest / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zipped.read(name))
        return
    with tarfile.open(archive) as tarred:
        members = [
            m for m in tarred.getmembers() if m.isfile() and m.name.endswith(".py")
        ]
        tarred.extractall(dest, members=members, filter="data")


def _lines(tree: Path) -> tuple[int, int]:
    files = list(tree.rglob("*.py"))
    return len(files), sum(p.read_bytes().count(b"\n") for p in files)


def fetch(root: Path, projects: tuple[Project, ...] = PROJECTS) -> int:
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for project in projects:
        dest = root / project.dist
        if not dest.is_dir():
            with tempfile.TemporaryDirectory() as tmp:
                archive = _pip_download(project, Path(tmp))
                partial = root / f".{project.dist}.partial"
                partial.mkdir(parents=True, exist_ok=True)  # a release without .py
                _unpack_py(archive, partial)
                partial.rename(dest)
        files, lines = _lines(dest)
        total += lines
        print(
            f"{project.dist}=={project.version} ({project.field}): "
            f"{files} files, {lines} lines",
            flush=True,
        )
    print(f"total: {total} lines in {len(projects)} projects")
    return 0


def lint(root: Path, projects: tuple[Project, ...] = PROJECTS) -> int:
    """Every rule, default settings, on each project; findings to root/findings.json."""
    command = [sys.executable, "-m", "nnlint", "check", "--exit-zero", "--no-cache"]
    command += ["--output-format", "json"]
    present = [p.dist for p in projects if (root / p.dist).is_dir()]
    done = subprocess.run(
        [*command, *present], cwd=root, capture_output=True, text=True
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 2
    findings = json.loads(done.stdout)
    (root / "findings.json").write_text(json.dumps(findings, indent=1))
    counts = Counter(f["code"] for f in findings)
    print(f"{len(findings)} findings in {len(present)} projects: {dict(counts)}")
    return 0


def line_key(root: Path, finding: dict[str, object]) -> str:
    """Hash of the finding's source line with all whitespace removed."""
    path = root / str(finding["path"])
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    number = int(str(finding["line"]))
    text = lines[number - 1] if 0 < number <= len(lines) else ""
    return hashlib.sha1("".join(text.split()).encode()).hexdigest()[:12]


def load_review(tsv: Path | None = None) -> dict[tuple[str, str, str], list[str]]:
    """(path, code, line hash) -> [line, verdict, reason], from the committed TSV."""
    tsv = tsv or REVIEW_TSV
    review: dict[tuple[str, str, str], list[str]] = {}
    if not tsv.exists():
        return review
    for row in tsv.read_text(encoding="utf-8").splitlines()[1:]:
        path, line, code, key, verdict, reason = row.split("\t")
        if verdict not in VERDICTS:
            raise SystemExit(f"{tsv}: bad verdict {verdict!r} in {row!r}")
        review[(path, code, key)] = [line, verdict, reason]
    return review


Key = tuple[str, str, str]


def judged(root: Path) -> list[tuple[Key, dict[str, object]]]:
    """The error and warning findings of the last ``lint``, with their review keys."""
    findings = json.loads((root / "findings.json").read_text())
    return [
        ((str(f["path"]), str(f["code"]), line_key(root, f)), f)
        for f in findings
        if f["severity"] in ("error", "warning")
    ]


def review(root: Path, table: bool) -> int:
    verdicts = load_review()
    found = judged(root)
    new = [(key, f) for key, f in found if key not in verdicts]
    for (path, code, digest), finding in new:
        line, message = finding["line"], finding["message"]
        print(f"{path}\t{line}\t{code}\t{digest}\t?\t{message}")
    stale = verdicts.keys() - {key for key, _ in found}
    print(
        f"{len(found)} error/warning findings, {len(new)} without a verdict, "
        f"{len(stale)} verdicts no longer found",
        file=sys.stderr,
    )
    if table:
        reviewed = [(key[1], verdicts[key][1]) for key, _ in found if key in verdicts]
        print(precision_table(reviewed))
    return 1 if new else 0


def precision_table(reviewed: list[tuple[str, str]]) -> str:
    """Markdown table of (code, verdict) pairs: counts and precision per rule."""
    per_rule: dict[str, Counter[str]] = {}
    for code, verdict in reviewed:
        per_rule.setdefault(code, Counter())[verdict] += 1
    rows = ["| rule | findings | true | defensible | false | precision |"]
    rows.append("|---|---|---|---|---|---|")
    total: Counter[str] = Counter()
    for code in sorted(per_rule):
        total.update(per_rule[code])
        rows.append(_row(code, per_rule[code]))
    rows.append(_row("**all**", total))
    return "\n".join(rows)


def _row(label: str, counts: Counter[str]) -> str:
    n = sum(counts.values())
    good = counts["true"] + counts["defensible"]
    share = f"{100 * good / n:.1f}%" if n else "-"
    return (
        f"| {label} | {n} | {counts['true']} | {counts['defensible']} "
        f"| {counts['false']} | {share} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("fetch", "lint", "review"))
    parser.add_argument("--root", type=Path, default=Path("/work/corpus-wide"))
    parser.add_argument("--set", choices=tuple(SETS), default="wide")
    parser.add_argument("--table", action="store_true")
    options = parser.parse_args(argv)
    root = options.root.resolve()
    if options.command == "fetch":
        return fetch(root, SETS[options.set])
    if options.command == "lint":
        return lint(root, SETS[options.set])
    return review(root, options.table)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
