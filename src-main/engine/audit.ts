/**
 * Audit lines for calls that change state (the contract's `writes` mark, shared/contract.ts) and
 * for the Path doctor's probes, which make this host send packets to others (auditedMethodNames):
 * the arguments as the method's schema read them, never the raw request (any depth, any size),
 * and every value bounded, so that writing the line can neither throw nor grow without limit.
 * The privileged agent writes one per writing call; so does a web host that writes the kernel
 * itself (run as root without an agent).
 */
import { auditedMethodNames, methods, writeMethodNames, type MethodName } from '../../shared/contract';
import type { Result } from '../../shared/result';

/** Longest JSON of arguments or a result kept in one audit line. */
export const AUDIT_VALUE_MAX_BYTES = 16 * 1024;

const WRITES = new Set<string>(writeMethodNames);

export function isWriteMethod(method: MethodName): boolean {
  return WRITES.has(method);
}

const AUDITED = new Set<string>(auditedMethodNames);

/** A call that leaves an audit line: a write, or a probe (docs/security.md "Audit log"). */
export function isAuditedMethod(method: MethodName): boolean {
  return AUDITED.has(method);
}

/** A value's JSON for a log line, at most `maxBytes`; never throws (cycles, depth, BigInt). */
export function boundedJson(value: unknown, maxBytes = AUDIT_VALUE_MAX_BYTES): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    return { unserialisable: e instanceof Error ? e.message : String(e) };
  }
  if (text === undefined) return null;
  if (text.length <= maxBytes) return value;
  return { truncated: true, bytes: Buffer.byteLength(text), head: text.slice(0, maxBytes) };
}

/**
 * The arguments as the method's schema reads them (what the engine acted on), or why they were
 * refused. Raw arguments are never logged: they are whatever the client sent, of any depth.
 */
export function auditArgs(method: MethodName, args: unknown): unknown {
  const parsed = methods[method].args.safeParse(args ?? {});
  if (parsed.success) return boundedJson(redactSecrets(method, parsed.data));
  const issue = parsed.error.issues[0];
  return { invalid: `${issue?.path.join('.') || 'arguments'}: ${issue?.message ?? 'invalid'}` };
}

/** Argument fields that are secrets, logged as "(redacted)": a remote web host's access token. */
const SECRET_ARGS: Partial<Record<MethodName, readonly string[]>> = { 'mptcp:fleet:hosts:add': ['token'] };

function redactSecrets(method: MethodName, data: unknown): unknown {
  const fields = SECRET_ARGS[method];
  if (!fields || typeof data !== 'object' || data === null) return data;
  const copy: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const f of fields) if (f in copy) copy[f] = '(redacted)';
  return copy;
}

/** A call's outcome for an audit line. */
export function auditResult(result: Result<unknown>): unknown {
  return result.ok ? { ok: true, value: boundedJson(result.value) } : result;
}
