"""The demo's terminal: one line per stage with its counts and seconds, a progress bar while a
stage runs (on a terminal), and everything else (dbt's and Dagster's logs, any library's output,
subprocesses' included) in a log file whose path is printed."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg


class StageFailed(Exception):
    """A stage's run failed; the message names the run's failing step and its error."""


@dataclass
class Stage:
    """What a stage reports on its line: ``detail`` (counts), set while it runs."""

    name: str
    detail: str = ""
    done: int = 0
    total: int = 0


@dataclass
class Console:
    """Stage lines and progress on the terminal; all other output into ``log_path``."""

    log_path: Path
    seconds: dict[str, float] = field(default_factory=dict)
    """Each finished stage's wall time (``make bench-overhead`` reads them)."""
    terminal: TextIO = field(init=False)
    _log: TextIO = field(init=False)

    def __post_init__(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("", encoding="utf-8")
        # appending: the warm dbt's server writes its lines into the same file
        self._log = self.log_path.open("a", encoding="utf-8")
        sys.stdout.flush()
        self.terminal = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)

    def say(self, text: str = "") -> None:
        self.terminal.write(text + "\n")

    @contextlib.contextmanager
    def captured(self) -> Iterator[None]:
        """Route the process's stdout and stderr (file descriptors: subprocesses too) into the
        log while the block runs."""
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(self._log.fileno(), 1)
        os.dup2(self._log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Run a stage with its output captured, then print its line (or its failure, the
        error and where the full log is, and stop the demo)."""
        stage = Stage(name)
        started = time.perf_counter()
        try:
            with self.captured():
                yield stage
        except Exception as exc:
            self._clear_progress()
            self.say(f"{name:<11} FAILED after {time.perf_counter() - started:.1f} s: {exc}")
            self.say(f"full log: {self.log_path}")
            raise StageFailed(str(exc)) from exc
        self._clear_progress()
        self.seconds[name] = time.perf_counter() - started
        self.say(f"{name:<11} {stage.detail} ({self.seconds[name]:.1f} s)")

    def progress(self, stage: Stage, done: int, total: int) -> None:
        """A progress bar on the stage's line (on a terminal only; a log gets the lines)."""
        stage.done, stage.total = done, total
        if not self.terminal.isatty() or total <= 0:
            return
        width = 30
        filled = round(width * done / total)
        self.terminal.write(f"\r{stage.name:<11} [{'#' * filled}{'.' * (width - filled)}] ")
        self.terminal.write(f"{done}/{total}")
        self.terminal.flush()

    def _clear_progress(self) -> None:
        if self.terminal.isatty():
            self.terminal.write("\r" + " " * 60 + "\r")


def check(result: dg.ExecuteInProcessResult, what: str) -> dg.ExecuteInProcessResult:
    """``result`` if its run succeeded, else :class:`StageFailed` naming the failing step and
    the first line of its error."""
    if result.success:
        return result
    failures = result.get_step_failure_events()
    if not failures:
        raise StageFailed(f"{what}: the run failed ({result.run_id})")
    event = failures[0]
    error = event.step_failure_data.error
    message = (error.message if error else "no error recorded").strip().splitlines()[0]
    raise StageFailed(f"{what}: step {event.step_key}: {message[:300]}")
