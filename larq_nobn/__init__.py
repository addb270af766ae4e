"""larq-nobn: binary neural networks without batch normalization, or with a better one."""

from larq_nobn._keras2 import ensure_keras2

ensure_keras2()

__version__ = "0.1.0"
