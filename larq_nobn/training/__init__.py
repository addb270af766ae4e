"""Training: the Python API behind `larq-nobn train` and `larq-nobn evaluate`.

The command line is a thin layer on this module; everything it does can be done from
Python:

```python
import larq_nobn
from larq_nobn.training import TrainConfig, train

metrics = train(TrainConfig(model="binarynet", norm="abn", epochs=3, output="runs/abn"))
print(metrics["test_accuracy"])
```

A run writes into its output directory:

- `config.json`: the `TrainConfig` (written first; `--resume` reads it),
- `log.csv`: one row per epoch (train and validation loss/accuracy, `lr`,
  `epoch_seconds`); resuming appends to it,
- `tensorboard/`: TensorBoard logs,
- `checkpoints/last.keras` (every epoch) and `checkpoints/best.keras` (best
  `val_accuracy`): complete Keras models with their optimizer state; the epoch, the
  `TrainConfig` and the seed are stored inside the same zip file (`training_state.json`)
  so that model, optimizer and epoch can never disagree. Each is written to a temporary
  file in the same directory and moved into place with `os.replace`, so a crash never
  leaves a half-written checkpoint behind,
- `model.keras`: the final model (the student when distilling),
- `metrics.json`: `test_accuracy` (the last epoch's), `best_test_accuracy` and
  `best_epoch` (1-based; the references report the best over epochs; `None` with a
  held-out validation split), `test_loss`, `epochs`, `seed`, `train_seconds`, the
  parameter counts, the configuration, ...,
- `curves.png`: loss and accuracy per epoch, train and validation,
- `.lock` while the run is live: its pid and host (a second run into the same
  directory raises `OutputLockedError`; see `lock`).

`TrainConfig(seeds=[0, 1, 2])` trains one model per seed in `seed_K/` and writes
`summary.json` with the mean and standard deviation of the test accuracy (the
protocol of the ABN paper). `TrainConfig(two_step=True)` runs the two-step schedule of
ReActNet and "BNN - BN = ?" in `step1/` (binary activations, real-valued weights) and
`step2/` (binary weights initialised from step 1).

SIGINT (Ctrl-C) or SIGTERM during training lets the current batch finish, writes
`checkpoints/last.keras` (with the epoch and the number of its batches trained) and
raises `TrainingInterrupted` (the command line exits with 130 or 143);
`train(..., resume=True)` continues from the exact step: same weights and optimizer
state, and the interrupted epoch goes on with its next batch. Each epoch's training
data is shuffled and augmented with a seed derived from the run's seed and the epoch
(`inputs.epoch_seed`), so the batches a resumed run skips are those it trained before,
and a run interrupted and resumed with a fixed seed ends with the weights of an
uninterrupted one (see `larq_nobn.training.resume`).

The package has one module per concern: `config` (`TrainConfig` and the defaults),
`recipes` (the papers' settings), `models` (build and compile, shared with
`larq_nobn.tuning`), `distill`, `optim` (optimizer, schedule, weight decay, strategy),
`inputs` (`load_data`), `checkpoint`, `callbacks` (timer, graceful interrupt),
`resume` (what a resumed run restores and where it continues), `rundir` (output
directory, log, curves), `lock` (one run per output directory), `memory` (the memory
a run needs, checked up front), `cluster` (multi-worker runs: barrier, lost workers),
`loop` (`train`: single runs, seeds, two steps) and `evaluate`.
"""

from larq_nobn.training.callbacks import EpochTimer, GracefulInterrupt, TrainingInterrupted
from larq_nobn.training.checkpoint import (
    CHECKPOINT_STATE_NAME,
    AtomicCheckpoint,
    DiskFullError,
    read_checkpoint_state,
    save_checkpoint,
)
from larq_nobn.training.cluster import WorkerLost
from larq_nobn.training.config import (
    DEFAULT_AUGMENT,
    DEFAULT_BATCH_SIZE,
    DEFAULT_BINARYNET_WIDTH,
    DEFAULT_DATASET,
    DEFAULT_EPOCHS,
    DEFAULT_LEARNING_RATE,
    DEFAULT_MODEL,
    DEFAULT_NORM,
    DEFAULT_OUTPUT,
    DEFAULT_WEIGHT_DECAY_PATTERN,
    FALLBACK_AGC_CLIP_FACTOR,
    INITS,
    MODELS,
    NORMS,
    OPTIMIZERS,
    RESNET18_VARIANTS,
    SCHEDULES,
    STRATEGIES,
    STRIDE2_PADDINGS,
    WEIGHTS,
    WIDTH_MODELS,
    TrainConfig,
    config_from_recipe,
    is_int,
    is_number,
    known_datasets,
    zoo_agc_settings,
)
from larq_nobn.training.distill import Distiller, distillation_loss
from larq_nobn.training.evaluate import evaluate_model
from larq_nobn.training.inputs import Data, load_data
from larq_nobn.training.lock import OutputLockedError, RunLock
from larq_nobn.training.loop import summarize_seeds, train, verbosity
from larq_nobn.training.memory import check_memory, estimate_memory
from larq_nobn.training.models import (
    build_model,
    clone_with_real_weights,
    compile_model,
    copy_weights_by_name,
    outputs_probabilities,
    parameter_counts,
)
from larq_nobn.training.optim import (
    add_weight_decay,
    make_learning_rate,
    make_optimizer,
    make_strategy,
)
from larq_nobn.training.recipes import RECIPES, Recipe
from larq_nobn.training.resume import RESUMABLE_CHANGES, resume_config
from larq_nobn.training.rundir import plot_curves, prepare_output, read_log

__all__ = [
    "CHECKPOINT_STATE_NAME",
    "DEFAULT_AUGMENT",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BINARYNET_WIDTH",
    "DEFAULT_DATASET",
    "DEFAULT_EPOCHS",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_MODEL",
    "DEFAULT_NORM",
    "DEFAULT_OUTPUT",
    "DEFAULT_WEIGHT_DECAY_PATTERN",
    "FALLBACK_AGC_CLIP_FACTOR",
    "INITS",
    "MODELS",
    "NORMS",
    "OPTIMIZERS",
    "RECIPES",
    "RESNET18_VARIANTS",
    "RESUMABLE_CHANGES",
    "SCHEDULES",
    "STRATEGIES",
    "STRIDE2_PADDINGS",
    "WEIGHTS",
    "WIDTH_MODELS",
    "AtomicCheckpoint",
    "Data",
    "DiskFullError",
    "Distiller",
    "EpochTimer",
    "GracefulInterrupt",
    "OutputLockedError",
    "Recipe",
    "RunLock",
    "TrainConfig",
    "TrainingInterrupted",
    "WorkerLost",
    "add_weight_decay",
    "build_model",
    "check_memory",
    "clone_with_real_weights",
    "compile_model",
    "config_from_recipe",
    "copy_weights_by_name",
    "distillation_loss",
    "estimate_memory",
    "evaluate_model",
    "is_int",
    "is_number",
    "known_datasets",
    "load_data",
    "make_learning_rate",
    "make_optimizer",
    "make_strategy",
    "outputs_probabilities",
    "parameter_counts",
    "plot_curves",
    "prepare_output",
    "read_checkpoint_state",
    "read_log",
    "resume_config",
    "save_checkpoint",
    "summarize_seeds",
    "train",
    "verbosity",
    "zoo_agc_settings",
]
