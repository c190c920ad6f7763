import { randomBytes } from 'node:crypto';

/** Time-ordered, unguessable ids: prefix, milliseconds in base 36, 80 random bits. */
export function newId(prefix: 'ses' | 'run'): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(10).toString('hex')}`;
}
