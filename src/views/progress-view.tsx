/** The ink view of a running repair: a progress bar over node pairs and the running totals. */
import { Box, Text } from 'ink';

export interface ProgressViewProps {
  title: string;
  done: number;
  total: number;
  lines: string[];
}

export function ProgressView({ title, done, total, lines }: ProgressViewProps) {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return (
    <Box flexDirection="column">
      <Text bold>{title}</Text>
      <Text>
        <Text color="green">{'█'.repeat(filled)}</Text>
        <Text dimColor>{'░'.repeat(width - filled)}</Text> {done}/{total} pairs
      </Text>
      {lines.map((line) => (
        <Text key={line}>{line}</Text>
      ))}
    </Box>
  );
}
