from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from normact.data import CorruptDataError, ImageFolder, MissingDataError, load_dataset
from normact.data.splits import channel_stats


def write_tree(root: Path, classes: dict[str, int], size=(10, 12), seed: int = 0) -> dict[Path, np.ndarray]:
    """PNG files root/<class>/img<k>.png (lossless, so pixels compare exactly); returns their pixels."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            array = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            path = root / name / f"img{k}.png"
            Image.fromarray(array).save(path)
            pixels[path] = array
    return pixels


def test_image_folder_lists_classes_and_decodes_exactly(tmp_path):
    pixels = write_tree(tmp_path, {"dog": 2, "cat": 3})
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    dataset = ImageFolder(tmp_path)
    assert dataset.classes == ("cat", "dog") and len(dataset) == 5
    assert [label for _, label in dataset.samples] == [0, 0, 0, 1, 1]
    image, label = dataset[3]
    assert label == 1 and image.dtype == torch.float32 and image.shape == (3, 10, 12)
    np.testing.assert_allclose(
        image.permute(1, 2, 0).numpy(), pixels[tmp_path / "dog" / "img0.png"] / 255.0, rtol=1e-6
    )


def test_centre_crop_is_the_middle_of_the_image(tmp_path):
    pixels = write_tree(tmp_path, {"a": 1}, size=(10, 15))
    image, _ = ImageFolder(tmp_path, crop=6)[0]
    expected = pixels[tmp_path / "a" / "img0.png"][2:8, 4:10]  # top (10-6)//2 = 2, left (15-6)//2 = 4
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), expected / 255.0, rtol=1e-6)


def test_resize_scales_the_shorter_side(tmp_path):
    write_tree(tmp_path, {"a": 1}, size=(10, 20))
    assert ImageFolder(tmp_path, resize=5)[0][0].shape == (3, 5, 10)
    assert ImageFolder(tmp_path, resize=5, crop=5)[0][0].shape == (3, 5, 5)


def test_jpeg_and_grayscale_images_decode_to_rgb(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (8, 8), color=200).save(tmp_path / "a" / "gray.JPEG", quality=95)
    Image.new("RGB", (8, 8), color=(250, 10, 120)).save(tmp_path / "a" / "rgb.JPEG", quality=95)
    dataset = ImageFolder(tmp_path)
    gray, rgb = dataset[0][0], dataset[1][0]
    assert gray.shape == rgb.shape == (3, 8, 8)
    assert torch.allclose(gray, torch.full_like(gray, 200 / 255), atol=3 / 255)
    colour = torch.tensor([250, 10, 120]).view(3, 1, 1) / 255
    assert torch.allclose(rgb, colour.expand(3, 8, 8), atol=4 / 255)  # JPEG is lossy


def test_corrupt_image_names_the_file(tmp_path):
    write_tree(tmp_path, {"a": 1})
    (tmp_path / "a" / "broken.JPEG").write_bytes(b"\xff\xd8 not really a jpeg")
    dataset = ImageFolder(tmp_path)
    with pytest.raises(CorruptDataError, match=r"broken\.JPEG: not a readable image"):
        dataset[0]


def test_imagenet_layout(tmp_path):
    root = tmp_path / "imagenet"
    write_tree(root / "train", {"n02": 3, "n01": 4}, size=(8, 8))
    write_tree(root / "val", {"n02": 2}, size=(8, 8), seed=1)  # a class may be absent from val
    splits = load_dataset("imagenet", root=tmp_path, image_size=8, resize=8, stats_samples=100)
    assert splits.num_classes == 2 and splits.classes == ("n01", "n02") and splits.input_shape == (3, 8, 8)
    assert len(splits.train) == 7 and len(splits.test) == 2
    assert [splits.test[i][1] for i in range(2)] == [1, 1]  # labels follow the training classes
    x, y = next(iter(DataLoader(splits.train, batch_size=7)))
    assert x.shape == (7, 3, 8, 8) and y.tolist() == [0, 0, 0, 0, 1, 1, 1]
    mean, std = channel_stats(x)  # stats_samples >= 7: every training image counts
    np.testing.assert_allclose(splits.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(splits.std, std, rtol=1e-5)


def test_imagenet_subset_is_lazy_and_seeded(tmp_path):
    write_tree(tmp_path / "train", {"a": 5, "b": 5}, size=(8, 8))
    write_tree(tmp_path / "val", {"a": 2, "b": 2}, size=(8, 8))
    options = dict(image_size=8, resize=8, stats_samples=0, train_size=4, test_size=1)
    first = load_dataset("imagenet", root=tmp_path, **options)
    assert len(first.train) == 4 and len(first.test) == 1 and first.mean is None
    assert [first.train[i][1] for i in range(4)] == [0, 0, 0, 0]  # the first four files
    seeded = load_dataset("imagenet", root=tmp_path, subset_seed=3, **options)
    assert seeded.train.indices == sorted(seeded.train.indices) and seeded.train.indices != [0, 1, 2, 3]


def test_imagenet_train_crop_leaves_room_for_random_crops(tmp_path):
    write_tree(tmp_path / "train", {"a": 1}, size=(12, 16))
    write_tree(tmp_path / "val", {"a": 1}, size=(12, 16))
    splits = load_dataset("imagenet", root=tmp_path, image_size=8, resize=12, train_crop=10, stats_samples=0)
    assert splits.train[0][0].shape == (3, 10, 10) and splits.test[0][0].shape == (3, 8, 8)
    assert splits.input_shape == (3, 8, 8)
    with pytest.raises(ValueError, match="need image_size <= train_crop <= resize"):
        load_dataset("imagenet", root=tmp_path, image_size=8, resize=12, train_crop=14)


def test_val_class_unknown_to_train(tmp_path):
    write_tree(tmp_path / "train", {"a": 1}, size=(8, 8))
    write_tree(tmp_path / "val", {"zzz": 1}, size=(8, 8))
    with pytest.raises(CorruptDataError, match=r"class folders \['zzz'\]"):
        load_dataset("imagenet", root=tmp_path, image_size=8, resize=8)


def test_missing_val_folder(tmp_path):
    write_tree(tmp_path / "train", {"a": 1}, size=(8, 8))
    with pytest.raises(MissingDataError) as err:
        load_dataset("imagenet", root=tmp_path, image_size=8, resize=8)
    assert str(tmp_path / "val") in str(err.value) and "image-net.org" in str(err.value)


def test_image_smaller_than_crop(tmp_path):
    write_tree(tmp_path, {"a": 1}, size=(4, 4))
    with pytest.raises(CorruptDataError, match="smaller than the 6x6 crop"):
        ImageFolder(tmp_path, crop=6)[0]
