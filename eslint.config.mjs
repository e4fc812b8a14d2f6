import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'path', 'crypto', 'http', 'https', 'net', 'os', 'child_process', 'stream', 'util', 'zlib', 'worker_threads'];

export default tseslint.config(
  { ignores: ['dist/**', 'client-sdk/dist/**', 'node_modules/**', 'var/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
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
          paths: [...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`), 'minio', 'pg', 'express', 'pkcs11js', '@temporalio/activity', '@temporalio/client', '@temporalio/worker']
            .map((name) => ({ name, message: 'workflows/ and common/ must stay deterministic and workflow-safe' })),
          patterns: [
            { group: ['**/activities', '**/activities/*', '**/infra/*', '**/api/*'], allowTypeImports: true, message: 'import activities and adapters as types only' },
            { regex: '^@enigm-ota/client-sdk$', allowTypeImports: true, message: 'only the workflow-safe subpaths of the SDK (e.g. /semver)' },
          ],
        },
      ],
    },
  },
);
