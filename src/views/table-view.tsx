/**
 * The ink view of a titled table (members, ring): header in bold, a state column coloured by
 * meaning, warnings in yellow. `dim` greys the whole table and drops the state colours, for data
 * that is no longer current. Props are plain snapshots; the view holds no state and does no I/O.
 */
import { Box, Text } from 'ink';

const STATE_COLOURS: Record<string, string> = { up: 'green', degraded: 'magenta', suspect: 'yellow', down: 'red', leaving: 'cyan', left: 'gray' };

export interface TableViewProps {
  title: string;
  columns: string[];
  rows: string[][];
  /** Index of the column whose value picks the row's colour (members: STATE). */
  stateColumn?: number;
  footer?: string[];
  /** Lines a reader must not miss (e.g. fewer copies per key than N). */
  warnings?: string[];
  /** Greyed out, no state colours: the data is old. */
  dim?: boolean;
}

export function TableView({ title, columns, rows, stateColumn, footer = [], warnings = [], dim = false }: TableViewProps) {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)) + 2);
  return (
    <Box flexDirection="column">
      <Text bold dimColor={dim}>
        {title}
      </Text>
      <Box>
        {columns.map((c, i) => (
          <Box key={c} width={widths[i]}>
            <Text bold underline dimColor={dim}>
              {c}
            </Text>
          </Box>
        ))}
      </Box>
      {rows.map((row) => (
        <Box key={row[0]}>
          {row.map((cell, i) => (
            <Box key={columns[i]} width={widths[i]}>
              <Text color={i === stateColumn && !dim ? STATE_COLOURS[cell] : undefined} dimColor={dim}>
                {cell}
              </Text>
            </Box>
          ))}
        </Box>
      ))}
      {footer.map((line) => (
        <Text key={line} dimColor>
          {line}
        </Text>
      ))}
      {warnings.map((line) => (
        <Text key={line} color={dim ? undefined : 'yellow'} dimColor={dim}>
          {line}
        </Text>
      ))}
    </Box>
  );
}
