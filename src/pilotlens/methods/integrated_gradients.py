"""Integrated gradients (Sundararajan et al. 2017): (x - baseline) times the path-averaged gradient,
summed over channels (signed). Gauss-Legendre quadrature by default, as captum."""
from __future__ import annotations

import numpy as np
import torch

from .base import Explainer, register

RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def quadrature(steps: int, rule: str) -> tuple[list[float], list[float]]:
    """(alphas in [0, 1], weights summing to 1) for integrating over the straight path."""
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (0.5 * (nodes + 1)).tolist(), (0.5 * weights).tolist()
    if rule == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("integrated_gradients: riemann_trapezoid needs steps >= 2")
        w = [1.0 / (steps - 1)] * steps
        w[0] = w[-1] = 0.5 / (steps - 1)
        return np.linspace(0, 1, steps).tolist(), w
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[rule]
    return [(i + offset) / steps for i in range(steps)], [1.0 / steps] * steps


@register
class IntegratedGradients(Explainer):
    name = "integrated_gradients"
    costly = True   # many forward or backward passes per image
    signed = True
    defaults = {"steps": 50, "baseline": 0.0, "rule": "gausslegendre"}
    option_types = {"baseline": (float, torch.Tensor)}

    def check_options(self):
        if int(self.options["steps"]) < 1:
            raise ValueError("integrated_gradients: steps must be >= 1")
        if self.options["rule"] not in RULES:
            raise ValueError(f"integrated_gradients: unknown rule {self.options['rule']!r}; rules: {', '.join(RULES)}")

    def attribute(self, x, target, hooks):
        baseline = torch.as_tensor(self.options["baseline"], dtype=x.dtype, device=x.device).expand_as(x)
        output = self.forward(x)
        fixed = self.fixed_target(target, output)
        alphas, weights = quadrature(int(self.options["steps"]), self.options["rule"])
        path = torch.zeros_like(x)
        for alpha, weight in zip(alphas, weights):
            grad, _, _ = self.input_gradient(baseline + alpha * (x - baseline), target, fixed)
            path += weight * grad
        return ((x - baseline) * path).sum(dim=1), output.detach()
