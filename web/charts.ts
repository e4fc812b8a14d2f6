import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

import type { AdoptionSeries, StepHealth } from '../common/adminApi';
import { h, table } from './dom';

// Only what the two charts use, so the bundle stays small (Chart.js is tree-shakable).
Chart.register(
  LineController,
  LineElement,
  PointElement,
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  Legend,
  Tooltip,
  Filler,
);

const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2', '#4b5563', '#db2777'];
const OUTCOMES = [
  { key: 'healthy', color: '#16a34a' },
  { key: 'reverted', color: '#d97706' },
  { key: 'failed', color: '#dc2626' },
  { key: 'refused', color: '#6b7280' },
] as const;

/**
 * A chart with its numbers as a table next to it: the table is what screen readers and
 * the browser tests read, built from the same arrays the chart draws.
 */
interface Figure {
  root: HTMLElement;
  update(next: ChartConfiguration['data'], rows: Array<Array<string | number>>): void;
}

interface FigureOptions {
  caption: string;
  config: ChartConfiguration;
  headers: string[];
  testId: string;
}

function figure({ caption, config, headers, testId }: FigureOptions): Figure {
  const canvas = h('canvas', { role: 'img', 'aria-label': caption });
  const chart = new Chart(canvas, {
    ...config,
    options: { ...config.options, animation: false, responsive: true, maintainAspectRatio: false },
  });
  const data = h('details', { class: 'chart-data' }, h('summary', {}, 'Numbers'));
  const root = h(
    'figure',
    { 'data-testid': testId },
    h('figcaption', {}, caption),
    h('div', { class: 'chart' }, canvas),
    data,
  );
  return {
    root,
    update(next, rows) {
      chart.data = next;
      chart.update('none');
      data.replaceChildren(h('summary', {}, 'Numbers'), table(headers, rows));
    },
  };
}

/** Devices per version over the release's lifetime, on its channel. */
export function adoptionChart(): { root: HTMLElement; show(series: AdoptionSeries): void } {
  const f = figure({
    caption: 'Adoption: devices per version',
    config: {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'devices' } } } },
    },
    headers: ['time', 'version', 'devices'],
    testId: 'adoption',
  });
  return {
    root: f.root,
    show(series) {
      const versions = [...new Set(series.points.flatMap((p) => Object.keys(p.versions)))].sort();
      const labels = series.points.map((p) => new Date(p.at).toLocaleTimeString());
      const datasets = versions.map((v, i) => ({
        label: v,
        data: series.points.map((p) => p.versions[v] ?? 0),
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        pointRadius: 0,
        // Counts change in steps between samples; a smoothed curve would show numbers that never were.
        stepped: 'before' as const,
      }));
      const last = series.points.at(-1);
      // The table is the latest point: the versions devices run now (as the API lists them).
      const rows = last
        ? Object.entries(last.versions)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([v, n]) => [new Date(last.at).toLocaleTimeString(), v, n])
        : [];
      f.update({ labels, datasets }, rows);
    },
  };
}

/** Per rollout step: the devices' outcomes, and how many failures the gate allows there. */
export function healthChart(): { root: HTMLElement; show(steps: StepHealth[]): void } {
  const f = figure({
    caption: 'Health per step against the gate',
    config: {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: {
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: 'devices' } },
        },
      },
    },
    headers: ['step', 'healthy', 'reverted', 'failed', 'refused', 'failures allowed'],
    testId: 'health',
  });
  return {
    root: f.root,
    show(steps) {
      const labels = steps.map((s) => `${s.percent}%`);
      const allowed = steps.map((s) => Math.floor(s.maxFailureRate * Math.max(s.stats.devices, s.minDevices)));
      const datasets = [
        ...OUTCOMES.map((o) => ({
          type: 'bar' as const,
          label: o.key,
          data: steps.map((s) => s.stats[o.key]),
          backgroundColor: o.color,
          stack: 'devices',
        })),
        {
          type: 'line' as const,
          label: 'failures allowed',
          data: allowed,
          borderColor: '#111827',
          backgroundColor: '#111827',
          borderDash: [6, 4],
          stack: 'threshold',
        },
      ];
      const rows = steps.map((s, i) => [
        `${s.percent}%`,
        s.stats.healthy,
        s.stats.reverted,
        s.stats.failed,
        s.stats.refused,
        allowed[i] ?? 0,
      ]);
      f.update({ labels, datasets }, rows);
    },
  };
}
