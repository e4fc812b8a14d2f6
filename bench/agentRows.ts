import type { Row } from './lib';

/**
 * bench/agent.ts's verdicts from its measurements (pure, so the unit tier checks them): the
 * issue's device budgets against what the same run measured.
 */

/** Idle: at most this much resident memory above a bare `node` process of the same runtime. */
export const IDLE_ABOVE_BARE_MIB = 16;
/** Peak resident memory while verifying and installing a full image, and while applying a delta. */
export const PEAK_BUDGET_MIB = 96;
/** Our verified download and install against the baseline's time for the same image. */
export const INSTALL_TIME_RATIO = 1.2;

export interface AgentMeasurements {
  mib: number;
  /** Resident memory of `node` doing nothing, and of the idle agent (both medians of their runs). */
  bareMiB: number;
  idleMiB: number;
  /** Peak resident memory of the device's process for each path. */
  fullPeakMiB: number;
  deltaPeakMiB: number;
  /** Delta sizes on the registry pairs: ours and bsdiff's, in bytes. */
  pairs: Array<{ name: string; ours: number; bsdiff: number }>;
  /** Best wall times: our verified download + install, and the baseline's (named in `baseline`). */
  install: { oursMs: number; baselineMs: number; baseline: string; judged: boolean };
}

const mib = (n: number) => `${n.toFixed(1)} MiB`;

/** The idle agent's row alone (`--only idle`). */
export function idleRow({ bareMiB, idleMiB }: Pick<AgentMeasurements, 'bareMiB' | 'idleMiB'>): Row {
  return {
    measure: 'agent idle resident memory',
    baseline: `${mib(bareMiB)} bare node`,
    ours: `${mib(idleMiB)} (+${(idleMiB - bareMiB).toFixed(1)})`,
    ratio: idleMiB / bareMiB,
    target: `<= +${IDLE_ABOVE_BARE_MIB} MiB`,
    met: idleMiB <= bareMiB + IDLE_ABOVE_BARE_MIB,
  };
}

export function agentRows(m: AgentMeasurements): Row[] {
  const installRatio = m.install.oursMs / m.install.baselineMs;
  const installRow: Row = {
    measure: `install time, verified download + install, ${m.mib} MiB`,
    baseline: `${(m.install.baselineMs / 1000).toFixed(2)} s ${m.install.baseline}`,
    ours: `${(m.install.oursMs / 1000).toFixed(2)} s`,
    ratio: installRatio,
  };
  return [
    idleRow(m),
    ...(
      [
        ['peak memory, verify + install a full image', m.fullPeakMiB],
        ['peak memory, download + apply a delta + install', m.deltaPeakMiB],
      ] as const
    ).map(([what, peak]): Row => ({
      measure: `${what}, ${m.mib} MiB`,
      baseline: `${PEAK_BUDGET_MIB} MiB budget`,
      ours: mib(peak),
      ratio: peak / PEAK_BUDGET_MIB,
      target: '<= 1.00x',
      met: peak <= PEAK_BUDGET_MIB,
    })),
    ...m.pairs.map((p): Row => ({
      measure: `delta size, ${p.name}`,
      baseline: `${p.bsdiff} B bsdiff`,
      ours: `${p.ours} B`,
      ratio: p.ours / p.bsdiff,
      target: '<= 1.00x',
      met: p.ours <= p.bsdiff,
    })),
    // Judged only against `rauc install` itself; against another baseline it is context.
    m.install.judged
      ? { ...installRow, target: `<= ${INSTALL_TIME_RATIO.toFixed(2)}x`, met: installRatio <= INSTALL_TIME_RATIO }
      : installRow,
  ];
}
