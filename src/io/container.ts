// The model file's container: magic, version, JSON metadata and raw little-endian tensor data. It knows
// nothing about models; docs/model-format.md describes the layout. Its signatures use Uint8Array, not
// Buffer, so the published types compile without @types/node.
import * as os from 'os';

/** 0x89 'N' 'C' 'M' CR LF SUB LF: the high byte and the line endings catch text-mode mangling. */
export const MAGIC: Uint8Array = Uint8Array.from([0x89, 0x4e, 0x43, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a]);
export const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;
const ALIGN = 8;

export type TensorDType = 'float32' | 'float64';

export interface StoredTensor {
  dtype: TensorDType;
  shape: number[];
  data: Float32Array | Float64Array;
}

interface TensorEntry {
  dtype: TensorDType;
  shape: number[];
  offset: number;
}

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

const itemBytes = (dtype: TensorDType): number => (dtype === 'float32' ? 4 : 8);
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const BIG_ENDIAN = os.endianness() === 'BE';

/** Swaps between the file's little-endian order and the host's, in place: a no-op on little-endian hosts. */
function swapOnBigEndian(bytes: Buffer, dtype: TensorDType): Buffer {
  if (BIG_ENDIAN && dtype === 'float32') bytes.swap32();
  else if (BIG_ENDIAN) bytes.swap64();
  return bytes;
}

export function encode(model: unknown, tensors: StoredTensor[]): Uint8Array {
  const entries: TensorEntry[] = [];
  const chunks: Buffer[] = [];
  let dataBytes = 0;
  for (const t of tensors) {
    entries.push({ dtype: t.dtype, shape: t.shape, offset: dataBytes });
    const bytes = swapOnBigEndian(
      Buffer.from(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
      t.dtype,
    );
    chunks.push(bytes, Buffer.alloc(align(bytes.length) - bytes.length));
    dataBytes += align(bytes.length);
  }
  const meta = Buffer.from(JSON.stringify({ model, tensors: entries, dataBytes }), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  header.set(MAGIC, 0);
  header.writeUInt32LE(FORMAT_VERSION, 8);
  header.writeUInt32LE(meta.length, 12);
  const pad = Buffer.alloc(align(HEADER_BYTES + meta.length) - HEADER_BYTES - meta.length);
  return Buffer.concat([header, meta, pad, ...chunks]);
}

/** Reads a container, checking every length and offset; the model record comes back unchecked. */
export function decode(bytes: Uint8Array): { model: unknown; tensors: StoredTensor[] } {
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (file.length < MAGIC.length || !file.subarray(0, MAGIC.length).equals(MAGIC))
    throw new ModelFileError('not a neural-compiler model file (its first bytes are not the model-file magic)');
  if (file.length < HEADER_BYTES)
    throw new ModelFileError(`truncated: the header needs ${HEADER_BYTES} bytes, the file has ${file.length}`);
  const version = file.readUInt32LE(8);
  if (version !== FORMAT_VERSION)
    throw new ModelFileError(
      `unsupported model-file format version ${version} (this library reads version ${FORMAT_VERSION})`,
    );
  const metaBytes = file.readUInt32LE(12);
  if (HEADER_BYTES + metaBytes > file.length)
    throw new ModelFileError(`truncated: the metadata needs ${metaBytes} bytes, ${file.length - HEADER_BYTES} remain`);
  let meta: unknown;
  try {
    meta = JSON.parse(file.toString('utf8', HEADER_BYTES, HEADER_BYTES + metaBytes));
  } catch (e) {
    throw new ModelFileError(`corrupt metadata: not valid JSON (${(e as Error).message})`);
  }
  const { model, tensors, dataBytes } = checkMeta(meta);
  const start = align(HEADER_BYTES + metaBytes);
  if (file.length !== start + dataBytes) {
    const found = Math.max(0, file.length - start);
    throw new ModelFileError(
      `${found < dataBytes ? 'truncated' : 'corrupt'}: the tensor data should be ${dataBytes} bytes, the file holds ${found}`,
    );
  }
  return {
    model,
    tensors: tensors.map((t, i) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const bytes = n * itemBytes(t.dtype);
      if (t.offset % ALIGN !== 0 || t.offset + bytes > dataBytes)
        throw new ModelFileError(
          `corrupt metadata: tensor ${i} (${bytes} bytes at offset ${t.offset}) lies outside the ${dataBytes}-byte data section`,
        );
      // A copy into its own (hence aligned) buffer, in host order.
      const raw = new Uint8Array(bytes);
      raw.set(file.subarray(start + t.offset, start + t.offset + bytes));
      swapOnBigEndian(Buffer.from(raw.buffer), t.dtype);
      const data = t.dtype === 'float32' ? new Float32Array(raw.buffer) : new Float64Array(raw.buffer);
      return { dtype: t.dtype, shape: t.shape, data };
    }),
  };
}

function checkMeta(meta: unknown): { model: unknown; tensors: TensorEntry[]; dataBytes: number } {
  const fail = (what: string): never => {
    throw new ModelFileError(`corrupt metadata: ${what}`);
  };
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return fail('expected a JSON object');
  const { model, tensors, dataBytes } = meta as Record<string, unknown>;
  if (!isWhole(dataBytes)) fail('dataBytes must be a whole number');
  if (!Array.isArray(tensors)) return fail('tensors must be an array');
  tensors.forEach((t, i) => {
    const e = t as TensorEntry;
    if (e === null || typeof e !== 'object') fail(`tensor ${i} must be an object`);
    if (e.dtype !== 'float32' && e.dtype !== 'float64')
      fail(`tensor ${i} has dtype ${JSON.stringify(e.dtype)} (expected float32 or float64)`);
    if (!Array.isArray(e.shape) || !e.shape.every(isWhole))
      fail(`tensor ${i} has a bad shape ${JSON.stringify(e.shape)}`);
    if (!isWhole(e.offset)) fail(`tensor ${i} has a bad offset ${JSON.stringify(e.offset)}`);
  });
  if (model === undefined) fail('no model record');
  return { model, tensors: tensors as TensorEntry[], dataBytes: dataBytes as number };
}

const isWhole = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
