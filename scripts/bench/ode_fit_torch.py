# The PyTorch anchor of the ODE fit step in `npm run bench`: the Lotka-Volterra fit as a person
# writes it in PyTorch eager (float32): RK4 over 120 steps of 0.1 from (10, 5), the whole trajectory
# against a target made with known rates, MSE, backward, one Adam step (lr 0.01). Prints one JSON
# line: the median milliseconds of a step after warm-up.
#
# Usage: python ode_fit_torch.py STEPS THREADS
import json
import statistics
import sys
import time

import torch


def rhs(p, y):
    alpha, beta, delta, gamma = p
    x, z = y[0], y[1]
    return torch.stack([alpha * x - beta * (x * z), delta * (x * z) - gamma * z])


def trajectory(p, y0, dt=0.1, steps=120):
    y = y0
    out = [y]
    for _ in range(steps):
        k1 = rhs(p, y)
        k2 = rhs(p, y + (dt / 2) * k1)
        k3 = rhs(p, y + (dt / 2) * k2)
        k4 = rhs(p, y + dt * k3)
        y = y + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return torch.stack(out)


def main():
    steps, threads = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    y0 = torch.tensor([10.0, 5.0])
    with torch.no_grad():
        target = trajectory([torch.tensor(v) for v in (1.1, 0.4, 0.1, 0.4)], y0)
    params = [torch.tensor(v, requires_grad=True) for v in (1.0, 0.5, 0.2, 0.5)]
    opt = torch.optim.Adam(params, lr=0.01)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(trajectory(params, y0), target)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"ms": statistics.median(times)}))


main()
