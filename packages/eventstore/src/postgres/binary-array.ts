/**
 * One-dimensional arrays in PostgreSQL's binary format (array_send / array_recv), for
 * node-postgres, which sends a Buffer parameter as binary. The append path sends a batch's
 * events as a dozen arrays; in text form each element is quoted and escaped here and
 * parsed back by array_in there, which cost more than the rest of building the call.
 *
 * Layout: ndim, has-nulls flag, element type OID, then per dimension its length and lower
 * bound, then per element its byte length and bytes (all integers big-endian int32).
 */
const oids = { int4: 23, text: 25, uuid: 2950 } as const;

function header(elementOid: number, count: number, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  if (count === 0) {
    buffer.writeInt32BE(0, 0);
    buffer.writeInt32BE(0, 4);
    buffer.writeInt32BE(elementOid, 8);
    return buffer;
  }
  buffer.writeInt32BE(1, 0);
  buffer.writeInt32BE(0, 4);
  buffer.writeInt32BE(elementOid, 8);
  buffer.writeInt32BE(count, 12);
  buffer.writeInt32BE(1, 16);
  return buffer;
}

function headerSize(count: number): number {
  return count === 0 ? 12 : 20;
}

/** text[] of strings (no NUL characters: PostgreSQL text cannot hold them). */
export function textArray(values: readonly string[]): Buffer {
  let size = headerSize(values.length);
  const lengths = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const length = Buffer.byteLength(values[i]!, 'utf8');
    lengths[i] = length;
    size += 4 + length;
  }
  const buffer = header(oids.text, values.length, size);
  let offset = headerSize(values.length);
  for (let i = 0; i < values.length; i++) {
    buffer.writeInt32BE(lengths[i]!, offset);
    offset += 4;
    offset += buffer.write(values[i]!, offset, lengths[i]!, 'utf8');
  }
  return buffer;
}

/** int4[] of integers in the int32 range. */
export function int4Array(values: readonly number[]): Buffer {
  const buffer = header(oids.int4, values.length, headerSize(values.length) + 8 * values.length);
  let offset = headerSize(values.length);
  for (const value of values) {
    buffer.writeInt32BE(4, offset);
    buffer.writeInt32BE(value, offset + 4);
    offset += 8;
  }
  return buffer;
}

/** uuid[] of canonical UUID strings (8-4-4-4-12 hex digits, either case). */
export function uuidArray(values: readonly string[]): Buffer {
  const buffer = header(oids.uuid, values.length, headerSize(values.length) + 20 * values.length);
  let offset = headerSize(values.length);
  for (const value of values) {
    buffer.writeInt32BE(16, offset);
    const hex = value.replaceAll('-', '');
    if (buffer.write(hex, offset + 4, 16, 'hex') !== 16) throw new TypeError(`not a UUID: ${value}`);
    offset += 20;
  }
  return buffer;
}
