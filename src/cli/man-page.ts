/**
 * Generates man/kvctl.1 (roff) from one source: the oclif manifest (each command's summary,
 * description, args, flags, examples) and the error registry (codes, exit statuses). A test
 * regenerates it and compares with the committed file, so the page never drifts from the code.
 */
import { type ErrorCode, ExitStatus, errorCodes } from '../errors.js';

interface ManifestFlag {
  name: string;
  char?: string;
  type: 'boolean' | 'option';
  description?: string;
  default?: unknown;
  env?: string;
  options?: string[];
  helpGroup?: string;
}

interface ManifestCommand {
  id: string;
  summary?: string;
  description?: string;
  examples?: string[];
  args: Record<string, { name: string; description?: string; required?: boolean }>;
  flags: Record<string, ManifestFlag>;
}

export interface Manifest {
  version: string;
  commands: Record<string, ManifestCommand>;
}

/** Escapes text for roff: backslashes, leading dots/quotes, and hyphens that must stay ASCII. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

function flagLine(flag: ManifestFlag): string {
  const names = `${flag.char ? `\\fB\\-${flag.char}\\fR, ` : ''}\\fB\\-\\-${esc(flag.name)}\\fR${flag.type === 'option' ? ` \\fI${flag.options ? flag.options.join('|') : 'VALUE'}\\fR` : ''}`;
  const extras = [flag.default !== undefined && flag.default !== false ? `default: ${String(flag.default)}` : '', flag.env ? `env: ${flag.env}` : ''].filter(
    Boolean,
  );
  return `.TP\n${names}\n${esc(flag.description ?? '')}${extras.length ? ` (${esc(extras.join('; '))})` : ''}`;
}

const exitNames: Record<number, string> = {
  [ExitStatus.ok]: 'success',
  [ExitStatus.notFound]: 'key not found (get)',
  [ExitStatus.usage]: 'usage error: bad flag, missing argument, value out of range',
  [ExitStatus.unreachable]: 'daemon unreachable, timed out, or not running',
  [ExitStatus.rejected]: 'request rejected: bad input, too large, too many siblings; in --stdin mode, any line failed',
  [ExitStatus.quorum]: 'quorum not met: too few replicas answered',
  [ExitStatus.startFailed]: 'daemon could not start: port in use, data dir locked',
  [ExitStatus.internal]: 'internal or storage error',
};

export function renderManPage(manifest: Manifest): string {
  const ids = Object.keys(manifest.commands).sort();
  const out: string[] = [
    `.TH KVCTL 1 "" "kvctl ${manifest.version}" "User Commands"`,
    '.SH NAME',
    'kvctl \\- a Dynamo\\-style distributed key\\-value store and its command line',
    '.SH SYNOPSIS',
    '.B kvctl',
    '\\fICOMMAND\\fR [\\fIARGS\\fR] [\\fIFLAGS\\fR]',
    '.SH DESCRIPTION',
    esc(
      'kvctl starts and controls kvctl daemons and reads and writes their data. Daemons speak newline-delimited JSON over TCP. ' +
        'Every command takes --json, which prints one JSON object on stdout (errors too, as {"ok":false,"error":{"code","message"}}).',
    ),
    '.SH COMMANDS',
  ];
  for (const id of ids) {
    const cmd = manifest.commands[id] as ManifestCommand;
    const args = Object.values(cmd.args)
      .map((a) => ` [\\fI${a.name.toUpperCase()}\\fR]`)
      .join('');
    out.push(`.SS "kvctl ${id}"`, `\\fBkvctl ${id}\\fR${args} [\\fIFLAGS\\fR]`, '.PP', esc(cmd.summary ?? ''));
    if (cmd.description) out.push('.PP', esc(cmd.description).replace(/\n/g, '\n.br\n'));
    for (const a of Object.values(cmd.args)) out.push(`.TP\n\\fI${a.name.toUpperCase()}\\fR\n${esc(a.description ?? '')}`);
    for (const flag of Object.values(cmd.flags).sort((x, y) => x.name.localeCompare(y.name))) out.push(flagLine(flag));
    if (cmd.examples?.length) {
      out.push('.PP', 'Examples:', '.RS', '.nf');
      for (const ex of cmd.examples) out.push(esc(ex.replace(/<%= config.bin %>/g, 'kvctl')));
      out.push('.fi', '.RE');
    }
  }
  out.push('.SH EXIT STATUS');
  for (const [status, meaning] of Object.entries(exitNames).sort((a, b) => Number(a[0]) - Number(b[0]))) {
    out.push(`.TP\n\\fB${status}\\fR\n${esc(meaning)}`);
  }
  out.push('.SH ERRORS', esc('Every failure carries a stable code (it never changes; messages may). Code, exit status, meaning:'));
  for (const code of Object.keys(errorCodes).sort() as ErrorCode[]) {
    const spec = errorCodes[code];
    out.push(`.TP\n\\fB${esc(code)}\\fR (exit ${spec.exit}${spec.retryable ? ', retryable' : ''})\n${esc(spec.summary)}`);
  }
  out.push(
    '.SH ENVIRONMENT',
    '.TP\n\\fBKVCTL_ADDR\\fR\nDaemon address (host:port) for client commands; default 127.0.0.1:7070.',
    '.TP\n\\fBKVCTL_HOST\\fR, \\fBKVCTL_PORT\\fR, \\fBKVCTL_DATA_DIR\\fR, \\fBKVCTL_NAME\\fR, \\fBKVCTL_CACHE_MB\\fR\nDefaults for the flags of the same names of \\fBkvctl start\\fR.',
    '.TP\n\\fBXDG_DATA_HOME\\fR\nThe default data dir is $XDG_DATA_HOME/kvctl/default (~/.local/share/kvctl/default).',
    '.SH FILES',
    '.TP\n\\fIDATA_DIR/db\\fR\nLevelDB data.',
    '.TP\n\\fIDATA_DIR/kvctl.pid\\fR\nPid file (informational; the LevelDB lock is what excludes a second daemon).',
    '.TP\n\\fIDATA_DIR/kvctl.log\\fR\nStructured log, one JSON object per line.',
    '',
  );
  return out.join('\n');
}
