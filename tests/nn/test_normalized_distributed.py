"""Batch statistics synchronised over two CPU processes (gloo), as SyncBatchNorm does."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from normact.nn import NSwish

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def batches(rank: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    # ranks see different distributions, so that local and global statistics differ
    return [torch.randn(8 + 4 * rank, 3, 4, generator=g) * (1 + rank) + rank for _ in range(3)]


def worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    synced, local = NSwish(momentum=0.5), NSwish(momentum=0.5, sync=False)
    outputs = []
    for x in batches(rank):
        x.requires_grad_()
        out = synced(x)
        out.sum().backward()
        outputs.append((out.detach(), x.grad))
        local(x.detach())
    torch.save(
        {"synced": synced.state_dict(), "local": local.state_dict(), "outputs": outputs},
        f"{out_dir}/{rank}.pt",
    )
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_statistics_equal_single_process_on_the_union(tmp_path):
    mp.spawn(worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]

    union = NSwish(momentum=0.5)
    for step, (b0, b1) in enumerate(zip(batches(0), batches(1), strict=True)):
        x = torch.cat([b0, b1]).requires_grad_()
        out = union(x)
        out.sum().backward()
        n0 = b0.shape[0]
        for rank, part in ((0, slice(0, n0)), (1, slice(n0, None))):
            got_out, got_grad = results[rank]["outputs"][step]
            torch.testing.assert_close(got_out, out.detach()[part], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(got_grad, x.grad[part], rtol=1e-5, atol=1e-6)
    for rank in range(2):
        for name in ("running_mean", "running_rho", "running_rho_prime", "num_batches_tracked"):
            torch.testing.assert_close(
                results[rank]["synced"][name], getattr(union, name), rtol=1e-5, atol=1e-6
            )
        local = NSwish(momentum=0.5)
        for x in batches(rank):
            local(x)
        torch.testing.assert_close(results[rank]["local"]["running_rho"], local.running_rho)
        assert not torch.allclose(local.running_rho, union.running_rho)
