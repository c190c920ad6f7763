/**
 * Postgres text cannot hold U+0000, which SQLite stores and any agent can print (`printf '\0'`):
 * written as U+FFFD, the replacement character, rather than refused, since a refused write of a
 * run's end would leave its session busy. A transcript on Postgres differs from SQLite's there.
 */
export const pgText = (s: string): string => (s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s);
