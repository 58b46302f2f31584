/**
 * A small client of Prometheus's HTTP API (`/api/v1/query`, `/api/v1/query_range`, as the
 * Prometheus documentation "HTTP API" describes them): instant vectors and range matrices, with
 * the API's error message when a query fails.
 */

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PromSeries {
  metric: Record<string, string>;
  /** [unix seconds, value], oldest first. */
  values: [number, number][];
}

interface ApiBody {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown };
}

const toNumber = (v: unknown): number => (typeof v === 'string' ? Number(v) : Number.NaN);

export class PrometheusApi {
  /** `base`: the server's URL (a federating or long-term store's query endpoint works alike). */
  constructor(
    readonly base: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private async call(path: string, params: Record<string, string>): Promise<ApiBody['data']> {
    const url = new URL(path, this.base.endsWith('/') ? this.base : `${this.base}/`);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    let body: ApiBody;
    try {
      body = (await res.json()) as ApiBody;
    } catch {
      throw new Error(`${url.origin}: HTTP ${res.status}, not a Prometheus API answer`);
    }
    if (body.status !== 'success') throw new Error(body.error ?? `HTTP ${res.status}`);
    return body.data;
  }

  async query(expr: string): Promise<PromSample[]> {
    const data = await this.call('api/v1/query', { query: expr });
    if (data?.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data?.resultType}`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      metric: r.metric,
      value: toNumber(r.value[1]),
    }));
  }

  async queryRange(expr: string, startS: number, endS: number, stepS: number): Promise<PromSeries[]> {
    const data = await this.call('api/v1/query_range', {
      query: expr,
      start: String(startS),
      end: String(endS),
      step: String(stepS),
    });
    if (data?.resultType !== 'matrix') throw new Error(`${expr}: expected a matrix, got ${data?.resultType}`);
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((r) => ({
      metric: r.metric,
      values: r.values.map(([t, v]) => [t, toNumber(v)] as [number, number]),
    }));
  }
}
