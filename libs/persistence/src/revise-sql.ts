/**
 * The next version of a hand-written SQL object (a function a migration replaces): the previous version's text
 * with each edit applied. Each `from` must occur exactly once, so a migration states only what it changes and
 * cannot silently stop matching the version it revises.
 */
export function reviseSql(previous: string, ...edits: [from: string, to: string][]): string {
  return edits.reduce((sql, [from, to]) => {
    const at = sql.indexOf(from);
    if (at < 0 || sql.indexOf(from, at + 1) >= 0) {
      throw new Error(
        `reviseSql: expected exactly one occurrence of ${JSON.stringify(from.slice(0, 80))}`,
      );
    }
    return sql.slice(0, at) + to + sql.slice(at + from.length);
  }, previous);
}
