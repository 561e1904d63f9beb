// A pool of child processes, each running one task at a time, with a watchdog: a task that outlives
// the time bound is a hang (the child is killed, and replaced when a task needs it), a child that dies mid-task is a crash,
// a task that throws is an error. Whichever, the caller gets an answer and the pool goes on; only a
// child that dies before it could serve (its worker module did not load) fails every task left. The
// fuzzer isolates its cases with it (and so do its minimiser and the regression replay, through
// src/fuzz/isolate.ts); `neuralc experiments` spreads its work over the cores with it.
import { spawn, type ChildProcess } from 'child_process';
import { loader } from './loader';

type Result<R> = { ok: true; reply: R } | { ok: false; kind: 'hang' | 'crash' | 'error'; detail: string };

export type PoolAnswer<R> = Result<R> & {
  ms: number;
  /** The child that took the task: 0, 1, ... in the order the pool started them (a replacement takes the next number); absent if none did. */
  child?: number;
};

interface Slot<T, R> {
  child: ChildProcess;
  /** Answered as PoolAnswer.child. */
  n: number;
  /**
   * serveTasks has started in the child, so its worker module loaded. A task is sent only then, so a
   * child that dies before is one that could not start, never one that a task killed.
   */
  ready: boolean;
  busy?: { id: number; task: T; resolve: (a: PoolAnswer<R>) => void; timer?: NodeJS.Timeout; start: number };
}

/** How long a child may take to start before its task is answered as a crash. */
const START_LIMIT_MS = 60_000;

type Message<R> = { ready: true } | { id: number; reply: R } | { id: number; error: string };

export class ProcessPool<T, R> {
  private readonly slots: Slot<T, R>[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;
  private started = 0;
  private closed = false;
  /** Set when a child died before its worker module loaded: every child would, so every later task gets this. */
  private startFailure?: PoolAnswer<R>;

  /**
   * `worker`: the path, without extension, of a module that calls serveTasks; `args` are its
   * arguments, in process.argv from index 2 on, as under fork.
   */
  constructor(
    private readonly worker: string,
    private readonly size: number,
    private readonly timeLimitMs = Infinity,
    private readonly args: readonly string[] = [],
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot<T, R> {
    // From the TypeScript sources (under jest), the child transpiles what it loads.
    const script = `${loader()}\nrequire(${JSON.stringify(this.worker)});`;
    // Advanced serialisation (structured clone) keeps NaN, infinities and typed arrays that JSON would not.
    const child = spawn(process.execPath, ['-e', script, this.worker, ...this.args], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const slot: Slot<T, R> = { child, n: this.started++, ready: false };
    child.on('error', () => undefined); // a failed spawn or a send to a child just gone: its exit follows
    let stderr = '';
    slot.child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    slot.child.on('message', (m: Message<R>) => {
      if ('ready' in m) {
        slot.ready = true;
        if (slot.busy) this.send(slot);
        return;
      }
      if (slot.busy?.id !== m.id) return;
      this.finish(slot, 'error' in m ? { ok: false, kind: 'error', detail: m.error } : { ok: true, reply: m.reply });
    });
    slot.child.on('exit', (code, signal) => {
      const why = `(code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(0, 5).join(' | ')}`;
      if (!slot.ready && !this.closed) {
        const detail = `the worker process could not start ${why}`;
        this.startFailure ??= { ok: false, kind: 'crash', detail, ms: 0, child: slot.n };
        if (slot.busy) this.finish(slot, this.startFailure);
        this.wakeAll();
      } else if (slot.busy) this.finish(slot, { ok: false, kind: 'crash', detail: `child exited ${why}` }, true);
    });
    return slot;
  }

  /**
   * Called when a task is given to the slot and again when its child is ready. Until then a start
   * bound runs (a cold start transpiles and loads libtorch, and is no task's hang), then the task's
   * own; the task is sent once the child is ready.
   */
  private send(s: Slot<T, R>): void {
    const busy = s.busy!;
    clearTimeout(busy.timer);
    busy.start = Date.now();
    const limit = s.ready ? this.timeLimitMs : Math.max(this.timeLimitMs, START_LIMIT_MS);
    if (Number.isFinite(limit))
      busy.timer = setTimeout(() => {
        s.child.removeAllListeners('exit');
        s.child.kill('SIGKILL');
        const result: Result<R> = s.ready
          ? { ok: false, kind: 'hang', detail: `no result within ${limit} ms` }
          : { ok: false, kind: 'crash', detail: `the worker process did not start within ${limit} ms` };
        this.finish(s, result, true);
      }, limit);
    if (s.ready) s.child.send({ id: busy.id, task: busy.task });
  }

  private finish(slot: Slot<T, R>, result: Result<R>, replace = false): void {
    const busy = slot.busy!;
    clearTimeout(busy.timer);
    slot.busy = undefined;
    // A dead child's slot goes; run() starts another when a task needs one.
    if (replace) this.slots.splice(this.slots.indexOf(slot), 1);
    busy.resolve({ ...result, ms: Date.now() - busy.start, child: slot.n });
    this.waiting.shift()?.();
  }

  private wakeAll(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }

  /**
   * Runs `task` on the first free child (waiting for one); after close(), answers that the pool is
   * closed, and after a child failed to start, with that failure.
   */
  async run(task: T): Promise<PoolAnswer<R>> {
    let slot: Slot<T, R> | undefined;
    while (!this.closed && !this.startFailure && !(slot = this.slots.find((s) => !s.busy) ?? this.replacement()))
      await new Promise<void>((r) => this.waiting.push(r));
    if (this.closed) return { ok: false, kind: 'error', detail: 'the process pool is closed', ms: 0 };
    if (!slot) return { ...this.startFailure! };
    const s = slot;
    return new Promise<PoolAnswer<R>>((resolve) => {
      s.busy = { id: this.nextId++, task, resolve, start: 0 };
      this.send(s);
    });
  }

  /** A new child in place of one that died, while the pool is short of its size. */
  private replacement(): Slot<T, R> | undefined {
    if (this.slots.length >= this.size) return undefined;
    const slot = this.spawn();
    this.slots.push(slot);
    return slot;
  }

  /** Kills the children: tasks under way are answered as crashes, and none is replaced. */
  close(): void {
    this.closed = true;
    for (const s of this.slots) s.child.kill();
    this.wakeAll();
  }
}

/**
 * The child's side: says it is ready, then answers each task the pool sends with `handle`'s result
 * (or its error's stack).
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
  process.send!({ ready: true });
}
