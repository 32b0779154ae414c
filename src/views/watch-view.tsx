/**
 * The ink view of a --watch: the table (greyed under a STALE banner while polls fail), the status
 * lines that say when and where the data is from or why it is stale, and how to quit. It reads q, Q
 * and Ctrl-C when stdin is a terminal (ink's raw mode, which ink restores on unmount).
 */
import { Box, Text, useInput, useStdin } from 'ink';
import { TableView, type TableViewProps } from './table-view.js';
import type { StatusLine } from './watch-status.js';

export interface WatchViewProps {
  /** The last data; undefined before any poll succeeded. */
  table?: TableViewProps;
  /** Set while polls fail: says the table is old. */
  staleBanner?: string;
  status: StatusLine[];
  onQuit: () => void;
}

const TONE_COLOURS: Record<StatusLine['tone'], string | undefined> = { info: undefined, warn: 'yellow', stale: 'red' };

/** q, Q or Ctrl-C (which arrives as a key, not a signal, while the terminal is in raw mode). */
export function isQuitKey(input: string, key: { ctrl: boolean }): boolean {
  return input === 'q' || input === 'Q' || (key.ctrl && input === 'c');
}

export function quitHint(keys: boolean): string {
  return keys ? 'q or Ctrl-C to quit' : 'Ctrl-C to quit';
}

export function WatchView({ table, staleBanner, status, onQuit }: WatchViewProps) {
  const { isRawModeSupported } = useStdin();
  const keys = isRawModeSupported === true;
  useInput(
    (input, key) => {
      if (isQuitKey(input, key)) onQuit();
    },
    { isActive: keys },
  );
  return (
    <Box flexDirection="column">
      {staleBanner && table ? (
        <Text color="red" bold>
          {staleBanner}
        </Text>
      ) : null}
      {table ? <TableView {...table} dim={staleBanner !== undefined} /> : null}
      {status.map((line) => (
        <Text key={line.text} color={TONE_COLOURS[line.tone]} bold={line.tone === 'stale'}>
          {line.text}
        </Text>
      ))}
      <Text dimColor>{quitHint(keys)}</Text>
    </Box>
  );
}
