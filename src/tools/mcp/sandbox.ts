// Work with a time limit: a worker thread runs it, and one that overruns is terminated (the next
// call starts a fresh worker). The existing limits (loop `limit`, `maxSteps`, memory) bound the work
// itself; the time limit bounds the wait. The clock starts once the worker has loaded the compiler.
import path from 'path';
import { Worker } from 'worker_threads';
import { loader } from '../../runtime/loader';
import type { Outcome, WorkName } from './work';

interface Pending {
  resolve: (o: Outcome) => void;
  timer?: NodeJS.Timeout;
}

const failure = (message: string): Outcome => ({ ok: false, error: { message, diagnostics: [] } });

export class Sandbox {
  private worker?: { thread: Worker; ready: Promise<boolean> };
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly timeLimitMs: number) {}

  async run(name: WorkName, args: object): Promise<Outcome> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    const outcome = new Promise<Outcome>((resolve) => this.pending.set(id, { resolve }));
    if (!(await worker.ready)) return outcome; // stop() has resolved it
    const p = this.pending.get(id);
    if (p) {
      const seconds = this.timeLimitMs / 1000;
      p.timer = setTimeout(
        () =>
          this.stop(
            `the call took longer than its time limit of ${seconds} s; simplify the program, give smaller inputs, or lower its limit`,
          ),
        this.timeLimitMs,
      );
      worker.thread.postMessage({ id, name, args });
    }
    return outcome;
  }

  /** Ends the worker; pending calls resolve with `message` as their error. */
  stop(message = 'the server is shutting down'): void {
    const worker = this.worker;
    this.worker = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve(failure(message));
      this.pending.delete(id);
    }
    void worker?.thread.terminate();
  }

  private start(): { thread: Worker; ready: Promise<boolean> } {
    const script = `${loader()}\nrequire(${JSON.stringify(path.join(__dirname, 'sandbox-worker'))});`;
    const thread = new Worker(script, { eval: true });
    let loaded: (ok: boolean) => void = () => {};
    const ready = new Promise<boolean>((resolve) => (loaded = resolve));
    const worker = { thread, ready };
    thread.on('message', (message: { ready: true } | { id: number; outcome: Outcome }) => {
      if ('ready' in message) return loaded(true);
      const p = this.pending.get(message.id);
      if (!p) return;
      clearTimeout(p.timer);
      this.pending.delete(message.id);
      p.resolve(message.outcome);
    });
    const lost = (why: string) => {
      loaded(false);
      if (this.worker === worker) this.stop(why);
    };
    thread.on('error', (err) => lost(`the evaluation failed: ${err.message}`));
    thread.on('exit', () => lost('the evaluation thread stopped unexpectedly'));
    thread.unref();
    this.worker = worker;
    return worker;
  }
}
