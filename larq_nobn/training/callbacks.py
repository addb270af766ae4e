"""Callbacks of a training run: epoch timing and learning rate in the logs, and the
graceful stop on SIGINT / SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time

from larq_nobn.training.checkpoint import AtomicCheckpoint

import tensorflow as tf

__all__ = ["EpochTimer", "GracefulInterrupt", "RunProgbar", "TrainingInterrupted"]

logger = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT / SIGTERM after writing a checkpoint.

    # Arguments
        signum: The signal received.
        checkpoint: The checkpoint written.
        epochs_completed: Complete epochs in the checkpoint.
        output: The run's output directory.
    """

    def __init__(self, signum, checkpoint, epochs_completed, output, resume_hint=None):
        self.signum = int(signum)
        self.checkpoint = checkpoint
        self.epochs_completed = epochs_completed
        self.output = output
        self.resume_hint = resume_hint or f"larq-nobn train --output {output} --resume"
        name = signal.Signals(self.signum).name
        super().__init__(
            f"Interrupted by {name}: checkpoint with {epochs_completed} complete "
            f"epoch(s) saved to {checkpoint}. Resume with: {self.resume_hint}"
        )

    @property
    def exit_code(self) -> int:
        """`128 + signum`: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class EpochTimer(tf.keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch, validation included) and `lr` (the
    learning rate at the end of the epoch) to the epoch logs. Put it before the loggers.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["epoch_seconds"] = time.perf_counter() - self._start
        lr = current_learning_rate(self.model.optimizer)
        if lr is not None:
            logs["lr"] = lr


def current_learning_rate(optimizer) -> float | None:
    """The learning rate an optimizer (possibly wrapped, e.g. in AGC) applies now;
    `None` if it cannot be read."""
    inner = optimizer
    for _ in range(4):
        if hasattr(inner, "learning_rate") or hasattr(inner, "lr"):
            break
        inner = getattr(inner, "inner_optimizer", getattr(inner, "optimizer", None))
        if inner is None:
            return None
    try:
        lr = getattr(inner, "learning_rate", None)
        if lr is None:
            lr = inner.lr
        if isinstance(lr, tf.keras.optimizers.schedules.LearningRateSchedule):
            lr = lr(inner.iterations)
        return float(tf.keras.backend.get_value(lr))
    except Exception:  # reporting only: never fail training over it
        return None




class GracefulInterrupt(tf.keras.callbacks.Callback):
    """Turns SIGINT / SIGTERM into a clean stop with a checkpoint.

    While installed (`with callback.installed(): model.fit(...)`), the first signal only
    sets a flag. After the current training batch the callback writes `last.keras`
    through `checkpoint` (the epoch is recorded as not complete, with the number of its
    batches trained) and raises `TrainingInterrupted`; a signal that arrives during the
    last batch of an epoch, its validation or its end stops right after that epoch's
    checkpoint. A second signal aborts at once
    (`KeyboardInterrupt`). Put it last in the callback list, after the loggers and the
    checkpoint callback.

    # Arguments
        checkpoint: The run's `AtomicCheckpoint`.
        output: The run's output directory (for the resume message).
        resume_hint: The command that resumes the run.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, checkpoint: AtomicCheckpoint, output: str, resume_hint=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.output = output
        self.resume_hint = resume_hint
        self.signum = None
        self._epoch = 0

    def _handle(self, signum, frame):
        if self.signum is not None:
            for sig in self.SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            raise KeyboardInterrupt
        self.signum = signum
        logger.warning(
            "\n%s received: stopping after this batch and saving a checkpoint (send "
            "it again to abort without saving).",
            signal.Signals(signum).name,
        )

    @contextlib.contextmanager
    def installed(self):
        """Installs the signal handlers (main thread only) for the `with` block."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in self.SIGNALS}
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, epochs_completed):
        raise TrainingInterrupted(
            self.signum,
            self.checkpoint.last_path,
            epochs_completed,
            self.output,
            self.resume_hint,
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        last = self.params.get("steps") if self.params else None
        if self.signum is not None and (last is None or batch + 1 < last):
            self.checkpoint.save(self._epoch, interrupted=True)
            self._stop(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.signum is not None:
            self._stop(epoch + 1)




class RunProgbar(tf.keras.callbacks.ProgbarLogger):
    """Keras' progress bar, numbering epochs out of the run's `epochs` when the loop
    calls `fit` once per epoch."""

    def __init__(self, epochs: int):
        super().__init__(count_mode="steps")
        self.run_epochs = int(epochs)

    def set_params(self, params):
        super().set_params(dict(params, epochs=self.run_epochs))
