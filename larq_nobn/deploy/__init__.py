"""Deployment with Larq Compute Engine (LCE): convert, inspect, verify and benchmark.

The four steps of getting a trained binary network onto an ARM device, each a function
returning a small result object that prints as a readable report (`to_text()`) and
serializes to JSON (`to_dict()`):

- `convert`: a Keras model (or a `.keras` / `.h5` / SavedModel path, loaded in safe
  mode) to an LCE flatbuffer, with an `OpReport` (`inspect_flatbuffer`) and a
  `SizeReport` (`size_report`); float32 or int8 inputs and outputs
  (`inference_input_type`, `inference_output_type`, `experimental_default_int8_range`).
- `inspect_flatbuffer`: the op histogram of a flatbuffer: how many `LceBconv2d`, how
  many of them write bitpacked output, which float ops remain and the Keras layers they
  come from, and a warning for every binary Keras layer that did not become a binary
  op, with the reason from LCE's conversion rules; the input and output types and the
  int8 QUANTIZE / DEQUANTIZE ops (`EdgeReport`).
- `verify`: LCE's interpreter against `keras_model.predict` on the same inputs (int8
  inputs quantized, int8 outputs dequantized).
- `benchmark`: host latency of the LCE model and, when the Keras model is known, of
  the same network as a plain float TFLite model.

One module per concern:

| module | holds |
|---|---|
| `errors` | `DeployError` and the exit statuses |
| `formats` | file kinds by their first bytes |
| `loading` | safe loading of Keras model files (`load_keras_model`) |
| `flatbuffer` | checking, reading and parsing TFLite flatbuffers |
| `conversion_rules` | the targets and which Keras layers LCE makes binary |
| `int8_edges` | input/output types, the int8 range, `EdgeReport`, (de)quantization |
| `op_report` | `inspect_flatbuffer` and `OpReport` |
| `size` | `size_report` and `SizeReport` |
| `saving` | atomic writes of flatbuffers and JSON reports |
| `sign_forms` | the exact per-channel sign of ABN (`abn_sign_form`, `SignForm`) |
| `..export_layers` | `SignAffine`, `SignInterval` (kept out of `deploy`: see there) |
| `export_graph` | the editable layer graph of the export |
| `export` | `prepare_for_lce` and `ExportReport`: the exact, cheaper graph LCE converts |
| `conversion` | `convert`, `convert_float` and `ConversionResult` |
| `verification` | `verify`, `load_verification_data` and `VerificationResult` |
| `benchmarking` | `benchmark`, `BenchmarkResult` and `LatencyStats` |

The `larq-nobn convert` and `larq-nobn benchmark` subcommands are
`larq_nobn.cli.convert` and `larq_nobn.cli.benchmark`; they return the exit status
(`EXIT_OK`, `EXIT_VERIFICATION_FAILED`, `EXIT_BAD_INPUT`).

!!! warning
    LCE's Python interpreter runs LCE's portable C++ kernels on x86; its optimized
    kernels are for 64-bit ARM. Host latencies say nothing about a Raspberry Pi or a
    phone: see `examples/deploy/README.md` for running `lce_benchmark_model` there.
"""

from larq_nobn.deploy.benchmarking import (
    BenchmarkResult,
    LatencyStats,
    benchmark,
    host_description,
)
from larq_nobn.deploy.conversion import ConversionResult, convert, convert_float
from larq_nobn.deploy.conversion_rules import TARGETS
from larq_nobn.deploy.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_VERIFICATION_FAILED,
    DeployError,
)
from larq_nobn.deploy.export import ExportReport, LayerRewrite, prepare_for_lce
from larq_nobn.deploy.flatbuffer import check_flatbuffer, read_flatbuffer
from larq_nobn.deploy.int8_edges import (
    INFERENCE_TYPES,
    EdgeReport,
    EdgeTensor,
    QuantizeOp,
    dequantize,
    edge_report,
    quantize,
)
from larq_nobn.deploy.loading import UNSAFE_FLAG, load_keras_model, unsafe_loading
from larq_nobn.deploy.op_report import (
    BinaryConvOp,
    FloatOp,
    LayerStatus,
    OpReport,
    inspect_flatbuffer,
)
from larq_nobn.deploy.size import SizeReport, ideal_size, size_report
from larq_nobn.deploy.verification import (
    DEFAULT_AGREEMENT_THRESHOLD,
    VerificationResult,
    load_verification_data,
    verify,
)
from larq_nobn.export_layers import SignAffine, SignInterval

__all__ = [
    "DEFAULT_AGREEMENT_THRESHOLD",
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_VERIFICATION_FAILED",
    "INFERENCE_TYPES",
    "TARGETS",
    "UNSAFE_FLAG",
    "BenchmarkResult",
    "BinaryConvOp",
    "ConversionResult",
    "DeployError",
    "EdgeReport",
    "EdgeTensor",
    "ExportReport",
    "FloatOp",
    "LatencyStats",
    "LayerRewrite",
    "LayerStatus",
    "OpReport",
    "QuantizeOp",
    "SignAffine",
    "SignInterval",
    "SizeReport",
    "VerificationResult",
    "benchmark",
    "check_flatbuffer",
    "convert",
    "convert_float",
    "dequantize",
    "edge_report",
    "host_description",
    "ideal_size",
    "inspect_flatbuffer",
    "load_keras_model",
    "load_verification_data",
    "prepare_for_lce",
    "quantize",
    "read_flatbuffer",
    "size_report",
    "unsafe_loading",
    "verify",
]
