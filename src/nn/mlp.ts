// Learned components: a multilayer perceptron whose parameters train alongside a compiled program's.
// Options are checked here, where the messages can speak the API's names; the math is native.
import { describe, Nested } from '../runtime/host-data';
import { Device, DType, Tensor, tensor } from '../runtime/tensor';
import { mlpAddon, NativeMlp } from './native-mlp';

export const ACTIVATIONS = ['tanh', 'relu', 'gelu', 'silu', 'softplus'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface MlpOptions {
  /** Between hidden layers (none after the last): default 'tanh'. 'gelu' is the exact erf form. */
  activation?: Activation;
  /** Makes the initial weights reproducible: the same seed gives the same weights on every run. */
  seed?: number;
  dtype?: DType;
  device?: Device;
}

const OPTIONS = ['activation', 'seed', 'dtype', 'device'];

export class Mlp {
  readonly sizes: readonly number[];
  readonly activation: Activation;
  readonly dtype: DType;
  readonly device: Device;
  /** @internal The native MLP; a compiled program calls it through this handle. */
  readonly handle: NativeMlp;
  private readonly params: { name: string; tensor: Tensor }[];

  /** @internal Use nn.mlp. */
  constructor(sizes: number[], options: MlpOptions = {}) {
    const o = checkOptions(options);
    this.sizes = Object.freeze(checkSizes(sizes));
    this.activation = o.activation ?? 'tanh';
    this.dtype = o.dtype ?? 'float32';
    this.device = o.device ?? 'cpu';
    this.handle = new (mlpAddon().NativeMlp)([...this.sizes], this.activation, o.seed, this.dtype, this.device);
    this.params = this.handle.parameters().map((p) => ({ name: p.name, tensor: new Tensor(p.tensor) }));
  }

  get inFeatures(): number {
    return this.sizes[0];
  }
  get outFeatures(): number {
    return this.sizes[this.sizes.length - 1];
  }
  get disposed(): boolean {
    return this.handle.isDisposed();
  }
  /** @internal Set by fit() while it trains this network's weights. */
  training = false;

  /**
   * x of shape [in] or [batch, in] (a Tensor, converted to this MLP's dtype and device if needed,
   * or nested numbers) -> [out] or [batch, out].
   */
  forward(x: Tensor | Nested): Tensor {
    this.checkLive();
    if (this.training)
      throw new Error('this MLP is being trained by fit(); await that fit, or abort it through its signal, first');
    const owned = !(x instanceof Tensor) || x.dtype !== this.dtype || x.device !== this.device;
    const input =
      x instanceof Tensor ? (owned ? x.to({ dtype: this.dtype, device: this.device }) : x) : this.fromData(x);
    try {
      return new Tensor(this.handle.forward(input.handle));
    } finally {
      if (owned) input.dispose();
    }
  }

  /** Weights and biases in layer order: 0.weight [sizes[1], sizes[0]], 0.bias [sizes[1]], 1.weight, ... */
  parameters(): Tensor[] {
    return this.params.map((p) => p.tensor);
  }
  namedParameters(): Record<string, Tensor> {
    return Object.fromEntries(this.params.map((p) => [p.name, p.tensor]));
  }
  /**
   * The parameters a weight penalty covers: every layer's but the output layer's (its one layer's
   * without hidden ones). The hidden layers make the functions the network can follow, the output
   * layer only scales them to the data, so penalising it would shrink the learned term itself.
   */
  penalisedParameters(): Tensor[] {
    const all = this.parameters();
    return all.length > 2 ? all.slice(0, -2) : all;
  }
  /** Stops gradients to the parameters (they act as constants). */
  freeze(): void {
    for (const p of this.params) p.tensor.requiresGrad = false;
  }
  unfreeze(): void {
    for (const p of this.params) p.tensor.requiresGrad = true;
  }

  /** Frees the parameters now (a compiled program that calls this MLP keeps its own reference). Safe to call twice. */
  dispose(): void {
    this.handle.dispose();
    for (const p of this.params) p.tensor.dispose();
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('this MLP has been disposed and cannot be used any more');
  }

  private fromData(x: Nested): Tensor {
    if (typeof x !== 'number' && !Array.isArray(x))
      throw new TypeError(`mlp.forward takes a Tensor or nested arrays of numbers, got ${describe(x)}`);
    return tensor(x, { dtype: this.dtype, device: this.device });
  }
}

/** A multilayer perceptron with layer sizes [in, ...hidden, out]. */
export function mlp(sizes: number[], options?: MlpOptions): Mlp {
  return new Mlp(sizes, options);
}

function checkSizes(sizes: unknown): number[] {
  if (!Array.isArray(sizes) || sizes.length < 2)
    throw new TypeError(
      `nn.mlp: sizes must be an array [in, ...hidden, out] of at least two whole numbers, got ${describe(sizes)}`,
    );
  sizes.forEach((s, i) => {
    if (!Number.isSafeInteger(s) || s < 1)
      throw new RangeError(`nn.mlp: sizes[${i}] must be a whole number >= 1, got ${describe(s)}`);
  });
  return sizes.slice();
}

function checkOptions(options: unknown): MlpOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(`nn.mlp: options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (!OPTIONS.includes(key))
      throw new TypeError(`nn.mlp: unknown option '${key}' (expected one of ${OPTIONS.join(', ')})`);
  const o = options as MlpOptions;
  if (o.activation !== undefined && !ACTIVATIONS.includes(o.activation))
    throw new TypeError(`nn.mlp: activation must be one of ${ACTIVATIONS.join(', ')}, got ${describe(o.activation)}`);
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0))
    throw new TypeError(`nn.mlp: seed must be a whole number >= 0, got ${describe(o.seed)}`);
  if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'float64')
    throw new TypeError(`nn.mlp: dtype must be 'float32' or 'float64', got ${describe(o.dtype)}`);
  if (o.device !== undefined && typeof o.device !== 'string')
    throw new TypeError(`nn.mlp: device must be 'cpu' or 'cuda', got ${describe(o.device)}`);
  return o;
}
