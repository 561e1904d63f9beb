// A pool of child processes with a watchdog: a case that outlives the time bound is a hang (the child
// is killed and replaced), a child that dies mid-case is a crash. Either way the fuzzer goes on.
import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';
import type { FuzzCase, Outcome } from './evaluate';

export interface Timed extends Outcome {
  ms: number;
}

interface Slot {
  child: ChildProcess;
  busy?: { id: number; resolve: (o: Timed) => void; timer: NodeJS.Timeout; start: number };
}

export class Pool {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;

  constructor(
    size: number,
    private readonly timeLimitMs: number,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const slot: Slot = {
      child: fork(path.join(__dirname, 'worker.js'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }),
    };
    let stderr = '';
    slot.child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    slot.child.on('message', (m: { id: number; outcome: Outcome; ms: number }) => {
      if (slot.busy?.id === m.id) this.finish(slot, { ...m.outcome, ms: m.ms });
    });
    slot.child.on('exit', (code, signal) => {
      if (slot.busy)
        this.finish(
          slot,
          {
            ok: false,
            kind: 'crash',
            detail: `child exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(0, 5).join(' | ')}`,
            ms: Date.now() - slot.busy.start,
          },
          true,
        );
    });
    return slot;
  }

  private finish(slot: Slot, outcome: Timed, replace = false): void {
    const busy = slot.busy!;
    clearTimeout(busy.timer);
    slot.busy = undefined;
    if (replace) this.slots[this.slots.indexOf(slot)] = this.spawn();
    busy.resolve(outcome);
    this.waiting.shift()?.();
  }

  async run(fuzzCase: FuzzCase): Promise<Timed> {
    let slot: Slot | undefined;
    while (!(slot = this.slots.find((s) => !s.busy))) await new Promise<void>((r) => this.waiting.push(r));
    const id = this.nextId++;
    return new Promise<Timed>((resolve) => {
      const start = Date.now();
      const timer = setTimeout(() => {
        const s = slot!;
        s.child.removeAllListeners('exit');
        s.child.kill('SIGKILL');
        this.finish(
          s,
          { ok: false, kind: 'hang', detail: `no result within ${this.timeLimitMs} ms`, ms: Date.now() - start },
          true,
        );
      }, this.timeLimitMs);
      slot!.busy = { id, resolve, timer, start };
      slot!.child.send({ id, fuzzCase });
    });
  }

  close(): void {
    for (const s of this.slots) s.child.kill();
  }
}
