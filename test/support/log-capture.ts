// Captures an operator's pino JSON lines in memory: parsed for assertions,
// raw for leak checks.

import { Writable } from 'node:stream';

export interface LogCapture {
  stream: Writable;
  lines: Record<string, unknown>[];
  raw(): string;
}

export function captureLogs(): LogCapture {
  let raw = '';
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      const text = chunk.toString();
      raw += text;
      for (const line of text.split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { stream, lines, raw: () => raw };
}
