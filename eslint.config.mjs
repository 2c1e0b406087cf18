import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default [
  { ignores: ['**/node_modules', '**/dist', '**/tmp', '.nx', 'coverage', 'apps/dashboard/dist'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mjs'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          // The edge's AppRouter *type* is its public API (dashboard, smoke tests): the one app import allowed.
          allow: ['@otesse/edge-api'],
          depConstraints: [
            // Contracts are data: they depend on nothing of ours.
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            // A service sees shared libs and its own code only: never another service's.
            { sourceTag: 'scope:edge', onlyDependOnLibsWithTags: ['scope:shared', 'scope:edge'] },
            {
              sourceTag: 'scope:credential-vault',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:credential-vault'],
            },
            {
              sourceTag: 'scope:connection',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:connection'],
            },
            {
              sourceTag: 'scope:sync-scheduler',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:sync-scheduler'],
            },
            { sourceTag: 'scope:audit', onlyDependOnLibsWithTags: ['scope:shared', 'scope:audit'] },
            // The dashboard talks to the edge only through the AppRouter type.
            {
              sourceTag: 'scope:dashboard',
              onlyDependOnLibsWithTags: ['scope:dashboard', 'type:contracts', 'scope:edge'],
            },
            {
              sourceTag: 'scope:tools',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:tools', 'scope:edge'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.test.ts', '**/*.int.test.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  prettier,
];
