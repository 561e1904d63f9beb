// fit()'s `distributed` option: which rank this process is, how many there are and where rank 0
// waits for them, checked here (with torchrun's environment variables as defaults) before the
// native fit connects (native/distributed.cpp), and the backend that sums the ranks' gradients.
import * as net from 'net';
import { describe } from '../runtime/host-data';
import type { Device } from '../runtime/tensor';
import { knownOptions, numberIn } from '../runtime/validate';
import { choose } from './settings';

/** One process of a data-parallel fit; every field defaults to torchrun's environment variable. */
export interface DistributedOptions {
  /** This process's rank, 0 to worldSize - 1 (default: RANK). Rank 0 reports progress and serves the rendezvous. */
  rank?: number;
  /** How many processes take part (default: WORLD_SIZE). */
  worldSize?: number;
  /** Rank 0's address, `tcp://host:port` (default: tcp://MASTER_ADDR:MASTER_PORT). */
  init?: string;
  /** Seconds to wait for the other ranks, at the start and at every step (default 60). */
  timeout?: number;
  /** What sums the ranks' gradients (default 'auto': 'nccl' for a model on CUDA in a build with NCCL, else 'gloo'). */
  backend?: BackendName;
}

export type BackendName = 'auto' | 'gloo' | 'nccl';

export const BACKENDS: readonly { name: BackendName; doc: string }[] = [
  { name: 'auto', doc: "'nccl' for a model on CUDA in a build with NCCL, else 'gloo'" },
  { name: 'gloo', doc: "c10d's ProcessGroupGloo on CPU buffers (a CUDA model's gradients are copied there)" },
  { name: 'nccl', doc: "c10d's ProcessGroupNCCL on the model's CUDA device, one device per rank" },
];

/** The checked option, with the backend as asked for. */
export interface DistributedSpec {
  host: string;
  port: number;
  rank: number;
  worldSize: number;
  timeoutMs: number;
  backend: BackendName;
}

/** What the native group takes: the spec with the backend chosen (and NCCL's device). */
export type GroupSpec = Omit<DistributedSpec, 'backend'> & { backend: 'gloo' | 'nccl'; cudaDevice: number };

/** What the build offers (the addon's buildInfo()). */
export interface BackendSupport {
  cudaBuilt: boolean;
  cudaDevices: number;
  /** null: the build has no NCCL. */
  ncclVersion: string | null;
}

/** The environment variables read, written out so the published types need no @types/node. */
type Environment = Record<string, string | undefined>;

/** The `kind` of a fit's Error when the ranks cannot reach or agree with each other (native/errors.h). */
export const DISTRIBUTED_FAILURE = 'distributed';

/** Whether a fit failed for its ranks' sake: never worth another start or stage, which would fail alike. */
export const isDistributedFailure = (e: unknown): boolean =>
  e instanceof Error && (e as Error & { kind?: string }).kind === DISTRIBUTED_FAILURE;

const DEFAULT_TIMEOUT_S = 60;
const KEYS = ['rank', 'worldSize', 'init', 'timeout', 'backend'] as const;

/** An Error of kind 'distributed': what the ranks are asked to do cannot be done here. */
function distributedError(message: string): Error {
  return Object.assign(new Error(message), { kind: DISTRIBUTED_FAILURE });
}

/** A whole number from the option or else the environment variable, named as where it came from. */
function wholeNumber(
  who: string,
  name: string,
  given: unknown,
  variable: string,
  env: Environment,
  min: number,
): number {
  if (given !== undefined) return numberIn(who, `distributed.${name}`, given, { min, integer: true, below: 65536 });
  const text = env[variable];
  if (text === undefined || text === '')
    throw new TypeError(
      `${who}: distributed.${name} is required: give it, or set the ${variable} environment variable`,
    );
  // Text that is no number is shown as given.
  const value = Number.isNaN(Number(text)) ? text : Number(text);
  return numberIn(who, `the ${variable} environment variable (distributed.${name})`, value, {
    min,
    integer: true,
    below: 65536,
  });
}

/** `tcp://host:port` (IPv6 hosts in brackets), from the option or MASTER_ADDR and MASTER_PORT. */
function rendezvous(who: string, init: unknown, env: Environment): { host: string; port: number } {
  let text: string;
  if (init !== undefined) {
    if (typeof init !== 'string')
      throw new TypeError(`${who}: distributed.init must be a 'tcp://host:port' string, got ${describe(init)}`);
    text = init;
  } else {
    const host = env.MASTER_ADDR,
      port = env.MASTER_PORT;
    if (!host || !port)
      throw new TypeError(
        `${who}: distributed.init is required: give 'tcp://host:port' (rank 0's address), or set MASTER_ADDR and MASTER_PORT`,
      );
    text = `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/[\]]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new RangeError(
      `${who}: distributed.init must be 'tcp://host:port' with a port from 1 to 65535 (rank 0's address), got '${text}'`,
    );
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** The distributed option checked, with the environment's defaults; undefined when not given. */
export function distributedSpec(
  who: string,
  option: unknown,
  env: Environment = process.env,
): DistributedSpec | undefined {
  if (option === undefined) return undefined;
  const o = knownOptions<DistributedOptions>(`${who}: distributed`, option, KEYS);
  const worldSize = wholeNumber(who, 'worldSize', o.worldSize, 'WORLD_SIZE', env, 1);
  const rank = wholeNumber(who, 'rank', o.rank, 'RANK', env, 0);
  if (rank >= worldSize)
    throw new RangeError(`${who}: distributed.rank must be below worldSize (${worldSize}), got ${rank}`);
  const timeout = numberIn(who, 'distributed.timeout', o.timeout ?? DEFAULT_TIMEOUT_S, {
    min: 0,
    above: true,
    below: 86400 * 7,
  });
  const backend = choose(who, 'distributed.backend', o.backend, BACKENDS, 'auto');
  const timeoutMs = Math.max(1, Math.round(timeout * 1000));
  return { ...rendezvous(who, o.init, env), rank, worldSize, timeoutMs, backend };
}

/**
 * The backend for parameters on `devices` (the model's, one device expected): NCCL needs a build with
 * it, a visible device and the parameters on it; 'auto' takes NCCL wherever it can run.
 */
export function groupSpec(who: string, spec: DistributedSpec, devices: string[], build: BackendSupport): GroupSpec {
  const on = [...new Set(devices)];
  const cuda = on.length === 1 && on[0].startsWith('cuda');
  const { backend: asked, ...rest } = spec;
  if (asked === 'gloo' || (asked === 'auto' && !(cuda && build.ncclVersion)))
    return { ...rest, backend: 'gloo', cudaDevice: 0 };
  const need = `${who}: distributed.backend 'nccl'`;
  if (!build.ncclVersion)
    throw distributedError(
      build.cudaBuilt
        ? `${need} needs NCCL, and this CUDA build was made without NCCL's headers (\`neuralc doctor\` says more); use backend 'gloo'`
        : `${need} needs a CUDA build, and this one has no CUDA (\`NC_TORCH=cuda npm install\` makes one); use backend 'gloo'`,
    );
  if (build.cudaDevices === 0)
    throw distributedError(
      `${need} needs a CUDA device: this build has CUDA, but no CUDA device is visible (no GPU, no NVIDIA driver, ` +
        "or CUDA_VISIBLE_DEVICES hides them); use backend 'gloo'",
    );
  if (!cuda)
    throw distributedError(
      `${need} sums CUDA tensors, and the model's parameters are on ${on.join(' and ')}: compile the model with ` +
        "device 'cuda:LOCAL_RANK' (one device per rank of a machine), or use backend 'gloo'",
    );
  return { ...rest, backend: 'nccl', cudaDevice: Number(on[0].split(':')[1] ?? 0) };
}

/**
 * A rank's device: 'cuda' in a process a launcher started (LOCAL_RANK set, as `--nproc` and torchrun
 * do) is cuda:LOCAL_RANK, so that the ranks of a machine each take their own device; anything else as given.
 */
export function rankDevice(device: Device, env: Environment = process.env): Device {
  const local = env.LOCAL_RANK;
  return device === 'cuda' && local !== undefined && /^\d+$/.test(local) ? `cuda:${Number(local)}` : device;
}

/** A port that was free a moment ago: the one the system gives a listener on port 0. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
