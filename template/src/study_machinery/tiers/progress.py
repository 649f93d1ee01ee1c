"""A tier's progress: runs ended of the total, elapsed and left, and what the executor says."""

import sys
import time

from study_machinery.runs.attempt import LOG_EVERY

# Ended: finished, or failed (each failure is named at the end).
PROGRESS = "{desc}: {n_fmt}/{total_fmt} runs ended, {elapsed} elapsed, about {remaining} left"


class Progress:
    """Runs done of total, elapsed and left: a live bar in a terminal, plain lines in a log."""

    def __init__(self, label: str, total: int) -> None:
        from tqdm import tqdm

        self.label, self.total, self.done, self.said = label, total, 0, ""
        self.started = self.printed = time.monotonic()
        self.bar = tqdm(total=total, desc=label, unit="run", file=sys.stderr) if sys.stderr.isatty() else None
        self.format = tqdm.format_meter

    def note(self, said: str) -> None:
        """What the progress line says besides the counts (SLURM: the jobs' states)."""
        self.said = said
        if self.bar is not None:
            self.bar.set_postfix_str(said, refresh=False)

    def advance(self, by: int = 0) -> None:
        """Count finished runs; in a log, print a line when enough time has passed or all are done."""
        self.done += by
        if self.bar is not None:
            self.bar.update(by)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.printed >= LOG_EVERY or (by and self.done == self.total):
            line = self.format(
                self.done, self.total, now - self.started, prefix=self.label, bar_format=PROGRESS
            )
            print(line + (f" ({self.said})" if self.said else ""), file=sys.stderr, flush=True)
            self.printed = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
