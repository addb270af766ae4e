"""Tests of `larq_nobn.data`: IDX parsing, the real Fashion-MNIST files, tfds pipelines
on `tfds.testing.mock_data`, a generated Tiny ImageNet folder, augmentations, errors."""

import gzip
import math
import struct
import time
from pathlib import Path

from larq_nobn import data
from larq_nobn.data import idx, splits, tfds_source

import numpy as np
import pytest
import tensorflow as tf

FASHION_DIR = Path(data.FASHION_MNIST_DIR)


def batches(dataset):
    """All batches of a dataset as a list of numpy pairs."""
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def concat(dataset):
    pairs = batches(dataset)
    return (
        np.concatenate([x for x, _ in pairs]),
        np.concatenate([y for _, y in pairs]),
    )


def standardize(images, mean, std):
    """Independent numpy reference of the "standardize" normalization."""
    return (images.astype(np.float64) / 255.0 - np.asarray(mean)) / np.asarray(std)


def write_idx(path, array, type_code=0x08, compress=True):
    """Writes an IDX file by hand: 0, 0, type, ndim, big-endian dims and data."""
    dtypes = {
        0x08: ">u1",
        0x09: ">i1",
        0x0B: ">i2",
        0x0C: ">i4",
        0x0D: ">f4",
        0x0E: ">f8",
    }
    raw = bytes([0, 0, type_code, array.ndim])
    raw += b"".join(struct.pack(">I", d) for d in array.shape)
    raw += np.ascontiguousarray(array, dtype=dtypes[type_code]).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as stream:
        stream.write(raw)
    return raw


def write_fake_fashion(folder, num_train=20, num_test=7, seed=0):
    """Four small IDX files in Fashion-MNIST's layout; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", num_train), ("test", num_test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        image_stem, label_stem = data.FASHION_MNIST_FILES[split]
        write_idx(folder / f"{image_stem}.gz", images)
        write_idx(folder / f"{label_stem}.gz", labels)
        arrays[split] = (images, labels)
    return arrays


def require_fashion_files():
    missing = [
        stem
        for files in data.FASHION_MNIST_FILES.values()
        for stem in files
        if not (FASHION_DIR / f"{stem}.gz").is_file()
    ]
    assert not missing, (
        f"Fashion-MNIST files {missing} missing in {FASHION_DIR}: run "
        "`make data` (apt-get install dataset-fashion-mnist)."
    )


# --------------------------------------------------------------------------------------
# Names, arguments, info
# --------------------------------------------------------------------------------------
def test_unknown_dataset_name_lists_the_accepted_ones():
    for call in (
        lambda: data.info("mnist"),
        lambda: data.load("mnist", "train", batch_size=8, training=True),
    ):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        assert "'mnist'" in message
        assert all(name in message for name in data.DATASETS)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(split="valid"), ["'valid'", "train", "validation", "test"]),
        (dict(normalize="zscore"), ["'zscore'", "standardize", "symmetric"]),
        (dict(batch_size=0), ["batch_size", "0"]),
        (dict(split="validation"), ["validation_split"]),
        (dict(validation_split=1.0), ["validation_split", "[0, 1)"]),
        (dict(image_size=-3), ["image_size", "-3"]),
        (dict(manual_dir="/tmp"), ["manual_dir", "imagenet2012"]),
        (dict(cache=3), ["cache", "3"]),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(kwargs, words):
    arguments = dict(split="train", batch_size=8, training=True)
    arguments.update(kwargs)
    with pytest.raises(ValueError) as error:
        data.load("fashion_mnist", arguments.pop("split"), **arguments)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_info_describes_every_dataset():
    expected = {
        "fashion_mnist": (10, (28, 28, 1), 60_000, 10_000),
        "cifar10": (10, (32, 32, 3), 50_000, 10_000),
        "cifar100": (100, (32, 32, 3), 50_000, 10_000),
        "imagenet2012": (1000, (224, 224, 3), 1_281_167, 50_000),
        "tiny_imagenet": (200, (64, 64, 3), 100_000, 10_000),
    }
    assert set(expected) == set(data.DATASETS)
    for name, (classes, shape, train, test) in expected.items():
        described = data.info(name)
        assert (
            described.name,
            described.num_classes,
            described.image_shape,
            described.num_train,
            described.num_test,
        ) == (name, classes, shape, train, test)
        assert described.splits == ("train", "validation", "test")
        assert len(described.mean) == len(described.std) == shape[-1]
    assert data.info("imagenet2012", image_size=128).image_shape == (128, 128, 3)
    assert data.info("fashion_mnist").class_names[9] == "Ankle boot"
    fashion = data.info("fashion_mnist")
    assert fashion.num_examples("train") == 60_000
    assert fashion.num_examples("train", validation_split=0.1) == 54_000
    assert fashion.num_examples("validation", validation_split=0.1) == 6_000
    assert fashion.num_examples("test", validation_split=0.1) == 10_000


def test_select_split_holds_out_the_last_fraction():
    examples, labels = list(range(10)), np.arange(10) * 2
    train = splits.select_split(examples, labels, "train", 0.3)
    validation = splits.select_split(examples, labels, "validation", 0.3)
    assert train[0] == [0, 1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(train[1], [0, 2, 4, 6, 8, 10, 12])
    assert validation[0] == [7, 8, 9]
    np.testing.assert_array_equal(validation[1], [14, 16, 18])
    assert splits.select_split(examples, labels, "train", 0.0)[0] == examples
    with pytest.raises(ValueError, match="holds out 0"):
        splits.select_split(examples, labels, "train", 0.01)


def test_error_classes_are_catchable_as_the_builtin_ones():
    assert issubclass(data.DatasetNotFoundError, FileNotFoundError)
    assert issubclass(data.CorruptDatasetError, ValueError)
    assert issubclass(data.DatasetNotFoundError, data.DatasetError)
    assert issubclass(data.CorruptDatasetError, data.DatasetError)
    assert str(data.DatasetNotFoundError("how to get it")) == "how to get it"


# --------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "type_code, values",
    [
        (0x08, np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
        (0x09, np.array([-128, -1, 0, 127], dtype=np.int8)),
        (0x0B, np.array([[-30000, 2], [3, 30000]], dtype=np.int16)),
        (0x0C, np.array([-(2**31), 7, 2**31 - 1], dtype=np.int32)),
        (0x0D, np.array([[1.5, -2.25]], dtype=np.float32)),
        (
            0x0E,
            np.array([math.pi, -1e300]),
        ),
    ],
)
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trips_every_type(tmp_path, type_code, values, compress):
    path = tmp_path / ("file.gz" if compress else "file")
    write_idx(path, values, type_code, compress)
    array = data.read_idx(path)
    assert array.shape == values.shape
    assert array.dtype.isnative and array.dtype.kind == values.dtype.kind
    np.testing.assert_array_equal(array, values)
    dtype, shape = data.read_idx_header(path)
    assert shape == values.shape and dtype.kind == values.dtype.kind


def test_read_idx_parses_the_header_by_hand(tmp_path):
    # 0x00000803: unsigned bytes, 3 dimensions 1 x 2 x 2, then 4 bytes.
    path = tmp_path / "hand"
    path.write_bytes(
        bytes.fromhex("00000803" "00000001" "00000002" "00000002" "01020304")
    )
    np.testing.assert_array_equal(data.read_idx(path), [[[1, 2], [3, 4]]])


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda raw: b"\x01" + raw[1:], ["magic", "0x01000803"]),
        (lambda raw: raw[:2] + b"\x07" + raw[3:], ["magic"]),
        (lambda raw: raw[:3] + b"\x00" + raw[4:], ["magic"]),
        (lambda raw: raw[:-5], ["truncated", "(3, 4, 5)", "55"]),
        (lambda raw: raw + b"\x00\x00", ["trailing", "62"]),
        (lambda raw: raw[:9], ["truncated IDX header"]),
        (lambda raw: raw[:2], ["not an IDX file"]),
    ],
)
def test_corrupt_idx_files_raise_clear_errors(tmp_path, mutate, words):
    raw = write_idx(tmp_path / "good", np.zeros((3, 4, 5), np.uint8), compress=False)
    path = tmp_path / "bad-idx"
    path.write_bytes(mutate(raw))
    with pytest.raises(data.CorruptDatasetError) as error:
        data.read_idx(path)
    message = str(error.value)
    assert str(path) in message and all(word in message for word in words), message


def test_truncated_gzip_raises_a_clear_error(tmp_path):
    write_idx(tmp_path / "full.gz", np.ones((50, 28, 28), np.uint8))
    path = tmp_path / "cut.gz"
    path.write_bytes((tmp_path / "full.gz").read_bytes()[:-20])
    with pytest.raises(data.CorruptDatasetError, match="cut.gz"):
        data.read_idx(path)


def test_read_idx_cached_is_read_only_and_rereads_a_changed_file(tmp_path):
    path = tmp_path / "cached.gz"
    write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    first = idx.read_idx_cached(path)
    assert idx.read_idx_cached(path) is first and not first.flags.writeable
    np.testing.assert_array_equal(first, [[0, 1, 2], [3, 4, 5]])
    write_idx(path, np.full((4,), 7, np.uint8), compress=False)
    np.testing.assert_array_equal(idx.read_idx_cached(path), [7, 7, 7, 7])


def test_fashion_mnist_arrays_check_labels_and_counts(tmp_path):
    write_fake_fashion(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(7, 10, np.uint8))
    with pytest.raises(data.CorruptDatasetError, match=r"\[0, 9\]"):
        data.fashion_mnist_arrays("test", tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(6, np.uint8))
    with pytest.raises(data.CorruptDatasetError, match="expected 7 labels"):
        data.fashion_mnist_arrays("test", tmp_path)


# --------------------------------------------------------------------------------------
# The real Fashion-MNIST files
# --------------------------------------------------------------------------------------
def test_real_fashion_mnist_headers_give_the_official_counts():
    require_fashion_files()
    expected = {
        "train-images-idx3-ubyte": (60_000, 28, 28),
        "train-labels-idx1-ubyte": (60_000,),
        "t10k-images-idx3-ubyte": (10_000, 28, 28),
        "t10k-labels-idx1-ubyte": (10_000,),
    }
    for stem, shape in expected.items():
        dtype, found = data.read_idx_header(FASHION_DIR / f"{stem}.gz")
        assert (dtype, found) == (np.dtype(np.uint8), shape)


def test_real_fashion_mnist_arrays_and_normalization_constants():
    require_fashion_files()
    images, labels = data.fashion_mnist_arrays("train")
    assert images.shape == (60_000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    assert images.min() == 0 and images.max() == 255
    counts = np.bincount(images.ravel(), minlength=256)  # Exact, and fast.
    values = np.arange(256) / 255.0
    mean = (counts * values).sum() / counts.sum()
    std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
    described = data.info("fashion_mnist")
    assert abs(mean - described.mean[0]) < 1e-4
    assert abs(std - described.std[0]) < 1e-4


def test_real_fashion_mnist_pipelines():
    require_fashion_files()
    test_images, test_labels = data.fashion_mnist_arrays("test")
    described = data.info("fashion_mnist")
    test = data.load("fashion_mnist", "test", batch_size=256, training=False)
    assert test.cardinality().numpy() == math.ceil(10_000 / 256)
    x, y = next(iter(test))
    assert x.dtype == tf.float32 and y.dtype == tf.int64
    np.testing.assert_allclose(
        x.numpy(),
        standardize(test_images[:256], described.mean, described.std),
        atol=1e-5,
    )
    np.testing.assert_array_equal(y.numpy(), test_labels[:256])

    train_images, train_labels = data.fashion_mnist_arrays("train")
    train = data.load(
        "fashion_mnist",
        "train",
        batch_size=100,
        training=True,
        seed=3,
        validation_split=0.1,
    )
    assert train.cardinality().numpy() == 540
    x, y = next(iter(train))
    assert x.shape == (100, 28, 28, 1) and y.shape == (100,)
    low, high = (0 - 0.2860) / 0.3530, (1 - 0.2860) / 0.3530
    assert low - 1e-5 <= x.numpy().min() and x.numpy().max() <= high + 1e-5
    assert 0 <= y.numpy().min() and y.numpy().max() <= 9
    validation = data.load(
        "fashion_mnist",
        "validation",
        batch_size=1000,
        training=False,
        validation_split=0.1,
    )
    _, validation_labels = concat(validation)
    np.testing.assert_array_equal(validation_labels, train_labels[54_000:])


# --------------------------------------------------------------------------------------
# Fashion-MNIST from other folders, the tfds fallback and its errors
# --------------------------------------------------------------------------------------
def test_fashion_mnist_folder_from_data_dir_and_env(tmp_path, monkeypatch):
    arrays = write_fake_fashion(tmp_path)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    for data_dir in (tmp_path, None):
        images, labels = concat(
            data.load(
                "fashion_mnist",
                "train",
                batch_size=8,
                training=False,
                data_dir=data_dir,
                normalize=False,
            )
        )
        np.testing.assert_array_equal(images[..., 0], arrays["train"][0])
        np.testing.assert_array_equal(labels, arrays["train"][1])
    images, labels = concat(
        data.load(
            "fashion_mnist", "test", batch_size=8, training=False, normalize="symmetric"
        )
    )
    np.testing.assert_allclose(images[..., 0], arrays["test"][0] / 127.5 - 1, atol=1e-6)
    images, _ = concat(
        data.load(
            "fashion_mnist", "test", batch_size=8, training=False, normalize="unit"
        )
    )
    np.testing.assert_allclose(images[..., 0], arrays["test"][0] / 255, atol=1e-6)


def test_incomplete_fashion_mnist_folder_names_the_missing_file(tmp_path):
    write_fake_fashion(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DatasetNotFoundError, match="train-labels-idx1-ubyte"):
        data.load(
            "fashion_mnist", "train", batch_size=8, training=True, data_dir=tmp_path
        )


def test_missing_fashion_mnist_without_tfds_says_how_to_get_it(tmp_path, monkeypatch):
    def no_tfds():
        raise ImportError("No module named 'tensorflow_datasets'")

    monkeypatch.setattr(tfds_source, "import_tfds", no_tfds)
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load(
            "fashion_mnist", "train", batch_size=8, training=True, data_dir=tmp_path
        )
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path) in message and "tensorflow-datasets" in message


def test_missing_fashion_mnist_offline_fails_fast(tmp_path, monkeypatch):
    probed = []
    monkeypatch.setattr(
        tfds_source,
        "host_reachable",
        lambda host, port, timeout=3.0: probed.append(host) or False,
    )
    start = time.perf_counter()
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load(
            "fashion_mnist", "train", batch_size=8, training=True, data_dir=tmp_path
        )
    assert time.perf_counter() - start < 20
    assert probed == [tfds_source.DOWNLOAD_HOSTS["fashion_mnist"][0]]
    assert "unreachable" in str(error.value)
    assert "apt-get install dataset-fashion-mnist" in str(error.value)
    with pytest.raises(data.DatasetNotFoundError, match="download=False"):
        data.load(
            "fashion_mnist",
            "train",
            batch_size=8,
            training=True,
            data_dir=tmp_path,
            download=False,
        )
    assert len(probed) == 1  # download=False does not even probe.


def test_host_probe_is_bounded_in_time():
    start = time.perf_counter()
    assert not tfds_source.host_reachable("host.invalid", 80, timeout=1.0)
    assert time.perf_counter() - start < 3.0


def test_fashion_mnist_falls_back_to_tfds(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds_source, "download_plausible", lambda name: True)
    with tfds.testing.mock_data(num_examples=10):
        images, labels = concat(
            data.load(
                "fashion_mnist", "test", batch_size=4, training=False, data_dir=tmp_path
            )
        )
        raw = tfds.builder("fashion_mnist").as_dataset(split="test", as_supervised=True)
        raw_images = np.stack([x for x, _ in raw.as_numpy_iterator()])
    assert images.shape == (10, 28, 28, 1) and labels.dtype == np.int64
    np.testing.assert_allclose(
        images, standardize(raw_images, (0.2860,), (0.3530,)), atol=1e-5
    )


# --------------------------------------------------------------------------------------
# Augmentations
# --------------------------------------------------------------------------------------
def crop_offsets(image, source, padding):
    """All (dy, dx, flipped) whose window of the zero-padded source equals the image."""
    padded = np.pad(source, [(padding, padding), (padding, padding), (0, 0)])
    size = source.shape[0]
    found = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            window = padded[dy : dy + size, dx : dx + size]
            for flipped, candidate in ((False, window), (True, window[:, ::-1])):
                if np.array_equal(candidate, image):
                    found.append((dy, dx, flipped))
    return found


def test_random_crop_and_flip_is_a_padded_window_maybe_mirrored():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(48, 8, 8, 2), dtype=np.uint8)
    out = data.random_crop_and_flip(images, tf.constant([4, 2]), padding=2).numpy()
    assert out.shape == images.shape and out.dtype == np.uint8
    draws = [crop_offsets(o, i, 2) for o, i in zip(out, images)]
    assert all(len(d) == 1 for d in draws)
    offsets = {d[0][:2] for d in draws}
    flips = [d[0][2] for d in draws]
    assert len(offsets) > 10 and 10 < sum(flips) < 38
    again = data.random_crop_and_flip(images, tf.constant([4, 2]), padding=2).numpy()
    np.testing.assert_array_equal(out, again)
    other = data.random_crop_and_flip(images, tf.constant([5, 2]), padding=2).numpy()
    assert not np.array_equal(out, other)


def test_flip_without_padding_really_mirrors():
    images = np.arange(64 * 3 * 5, dtype=np.float32).reshape(64, 3, 5, 1)
    out = data.random_crop_and_flip(images, tf.constant([1, 1]), padding=0).numpy()
    same = [np.array_equal(o, i) for o, i in zip(out, images)]
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    assert all(s != m for s, m in zip(same, mirrored))
    assert 0 < sum(mirrored) < 64
    unflipped = data.random_crop_and_flip(
        images, tf.constant([1, 1]), padding=0, flip=False
    )
    np.testing.assert_array_equal(unflipped.numpy(), images)


def test_sample_crop_window_respects_scale_and_ratio():
    areas, ratios = [], []
    for i in range(150):
        top, left, height, width = (
            int(v)
            for v in data.sample_crop_window(
                tf.constant([120, 160, 3]), tf.constant([i, 7])
            )
        )
        assert 0 <= top and top + height <= 120 and 0 <= left and left + width <= 160
        areas.append(height * width / (120 * 160))
        ratios.append(width / height)
    assert min(areas) >= 0.07 and max(areas) <= 1.0
    assert min(areas) < 0.3 and max(areas) > 0.6
    full = [a == 1.0 for a in areas]
    partial = [r for r, f in zip(ratios, full) if not f]
    assert min(partial) > 0.75 - 0.05 and max(partial) < 4 / 3 + 0.05


def test_random_resized_crop_from_jpeg_bytes_matches_decoded_image():
    rng = np.random.default_rng(1)
    image = np.repeat(np.repeat(rng.integers(0, 256, (12, 16, 3)), 8, 0), 8, 1)
    image = image.astype(np.uint8)
    encoded = tf.io.encode_jpeg(image, quality=100)
    decoded = tf.io.decode_jpeg(encoded)
    seed = tf.constant([3, 9])
    from_bytes = data.random_resized_crop(encoded, seed, 24)
    from_pixels = data.random_resized_crop(decoded, seed, 24)
    assert from_bytes.shape == (24, 24, 3) and from_bytes.dtype == tf.float32
    np.testing.assert_allclose(from_bytes.numpy(), from_pixels.numpy(), atol=3)


def test_lighting_adds_a_pca_offset_with_the_right_spread():
    image = tf.fill([4, 5, 3], 100.0)
    np.testing.assert_array_equal(data.lighting(image, tf.constant([0, 1]), 0.0), image)
    eigvec = np.array(data.IMAGENET_EIGVEC)
    eigval = np.array(data.IMAGENET_EIGVAL)
    alphas = []
    for i in range(300):
        out = data.lighting(image, tf.constant([i, 1]), 0.1).numpy()
        offset = out - 100.0
        np.testing.assert_allclose(
            offset, np.broadcast_to(offset[0, 0], offset.shape), atol=1e-4
        )  # The same offset at every pixel.
        alphas.append(np.linalg.solve(eigvec, offset[0, 0] / 255.0) / eigval)
    alphas = np.array(alphas)
    assert np.all(np.abs(alphas.mean(axis=0)) < 0.03)
    np.testing.assert_allclose(alphas.std(axis=0), 0.1, rtol=0.15)


def test_resize_and_center_crop():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 100:] = 255  # Left half black, right half white.
    out = data.resize_and_center_crop(image, 16).numpy()
    # Shorter side -> round(16 / 0.875) = 18: 18 x 36, center columns 10..25.
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, :7], 0, atol=1)
    np.testing.assert_allclose(out[:, 9:], 255, atol=1)
    np.testing.assert_allclose(out, 255 - out[:, ::-1], atol=1)  # Symmetric cut.
    tall = data.resize_and_center_crop(np.full((300, 120, 1), 7, np.uint8), 32)
    assert tall.shape == (32, 32, 1)
    np.testing.assert_allclose(tall.numpy(), 7, atol=1e-4)


# --------------------------------------------------------------------------------------
# The in-memory pipeline: shuffling, determinism, augmentation in place
# --------------------------------------------------------------------------------------
def identified_images(count=40, size=8):
    """Images whose pixel (0, 0) and (size-1, size-1) both hold the example's id, so
    that neither crop nor flip loses it entirely."""
    images = np.zeros((count, size, size, 1), np.uint8)
    images[:, size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1, 0] = (
        np.arange(count)[:, None, None] + 1
    )
    return images, np.arange(count) % 10


def test_training_order_is_a_seeded_permutation_reshuffled_every_epoch():
    images, labels = identified_images()
    build = lambda seed: data.from_arrays(  # noqa: E731
        images,
        labels,
        batch_size=16,
        training=True,
        augment=False,
        seed=seed,
        normalize=False,
    )
    dataset = build(5)
    first, second = concat(dataset), concat(dataset)
    again = concat(build(5))
    for epoch in (first, second):
        ids = epoch[0][:, 3, 3, 0].astype(int) - 1
        assert sorted(ids) == list(range(40))
        np.testing.assert_array_equal(epoch[1], labels[ids])
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(first[0], concat(build(6))[0])


def test_training_augmentation_is_applied_and_seeded():
    images, labels = identified_images(size=12)
    build = lambda seed: data.from_arrays(  # noqa: E731
        images,
        labels,
        batch_size=8,
        training=True,
        seed=seed,
        normalize=False,
        crop_padding=2,
        repeat=True,
    )
    take = lambda d: [x for x, _ in batches(d.take(10))]  # noqa: E731
    one, two = take(build(1)), take(build(1))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    augmented = np.concatenate(one)
    assert augmented.shape == (80, 12, 12, 1)
    originals = images[augmented.max(axis=(1, 2, 3)).astype(int) - 1]
    assert all(crop_offsets(a, o, 2) for a, o in zip(augmented, originals))
    assert sum(not np.array_equal(a, o) for a, o in zip(augmented, originals)) > 40


def test_evaluation_is_ordered_and_deterministic():
    images, labels = identified_images(count=10)
    dataset = data.from_arrays(
        images,
        labels,
        batch_size=4,
        training=False,
        normalize="standardize",
        mean=(0.5,),
        std=(0.25,),
    )
    x, y = concat(dataset)
    np.testing.assert_allclose(x, standardize(images, (0.5,), (0.25,)), atol=1e-6)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(concat(dataset)[0], x)
    assert [b[0].shape[0] for b in batches(dataset)] == [4, 4, 2]


def test_drop_remainder_repeat_and_resize():
    images, labels = identified_images(count=10)
    dataset = data.from_arrays(
        images,
        labels,
        batch_size=4,
        training=True,
        seed=0,
        drop_remainder=True,
        repeat=True,
        image_size=16,
        mean=(0.5,),
        std=(0.5,),
    )
    assert dataset.element_spec[0].shape.as_list() == [4, 16, 16, 1]
    assert dataset.cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    assert len(list(dataset.take(7))) == 7


def test_pipeline_distributes_over_a_mirrored_strategy():
    images, labels = identified_images(count=16)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dataset = data.from_arrays(
        images, labels, batch_size=8, training=True, seed=0, normalize=False
    )
    distributed = strategy.experimental_distribute_dataset(dataset)
    per_replica = next(iter(distributed))[0]
    shapes = [t.shape[0] for t in strategy.experimental_local_results(per_replica)]
    assert shapes == [4, 4]


# --------------------------------------------------------------------------------------
# tensorflow-datasets pipelines on mock data
# --------------------------------------------------------------------------------------
@pytest.fixture
def mock_tfds(monkeypatch):
    """tfds mocked with 20 random examples per split, every dataset prepared."""
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=20):
        yield tfds


@pytest.mark.parametrize("name, classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_pipelines_on_mock_data(mock_tfds, name, classes):
    raw = mock_tfds.builder(name).as_dataset(split="train", as_supervised=True)
    raw_images, raw_labels = (np.stack(a) for a in zip(*raw.as_numpy_iterator()))
    described = data.info(name)

    train = data.load(name, "train", batch_size=8, training=True, seed=0)
    x, y = next(iter(train))
    assert x.shape == (8, 32, 32, 3) and x.dtype == tf.float32 and y.dtype == tf.int64
    assert 0 <= y.numpy().min() and y.numpy().max() < classes

    evaluation = data.load(
        name, "train", batch_size=8, training=False, validation_split=0.25
    )
    x, y = concat(evaluation)
    np.testing.assert_allclose(
        x, standardize(raw_images[:15], described.mean, described.std), atol=1e-5
    )
    np.testing.assert_array_equal(y, raw_labels[:15])
    _, y = concat(
        data.load(
            name, "validation", batch_size=8, training=False, validation_split=0.25
        )
    )
    np.testing.assert_array_equal(y, raw_labels[15:])


def test_imagenet_pipelines_on_mock_data(mock_tfds):
    train = data.load(
        "imagenet2012", "train", batch_size=4, training=True, seed=2, image_size=32
    )
    assert train.element_spec[0].shape.as_list() == [None, 32, 32, 3]
    x, y = next(iter(train))
    assert x.shape == (4, 32, 32, 3) and x.dtype == tf.float32 and y.dtype == tf.int64
    assert 0 <= y.numpy().min() and y.numpy().max() < 1000
    again = data.load(
        "imagenet2012", "train", batch_size=4, training=True, seed=2, image_size=32
    )
    np.testing.assert_array_equal(next(iter(again))[0], x)  # Seeded.
    assert not np.array_equal(next(iter(train))[0], x)  # A new epoch draws anew.

    test = data.load(
        "imagenet2012",
        "test",
        batch_size=5,
        training=False,
        image_size=24,
        normalize="unit",
    )
    first, second = concat(test), concat(test)
    assert first[0].shape == (20, 24, 24, 3)
    assert first[0].min() >= -1e-4 and first[0].max() <= 1 + 1e-4
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_tfds_dataset_not_prepared_downloads_only_if_allowed(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=4):  # Mocked builders are not prepared.
        with pytest.raises(data.DatasetNotFoundError, match="download=False"):
            data.load("cifar10", "train", batch_size=8, training=True, download=False)
        monkeypatch.setattr(tfds_source, "download_plausible", lambda name: True)
        x, _ = next(iter(data.load("cifar100", "test", batch_size=8, training=False)))
        assert x.shape == (4, 32, 32, 3)


def test_imagenet_without_archives_explains_manual_dir(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(data.DatasetNotFoundError, match="pass it as manual_dir"):
        data.load(
            "imagenet2012", "train", batch_size=8, training=True, data_dir=tmp_path
        )
    archives = tmp_path / "archives"
    archives.mkdir()
    (archives / "ILSVRC2012_img_train.tar").write_bytes(b"")
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load(
            "imagenet2012",
            "train",
            batch_size=8,
            training=True,
            data_dir=tmp_path,
            manual_dir=archives,
        )
    assert "lacks ILSVRC2012_img_val.tar" in str(error.value)


# --------------------------------------------------------------------------------------
# Tiny ImageNet
# --------------------------------------------------------------------------------------
WNIDS = ("n03", "n01", "n02")  # Deliberately not sorted: labels follow wnids.txt.
COLORS = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230]])


def write_jpeg(path, color, shade):
    image = np.broadcast_to(
        np.clip(np.asarray(color) + shade, 0, 255), (64, 64, 3)
    ).astype(np.uint8)
    path.write_bytes(tf.io.encode_jpeg(image, quality=100).numpy())


@pytest.fixture
def tiny_imagenet(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    for label, wnid in enumerate(WNIDS):
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(4):
            write_jpeg(folder / f"{wnid}_{i}.JPEG", COLORS[label], i)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    val_labels = [2, 0, 1, 1, 0, 2]
    lines = []
    for i, label in enumerate(val_labels):
        write_jpeg(root / "val" / "images" / f"val_{i}.JPEG", COLORS[label], 0)
        lines.append(f"val_{i}.JPEG\t{WNIDS[label]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root, np.array(val_labels)


def color_labels(images):
    """The class whose color is nearest to each image's mean color."""
    means = images.mean(axis=(1, 2))
    return np.argmin(((means[:, None, :] - COLORS[None]) ** 2).sum(-1), axis=1)


def test_tiny_imagenet_labels_follow_wnids_and_annotations(tiny_imagenet):
    root, val_labels = tiny_imagenet
    for cache in (True, False):
        x, y = concat(
            data.load(
                "tiny_imagenet",
                "test",
                batch_size=4,
                training=False,
                data_dir=root.parent,
                normalize=False,
                cache=cache,
            )
        )
        assert x.shape == (6, 64, 64, 3)
        np.testing.assert_array_equal(y, val_labels)
        np.testing.assert_array_equal(color_labels(x), y)
    x, y = concat(
        data.load(
            "tiny_imagenet",
            "train",
            batch_size=5,
            training=False,
            data_dir=root,
            normalize=False,
        )
    )
    assert x.shape == (12, 64, 64, 3)
    np.testing.assert_array_equal(np.bincount(y), [4, 4, 4])
    np.testing.assert_array_equal(color_labels(x), y)


def test_tiny_imagenet_training_and_validation_split(tiny_imagenet):
    root, _ = tiny_imagenet
    train = data.load(
        "tiny_imagenet",
        "train",
        batch_size=3,
        training=True,
        seed=1,
        data_dir=root,
        validation_split=0.25,
    )
    x, y = concat(train)
    assert x.shape == (9, 64, 64, 3) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(concat(train)[1].shape, (9,))
    _, held_out = concat(
        data.load(
            "tiny_imagenet",
            "validation",
            batch_size=3,
            training=False,
            data_dir=root,
            validation_split=0.25,
        )
    )
    paths, labels, wnids = data.tiny_imagenet_files("train", root)
    assert wnids == WNIDS and len(paths) == 12
    np.testing.assert_array_equal(held_out, labels[9:])
    np.testing.assert_array_equal(
        np.sort(np.concatenate([y, held_out])), np.repeat([0, 1, 2], 4)
    )


def test_tiny_imagenet_errors(tiny_imagenet, tmp_path, monkeypatch):
    root, _ = tiny_imagenet
    monkeypatch.delenv(data.TINY_IMAGENET_ENV, raising=False)
    with pytest.raises(data.DatasetNotFoundError, match="data_dir"):
        data.load("tiny_imagenet", "train", batch_size=2, training=True)
    with pytest.raises(data.DatasetNotFoundError, match="nowhere"):
        data.load(
            "tiny_imagenet",
            "train",
            batch_size=2,
            training=True,
            data_dir=tmp_path / "nowhere",
        )
    monkeypatch.setenv(data.TINY_IMAGENET_ENV, str(root))
    paths, _, _ = data.tiny_imagenet_files("test")  # Found through the variable.
    assert len(paths) == 6
    annotations = root / "val" / "val_annotations.txt"
    annotations.write_text(annotations.read_text() + "val_0.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(data.CorruptDatasetError, match=r"val_annotations.txt:7"):
        data.tiny_imagenet_files("test")
    (root / "train" / "n02" / "images" / "n02_0.JPEG").rename(root / "moved.JPEG")
    for path in (root / "train" / "n02" / "images").iterdir():
        path.unlink()
    (root / "train" / "n02" / "images").rmdir()
    with pytest.raises(data.CorruptDatasetError, match="n02"):
        data.tiny_imagenet_files("train")


def test_lighting_truncated_as_the_reference_on_uint8_pixels():
    # BNN_NoBN's Lighting: uint8 pixels + the [0, 1]-scale offset, clipped to
    # [0, 255] and cast back to uint8 (truncation).
    image = tf.constant([[[0.2, 254.6, 100.4], [255.0, 0.0, 37.5]]])  # (1, 2, 3)
    levels = np.round(image.numpy())  # the reference's crop is a uint8 image
    lowered = 0
    for i in range(40):
        seed = tf.constant([i, 7])
        offset = data.lighting(tf.zeros([1, 1, 3]), seed, 0.1, pixel_range=1.0).numpy()
        assert np.abs(offset).max() < 0.2  # about 0.01: a fraction of one level
        out = data.lighting(image, seed, 0.1, pixel_range=1.0, truncate=True).numpy()
        expected = np.clip(levels + offset, 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(out, expected)
        lowered += int((out < levels).sum())
    assert lowered > 0  # negative offsets take one level off (above 0)
