"""Regenerate the golden fixture of BNN_NoBN's distillation teacher (issue 16).

VITA-Group/BNN_NoBN's `train.py` distils from torchvision's `models.resnet34`, its
`fc` replaced by `nn.Linear(512, classes)`, in eval mode. This script builds
torchvision's own `resnet34(num_classes=10)` (imported from the installed torchvision,
never copied), narrowed at run time by dividing every channel count by `DIVIDER`
(`benchmarks.authors.torch_models.patch_widths` on torchvision's `resnet` module, as
the zoo's `width_multiplier = 1 / DIVIDER` does), seeds its `state_dict` as
`make_fixtures.seed_weights` does (float16 values, BN running statistics included),
and saves `tests/reference/fixtures/resnet34_teacher.npz`:

- `weight/<name>`: the `state_dict` under torchvision's names (`conv1.weight`,
  `bn1.running_var`, `layer2.0.downsample.0.weight`, ..., `fc.bias`);
- `input` (NCHW, float16 values, 32x32) and `eval_output`: the eval-mode logits;
- `input_odd` and `eval_output_odd`: the same at an odd size (45x37), where every
  stride-2 layer pads both sides;
- `meta`: a JSON string (sizes, divider, seed, versions).

    /work/torchenv/bin/python tests/reference/make_teacher_fixture.py \
        --out tests/reference/fixtures
"""

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.authors import torch_models  # noqa: E402

from make_fixtures import seed_weights  # noqa: E402

NAME = "resnet34_teacher"
DIVIDER = 16
NUM_CLASSES = 10
BATCH = 4
SIZE = 32
ODD_BATCH = 2
ODD_SIZE = (45, 37)
SEED = 34


def torchvision_resnet():
    """torchvision's `models.resnet` module. Where torchvision's compiled operators do
    not match the installed torch (`operator torchvision::nms does not exist`), its
    operator registrations, which the models do not use, are skipped."""
    try:
        from torchvision.models import resnet
    except RuntimeError:
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        stub = "torchvision._meta_registrations"
        sys.modules[stub] = types.ModuleType(stub)
        from torchvision.models import resnet
    return resnet


def build(divider=DIVIDER):
    """torchvision's `resnet34(num_classes=NUM_CLASSES)`, channels divided by
    `divider`."""
    resnet = torchvision_resnet()
    torch_models.patch_widths(resnet, divider)
    return resnet.resnet34(num_classes=NUM_CLASSES)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    rng = np.random.RandomState(SEED)
    model = build()
    weights = seed_weights(model, rng)
    x = rng.normal(0, 1, (BATCH, 3, SIZE, SIZE)).astype(np.float16)
    x_odd = rng.normal(0, 1, (ODD_BATCH, 3, *ODD_SIZE)).astype(np.float16)
    store = {f"weight/{k}": v for k, v in weights.items()}
    model.eval()
    with torch.no_grad():
        for key, batch in (("", x), ("_odd", x_odd)):
            store[f"input{key}"] = batch
            logits = model(torch.from_numpy(batch.astype(np.float32)))
            store[f"eval_output{key}"] = logits.numpy().copy()
    import torchvision

    meta = dict(
        variant=NAME, model="torchvision.models.resnet34", num_classes=NUM_CLASSES,
        width_divider=DIVIDER, batch=BATCH, size=SIZE, odd_size=list(ODD_SIZE),
        seed=SEED, torch=torch.__version__, torchvision=torchvision.__version__,
        output="logits", mode="eval",
    )
    store["meta"] = np.array(json.dumps(meta, sort_keys=True))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{NAME}.npz"
    np.savez_compressed(path, **store)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
