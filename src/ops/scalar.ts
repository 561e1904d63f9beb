// Float64 scalar functions the registry's semantics are written with, where JavaScript's Math has
// none or differs from libtorch.

/** C/IEEE pow: JavaScript's Math.pow differs for pow(1, NaN) and pow(-1, +-inf), which are 1. */
export function ieeePow(base: number, exponent: number): number {
  if (base === 1) return 1;
  if (base === -1 && (exponent === Infinity || exponent === -Infinity)) return 1;
  return Math.pow(base, exponent);
}

/** 1 / (1 + exp(-a)), without overflow for large negative a. */
export const logistic = (a: number): number => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a)));

/**
 * floor(x / y) as libtorch computes it for the gradient of modulo (c10's div_floor_floating): through
 * fmod, so an infinite x gives NaN and floor(-3 / inf) is -1, where Math.floor(x / y) gives -inf and -0.
 */
export function floorDivide(a: number, b: number): number {
  if (b === 0) return a / b;
  const mod = a % b;
  let quotient = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) quotient -= 1;
  if (quotient === 0) return Math.sign(a / b) < 0 || Object.is(a / b, -0) ? -0 : 0;
  const floor = Math.floor(quotient);
  return quotient - floor > 0.5 ? floor + 1 : floor;
}

/** Round half to even, keeping the sign of zero as IEEE rounding does. */
export function roundHalfEven(a: number): number {
  if (!Number.isFinite(a)) return a;
  const f = Math.floor(a);
  const d = a - f;
  const r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return r === 0 && (a < 0 || Object.is(a, -0)) ? -0 : r;
}

/** R7RS floor-remainder, as torch.remainder: fmod, then shifted to the divisor's sign. */
export function floorRemainder(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

/** erf to about 1e-16 absolute: a series with positive terms below 2.5, a continued fraction for erfc above. */
export function erf(a: number): number {
  if (Number.isNaN(a) || a === 0) return a; // keeps the sign of zero, as libm does
  const m = Math.abs(a);
  const s = a < 0 ? -1 : 1;
  if (m >= 6) return s; // erfc(6) < 3e-17
  if (m < 2.5) {
    // erf x = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
    let term = m;
    let total = m;
    for (let n = 1; term > total * 1e-17; n++) {
      term *= (2 * m * m) / (2 * n + 1);
      total += term;
    }
    return (s * 2 * Math.exp(-m * m) * total) / Math.sqrt(Math.PI);
  }
  // erfc x = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up
  let f = m;
  for (let n = 120; n >= 1; n--) f = m + n / 2 / f;
  return s * (1 - Math.exp(-m * m) / (Math.sqrt(Math.PI) * f));
}

/** x^e with a compile-time exponent, as libtorch's pow(Tensor, Scalar) computes it: 0.5 and -0.5 are sqrt and rsqrt. */
export function powScalar(a: number, e: number): number {
  if (e === 0.5) return Math.sqrt(a);
  if (e === -0.5) return 1 / Math.sqrt(a);
  return ieeePow(a, e);
}
