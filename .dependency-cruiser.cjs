/**
 * Import cycles, type-only imports included (`tsPreCompilationDeps`): a cycle of types is
 * still two modules that cannot be understood one without the other. The layer rules (what
 * each folder may import) are in eslint.config.mjs; this file checks only what ESLint cannot
 * see file by file.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Break the cycle: move the shared piece down a layer, or pass it in.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|client-sdk/dist|node_modules|var)/' },
  },
};
