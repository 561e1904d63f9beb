// The process pool under `neuralc experiments --jobs` and the fuzzer: every task gets an answer (its
// reply, or why there is none: an error it threw, a crash, a hang), in whichever child is free, and
// a child that died is replaced (answers say which child, by number); a child that dies before it
// serves fails every task left.
import path from 'path';
import { ProcessPool } from '../src/runtime/process-pool';
import type { PoolTask } from './helpers/pool-worker';

const WORKER = path.join(__dirname, 'helpers', 'pool-worker');
type Reply = { twice: number; pid: number; kept: number[]; typed: Float64Array };

test('replies come back whole, NaN, infinities and typed arrays included, from as many children as the pool has', async () => {
  const pool = new ProcessPool<PoolTask, Reply>(WORKER, 2);
  try {
    const answers = await Promise.all([1, 2, 3, 4].map((value) => pool.run({ do: 'double', value })));
    const replies = answers.map((a) => (a.ok ? a.reply : a.detail));
    expect(replies.map((r) => (r as Reply).twice)).toEqual([2, 4, 6, 8]);
    expect((replies[0] as Reply).kept).toEqual([NaN, -Infinity]);
    // (Deserialised outside jest's realm: compared by tag and contents.)
    const typed = (replies[3] as Reply).typed;
    expect([Object.prototype.toString.call(typed), Array.from(typed)]).toEqual(['[object Float64Array]', [4]]);
    expect(new Set(replies.map((r) => (r as Reply).pid)).size).toBe(2);
  } finally {
    pool.close();
  }
}, 60_000);

test('a task that throws, kills its child or hangs is answered as such, and the pool goes on', async () => {
  const pool = new ProcessPool<PoolTask, Reply>(WORKER, 1, 3_000);
  try {
    const thrown = await pool.run({ do: 'throw' });
    expect(thrown).toMatchObject({ ok: false, kind: 'error' });
    expect(!thrown.ok && thrown.detail).toContain('the task was bad');
    const first = await pool.run({ do: 'double', value: 1 });
    expect(await pool.run({ do: 'exit' })).toMatchObject({
      ok: false,
      kind: 'crash',
      detail: expect.stringContaining('code 3'),
    });
    const replaced = await pool.run({ do: 'double', value: 2 });
    expect(replaced).toMatchObject({ ok: true, reply: { twice: 4 }, child: 1 });
    expect(first.ok && replaced.ok && first.reply.pid !== replaced.reply.pid).toBe(true);
    expect(await pool.run({ do: 'spin' })).toMatchObject({
      ok: false,
      kind: 'hang',
      detail: 'no result within 3000 ms',
      child: 1,
    });
    expect(await pool.run({ do: 'double', value: 5 })).toMatchObject({ ok: true, reply: { twice: 10 }, child: 2 });
    expect([thrown.child, first.child]).toEqual([0, 0]);
  } finally {
    pool.close();
  }
}, 60_000);

test('a child that dies before it serves answers every task with that, and none is started again', async () => {
  // The argument reaches the worker module (process.argv[2]) and has it exit at once.
  const pool = new ProcessPool<PoolTask, Reply>(WORKER, 2, Infinity, ['exit at start']);
  try {
    const answers = await Promise.all([1, 2, 3, 4, 5].map((value) => pool.run({ do: 'double', value })));
    for (const a of answers)
      expect(a).toMatchObject({
        ok: false,
        kind: 'crash',
        detail: expect.stringMatching(/^the worker process could not start \(code 4, signal null\)/),
      });
    expect((pool as unknown as { started: number }).started).toBe(2);
  } finally {
    pool.close();
  }
}, 30_000);

test('a child whose parent has gone exits instead of running on', async () => {
  const { spawn } = await import('child_process');
  // A parent that starts a pool of one and is killed: its child, kept alive only by the IPC channel, must not outlive it.
  const script = `
    ${require('../src/runtime/loader').loader()}
    const { ProcessPool } = require(${JSON.stringify(require.resolve('../src/runtime/process-pool'))});
    const pool = new ProcessPool(${JSON.stringify(WORKER)}, 1);
    pool.run({ do: 'double', value: 1 }).then((a) => {
      process.stdout.write(String(a.reply.pid));
      setInterval(() => undefined, 1000);
    });`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const childPid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d) => resolve(Number(d))));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  expect(alive(childPid)).toBe(true);
  parent.kill('SIGKILL');
  const deadline = Date.now() + 10_000;
  while (alive(childPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(alive(childPid)).toBe(false);
}, 30_000);

test('close() answers the task under way as a crash, refuses later tasks and starts no child again', async () => {
  const pool = new ProcessPool<PoolTask, Reply>(WORKER, 1);
  const spinning = pool.run({ do: 'spin' });
  await new Promise((r) => setTimeout(r, 300));
  pool.close();
  expect(await spinning).toMatchObject({ ok: false, kind: 'crash' });
  expect(await pool.run({ do: 'double', value: 1 })).toEqual({
    ok: false,
    kind: 'error',
    detail: 'the process pool is closed',
    ms: 0,
  });
  const slots = (pool as unknown as { slots: { child: { exitCode: number | null; signalCode: string | null } }[] })
    .slots;
  expect(slots.every((s) => s.child.exitCode !== null || s.child.signalCode !== null)).toBe(true);
}, 30_000);
