/** The uid a profile's `user` runs as, for files only that user may read (0 when it is a name). */
export function numericUid(user: string): number {
  const uid = Number(user.split(':')[0]);
  return Number.isSafeInteger(uid) && uid >= 0 ? uid : 0;
}
