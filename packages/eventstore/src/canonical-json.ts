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
// A lone surrogate, or U+0000: both refused by PostgreSQL's jsonb.
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what this looks for
const badCharacters = /[\u0000]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkString(value: string, path: string): string {
  if (badCharacters.test(value)) {
    throw new NotJsonSerializable(path, 'string holds U+0000 or a lone UTF-16 surrogate');
  }
  return JSON.stringify(value);
}

function serialise(value: unknown, path: string, depth: number): string {
  if (depth > depthMax) throw new NotJsonSerializable(path, `nested deeper than ${depthMax}`);
  switch (typeof value) {
    case 'string':
      return checkString(value, path);
    case 'number':
      if (!Number.isFinite(value)) throw new NotJsonSerializable(path, `${value} is not a finite number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new NotJsonSerializable(
        path,
        'bigint has no JSON form; serialise it first (money: a decimal string of minor units)',
      );
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) throw new NotJsonSerializable(`${path}[${i}]`, 'undefined in an array');
          parts.push(serialise(item, `${path}[${i}]`, depth + 1));
        }
        return `[${parts.join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (value as object).constructor?.name ?? 'object';
        throw new NotJsonSerializable(path, `${kind} is not a plain object`);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      const parts: string[] = [];
      for (const key of keys) {
        const item = record[key];
        // As JSON.stringify does: an absent optional property is left out.
        if (item === undefined) continue;
        const itemPath = `${path}.${key}`;
        parts.push(`${checkString(key, itemPath)}:${serialise(item, itemPath, depth + 1)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new NotJsonSerializable(path, `${typeof value} has no JSON form`);
  }
}

/** The RFC 8785 canonical JSON text of `value`; throws NotJsonSerializable. */
export function canonicalJson(value: unknown, path = '$'): string {
  if (value === undefined) throw new NotJsonSerializable(path, 'undefined has no JSON form');
  return serialise(value, path, 0);
}
