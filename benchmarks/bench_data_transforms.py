"""Batch augmentation: normact.data.transforms vs a per-sample Python loop, same run, medians.

Run from the repository root: python benchmarks/bench_data_transforms.py
"""

import statistics
import time

import torch
import torch.nn.functional as F

from normact.data.transforms import RandomCrop, RandomHorizontalFlip


def loop_crop(x: torch.Tensor, g: torch.Generator, size: int = 32, padding: int = 4) -> torch.Tensor:
    xp = F.pad(x, (padding,) * 4)
    top = torch.randint(0, xp.shape[2] - size + 1, (len(x),), generator=g).tolist()
    left = torch.randint(0, xp.shape[3] - size + 1, (len(x),), generator=g).tolist()
    return torch.stack([xp[b, :, t : t + size, l : l + size] for b, (t, l) in enumerate(zip(top, left))])


def loop_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(len(x), generator=g) < 0.5).tolist()
    return torch.stack([s.flip(-1) if f else s for s, f in zip(x, flip)])


def median_ms(fn, x: torch.Tensor, reps: int = 30) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = []
    for i in range(reps):
        g = torch.Generator().manual_seed(i)
        sync()
        start = time.perf_counter()
        fn(x, g)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    pairs = {
        "RandomCrop(32, padding=4)": (RandomCrop(32, padding=4), loop_crop),
        "RandomHorizontalFlip()": (RandomHorizontalFlip(), loop_flip),
    }
    for device in devices:
        for batch in (128, 512):
            x = torch.rand(batch, 3, 32, 32, device=device)
            for name, (ours, loop) in pairs.items():
                for _ in range(2):  # the first pass warms up both paths and the allocator
                    t_ours, t_loop = median_ms(ours, x), median_ms(loop, x)
                print(
                    f"{device} {batch}x3x32x32 {name:26s} normact {t_ours:7.3f} ms  "
                    f"loop {t_loop:7.3f} ms  loop/normact {t_loop / t_ours:5.1f}x"
                )


if __name__ == "__main__":
    main()
