import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', 'resources/', '.tmp/', 'src-main/engine/kernels/simd/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs['flat/recommended'],
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  // Layering: the engine is pure computation; shared contracts import nothing from main or renderer.
  {
    files: ['src-main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/store/**',
            '**/app/**',
            '**/server/**',
            '**/api/**',
            '**/jobs/**',
            '**/cli/**',
            'electron',
            'better-sqlite3',
          ],
        },
      ],
    },
  },
  // The webgpu backend has no synchronous tensor reads (dataSync/arraySync/readSync throw in Node): engine code
  // reads with `await t.data()`. The exceptions never run on webgpu.
  {
    files: ['src-main/engine/**/*.ts'],
    ignores: [
      'src-main/engine/kernels/host.ts', // the staged SIMD host of the cpu / tensorflow backends
      'src-main/engine/scalar/plain.ts', // the plain algorithms: test oracles on the CPU backends
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'CallExpression[callee.property.name=/^(dataSync|arraySync|bufferSync)$/]',
          message:
            'synchronous tensor reads throw on the webgpu backend: use `await t.data()` (backend.ts readScalar/readAndDispose)',
        },
        {
          selector: "CallExpression[callee.property.name='readSync'][callee.object.name!='fs']",
          message: 'synchronous tensor reads throw on the webgpu backend: use `await t.data()`',
        },
      ],
    },
  },
  {
    files: ['src-shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/src-main/**', '**/src-renderer/**', '@tensorflow/*', 'electron'] },
      ],
    },
  },
);
