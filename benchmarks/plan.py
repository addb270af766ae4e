"""The sizes of the reproduction report: `FULL` (`make bench`), `QUICK` (`--quick`) and
`TINY` (the test suite).

Every training run uses Fashion-MNIST resized from 28x28 to 32x32 (`image_size`:
CIFAR's size, the papers' scale, and a multiple of 8 as the authors' VGG needs), batch
128, Adam 1e-3, no augmentation. The widths, epochs and subsets are CPU sizes, far
below the papers' full-width CIFAR runs; `FULL` trains on 10,000 of the 60,000 training
images an epoch (a fresh shuffled draw each epoch) and tests on the first 5,000 of the
10,000 test images.

Budget of `FULL` on 2 cores from an empty run cache, measured by the committed report
(2026-12-06, this project's 2-core machine). The training runs were made in several
invocations, two of them side by side for part of the time (load 2-4); the table sums
each run's own training wall time (`train_seconds` of its `metrics.json`, the authors'
`epoch_seconds`), which overstates what one invocation alone takes, since two runs
sharing the cores each took longer. The other sections ran in one invocation on a
quiet machine (load 1.5-1.7), as the report's header says.

| piece | runs | min |
|---|---:|---:|
| 1. BinaryNet x0.25, 4 norms x 5 seeds x 3 epochs | 20 | 43 |
| 1. ResNet-18 (ABN paper) x0.125, 3 norms x 5 seeds x 3 epochs | 15 | 20 |
| 1. ReActNet-18 x0.125, 3 norms x 5 seeds x 3 epochs | 15 | 24 |
| 1b. BinaryNet bn, `pad_values=0.0`, 3 seeds (1.0: section 1's) | 3 | 10 |
| authors' code: BinaryNet bn, abn; ReActNet-18 bf; 5 seeds each | 15 | 28 |
| authors: the zoo's reference mode (`pad_values=0.0`) of the same 15 (3: 1b's) | 12 | 12 |
| 5. BinaryNet bn, bf x batch 16, 128 x 3 seeds x 2 epochs | 12 | 18 |
| 2-4, 6-8 (gradients 0.1, balance 2.3, cost 6.6, inference 4.9, pipelines 0.1) | | 14 |
| `authors_cost` (with the checkouts) | | 1.6 |
| total | 92 | 171 |

Each zoo run adds about 15 s of building, evaluating and saving to its training time
(section 5: 1,249 s of section wall time for 1,062 s of training), about 20 min for
the 77 zoo runs, so the serial sum of what was measured is about 3.2 hours. Those
training times are inflated where two invocations shared the cores: a BinaryNet x0.25
epoch took 17-21 s alone at load 1 and about 36 s shared (128 s a section-1 BinaryNet
run on average). One invocation alone on a quiet machine is therefore expected to stay
under the 3 hours; it was not measured in one piece. The report is resumable
(`benchmarks.accuracy` and the authors' section cache every finished run, an
interrupted zoo run resumes from its checkpoint), so it can span several invocations.
Without the checkouts it skips the authors' 27 runs (about 40 min). `--quick` from an
empty cache took 6.9 min at load 0.7-1.0 (2026-12-06; accuracy 1.4, cost 2.0,
inference 2.6, without the checkouts); `--quick` trains all three models (the
ResNet-18s with two norms and one seed) and `--tiny` BinaryNet only, at smaller
widths, 1 epoch and fewer seeds.
"""

from __future__ import annotations

import dataclasses

NORMS = ("bn", "abn", "bf", "none")
#: Section 1: each model and the norms it is trained with. Gu et al.'s claims on their
#: own layouts (BinaryNet, the ABN paper's ResNet-18), Chen et al.'s on ReActNet-18,
#: Sari et al.'s on BinaryNet (`none`), with the residual nets as an extension.
GRID = (
    ("binarynet", ("bn", "abn", "bf", "none")),
    ("binary_resnet18", ("bn", "abn", "none")),
    ("reactnet18", ("bn", "bf", "none")),
)
#: The plan's fields of each section-1 model's width and epochs.
MODEL_FIELDS = {
    "binarynet": ("binarynet_width", "binarynet_epochs"),
    "binary_resnet18": ("abn_resnet_width", "abn_resnet_epochs"),
    "reactnet18": ("resnet_width", "resnet_epochs"),
}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every size the report depends on (see the module docstring for the budget).

    # Arguments
        name: `full`, `quick` or `tiny`.
        seeds: Seeds of the accuracy runs (section 1).
        residual_seeds: Seeds of section 1's ResNet-18s (`None`: `seeds`).
        models: Architectures of sections 2 and 4 (`binarynet`, `reactnet18`).
        norms: Variants compared in sections 2-4; section 1 trains those of `grid`
            that are also here.
        grid: Section 1's `(model, norms)` pairs (`GRID`).
        image_size: Side of the images of every training run: Fashion-MNIST resized
            from 28 (32: CIFAR's size, the papers').
        binarynet_width, binarynet_epochs: BinaryNet of section 1 (batch 128, Adam
            1e-3, no augmentation: `accuracy.RECIPE`).
        abn_resnet_width, abn_resnet_epochs: The ABN paper's ResNet-18 of section 1.
        resnet_width, resnet_epochs: ReActNet-18 (CIFAR stem) of section 1.
        max_train_samples, max_test_samples: Subsets of Fashion-MNIST (`None`: all).
        pad_model, pad_norm, pad_seeds: Section 1b, binary padding: this section-1
            variant trained again with `pad_values=0.0` (the references' zeros) for
            these seeds, against its section-1 runs (1.0, LCE's fast form).
        gradient_batch: Images of the one batch of section 2.
        balance_steps, balance_every: Training steps of section 3 and how often the
            fractions are recorded.
        cost_binarynet_width, cost_resnet_width, cost_batch, cost_image, cost_rounds,
            cost_repeats: Section 4 (images `cost_image` x `cost_image` x 3).
        batch_sizes, batch_epochs, batch_train_samples, batch_seeds: Section 5: the
            learning rate scales linearly with the batch size (the recipe's 1e-3 at
            128), so every batch size takes the same epochs over the same images.
        latency_rounds, latency_repeats: Interleaved rounds of section 6's latency and
            interpreter runs per round and candidate.
        splits: The `split_intervals` settings that section 6 converts the abn
            models with beside `"auto"`.
        verify_samples: Test images of section 6's LCE-vs-Keras verification.
        pipeline_rounds, pipeline_batches, pipeline_images: Section 7: interleaved
            rounds (one pass each), Fashion-MNIST batches per pass (`None`: the whole
            split) and generated Tiny ImageNet images.
    """

    name: str
    seeds: tuple = (0, 1, 2, 3, 4)
    residual_seeds: tuple | None = None
    models: tuple = ("binarynet", "reactnet18")
    norms: tuple = NORMS
    grid: tuple = GRID
    image_size: int = 32
    binarynet_width: float = 0.25
    binarynet_epochs: int = 3
    abn_resnet_width: float = 0.125
    abn_resnet_epochs: int = 3
    resnet_width: float = 0.125
    resnet_epochs: int = 3
    max_train_samples: int | None = 10000
    max_test_samples: int | None = 5000
    pad_model: str = "binarynet"
    pad_norm: str = "bn"
    pad_seeds: tuple = (0, 1, 2)
    gradient_batch: int = 64
    balance_steps: int = 300
    balance_every: int = 25
    cost_binarynet_width: float = 1.0
    cost_resnet_width: float = 0.125
    cost_batch: int = 128
    cost_image: int = 32
    cost_rounds: int = 5
    cost_repeats: int = 2
    batch_sizes: tuple = (16, 128)
    batch_epochs: int = 2
    batch_train_samples: int | None = 10000
    batch_seeds: tuple = (0, 1, 2)
    latency_rounds: int = 5
    latency_repeats: int = 20
    splits: tuple = ("bitpacked", "always", "never")
    verify_samples: int = 1000
    pipeline_rounds: int = 3
    pipeline_batches: int | None = None
    pipeline_images: int = 2000
    # Section `authors_cost` (issue 17; only with the authors' checkouts): the zoo vs
    # the authors' PyTorch code, per model family its width (1 / width divides the
    # authors' channel counts), the batch of `authors_cost_image`-pixel RGB images, the
    # alternating rounds, steps per round and side, and the threads of each side.
    # Measured at these sizes: 430 s for the 6 pairs at load 6-8.5, 99 s at load 1.5
    # (2026-12-06, 2 cores).
    authors_cost_binarynet_width: float = 0.25
    authors_cost_resnet18_width: float = 0.25
    authors_cost_reactnet18_width: float = 0.125
    authors_cost_batch: int = 128
    authors_cost_image: int = 32
    authors_cost_rounds: int = 5
    authors_cost_repeats: int = 3
    authors_cost_threads: int = 2

    def replace(self, **changes) -> Plan:
        return dataclasses.replace(self, **changes)

    def width(self, model: str) -> float:
        """Section 1's width of `model` (one of `MODEL_FIELDS`)."""
        return getattr(self, MODEL_FIELDS[model][0])

    def epochs(self, model: str) -> int:
        """Section 1's epochs of `model` (one of `MODEL_FIELDS`)."""
        return getattr(self, MODEL_FIELDS[model][1])

    def model_seeds(self, model: str) -> tuple:
        """Section 1's seeds of `model`: `residual_seeds` for the ResNet-18s if set,
        else `seeds`."""
        if model != "binarynet" and self.residual_seeds is not None:
            return self.residual_seeds
        return self.seeds


FULL = Plan("full")

QUICK = Plan(
    "quick",
    seeds=(0, 1),
    residual_seeds=(0,),
    grid=(GRID[0], ("binary_resnet18", ("bn", "abn")), ("reactnet18", ("bn", "bf"))),
    binarynet_width=0.125,
    binarynet_epochs=1,
    abn_resnet_width=0.0625,
    abn_resnet_epochs=1,
    resnet_width=0.0625,
    resnet_epochs=1,
    pad_seeds=(0,),
    max_train_samples=2000,
    max_test_samples=1000,
    gradient_batch=32,
    balance_steps=30,
    balance_every=10,
    cost_binarynet_width=0.25,
    cost_resnet_width=0.0625,
    cost_batch=32,
    cost_rounds=3,
    cost_repeats=1,
    batch_epochs=1,
    batch_train_samples=1000,
    batch_seeds=(0,),
    latency_rounds=3,
    latency_repeats=5,
    verify_samples=200,
    pipeline_rounds=2,
    pipeline_batches=50,
    pipeline_images=400,
    authors_cost_batch=32,  # authors_cost (issue 17): smaller batch, 3 rounds of 1 step
    authors_cost_rounds=3,
    authors_cost_repeats=1,
)

TINY = QUICK.replace(
    name="tiny",
    seeds=(0,),
    models=("binarynet",),
    norms=("bn", "abn", "none"),
    grid=GRID[:1],
    binarynet_width=0.0625,
    resnet_width=0.03125,
    max_train_samples=256,
    max_test_samples=256,
    gradient_batch=16,
    balance_steps=6,
    balance_every=3,
    cost_binarynet_width=0.0625,
    cost_resnet_width=0.03125,
    cost_batch=8,
    cost_image=28,
    cost_rounds=2,
    batch_sizes=(8, 32),
    batch_train_samples=128,
    latency_rounds=2,
    latency_repeats=1,
    splits=("bitpacked",),
    verify_samples=32,
    pipeline_batches=2,
    pipeline_images=40,
    authors_cost_binarynet_width=0.0625,  # authors_cost (issue 17): narrower, batch 8
    authors_cost_resnet18_width=0.125,
    authors_cost_reactnet18_width=0.125,
    authors_cost_batch=8,
)

PLANS = {plan.name: plan for plan in (FULL, QUICK, TINY)}
