/**
 * The PromQL inside the shipped Grafana dashboard (packaging/grafana/mptcp-fleet.json), with its
 * template variables replaced, so that a test can evaluate every expression against a real
 * Prometheus.
 */
import { readFileSync } from 'node:fs';

interface PanelJson {
  title?: string;
  targets?: { expr?: string; refId?: string }[];
  panels?: PanelJson[];
}

interface DashboardJson {
  panels?: PanelJson[];
  templating?: { list?: { name: string; definition?: string }[] };
}

export interface DashboardQuery {
  /** Panel title and refId, or `variable NAME`. */
  where: string;
  expr: string;
}

export function readDashboard(path: string): DashboardJson {
  return JSON.parse(readFileSync(path, 'utf8')) as DashboardJson;
}

/** Every panel target's expression (rows' nested panels included) and every variable's query. */
export function dashboardQueries(d: DashboardJson): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: PanelJson[] | undefined): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (t.expr) out.push({ where: `${p.title ?? '?'} ${t.refId ?? ''}`.trim(), expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    // label_values(SELECTOR, LABEL): Grafana asks Prometheus for SELECTOR's series.
    const m = /^label_values\((.*),\s*\w+\)$/.exec(v.definition ?? '');
    if (m?.[1]) out.push({ where: `variable ${v.name}`, expr: m[1] });
  }
  return out;
}

/** Replaces Grafana's variables the way Grafana would for one job and one host. */
export function substitute(
  expr: string,
  vars: { job: string; instance: string; rateInterval: string },
): string {
  return expr
    .replace(/\$__rate_interval/g, vars.rateInterval)
    .replace(/\$job\b/g, vars.job)
    .replace(/\$instance\b/g, vars.instance.replace(/[.]/g, '\\\\.'));
}
