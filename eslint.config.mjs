import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'crypto',
  'http',
  'https',
  'net',
  'os',
  'child_process',
  'stream',
  'util',
  'zlib',
  'worker_threads',
];

/**
 * Another package's build output or private modules (`tuf-js/dist/error`,
 * `@temporalio/common/lib/time`): they change without notice. Import the package's public
 * entry; where it lacks something, one wrapper module reaches in (INTERNALS_WRAPPERS below).
 */
const internals = {
  regex: '^(@[^/]+/)?[^./@][^/]*/(.+/)?(dist|lib)(/|$)',
  message: "import the package's public entry, or the project's one wrapper of its internals",
};
const INTERNALS_WRAPPERS = ['client-sdk/src/tufJsErrors.ts'];

/**
 * The one `no-restricted-imports` of a folder: ESLint keeps only the last matching config's
 * options for a rule, so every folder's restrictions are composed here with the ban on
 * internals rather than spread over several configs.
 */
const restrict = ({ paths = [], patterns = [] } = {}) => ({
  'no-restricted-imports': ['error', { paths, patterns: [...patterns, internals] }],
});

/**
 * Project folders a module must not reach (by relative import, at any depth). Relative paths
 * only: a package whose name ends like a folder (`@opentelemetry/api`) is no project folder.
 */
const folders = (names, message, extra = {}) => ({
  regex: `^(\\.{1,2}/)+(.+/)?(${names.join('|')})(/.*)?$`,
  message,
  ...extra,
});

/**
 * What each folder may import: the layers of docs/architecture.md, checked.
 */
const layer = (names, message) => restrict({ patterns: [folders(names, message)] });

/** Every top-level project folder (relative imports into them); client-sdk/ is reached by its package name. */
const PROJECT_FOLDERS = [
  'common',
  'infra',
  'trust',
  'fleet',
  'activities',
  'workflows',
  'control',
  'api',
  'worker',
  'cli',
  'simulator',
  'scripts',
  'web',
  'bench',
  'test',
  'client-sdk',
];

const CLI_MESSAGE =
  'cli/ talks to the system through the admin API client (infra/adminApiClient) and common/ types; direct access belongs in cli/host/';

export default tseslint.config(
  { ignores: ['dist/**', 'client-sdk/dist/**', 'node_modules/**', 'var/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      // An unused parameter named `_x` is a deliberate signature (express's error handler).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      ...restrict(),
    },
  },
  {
    // Beyond three parameters an options object; functions of about a screen. Product code
    // only: a test or a benchmark reads top to bottom, and its helpers are local.
    files: ['**/*.ts'],
    ignores: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/max-params': ['error', { max: 3 }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    files: INTERNALS_WRAPPERS,
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Workflow code must be deterministic: no Node built-ins, no I/O libraries, and
    // activities only as types (the bundler would otherwise pull them into the sandbox).
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: restrict({
      paths: [
        ...nodeBuiltins,
        ...nodeBuiltins.map((m) => `node:${m}`),
        'minio',
        'pg',
        'express',
        'pkcs11js',
        '@temporalio/activity',
        '@temporalio/client',
        '@temporalio/worker',
      ].map((name) => ({ name, message: 'workflows/ and common/ must stay deterministic and workflow-safe' })),
      patterns: [
        folders(
          ['activities', 'infra', 'trust', 'fleet', 'control', 'worker', 'cli', 'webhooks', 'supplychain'],
          'import activities and adapters as types only',
          { allowTypeImports: true },
        ),
        folders(['api'], 'nothing imports api/ but the API server'),
        {
          regex: '^@enigm-ota/client-sdk$',
          allowTypeImports: true,
          message: 'only the workflow-safe subpaths of the SDK (e.g. /semver)',
        },
      ],
    }),
  },
  {
    // Adapters to real components: they know no protocol, rule, use case or process above them.
    files: ['infra/**/*.ts'],
    rules: layer(
      [
        'trust',
        'fleet',
        'activities',
        'workflows',
        'control',
        'api',
        'worker',
        'cli',
        'simulator',
        'scripts',
        'webhooks',
        'transparency',
      ],
      'infra/ holds adapters only: it imports common/ and other adapters',
    ),
  },
  {
    // Supply-chain documents: SBOM and provenance parsing, component versions. Pure rules on
    // bytes (and the CycloneDX library), used by the API process.
    files: ['supplychain/**/*.ts'],
    rules: layer(
      [
        'infra',
        'trust',
        'fleet',
        'activities',
        'workflows',
        'control',
        'api',
        'worker',
        'cli',
        'simulator',
        'scripts',
        'webhooks',
      ],
      'supplychain/ imports only common/',
    ),
  },
  {
    // Events out: where webhooks may go, how they are signed and sent. Built on adapters (the
    // outbox is infra/webhookStore.ts), used by the API process only.
    files: ['webhooks/**/*.ts'],
    rules: layer(
      ['trust', 'fleet', 'activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts'],
      'webhooks/ imports only common/ and infra/',
    ),
  },
  {
    // The transparency log's server side (the shipper, the witness, evidence): built on adapters,
    // the TUF layer (evidence holds signed metadata) and the SDK's checks, used by the API and CLI.
    files: ['transparency/**/*.ts'],
    rules: layer(
      ['fleet', 'activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts', 'webhooks'],
      'transparency/ imports only common/, infra/, trust/ and the SDK',
    ),
  },
  {
    // The TUF protocol and key management: built on adapters, used by processes.
    files: ['trust/**/*.ts'],
    rules: layer(
      ['fleet', 'activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts'],
      'trust/ imports only common/, infra/ and the SDK',
    ),
  },
  {
    // Device and fleet rules: no HTTP, no processes, no use cases.
    files: ['fleet/**/*.ts'],
    rules: layer(
      ['activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts'],
      'fleet/ holds rules: it imports common/, infra/ and trust/ types, and the SDK',
    ),
  },
  {
    files: ['activities/**/*.ts', 'control/**/*.ts', 'worker/**/*.ts', 'simulator/**/*.ts'],
    rules: layer(
      ['api', 'cli'],
      'nothing imports api/ but the API server, and nothing below the processes imports the CLI',
    ),
  },
  {
    // The embedded stack and npm start are processes like the CLI (they share its output helpers).
    files: ['scripts/**/*.ts'],
    rules: layer(['api'], 'nothing imports api/ but the API server'),
  },
  {
    // Operator commands reach the system only through the admin API; signing-host commands live
    // in cli/host/. Of infra/, only the admin API client (and the file stream it uploads with)
    // and the configuration: an allow-list, so a new adapter is out of reach by default.
    files: ['cli/*.ts'],
    rules: restrict({
      patterns: [
        folders(
          ['trust', 'fleet', 'activities', 'workflows', 'control', 'api', 'worker', 'simulator', 'scripts'],
          CLI_MESSAGE,
        ),
        {
          group: ['**/infra/*', '!**/infra/adminApiClient', '!**/infra/fileStream', '!**/infra/config'],
          message: CLI_MESSAGE,
        },
      ],
    }),
  },
  {
    // The dashboard runs in the browser: it reaches the system only through the admin API,
    // and shares only the wire types (and pure constants) of common/ with the server.
    files: ['web/**/*.ts'],
    rules: layer(
      [
        'api',
        'infra',
        'trust',
        'fleet',
        'activities',
        'workflows',
        'control',
        'worker',
        'cli',
        'simulator',
        'scripts',
        'bench',
        'test',
      ],
      'web/ talks to the admin API over HTTP and imports only common/ from the server side',
    ),
  },
  {
    // S-18: every JSON body goes through jsonBody (api/untrusted.ts), which checks each string the parser made.
    files: ['api/**/*.ts'],
    ignores: ['api/untrusted.ts'],
    rules: restrict({
      paths: [
        {
          name: 'express',
          importNames: ['json', 'urlencoded', 'text'],
          message: 'parse request bodies with jsonBody from api/untrusted.ts',
        },
        { name: 'body-parser', message: 'parse request bodies with jsonBody from api/untrusted.ts' },
      ],
    }),
  },
  {
    // The device product ships to devices alone: the SDK and Node's built-ins, nothing of the
    // server, and no other package (the bundle must stay small). The packaging scripts run at
    // build time and may use the bundler too.
    files: ['device/**/*.ts'],
    rules: restrict({
      patterns: [
        {
          regex: `^(\\.\\./)+(${PROJECT_FOLDERS.join('|')})(/|$)`,
          message: 'device/ imports only @enigm-ota/client-sdk and node: built-ins, nothing of the server',
        },
        {
          regex: '^(?!node:|@enigm-ota/client-sdk(/|$)|\\.|esbuild$)',
          message: 'device/ imports only @enigm-ota/client-sdk and node: built-ins (its build scripts also esbuild)',
        },
      ],
    }),
  },
  {
    files: ['device/agent/**/*.ts'],
    rules: restrict({
      patterns: [
        {
          regex: `^(\\.\\./)+(${PROJECT_FOLDERS.join('|')}|packaging)(/|$)`,
          message: 'device/agent/ imports only @enigm-ota/client-sdk and node: built-ins, nothing of the server',
        },
        {
          regex: '^(?!node:|@enigm-ota/client-sdk(/|$)|\\.)',
          message: 'device/agent/ imports only @enigm-ota/client-sdk and node: built-ins',
        },
      ],
    }),
  },
  {
    files: ['cli/host/**/*.ts'],
    rules: layer(
      ['api', 'activities', 'workflows', 'worker'],
      'signing-host commands use trust/, infra/ and control/, never the API server or the worker',
    ),
  },
);
