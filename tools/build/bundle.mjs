#!/usr/bin/env node
// Bundles one app (or the fake provider, or the admin CLI) into a single ESM file for the runtime images:
//   node tools/build/bundle.mjs <app>|all [--metafile] [--outdir <dir>]
// Workspace code (`@otesse/*` aliases from tsconfig.base.json) is inlined; every package in package.json
// `dependencies` stays external, because the images install them with `npm ci --omit=dev`.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Entry point and output folder of everything that ships as an image. */
export const TARGETS = {
  edge: { entry: 'apps/edge/src/main.ts', outDir: 'dist/apps/edge' },
  'credential-vault': {
    entry: 'apps/credential-vault/src/main.ts',
    outDir: 'dist/apps/credential-vault',
  },
  connection: { entry: 'apps/connection/src/main.ts', outDir: 'dist/apps/connection' },
  'sync-scheduler': {
    entry: 'apps/sync-scheduler/src/main.ts',
    outDir: 'dist/apps/sync-scheduler',
  },
  audit: { entry: 'apps/audit/src/main.ts', outDir: 'dist/apps/audit' },
  'fake-provider': {
    entry: 'tools/fake-provider/src/main.ts',
    outDir: 'dist/tools/fake-provider',
  },
  // The admin CLI (tools/build/cli.Dockerfile; docker-compose's one-shot `cli`, profile `admin`).
  cli: { entry: 'tools/cli/src/main.ts', outDir: 'dist/tools/cli' },
};

// Some dependencies are CommonJS and call `require`; an ESM bundle has none unless we define it.
const BANNER = [
  "import { createRequire as __otesseCreateRequire } from 'node:module';",
  'const require = __otesseCreateRequire(import.meta.url);',
].join('\n');

/** `dep` and its subpaths (`@trpc/server/adapters/standalone`) for every runtime dependency. */
export function externalDependencies(root = REPO_ROOT) {
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
  return Object.keys(pkg.dependencies ?? {}).flatMap((name) => [name, `${name}/*`]);
}

/**
 * Bundles `target` to `<outDir>/main.mjs` (+ `.map`). Returns the output path. Throws when esbuild reports an
 * error or when the bundle would import a package that is not a runtime dependency (it would be missing from
 * the image).
 */
export async function bundle(
  target,
  { root = REPO_ROOT, outDir: outDirOverride, logLevel = 'warning', metafile = false } = {},
) {
  const spec = TARGETS[target];
  if (!spec) {
    throw new Error(`unknown target "${target}"; one of: ${Object.keys(TARGETS).join(', ')}`);
  }
  // Externals resolve from the output's location at run time: an override must stay inside the repo.
  const outDir = resolve(root, outDirOverride ?? spec.outDir);
  if (relative(root, outDir).startsWith('..')) {
    throw new Error(
      `${target}: output ${outDir} is outside ${root}; its dependencies would not resolve`,
    );
  }
  const outfile = resolve(outDir, 'main.mjs');
  rmSync(outDir, { recursive: true, force: true });
  const external = externalDependencies(root);
  const result = await build({
    absWorkingDir: root,
    entryPoints: [resolve(root, spec.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // esbuild resolves the `paths` aliases of this tsconfig (its `extends` included).
    tsconfig: resolve(root, 'tsconfig.json'),
    external,
    sourcemap: true,
    sourcesContent: true,
    banner: { js: BANNER },
    legalComments: 'none',
    logLevel,
    metafile: true,
  });
  const imported = new Set();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imp of output.imports) if (imp.external) imported.add(imp.path);
  }
  const deps = new Set(external.filter((e) => !e.endsWith('/*')));
  const missing = [...imported].filter((p) => {
    if (p.startsWith('node:')) return false;
    const name = p.startsWith('@') ? p.split('/').slice(0, 2).join('/') : p.split('/')[0];
    return !deps.has(name) && !isBuiltin(name);
  });
  if (missing.length) {
    throw new Error(
      `${target}: bundle imports packages outside "dependencies": ${missing.join(', ')}`,
    );
  }
  if (metafile) writeFileSync(resolve(outDir, 'meta.json'), JSON.stringify(result.metafile));
  return outfile;
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]]));
function isBuiltin(name) {
  return BUILTINS.has(name);
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const outDirAt = args.indexOf('--outdir');
  const outDir = outDirAt >= 0 ? args[outDirAt + 1] : undefined;
  const targets = args.filter(
    (a, i) => !a.startsWith('--') && !(outDirAt >= 0 && i === outDirAt + 1),
  );
  const all = targets.length === 1 && targets[0] === 'all';
  if (targets.length === 0 || (outDirAt >= 0 && (!outDir || all || targets.length > 1))) {
    console.error(
      `usage: node tools/build/bundle.mjs <${Object.keys(TARGETS).join('|')}|all> [--metafile]\n` +
        '       node tools/build/bundle.mjs <target> --outdir <dir inside the repo>',
    );
    process.exit(2);
  }
  try {
    for (const target of all ? Object.keys(TARGETS) : targets) {
      const started = Date.now();
      const out = await bundle(target, {
        metafile: args.includes('--metafile'),
        ...(outDir ? { outDir: resolve(process.cwd(), outDir) } : {}),
      });
      console.log(`${target}: ${relative(process.cwd(), out)} (${Date.now() - started} ms)`);
    }
  } catch (e) {
    // esbuild has already printed its diagnostics.
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
