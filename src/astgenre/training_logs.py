"""Training logs where people look at them: TensorBoard event files in the run's folder (``training.report_to``).

The Trainer's own TensorBoard integration writes under its ``output_dir`` (the run's checkpoint folder, removed
after success) unless told otherwise; :class:`RunTensorBoard` writes into a folder of the run instead, keeps a
resumed run's log continuous and starts a retrained run's log afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.integrations import TensorBoardCallback

from .recipe import REPORT_TO

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
"""Folder of a run (``runs/<variant>/seed<seed>/tensorboard``) holding its TensorBoard event files."""
EVENT_FILE_PREFIX = "events.out.tfevents."


class RunTensorBoard(TensorBoardCallback):
    """The Trainer's TensorBoard callback, writing into ``log_dir``.

    Scalars: ``train/loss``, ``train/learning_rate``, ``train/grad_norm`` every logging step, ``eval/loss`` and
    ``eval/<metric>`` (the development split) every epoch, at the Trainer's global step, as in history.tsv.
    A run that starts from step 0 removes the folder's older event files (a retrained run replaces its log); a run
    resumed from the checkpoint of step T marks the events logged after T by the interrupted job as purged, so that
    TensorBoard shows each step once. Logs after training (the selection check) are not written.
    """

    def __init__(self, log_dir: Path | str) -> None:
        super().__init__()
        self.logging_dir = str(log_dir)
        self._ended = False

    def on_train_begin(self, args, state, control, **kwargs) -> None:  # noqa: ANN001 - TrainerCallback's signature
        if state.is_world_process_zero and self.tb_writer is None:
            folder = Path(self.logging_dir)
            if state.global_step == 0:
                for old in folder.glob(f"{EVENT_FILE_PREFIX}*"):
                    old.unlink()
            folder.mkdir(parents=True, exist_ok=True)
            # Everything up to the resumed step was logged before its checkpoint was saved: keep it, purge the rest.
            purge_step = state.global_step + 1 if state.global_step else None
            self.tb_writer = self._SummaryWriter(log_dir=self.logging_dir, purge_step=purge_step)
        self._ended = False
        super().on_train_begin(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:  # noqa: ANN001
        if not self._ended:
            super().on_log(args, state, control, logs=logs, **kwargs)

    def on_train_end(self, args, state, control, **kwargs) -> None:  # noqa: ANN001
        super().on_train_end(args, state, control, **kwargs)
        self._ended = True


def reporting_callbacks(recipe: Mapping[str, Any], tensorboard_dir: Path | str | None) -> list[TrainerCallback]:
    """The callbacks that log training where ``recipe["report_to"]`` says ("none" when absent).

    Raises ValueError for an unknown value or a missing folder, ImportError naming the extra to install when
    tensorboard is not installed: before any data is read.
    """
    report_to = recipe.get("report_to") or "none"
    if report_to not in REPORT_TO:
        raise ValueError(f"training.report_to is {report_to!r}; choose one of {', '.join(REPORT_TO)}")
    if report_to == "none":
        return []
    if tensorboard_dir is None:
        raise ValueError("training.report_to is 'tensorboard' but no folder for the event files was given")
    try:
        import tensorboard  # noqa: F401 - torch's SummaryWriter needs it
    except ImportError as error:
        raise ImportError(
            "training.report_to is 'tensorboard' but the tensorboard package is not installed: "
            "pip install 'astgenre[tensorboard]' (or set training.report_to: none)"
        ) from error
    log.info("TensorBoard event files go to %s", tensorboard_dir)
    return [RunTensorBoard(tensorboard_dir)]
