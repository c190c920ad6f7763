/** An image's ENTRYPOINT and CMD, as the engine runs them when a container sets neither. */
export interface ImageCommand {
  entrypoint: string[];
  cmd: string[];
  /** Its own standby gate (label `ephemera.standby.gate`, a JSON argv), if it has one. */
  gate?: string[];
}

interface Entry {
  at: number;
  value: Promise<ImageCommand>;
}

/**
 * Each image's ENTRYPOINT and CMD, asked of the engine once per image name: only the first
 * run of an image waits for the inspect. An answer older than `maxAgeMs` is still used
 * while a fresh inspect runs in the background, so an image rebuilt under the same name is
 * seen within about that long and no run waits for it. A failed inspect is not kept: the
 * next run asks again (and fails with the engine's reason, e.g. no such image).
 */
export class ImageCommandCache {
  private readonly entries = new Map<string, Entry>();
  private readonly refreshing = new Set<string>();

  constructor(
    private readonly inspect: (image: string) => Promise<ImageCommand>,
    private readonly maxAgeMs = 60_000,
  ) {}

  get(image: string): Promise<ImageCommand> {
    const hit = this.entries.get(image);
    if (!hit) return this.load(image);
    if (Date.now() - hit.at > this.maxAgeMs) this.refresh(image);
    return hit.value;
  }

  private load(image: string): Promise<ImageCommand> {
    const entry = { at: Date.now(), value: this.inspect(image) };
    this.entries.set(image, entry);
    entry.value.catch(() => {
      if (this.entries.get(image) === entry) this.entries.delete(image);
    });
    return entry.value;
  }

  private refresh(image: string): void {
    if (this.refreshing.has(image)) return;
    this.refreshing.add(image);
    this.inspect(image)
      .then(
        (command) => this.entries.set(image, { at: Date.now(), value: Promise.resolve(command) }),
        () => this.entries.delete(image), // gone or unreadable: the next run asks again and sees why
      )
      .finally(() => this.refreshing.delete(image));
  }
}
