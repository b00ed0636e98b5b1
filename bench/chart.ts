/**
 * A small SVG writer for benchmark charts: panels of grouped bars, one above
 * the other, each with a title, a legend, labelled axes, grid lines and the
 * value over every bar; the y axis linear or logarithmic. No dependencies:
 * the SVG is written as text (bench/compare.ts draws its results with it).
 *
 *   chartSvg({ title, notes, panels: [{ title, xLabel, yLabel, log, groups, series, format }] })
 */

export interface Series {
  name: string;
  /** One value per group; undefined draws no bar. */
  values: (number | undefined)[];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Logarithmic y axis (values must be > 0). */
  log?: boolean;
  /** The categories along the x axis; each holds one bar per series. */
  groups: string[];
  series: Series[];
  /** The text over a bar (and on the y axis, unless tickFormat is given). */
  format(value: number): string;
  tickFormat?(value: number): string;
}

export interface Chart {
  title: string;
  /** Lines of small print under the title. */
  notes: string[];
  panels: Panel[];
}

const WIDTH = 960;
const PANEL_HEIGHT = 400;
const MARGIN = { left: 88, right: 24, top: 64, bottom: 64 };
const COLORS = ['#3b6fb6', '#e07b28', '#4f9d55', '#c84a4a', '#8a63b8', '#8c6d3f', '#d36fb0'];
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: number): string => (Math.round(x * 10) / 10).toString();

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${num(x)}" y="${num(y)}" ${attrs}>${esc(s)}</text>`;
}

/** A y axis: value → pixel offset above the plot's bottom, and the tick values. */
interface Scale {
  at(value: number): number;
  ticks: number[];
}

function linearScale(max: number, height: number): Scale {
  const rough = (max > 0 ? max : 1) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const top = Math.ceil((max * 1.08) / step) * step || step;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { at: (v) => (v / top) * height, ticks };
}

function logScale(min: number, max: number, height: number): Scale {
  if (!(min > 0 && max > 0)) [min, max] = [1, 10]; // nothing to draw
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max * 1.3)));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  return { at: (v) => ((Math.log10(v) - lo) / (hi - lo)) * height, ticks };
}

function panelSvg(p: Panel, top: number): string {
  const out: string[] = [];
  const x0 = MARGIN.left;
  const x1 = WIDTH - MARGIN.right;
  const y0 = top + PANEL_HEIGHT - MARGIN.bottom; // the plot's bottom
  const height = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const values = p.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && v > 0);
  const scale = p.log ? logScale(Math.min(...values), Math.max(...values), height) : linearScale(Math.max(...values, 0), height);
  const tick = p.tickFormat ?? p.format;

  out.push(text(x0, top + 22, p.title, 'font-size="16" font-weight="bold"'));
  let lx = x0;
  for (const [i, s] of p.series.entries()) {
    out.push(`<rect x="${num(lx)}" y="${top + 34}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(text(lx + 17, top + 45, s.name, 'font-size="12"'));
    lx += 17 + s.name.length * 7 + 22;
  }

  for (const t of scale.ticks) {
    const y = y0 - scale.at(t);
    out.push(`<line x1="${x0}" y1="${num(y)}" x2="${x1}" y2="${num(y)}" stroke="#dddddd"/>`);
    out.push(text(x0 - 6, y + 4, tick(t), 'font-size="11" text-anchor="end"'));
  }
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333333"/>`);
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 - height}" stroke="#333333"/>`);
  const mid = y0 - height / 2;
  out.push(text(22, mid, p.yLabel, `font-size="12" text-anchor="middle" transform="rotate(-90 22 ${num(mid)})"`));
  out.push(text((x0 + x1) / 2, y0 + 46, p.xLabel, 'font-size="12" text-anchor="middle"'));

  const groupWidth = (x1 - x0) / p.groups.length;
  const barWidth = (groupWidth * 0.8) / p.series.length;
  for (const [g, name] of p.groups.entries()) {
    const gx = x0 + g * groupWidth + groupWidth * 0.1;
    out.push(text(x0 + (g + 0.5) * groupWidth, y0 + 20, name, 'font-size="12" text-anchor="middle"'));
    for (const [i, s] of p.series.entries()) {
      const v = s.values[g];
      if (v === undefined || (p.log && v <= 0)) continue;
      const h = Math.max(1, scale.at(v));
      const bx = gx + i * barWidth;
      out.push(`<rect x="${num(bx + 1)}" y="${num(y0 - h)}" width="${num(barWidth - 2)}" height="${num(h)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(`${s.name}, ${name}: ${p.format(v)}`)}</title></rect>`);
      out.push(text(bx + barWidth / 2, y0 - h - 4, p.format(v), 'font-size="10" text-anchor="middle"'));
    }
  }
  return out.join('\n');
}

/** The whole chart as an SVG document. */
export function chartSvg(c: Chart): string {
  const head = 40 + c.notes.length * 16;
  const height = head + c.panels.length * PANEL_HEIGHT;
  const body = [
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(MARGIN.left, 28, c.title, 'font-size="20" font-weight="bold"'),
    ...c.notes.map((n, i) => text(MARGIN.left, 50 + i * 16, n, 'font-size="12" fill="#555555"')),
    ...c.panels.map((p, i) => panelSvg(p, head + i * PANEL_HEIGHT)),
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
