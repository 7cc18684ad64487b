"""Experiment loggers: Weights & Biases (offline unless a key is available) and CSV."""

from __future__ import annotations

import csv
import netrc
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning.pytorch.loggers import CSVLogger, WandbLogger

from genpolicy import _checks as check

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter
    from wandb.sdk.lib import RunDisabled
    from wandb.wandb_run import Run


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        hosts = netrc.netrc(os.environ.get("NETRC", Path.home() / ".netrc")).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def wandb_logger(
    save_dir: str, project: str = "genpolicy", name: str | None = None, mode: str | None = None, **kwargs: Any
) -> WandbLogger:
    """W&B logger. ``mode`` None means: ``WANDB_MODE`` if set, else online with a key, else offline.

    Offline runs are written under ``save_dir/wandb`` and can be uploaded later with ``wandb sync``.
    """
    mode = wandb_mode(mode)
    if mode != "online":
        os.environ["WANDB_MODE"] = mode  # make sure nothing in the client tries the network
    os.environ.setdefault("WANDB_SILENT", "true")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return EarlyWandbLogger(save_dir=save_dir, project=project, name=name, mode=mode, **kwargs)


class EarlyWandbLogger(WandbLogger):
    """WandbLogger whose run starts in a background thread at once (:meth:`start`), so W&B's service
    start-up (~1.5 s offline) overlaps the building and first generations instead of preceding the
    first logged metric. Any use of ``experiment`` waits for that start."""

    _starter: threading.Thread | None = None
    _start_error: BaseException | None = None

    def start(self) -> None:
        if self._experiment is not None or self._starter is not None:
            return

        def init() -> None:
            try:
                WandbLogger.experiment.fget(self)
            except BaseException as err:  # noqa: BLE001 - re-raised in the thread that uses the run
                self._start_error = err

        self._starter = threading.Thread(target=init, name="wandb-start", daemon=True)
        self._starter.start()

    @property
    def experiment(self) -> Run | RunDisabled:
        if self._starter is not None:
            self._starter.join()
            self._starter = None
            if self._start_error is not None:
                raise self._start_error
        return super().experiment


class KeepRowsCSVLogger(CSVLogger):
    """CSVLogger that keeps an existing ``metrics.csv`` (Lightning's writer deletes it): a run resumed
    into its own dir, or the main process writing the final test after a ``ddp_spawn`` run, adds to
    the rows already there. The writer is created lazily, in whichever process logs first."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            path = Path(self.log_dir) / "metrics.csv"
            previous = list(csv.DictReader(path.open(newline=""))) if path.is_file() else []
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
                writer = CSVLogger.experiment.fget(self)
            if isinstance(getattr(writer, "metrics", None), list):  # not the dummy of ranks > 0
                writer.metrics[:0] = [{k: v for k, v in row.items() if v != ""} for row in previous]
        return self._experiment


def csv_logger(save_dir: str, name: str | None = None, **kwargs: Any) -> CSVLogger:
    """CSV metrics at ``save_dir/metrics.csv`` (``name`` is accepted for symmetry and ignored)."""
    return KeepRowsCSVLogger(save_dir=save_dir, name="", version="", **kwargs)


def close_logger(logger: Logger | bool | None, status: str = "success") -> None:
    """Flush and close a logger; a W&B run is finished so its local files are complete."""
    if not logger:
        return
    logger.finalize(status)
    if isinstance(logger, WandbLogger) and logger._experiment is not None:
        logger.experiment.finish()


def wandb_mode(mode: str | None = None) -> str:
    """``mode`` if given, else ``WANDB_MODE``, else online with an API key and offline without one."""
    mode = mode or os.environ.get("WANDB_MODE") or ("online" if _has_wandb_key() else "offline")
    return check.choice("wandb mode", mode, ("online", "offline", "disabled"))


def log_media(
    out_dir: str | Path,
    job: str,
    summary: dict,
    images: Iterable[str | Path] = (),
    videos: Iterable[str | Path] = (),
    project: str = "genpolicy",
    name: str | None = None,
    mode: str | None = None,
) -> str:
    """One W&B run for a post-training command (landscape, variations): the figures in ``summary``
    (scalars only), image files as ``wandb.Image`` and GIF/MP4 files as ``wandb.Video``, keyed by
    file stem. Offline runs land in ``out_dir/wandb``. Returns the run's local directory."""
    import wandb

    mode = wandb_mode(mode)
    if mode != "online":
        os.environ["WANDB_MODE"] = mode
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        project=project,
        name=name,
        job_type=job,
        dir=str(out_dir),
        mode=mode,
        config={k: v for k, v in summary.items() if not isinstance(v, (list, dict))},
    )
    try:
        media = {f"{job}/{Path(p).stem}": wandb.Image(str(p)) for p in images}
        media |= {f"{job}/{Path(p).stem}": wandb.Video(str(p)) for p in videos}
        scalars = {f"{job}/{k}": v for k, v in summary.items() if isinstance(v, (int, float)) and v is not None}
        run.log({**scalars, **media})
        return str(Path(run.dir).parent)
    finally:
        run.finish()
