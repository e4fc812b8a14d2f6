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
 * What each folder may import: the layers of docs/architecture.md, checked. `folders` are
 * project folders a module must not reach (by relative import, at any depth).
 */
const forbid = (folders, message, extra = {}) => ({
  'no-restricted-imports': [
    'error',
    {
      ...extra,
      patterns: [
        ...(extra.patterns ?? []),
        { group: folders.flatMap((f) => [`**/${f}`, `**/${f}/*`, `**/${f}/**`]), message },
      ],
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'client-sdk/dist/**', 'node_modules/**', 'var/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // Workflow code must be deterministic: no Node built-ins, no I/O libraries, and
    // activities only as types (the bundler would otherwise pull them into the sandbox).
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
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
            {
              group: [
                '**/activities',
                '**/activities/*',
                '**/infra/*',
                '**/trust/*',
                '**/fleet/*',
                '**/control/*',
                '**/worker/*',
                '**/cli/*',
              ],
              allowTypeImports: true,
              message: 'import activities and adapters as types only',
            },
            { group: ['**/api/*'], message: 'nothing imports api/ but the API server' },
            {
              regex: '^@enigm-ota/client-sdk$',
              allowTypeImports: true,
              message: 'only the workflow-safe subpaths of the SDK (e.g. /semver)',
            },
          ],
        },
      ],
    },
  },
  {
    // Adapters to real components: they know no protocol, rule, use case or process above them.
    files: ['infra/**/*.ts'],
    rules: forbid(
      ['trust', 'fleet', 'activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts'],
      'infra/ holds adapters only: it imports common/ and other adapters',
    ),
  },
  {
    // The TUF protocol and key management: built on adapters, used by processes.
    files: ['trust/**/*.ts'],
    rules: forbid(
      ['fleet', 'activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts'],
      'trust/ imports only common/, infra/ and the SDK',
    ),
  },
  {
    // Device and fleet rules: no HTTP, no processes, no use cases.
    files: ['fleet/**/*.ts'],
    rules: forbid(
      ['activities', 'workflows', 'control', 'api', 'worker', 'cli', 'simulator', 'scripts'],
      'fleet/ holds rules: it imports common/, infra/ and trust/ types, and the SDK',
    ),
  },
  {
    files: ['activities/**/*.ts', 'control/**/*.ts', 'worker/**/*.ts', 'simulator/**/*.ts'],
    rules: forbid(
      ['api', 'cli'],
      'nothing imports api/ but the API server, and nothing below the processes imports the CLI',
    ),
  },
  {
    // The embedded stack and npm start are processes like the CLI (they share its output helpers).
    files: ['scripts/**/*.ts'],
    rules: forbid(['api'], 'nothing imports api/ but the API server'),
  },
  {
    // Operator commands reach the system only through the admin API; signing-host commands live in cli/host/.
    files: ['cli/*.ts'],
    rules: forbid(
      [
        'trust',
        'fleet',
        'activities',
        'workflows',
        'control',
        'api',
        'worker',
        'simulator',
        'scripts',
        'infra/storage',
        'infra/hsm',
        'infra/fleetStore',
        'infra/devices',
        'infra/operators',
        'infra/fleetCa',
        'infra/schedules',
        'infra/policy',
        'infra/log',
      ],
      'cli/ talks to the system through the admin API client (infra/apiClient) and common/ types; direct access belongs in cli/host/',
    ),
  },
  {
    // The dashboard runs in the browser: it reaches the system only through the admin API,
    // and shares only the wire types (and pure constants) of common/ with the server.
    files: ['web/**/*.ts'],
    rules: forbid(
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
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'express',
              importNames: ['json', 'urlencoded', 'text'],
              message: 'parse request bodies with jsonBody from api/untrusted.ts',
            },
            { name: 'body-parser', message: 'parse request bodies with jsonBody from api/untrusted.ts' },
          ],
        },
      ],
    },
  },
  {
    files: ['cli/host/**/*.ts'],
    rules: forbid(
      ['api', 'activities', 'workflows', 'worker'],
      'signing-host commands use trust/, infra/ and control/, never the API server or the worker',
    ),
  },
);
