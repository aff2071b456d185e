"""Bounds for the graph analysis inside ``check()``: no user hooks, a time and a memory
budget.

Tracing runs the model's ``forward`` on proxies or fake tensors. A user's forward hook
runs too, and what it does to its argument is unbounded: a Grad-CAM hook that stores
every output and registers a tensor hook on it made one trace run for over ten minutes
and grow to 14 GB. Hooks are the user's instrumentation, not the model's architecture,
so the graph is taken from a copy without them (module hooks and the global ones).

The budget is enforced in-process by a watcher thread that checks the clock and the
resident memory every 20 ms and, past either bound, raises :class:`BudgetExceeded` in
the analysing thread; a single C call that runs long (a large real-tensor operation) is
cut only when it returns. A child process would bound C code too, but starting one
costs an interpreter and an ``import torch`` (1-5 s on this machine class) on every
``check()``, more than the whole analysis of a small model.
"""

from __future__ import annotations

import copy
import ctypes
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.nn.modules import module as module_globals

from pytest_nnhealth.training.rewire import rewire_attributes

# Per-module dicts of forward/backward (pre-)hooks. State-dict hooks stay: they are
# not run by a forward pass.
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)
# The dicts holding the hooks themselves (the others hold flags keyed by hook id).
_COUNTED = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_GLOBAL_DICTS = tuple(
    f"_global{name}"
    for name in _HOOK_DICTS
    if hasattr(module_globals, f"_global{name}")
)


@dataclass(frozen=True)
class GraphLimits:
    """Budget of the graph analysis inside ``check()``.

    ``time_s``: 20 s. The analysis of config-built BERT-base and GPT-2 (110-124 M
    parameters) takes ~2 s of CPU, 3.5-13 s wall on a 2-core machine shared with other
    jobs (``bench/graph_budget.py``); 20 s leaves headroom for a loaded CI runner,
    while a runaway trace costs a CI job 20 s rather than its timeout.

    ``memory_mb``: 2048 MB of resident memory above the level at the start (after the
    model's copy). Tracing and shape propagation keep no activations (proxies, fake
    tensors): the same two models grow the process by 37-41 MB beyond their copy; the
    recorded route, on the batch's first 2 samples, by 45-455 MB (GPT-2's vocabulary
    logits; 1.7 GB on the whole 8 x 128 batch); a trace that grows by 2 GB is stuck.

    ``route``: ``"recorded"`` (default) takes the graph from one real forward pass of
    the batch (``nnlint.fx.recording``), ``"traced"`` from symbolic tracing and
    ``torch.export`` as ``nnlint --fx`` does. The recorded route falls back to the
    traced one when the forward cannot be recorded.
    """

    time_s: float = 20.0
    memory_mb: float = 2048.0
    route: str = "recorded"

    @classmethod
    def of(cls, value: Any) -> GraphLimits:
        """``check(graph=...)``: True (defaults), a GraphLimits, or a mapping with
        ``time_s``, ``memory_mb`` and/or ``route``."""
        if isinstance(value, GraphLimits):
            return value
        if value is True:
            return cls()
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"time_s", "memory_mb", "route"})
            if unknown:
                raise ValueError(
                    f"check(): graph= takes time_s, memory_mb and route, not {unknown}"
                )
            for key in ("time_s", "memory_mb"):
                number = value.get(key, 1.0)
                if isinstance(number, bool) or not isinstance(number, (int, float)):
                    raise TypeError(
                        f"check(): graph= {key} must be a number, got {number!r}"
                    )
            limits = cls(
                time_s=float(value.get("time_s", cls.time_s)),
                memory_mb=float(value.get("memory_mb", cls.memory_mb)),
                route=str(value.get("route", cls.route)),
            )
            if not limits.time_s > 0 or not limits.memory_mb > 0:
                raise ValueError(f"check(): graph= limits must be > 0, got {value!r}")
            if limits.route not in ("recorded", "traced"):
                raise ValueError(
                    "check(): graph= route must be 'recorded' or 'traced', "
                    f"got {limits.route!r}"
                )
            return limits
        raise TypeError(
            "check(): graph must be True, False, a GraphLimits or a mapping with "
            f"time_s/memory_mb, got {type(value).__name__}"
        )


class BudgetExceeded(BaseException):
    """The graph analysis ran past its time or memory budget. A BaseException, like
    KeyboardInterrupt, so that the ``except Exception`` of the tracers (which fall
    back from one tracer to the next) cannot swallow it. ``status`` is the word
    ``report.meta["graph"]`` starts with."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


def hookless_copy(model: nn.Module) -> tuple[nn.Module, int]:
    """A deep copy of ``model`` without forward/backward hooks or pre-hooks, and how
    many hooks were left out. The hooks (and whatever they hold, such as stored
    activations) are not even copied: their dicts are replaced by empty ones through
    the deepcopy memo."""
    memo: dict[int, Any] = {}
    removed = 0
    for module in model.modules():
        for name in _HOOK_DICTS:
            hooks = module.__dict__.get(name)
            if isinstance(hooks, dict) and hooks:
                memo[id(hooks)] = type(hooks)()
                removed += len(hooks) if name in _COUNTED else 0
    clone = copy.deepcopy(model, memo)
    # A closure kept as an attribute would run the caller's modules (see rewire).
    rewire_attributes(model, clone, memo)
    return clone, removed


@contextmanager
def without_global_hooks() -> Iterator[int]:
    """Global module hooks (``register_module_forward_hook`` and friends) switched off
    for the block; yields how many there were. They apply to every module in the
    process, so other threads running models meanwhile do not see them either."""
    saved = {name: dict(getattr(module_globals, name)) for name in _GLOBAL_DICTS}
    count = sum(len(saved[name]) for name in _GLOBAL_DICTS if _counted_global(name))
    try:
        for name in _GLOBAL_DICTS:
            getattr(module_globals, name).clear()
        yield count
    finally:
        for name, hooks in saved.items():
            target = getattr(module_globals, name)
            target.clear()
            target.update(hooks)


def _counted_global(name: str) -> bool:
    return name.removeprefix("_global") in _COUNTED


@contextmanager
def budget(limits: GraphLimits) -> Iterator[Usage]:
    """Raise :class:`BudgetExceeded` inside the block once it runs longer than
    ``limits.time_s`` or grows resident memory by more than ``limits.memory_mb``.

    A watcher thread wakes every 20 ms, reads the clock and the resident memory (a
    ~10 us read) and, past a bound, raises the exception in the analysing thread
    asynchronously (``PyThreadState_SetAsyncExc``, what Ctrl-C does with
    KeyboardInterrupt). The block itself pays nothing: the profile function this
    replaces ran on every Python call and doubled the cost of a recorded forward
    (``bench/graph_routes.py``). The exception lands at the next bytecode, so a long C
    call is cut when it returns, and a loop that sleeps is cut between sleeps."""
    watcher = _Watcher(limits)
    watcher.start()
    try:
        yield watcher.usage
    finally:
        watcher.stop()


class Usage:
    """Resident memory seen while a :func:`budget` block runs, in MB: at its start and
    at its peak. The watcher samples every 20 ms; a shorter spike above the process's
    earlier peak is still caught by the kernel's high-water mark (``ru_maxrss``)."""

    def __init__(self) -> None:
        self.start_mb = resident_mb()
        self.peak_mb = self.start_mb
        self._high_water = _high_water_mb()

    def sample(self) -> float:
        now = resident_mb()
        self.peak_mb = max(self.peak_mb, now)
        return now

    def close(self) -> None:
        self.sample()
        high_water = _high_water_mb()
        if high_water > self._high_water:  # a new process peak, set inside the block
            self.peak_mb = max(self.peak_mb, high_water)


class _Watcher(threading.Thread):
    def __init__(self, limits: GraphLimits) -> None:
        super().__init__(name="nnhealth-graph-budget", daemon=True)
        self.target = threading.get_ident()
        self.deadline = time.monotonic() + limits.time_s
        self.usage = Usage()
        self.ceiling = self.usage.start_mb + limits.memory_mb
        self.limits = limits
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.armed = True
        self.fired: BudgetExceeded | None = None

    def run(self) -> None:
        while not self.done.wait(0.02):
            if time.monotonic() > self.deadline:
                message = f"stopped at its {self.limits.time_s:g} s time budget"
                return self._fire(message, "timeout")
            if self.usage.sample() > self.ceiling:
                message = f"stopped at its {self.limits.memory_mb:g} MB memory budget"
                return self._fire(message, "failed")

    def _fire(self, message: str, status: str) -> None:
        # An async exception is raised by its class: bake the message into one.
        def init(error: BudgetExceeded) -> None:
            BudgetExceeded.__init__(error, message, status)

        kind = type("BudgetExceeded", (BudgetExceeded,), {"__init__": init})
        with self.lock:
            if self.armed:
                self.armed, self.fired = False, BudgetExceeded(message, status)
                _set_async_exc(self.target, kind)

    def stop(self) -> None:
        """Disarm; an exception sent but not yet raised is cleared and raised here,
        so that it never escapes after the block."""
        with self.lock:
            self.armed = False
        self.done.set()
        self.usage.close()  # not joined: a pending async exception could land there
        if self.fired is None:
            return
        _set_async_exc(self.target, None)
        if not isinstance(sys.exc_info()[1], BudgetExceeded):
            raise self.fired


def _set_async_exc(thread_id: int, kind: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(kind) if kind else None
    )


def resident_mb() -> float:
    """Resident memory of this process now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return _high_water_mb()


def _high_water_mb() -> float:
    """The process's peak resident memory so far (POSIX; 0 elsewhere)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)
