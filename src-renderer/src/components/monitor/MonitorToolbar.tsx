import { useState } from 'react';
import { downloadText } from '../../download';
import { countOf } from '../../format';
import { useMonitor } from '../../state/stores';
import { Notice } from '../Notice';

const MAX_LISTED_ERRORS = 20;

/** Pause, record, save and open recordings: shared by the Connections and Events pages. */
export function MonitorToolbar() {
  const mode = useMonitor((s) => s.mode);
  const paused = useMonitor((s) => s.paused);
  const togglePause = useMonitor((s) => s.togglePause);
  const recording = useMonitor((s) => s.recording);
  const recordedLines = useMonitor((s) => s.recordedLines);
  const recordingFull = useMonitor((s) => s.recordingFull);
  const canSave = useMonitor((s) => s.canSave);
  const toggleRecording = useMonitor((s) => s.toggleRecording);
  const saveRecording = useMonitor((s) => s.saveRecording);
  const openRecording = useMonitor((s) => s.openRecording);
  const openErrors = useMonitor((s) => s.openErrors);
  const openedFile = useMonitor((s) => s.openedFile);
  const [readError, setReadError] = useState<string | null>(null);

  const onSave = (): void => {
    const file = saveRecording();
    if (file) downloadText(file.filename, file.text, 'application/x-ndjson');
  };

  const onOpen = (input: HTMLInputElement): void => {
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    setReadError(null);
    file.text().then(
      (text) => openRecording(file.name, text),
      (e: unknown) => setReadError(e instanceof Error ? e.message : String(e)),
    );
  };

  return (
    <div className="monitor-toolbar">
      <button
        type="button"
        className={paused ? 'button primary' : 'button'}
        data-testid="pause-toggle"
        aria-pressed={paused}
        onClick={togglePause}
        title={
          paused ? 'Follow the live data again' : 'Freeze the table and charts (data keeps being collected)'
        }
      >
        {paused ? '▶ Resume' : '❚❚ Pause'}
      </button>
      <button
        type="button"
        className={recording ? 'button button-record-on' : 'button'}
        data-testid="record-toggle"
        aria-pressed={recording}
        disabled={mode === 'replay'}
        onClick={toggleRecording}
        title="Record every snapshot and kernel event received"
      >
        {recording ? `● Recording (${countOf(recordedLines, 'line')})` : '● Record'}
      </button>
      <button
        type="button"
        className="button"
        data-testid="save-recording"
        disabled={!canSave}
        onClick={onSave}
      >
        Save recording
      </button>
      <label className="button file-button">
        Open recording
        <input
          type="file"
          accept=".ndjson,.jsonl,application/x-ndjson"
          data-testid="open-recording-input"
          onChange={(e) => onOpen(e.currentTarget)}
        />
      </label>
      {recordingFull ? (
        <span className="muted" data-testid="recording-full">
          The recording reached its size limit and stopped.
        </span>
      ) : null}
      {readError ? <span className="field-error-inline">{readError}</span> : null}
      {openErrors.length > 0 ? (
        <Notice
          tone="warn"
          title={`${openedFile ?? 'The file'}: ${countOf(openErrors.length, 'bad line')} skipped`}
          testId="recording-errors"
        >
          <ul className="line-errors">
            {openErrors.slice(0, MAX_LISTED_ERRORS).map((e) => (
              <li key={e.line} data-testid="recording-error" data-line={e.line}>
                line {e.line}: {e.message}
              </li>
            ))}
            {openErrors.length > MAX_LISTED_ERRORS ? (
              <li>… and {openErrors.length - MAX_LISTED_ERRORS} more</li>
            ) : null}
          </ul>
        </Notice>
      ) : null}
    </div>
  );
}
