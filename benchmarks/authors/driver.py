"""Train one of the authors' PyTorch models like a section-1 zoo run (needs torch).

    python -m benchmarks.authors.driver '<spec JSON>'

Run by `benchmarks.authors.section` in the torch interpreter. The spec holds the
variant (checkout, module file, factory, what the model returns), the zoo run's recipe
(`section.recipe`), the divider, the `.npz` of `section.export_data` and the
`output_path`. The loop is ours; the model, its layers and (for AGC) `agc.py`'s
`adaptive_clip_grad` are the authors', imported from the checkout:

- weights initialised after `torch.manual_seed(seed)` (with `init_channels`, gushan/ABN's
  VGG first layer redrawn as a layer of that many input channels:
  `torch_models.init_as_channels`); each epoch a permutation of the
  training images from a `torch.Generator` seeded with `seed`, of which the first
  `max_train_samples` (rounded up to whole batches, as the zoo's runs) are trained on;
- the loss: cross-entropy of the logits (BNN_NoBN), the negative log-likelihood of
  the log-probabilities (gushan/ABN's VGG ends in `LogSoftmax`; their `main_binary.py`
  applies `CrossEntropyLoss` to it, which is the same number since `log_softmax` of
  log-probabilities is the identity);
- `torch.optim.Adam` (epsilon after the bias correction, as the zoo's default), the
  weight decay on the parameters of rank 4 or named "conv" (BNN_NoBN's `train.py`),
  AGC on every parameter whose name lacks "fc" (theirs), the learning rate constant or
  `1 - (e + 1) / epochs` in epoch `e` (`linear_epoch`), Adam re-created every epoch
  with `adam_reset_each_epoch` (gushan/ABN's `adjust_optimizer`);
- test accuracy on the first `max_test_samples` test images after every epoch.

The result is written to `output_path` (atomically) only when the run is done.
"""

import json
import math
import os
import sys
import time
from pathlib import Path

from benchmarks.authors import torch_models

import numpy as np
import torch
import torch.nn.functional as F


def load_arrays(path, max_test_samples, channels):
    """Train and test images (NCHW, zero channels appended up to `channels`: see
    `torch_models.model_channels`) and labels."""
    arrays = np.load(path)

    def to_torch(images):  # NCHW with NCHW strides (1 channel is ambiguous otherwise)
        nchw = torch.from_numpy(images).permute(0, 3, 1, 2)
        nchw = nchw.clone(memory_format=torch.contiguous_format)
        return torch_models.pad_channels(nchw, channels)

    test = slice(None, max_test_samples)
    return (to_torch(arrays["x_train"]), torch.from_numpy(arrays["y_train"].astype(np.int64)),
            to_torch(arrays["x_test"][test]),
            torch.from_numpy(arrays["y_test"][test].astype(np.int64)))


def learning_rate(spec, epoch):
    """The learning rate of `epoch` (0-based): constant, or `1 - (epoch + 1) / epochs`
    of it with `linear_epoch`."""
    if spec["schedule"] == "linear_epoch":
        return spec["learning_rate"] * (1 - (epoch + 1) / spec["epochs"])
    return spec["learning_rate"]


def make_optimizer(model, spec, epoch):
    return torch.optim.Adam(torch_models.adam_groups(model, spec["weight_decay"]),
                            lr=learning_rate(spec, epoch))


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            output = model(x[start:start + batch])
            correct += int((output.argmax(1) == y[start:start + batch]).sum())
    return correct / len(x)


def train_epoch(model, spec, optimizer, agc, images, labels, generator):
    """One epoch; returns the mean training loss."""
    batch = spec["batch_size"]
    order = torch.randperm(len(images), generator=generator)
    if spec.get("max_train_samples"):
        order = order[:math.ceil(spec["max_train_samples"] / batch) * batch]
    loss_of = F.nll_loss if spec["output"] == "log_softmax" else F.cross_entropy
    clipped = torch_models.agc_parameters(model)
    model.train()
    losses = []
    for start in range(0, len(order), batch):
        index = order[start:start + batch]
        loss = loss_of(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        if spec["agc_clip_factor"] > 0:
            agc.adaptive_clip_grad(clipped, clip_factor=spec["agc_clip_factor"])
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses)), len(order)


def train(spec):
    torch.set_num_threads(spec["threads"])
    channels = torch_models.model_channels(spec["file"], 1)
    x_train, y_train, x_test, y_test = load_arrays(spec["data"], spec["max_test_samples"],
                                                   channels)
    torch.manual_seed(spec["seed"])
    model = torch_models.build(spec["repo"], spec["checkout"], spec["file"], spec["factory"],
                               spec["kwargs"], spec["divider"], input_channels=channels,
                               size=spec["image_size"],
                               init_channels=spec.get("init_channels"))
    agc = torch_models.load_file("nobnref_agc", Path(spec["nobn_checkout"]) / "agc.py")
    generator = torch.Generator().manual_seed(spec["seed"])
    optimizer = make_optimizer(model, spec, 0)
    curve, losses, seconds, cpu = [], [], [], []
    for epoch in range(spec["epochs"]):
        if epoch and (spec["adam_reset_each_epoch"] or spec["schedule"] != "constant"):
            optimizer = make_optimizer(model, spec, epoch) if spec[
                "adam_reset_each_epoch"] else set_lr(optimizer, spec, epoch)
        start, start_cpu = time.perf_counter(), time.process_time()
        loss, images = train_epoch(model, spec, optimizer, agc, x_train, y_train, generator)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        losses.append(loss)
        curve.append(evaluate(model, x_test, y_test))
        print(f"epoch {epoch + 1}: loss {loss:.4f}, test accuracy {curve[-1]:.4f}, "
              f"{seconds[-1]:.1f} s ({cpu[-1]:.1f} s CPU)", flush=True)
    return {"last": curve[-1], "best": max(curve), "test_accuracy": curve,
            "train_loss": losses, "epoch_seconds": seconds, "epoch_cpu_seconds": cpu,
            "images_per_epoch": images,
            "test_images": len(x_test), "torch": torch.__version__,
            "parameters": sum(p.numel() for p in model.parameters())}


def set_lr(optimizer, spec, epoch):
    """`optimizer` (its moments kept) with the learning rate of `epoch`."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(spec, epoch)
    return optimizer


def main(argv=None):
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    result = train(spec)
    path = Path(spec["output_path"])
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(partial, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
