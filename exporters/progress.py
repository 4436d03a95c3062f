"""Progress reporting for long conversions and verifications, kept out of the library's default behaviour.

Library functions (:func:`twinnet.exporters.verify`, :func:`twinnet.exporters.convert`) take a
``progress`` argument and report through it, stage by stage; the default,
:data:`QUIET`, shows nothing. The command line passes a :class:`BarProgress`
(one rich progress bar per stage on stderr) only when stderr is a terminal and
``--quiet`` is not given, so pipes, logs and tests stay clean.

>>> with QUIET.stage("compare", total=3) as step:
...     for _ in range(3):
...         step()
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

#: The stages, in the order a conversion runs them.
STAGES = ("import", "emit", "run", "compile", "export", "compare")


class Progress:
    """Reports nothing. Subclasses show stages; ``stage`` yields a function to call once per finished step."""

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """A stage of ``total`` steps (None: one step, done when the block ends)."""
        yield _ignore


def _ignore(*_args, **_kwargs) -> None:
    return None


QUIET = Progress()


class BarProgress(Progress):
    """One rich progress bar per stage, on stderr; each bar stays, showing the stage's time."""

    def __init__(self, label: str = "", console=None):
        from rich.console import Console

        self.label = label
        self.console = console if console is not None else Console(stderr=True)

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        title = f"{self.label} {name}".strip()
        columns = [
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[step]}"),
            TimeElapsedColumn(),
        ]
        with Bars(*columns, console=self.console, transient=False) as bars:
            task = bars.add_task(title, total=total or 1, step="")

            def step(what: str = "") -> None:
                bars.update(task, advance=1, step=what)

            yield step
            bars.update(task, completed=total or 1, step="")


def for_terminal(quiet: bool = False, label: str = "", stream=None) -> Progress:
    """Bars when ``stream`` (stderr) is a terminal and not ``quiet``; otherwise :data:`QUIET`.

    >>> for_terminal(quiet=True) is QUIET
    True
    """
    stream = sys.stderr if stream is None else stream
    if quiet or not getattr(stream, "isatty", lambda: False)():
        return QUIET
    return BarProgress(label)


class Stopwatch:
    """Wall time, CPU time and peak resident memory of each stage of a run, for the ``--profile`` line.

    >>> watch = Stopwatch()
    >>> with watch.stage("import"):
    ...     pass
    >>> sorted(watch.stages["import"])
    ['cpu_s', 'peak_rss_mb', 'wall_s']
    """

    def __init__(self):
        self.stages: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.stages[name] = {
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,  # every thread of the process: torch and TensorFlow run several
                "peak_rss_mb": peak_rss_mb(),
            }

    def seconds(self) -> dict[str, float]:
        """Wall seconds per stage."""
        return {name: s["wall_s"] for name, s in self.stages.items()}


def peak_rss_mb() -> float:
    """The largest resident set this process has had so far, in MiB (0 where the OS does not say)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
