/**
 * Printing: compact fixed-width tables, and one line per target (figure, target, meets/misses),
 * also collected so the run ends with a summary of every target. Sections may also record their
 * phases' figures as plain objects, for the run's JSON (`--json`); the human text then goes to
 * stderr so stdout carries the JSON alone.
 */
export type Cell = string | number;

export interface TargetLine {
  label: string;
  figure: number;
  /** "≥" when higher is better, "≤" when lower is. */
  direction: '≥' | '≤';
  target: number;
  unit: string;
  meets: boolean;
}

export class Report {
  readonly targets: TargetLine[] = [];
  /** Figures sections recorded for the JSON output, in the order measured. */
  readonly phases: Array<Record<string, unknown>> = [];

  /** @param out where the human text goes */
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  /** Writes text as is (no indent, no newline added). */
  print(text: string): void {
    this.out.write(text);
  }

  /** Keeps one phase's figures for the JSON output. */
  record(figures: Record<string, unknown>): void {
    this.phases.push(figures);
  }

  heading(text: string): void {
    this.out.write(`\n== ${text}\n`);
  }

  note(text: string): void {
    this.out.write(`   ${text}\n`);
  }

  /** Left-aligns the first column, right-aligns the rest. */
  table(headers: string[], rows: Cell[][]): void {
    const cells = [headers, ...rows.map((row) => row.map(String))];
    const widths = headers.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
    for (const row of cells) {
      const line = row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
      this.out.write(`   ${line}\n`);
    }
  }

  /** Prints and records one target line. */
  target(label: string, figure: number, direction: '≥' | '≤', target: number, unit = 'x'): void {
    const meets = direction === '≥' ? figure >= target : figure <= target;
    this.targets.push({ label, figure, direction, target, unit, meets });
    this.out.write(`   target ${label}: ${fmt(figure, 2)}${unit} (target ${direction} ${target}${unit}) ${meets ? 'meets' : 'MISSES'}\n`);
  }

  summary(): void {
    this.heading('Targets');
    this.table(
      ['target', 'figure', 'wanted', 'result'],
      this.targets.map((t) => [t.label, `${fmt(t.figure, 2)}${t.unit}`, `${t.direction} ${t.target}${t.unit}`, t.meets ? 'meets' : 'MISSES']),
    );
  }
}

/** A number with a fixed count of decimals and thousands separators. */
export function fmt(n: number, decimals = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Bytes as MiB with 2 decimals. */
export function mib(bytes: number): string {
  return `${fmt(bytes / 1024 / 1024, 2)} MiB`;
}
