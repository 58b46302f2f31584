/**
 * Results cross every boundary (IPC, WebSocket, agent stdio) as values, never as thrown errors,
 * so the renderer can show the kernel's refusal as it was.
 */
import { z } from 'zod';

/** Stable error codes. Kernel errnos keep their names (EPERM, EINVAL, ...). */
export const ErrorCodeSchema = z.enum([
  'EPERM',
  'EACCES',
  'EINVAL',
  'ENOENT',
  'EEXIST',
  'EBUSY',
  'ERANGE',
  'EOPNOTSUPP',
  'ENODEV',
  'EADDRNOTAVAIL',
  'UNSUPPORTED',
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'TIMEOUT',
  'KERNEL',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export const ApiErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  /** Raw errno name from the kernel when the code had to be generalised (e.g. KERNEL). */
  errno: z.string().optional(),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

export type Result<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail(code: ErrorCode, message: string, errno?: string): Result<never> {
  return { ok: false, error: errno === undefined ? { code, message } : { code, message, errno } };
}

export function resultSchema<T extends z.ZodType>(value: T) {
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value }),
    z.object({ ok: z.literal(false), error: ApiErrorSchema }),
  ]);
}

/** An error an engine function throws on purpose; hosts turn it into `{ok:false}`. */
export class ApiFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

const errnoCodes = new Set<string>(ErrorCodeSchema.options);

/** Map anything thrown by engine code to an ApiError without losing the kernel's errno. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiFailure) {
    return err.errno === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, errno: err.errno };
  }
  if (err instanceof Error) {
    const errno = (err as { code?: unknown }).code;
    if (typeof errno === 'string') {
      const code = errnoCodes.has(errno) ? (errno as ErrorCode) : 'KERNEL';
      return { code, message: err.message, errno };
    }
    return { code: 'INTERNAL', message: err.message };
  }
  return { code: 'INTERNAL', message: String(err) };
}
