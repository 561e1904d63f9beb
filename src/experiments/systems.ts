// The two ODE systems of the paper, as specifications for odeExperiment.
import { odeExperiment } from './ode';

export const lotkaVolterra = odeExperiment({
  name: 'lotka_volterra',
  title: 'Lotka-Volterra predator-prey',
  file: 'lotka_volterra',
  state: ['x', 'y'],
  truth: { alpha: 1.0, beta: 0.5, delta: 0.25, gamma: 0.5 },
  init: { alpha: 0.5, beta: 0.5, delta: 0.5, gamma: 0.5 },
  y0: [4, 1],
  dt: 0.1,
  tEnd: 12,
  hybrid: {
    truth: '(let ((dx (- (* alpha x) (* beta (* x y)))) (dy (- (* delta (* x y)) (* gamma y)))) [dx dy])',
    model: '(let ((p (* x y))) [(- (growth x) (* beta p)) (- (* delta p) (death y))])',
    mlps: { growth: [1, 32, 32, 1], death: [1, 32, 32, 1] },
    learned: ['beta', 'delta'],
    describe:
      'the compiled predation terms beta x y and delta x y, with growth alpha x and death gamma y each learned by a 1-32-32-1 tanh MLP.',
  },
  paper: 'rates within 1.14 %, 0.95 %, 0.71 %, 0.09 %',
});

export const pendulum = odeExperiment({
  name: 'pendulum',
  title: 'Damped pendulum',
  file: 'damped_pendulum',
  state: ['theta', 'omega'],
  truth: { g_L: 9.81, b: 0.3 },
  init: { g_L: 5, b: 0.5 },
  y0: [1, 0],
  dt: 0.05,
  tEnd: 10,
  hybrid: {
    truth: '[omega (+ (- (- 0 (* g_L (sin theta))) (* b omega)) (* 0.5 (sin (* (/ 2 3) t))))]',
    model: '[omega (+ (- (- 0 (* g_L (sin theta))) (* b omega)) (force t))]',
    mlps: { force: [1, 32, 32, 1] },
    learned: ['g_L', 'b'],
    describe:
      'data with forcing 0.5 sin(2t/3); the compiled pendulum plus a 1-32-32-1 tanh MLP of t for the forcing, trained with g/L and b.',
  },
  paper: 'g/L 0.08 %, b 0.17 %',
});
