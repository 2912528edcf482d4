"""A local sweep worker: ``python -m ngramlm.stages.worker --sweep ID --threads N
--device DEVICE``.

``stages.supervise.start_workers`` starts these as processes of their own (never by
re-importing the caller's ``__main__``, so a script without an ``if __name__ ==
"__main__"`` guard is not run again), with the store's URL in ``$NGRAMLM_DB`` (never on
the command line, where ``ps`` shows it) and a pipe from the parent on stdin. The pipe
closes when the parent dies, however it dies (SIGKILL included): the worker then stops
at the next step as on Ctrl-C, so its points are marked ``killed`` with a checkpoint
and ``sweep --resume`` continues them. A worker that cannot stop within ``GRACE_S`` of
its parent's death exits anyway (its points then read ``crashed``, also resumable).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ngramlm.stages.plan import SweepSetup
    from ngramlm.store import Store

GRACE_S = 30.0


def watch_parent(fd: int, stop: threading.Event, grace_s: float = GRACE_S) -> None:
    """In a daemon thread: read file descriptor ``fd`` to its end (the parent's death),
    then ask the worker to stop, and end the process if it has not ended ``grace_s``
    later. (``os.read``, not a buffered stream: its lock would hold up the exit.)"""

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        stop.set()
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """A worker's options, as ``stages.supervise.worker_args`` writes them."""
    ap = argparse.ArgumentParser(prog="python -m ngramlm.stages.worker")
    ap.add_argument("--sweep", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default=None, help="the sweep's, resolved by its parent")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument(
        "--deadline", type=float, default=None, help="a search's budget end, time.time()"
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)

    import torch

    from ngramlm.stages.run import stop_on_signals
    from ngramlm.stages.sweep import work
    from ngramlm.store import Store

    torch.set_num_threads(args.threads)
    with stop_on_signals() as stop:
        watch_parent(sys.stdin.fileno(), stop)
        with Store(os.environ["NGRAMLM_DB"]) as store:
            setup = read_setup(store, args)
            work(store, setup, resume=args.resume, stop=stop, batch_size=args.batch_size)
    return 0


def read_setup(store: Store, args: argparse.Namespace) -> SweepSetup:
    """The sweep read once, in this process, with the device and a search's deadline
    as the parent resolved them (every worker of one session shares one budget)."""
    import torch

    from ngramlm.stages.plan import setup_of

    device = torch.device(args.device) if args.device is not None else None
    return setup_of(store, args.sweep, device, args.deadline)


if __name__ == "__main__":
    code = main()  # its store closed, its runs recorded
    sys.stdout.flush()
    sys.stderr.flush()
    # no interpreter teardown (torch's takes seconds on a busy machine): a search's last
    # worker to end is when its command can report, within its budget
    os._exit(code)
