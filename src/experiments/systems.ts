// The two ODE systems of the paper, as specifications for odeExperiment (scripts/hybrid-study.js reads them too).
import { odeExperiment, type OdeSpec } from './ode';

export const lotkaVolterraSpec: OdeSpec = {
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
    why: {
      plain:
        'The growth and death MLPs stand in for alpha x and gamma y; along one noisy trajectory they can trade a little against the predation terms, so beta and delta are less well determined than with the full physics (the noise floor in brackets: the same data with growth and death known).',
      penalised:
        'No one strength brings both rates within 1 % on this trajectory (scripts/hybrid-study.js, full settings: weightPenalty 0, 1e-5, 1e-4 give beta 0.42, 1.04, 1.24 % and delta 1.57, 1.40, 0.81 %): the penalty stops the MLPs trading against delta x y, but it also shrinks the growth MLP, which must output alpha x up to about 6, and beta takes up the difference. The noise alone leaves delta 0.67 % on this trajectory (0.42 % RMS over noise seeds 6 to 11 with growth and death known).',
    },
  },
  paper: 'rates within 1.14 %, 0.95 %, 0.71 %, 0.09 %',
};
export const lotkaVolterra = odeExperiment(lotkaVolterraSpec);

export const pendulumSpec: OdeSpec = {
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
    why: {
      plain:
        'Along one trajectory an MLP of t can follow any function of time, the damping term b omega(t) and part of the gravity term included, so unpenalised g/L and b are not identified; the weight penalty (next row) is the remedy.',
      penalised:
        'Along one trajectory b omega(t) and g/L sin theta(t) are functions of t that a forcing MLP of t can take over exactly, so only the penalty separates them from the forcing: weightPenalty 1e-6 and 1e-4 give b 9.2 and 0.83 % (scripts/hybrid-study.js, full settings; 1e-5 gave 4.1 % in the last run, from observed window starts). The noise alone leaves b 1.55 % on this trajectory with the forcing known (0.74 % RMS over noise seeds 6 to 11), so b within 1 % is at the floor one trajectory allows.',
    },
  },
  paper: 'g/L 0.08 %, b 0.17 %',
};
export const pendulum = odeExperiment(pendulumSpec);
