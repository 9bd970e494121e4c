"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    """Put an error that ends a script into its log file too, not only on the terminal."""
    logging.getLogger("astgenre").error("%s: %s", kind.__name__, error, exc_info=(kind, error, traceback))


def log_to(path: str | Path | None, level: int = logging.INFO) -> None:
    """Send log records, warnings and the error that ends the process to a file and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
