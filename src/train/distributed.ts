// fit()'s `distributed` option: which rank this process is, how many there are and where rank 0
// waits for them, checked here (with torchrun's environment variables as defaults) before the
// native fit connects (native/distributed.cpp).
import * as net from 'net';
import { describe } from '../runtime/host-data';
import { knownOptions, numberIn } from '../runtime/validate';

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
}

/** The checked option as the native group takes it. */
export interface DistributedSpec {
  host: string;
  port: number;
  rank: number;
  worldSize: number;
  timeoutMs: number;
}

/** The environment variables read, written out so the published types need no @types/node. */
type Environment = Record<string, string | undefined>;

/** The `kind` of a fit's Error when the ranks cannot reach or agree with each other (native/errors.h). */
export const DISTRIBUTED_FAILURE = 'distributed';

/** Whether a fit failed for its ranks' sake: never worth another start or stage, which would fail alike. */
export const isDistributedFailure = (e: unknown): boolean =>
  e instanceof Error && (e as Error & { kind?: string }).kind === DISTRIBUTED_FAILURE;

const DEFAULT_TIMEOUT_S = 60;
const KEYS = ['rank', 'worldSize', 'init', 'timeout'] as const;

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
  return { ...rendezvous(who, o.init, env), rank, worldSize, timeoutMs: Math.max(1, Math.round(timeout * 1000)) };
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
