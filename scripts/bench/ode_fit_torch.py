# The PyTorch anchor of the ODE fit step in `npm run bench`: the Lotka-Volterra fit as a person
# writes it in PyTorch eager (float32): RK4 over 120 steps of 0.1 from (10, 5), the whole trajectory
# against a target made with known rates, MSE, backward, one Adam step (lr 0.01). Prints one JSON
# line: the median milliseconds of a step after warm-up. MODEL `hybrid`: the experiments' hybrid,
# growth and death 1-32-32-1 tanh MLPs for alpha x and gamma y, beta and delta trained with them.
#
# Usage: python ode_fit_torch.py STEPS THREADS [lv|hybrid]
import json
import statistics
import sys
import time

import torch


def rhs(p, y):
    alpha, beta, delta, gamma = p
    x, z = y[0], y[1]
    return torch.stack([alpha * x - beta * (x * z), delta * (x * z) - gamma * z])


def mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)
    )


def hybrid_rhs(p, y):
    beta, delta, growth, death = p
    x, z = y[0:1], y[1:2]
    return torch.cat([growth(x) - beta * (x * z), delta * (x * z) - death(z)])


def trajectory(p, y0, dt=0.1, steps=120, f=rhs):
    y = y0
    out = [y]
    for _ in range(steps):
        k1 = f(p, y)
        k2 = f(p, y + (dt / 2) * k1)
        k3 = f(p, y + (dt / 2) * k2)
        k4 = f(p, y + dt * k3)
        y = y + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return torch.stack(out)


def main():
    steps, threads = int(sys.argv[1]), int(sys.argv[2])
    hybrid = len(sys.argv) > 3 and sys.argv[3] == "hybrid"
    torch.set_num_threads(threads)
    y0 = torch.tensor([10.0, 5.0])
    with torch.no_grad():
        truth = (1.0, 0.5, 0.25, 0.5) if hybrid else (1.1, 0.4, 0.1, 0.4)
        target = trajectory([torch.tensor(v) for v in truth], y0)
    if hybrid:
        torch.manual_seed(30)
        nets = [mlp(), mlp()]
        p = [torch.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True), *nets]
        params = p[:2] + [w for net in nets for w in net.parameters()]
    else:
        p = params = [torch.tensor(v, requires_grad=True) for v in (1.0, 0.5, 0.2, 0.5)]
    opt = torch.optim.Adam(params, lr=0.01)
    f = hybrid_rhs if hybrid else rhs

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(trajectory(p, y0, f=f), target)
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
