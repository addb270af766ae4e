"""The torch side of `benchmarks.authors.cost`: a worker process (`timing.serve`) that
builds the authors' models (`torch_models.build`, narrowed) and times their training
steps, as their training scripts run them.

    <python with torch> benchmarks/authors/torch_worker.py THREADS

A step is `zero_grad`, forward, `cross_entropy` (the criterion of both training
scripts: gushan/ABN main_binary.py's `nn.CrossEntropyLoss` on the model's output,
BNN_NoBN train.py's on the logits), backward, AGC when the spec asks for it (BNN_NoBN's
`adaptive_clip_grad` on every parameter whose name lacks "fc", from the checkout's
`agc.py`) and `torch.optim.Adam.step()`, on a fixed random batch.
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import timing  # noqa: E402
from benchmarks.authors import torch_models  # noqa: E402


def make_step(spec: dict):
    """The training step of `spec`: `{"repo", "root", "file", "factory", "kwargs",
    "divider", "batch", "size", "learning_rate", "agc"}` (`agc`: the clip factor, or
    `None`)."""
    torch.manual_seed(0)
    model = torch_models.build(spec["repo"], spec["root"], spec["file"], spec["factory"],
                               spec["kwargs"], spec["divider"], size=spec["size"])
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["learning_rate"])
    clipped = None
    if spec["agc"] is not None:
        agc = torch_models.load_file("nobnref_agc", Path(spec["root"]) / "agc.py")
        clipped = torch_models.agc_parameters(model)
    x = torch.randn(spec["batch"], 3, spec["size"], spec["size"])
    y = torch.randint(0, torch_models.NUM_CLASSES, (spec["batch"],))

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clipped is not None:
            agc.adaptive_clip_grad(clipped, clip_factor=spec["agc"])
        optimizer.step()
        return loss.item()

    return step


def main(argv=None):
    threads = int((argv or sys.argv[1:])[0])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    timing.serve(make_step)


if __name__ == "__main__":
    main()
