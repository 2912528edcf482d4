"""Hardware policy in one place: the device a run trains on, the precision it trains in,
this CPU's flags, and how many torch threads a run uses and worker processes a sweep starts.

Device: ``--device auto`` is CUDA, else Apple's MPS, else the CPU; a device asked for
that is not here is refused with the fix. Precision: ``--precision auto`` is bfloat16 only
where the products run faster in it (CUDA, or a CPU with bfloat16 matrix units, read from
``/proc/cpuinfo`` once a process) and the output layer takes the fused path
(``models/output.py``); float32 everywhere else.

Threads: the one owner of this policy (train, ``train --resume``, lr-find, sweep and ``sweep
--resume`` all ask it). Its inputs are explicit (``Machine``: the cores this process may
use and how busy they are; a config's cost per step), so the policy is tested without
touching the machine; ``machine()`` reads them here.

- **Usable cores**: the CPUs of the process's affinity mask (``os.sched_getaffinity``),
  capped by the cgroup CPU quota (``cpu.max``, v2; ``cpu.cfs_quota_us /
  cpu.cfs_period_us``, v1), never ``os.cpu_count()`` (a container sees every core of its
  host there).
- **One run**: a small model (a step under ``SMALL_STEP_FLOP``) takes one thread: its
  matrices are too small to split (the lecture's ~2 MFLOP step ran 3,690 steps/s on one
  thread against 2,845 on two). A large model takes the usable cores that are free now:
  torch's threads wait for each other at every operation, so a thread that shares its
  core with another busy process slows all of them (``--preset best`` on a busy 2-core
  machine: 9-15 steps/s on 2 threads, 81-86 on one).
- **A sweep**: points are independent, so processes beat threads: one single-threaded
  worker a usable core, at most one a point (a large model's worker takes the cores
  left when there are fewer points than cores). Points that train batched (lr, seed and
  weight decay differ only) are split evenly over the workers, up to ``MAX_BATCH`` a model.
- ``OMP_NUM_THREADS``, when set, caps the threads of every process.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ngramlm.config import RunConfig
from ngramlm.errors import InputError

# From this vocabulary size on, the MLP's training step takes the fused output layer
# (``models/output.py``); below it (the character models) the logits are small and the
# plain path, whose results the lectures' numbers were measured with, stays.
FUSED_MIN_VOCAB = 1024


# --- device and precision ---------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InputError(
            "--device mps: Apple's MPS is not available here; use --device cpu or auto"
        )
    return torch.device(name)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags, from /proc/cpuinfo (empty where there is none to read);
    read once a process."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (Intel AMX or AVX512-BF16)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def resolve_precision(precision: str, device: torch.device, vocab_size: int) -> str:
    """``auto`` -> ``bf16`` where the products run faster in bfloat16 (CUDA, or a CPU with
    bfloat16 units) and the output layer is large enough to take the chunked path;
    ``fp32`` everywhere else. ``fp32`` and ``bf16`` are kept as asked."""
    if precision != "auto":
        return precision
    if vocab_size < FUSED_MIN_VOCAB:
        return "fp32"
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16_units()):
        return "bf16"
    return "fp32"


# --- threads ----------------------------------------------------------------------------


SMALL_STEP_FLOP = 20e6  # below this, one thread beats several: the ops are too small to split
MAX_BATCH = 8  # sweep points trained together as one batched model, at most
# A worker process costs a second or two to start (torch, the examples): each one started
# must have at least this much work to pay off (the lecture's model runs ~7 GFLOP/s on one
# core, so ~3 s of it: an 8-point sweep of 3,000 steps took 7.6 s on one worker, 5.5 on two).
MIN_WORKER_FLOP = 2e10
CGROUP = Path("/sys/fs/cgroup")
LOAD_SAMPLE_S = 0.25  # how long the cores' business is measured before a large run


@dataclass(frozen=True)
class Machine:
    """What the policy knows of the machine: ``affinity`` CPUs this process may run on,
    the cgroup ``quota`` in cores (None: none), ``busy`` core-equivalents that other
    processes kept busy just now (None: not measured), ``omp`` the ``OMP_NUM_THREADS``
    cap (None: not set)."""

    affinity: int
    quota: float | None = None
    busy: float | None = None
    omp: int | None = None

    @property
    def usable(self) -> int:
        """The cores this process can use: its affinity, capped by the cgroup quota."""
        n = self.affinity
        if self.quota is not None and self.quota > 0:
            n = min(n, math.floor(self.quota))
        return max(1, n)

    @property
    def free(self) -> int:
        """Usable cores that no other process keeps busy (all of them if not measured)."""
        if self.busy is None:
            return self.usable
        return max(1, min(self.usable, round(self.usable - self.busy)))

    def describe(self) -> str:
        quota = f", cgroup quota {self.quota:g}" if self.quota is not None else ""
        busy = f", {self.busy:.1f} busy" if self.busy is not None else ""
        return f"{self.usable} usable cores (affinity {self.affinity}{quota}{busy})"


@dataclass(frozen=True)
class SweepPlan:
    """Local worker processes, torch threads in each, and points a batched model takes."""

    workers: int
    threads: int
    batch_size: int

    def describe(self) -> str:
        w = "worker" if self.workers == 1 else "workers"
        t = "thread" if self.threads == 1 else "threads"
        return f"{self.workers} {w}, {self.threads} {t} each"


def step_flop(cfg: RunConfig) -> float:
    """A training step's cost: about 6 FLOP per parameter and example (forward and
    backward); 0 for a counted model."""
    if cfg.train is None:
        return 0.0
    return 6.0 * cfg.train.batch_size * int(getattr(cfg.model, "n_params", 0))


def _cap(n: int, machine: Machine) -> int:
    return max(1, min(n, machine.omp) if machine.omp is not None else n)


def run_threads(flop: float, machine: Machine) -> int:
    """The threads of one run whose step costs ``flop``."""
    if flop < SMALL_STEP_FLOP:
        return 1
    return _cap(machine.free, machine)


def plan_sweep(
    flop: float,
    points: int,
    largest_batch: int,
    machine: Machine,
    *,
    work: float | None = None,
    workers: int | None = None,
    threads: int | None = None,
) -> SweepPlan:
    """Workers and threads for ``points`` points to train, whose largest step costs
    ``flop``, whose largest batchable group (points differing in lr, seed and weight decay only)
    has ``largest_batch`` points (0 or 1: none) and whose steps cost ``work`` FLOP in
    all (None: unknown, no limit). ``workers``/``threads``: the user's (``workers=0``:
    in the calling process, as one worker)."""
    usable = machine.usable
    if workers is None:
        workers = max(1, min(points, usable // (threads or 1)))
        if work is not None:  # no worker that would cost more to start than it saves
            workers = max(1, min(workers, int(work // MIN_WORKER_FLOP)))
    processes = max(1, workers)
    if threads is None:
        threads = 1 if flop < SMALL_STEP_FLOP else _cap(max(1, usable // processes), machine)
    batch = MAX_BATCH
    if largest_batch > 1:
        batch = max(1, min(MAX_BATCH, math.ceil(largest_batch / processes)))
    return SweepPlan(workers, threads, batch)


# --- reading the machine ----------------------------------------------------------------


def affinity_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cgroup_quota(root: Path = CGROUP) -> float | None:
    """The CPU quota in cores: cgroup v2 ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD"),
    else v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (-1: none). None: no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            q = int((root / sub / "cpu.cfs_quota_us").read_text())
            p = int((root / sub / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if q <= 0 or p <= 0 else q / p
    return None


def _cpu_times(cpus: set[int]) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over ``cpus`` from /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = total = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(x) for x in fields[:8]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        busy += sum(ticks) - idle
        total += sum(ticks)
    return (busy, total) if total else None


def busy_cores(sample_s: float = LOAD_SAMPLE_S) -> float | None:
    """Core-equivalents of this process's CPUs kept busy by others over ``sample_s``
    (this process sleeps meanwhile). None where /proc/stat cannot be read."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None
    before = _cpu_times(cpus)
    time.sleep(sample_s)
    after = _cpu_times(cpus)
    if before is None or after is None or after[1] <= before[1]:
        return None
    return len(cpus) * (after[0] - before[0]) / (after[1] - before[1])


def omp_threads() -> int | None:
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return n if n >= 1 else None


def machine(measure_load: bool = False) -> Machine:
    """This process's machine now; ``measure_load``: also how busy its cores are (a
    quarter of a second)."""
    return Machine(
        affinity=affinity_count(),
        quota=cgroup_quota(),
        busy=busy_cores() if measure_load else None,
        omp=omp_threads(),
    )


def threads_for(cfg: RunConfig) -> int:
    """The threads ``train``, ``train --resume`` and ``lr-find`` take for ``cfg`` when
    ``--threads`` is not given (the load is measured only for a large model)."""
    flop = step_flop(cfg)
    if flop < SMALL_STEP_FLOP:
        return 1
    return run_threads(flop, machine(measure_load=True))


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` (None: unchanged) for the block, then back."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
