"""A Celery worker under tracemalloc (`bench.memory --tracemalloc`): where its memory goes.

    python -m bench.memtrace -A config worker ...     # the arguments of `python -m celery`

RSS says that a process grows, not what grows. This runs the very worker command with
tracemalloc started before Celery is imported (the prefork children inherit it when forked), and
on SIGWINCH (ignored by default, and touched by none of Celery's or billiard's signal set-ups)
each process (the main one and every pool child) writes a snapshot to
`$BENCH_TRACEMALLOC_DIR/<pid>-<n>.snap`. The bench compares a process's snapshots after warm-up
and at the end, by traceback. Diagnostic only: tracemalloc slows the worker and adds its own
memory, so the RSS figures of such a run are not the benchmark's.
"""

import os
import signal
import sys
import tracemalloc
from pathlib import Path


def _install_dump_handler() -> None:
    folder = Path(os.environ["BENCH_TRACEMALLOC_DIR"])

    def dump(signum, frame):
        pid = os.getpid()
        n = len(list(folder.glob(f"{pid}-*.snap")))
        tracemalloc.take_snapshot().dump(str(folder / f"{pid}-{n}.snap"))

    signal.signal(signal.SIGWINCH, dump)


def main() -> None:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "12")))
    _install_dump_handler()
    from celery.__main__ import main as celery_main
    from celery.signals import worker_process_init

    # A pool child is forked with the main process's handler; set it again after the pool's own
    # signal set-up in the child.
    worker_process_init.connect(lambda **kwargs: _install_dump_handler(), weak=False)
    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
