"""Augmentations and the evaluation crop, composable and usable outside `load`.

- `random_crop_and_flip`: zero padding, random crop back to the original size and
  random horizontal flip of a whole batch of small images at once.
- `random_resized_crop` (with `sample_crop_window`) and `lighting`: ImageNet's
  training augmentation (random area and aspect ratio, AlexNet's PCA lighting noise).
- `resize_and_center_crop`: ImageNet's deterministic evaluation transform.

Every random draw is stateless: a function of the `(2,)` seed tensor it is given.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "IMAGENET_EIGVAL",
    "IMAGENET_EIGVEC",
    "CENTER_CROP_FRACTION",
    "random_crop_and_flip",
    "sample_crop_window",
    "random_resized_crop",
    "lighting",
    "resize_and_center_crop",
]

IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
"""Eigenvalues of the covariance of ImageNet's RGB pixels in `[0, 1]` (AlexNet's PCA
lighting noise)."""

IMAGENET_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
"""The matching eigenvectors, one per column (rows: R, G, B)."""

CENTER_CROP_FRACTION = 0.875
"""Evaluation crop of ImageNet: the shorter side is resized to `size / 0.875`."""


def random_crop_and_flip(images, seed, padding: int = 4, flip: bool = True):
    """Random crop with zero padding and random horizontal flip of a batch of images.

    Each image is zero-padded by `padding` pixels on every side and a window of its
    original size is cut at a random offset (uniform over the `(2 * padding + 1)^2`
    offsets); then, with probability 1/2, it is mirrored left-right. Every image of the
    batch draws its own offset and flip; all are vectorized over the batch.

    # Arguments
        images: Tensor `(batch, height, width, channels)` of any dtype.
        seed: Shape `(2,)` integer tensor: the stateless seed of the draws.
        padding: Pixels of zero padding (0: no crop).
        flip: Whether to flip at random.

    # Returns
        The augmented batch, same shape and dtype.
    """
    images = tf.convert_to_tensor(images)
    crop_seed, x_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=3))
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if not padding and not flip:
        return images
    rows = tf.range(height)[None, :]
    cols = tf.range(width)[None, :]
    if flip:  # Folded into the column indices: no separate reverse-and-select pass.
        mirror = tf.random.stateless_uniform([batch], flip_seed) < 0.5
        cols = tf.where(mirror[:, None], width - 1 - cols, cols)
    if padding:
        images = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        span = 2 * padding + 1
        rows = rows + tf.random.stateless_uniform([batch, 1], crop_seed, 0, span, dtype=tf.int32)
        cols = cols + tf.random.stateless_uniform([batch, 1], x_seed, 0, span, dtype=tf.int32)
        images = tf.gather(images, tf.broadcast_to(rows, [batch, height]), axis=1, batch_dims=1)
    # Gathering whole rows is much faster than single pixels: gather the columns as
    # rows of the transposed batch.
    images = tf.transpose(images, [0, 2, 1, 3])
    images = tf.gather(images, tf.broadcast_to(cols, [batch, width]), axis=1, batch_dims=1)
    return tf.transpose(images, [0, 2, 1, 3])


def sample_crop_window(
    image_shape, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), max_attempts: int = 10
):
    """Samples the window of a random resized crop ("Inception" crop).

    The window covers a uniform fraction `scale` of the image area with an aspect ratio
    (width / height) in `ratio`; after `max_attempts` draws that do not fit, the whole
    image.

    # Arguments
        image_shape: `(height, width[, channels])` integer tensor.
        seed: Shape `(2,)` integer tensor.
        scale: Range of the area fraction.
        ratio: Range of the aspect ratio.
        max_attempts: Draws before falling back to the whole image.

    # Returns
        `(top, left, height, width)` int32 scalars.
    """
    image_shape = tf.cast(tf.convert_to_tensor(image_shape)[:2], tf.int32)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([image_shape, [1]], axis=0),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True,
    )
    return begin[0], begin[1], size[0], size[1]


def random_resized_crop(image, seed, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random resized crop of one image: a `sample_crop_window` resized (bilinear) to
    `size x size`.

    # Arguments
        image: Either a decoded image `(height, width, channels)`, or a scalar string
            tensor of JPEG bytes (then only the window is decoded, which is faster).
        seed: Shape `(2,)` integer tensor.
        size: Output side.
        scale: Range of the area fraction.
        ratio: Range of the aspect ratio (width / height).

    # Returns
        A `float32` image `(size, size, channels)` with values in `[0, 255]` for
        `uint8` input (3 channels for JPEG bytes).
    """
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.string:
        shape = tf.image.extract_jpeg_shape(image)
        top, left, height, width = sample_crop_window(shape, seed, scale, ratio)
        crop = tf.image.decode_and_crop_jpeg(
            image, tf.stack([top, left, height, width]), channels=3
        )
    else:
        top, left, height, width = sample_crop_window(tf.shape(image), seed, scale, ratio)
        crop = image[top : top + height, left : left + width]
    resized = tf.image.resize(crop, [size, size], method="bilinear")
    return tf.ensure_shape(resized, [size, size, crop.shape[-1]])


def lighting(
    image,
    seed,
    alphastd: float = 0.1,
    eigval=IMAGENET_EIGVAL,
    eigvec=IMAGENET_EIGVEC,
    pixel_range: float = 255.0,
    truncate: bool = False,
):
    """AlexNet's PCA lighting noise: adds `pixel_range * eigvec @ (alpha * eigval)` to
    every pixel, with `alpha ~ Normal(0, alphastd)` per image and principal component.

    VITA-Group/BNN_NoBN (dataset.py, `Lighting`) adds the offset for `[0, 1]` pixels
    (about 0.01) to the uint8 pixels of the cropped PIL image, clips to `[0, 255]` and
    casts back to uint8, which truncates: a channel whose offset is negative loses one
    level, one whose offset is positive keeps its value. `pixel_range=1.0,
    truncate=True` does the same (the ImageNet pipeline's setting).

    # Arguments
        image: Float RGB image `(height, width, 3)` or batch `(batch, h, w, 3)` (one
            draw for the whole tensor).
        seed: Shape `(2,)` integer tensor.
        alphastd: Standard deviation of `alpha`; 0 disables the noise.
        eigval: Eigenvalues of the pixel covariance for pixels in `[0, 1]`.
        eigvec: Matching eigenvectors, one per column.
        pixel_range: 255 for pixels in `[0, 255]`, 1 for `[0, 1]`.
        truncate: The reference's uint8 arithmetic for pixels in `[0, 255]`: the image
            is rounded to whole levels (the reference's crop is a uint8 image), the
            sum clipped to `[0, 255]` and truncated to a whole level.

    # Returns
        The image plus the per-channel offset (not clipped unless `truncate`).

    # References
        - VITA-Group/BNN_NoBN, dataset.py (`Lighting`, `imagenet_dataloaders`)
    """
    image = tf.convert_to_tensor(image)
    alpha = tf.random.stateless_normal([3], seed, stddev=alphastd, dtype=image.dtype)
    offset = tf.linalg.matvec(
        tf.constant(eigvec, image.dtype), alpha * tf.constant(eigval, image.dtype)
    )
    if not truncate:
        return image + pixel_range * offset
    return tf.floor(tf.clip_by_value(tf.round(image) + pixel_range * offset, 0.0, 255.0))


def resize_and_center_crop(image, size: int, crop_fraction: float = CENTER_CROP_FRACTION):
    """The standard evaluation transform: resize (bilinear, antialiased) so that the
    shorter side is `round(size / crop_fraction)`, keeping the aspect ratio, then cut
    the center `size x size` square.

    # Arguments
        image: Image `(height, width, channels)` of any real dtype.
        size: Output side.
        crop_fraction: Fraction of the resized shorter side kept (0.875: 224 of 256).

    # Returns
        A `float32` image `(size, size, channels)`.
    """
    image = tf.convert_to_tensor(image)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    shorter = int(round(size / crop_fraction))
    scale = shorter / tf.reduce_min(shape)
    new_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    resized = tf.image.resize(image, new_shape, method="bilinear", antialias=True)
    top = (new_shape[0] - size) // 2
    left = (new_shape[1] - size) // 2
    crop = resized[top : top + size, left : left + size]
    return tf.ensure_shape(crop, [size, size, image.shape[-1]])
