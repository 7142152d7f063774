"""Runs of the `cm2` command in a child process, for tests that kill a run with SIGKILL and resume it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cm2


def kill_cli_when(args: list[str], ready: Callable[[], bool], timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
    """Start `cm2 ARGS` in a child process (this checkout's cm2 first on its path), send it SIGKILL as soon as
    `ready()` holds, it has ended or `timeout_s` has passed, and wait for it. Its stderr stays readable."""
    command = [sys.executable, "-c", "from cm2.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(cm2.__file__).resolve().parents[1])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process
