/**
 * Change notification coalesced to one per animation frame: data may change hundreds of times a
 * second, React re-renders at most once per frame. `version` counts changes; `published` is what
 * subscribers (useSyncExternalStore) see, updated in the frame callback.
 */

export type FrameScheduler = (callback: () => void) => void;

export const animationFrame: FrameScheduler = (callback) => {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => callback());
  else setTimeout(callback, 16);
};

export class FrameNotifier {
  private version = 0;
  private published = 0;
  private scheduled = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly schedule: FrameScheduler = animationFrame) {}

  /** Record a change; listeners hear of it on the next frame. */
  bump(): void {
    this.version++;
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.published = this.version;
      for (const l of [...this.listeners]) l();
    });
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** The version subscribers were last told about. */
  readonly getVersion = (): number => this.published;

  /** Every change, published or not (tests, exports). */
  get rawVersion(): number {
    return this.version;
  }
}
