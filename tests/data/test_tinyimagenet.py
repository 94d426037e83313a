from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from normact.data import CorruptDataError, MissingDataError, load_dataset

WNIDS = ["n03", "n01", "n02"]  # wnids.txt is not sorted; labels follow the sorted ids


def colour(label: int, k: int) -> tuple[int, int, int]:
    """A flat colour that identifies an image (JPEG keeps flat colours within a few levels)."""
    return (40 * label + 20, 30 * k + 10, 200)


def write_tiny(root: Path, per_class: int = 3, size: int = 8) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (root / "words.txt").write_text(
        "n01\tgoldfish, Carassius auratus\nn02\ttabby\nn03\tsports car\nn09\tunused\n"
    )
    for wnid in WNIDS:
        label = sorted(WNIDS).index(wnid)
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for k in range(per_class):
            Image.new("RGB", (size, size), colour(label, k)).save(folder / f"{wnid}_{k}.JPEG", quality=95)
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for i, wnid in enumerate(["n02", "n03", "n01", "n02"]):
        Image.new("RGB", (size, size), colour(sorted(WNIDS).index(wnid), 7)).save(
            root / "val" / "images" / f"val_{i}.JPEG"
        )
        lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t{size - 1}\t{size - 1}")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def flat_colours(x) -> np.ndarray:
    return np.round(x.mean(dim=(2, 3)).numpy() * 255)


def test_tiny_imagenet_layout(tmp_path):
    write_tiny(tmp_path / "tiny-imagenet-200")
    splits = load_dataset("tiny_imagenet", root=tmp_path, image_size=8)
    x, y = splits.train.tensors
    assert x.shape == (9, 3, 8, 8) and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    expected = np.array([colour(label, k) for label in range(3) for k in range(3)])
    np.testing.assert_allclose(flat_colours(x), expected, atol=3)
    x_test, y_test = splits.test.tensors
    assert y_test.tolist() == [1, 2, 0, 1]
    np.testing.assert_allclose(flat_colours(x_test), [colour(label, 7) for label in (1, 2, 0, 1)], atol=3)
    assert splits.num_classes == 3 and splits.input_shape == (3, 8, 8)
    assert splits.classes == ("goldfish, Carassius auratus", "tabby", "sports car")


def test_tiny_imagenet_subset_decodes_only_the_kept_files(tmp_path):
    write_tiny(tmp_path)
    (tmp_path / "train" / "n03" / "images" / "n03_2.JPEG").write_bytes(b"damaged")  # the last training file
    splits = load_dataset(
        "tiny_imagenet", root=tmp_path, image_size=8, train_size=8, test_size=2, subset_seed=None
    )
    assert len(splits.train) == 8 and splits.test.tensors[1].tolist() == [1, 2]
    with pytest.raises(CorruptDataError, match=r"n03_2\.JPEG: not a readable image"):
        load_dataset("tiny_imagenet", root=tmp_path, image_size=8)


def test_wrong_image_size_names_the_file(tmp_path):
    write_tiny(tmp_path)
    Image.new("RGB", (6, 8)).save(tmp_path / "train" / "n02" / "images" / "n02_1.JPEG")
    with pytest.raises(
        CorruptDataError,
        match=r"n02_1\.JPEG: expected 8x8 pixels like the rest of the set, got 6x8",
    ):
        load_dataset("tiny_imagenet", root=tmp_path, image_size=8)


def test_bad_annotation_line(tmp_path):
    write_tiny(tmp_path)
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(CorruptDataError, match=r"val_annotations\.txt: line 1"):
        load_dataset("tiny_imagenet", root=tmp_path, image_size=8)


def test_missing_annotations(tmp_path):
    write_tiny(tmp_path)
    (tmp_path / "val" / "val_annotations.txt").unlink()
    with pytest.raises(MissingDataError) as err:
        load_dataset("tiny_imagenet", root=tmp_path, image_size=8)
    assert "val_annotations.txt" in str(err.value) and "tiny-imagenet-200.zip" in str(err.value)
