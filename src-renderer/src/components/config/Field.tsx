import type { ReactNode } from 'react';
import type { NetInterface, KernelStatus } from '../../../../shared/types';
import type { MptcpConfig } from '../../../../shared/config';
import type { ConfigDraft, FieldErrors } from '../../state/config-draft';

/** What every form card receives. */
export interface CardProps {
  draft: ConfigDraft;
  base: MptcpConfig;
  status: KernelStatus;
  interfaces: NetInterface[];
  errors: FieldErrors;
  /** The changed fields only (what the review would send). */
  desired: MptcpConfig;
  edit: (fn: (d: ConfigDraft) => ConfigDraft) => void;
  disabled: boolean;
}

interface FieldProps {
  label: ReactNode;
  /** The kernel knob behind it, shown small (`net.mptcp.scheduler`). */
  knob?: string;
  htmlFor?: string;
  /** One or two sentences: what it does, what the choice means. */
  explain: ReactNode;
  errors?: readonly string[];
  changed?: boolean;
  children: ReactNode;
}

/** A labelled control with its explanation, its errors and a "changed" mark. */
export function Field({ label, knob, htmlFor, explain, errors = [], changed = false, children }: FieldProps) {
  return (
    <div className={errors.length > 0 ? 'field field-invalid' : 'field'}>
      <div className="field-label">
        <label htmlFor={htmlFor}>{label}</label>
        {knob ? <span className="knob mono">{knob}</span> : null}
        {changed ? <span className="changed-mark">changed</span> : null}
      </div>
      <div className="field-control">{children}</div>
      <FieldErrorList errors={errors} />
      <p className="hint">{explain}</p>
    </div>
  );
}

export function FieldErrorList({ errors, testId }: { errors: readonly string[]; testId?: string }) {
  if (errors.length === 0) return null;
  return (
    <ul className="field-errors" role="alert" data-testid={testId}>
      {errors.map((e) => (
        <li key={e}>{e}</li>
      ))}
    </ul>
  );
}

/** A `<select>` of kernel names; a current value the kernel does not list is kept, marked. */
export function NameSelect({
  id,
  testId,
  value,
  options,
  disabledOptions = {},
  onChange,
  disabled,
}: {
  id: string;
  testId?: string;
  value: string;
  options: readonly string[];
  /** name → why it cannot be chosen. */
  disabledOptions?: Record<string, string>;
  onChange: (value: string) => void;
  disabled: boolean;
}) {
  const all = [...options, ...Object.keys(disabledOptions).filter((o) => !options.includes(o))];
  const unknown = value !== '' && !all.includes(value);
  return (
    <select
      id={id}
      data-testid={testId}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      disabled={disabled}
    >
      {value === '' ? <option value="">(unknown)</option> : null}
      {unknown ? <option value={value}>{value} (current; not listed as available)</option> : null}
      {all.map((o) => {
        const reason = disabledOptions[o];
        return (
          <option key={o} value={o} disabled={reason !== undefined && o !== value} title={reason}>
            {reason !== undefined ? `${o} (${reason})` : o}
          </option>
        );
      })}
    </select>
  );
}

/** The raw text /proc/sys holds for `name`, for values the form could not read as a number. */
export function rawSysctl(status: KernelStatus, name: string): string | null {
  return status.mptcpSysctls.find((s) => s.name === name)?.value ?? null;
}
