// Types for bundle.mjs (plain JS so the images run it with node alone, before any TypeScript tooling).

export declare const REPO_ROOT: string;

export type TBundleTarget =
  'edge' | 'credential-vault' | 'connection' | 'sync-scheduler' | 'audit' | 'fake-provider' | 'cli';

/** Entry point and output folder (relative to the repo root) of everything that ships as an image. */
export declare const TARGETS: Record<TBundleTarget, { entry: string; outDir: string }>;

/** `dep` and `dep/*` for every package in package.json `dependencies`. */
export declare function externalDependencies(root?: string): string[];

/** Bundles `target` to `<outDir>/main.mjs` (+ `.map`); returns the absolute path of main.mjs. */
export declare function bundle(
  target: TBundleTarget,
  opts?: {
    root?: string;
    /** Must be inside the repo, or the external dependencies do not resolve at run time. */
    outDir?: string;
    logLevel?: 'verbose' | 'debug' | 'info' | 'warning' | 'error' | 'silent';
    metafile?: boolean;
  },
): Promise<string>;
