"""Datasets of the papers as fast, deterministic `tf.data` pipelines.

```python
import larq_nobn
from larq_nobn import data

train = data.load("fashion_mnist", "train", batch_size=128, training=True, seed=0)
test = data.load("fashion_mnist", "test", batch_size=256, training=False)
data.info("fashion_mnist").num_classes  # 10
```

Every pipeline yields batches `(images, labels)`: `float32` images of shape
`(batch, height, width, channels)` and `int64` labels of shape `(batch,)`.

# Datasets
| name | source | classes | image | train | test |
| --- | --- | --- | --- | --- | --- |
| `fashion_mnist` | `dataset-fashion-mnist` IDX files, else tfds | 10 | 28x28x1 | 60,000 | 10,000 |
| `cifar10` | tensorflow-datasets | 10 | 32x32x3 | 50,000 | 10,000 |
| `cifar100` | tensorflow-datasets | 100 | 32x32x3 | 50,000 | 10,000 |
| `imagenet2012` | tensorflow-datasets (manual download) | 1000 | 224x224x3 | 1,281,167 | 50,000 |
| `tiny_imagenet` | `tiny-imagenet-200` folder | 200 | 64x64x3 | 100,000 | 10,000 |

For `imagenet2012` and `tiny_imagenet` the `"test"` split is the official validation
set (their test labels are not public), as in the papers.

# Splits
`"train"`, `"test"` and `"validation"`. No dataset has an official validation split
apart from its test set, so `"validation"` is the *last* `validation_split` fraction of
the training examples and `"train"` then excludes them: pass the same
`validation_split` to both calls. With `validation_split=0` (the default, the papers'
protocol) `"train"` is the whole training set and `"validation"` is an error.
The held-out examples are always the same ones (the training order of
`tiny_imagenet`'s files is a fixed permutation, the other datasets are stored
shuffled already), whatever `seed` is.

# Augmentation (training only; evaluation is deterministic)
- 28x28, 32x32 and 64x64 images (`fashion_mnist`, `cifar10`, `cifar100`,
  `tiny_imagenet`): zero-pad 4 pixels on every side, random crop back to the original
  size, random horizontal flip (Fashion-MNIST is flipped too: its classes, clothes,
  are mirror-symmetric). Done on whole batches at once, which is much faster than
  per image.
- `imagenet2012`: random resized crop (area 8 %-100 % of the image, aspect ratio
  3/4-4/3, `tf.image.stateless_sample_distorted_bounding_box` with 10 attempts, else
  the whole image) decoded straight from the JPEG and resized to `image_size` (224),
  horizontal flip, and AlexNet's PCA lighting noise (`alphastd=0.1`, the standard
  ImageNet eigenvalues and eigenvectors) at VITA-Group/BNN_NoBN's scale (dataset.py
  `Lighting`: the offset for `[0, 1]` pixels, about 0.01, added to the uint8 pixels
  and truncated, so a channel loses at most one level). Evaluation resizes the shorter side to
  `round(image_size / 0.875)` (256) and crops the center `image_size` square.

# Normalization
`normalize=True` (or `"standardize"`) maps a pixel `p` in `[0, 255]` to
`(p / 255 - mean) / std` with the per-channel constants of `DatasetInfo.mean` and
`DatasetInfo.std` (training-set statistics: Fashion-MNIST's were measured on its 60,000
training images; CIFAR's, Tiny ImageNet's and ImageNet's are the commonly published
ones). `"symmetric"` maps to `[-1, 1]` (`p / 127.5 - 1`), `"unit"` to `[0, 1]`, and
`False` (or `"none"`) keeps `[0, 255]`.

# Randomness
With a `seed`, everything random (shuffling, crops, flips, lighting) is a function of
that seed: two pipelines built with the same arguments yield the same batches, epoch
after epoch (each new iteration over the dataset, i.e. each Keras epoch, reshuffles and
redraws the augmentations, deterministically). The random draws are stateless and tied
to the position in the stream, so parallel mapping does not change them.

# Errors
Missing data raises `DatasetNotFoundError` (a `FileNotFoundError`) whose message says
how to get it; malformed files raise `CorruptDatasetError` (a `ValueError`); both are
`DatasetError`s. Bad arguments raise `ValueError` naming the accepted values.

# Downloads
tensorflow-datasets is asked to download only when the data is not prepared in its
`data_dir` yet and `download=True`, and only after a quick check (a few seconds at
most) that the dataset's download server can be reached: offline, tfds would otherwise
retry for minutes before failing. Behind a proxy (`HTTPS_PROXY`, ...) the check is
skipped. ImageNet cannot be downloaded: tfds prepares it from the archives in
`manual_dir`.

# Modules
`registry` (`DATASETS`, `DatasetInfo`, `info`), `loader` (`load`), `pipelines`
(`from_arrays`, the Tiny ImageNet and ImageNet pipelines), `augment`, `normalize`,
`splits`, the sources `fashion_mnist` (with the IDX reader `idx`), `tfds_source` and
`tiny_imagenet`, and `errors`.
"""

from larq_nobn.data.augment import (
    CENTER_CROP_FRACTION,
    IMAGENET_EIGVAL,
    IMAGENET_EIGVEC,
    lighting,
    random_crop_and_flip,
    random_resized_crop,
    resize_and_center_crop,
    sample_crop_window,
)
from larq_nobn.data.errors import (
    CorruptDatasetError,
    DatasetError,
    DatasetHelp,
    DatasetNotFoundError,
)
from larq_nobn.data.fashion_mnist import (
    FASHION_MNIST_DIR,
    FASHION_MNIST_ENV,
    FASHION_MNIST_FILES,
    fashion_mnist_arrays,
)
from larq_nobn.data.idx import read_idx, read_idx_header
from larq_nobn.data.loader import load
from larq_nobn.data.normalize import NORMALIZATIONS, normalize_images
from larq_nobn.data.pipelines import from_arrays
from larq_nobn.data.registry import DATASETS, DatasetInfo, info
from larq_nobn.data.splits import SPLITS
from larq_nobn.data.tiny_imagenet import TINY_IMAGENET_ENV, tiny_imagenet_files

__all__ = [
    "DATASETS",
    "SPLITS",
    "NORMALIZATIONS",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_ENV",
    "FASHION_MNIST_FILES",
    "TINY_IMAGENET_ENV",
    "IMAGENET_EIGVAL",
    "IMAGENET_EIGVEC",
    "CENTER_CROP_FRACTION",
    "DatasetError",
    "DatasetHelp",
    "DatasetNotFoundError",
    "CorruptDatasetError",
    "DatasetInfo",
    "info",
    "load",
    "from_arrays",
    "read_idx",
    "read_idx_header",
    "fashion_mnist_arrays",
    "tiny_imagenet_files",
    "random_crop_and_flip",
    "random_resized_crop",
    "sample_crop_window",
    "lighting",
    "resize_and_center_crop",
    "normalize_images",
]
