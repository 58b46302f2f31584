/**
 * The host's live model of the namespace's kernel state (`mptcp:overview:get`: status and
 * sysctls, path manager, limits, endpoints, interfaces and addresses), pushed as
 * `mptcp:overview:changed` whenever it differs from what was pushed last.
 *
 * The kernel tells interface and address changes (rtnetlink RTNLGRP_LINK / *_IFADDR, which reach
 * the engine as kernel events): those re-read at once. It sends nothing when an endpoint, a limit
 * or a sysctl changes (`ip mptcp endpoint add` and `sysctl -w` from a shell are silent; see
 * docs/kernel-interfaces.md), so the state is also re-read every intervalMs while anyone listens.
 */
import type { Overview } from '../../shared/types';

export interface OverviewWatchOptions {
  read: () => Promise<Overview>;
  emit: (overview: Overview) => void;
  error: (err: unknown) => void;
  /** Re-read at least this often while watched (the kernel's silent changes). */
  intervalMs: number;
  /** How long a burst of kernel events is gathered into one re-read. */
  settleMs?: number;
}

/** What a pushed overview is compared by: everything but nothing that changes by itself. */
function fingerprint(o: Overview): string {
  return JSON.stringify(o);
}

export class OverviewWatch {
  private timer: NodeJS.Timeout | null = null;
  private nudgeTimer: NodeJS.Timeout | null = null;
  private reading = false;
  /** A re-read was asked for while one ran: run one more right after it. */
  private again = false;
  private last: string | null = null;
  private running = false;

  constructor(private readonly opts: OverviewWatchOptions) {}

  get watching(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.last = null; // a new watcher gets the current state at once
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    void this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    if (this.nudgeTimer) clearTimeout(this.nudgeTimer);
    this.timer = null;
    this.nudgeTimer = null;
    this.last = null;
  }

  /** Something changed in the kernel (an rtnetlink event): re-read soon, once per burst. */
  nudge(): void {
    if (!this.running || this.nudgeTimer) return;
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = null;
      void this.tick();
    }, this.opts.settleMs ?? 30);
  }

  /** A re-read now (e.g. a subscriber joined and must get the state even if nothing changed). */
  resend(): void {
    this.last = null;
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      const o = await this.opts.read();
      if (!this.running) return;
      const f = fingerprint(o);
      if (f !== this.last) {
        this.last = f;
        this.opts.emit(o);
      }
    } catch (err) {
      if (this.running) this.opts.error(err);
    } finally {
      this.reading = false;
      if (this.again) {
        this.again = false;
        void this.tick();
      }
    }
  }
}
