import t from 'tap';
import { z } from 'zod';
import { identityEventSchemas, personalFieldsByEventType, sealedFieldSchema } from './identity.js';
import * as contracts from './index.js';
import { extractedFieldNames, kycEventSchemas } from './kyc.js';
import { ledgerEventSchemas } from './ledger-events.js';
import { notificationEventSchemas } from './notifications.js';
import { packEventSchemas } from './packs.js';
import { settingsSchema } from './settings.js';
import { supportEventSchemas } from './support.js';

// Issue #15: no secret in the log, every personal field sealed. Every event type's schema
// of every context is walked, through objects, optionals, nullables, arrays, unions,
// records and the rest, and no field may be named like a secret; a reference to a secret
// kept elsewhere (`passwordId`, `factorId`: a name ending in `Id` whose schema is a uuid)
// is no secret. The personal fields of personalFieldsByEventType must be sealed: a clear
// name, address or number fails their schema. The walker is shown to catch what it must.

/** On the lower-cased name with `_` and `-` removed. */
const secretNamePattern = new RegExp(
  [
    'password',
    'passwd',
    'passphrase',
    'pwd',
    '^pw(hash|digest)?$',
    'secret',
    'token',
    // At either end only: `footprint` holds the letters too.
    '^t?otp',
    'otp$',
    '^pin$',
    'pincode',
    'cvv',
    'cvc',
    'ciphertext',
    'credential',
    '(private|api|secret|signing|encryption|access|master|data|session)key',
    'mnemonic',
    '^seed|seed$',
    // At either end only: `reversalTransferId` holds the letters too.
    '^salt|salt$',
    'hash',
    'bcrypt',
    'authorization',
    'bearer',
    'cookie',
    'jwt',
    'recoverycode',
  ].join('|'),
);

/**
 * Names that match the pattern but hold no secret, each held to the one kind it has (an
 * `otpTimeStep` that became a string, or a `recoveryCode` that became one, is flagged).
 */
const notSecrets: Readonly<Record<string, 'int' | 'boolean'>> = {
  /** The TOTP period a code was accepted in (replay guard): a counter, not the code. */
  otpTimeStep: 'int',
  /** LoginSucceeded: the second factor was a recovery code (spent by that login). */
  recoveryCode: 'boolean',
};

type Def = { type: string } & Record<string, any>;
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Wrappers that hold one schema: what they accept is what it accepts (or null, undefined). */
const wrapperTypes = new Set([
  'optional',
  'nullable',
  'default',
  'prefault',
  'readonly',
  'catch',
  'nonoptional',
  'success',
  'promise',
]);
/** Schemas with nothing inside to walk. */
const leafTypes = new Set([
  'string',
  'number',
  'int',
  'boolean',
  'bigint',
  'symbol',
  'null',
  'undefined',
  'void',
  'never',
  'any',
  'unknown',
  'date',
  'nan',
  'literal',
  'enum',
  'template_literal',
  'file',
  'custom',
  // The function of a .transform(): what it makes is what the pipe's output schema says.
  'transform',
]);

/** The schema under optional, nullable and other one-schema wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while (wrapperTypes.has(defOf(inner).type)) inner = defOf(inner).innerType;
  return inner;
}

/** A string schema that only accepts uuids. */
function isUuid(schema: z.ZodType): boolean {
  const def = defOf(unwrap(schema));
  return def.type === 'string' && def.format === 'uuid';
}

function secretLooking(name: string, schema: z.ZodType): string | null {
  const normalized = name.toLowerCase().replace(/[_-]/g, '');
  if (!secretNamePattern.test(normalized)) return null;
  if (name.endsWith('Id') && isUuid(schema)) return null;
  const allowed = notSecrets[name];
  const inner = unwrap(schema);
  const type = defOf(inner).type;
  if (allowed === 'boolean' && type === 'boolean') return null;
  if (allowed === 'int' && type === 'number' && (inner as z.ZodNumber).isInt) return null;
  return `looks like a secret (${type})`;
}

/**
 * Every field under `schema` whose name looks like a secret, as `path: why`; and every
 * schema kind the walker does not know (so a new kind is never skipped in silence).
 */
function findSecretFields(schema: z.ZodType, path = '$', seen = new Set<z.ZodType>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = defOf(schema);
  const walk = (inner: z.ZodType, at = path) => findSecretFields(inner, at, seen);
  if (wrapperTypes.has(def.type)) return walk(def.innerType);
  switch (def.type) {
    case 'object': {
      const found: string[] = [];
      for (const [name, field] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        const why = secretLooking(name, field);
        if (why !== null) found.push(`${path}.${name}: ${why}`);
        found.push(...walk(field, `${path}.${name}`));
      }
      if (def.catchall !== undefined) found.push(...walk(def.catchall, `${path}.*`));
      return found;
    }
    case 'array':
      return walk(def.element, `${path}[]`);
    case 'set':
      return walk(def.valueType, `${path}[]`);
    case 'tuple':
      return [
        ...(def.items as z.ZodType[]).flatMap((item, i) => walk(item, `${path}[${i}]`)),
        ...(def.rest ? walk(def.rest, `${path}[]`) : []),
      ];
    case 'union':
      return (def.options as z.ZodType[]).flatMap((option, i) => walk(option, `${path}|${i}`));
    case 'intersection':
      return [...walk(def.left), ...walk(def.right)];
    case 'record':
    case 'map':
      return [...walk(def.keyType, `${path}{key}`), ...walk(def.valueType, `${path}{}`)];
    case 'pipe':
      return [...walk(def.in), ...walk(def.out)];
    case 'lazy':
      return walk(def.getter());
    default:
      return leafTypes.has(def.type)
        ? []
        : [`${path}: a schema of kind ${def.type} the walker does not know`];
  }
}

/** A personal field's schema, checked as sealed: clear values fail, a sealed one passes. */
function unsealedReasons(field: z.ZodType | undefined): string[] {
  if (field === undefined) return ['not in the schema'];
  const reasons: string[] = [];
  for (const clear of ['Ana', 'ana.ferreira@example.com', '+351 912 345 678', '1988-04-12', 'pii1.x'])
    if (field.safeParse(clear).success) reasons.push(`accepts ${JSON.stringify(clear)} in clear`);
  if (!field.safeParse(sealedExample).success) reasons.push('refuses a sealed value');
  return reasons;
}

/** A value in the sealed form: pii1.<iv 12 bytes>.<ciphertext>.<tag 16 bytes>, base64url. */
const sealedExample = [
  'pii1',
  Buffer.alloc(12, 7).toString('base64url'),
  Buffer.from('Ana Ferreira').toString('base64url'),
  Buffer.alloc(16, 9).toString('base64url'),
].join('.');

/** SettingsChanged, the one event of `bank-settings`: the whole settings and when (domain's SettingsEvent). */
const settingsEventSchemas = {
  SettingsChanged: z.object({ settings: settingsSchema, at: z.iso.datetime() }),
};

/** Every event schema of every context, by context and type. */
const contexts: Record<string, Record<string, z.ZodType>> = {
  identity: identityEventSchemas,
  kyc: kycEventSchemas,
  ledger: ledgerEventSchemas,
  notifications: notificationEventSchemas,
  packs: packEventSchemas,
  settings: settingsEventSchemas,
  support: supportEventSchemas,
};

t.test('every family of event schemas exported by @ledger/contracts is walked', async (t) => {
  const exported = Object.keys(contracts).filter((name) => name.endsWith('EventSchemas'));
  t.ok(exported.length >= 5, `found ${exported.join(', ')}`);
  const walked = new Set(Object.values(contexts).flatMap((schemas) => Object.values(schemas)));
  for (const name of exported) {
    const family = (contracts as Record<string, unknown>)[name] as Record<string, z.ZodType>;
    const missing = Object.entries(family).filter(([, schema]) => !walked.has(schema));
    t.same(
      missing.map(([type]) => type),
      [],
      `${name}: every type walked`,
    );
  }
  t.ok(Object.keys(identityEventSchemas).length >= 15, 'identity: all its types');
  t.ok(Object.keys(ledgerEventSchemas).length >= 15, 'ledger: accounts, transfers, bookkeeping');
});

t.test('no event field is named like a secret; references by uuid are not secrets', async (t) => {
  let types = 0;
  for (const [context, schemas] of Object.entries(contexts)) {
    for (const [type, schema] of Object.entries(schemas)) {
      types++;
      t.same(findSecretFields(schema, type), [], `${context} ${type}`);
    }
  }
  t.ok(types >= 35, `${types} event types walked`);
  // What the references are: uuids naming vault rows, where the secrets now live.
  t.ok(isUuid(identityEventSchemas.UserRegistered.shape.passwordId), 'UserRegistered.passwordId: a uuid');
  t.ok(isUuid(identityEventSchemas.PasswordChanged.shape.passwordId), 'PasswordChanged.passwordId: a uuid');
  t.ok(isUuid(identityEventSchemas.TwoFactorSetupStarted.shape.factorId), 'TwoFactorSetupStarted.factorId');
});

t.test('every personal field is sealed in its event schema', async (t) => {
  t.notOk(sealedFieldSchema.safeParse('Ana').success, 'a clear string fails sealedFieldSchema');
  t.ok(sealedFieldSchema.safeParse(sealedExample).success, 'the sealed form passes it');
  const schemas = identityEventSchemas as Record<string, z.ZodObject>;
  let fields = 0;
  for (const [type, names] of Object.entries(personalFieldsByEventType)) {
    const schema = schemas[type];
    t.ok(schema, `${type} is an identity event`);
    for (const name of names) {
      fields++;
      t.same(unsealedReasons(schema?.shape[name]), [], `${type}.${name} is sealed`);
    }
  }
  t.ok(fields >= 10, `${fields} personal fields`);

  // What a KYC check read off a document: every field sealed.
  const extracted = kycEventSchemas.KycChecked.shape.extracted.unwrap();
  for (const name of extractedFieldNames) {
    t.same(unsealedReasons(extracted.shape[name]), [], `KycChecked.extracted.${name} is sealed`);
  }

  // And the other way: a field named as a personal one, in any identity event, is listed.
  const personalNames = new Set<string>(Object.values(personalFieldsByEventType).flat());
  for (const [type, schema] of Object.entries(schemas)) {
    const listed: readonly string[] =
      personalFieldsByEventType[type as keyof typeof personalFieldsByEventType] ?? [];
    for (const name of Object.keys(schema.shape)) {
      if (personalNames.has(name)) t.ok(listed.includes(name), `${type}.${name} is listed as personal`);
    }
  }
});

t.test('the walker can fail: it flags secrets wherever they hide', async (t) => {
  const madeUp = z.object({
    userId: z.uuid(),
    passwordHash: z.string(),
    totp: z.object({ secret: z.string() }),
  });
  const found = findSecretFields(madeUp, 'MadeUp');
  t.ok(
    found.some((f) => f.startsWith('MadeUp.passwordHash:')),
    'passwordHash: z.string()',
  );
  t.ok(
    found.some((f) => f.startsWith('MadeUp.totp.secret:')),
    '{ totp: { secret: z.string() } }',
  );
  t.notOk(
    found.some((f) => f.startsWith('MadeUp.userId')),
    'but not userId',
  );

  const deeper = z.object({
    list: z.array(z.object({ apiKey: z.string() })).optional(),
    either: z.discriminatedUnion('k', [
      z.object({ k: z.literal('a') }),
      z.object({ k: z.literal('b'), refresh_token: z.string().nullable() }),
    ]),
    byName: z.record(z.string(), z.object({ pin: z.string() })),
    tuple: z.tuple([z.string(), z.object({ cvv: z.string() })]),
    later: z.lazy(() => z.object({ privateKey: z.string() })),
    piped: z
      .string()
      .transform((s) => ({ s }))
      .pipe(z.object({ s: z.string() })),
    both: z.intersection(
      z.object({ a: z.string() }),
      z.object({ sealedBox: z.object({ ciphertext: z.string() }) }),
    ),
    otp: z.number().int(),
    passwordId: z.string(),
    secretId: z.uuid().nullable(),
    recoveryCode: z.string(),
    otpTimeStep: z.string(),
    footprint: z.string(),
    reversalTransferId: z.string(),
    emailOtp: z.string(),
    pwSalt: z.string(),
  });
  t.same(
    findSecretFields(deeper, 'X')
      .map((f) => f.slice(0, f.indexOf(':')))
      .sort(),
    [
      'X.both.sealedBox.ciphertext',
      'X.byName{}.pin',
      'X.either|1.refresh_token',
      'X.emailOtp',
      'X.later.privateKey',
      'X.list[].apiKey',
      'X.otp',
      'X.otpTimeStep',
      'X.passwordId',
      'X.pwSalt',
      'X.recoveryCode',
      'X.tuple[1].cvv',
    ],
  );
  t.same(findSecretFields(z.object({ x: z.map(z.string(), z.object({ jwt: z.string() })) })), [
    '$.x{}.jwt: looks like a secret (string)',
  ]);

  // The sealed check fails on a clear personal field.
  t.same(unsealedReasons(z.string().nullable()), [
    'accepts "Ana" in clear',
    'accepts "ana.ferreira@example.com" in clear',
    'accepts "+351 912 345 678" in clear',
    'accepts "1988-04-12" in clear',
    'accepts "pii1.x" in clear',
  ]);
  t.same(unsealedReasons(z.iso.date().nullable()), [
    'accepts "1988-04-12" in clear',
    'refuses a sealed value',
  ]);
  t.same(unsealedReasons(undefined), ['not in the schema']);
  t.same(unsealedReasons(sealedFieldSchema.nullable().optional()), []);
});
