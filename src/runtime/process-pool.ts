// A pool of child processes, each running one task at a time, with a watchdog: a task that outlives
// the time bound is a hang (the child is killed and replaced), a child that dies mid-task is a crash,
// a task that throws is an error. Whichever, the caller gets an answer and the pool goes on. The
// fuzzer isolates its cases with it; `neuralc experiments` spreads its work over the cores with it.
import { spawn, type ChildProcess } from 'child_process';

export type PoolAnswer<R> =
  { ok: true; reply: R; ms: number } | { ok: false; kind: 'hang' | 'crash' | 'error'; detail: string; ms: number };

interface Slot<R> {
  child: ChildProcess;
  busy?: { id: number; resolve: (a: PoolAnswer<R>) => void; timer?: NodeJS.Timeout; start: number };
}

type Message<R> = { id: number; reply: R } | { id: number; error: string };

export class ProcessPool<T, R> {
  private readonly slots: Slot<R>[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;
  private closed = false;

  /** `worker`: the path, without extension, of a module that calls serveTasks. */
  constructor(
    private readonly worker: string,
    size: number,
    private readonly timeLimitMs = Infinity,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot<R> {
    // From the TypeScript sources (under jest), the child transpiles what it loads, as fit-launch's do.
    const loader: string = __filename.endsWith('.ts') ? require('../fuzz/isolate').loader() : '';
    const script = `${loader}\nrequire(${JSON.stringify(this.worker)});`;
    // Advanced serialisation (structured clone) keeps NaN, infinities and typed arrays that JSON would not.
    const child = spawn(process.execPath, ['-e', script], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const slot: Slot<R> = { child };
    let stderr = '';
    slot.child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    slot.child.on('message', (m: Message<R>) => {
      const busy = slot.busy;
      if (busy?.id !== m.id) return;
      const ms = Date.now() - busy.start;
      this.finish(
        slot,
        'error' in m ? { ok: false, kind: 'error', detail: m.error, ms } : { ok: true, reply: m.reply, ms },
      );
    });
    slot.child.on('exit', (code, signal) => {
      if (!slot.busy) return;
      const detail = `child exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(0, 5).join(' | ')}`;
      this.finish(slot, { ok: false, kind: 'crash', detail, ms: Date.now() - slot.busy.start }, true);
    });
    return slot;
  }

  private finish(slot: Slot<R>, answer: PoolAnswer<R>, replace = false): void {
    const busy = slot.busy!;
    clearTimeout(busy.timer);
    slot.busy = undefined;
    if (replace && !this.closed) this.slots[this.slots.indexOf(slot)] = this.spawn();
    busy.resolve(answer);
    this.waiting.shift()?.();
  }

  /** Runs `task` on the first free child (waiting for one); after close(), answers that the pool is closed. */
  async run(task: T): Promise<PoolAnswer<R>> {
    let slot: Slot<R> | undefined;
    while (!this.closed && !(slot = this.slots.find((s) => !s.busy)))
      await new Promise<void>((r) => this.waiting.push(r));
    if (this.closed || !slot) return { ok: false, kind: 'error', detail: 'the process pool is closed', ms: 0 };
    const s = slot;
    const id = this.nextId++;
    return new Promise<PoolAnswer<R>>((resolve) => {
      const start = Date.now();
      const timer = Number.isFinite(this.timeLimitMs)
        ? setTimeout(() => {
            s.child.removeAllListeners('exit');
            s.child.kill('SIGKILL');
            const detail = `no result within ${this.timeLimitMs} ms`;
            this.finish(s, { ok: false, kind: 'hang', detail, ms: Date.now() - start }, true);
          }, this.timeLimitMs)
        : undefined;
      s.busy = { id, resolve, timer, start };
      s.child.send({ id, task });
    });
  }

  /** Kills the children: tasks under way are answered as crashes, and none is replaced. */
  close(): void {
    this.closed = true;
    for (const s of this.slots) s.child.kill();
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/**
 * The child's side: answers each task the pool sends with `handle`'s result (or its error's stack).
 * The IPC channel is all that keeps a child alive between tasks, so it exits when its parent goes.
 */
export function serveTasks<T, R>(handle: (task: T) => R | Promise<R>): void {
  process.on('message', async (m: { id: number; task: T }) => {
    let answer: Message<R>;
    try {
      answer = { id: m.id, reply: await handle(m.task) };
    } catch (e) {
      answer = { id: m.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    process.send!(answer);
  });
}
