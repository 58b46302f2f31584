import type { ReactNode } from 'react';

export type Tone = 'ok' | 'off' | 'warn' | 'bad' | 'info' | 'neutral';

interface BadgeProps {
  tone: Tone;
  children: ReactNode;
  title?: string;
  testId?: string;
}

/** A rounded status label: "MPTCP enabled", "up", "fallback". */
export function Badge({ tone, children, title, testId }: BadgeProps) {
  return (
    <span className={`badge badge-${tone}`} title={title} data-testid={testId}>
      {children}
    </span>
  );
}

/** A small flag label: endpoint flags, available schedulers. */
export function Chip({
  children,
  active = false,
  title,
}: {
  children: ReactNode;
  active?: boolean;
  title?: string;
}) {
  return (
    <span className={active ? 'chip chip-active' : 'chip'} title={title}>
      {children}
    </span>
  );
}
