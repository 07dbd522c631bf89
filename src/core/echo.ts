// C0/C1 controls, DEL, and the bidi overrides that reorder what a reader sees (U+202A–202E, U+2066–2069).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * User input made safe to show back (a terminal, a log line, a chat message): control characters and escape
 * sequences become "?", and anything past `max` characters is cut with "…". Every echo of input goes through it.
 */
export function echo(input: string, max = 60): string {
  const chars = Array.from(input.replace(UNSAFE, '?'));
  return chars.length <= max ? chars.join('') : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}
