// A one-line progress display on stderr, redrawn in place; silent when stderr is not a terminal.
export class Progress {
  private experiment = '';
  private last = 0;

  constructor(
    private readonly write: (text: string) => void,
    readonly enabled: boolean,
  ) {}

  begin(experiment: string): void {
    this.experiment = experiment;
  }

  /** Shows `label done/total`, at most every 100 ms. */
  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && done < total) return;
    this.last = now;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    this.write(`\r\x1b[K[${this.experiment}] ${label} ${done}/${total} (${pct} %)`);
  }

  clear(): void {
    if (this.enabled) this.write('\r\x1b[K');
  }
}

export const silent = new Progress(() => undefined, false);
