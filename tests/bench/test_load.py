"""The bench's process meters count a server's workers too."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.load import _cpu_of, cpu_seconds, process_tree

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_a_servers_cpu_includes_its_workers() -> None:
    # A parent whose child burns 0.3 s of CPU and then waits: the child's time is the
    # parent's tree's, not the parent's own.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"child = subprocess.Popen([sys.executable, '-c', {BUSY + 'time.sleep(30)'!r}])\n"
            "time.sleep(30)\n",
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tree = process_tree(parent.pid)
            if len(tree) == 2 and _cpu_of(tree[1]) >= 0.25:
                break
            time.sleep(0.1)
        assert len(tree) == 2, tree
        assert _cpu_of(parent.pid) < 0.25
        assert cpu_seconds(parent.pid) >= 0.25
        assert os.getpid() not in tree
    finally:
        for pid in reversed(process_tree(parent.pid)):
            os.kill(pid, 9)
        parent.wait()
