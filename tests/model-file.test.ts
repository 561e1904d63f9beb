// save/load: bit-exact round trips of compiled modules, MLPs and bundles, the documented byte layout
// read back by hand, and a clear error for every kind of damaged or foreign file.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compile, Module } from '../src/api';
import { cudaAvailable } from '../src';
import { load, ModelFileError, save, type Bundle } from '../src/io';
import { Mlp, nn } from '../src/nn';
import { Tensor, tidy } from '../src/runtime/tensor';
import { losses, optim } from '../src/train';
import { noCudaDevice } from './helpers/cuda';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-model-file-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const tmp = (): string => path.join(dir, `m${counter++}.ncm`);

/** Every parameter's exact bit pattern, by name. */
function bits(params: Record<string, Tensor>): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(params).map(([name, t]) => {
      const a = t.toTypedArray();
      return [name, Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))];
    }),
  );
}

/** A file laid out by hand from docs/model-format.md, independently of the library's writer. */
function craft(meta: unknown, data = Buffer.alloc(0), version = 1): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const header = Buffer.alloc(16);
  Buffer.from([0x89, 0x4e, 0x43, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header);
  header.writeUInt32LE(version, 8);
  header.writeUInt32LE(json.length, 12);
  const pad = Buffer.alloc((8 - ((16 + json.length) % 8)) % 8);
  return Buffer.concat([header, json, pad, data]);
}

const GRAVITY = '(/ (* G (* m1 m2)) (pow r 2))';

describe('round trips', () => {
  test('a trained float32 module: parameters bit for bit, same outputs, declared shapes kept', () => {
    const m = compile('(+ (* a (dot w v)) (ref (matvec M v) 1) b)', {
      inputs: { v: [3], a: 'scalar' },
      params: {
        w: [0.1, -0.2, 0.3],
        b: 0.5,
        M: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      },
      file: 'model.neural',
    });
    // One Adam step so the values are arbitrary floats rather than the round initial ones.
    const opt = optim.adam(m.parameters(), { lr: 0.0123 });
    tidy(() => m.forward({ v: [1, 2, 3], a: 0.7 }).square()).backward();
    opt.step();
    const file = tmp();
    save(file, m);
    const loaded = load(file) as Module;
    expect(loaded).toBeInstanceOf(Module);
    expect(bits(loaded.namedParameters())).toEqual(bits(m.namedParameters()));
    expect(Object.keys(loaded.namedParameters())).toEqual(Object.keys(m.namedParameters()));
    expect(loaded.source.text).toBe(m.source.text);
    expect(loaded.source.file).toBe('model.neural');
    expect(loaded.dtype).toBe('float32');
    const inputs = {
      v: [
        [0.5, -1, 2],
        [3, 0.25, -0.75],
      ],
      a: [1.5, -2],
    };
    expect(loaded.forward(inputs, { batch: true }).toArray()).toEqual(m.forward(inputs, { batch: true }).toArray());
    // The declared shape survived: a wrong one is still rejected, and the graph exists before any call.
    expect(loaded.graph).toBeDefined();
    expect(() => loaded.forward({ v: [1, 2], a: 1 })).toThrow(/v/);
    // The loaded parameters train.
    expect(loaded.parameters().every((t) => t.requiresGrad)).toBe(true);
    opt.dispose();
  });

  test('float64 values that printing would lose: -0, subnormals, 1/3', () => {
    const values = [-0, 5e-324, 1 / 3, -1.7976931348623157e308];
    const m = compile('(dot p x)', { inputs: { x: [4] }, params: { p: values }, dtype: 'float64' });
    const file = tmp();
    save(file, m);
    const loaded = load(file) as Module;
    expect(loaded.dtype).toBe('float64');
    expect(bits(loaded.namedParameters())).toEqual(bits(m.namedParameters()));
    expect(Object.is((loaded.namedParameters().p.toArray() as number[])[0], -0)).toBe(true);
  });

  test('an MLP: sizes, activation, dtype and every weight', () => {
    const m = nn.mlp([2, 5, 3], { activation: 'gelu', seed: 3, dtype: 'float64' });
    const x = [
      [0.5, -1],
      [2, 0.1],
    ];
    const opt = optim.adam(m.parameters(), { lr: 0.01 });
    tidy(() => losses.mse(m.forward(x), m.forward(x).detach().mul(0.5))).backward();
    opt.step();
    const file = tmp();
    save(file, m);
    const loaded = load(file) as Mlp;
    expect(loaded).toBeInstanceOf(Mlp);
    expect([loaded.sizes, loaded.activation, loaded.dtype]).toEqual([[2, 5, 3], 'gelu', 'float64']);
    expect(bits(loaded.namedParameters())).toEqual(bits(m.namedParameters()));
    expect(loaded.forward(x).toArray()).toEqual(m.forward(x).toArray());
    opt.dispose();
  });

  test('a composed module saves its function with it', () => {
    const gravity = compile(GRAVITY, { params: { G: 6.674e-11 } });
    const weight = compile('(* (gravity m 5.972e24 R) k)', { functions: { gravity }, params: { k: 1.25 } });
    const file = tmp();
    save(file, weight);
    const loaded = load(file) as Module;
    expect(Object.keys(loaded.namedParameters())).toEqual(['k', 'gravity.G']);
    expect(bits(loaded.namedParameters())).toEqual(bits(weight.namedParameters()));
    const inputs = { m: 70, R: 6.371e6 };
    expect(loaded.forward(inputs).item()).toBe(weight.forward(inputs).item());
  });

  test('a bundle: the program and its components, a shared function stored once and shared again', () => {
    const gravity = compile(GRAVITY, { params: { G: 2.5 }, dtype: 'float64' });
    const program = compile('(* (gravity m1 m2 r) k)', { functions: { gravity }, params: { k: 3 }, dtype: 'float64' });
    const correction = nn.mlp([3, 4, 1], { seed: 5, dtype: 'float64' });
    const file = tmp();
    save(file, { program, functions: { gravity, correction } });
    // The shared function's parameter is stored once: k, G and the MLP's four tensors.
    const meta = JSON.parse(fs.readFileSync(file).toString('utf8', 16, 16 + fs.readFileSync(file).readUInt32LE(12)));
    expect(meta.tensors).toHaveLength(6);
    expect(meta.model.program.functions).toEqual({ gravity: null });
    const loaded = load(file) as Bundle;
    expect(Object.keys(loaded.functions)).toEqual(['gravity', 'correction']);
    expect(bits(loaded.program.namedParameters())).toEqual(bits(program.namedParameters()));
    expect(bits(loaded.functions.correction.namedParameters())).toEqual(bits(correction.namedParameters()));
    expect(loaded.program.namedParameters()['gravity.G']).toBe(loaded.functions.gravity.namedParameters().G);
    const inputs = { m1: 2, m2: 3, r: 1.5 };
    expect(loaded.program.forward(inputs).item()).toBe(program.forward(inputs).item());
  });

  test('a hybrid module: the MLP it calls is saved with it and called again after loading', () => {
    const drag = nn.mlp([2, 6, 1], { seed: 12, dtype: 'float64', activation: 'softplus' });
    const m = compile('(+ (* k x) (drag x v))', { functions: { drag }, params: { k: 0.75 }, dtype: 'float64' });
    const file = tmp();
    save(file, m);
    const loaded = load(file) as Module;
    expect(Object.keys(loaded.namedParameters())).toEqual([
      'k',
      'drag.0.weight',
      'drag.0.bias',
      'drag.1.weight',
      'drag.1.bias',
    ]);
    expect(bits(loaded.namedParameters())).toEqual(bits(m.namedParameters()));
    const inputs = { x: [0.5, -1.25, 2], v: [1, 0, -3] };
    expect(loaded.forward(inputs, { batch: true }).toArray()).toEqual(m.forward(inputs, { batch: true }).toArray());
  });

  test('a hybrid bundle shares the loaded MLP between the program and the bundle', () => {
    const drag = nn.mlp([1, 4, 1], { seed: 13 });
    const program = compile('(- (* g t) (drag t))', { functions: { drag }, params: { g: 9.81 } });
    const file = tmp();
    save(file, { program, functions: { drag } });
    const loaded = load(file) as Bundle;
    const net = loaded.functions.drag as Mlp;
    expect(net).toBeInstanceOf(Mlp);
    expect(loaded.program.namedParameters()['drag.0.weight']).toBe(net.namedParameters()['0.weight']);
    expect(loaded.program.forward({ t: 1.5 }).item()).toBe(program.forward({ t: 1.5 }).item());
  });

  test('the file follows the documented layout', () => {
    const m = compile('(+ (* a x) b)', { params: { a: [1.5, -2], b: 0.25 } });
    const file = tmp();
    save(file, m);
    const buf = fs.readFileSync(file);
    expect([...buf.subarray(0, 8)]).toEqual([0x89, 0x4e, 0x43, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(buf.readUInt32LE(8)).toBe(1);
    const metaLength = buf.readUInt32LE(12);
    const meta = JSON.parse(buf.toString('utf8', 16, 16 + metaLength));
    const start = Math.ceil((16 + metaLength) / 8) * 8;
    expect(buf.length).toBe(start + meta.dataBytes);
    expect(meta.model).toMatchObject({
      kind: 'program',
      source: '(+ (* a x) b)',
      dtype: 'float32',
      params: [
        { name: 'a', tensor: 0 },
        { name: 'b', tensor: 1 },
      ],
    });
    expect(meta.tensors).toEqual([
      { dtype: 'float32', shape: [2], offset: 0 },
      { dtype: 'float32', shape: [], offset: 8 },
    ]);
    expect([buf.readFloatLE(start), buf.readFloatLE(start + 4), buf.readFloatLE(start + 8)]).toEqual([1.5, -2, 0.25]);
    // A file written by hand to the same layout loads.
    const data = Buffer.alloc(16);
    [4, -8, 0.5].forEach((v, i) => data.writeFloatLE(v, i < 2 ? 4 * i : 8));
    const handMade = tmp();
    fs.writeFileSync(handMade, craft({ ...meta, dataBytes: 16 }, data));
    expect((load(handMade) as Module).namedParameters().a.toArray()).toEqual([4, -8]);
  });
});

describe('damaged and foreign files', () => {
  const good = tmp();
  save(good, compile('(* k x)', { params: { k: 2 } }));
  const original = fs.readFileSync(good);
  const meta = JSON.parse(original.toString('utf8', 16, 16 + original.readUInt32LE(12)));

  const MLP_1_1 = {
    kind: 'mlp',
    sizes: [1, 1],
    activation: 'tanh',
    dtype: 'float32',
    params: [
      { name: '0.weight', tensor: 0 },
      { name: '0.bias', tensor: 1 },
    ],
  };
  const F32_2 = { dtype: 'float32', shape: [2], offset: 0 };

  const loadBytes = (bytes: Buffer): (() => unknown) => {
    const file = tmp();
    fs.writeFileSync(file, bytes);
    return () => load(file);
  };
  const edit = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(original);
    f(b);
    return b;
  };

  test.each([
    ['an empty file', Buffer.alloc(0), 'not a neural-compiler model file'],
    ['a text file', Buffer.from('{"name": "neural-compiler"}\n'), 'not a neural-compiler model file'],
    ['a wrong magic', edit((b) => (b[1] = 0x58)), 'not a neural-compiler model file'],
    ['a header cut short', original.subarray(0, 12), 'truncated: the header needs 16 bytes, the file has 12'],
    [
      'another version',
      edit((b) => b.writeUInt32LE(2, 8)),
      'unsupported model-file format version 2 (this library reads version 1)',
    ],
    ['metadata cut short', original.subarray(0, 40), 'truncated: the metadata needs'],
    ['bad JSON', edit((b) => (b[16] = 0x78)), 'corrupt metadata: not valid JSON'],
    [
      'data cut short',
      original.subarray(0, original.length - 4),
      'truncated: the tensor data should be 8 bytes, the file holds 4',
    ],
    [
      'trailing bytes',
      Buffer.concat([original, Buffer.alloc(8)]),
      'corrupt: the tensor data should be 8 bytes, the file holds 16',
    ],
    ['metadata that is not an object', craft([1, 2]), 'corrupt metadata: expected a JSON object'],
    ['no model record', craft({ tensors: [], dataBytes: 0 }), 'corrupt metadata: no model record'],
    [
      'a bad tensor dtype',
      craft({ ...meta, tensors: [{ dtype: 'int8', shape: [], offset: 0 }] }, Buffer.alloc(8)),
      'tensor 0 has dtype "int8"',
    ],
    [
      'a tensor outside the data',
      craft({ ...meta, tensors: [{ dtype: 'float64', shape: [4], offset: 0 }] }, Buffer.alloc(8)),
      'tensor 0 (32 bytes at offset 0) lies outside the 8-byte data section',
    ],
    [
      'a record that is not a model',
      craft({ model: { kind: 'picture' }, tensors: [], dataBytes: 0 }),
      'corrupt model record: the model has kind "picture" (expected program, mlp or bundle)',
    ],
    [
      'a missing parameter tensor',
      craft({ ...meta, tensors: [], dataBytes: 0 }),
      "parameter 'k' refers to tensor 0, which is not in the file",
    ],
    [
      'parameters the source does not have',
      craft({ ...meta, model: { ...meta.model, params: [{ name: 'q', tensor: 0 }] } }, Buffer.alloc(8)),
      "the model could not be rebuilt: <input>:1:4: error[E0030]: unbound identifier 'k'",
    ],
    [
      'a source that does not compile',
      craft({ ...meta, model: { ...meta.model, source: '(* k' } }, Buffer.alloc(8)),
      'the model could not be rebuilt',
    ],
    [
      'an MLP with bad sizes',
      craft({ model: { ...MLP_1_1, sizes: [2] }, tensors: [], dataBytes: 0 }),
      'the model could not be rebuilt: nn.mlp: sizes must be',
    ],
    [
      'an MLP missing weights',
      craft({ model: { ...MLP_1_1, params: [] }, tensors: [], dataBytes: 0 }),
      'the model stores parameters [none] but rebuilds with [0.weight, 0.bias]',
    ],
    [
      'an MLP weight of the wrong shape',
      craft(
        { model: MLP_1_1, tensors: [F32_2, { dtype: 'float32', shape: [1], offset: 8 }], dataBytes: 16 },
        Buffer.alloc(16),
      ),
      "the model: parameter '0.weight' is stored as float32 [2] but is float32 [1,1]",
    ],
    [
      'an MLP weight of the wrong dtype',
      craft(
        {
          model: MLP_1_1,
          tensors: [
            { dtype: 'float64', shape: [1, 1], offset: 0 },
            { dtype: 'float32', shape: [1], offset: 8 },
          ],
          dataBytes: 16,
        },
        Buffer.alloc(16),
      ),
      "parameter '0.weight' is stored as float64 [1,1] but is float32 [1,1]",
    ],
    [
      'a shared function outside a bundle',
      craft({ ...meta, model: { ...meta.model, functions: { f: null } } }, Buffer.alloc(8)),
      "uses the bundle's function 'f', which is not in the file",
    ],
  ])('%s', (_, bytes, message) => {
    const attempt = loadBytes(bytes as Buffer);
    expect(attempt).toThrow(ModelFileError);
    expect(attempt).toThrow(message as string);
    expect(attempt).toThrow(/^load\(.*\.ncm\): /);
  });

  test('the path names a missing file', () => {
    expect(() => load(path.join(dir, 'missing.ncm'))).toThrow('ENOENT');
  });
});

describe('save refuses what it cannot write', () => {
  const m = compile('(* k x)', { params: { k: 2 } });
  const disposed = nn.mlp([1, 1]);
  disposed.dispose();
  test.each([
    [42, 'save: the model must be a compiled Module or an Mlp, got number 42'],
    [{}, 'save: the model must be a compiled Module or an Mlp, got an object (Object)'],
    [disposed, 'save: the model has been disposed'],
    [{ program: 'x' }, 'save: a bundle\'s program must be a compiled Module, got the string "x"'],
    [{ program: m, functions: { f: 1 } }, "save: function 'f' must be a compiled Module or an Mlp, got number 1"],
    [{ program: m, functions: [] }, "save: a bundle's functions must be an object"],
    [{ program: m, extra: 1 }, "save: unknown bundle key 'extra'"],
  ])('%p', (model, message) => {
    expect(() => save(tmp(), model as Bundle)).toThrow(message);
  });

  test('an empty path', () => {
    expect(() => save('', m)).toThrow('save: the path must be a non-empty string');
  });
});

describe('load(..., { device })', () => {
  test("device 'cpu' gives the saved bits; CUDA works on a CUDA build and is a clear error otherwise", () => {
    const m = compile('(+ (* k x) b)', { params: { k: [1.5, -2], b: 0.25 }, dtype: 'float64' });
    const net = nn.mlp([2, 3, 1], { seed: 4 });
    const [mf, nf] = [tmp(), tmp()];
    save(mf, m);
    save(nf, net);
    const onCpu = load(mf, { device: 'cpu' }) as Module;
    expect(Object.values(onCpu.namedParameters()).map((t) => t.device)).toEqual(['cpu', 'cpu']);
    expect(bits(onCpu.namedParameters())).toEqual(bits(m.namedParameters()));
    expect(onCpu.forward({ x: [2, 4] }).toArray()).toEqual([3.25, -7.75]);
    const netCpu = load(nf, { device: 'cpu' }) as Mlp;
    expect(bits(netCpu.namedParameters())).toEqual(bits(net.namedParameters()));
    if (cudaAvailable()) {
      const onGpu = load(mf, { device: 'cuda' }) as Module;
      expect(Object.values(onGpu.namedParameters()).every((t) => t.device.startsWith('cuda'))).toBe(true);
      const back = Object.entries(onGpu.namedParameters()).map(([k, t]) => [k, t.to({ device: 'cpu' })]);
      expect(bits(Object.fromEntries(back))).toEqual(bits(m.namedParameters()));
      onGpu.dispose();
    } else {
      const noCuda = new RegExp(`rebuilt: (compile: )?${noCudaDevice().source}`);
      expect(() => load(mf, { device: 'cuda' })).toThrow(ModelFileError);
      expect(() => load(mf, { device: 'cuda' })).toThrow(noCuda);
      expect(() => load(nf, { device: 'cuda:0' })).toThrow(noCuda);
    }
    const tpu = /unknown device 'tpu': use 'cpu' or 'cuda' \(optionally 'cuda:N'\)/;
    expect(() => load(mf, { device: 'tpu' as never })).toThrow(tpu);
    const three = /device must be 'cpu' or 'cuda' \(optionally 'cuda:N'\), got number 3/;
    expect(() => load(mf, { device: 3 as never })).toThrow(three);
    expect(() => load(mf, { devise: 'cpu' } as never)).toThrow(
      "load: unknown option 'devise' (expected one of device)",
    );
    expect(() => load(mf, 'cpu' as never)).toThrow('load: options must be an object, got');
    for (const x of [m, net, onCpu, netCpu]) x.dispose();
  });
});
