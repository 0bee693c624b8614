"""tqdm progress bars, on by default only when stderr is a terminal."""

from __future__ import annotations

import sys
from types import TracebackType

from tqdm import tqdm


class Progress:
    def __init__(self, enabled: bool | None, desc: str, total: int | None = None, unit: str = "rows") -> None:
        on = sys.stderr.isatty() if enabled is None else enabled
        self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True) if on else None

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()
