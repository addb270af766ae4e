"""Adaptive gradient clipping (AGC) as a wrapper around any tf-keras optimizer.

AGC clips the gradient of every *unit* of a parameter (an output channel of a conv
kernel, an output unit of a dense kernel, the whole tensor for biases and other
vectors, except the per-output gain of the ScaledWS layers, which declare each element
its own unit) relative to the norm of the parameter itself:

```
max_norm = clip_factor * max(||W_unit||_2, eps)
G_unit <- G_unit * max_norm / max(||G_unit||_2, 1e-6)   if ||G_unit||_2 >= max_norm
```

It is what lets normalizer-free networks (NFNets) and the BN-free binary networks of
"BNN - BN = ?" train with large learning rates without exploding gradients.

!!! example
    ```python
    import larq_nobn

    model = ...  # e.g. a BN-free binary network
    optimizer = larq_nobn.AGC(
        larq_nobn.optimizers.Adam(5e-4),  # torch.optim.Adam's update
        clip_factor=0.02,
        exclude=larq_nobn.optimizers.exclude_head(model),  # never clip the classifier
    )
    model.compile(optimizer, loss="sparse_categorical_crossentropy")
    ```

Gradients are clipped after they are summed over replicas (`tf.distribute`) and after
loss-scale unscaling (`tf.keras.mixed_precision.LossScaleOptimizer` wraps the AGC
optimizer, which `model.compile` does by itself under a `mixed_float16` policy), i.e.
exactly once per step on the gradient of the global batch.

`Adam` is `tf.keras.optimizers.Adam` with PyTorch's epsilon placement (after the bias
correction) and an optional restart every N steps (gushan/ABN re-creates its Adam at
every epoch).
"""

from larq_nobn.optimizers.adam import Adam
from larq_nobn.optimizers.agc import AGC, innermost_optimizer
from larq_nobn.optimizers.clipping import (
    GRAD_NORM_FLOOR,
    adaptive_clip,
    default_unit_axes,
    exclude_head,
    exclude_layers,
    set_unit_axes,
)
from larq_nobn.optimizers.wrappers import AGCOptimizer, LegacyAGCOptimizer

import tensorflow as tf

# Registered after the concrete wrappers, so that the name "larq_nobn>AGC" resolves to
# the dispatching class while both wrappers serialize under that name.
tf.keras.utils.register_keras_serializable(package="larq_nobn", name="AGC")(AGC)

__all__ = [
    "AGC",
    "Adam",
    "AGCOptimizer",
    "GRAD_NORM_FLOOR",
    "LegacyAGCOptimizer",
    "adaptive_clip",
    "default_unit_axes",
    "exclude_head",
    "exclude_layers",
    "innermost_optimizer",
    "set_unit_axes",
]
