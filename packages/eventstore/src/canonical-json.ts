/**
 * RFC 8785 JSON Canonicalization Scheme, with the strictness an event store needs:
 * a value that JSON would silently change (a bigint, NaN, a Date, a Map, an `undefined`
 * in an array, a lone surrogate, U+0000 which PostgreSQL's jsonb refuses) is an error,
 * so what is hashed is exactly what is stored and read back.
 *
 * Strings and numbers are serialised as ECMAScript's JSON.stringify does, which is what
 * RFC 8785 specifies; object keys are sorted by UTF-16 code units (JS's default sort).
 */

export class NotJsonSerializable extends Error {
  override readonly name = 'NotJsonSerializable';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`Not JSON-serialisable at ${path}: ${reason}`);
  }
}

const depthMax = 64;
/** Any character that might be refused: U+0000 or a surrogate (paired ones are fine). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what this looks for
const suspectCharacters = /[\u0000\uD800-\uDFFF]/;

/** Where in the value the serialiser is: keys and indexes, turned into a path only for an error. */
type PathStack = (string | number)[];

function pathOf(stack: PathStack, root: string): string {
  let path = root;
  for (const step of stack) path += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return path;
}

class Refused {
  constructor(readonly reason: string) {}
}

/** What JSON escapes, or what may be refused: a string without any is quoted as it is. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
const escapedOrSuspect = /["\\\u0000-\u001f\uD800-\uDFFF]/;

function checkString(value: string): string {
  // Most strings (ids, amounts, codes) need neither escaping nor the check: one scan.
  if (!escapedOrSuspect.test(value)) return `"${value}"`;
  if (suspectCharacters.test(value) && (value.includes('\u0000') || !value.isWellFormed())) {
    throw new Refused('string holds U+0000 or a lone UTF-16 surrogate');
  }
  return JSON.stringify(value);
}

/** Keys repeat (every event of a type has the same): their quoted form, for the first keysCachedMax. */
const keysCachedMax = 1024;
const quotedKeys = new Map<string, string>();

function checkKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = checkString(key);
    if (quotedKeys.size < keysCachedMax) quotedKeys.set(key, quoted);
  }
  return quoted;
}

function serialise(value: unknown, stack: PathStack): string {
  if (stack.length > depthMax) throw new Refused(`nested deeper than ${depthMax}`);
  switch (typeof value) {
    case 'string':
      return checkString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Refused(`${value} is not a finite number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new Refused(
        'bigint has no JSON form; serialise it first (money: a decimal string of minor units)',
      );
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let text = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          stack.push(i);
          if (item === undefined) throw new Refused('undefined in an array');
          text += i === 0 ? serialise(item, stack) : `,${serialise(item, stack)}`;
          stack.pop();
        }
        return `${text}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (value as object).constructor?.name ?? 'object';
        throw new Refused(`${kind} is not a plain object`);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let text = '{';
      let first = true;
      for (const key of keys) {
        const item = record[key];
        // As JSON.stringify does: an absent optional property is left out.
        if (item === undefined) continue;
        stack.push(key);
        const member = `${checkKey(key)}:${serialise(item, stack)}`;
        stack.pop();
        text += first ? member : `,${member}`;
        first = false;
      }
      return `${text}}`;
    }
    default:
      throw new Refused(`${typeof value} has no JSON form`);
  }
}

/** The RFC 8785 canonical JSON text of `value`; throws NotJsonSerializable. */
export function canonicalJson(value: unknown, path = '$'): string {
  if (value === undefined) throw new NotJsonSerializable(path, 'undefined has no JSON form');
  const stack: PathStack = [];
  try {
    return serialise(value, stack);
  } catch (error) {
    // The stack still holds the steps down to the refused value.
    if (error instanceof Refused) throw new NotJsonSerializable(pathOf(stack, path), error.reason);
    throw error;
  }
}
