// The user-facing Tensor: a thin owner of one native tensor handle. Arithmetic runs eagerly through
// the native kernel table; graph runs never create these for their intermediates.
import * as os from 'os';
import { checkShape, describe, flatten, Nested, unflatten } from './host-data';
import { DTypeName, native, NativeTensor } from './native';

export type DType = DTypeName;
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export type TensorLike = Tensor | number;

// Tensors made inside `tidy` scopes, innermost last; a scope disposes what it made and did not return.
const scopes: Set<Tensor>[] = [];

export class Tensor {
  /** @internal Use the factories (`tensor`, `zeros`, ...); this wraps a handle the addon returned. */
  constructor(readonly handle: NativeTensor) {
    scopes[scopes.length - 1]?.add(this);
  }

  // Shape, dtype and device never change for a handle, and requiresGrad changes only through the
  // setter below: cached, so hot paths (a forward call at batch 1) do not cross into native code.
  private cachedShape?: number[];
  private cachedDtype?: DType;
  private cachedDevice?: string;
  private cachedRequiresGrad?: boolean;

  get shape(): number[] {
    return this.dims.slice();
  }
  /** @internal The shape itself, not a copy (never to be modified): for hot paths such as forward at batch 1. */
  get dims(): readonly number[] {
    return (this.cachedShape ??= this.handle.shape());
  }
  get dtype(): DType {
    return (this.cachedDtype ??= this.handle.dtype() as DType);
  }
  get device(): string {
    return (this.cachedDevice ??= this.handle.device());
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get disposed(): boolean {
    return this.handle.isDisposed();
  }
  get requiresGrad(): boolean {
    return (this.cachedRequiresGrad ??= this.handle.requiresGrad());
  }
  set requiresGrad(on: boolean) {
    this.handle.setRequiresGrad(on);
    this.cachedRequiresGrad = on;
  }
  /** The accumulated gradient, as a new tensor (yours to dispose), or undefined before any backward(). */
  get grad(): Tensor | undefined {
    const g = this.handle.grad();
    return g && new Tensor(g);
  }

  toTypedArray(): Float32Array | Float64Array {
    return this.handle.toTypedArray();
  }
  toArray(): Nested {
    return unflatten(this.toTypedArray(), this.shape);
  }
  item(): number {
    return this.handle.item();
  }
  backward(gradient?: Tensor): void {
    this.handle.backward(gradient?.handle);
  }
  zeroGrad(): void {
    this.handle.zeroGrad();
  }
  detach(): Tensor {
    return new Tensor(this.handle.detach());
  }
  to(options: { dtype?: DType; device?: Device }): Tensor {
    if (options === null || typeof options !== 'object')
      throw new TypeError(`to() takes { dtype, device }, got ${describe(options)}`);
    const { dtype, device } = resolve({
      dtype: options.dtype ?? this.dtype,
      device: options.device ?? (this.device as Device),
    });
    return new Tensor(this.handle.to(dtype, device));
  }
  /**
   * The same elements in another shape (row-major, as torch.reshape); gradients flow through it. One
   * size may be -1, taken from the others.
   */
  reshape(shape: number[]): Tensor {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= -1))
      throw new TypeError(`reshape() takes an array of whole-number sizes (one may be -1), got ${describe(shape)}`);
    const free = shape.filter((d) => d === -1).length;
    const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const fits = free === 0 ? known === this.size : free === 1 && known > 0 && this.size % known === 0;
    if (!fits)
      throw new RangeError(
        `reshape(): a tensor of shape [${this.shape.join(', ')}] cannot take shape [${shape.join(', ')}]`,
      );
    return new Tensor(this.handle.reshape(shape.map((d) => (d === -1 ? this.size / known : d))));
  }
  /** Frees the native memory now; using the tensor afterwards is an error. Safe to call twice. */
  dispose(): void {
    this.handle.dispose();
  }

  add(other: TensorLike): Tensor {
    return this.op('+', other);
  }
  sub(other: TensorLike): Tensor {
    return this.op('-', other);
  }
  mul(other: TensorLike): Tensor {
    return this.op('*', other);
  }
  div(other: TensorLike): Tensor {
    return this.op('/', other);
  }
  pow(other: TensorLike): Tensor {
    return this.op('pow', other);
  }
  matmul(other: Tensor): Tensor {
    return this.op('matmul', other);
  }
  neg(): Tensor {
    return this.op('neg');
  }
  abs(): Tensor {
    return this.op('abs');
  }
  square(): Tensor {
    return this.op('square');
  }
  sqrt(): Tensor {
    return this.op('sqrt');
  }
  exp(): Tensor {
    return this.op('exp');
  }
  log(): Tensor {
    return this.op('log');
  }
  sin(): Tensor {
    return this.op('sin');
  }
  cos(): Tensor {
    return this.op('cos');
  }
  tanh(): Tensor {
    return this.op('tanh');
  }
  sum(): Tensor {
    return this.op('sum');
  }
  mean(): Tensor {
    return this.op('mean');
  }

  private op(name: string, other?: TensorLike): Tensor {
    if (other === undefined) return new Tensor(native().apply(name, [this.handle]));
    const operand = toTensorHandle(other, this);
    try {
      return new Tensor(native().apply(name, [this.handle, operand]));
    } catch (e) {
      // libtorch's own words name neither the operation nor the operands as the caller wrote them.
      const message = (e as Error).message;
      if (!message.startsWith('libtorch:')) throw e;
      const what = (t: Tensor) => `[${t.shape.join(', ')}] ${t.dtype}`;
      throw new Error(`${name} of ${what(this)} and ${other instanceof Tensor ? what(other) : 'a number'}: ${message}`);
    } finally {
      // A number became a temporary native scalar; free it now rather than at the next GC.
      if (!(other instanceof Tensor)) operand.dispose();
    }
  }
}

function toTensorHandle(v: TensorLike, like: Tensor): NativeTensor {
  if (v instanceof Tensor) return v.handle;
  if (typeof v === 'number') return native().full([], v, like.dtype, like.device);
  throw new TypeError(`expected a Tensor or a number, got ${describe(v)}`);
}

export const DTYPES: readonly DType[] = ['float32', 'float64'];

function resolve(options: TensorOptions = {}): { dtype: DType; device: string } {
  if (options === null || typeof options !== 'object')
    throw new TypeError(`tensor options must be an object, got ${describe(options)}`);
  const dtype = options.dtype ?? 'float32';
  if (!DTYPES.includes(dtype)) throw new TypeError(`dtype must be 'float32' or 'float64', got ${describe(dtype)}`);
  const device = options.device ?? 'cpu';
  if (typeof device !== 'string') throw new TypeError(`device must be 'cpu' or 'cuda', got ${describe(device)}`);
  return { dtype, device };
}

function finish(handle: NativeTensor, options?: TensorOptions): Tensor {
  const t = new Tensor(handle);
  if (options?.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor from a number, a nested array, or a Float32Array/Float64Array with `shape`.
 * The dtype defaults to float32, or to the typed array's own type.
 */
export function tensor(
  data: Nested | Float32Array | Float64Array,
  options: TensorOptions & { shape?: number[] } = {},
): Tensor {
  if (data instanceof Float32Array || data instanceof Float64Array) {
    const shape = checkShape(options.shape ?? [data.length]);
    const dtype = options.dtype ?? (data instanceof Float64Array ? 'float64' : 'float32');
    const { device } = resolve({ ...options, dtype });
    return finish(native().fromHost(data, shape, dtype, device), options);
  }
  const flat = flatten(data, 'tensor data');
  if (options.shape && options.shape.join() !== flat.shape.join())
    throw new RangeError(`tensor data has shape [${flat.shape}] but shape [${options.shape}] was given`);
  const { dtype, device } = resolve(options);
  return finish(native().fromHost(flat.data, flat.shape, dtype, device), options);
}

/**
 * The largest tensor the factories allocate: half the machine's memory. Checked before allocating,
 * since an allocation the system grants lazily is only refused later, by the OOM killer.
 */
export const MAX_TENSOR_BYTES = os.totalmem() / 2;

export const bytesPerElement = (dtype: DType): number => (dtype === 'float64' ? 8 : 4);
export const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GB`;

function checkSize(shape: number[], dtype: DType): number[] {
  const bytes = shape.reduce((a, b) => a * b, 1) * bytesPerElement(dtype);
  if (bytes > MAX_TENSOR_BYTES)
    throw new RangeError(
      `a ${dtype} tensor of shape [${shape.join(', ')}] needs ${gb(bytes)}, more than the limit of ${gb(MAX_TENSOR_BYTES)} (half of this machine's memory)`,
    );
  return shape;
}

export function full(shape: number[], value: number, options?: TensorOptions): Tensor {
  if (typeof value !== 'number') throw new TypeError(`full() takes a number as its value, got ${describe(value)}`);
  const { dtype, device } = resolve(options);
  return finish(native().full(checkSize(checkShape(shape), dtype), value, dtype, device), options);
}

export const zeros = (shape: number[], options?: TensorOptions): Tensor => full(shape, 0, options);
export const ones = (shape: number[], options?: TensorOptions): Tensor => full(shape, 1, options);

/** Standard normal samples; a `seed` makes them reproducible (the same on every device). */
export function randn(shape: number[], options: TensorOptions & { seed?: number } = {}): Tensor {
  const { seed } = options;
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0))
    throw new TypeError(`seed must be a whole number >= 0, got ${describe(seed)}`);
  const { dtype, device } = resolve(options);
  return finish(native().randn(checkSize(checkShape(shape), dtype), seed, dtype, device), options);
}

/**
 * Runs fn and disposes every tensor created inside it, except those in its result (a tensor, or an
 * array or object of tensors). Frees a training step's intermediates deterministically.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy() takes a function to run, got ${describe(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keep = new Set<Tensor>();
  const collect = (v: unknown): void => {
    if (v instanceof Tensor) keep.add(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(result);
  for (const t of scope) if (!keep.has(t)) t.dispose();
  // What survives belongs to the enclosing scope, if any.
  for (const t of keep) if (scope.has(t)) scopes[scopes.length - 1]?.add(t);
  return result;
}

/** The most intra-op threads setNumThreads accepts (native/tensor.cpp checks the same bound). */
const MAX_THREADS = 1024;

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS)
    throw new RangeError(`setNumThreads takes a whole number from 1 to ${MAX_THREADS}, got ${describe(n)}`);
  native().setNumThreads(n);
}

export const getNumThreads = (): number => native().getNumThreads();
export const cudaAvailable = (): boolean => native().cudaAvailable();
