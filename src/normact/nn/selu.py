"""The SELU family as modules: DSELU, SSELU and LSELU, solved for any epsilon.

Redefining the Self-Normalization Property: dSELU (eq. 3 with eq. 5), sSELU (eq. 9), lSELU
(eq. 10); ``from_epsilon`` solves Definition 2 / eq. 11 (eq. 13 with ``central=True``) with
``normact.theory.solve``; a trainable ``lam`` follows section 5 and eq. 41.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from normact.functional import selu as S
from normact.functional.activations import SELU_ALPHA, SELU_LAMBDA, elementwise

__all__ = ["DSELU", "LSELU", "SSELU"]


def _solve(family: str, eps: float, central: bool, lam_min: float) -> tuple[float, float, float | None]:
    from normact.theory import solve  # numpy/scipy; cached per (family, eps, central, lam_min)

    sol = solve(family, eps, central=central, lam_min=lam_min)
    if not sol.converged:
        raise RuntimeError(
            f"the {family} solver did not converge for eps={eps}, central={central}, lam_min={lam_min} "
            f"(residuals {sol.residuals})"
        )
    return float(sol.lam), float(sol.alpha), None if sol.beta is None else float(sol.beta)


class _SELUFamily(nn.Module):
    """``lam * g(x; alpha, beta)``; ``lam`` a float, or a Parameter when ``trainable_lambda``."""

    family: ClassVar[str]
    lam: float | nn.Parameter

    def __init__(
        self,
        lam: float,
        alpha: float,
        beta: float,
        trainable_lambda: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not lam > 0 or not alpha >= 0:
            raise ValueError(
                f"{type(self).__name__} needs lam > 0 and alpha >= 0 (got lam={lam}, alpha={alpha})"
            )
        self.alpha, self.beta = float(alpha), float(beta)
        self.trainable_lambda = trainable_lambda
        if trainable_lambda:
            self.lam = nn.Parameter(torch.tensor(float(lam), device=device, dtype=dtype or torch.float32))
        else:
            self.lam = float(lam)

    @classmethod
    def from_epsilon(
        cls,
        eps: float,
        central: bool = False,
        trainable_lambda: bool = False,
        lam_min: float = 1.0,
        **kwargs: Any,
    ):
        """The activation whose ``(lam, alpha[, beta])`` solve eq. 11 (eq. 13 with ``central``) for ``eps``.

        ``lam_min`` is the program's lower bound on lam (the paper's 1; 0.5 in its section 6.3 ablation).
        Solutions are cached per ``(eps, central, lam_min)``.
        """
        if not eps > 0:
            raise ValueError(f"eps must be positive (got {eps})")
        lam, alpha, beta = _solve(cls.family, float(eps), bool(central), float(lam_min))
        params = {"lam": lam, "alpha": alpha} | ({} if beta is None else {"beta": beta})
        return cls(**params, trainable_lambda=trainable_lambda, **kwargs)

    def forward(self, input: Tensor) -> Tensor:
        return S.selu_family(input, self.family, self.lam, self.alpha, self.beta)

    def derivative(self, input: Tensor) -> Tensor:
        """``f'(input)`` elementwise with the current ``lam``."""
        g = elementwise(self.family, lam=1.0, alpha=self.alpha, **self._beta()).derivative(input)
        return g * (self.lam.detach().to(input.dtype) if isinstance(self.lam, Tensor) else self.lam)

    def _beta(self) -> dict[str, float]:
        return {"beta": self.beta}

    def extra_repr(self) -> str:
        lam = f"{self.lam.item():.6g} (trainable)" if isinstance(self.lam, Tensor) else f"{self.lam:.6g}"
        return f"lam={lam}, alpha={self.alpha:.6g}" + "".join(
            f", {k}={v:.6g}" for k, v in self._beta().items()
        )


class DSELU(_SELUFamily):
    """dSELU ``lam * (x if x > 0 else alpha (e^x - 1))`` with ``phi(1) = 1 + eps``, ``E[f^2] = 1`` (eq. 5).

    The defaults are SELU's constants (eps about 0.0716). dSELU has no centralized form: with two
    parameters it cannot meet eq. 13's three conditions.
    """

    family = "dselu"

    def __init__(
        self,
        lam: float = SELU_LAMBDA,
        alpha: float = SELU_ALPHA,
        trainable_lambda: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(lam, alpha, 1.0, trainable_lambda, device=device, dtype=dtype)

    @classmethod
    def from_epsilon(cls, eps: float, central: bool = False, trainable_lambda: bool = False, **kwargs: Any):
        if central:
            raise ValueError(
                "dselu has no centralized form (two parameters cannot meet eq. 13); use sselu or lselu"
            )
        return super().from_epsilon(eps, False, trainable_lambda, **kwargs)

    def _beta(self) -> dict[str, float]:
        return {}


class SSELU(_SELUFamily):
    """sSELU ``lam * (x if x > 0 else alpha (e^(beta x) - 1))`` (eq. 9); ``beta = 1`` is dSELU.

    The defaults (SELU's constants, ``beta = 1``) give SELU; use :meth:`from_epsilon` for eq. 11.
    """

    family = "sselu"

    def __init__(
        self,
        lam: float = SELU_LAMBDA,
        alpha: float = SELU_ALPHA,
        beta: float = 1.0,
        trainable_lambda: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(lam, alpha, beta, trainable_lambda, device=device, dtype=dtype)


class LSELU(_SELUFamily):
    """lSELU ``lam * (x if x > 0 else alpha e^x + beta x - alpha)`` (eq. 10); ``beta = 0`` is dSELU.

    The defaults (SELU's constants, ``beta = 0``) give SELU; use :meth:`from_epsilon` for eq. 11.
    """

    family = "lselu"

    def __init__(
        self,
        lam: float = SELU_LAMBDA,
        alpha: float = SELU_ALPHA,
        beta: float = 0.0,
        trainable_lambda: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(lam, alpha, beta, trainable_lambda, device=device, dtype=dtype)
