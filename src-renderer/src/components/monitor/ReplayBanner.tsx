import type { ReplaySpeed } from '../../state/monitor/monitor-store';
import { useMonitor } from '../../state/stores';
import { countOf } from '../../format';

const SPEEDS: ReplaySpeed[] = [1, 4];

/** Shown while a recording drives the stores: the live feed is ignored until "Back to live". */
export function ReplayBanner() {
  const replay = useMonitor((s) => s.replay);
  const play = useMonitor((s) => s.play);
  const pauseReplay = useMonitor((s) => s.pauseReplay);
  const setSpeed = useMonitor((s) => s.setSpeed);
  const exitReplay = useMonitor((s) => s.exitReplay);
  if (!replay) return null;
  const done = replay.position >= replay.total;
  return (
    <div className="notice notice-info replay-banner" role="status" data-testid="replay-banner">
      <div className="notice-body">
        <strong className="notice-title">Replaying {replay.fileName}</strong>
        <div className="notice-text">
          {replay.position} / {countOf(replay.total, 'entry', 'entries')}
          {done ? ' · finished' : ''} · the live feed is ignored
        </div>
      </div>
      <div className="notice-action replay-controls">
        {replay.playing ? (
          <button type="button" className="button" data-testid="replay-pause" onClick={pauseReplay}>
            ❚❚ Pause
          </button>
        ) : (
          <button type="button" className="button" data-testid="replay-play" onClick={play}>
            ▶ {done ? 'Play again' : 'Play'}
          </button>
        )}
        <div className="segmented" role="group" aria-label="Replay speed">
          {SPEEDS.map((s) => (
            <button
              key={s}
              type="button"
              className={s === replay.speed ? 'seg seg-active' : 'seg'}
              aria-pressed={s === replay.speed}
              data-testid={`replay-speed-${s}`}
              onClick={() => setSpeed(s)}
            >
              {s}x
            </button>
          ))}
        </div>
        <button type="button" className="button" data-testid="replay-exit" onClick={exitReplay}>
          Back to live
        </button>
      </div>
    </div>
  );
}
