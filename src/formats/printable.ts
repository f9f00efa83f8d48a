// Text taken from a file (names, keys, version strings) as it appears in messages: control characters
// escaped and long strings cut, so that a refusal stays one readable line whatever the file holds.

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function printable(s: string, max = 120): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

const CONTROL_BUT_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text of several lines made by this tool (a report, a warning) with every control character but the
 * newline and the tab escaped: the last guard before a terminal. Names inside it are escaped where they
 * are put in (with printable): a newline they carry cannot be told from the text's own here.
 */
export function printableText(s: string): string {
  return s.replace(CONTROL_BUT_NEWLINE, (c) => (c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
