import { useMemo, useState } from 'react';
import type { FailoverKind } from '../../../shared/failover';
import { Badge, type Tone } from '../components/Badge';
import {
  configLabel,
  describeEvent,
  eventTokenHex,
  formatTimeMs,
  KIND_OPTIONS,
} from '../components/monitor/event-format';
import { MonitorToolbar } from '../components/monitor/MonitorToolbar';
import { Notice } from '../components/Notice';
import { eventKind, type LogEvent, type LoggedEvent } from '../state/monitor/event-log';
import { useEventsVersion, useMonitor, useOverview, useStores, useUi } from '../state/stores';

const INITIAL_ROWS = 500;

const PM_TONES: Record<string, Tone> = { ok: 'ok', error: 'bad', skipped: 'warn', info: 'info' };

const FAILOVER_TONES: Record<FailoverKind, Tone> = {
  stalled: 'bad',
  'kernel-stale': 'bad',
  recovered: 'ok',
  'kernel-recover': 'ok',
  'traffic-moved': 'warn',
};

const CONFIG_TONES: Record<string, Tone> = {
  applied: 'ok',
  confirmed: 'ok',
  reverted: 'warn',
  'apply-failed': 'bad',
  'revert-failed': 'bad',
};

/**
 * The badge of a row: path-manager actions by their outcome, configuration changes by how they
 * ended, kernel events by their kind.
 */
function badgeOf(e: LogEvent): { tone: Tone; label: string } {
  if (e.source === 'pm') return { tone: PM_TONES[e.action.result] ?? 'info', label: `pm ${e.action.action}` };
  if (e.source === 'failover') return { tone: FAILOVER_TONES[e.failover.kind], label: e.failover.kind };
  if (e.source === 'config') {
    const tone =
      'recovery' in e
        ? e.recovery.restored === false || e.recovery.kind === 'not-recovered'
          ? 'bad'
          : 'warn'
        : (CONFIG_TONES[e.outcome.kind] ?? 'info');
    return { tone, label: configLabel(e) };
  }
  const kind = eventKind(e);
  return { tone: toneOf(kind), label: kind };
}

function toneOf(kind: string): Tone {
  if (kind === 'sub_closed' || kind === 'closed' || kind === 'removed') return 'bad';
  if (kind === 'sub_established' || kind === 'established' || kind === 'created') return 'ok';
  if (kind === 'unknown') return 'warn';
  if (kind === 'link' || kind === 'address') return 'neutral';
  return 'info';
}

/** Keep `e` under the filters: kind ('' = all) and token hex prefix ('' = all). */
export function filterEvents(list: LoggedEvent[], kind: string, token: string): LoggedEvent[] {
  const t = token.trim().toLowerCase().replace(/^0x/, '');
  if (!kind && !t) return list;
  return list.filter(({ event }) => {
    if (kind && eventKind(event) !== kind) return false;
    if (t) {
      const hex = eventTokenHex(event);
      if (hex === null || !hex.startsWith(t)) return false;
    }
    return true;
  });
}

export function EventsPage() {
  const { events } = useStores();
  const version = useEventsVersion();
  const paused = useMonitor((s) => s.paused);
  const droppedNotice = useMonitor((s) => s.eventsDroppedNotice);
  const interfaces = useOverview((s) => s.interfaces);
  // The filters live in the URL (#/events?kind=sub_closed&conn=ab12): a reload or Back keeps them.
  const kind = useUi((s) => s.params.kind ?? '');
  const token = useUi((s) => s.params.conn ?? '');
  const setParams = useUi((s) => s.setParams);
  const [showAll, setShowAll] = useState(false);
  const [frozen, setFrozen] = useState<LoggedEvent[] | null>(null);

  // Paused: the list stays as it was (new events are still logged).
  if (paused && frozen === null) setFrozen(events.list());
  if (!paused && frozen !== null) setFrozen(null);
  // eslint-disable-next-line react-hooks/exhaustive-deps -- version stands for the log's contents
  const all = useMemo(() => frozen ?? events.list(), [events, frozen, version]);
  const rows = useMemo(() => filterEvents(all, kind, token), [all, kind, token]);
  const shown = showAll ? rows : rows.slice(0, INITIAL_ROWS);
  const ifname = (index: number): string | null => interfaces?.find((i) => i.index === index)?.name ?? null;

  return (
    <main className="page" data-testid="events-page">
      <div className="page-title">
        <h1>Events</h1>
        <span className="muted">
          kernel MPTCP path-manager events, interface changes, configuration changes and the actions of MPTCP
          Studio&apos;s own path manager, newest first (last {events.capacity})
        </span>
      </div>
      <MonitorToolbar />
      {droppedNotice && (
        <Notice tone="warn" title="The timeline has a gap" testId="events-dropped">
          {droppedNotice}. The host skips events rather than queue them for a page that cannot keep up.
        </Notice>
      )}
      <section className="card">
        <header className="card-header">
          <h2>Timeline</h2>
          <span className="muted" data-testid="events-count">
            {rows.length} of {all.length}
          </span>
          <span className="spacer" />
          <select
            aria-label="Event type"
            data-testid="events-filter-kind"
            value={kind}
            onChange={(e) => setParams({ kind: e.target.value })}
          >
            <option value="">All types</option>
            {KIND_OPTIONS.map((k) => (
              <option key={k} value={k}>
                {k === 'pm'
                  ? 'pm (path manager actions)'
                  : k === 'config'
                    ? 'config (changes, reverts, recoveries)'
                    : k === 'failover'
                      ? 'failover (stalls, recoveries, traffic moving)'
                      : k}
              </option>
            ))}
          </select>
          <input
            className="filter-input"
            type="search"
            placeholder="Token (hex)"
            aria-label="Connection token"
            data-testid="events-filter-token"
            value={token}
            onChange={(e) => setParams({ conn: e.target.value })}
          />
        </header>
        {all.length === 0 ? (
          <p className="muted">
            No events yet. Interface changes and MPTCP path-manager events appear here as they happen.
          </p>
        ) : null}
        <ol className="events-list" data-testid="events-list">
          {shown.map(({ seq, event }) => {
            const k = eventKind(event);
            const hex = eventTokenHex(event);
            const badge = badgeOf(event);
            return (
              <li
                key={seq}
                className="event-row"
                data-testid="event-row"
                data-kind={k}
                data-token={hex ?? undefined}
                data-action={
                  event.source === 'pm'
                    ? event.action.action
                    : event.source === 'failover'
                      ? event.failover.kind
                      : undefined
                }
              >
                <span className="mono muted event-time">{formatTimeMs(event.timestampMs)}</span>
                <Badge tone={badge.tone}>{badge.label}</Badge>
                <span className="mono event-token">{hex ?? ''}</span>
                <span className={k === 'unknown' ? 'mono event-text' : 'event-text'}>
                  {describeEvent(event, ifname)}
                </span>
              </li>
            );
          })}
        </ol>
        {shown.length < rows.length ? (
          <button type="button" className="button" onClick={() => setShowAll(true)}>
            Show all {rows.length} events
          </button>
        ) : null}
      </section>
    </main>
  );
}
