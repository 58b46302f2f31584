import type { ReactNode } from 'react';

interface NoticeProps {
  tone: 'warn' | 'bad' | 'info';
  title: ReactNode;
  children?: ReactNode;
  testId?: string;
  action?: ReactNode;
}

/** A banner for something the user must not miss (missing privileges, a failed read). */
export function Notice({ tone, title, children, testId, action }: NoticeProps) {
  return (
    <div className={`notice notice-${tone}`} role={tone === 'info' ? 'status' : 'alert'} data-testid={testId}>
      <div className="notice-body">
        <strong className="notice-title">{title}</strong>
        {children ? <div className="notice-text">{children}</div> : null}
      </div>
      {action ? <div className="notice-action">{action}</div> : null}
    </div>
  );
}

/** `code: message`, the way the engine reported it. */
export function ErrorLine({ source, code, message }: { source?: string; code: string; message: string }) {
  return (
    <span className="error-line">
      {source ? <span className="error-source">{source}: </span> : null}
      <code>{code}</code> {message}
    </span>
  );
}

/** Kernel reads that failed while others succeeded: listed, so partial data is never silent. */
export function ReadErrorsNotice({
  errors,
  title,
  testId,
}: {
  errors: readonly { source: string; code: string; message: string }[];
  title: string;
  testId: string;
}) {
  if (errors.length === 0) return null;
  return (
    <Notice tone="warn" title={title} testId={testId}>
      <ul className="plain">
        {errors.map((e) => (
          <li key={`${e.source}-${e.code}`}>
            <ErrorLine source={e.source} code={e.code} message={e.message} />
          </li>
        ))}
      </ul>
    </Notice>
  );
}
