"""A quiet console for a long run driven from Python (`make demo`): one line per finished step with
its duration, training progress while LightGBM fits, the checks that did not pass; every log line of
Dagster, dbt, MLflow and LightGBM goes to a file instead (all of them on the console too when verbose).

The file takes file descriptors 1 and 2 themselves, so subprocesses (dbt) and C libraries (LightGBM's
warnings) land there as well, not only Python's own output."""

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg

from platform_assets.modeling.forecaster import PROGRESS

FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")


@dataclass
class Console:
    """Where the run's few lines go (the terminal) and what it learnt along the way."""

    out: TextIO
    verbose: bool = False
    checks: list[dg.AssetCheckEvaluation] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)

    @property
    def tty(self) -> bool:
        return self.out.isatty()

    def line(self, text: str) -> None:
        """A line that stays (on a terminal it replaces a progress line in place)."""
        self.out.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.out.flush()

    def progress(self, text: str) -> None:
        """A line a terminal rewrites in place; elsewhere (a log, CI) it is left out."""
        if self.tty:
            self.out.write("\r\033[K" + text[: os.get_terminal_size(self.out.fileno()).columns - 1])
            self.out.flush()


class StepLines(logging.Handler):
    """Dagster's events as the console's lines: a step's end with its duration, a failure with its
    error; check results are kept for the summary."""

    def __init__(self, console: Console):
        super().__init__(logging.DEBUG)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None:
            return
        if event.is_step_success:
            seconds = event.event_specific_data.duration_ms / 1000
            self.console.line(f"  ok    {event.step_key:<46} {seconds:7.1f} s")
        elif event.is_step_failure:
            self.console.failed_steps.append(event.step_key)
            reason = blocked_by(self.console.checks, event.step_key) or failure_message(
                event.step_failure_data.error
            )
            self.console.line(f"  FAIL  {event.step_key:<46} {reason}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            self.console.checks.append(event.event_specific_data)


def failure_message(error: object | None) -> str:
    """The first line of what went wrong, from the innermost cause: Dagster wraps an error in its own
    (`Exceeded max_retries of 2` once the retries are spent), which says nothing a user can act on."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    if error is None or not error.message.strip():
        return "failed"
    line = error.message.strip().splitlines()[0]
    return line.removeprefix("dagster._core.definitions.events.Failure: ")


def blocked_by(checks: list[dg.AssetCheckEvaluation], step_key: str) -> str | None:
    """The failed blocking checks of the step's asset with their own descriptions, or None: Dagster fails
    such a step with `DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity:`,
    which hides why (on a user's first run, the promotion gate's verdict: no model, no forecasts)."""
    failed = [
        f"{c.check_name}: {c.description or 'failed'}"
        for c in checks
        if c.blocking
        and not c.passed
        # the asset's step (a check it yields) or the check's own step (a standalone @asset_check)
        and step_key in (c.asset_key.to_user_string(), f"{c.asset_key.to_python_identifier()}_{c.check_name}")
    ]
    return "; ".join(failed) or None


class TrainingProgress(logging.Handler):
    """LightGBM's fits (modeling.forecaster.PROGRESS): rounds in place, each finished fit on a line."""

    def __init__(self, console: Console):
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        text = f"  ..    trained_model: {record.getMessage()}"
        if getattr(record, "done", False):
            self.console.line(text)
        else:
            self.console.progress(text)


def console_logger(console: Console, log_path: Path) -> dg.LoggerDefinition:
    """The run's only Dagster logger: every event to the log file, the step lines to the console."""

    @dg.logger(description="shelfcast's quiet console: step lines on the terminal, everything in a file")
    def shelfcast_console(init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("shelfcast_console", logging.DEBUG)
        to_file = logging.FileHandler(log_path)
        to_file.setFormatter(FORMAT)
        log.addHandler(to_file)
        log.addHandler(StepLines(console))
        if console.verbose:
            everything = logging.StreamHandler(console.out)
            everything.setFormatter(FORMAT)
            log.addHandler(everything)
        return log

    return shelfcast_console


@contextmanager
def quiet_console(log_path: Path, verbose: bool = False) -> Iterator[Console]:
    """A Console on the terminal while everything else written to stdout and stderr goes to
    `log_path` (appended); with `verbose` nothing is redirected."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    console = Console(terminal, verbose)
    progress = TrainingProgress(console)
    PROGRESS.addHandler(progress)
    PROGRESS.setLevel(logging.INFO)
    saved = [os.dup(1), os.dup(2)]
    try:
        if not verbose:
            with open(log_path, "ab") as log:
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
        yield console
    finally:
        with suppress(OSError):  # a log on a full disk must not replace the run's own error
            sys.stdout.flush()
            sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        PROGRESS.removeHandler(progress)
        terminal.flush()
