"""Multi-worker runs (`strategy="multi_worker"`, `MultiWorkerMirroredStrategy` from
`TF_CONFIG`): waiting for every worker, and the error of a worker lost mid-run.

Every worker runs the same `train` call. Only the chief (see `optim.is_chief`) writes
the output directory; the others write what Keras needs every worker to write
(checkpoints) into a temporary directory they delete, and on `--resume` read the
chief's checkpoint, so the output directory must be on a file system that every worker
sees. When a worker dies, the others stop with `WorkerLost`; the job restarts as a
whole, every worker with `resume=True`, from the chief's last checkpoint.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

__all__ = ["LOST_WORKER_ERRORS", "WorkerLost", "barrier", "in_cluster", "worker_lost"]

#: What a collective op raises when a worker of the cluster is gone (the heartbeats of
#: TensorFlow's coordination service stopped, or a peer closed its connection).
LOST_WORKER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.AbortedError,
    tf.errors.DeadlineExceededError,
)


def in_cluster(strategy) -> bool:
    """Whether `strategy` spans several workers (a `TF_CONFIG` cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return False
    return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values()) > 1


def barrier(strategy):
    """Returns once every worker of `strategy`'s cluster has called it (an all-reduce
    of a dummy value); does nothing outside a cluster."""
    if not in_cluster(strategy):
        return

    @tf.function
    def all_reduce():
        ones = strategy.run(lambda: tf.ones(()))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)

    all_reduce()


class WorkerLost(RuntimeError):
    """A worker of a multi-worker run stopped (killed, crashed, its host lost), so the
    others cannot go on. Restart every worker with `--resume`.

    # Arguments
        tasks: The lost tasks as TensorFlow names them (`/job:worker/replica:0/task:1`),
            or what TensorFlow said when it named none.
        output: The run's output directory (with the chief's checkpoint).
        resume_hint: The command that resumes the run.
    """

    exit_code = 1

    def __init__(self, tasks: str, output: str, resume_hint: str | None = None):
        self.tasks = tasks
        self.output = output
        self.resume_hint = resume_hint or f"larq-nobn train --output {output} --resume"
        super().__init__(
            f"Lost a worker of the multi-worker run ({tasks}). Restart every worker "
            f"with: {self.resume_hint} (it continues from the chief's last checkpoint "
            f"in {os.path.join(output, 'checkpoints')})."
        )


_TASK = re.compile(r"/job:\w+/replica:\d+/task:\d+")


def worker_lost(error: tf.errors.OpError, output: str, resume_hint=None) -> WorkerLost:
    """The `WorkerLost` of a TensorFlow error that aborted a collective op (it names
    the lost tasks after "unhealthy")."""
    message = str(getattr(error, "message", error))
    _, _, lost = message.partition("unhealthy")
    tasks = sorted(set(_TASK.findall(lost)))
    return WorkerLost(
        ", ".join(tasks) or message.strip().splitlines()[0][:200], output, resume_hint
    )
