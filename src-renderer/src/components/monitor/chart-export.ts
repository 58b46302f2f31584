/**
 * Chart exports. CSV: one row per sample per subflow, units in the header. PNG: the charts' SVGs (axes) and line canvases
 * serialised, loaded as `data:` images (the CSP allows `img-src 'self' data:`, not `blob:`), drawn
 * on a canvas with titles and legends, and saved through a `blob:` download link (a navigation,
 * which the CSP does not restrict).
 */
import type { Sample } from '../../state/monitor/ring-buffer';
import type { SeriesMeta } from '../../state/monitor/samples-store';
import { tokenHex } from '../../format';

export const CSV_HEADER =
  'token_hex,local,remote,backup,time_ms,time_iso,rtt_ms,cwnd_pkts,send_mbit_per_s,recv_mbit_per_s,retrans_pkts_total';

function csvField(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function num(v: number, digits: number): string {
  return Number.isFinite(v) ? String(Number(v.toFixed(digits))) : '';
}

export function samplesCsv(rows: { meta: SeriesMeta; samples: Sample[] }[]): string {
  const lines = [CSV_HEADER];
  for (const { meta, samples } of rows) {
    const local = csvField(`${meta.localAddress}:${meta.localPort}`);
    const remote = csvField(`${meta.remoteAddress}:${meta.remotePort}`);
    for (const s of samples) {
      lines.push(
        [
          tokenHex(meta.token),
          local,
          remote,
          meta.backup ? '1' : '0',
          String(Math.round(s.tMs)),
          new Date(s.tMs).toISOString(),
          num(s.rttUs / 1000, 3),
          num(s.cwndPkts, 0),
          num((s.sendBytesPerSec * 8) / 1e6, 4),
          num((s.recvBytesPerSec * 8) / 1e6, 4),
          num(s.retransPkts, 0),
        ].join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface LegendItem {
  label: string;
  color: string;
  dashed: boolean;
}

export interface ChartImage {
  title: string;
  /** Axes, grid and markers. */
  svg: SVGSVGElement;
  /** The lines, drawn over the SVG at the same size (MetricChart draws them on a canvas). */
  lines?: HTMLCanvasElement | null;
  legend: LegendItem[];
}

/** An SVG element as a standalone `data:image/svg+xml` URL of the given size. */
export function svgDataUrl(svg: SVGSVGElement, width: number, height: number): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  // Standalone, the SVG has no page CSS: carry the font its text inherits in the page.
  const font = getComputedStyle(svg).fontFamily;
  if (font) clone.setAttribute('font-family', font);
  const text = new XMLSerializer().serializeToString(clone);
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
}

function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('the chart image did not load'));
    img.src = src;
  });
}

const TITLE_PX = 24;
const LEGEND_PX = 20;
const PAD_PX = 12;

/** Draw the charts one under the other, each with its title and legend, into a PNG blob. */
export async function chartsPng(charts: ChartImage[], heading: string, scale = 2): Promise<Blob> {
  const sized = charts.map((c) => {
    const r = c.svg.getBoundingClientRect();
    return { ...c, width: Math.max(1, Math.round(r.width)), height: Math.max(1, Math.round(r.height)) };
  });
  const width = Math.max(...sized.map((c) => c.width)) + 2 * PAD_PX;
  const height =
    TITLE_PX +
    sized.reduce((h, c) => h + TITLE_PX + c.height + LEGEND_PX * Math.ceil(c.legend.length / 2) + PAD_PX, 0) +
    PAD_PX;
  const canvas = document.createElement('canvas');
  canvas.width = width * scale;
  canvas.height = height * scale;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas');
  ctx.scale(scale, scale);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#1c2230';
  ctx.font = '600 14px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.fillText(heading, PAD_PX, TITLE_PX / 2 + 4);
  let y = TITLE_PX;
  for (const c of sized) {
    ctx.fillStyle = '#1c2230';
    ctx.font = '600 13px system-ui, sans-serif';
    ctx.fillText(c.title, PAD_PX, y + TITLE_PX / 2);
    y += TITLE_PX;
    const img = await loadImage(svgDataUrl(c.svg, c.width, c.height));
    ctx.drawImage(img, PAD_PX, y, c.width, c.height);
    if (c.lines && c.lines.width > 0 && c.lines.height > 0)
      ctx.drawImage(c.lines, PAD_PX, y, c.width, c.height);
    y += c.height;
    ctx.font = '12px system-ui, sans-serif';
    c.legend.forEach((item, i) => {
      const x = PAD_PX + (i % 2) * (width / 2);
      const ly = y + LEGEND_PX * Math.floor(i / 2) + LEGEND_PX / 2;
      ctx.strokeStyle = item.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(item.dashed ? [6, 4] : []);
      ctx.beginPath();
      ctx.moveTo(x, ly);
      ctx.lineTo(x + 24, ly);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = '#1c2230';
      ctx.fillText(item.label, x + 30, ly);
    });
    y += LEGEND_PX * Math.ceil(c.legend.length / 2) + PAD_PX;
  }
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error('canvas.toBlob gave nothing'))),
      'image/png',
    );
  });
}
