import { compile } from '../src/compiler/module';
import { odeint, multipleShooting } from '../src/train';
test('smoke', () => {
  const m = compile('(* (- 0 k) y)', { inputs: ['y'], params: { k: 0.7 }, dtype: 'float64' });
  for (const method of ['euler', 'rk4', 'dopri5'] as const) {
    const out = odeint(m, [1], [0, 0.5, 1], { method, state: ['y'] });
    console.log(method, out.shape, out.toArray(), Math.exp(-0.7));
  }
  const v = odeint(m, [[1, 2], [3, 4]], [0, 1], { method: 'dopri5' });
  console.log(v.shape, v.toArray());
  const osc = compile('[v (- 0 (* w2 x))]', { inputs: ['x', 'v'], params: { w2: 4 }, dtype: 'float64' });
  const o = odeint(osc, [[1, 0], [0, 1]], [0, 1], { state: ['x', 'v'] });
  console.log(o.toArray(), Math.cos(2), Math.sin(2) / 2);
  const y = odeint(m, [1], [0, 2], { state: ['y'] });
  y.sum().backward();
  console.log(m.parameters()[0].grad!.item(), -2 * Math.exp(-1.4));
  const blow = compile('(* y y)', { inputs: ['y'], dtype: 'float64' });
  try { odeint(blow, [1], [0, 2], { state: ['y'] }); } catch (e) { console.log((e as Error).message); }
  try { odeint(blow, [1], [0, 2], { state: ['y'], maxSteps: 1e9 }); } catch (e) { console.log((e as Error).message); }
  try { odeint(blow, [1], [0, 2], { state: ['y'], method: 'rk4', step: 0.01 }); } catch (e) { console.log((e as Error).message); }
  const tdep = compile('(+ (cos t) (* 0 y))', { inputs: ['y', 't'], dtype: 'float64' });
  console.log(odeint(tdep, [0], [0, 1, 2], { state: ['y'] }).toArray(), Math.sin(1), Math.sin(2));
  const s = multipleShooting(tdep, [[0], [Math.sin(1)], [Math.sin(2)], [Math.sin(3)], [Math.sin(4)]], [0, 1, 2, 3, 4], { windowSteps: 2, state: ['y'] });
  console.log(s.predictions.shape, s.predictions.toArray(), s.targets.toArray());
});
