"""Small helpers shared by the tests: LCE flatbuffer inspection and tiny models."""

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema


def op_names(flatbuffer):
    """Operator names of the main subgraph, custom ops by their custom code."""
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    graph = model.Subgraphs(0)
    names = []
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        custom = code.CustomCode()
        if custom:
            names.append(custom.decode())
        else:
            names.append(builtin[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return names


def randomize_non_kernel_weights(model, seed=0):
    """Give gains, thresholds, shifts and norm statistics non-trivial values, so that a
    conversion test cannot pass just because they sit at their initial values."""
    rng = np.random.RandomState(seed)
    for weight in model.weights:
        name = weight.name
        shape = weight.shape
        if any(k in name for k in ("gain", "gamma", "moving_variance", "slope")):
            weight.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif any(k in name for k in ("threshold", "beta", "moving_mean", "shift")):
            weight.assign(rng.uniform(-0.3, 0.3, shape).astype("float32"))


def io_tensors(flatbuffer):
    """`(inputs, outputs)` of the main subgraph, each a list of `(type name, scale,
    zero point)`; scale and zero point are `None` for unquantized tensors."""
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    types = {v: k for k, v in vars(schema.TensorType).items() if k.isupper()}
    graph = model.Subgraphs(0)

    def describe(index):
        tensor = graph.Tensors(index)
        quantization = tensor.Quantization()
        if quantization is None or quantization.ScaleLength() == 0:
            return types[tensor.Type()], None, None
        return types[tensor.Type()], quantization.Scale(0), quantization.ZeroPoint(0)

    inputs = [describe(graph.Inputs(i)) for i in range(graph.InputsLength())]
    outputs = [describe(graph.Outputs(i)) for i in range(graph.OutputsLength())]
    return inputs, outputs


def tensor_quantization(flatbuffer, operator_index):
    """`(scale, zero point)` of the first output tensor of an operator."""
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    graph = model.Subgraphs(0)
    tensor = graph.Tensors(graph.Operators(operator_index).Outputs(0))
    quantization = tensor.Quantization()
    return quantization.Scale(0), quantization.ZeroPoint(0)
