"""The sizes of the reproduction report: `FULL` (`make bench`), `QUICK` (`--quick`) and
`TINY` (the test suite).

Budget of `FULL` on 2 cores, measured: the committed report (2026-11-30) ran from an
empty run cache in 91 minutes, as two invocations of the same command (the first, 34
minutes, was stopped to update the export code; the second, 57 minutes, read its 8
finished runs back and resumed the ninth from its checkpoint), with other jobs on the
machine part of the time (load average 2.6-4):

| piece | min |
|---|---:|
| 1. BinaryNet x0.25, 4 norms x 3 seeds x 3 epochs (~4-6.5 min a run) | ~60 |
| 1. ReActNet-18 x0.125, 4 norms x 3 seeds x 1 epoch (~1-2.5 min a run) | ~18 |
| 2. gradient norms at init, 8 models x 1 batch | 0.1 |
| 3. activation balance, bn and abn x 300 steps | 2.2 |
| 4. step times, 5 variants x 2 models, 5 interleaved rounds | 4.0 |
| 5. batch 8 vs 128, bf and bn, 30,000 images, 1 epoch | 4.4 |
| 6. 8 trained models, 2 conversions + float TFLite, latency at 1 and 2 threads | 2.6 |

Added since and not yet in a full run: section 4's `bn+xla` and `larq` candidates (2
more interleaved candidates per model, plus XLA's compile), section 6's three more
`split_intervals` conversions of the abn models and the verification of every
conversion on `verify_samples` test images, and section 7 (input pipelines, 4 pipelines x
`pipeline_rounds` passes). The next full run measures them (`section_seconds` in
`results.json`).

`--binarynet-epochs 2` shortens section 1 by about a third (its runs get their own
cache keys, so it does not reuse the 3-epoch runs).
"""

from __future__ import annotations

import dataclasses

NORMS = ("bn", "abn", "bf", "none")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every size the report depends on (see the module docstring for the budget).

    # Arguments
        name: `full`, `quick` or `tiny`.
        seeds: Seeds of the accuracy runs (section 1).
        models: Architectures of sections 1, 2, 4 and 6 (`binarynet`, `reactnet18`).
        norms: Variants compared in every section.
        binarynet_width, binarynet_epochs: BinaryNet of section 1 (3, batch 128, Adam
            1e-3, no augmentation: the issue's recipe and the cache's).
        resnet_width, resnet_epochs: ReActNet-18 of section 1.
        max_train_samples, max_test_samples: Subsets of Fashion-MNIST (`None`: all).
        gradient_batch: Images of the one batch of section 2.
        balance_steps, balance_every: Training steps of section 3 and how often the
            fractions are recorded.
        cost_binarynet_width, cost_resnet_width, cost_batch, cost_image, cost_rounds,
            cost_repeats: Section 4 (images `cost_image` x `cost_image` x 3).
        batch_sizes, batch_epochs, batch_train_samples: Section 5.
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
    seeds: tuple = (0, 1, 2)
    models: tuple = ("binarynet", "reactnet18")
    norms: tuple = NORMS
    binarynet_width: float = 0.25
    binarynet_epochs: int = 3
    resnet_width: float = 0.125
    resnet_epochs: int = 1
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    gradient_batch: int = 64
    balance_steps: int = 300
    balance_every: int = 25
    cost_binarynet_width: float = 1.0
    cost_resnet_width: float = 0.125
    cost_batch: int = 128
    cost_image: int = 32
    cost_rounds: int = 5
    cost_repeats: int = 2
    batch_sizes: tuple = (8, 128)
    batch_epochs: int = 1
    batch_train_samples: int | None = 30000
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
    # Measured at these sizes: 430 s for the 6 pairs (2026-12-06, 2 cores, load 6-8.5).
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


FULL = Plan("full")

QUICK = Plan(
    "quick",
    seeds=(0, 1),
    binarynet_width=0.125,
    binarynet_epochs=1,
    resnet_width=0.0625,
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
    batch_train_samples=1000,
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
