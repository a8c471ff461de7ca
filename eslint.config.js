// ESLint (flat config) with typescript-eslint. Why ESLint and not Biome: the rule we need most,
// no-floating-promises, must know types (a call that returns a Promise), which only
// typescript-eslint's type-aware rules give; and no-restricted-imports can encode the
// architecture's dependency rules per folder (CONVENTIONS.md, "Architecture shows in the tree").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Import patterns (relative to the file) that reach a folder of src/. */
const folder = (name) => [`../${name}`, `../${name}/*`, `../../${name}`, `../../${name}/*`];

/** A no-restricted-imports rule that forbids the given folders, with the reason. */
const forbid = (folders, message, extra = []) => ['error', {
  patterns: [
    ...folders.map((f) => ({ group: folder(f), message: `${message} (CONVENTIONS.md: the folder tree is the dependency graph)` })),
    ...extra,
  ],
}];

const nodeBuiltins = { group: ['node:*'], message: 'Pure code: no node: imports here (it runs in the browser too).' };
const wsPackage = { group: ['ws'], message: 'Pure code: no ws here; take a WebSocket-like object instead.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'fixtures/**'] },
  {
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-restricted-imports': forbid(['cli'], 'Nothing imports src/cli'),
    },
  },
  {
    files: ['src/protocol/**'],
    rules: { 'no-restricted-imports': forbid(['cli', 'signal', 'peer', 'web', 'bots', 'probe', 'stun', 'lab', 'quality'], 'src/protocol imports nothing of ours', [nodeBuiltins, wsPackage]) },
  },
  {
    files: ['src/web/**'],
    rules: { 'no-restricted-imports': forbid(['cli', 'signal', 'peer', 'bots', 'probe', 'stun', 'lab', 'quality'], 'src/web imports only src/protocol', [nodeBuiltins, wsPackage]) },
  },
  {
    files: ['src/signal/**'],
    rules: { 'no-restricted-imports': forbid(['cli', 'peer', 'web'], 'The server and the headless peer never import each other') },
  },
  {
    files: ['src/peer/**'],
    rules: { 'no-restricted-imports': forbid(['cli', 'signal', 'web'], 'The server and the headless peer never import each other') },
  },
  {
    // Tests, benchmarks and scripts: a lighter set, the promise rules. The one that matters most
    // is no-floating-promises: an un-awaited promise in a test lets the test pass before (or
    // without) its assertion, and its rejection lands in another test or nowhere.
    files: ['test/**/*.ts', 'test/**/*.tsx', 'bench/**/*.ts', 'scripts/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // An await of something that is no promise usually means a missing call or a wrong helper.
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // The plain JavaScript: the bin shim, the build scripts and this file. ESLint's recommended
    // rules; Node's globals are listed here rather than pulled from another package.
    files: ['bin/**/*.js', 'scripts/**/*.js', 'eslint.config.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' },
    },
  },
  {
    // CONVENTIONS.md, "Tests use the real thing": no .only (it silently drops the rest of the
    // suite) and no .skip / .todo / skipIf / runIf (a test that needs something installs it or
    // fails saying what is missing; it never passes by not running).
    files: ['test/**/*.ts', 'test/**/*.tsx'],
    rules: {
      'no-restricted-properties': ['error',
        ...['it', 'test', 'describe'].flatMap((object) => ['only', 'skip', 'todo', 'skipIf', 'runIf'].map((property) => ({
          object, property, message: 'No .only/.skip in committed tests (CONVENTIONS.md: tests that cannot pass by accident).',
        }))),
      ],
    },
  },
  {
    files: ['src/cli/**'],
    rules: { 'no-console': 'off', 'no-restricted-imports': 'off' },
  },
);
