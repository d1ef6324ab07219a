import { z } from 'zod';

/**
 * Free text from clients (names, references, reasons, messages), one rule for every field
 * (API.md, Conventions): no NUL, no lone surrogate, no C0/C1 control character (line breaks
 * and tabs only in a multi-line field), no bidirectional override or isolate (U+202A–U+202E,
 * U+2066–U+2069, which make "gnp.exe" read as "exe.png"). PostgreSQL refuses NUL and lone
 * surrogates in text and jsonb, so without this such input was a 500; the others would be
 * stored and echoed to back-office screens and e-mails.
 */

/** C0 and C1 controls and DEL, but for TAB, LF and CR (allowed in multi-line fields only). */
const controlsSingleLine = /\p{Cc}/u;
const controlsMultiLine = /(?![\t\n\r])\p{Cc}/u;
const bidiControls = /[\u202a-\u202e\u2066-\u2069]/u;

/** Why `text` is refused, or null when it is acceptable free text. */
export function textProblem(text: string, options: { multiLine?: boolean } = {}): string | null {
  if (!text.isWellFormed()) return 'contains a lone surrogate (not valid Unicode)';
  if ((options.multiLine ? controlsMultiLine : controlsSingleLine).test(text)) {
    return options.multiLine ? 'contains a control character' : 'contains a control character or line break';
  }
  if (bidiControls.test(text)) return 'contains a bidirectional override';
  return null;
}

/**
 * A free-text field: trimmed, min (default 1) to max characters, refused with a message
 * naming the problem. Used by every body that carries names, references or reasons.
 */
export function freeText(options: { max: number; min?: number; multiLine?: boolean }) {
  return z
    .string()
    .trim()
    .min(options.min ?? 1)
    .max(options.max)
    .check((ctx) => {
      const problem = textProblem(ctx.value, options);
      if (problem !== null) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    });
}
