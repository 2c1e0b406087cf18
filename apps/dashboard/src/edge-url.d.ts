/** Set by Vite's `define` from EDGE_URL when the dev server (or the build) starts. */
declare const __EDGE_URL__: string;
