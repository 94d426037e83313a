"""The Triton kernels behind ``_triton`` (imported only where they run: Triton takes a second to import).

Rows ``(G, M)`` of contiguous memory; program ``(g, b)`` handles elements ``b * BLOCK ...`` of row g.
Partial sums go to one slot per program (no atomics), for ``_triton`` to add in float64.
"""

import triton
import triton.language as tl


@triton.jit
def _expm1(z):
    # exp(z) - 1 for z <= 0 without cancellation near 0 (Kahan: (u - 1) z / log u, u = e^z)
    u = tl.exp(z)
    one = u == 1.0
    r = tl.where(one, z, (u - 1.0) * z / tl.where(one, 1.0, tl.log(u)))
    return tl.where(u == 0.0, -1.0, r)


@triton.jit
def _act(x, p_ptr, KIND: tl.constexpr):
    """``f = lam g(x)`` and ``f'`` for the kinds of ``_fused`` (LEAKY, SILU, ELU, LSELU)."""
    p0 = tl.load(p_ptr).to(x.dtype)
    p1 = tl.load(p_ptr + 1).to(x.dtype)
    lam = tl.load(p_ptr + 2).to(x.dtype)
    pos = x > 0
    if KIND == 0:
        f = tl.where(pos, x, p0 * x)
        df = tl.where(pos, 1.0, p0)
    elif KIND == 1:
        s = 1.0 / (1.0 + tl.exp(-x))
        f = x * s
        df = s * (1.0 + x * (1.0 - s))
    elif KIND == 2:
        z = p1 * tl.where(pos, 0.0, x)
        f = tl.where(pos, x, p0 * _expm1(z))
        df = tl.where(pos, 1.0, p0 * p1 * tl.exp(z))
    else:
        z = tl.where(pos, 0.0, x)
        f = tl.where(pos, x, p0 * _expm1(z) + p1 * x)
        df = tl.where(pos, 1.0, p0 * tl.exp(z) + p1)
    return lam * f, lam * df


@triton.jit
def moments(x_ptr, p_ptr, part_ptr, M, KIND: tl.constexpr, ACC: tl.constexpr, BLOCK: tl.constexpr):
    g, b = tl.program_id(0), tl.program_id(1)
    j = b * BLOCK + tl.arange(0, BLOCK)
    mask = j < M
    x = tl.load(x_ptr + g.to(tl.int64) * M + j, mask=mask, other=0.0).to(ACC)
    f, df = _act(x, p_ptr, KIND)
    f = tl.where(mask, f, 0.0)
    df = tl.where(mask, df, 0.0)
    out = part_ptr + (g.to(tl.int64) * tl.num_programs(1) + b) * 5
    tl.store(out, tl.sum(x, 0))
    tl.store(out + 1, tl.sum(x * x, 0))
    tl.store(out + 2, tl.sum(f, 0))
    tl.store(out + 3, tl.sum(f * f, 0))
    tl.store(out + 4, tl.sum(df * df, 0))


@triton.jit
def forward(
    x_ptr,
    y_ptr,
    scale_ptr,
    shift_ptr,
    p_ptr,
    M,
    KIND: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    g, b = tl.program_id(0), tl.program_id(1)
    j = b * BLOCK + tl.arange(0, BLOCK)
    mask = j < M
    offset = g.to(tl.int64) * M + j
    x = tl.load(x_ptr + offset, mask=mask, other=0.0).to(ACC)
    f, _ = _act(x, p_ptr, KIND)
    a = tl.load(scale_ptr + g).to(ACC)
    c = tl.load(shift_ptr + g).to(ACC)
    tl.store(y_ptr + offset, (a * (f - c)).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def backward(
    grad_ptr,
    x_ptr,
    gx_ptr,
    scale_ptr,
    shift_ptr,
    p_ptr,
    part_ptr,
    M,
    KIND: tl.constexpr,
    DOT: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    g, b = tl.program_id(0), tl.program_id(1)
    j = b * BLOCK + tl.arange(0, BLOCK)
    mask = j < M
    offset = g.to(tl.int64) * M + j
    x = tl.load(x_ptr + offset, mask=mask, other=0.0).to(ACC)
    grad = tl.load(grad_ptr + offset, mask=mask, other=0.0).to(ACC)
    f, df = _act(x, p_ptr, KIND)
    a = tl.load(scale_ptr + g).to(ACC)
    tl.store(gx_ptr + offset, (a * grad * df).to(gx_ptr.dtype.element_ty), mask=mask)
    if DOT:
        c = tl.load(shift_ptr + g).to(ACC)
        tl.store(part_ptr + g.to(tl.int64) * tl.num_programs(1) + b, tl.sum(grad * (f - c), 0))
