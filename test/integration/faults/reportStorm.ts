import { sleep } from '../../wait';
import { deviceFetch, signedReport, testConfig } from '../helpers';

/** The device page lists a device's latest 50 reports: the check reads them there. */
const MAX_REPORTS = 45;

export interface StormResult {
  /** Per device, the messages of the reports the API acknowledged with a 2xx. */
  acked: Map<string, string[]>;
  /** Attempts that got no 2xx and were sent again, by HTTP status (0: no answer at all). */
  failures: Record<number, number>;
}

/**
 * A report storm: `devices` enrolled devices (each its own identity and connection) send
 * install reports one after the other. `fault` starts once every device has had a report
 * acknowledged (the storm is under way), and the devices keep sending until it has ended and
 * each has sent at least `reports`, so the fault always lands mid-storm. A report that gets no
 * 2xx is sent again with the same reportId until it does, as the SDK does, so the store must
 * keep each exactly once (the invariant is checked by reportProblems).
 */
export async function reportStorm(o: {
  prefix: string;
  devices: number;
  reports: number;
  /** The fault; it sees the storm's tally as it grows (to end the fault once reports met it). */
  fault: (live: StormResult) => Promise<void>;
  withinMs?: number;
}): Promise<StormResult> {
  const url = `${testConfig().api.url}/v1/reports`;
  const ids = Array.from({ length: o.devices }, (_, i) => `${o.prefix}${i}`);
  const fetches = await Promise.all(ids.map((id) => deviceFetch(id, 'storm')));
  const result: StormResult = { acked: new Map(ids.map((id) => [id, []])), failures: {} };
  const deadline = Date.now() + (o.withinMs ?? 120_000);
  let faultEnded = false;
  let startFault: () => void = () => undefined;
  const underWay = new Promise<void>((resolve) => (startFault = resolve));
  const send = async (i: number) => {
    const deviceId = ids[i]!;
    // Beyond `reports`, only while the fault lasts, and never past what a device page lists.
    for (let n = 1; n <= o.reports || (!faultEnded && n <= MAX_REPORTS); n++) {
      const message = `storm ${deviceId} #${n}`;
      const body = JSON.stringify(
        await signedReport({
          deviceId,
          reportId: `${deviceId}-r${n}`.padEnd(8, '0'),
          version: '1.0.0',
          outcome: 'failed',
          errorCode: 'STORM',
          message,
        }),
      );
      for (;;) {
        const status = await fetches[i]!(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        }).then(
          (res) => res.status,
          () => 0,
        );
        if (status >= 200 && status < 300) break;
        if (status >= 400 && status < 500) throw new Error(`${deviceId}: report refused with HTTP ${status}`);
        if (Date.now() > deadline) throw new Error(`${deviceId}: report #${n} never acknowledged`);
        result.failures[status] = (result.failures[status] ?? 0) + 1;
        await sleep(250);
      }
      result.acked.get(deviceId)!.push(message);
      if ([...result.acked.values()].every((m) => m.length > 0)) startFault();
      await sleep(100);
    }
  };
  const fault = underWay.then(() => o.fault(result)).finally(() => (faultEnded = true));
  await Promise.all([...ids.map((_, i) => send(i)), fault]);
  return result;
}
