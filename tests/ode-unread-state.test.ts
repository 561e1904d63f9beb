// An ODE state that the right-hand side does not read (position when only velocity drives the rest,
// a compartment that only accumulates) is integrated and fitted like any other. Reference: the
// closed form of x' = v, v' = -c v: v = v0 e^(-c t), x = x0 + v0 (1 - e^(-c t)) / c.
import { compile, fit, odeint } from '../src';

const C = 0.8;
const closed = (t: number) => [2 + (1 - Math.exp(-C * t)) / C, Math.exp(-C * t)];
const times = Array.from({ length: 21 }, (_, i) => i * 0.25);

test('odeint integrates a state the program does not read', () => {
  const m = compile('[v (* -1 c v)]', { params: { c: C }, dtype: 'float64' });
  expect(m.inputs).toEqual(['v']);
  const y = odeint(m, [2, 1], times, { state: ['x', 'v'], rtol: 1e-10, atol: 1e-12 }).toArray() as number[][];
  m.dispose();
  times.forEach((t, i) => expect(y[i]).toEqual(closed(t).map((v) => expect.closeTo(v, 8))));
});

test('fit recovers the constant with the unread state among the observations', async () => {
  const m = compile('[v (* -1 c v)]', { params: { c: 0.3 }, dtype: 'float64' });
  const r = await fit(
    m,
    { t: times, observations: times.map(closed) },
    { epochs: 30, optimizer: 'lbfgs', ode: { state: ['x', 'v'] } },
  );
  m.dispose();
  expect(r.converged).toBe(true);
  expect(Math.abs((r.params.c as number) - C)).toBeLessThan(1e-5);
});
