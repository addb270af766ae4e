"""Building blocks shared by the zoo: norm selection and the variance bookkeeping of
BN-free residual networks.

Every zoo model takes `norm` in `NORMS`:

- `"bn"`: the published architecture with `BatchNormalization`;
- `"abn"`: every `BatchNormalization` of the binary body replaced by `larq_nobn.ABN`;
- `"bf"`: BN-free as in "BNN - BN = ?": no normalization layer, ScaledWS convolutions,
  fixed residual scalars (see `ExpectedVariance`) and learned sign thresholds; trained
  with `larq_nobn.AGC`;
- `"none"`: the `"bn"` model with every normalization layer deleted (an ablation that
  trains badly, Sari et al. 2019).
"""

import math

import tensorflow as tf

from larq_nobn.normalization import ABN

__all__ = ["NORMS", "ExpectedVariance", "check_norm", "normalize"]

NORMS = ("bn", "abn", "bf", "none")

#: Momentum and epsilon of every normalization layer in the zoo: PyTorch's defaults
#: (momentum 0.1 there), which the reference implementations use.
NORM_MOMENTUM = 0.9
NORM_EPSILON = 1e-5


def check_norm(norm):
    """Return `norm` if it is one of `NORMS`, else raise a ValueError listing them."""
    if norm not in NORMS:
        raise ValueError(
            f"Unknown norm {norm!r}: accepted values are {', '.join(map(repr, NORMS))}."
        )
    return norm


def normalize(x, norm, name=None, *, head=False):
    """Apply the normalization layer of variant `norm` to `x`.

    # Arguments
        x: Input tensor (functional API).
        norm: One of `NORMS`.
        name: Name of the normalization layer.
        head: True for the classifier's normalization: `"abn"` keeps a plain
            `BatchNormalization` there, as the ABN reference code does (ABN's sigmoid
            attention is meant for the input of a sign, not for logits).

    # Returns
        `x` normalized with `BatchNormalization` (`"bn"`, and `"abn"` in the head),
        `ABN` (`"abn"`), or `x` itself (`"bf"`, `"none"`).
    """
    check_norm(norm)
    if norm == "bn" or (norm == "abn" and head):
        layer = tf.keras.layers.BatchNormalization(
            momentum=NORM_MOMENTUM, epsilon=NORM_EPSILON, name=name
        )
    elif norm == "abn":
        layer = ABN(momentum=NORM_MOMENTUM, epsilon=NORM_EPSILON, name=name)
    else:
        return x
    return layer(x)


class ExpectedVariance:
    r"""Tracks the expected variance of the residual stream of a BN-free network.

    In "BNN - BN = ?" (following NFNets) each residual branch is added with a fixed
    weight \\(\alpha\\), so the variance of the stream grows by \\(\alpha^2\\) per
    addition; a branch's input is multiplied by \\(\beta = 1/\sqrt{\text{expected
    variance}}\\) so the branch sees unit variance. A transition (stride-2) block resets
    the expected variance to 1.

    ```python
    variance = ExpectedVariance(alpha=0.2)
    beta1 = variance.beta      # 1.0
    variance.add_branch()      # variance 1.04
    beta2 = variance.beta      # 0.9806
    ```

    # Arguments
        alpha: The residual branch weight (0.2 in the paper).
    """

    def __init__(self, alpha=0.2):
        if not alpha > 0:
            raise ValueError(f"`alpha` must be > 0, got {alpha!r}.")
        self.alpha = float(alpha)
        self.variance = 1.0

    @property
    def beta(self):
        """\\(1/\\sqrt{\\text{expected variance}}\\) of the stream now."""
        return 1.0 / math.sqrt(self.variance)

    def add_branch(self):
        """Account for one residual addition of a branch weighted by `alpha`."""
        self.variance += self.alpha**2

    def reset(self):
        """Back to unit variance (after a transition block)."""
        self.variance = 1.0
