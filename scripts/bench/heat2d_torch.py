# The PyTorch eager anchor of the heat 2-D benchmark (issue 14; scripts/bench/heat2d.js): the same
# problem as native/tools/heat2d_eager.cpp, written as a person writes it in Python, float32.
#
# Usage: python heat2d_torch.py time N STEPS REPS THREADS    median ms of forward+backward
#        python heat2d_torch.py memory N STEPS THREADS       peak RSS growth of one forward+backward
# stdout: one JSON line.
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


WARM_N = 16


def initial_field(n):
    """A Gaussian bump off the centre, so the zero-flux boundary matters."""
    x = torch.arange(n, dtype=torch.float64) / (n - 1)
    d2 = (x - 0.35).pow(2).unsqueeze(1) + (x - 0.6).pow(2).unsqueeze(0)
    return torch.exp(-d2 / (2 * 0.1 * 0.1)).float()


def forward_backward(u0, alpha, n, steps):
    h = 1.0 / (n - 1)
    dt = 0.2 * h * h
    r = alpha * (dt / (h * h))
    u = u0
    for _ in range(steps):
        p = F.pad(u.unsqueeze(0), (1, 1, 1, 1), mode="replicate").squeeze(0)
        lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u
        u = u + r * lap
    loss = (u * u).sum()
    loss.backward()
    grad = alpha.grad.item()
    alpha.grad = None
    return loss.item(), grad


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main():
    mode, n, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[-1]))
    u0 = initial_field(n)
    alpha = torch.tensor(1.0, requires_grad=True)
    if mode == "memory":
        # Warm-up on a small field: lazy initialisation is not the run's memory, and a small run
        # leaves no freed heap behind for the measured run to reuse unseen.
        forward_backward(initial_field(WARM_N), alpha, WARM_N, steps)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the peak-RSS mark (VmHWM) to the current RSS
        before = status_kb("VmRSS")
        loss, grad = forward_backward(u0, alpha, n, steps)
        out = {"peakKb": status_kb("VmHWM") - before}
    else:
        reps = int(sys.argv[4])
        forward_backward(u0, alpha, n, steps)
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            loss, grad = forward_backward(u0, alpha, n, steps)
            samples.append((time.perf_counter() - t0) * 1e3)
        out = {"ms": statistics.median(samples)}
    print(json.dumps({**out, "loss": loss, "grad": grad}), flush=True)


if __name__ == "__main__":
    main()
