/**
 * One-dimensional arrays in PostgreSQL's binary format (array_send / array_recv), for
 * node-postgres, which sends a Buffer parameter as binary. The append path sends a batch's
 * events as a dozen arrays; in text form each element is quoted and escaped here and
 * parsed back by array_in there, which cost more than the rest of building the call.
 *
 * Layout: ndim, has-nulls flag, element type OID, then per dimension its length and lower
 * bound, then per element its byte length and bytes (all integers big-endian int32). Element
 * type OIDs: int4 23, text 25, uuid 2950.
 */
function encode<T>(
  elementOid: number,
  values: readonly T[],
  lengthOf: (value: T) => number,
  write: (buffer: Buffer, value: T, offset: number, length: number) => void,
): Buffer {
  const count = values.length;
  const headerSize = count === 0 ? 12 : 20;
  const lengths = values.map(lengthOf);
  const buffer = Buffer.allocUnsafe(lengths.reduce((size, length) => size + 4 + length, headerSize));
  buffer.writeInt32BE(count === 0 ? 0 : 1, 0);
  buffer.writeInt32BE(0, 4);
  buffer.writeInt32BE(elementOid, 8);
  if (count > 0) {
    buffer.writeInt32BE(count, 12);
    buffer.writeInt32BE(1, 16);
  }
  let offset = headerSize;
  for (let i = 0; i < count; i++) {
    const length = lengths[i]!;
    buffer.writeInt32BE(length, offset);
    write(buffer, values[i]!, offset + 4, length);
    offset += 4 + length;
  }
  return buffer;
}

/** text[] of strings (no NUL characters: PostgreSQL text cannot hold them). */
export const textArray = (values: readonly string[]): Buffer =>
  encode(
    25,
    values,
    (value) => Buffer.byteLength(value, 'utf8'),
    (buffer, value, offset, length) => buffer.write(value, offset, length, 'utf8'),
  );

/** int4[] of integers in the int32 range. */
export const int4Array = (values: readonly number[]): Buffer =>
  encode(
    23,
    values,
    () => 4,
    (buffer, value, offset) => buffer.writeInt32BE(value, offset),
  );

/** uuid[] of canonical UUID strings (8-4-4-4-12 hex digits, either case). */
export const uuidArray = (values: readonly string[]): Buffer =>
  encode(
    2950,
    values,
    () => 16,
    (buffer, value, offset) => {
      if (buffer.write(value.replaceAll('-', ''), offset, 16, 'hex') !== 16)
        throw new TypeError(`not a UUID: ${value}`);
    },
  );
