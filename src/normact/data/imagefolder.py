"""Images stored one file per sample, `<split>/<class>/<image>` (the ImageNet layout), decoded with PIL.

`ImageFolder` is lazy: it lists the files once and decodes an image when it is indexed, so sets of any
size fit. `decode_images` decodes a list of files into one uint8 array, for sets that fit in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torch.utils.data import Subset as TorchSubset

from normact.data.errors import CorruptDataError, MissingDataError, describe_folder, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset, channel_stats

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif", ".ppm", ".webp", ".tif", ".tiff")


def decode_image(
    path: Path, resize: int | None = None, crop: int | None = None, how_to_get: str = ""
) -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB.

    Args:
        resize: scale so that the shorter side has this many pixels (bilinear, antialiased); None keeps it.
        crop: then cut the central crop x crop square; None keeps the whole image.
    """
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except FileNotFoundError as err:
        raise MissingDataError(path, "an image file", how_to_get) from err
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as err:
        raise CorruptDataError(path, f"not a readable image ({err})", how_to_get) from err
    if resize is not None:
        w, h = img.size
        scale = resize / min(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    if crop is not None:
        w, h = img.size
        if crop > min(w, h):
            raise CorruptDataError(
                path, f"image of {w}x{h} pixels is smaller than the {crop}x{crop} crop", how_to_get
            )
        left, top = (w - crop) // 2, (h - crop) // 2
        img = img.crop((left, top, left + crop, top + crop))
    return np.array(img, dtype=np.uint8)  # a writable copy


def decode_images(paths: Sequence[Path], size: tuple[int, int], how_to_get: str = "") -> np.ndarray:
    """Decode image files that all have `size` = (H, W) pixels into one uint8 (N, 3, H, W) array."""
    out = np.empty((len(paths), 3, *size), dtype=np.uint8)
    for i, path in enumerate(paths):
        image = decode_image(path, how_to_get=how_to_get)
        if image.shape[:2] != tuple(size):
            raise CorruptDataError(
                path,
                f"expected {size[1]}x{size[0]} pixels like the rest of the set, "
                f"got {image.shape[1]}x{image.shape[0]}",
                how_to_get,
            )
        out[i] = image.transpose(2, 0, 1)
    return out


def list_classes(folder: Path, how_to_get: str = "") -> list[str]:
    """Sorted names of the class sub-folders of `folder`."""
    if not folder.is_dir():
        raise MissingDataError(folder, "a folder with one sub-folder of images per class", how_to_get)
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise CorruptDataError(folder, "no class sub-folders found", how_to_get)
    return classes


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    return sorted(
        Path(e.path) for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)
    )


class ImageFolder(Dataset):
    """Lazy dataset over `root/<class>/<image>`, returning (float32 (3, H, W) in [0, 1], label).

    Args:
        root: the split's folder, e.g. `imagenet/train`.
        classes: class folder names in label order; default: the sorted sub-folders of `root`. Pass the
            training split's classes to the test split so that labels agree.
        resize, crop: see `decode_image`; set both (or crop alone) to batch images of different sizes.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        classes: Sequence[str] | None = None,
        resize: int | None = None,
        crop: int | None = None,
        how_to_get: str = "",
    ) -> None:
        self.root = Path(root)
        self.how_to_get = how_to_get
        found = list_classes(self.root, how_to_get)
        self.classes = tuple(found if classes is None else classes)
        missing = sorted(set(found) - set(self.classes))
        if missing:
            raise CorruptDataError(
                self.root,
                f"class folders {missing[:5]} are not among the {len(self.classes)} known classes",
                how_to_get,
            )
        self.resize, self.crop = resize, crop
        self.samples = [
            (path, label)
            for label, name in enumerate(self.classes)
            if name in found
            for path in list_images(self.root / name)
        ]
        if not self.samples:
            raise CorruptDataError(
                self.root, f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found", how_to_get
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        image = decode_image(path, self.resize, self.crop, self.how_to_get)
        return torch.from_numpy(image).permute(2, 0, 1).to(torch.float32).div_(255.0), label

    def __repr__(self) -> str:
        return (
            f"ImageFolder(root={str(self.root)!r}, samples={len(self)}, classes={len(self.classes)}, "
            f"resize={self.resize}, crop={self.crop})"
        )


def sample_stats(
    dataset: Dataset, count: int, seed: int = 0
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Channel mean/std estimated from `count` images of a lazy dataset, drawn with `seed`; None if 0."""
    if count == 0:
        return None
    picks = np.random.default_rng(seed).choice(len(dataset), size=min(count, len(dataset)), replace=False)
    return channel_stats(torch.stack([dataset[int(i)][0] for i in picks]))


def _take(dataset: ImageFolder, keep: np.ndarray) -> Dataset:
    return dataset if len(keep) == len(dataset) else TorchSubset(dataset, keep.tolist())


IMAGENET_HOW = hint(
    "get the ILSVRC-2012 training and validation images from https://image-net.org and arrange them as "
    "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (validation images sorted into class folders)",
    "imagenet",
)


IMAGENET_LAYOUT = (
    "expected train/<class>/<image> and val/<class>/<image> (.JPEG, .png, ...), the validation images "
    "sorted into folders named like the training classes (docs/data.md)"
)


def check_imagenet(root: Path) -> None:
    """Check that `root` has the ImageNet layout, so that a bad folder fails before any run starts.

    Each of `train/` and `val/` must hold class folders with image files directly inside (an empty class
    folder is allowed, as long as one has images), and every validation class must be a training class.
    The errors name the folder, what it holds and the layout expected.
    """
    classes = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            found = f"the {split} split ({root} holds {describe_folder(root)}); {IMAGENET_LAYOUT}"
            raise MissingDataError(folder, found, IMAGENET_HOW)
        classes[split] = sorted(e.name for e in os.scandir(folder) if e.is_dir())
        if not classes[split]:
            raise CorruptDataError(
                folder, f"no class folders, found {describe_folder(folder)}; {IMAGENET_LAYOUT}", IMAGENET_HOW
            )
        has_image = (
            any(e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS) for e in os.scandir(folder / name))
            for name in classes[split]
        )
        if not any(has_image):
            first = folder / classes[split][0]
            raise CorruptDataError(
                folder,
                f"no image files directly inside its {len(classes[split])} class folder(s); "
                f"{first.name}/ holds {describe_folder(first)}; {IMAGENET_LAYOUT}",
                IMAGENET_HOW,
            )
    unknown = sorted(set(classes["val"]) - set(classes["train"]))
    if unknown:
        raise CorruptDataError(
            root / "val",
            f"class folders {unknown[:5]} are not among the {len(classes['train'])} training classes; "
            + IMAGENET_LAYOUT,
            IMAGENET_HOW,
        )


def load_imagenet(
    root: Path,
    subset: Subset,
    image_size: int = 224,
    resize: int = 256,
    train_crop: int | None = None,
    stats_samples: int = 500,
) -> DataSplits:
    """An ImageNet-layout folder (`train/<class>/*`, `val/<class>/*`) as lazy datasets.

    Every image is resized so its shorter side is `resize` and centre-cropped to `image_size` (the
    standard evaluation protocol). `train_crop` (default `image_size`) centre-crops the training images
    to a larger square instead, for random `image_size` crops as a batch transform (the classic scheme:
    `train_crop=256` with `RandomCrop(224)`). `mean`/`std` are estimated from `stats_samples` training
    images drawn with seed 0. `input_shape` is the model's input, (3, image_size, image_size).
    """
    train_crop = image_size if train_crop is None else train_crop
    if not image_size <= train_crop <= resize:
        raise ValueError(
            f"need image_size <= train_crop <= resize, got image_size={image_size}, "
            f"train_crop={train_crop}, resize={resize}"
        )
    train = ImageFolder(root / "train", resize=resize, crop=train_crop, how_to_get=IMAGENET_HOW)
    test = ImageFolder(
        root / "val", classes=train.classes, resize=resize, crop=image_size, how_to_get=IMAGENET_HOW
    )
    train_set = _take(train, subset.indices("train", len(train), "imagenet"))
    test_set = _take(test, subset.indices("test", len(test), "imagenet"))
    stats = sample_stats(train_set, stats_samples)
    return DataSplits(
        name="imagenet",
        train=train_set,
        test=test_set,
        num_classes=len(train.classes),
        input_shape=(3, image_size, image_size),
        mean=stats[0] if stats else None,
        std=stats[1] if stats else None,
        classes=train.classes,
    )


IMAGENET = DatasetSpec(
    name="imagenet",
    load=load_imagenet,
    description="ImageNet-layout image folders (train/<class>/*, val/<class>/*), lazy",
    dirname="imagenet",
    probe="train/",
    how_to_get=IMAGENET_HOW,
    check=check_imagenet,
)
