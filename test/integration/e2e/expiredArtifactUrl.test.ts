import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { approve, device, releaseAwaitingApproval, stepPublished, temporalClient } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';

/** The shortest lifetime the API accepts: the download below outlasts it many times. */
const URL_SECONDS = 2;
const ARTIFACT = randomBytes(4 * 1024 * 1024);
/** The first attempt stops after about this much: the rest comes with a resumed request. */
const FIRST_PART = 1024 * 1024;

/** One artifact request as it reached storage: its path with the presigned query, and its Range. */
interface SeenRequest {
  target: string;
  range: string | undefined;
}

/**
 * Plain TCP in front of MinIO, as devices reach storage: it records each request and can
 * hold the next download part-way, as a slow link or a dropped connection would.
 */
class StorageLink {
  readonly seen: SeenRequest[] = [];
  private server: Server | undefined;
  private port = 0;
  private holdNext = false;
  private held: Socket | undefined;
  /** Every connection, both ends: a device's kept-alive socket would hold `close` open for ever. */
  private readonly sockets = new Set<Socket>();

  async start(minioPort: number): Promise<number> {
    this.server = createServer((device) => this.relay(device, minioPort));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** A request's URL, as the device followed it. */
  url(request: SeenRequest): string {
    return `http://127.0.0.1:${this.port}${request.target}`;
  }

  /** The next connection's answer stops after `FIRST_PART` bytes, its socket kept open until `cut`. */
  holdNextDownload(): void {
    this.holdNext = true;
  }

  /** Whether a held download has stopped sending. */
  holding(): boolean {
    return this.held !== undefined;
  }

  /** Drops the held connection, as a link that went down. */
  cut(): void {
    this.held?.destroy();
    this.held = undefined;
  }

  async close(): Promise<void> {
    this.cut();
    const closed = new Promise((r) => this.server?.close(r));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private relay(device: Socket, minioPort: number): void {
    const upstream = connect(minioPort, '127.0.0.1');
    for (const socket of [device, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    }
    const hold = this.holdNext;
    this.holdNext = false;
    let head = '';
    device.on('data', (chunk: Buffer) => {
      if (!head.includes('\r\n\r\n')) {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          const [line = '', ...headers] = head.split('\r\n');
          const range = headers.find((h) => h.toLowerCase().startsWith('range:'));
          this.seen.push({ target: line.split(' ')[1] ?? '', range: range?.slice('range:'.length).trim() });
        }
      }
      upstream.write(chunk);
    });
    let sent = 0;
    upstream.on('data', (chunk: Buffer) => {
      if (hold && sent + chunk.length > FIRST_PART) {
        device.write(chunk.subarray(0, Math.max(0, FIRST_PART - sent)));
        sent = FIRST_PART;
        upstream.destroy();
        this.held = device;
        return;
      }
      sent += chunk.length;
      device.write(chunk);
    });
    upstream.on('end', () => device.end());
    upstream.on('error', () => device.destroy());
    device.on('error', () => upstream.destroy());
    device.on('close', () => upstream.destroy());
  }
}

/**
 * Presigned artifact URLs live seconds (S-26): a device whose download outlasts one resumes
 * with a Range request to the API, which hands it a fresh URL. Runs on an API restarted with
 * the shortest URL lifetime and storage reached through `StorageLink` (put back afterwards).
 */
describe('a download that outlasts its presigned URL', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);
  const link = new StorageLink();
  const channel = 'short-urls';

  before(async function () {
    this.timeout(180_000);
    const port = await link.start(TEST_PROFILE.minioPort);
    await pm.stop('api');
    await stackUp(TEST_PROFILE, {
      extraEnv: {
        ...TEST_EXTRA_ENV,
        OTA_ARTIFACT_URL_SECONDS: String(URL_SECONDS),
        OTA_MINIO_PUBLIC_URL: `http://127.0.0.1:${port}`,
      },
    });
    await releaseAwaitingApproval(channel, '1.0.0', { bytes: ARTIFACT });
    await approve(channel, '1.0.0');
    await waitForStatus(await temporalClient(), { channel, version: '1.0.0' }, stepPublished(100));
  });

  after(async function () {
    this.timeout(120_000);
    await link.close();
    await pm.stop('api');
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('completes by resuming with a fresh URL from the API once the first one has expired', async () => {
    const agent = await device('short-url-device', channel);
    link.holdNextDownload();
    const first = agent.checkForUpdate();
    await waitFor('the first download to stop part-way', () => link.holding());
    const [firstRequest] = link.seen;
    expect(firstRequest?.range, 'a fresh download').to.equal(undefined);
    // Storage itself refuses the first URL before the download goes on.
    await waitFor(
      'storage to refuse the first URL',
      async () => (await fetch(link.url(firstRequest!))).status === 403,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    link.cut();
    expect(await first).to.include({ status: 'refused', code: 'DOWNLOAD_FAILED' });

    const resumed = await agent.checkForUpdate();
    expect(resumed).to.include({ status: 'installed', version: '1.0.0' });
    const fetched = resumed.status === 'installed' ? (resumed.delivery?.bytes ?? 0) : 0;
    expect(fetched, 'only the rest was fetched').to.be.greaterThan(0).and.lessThan(ARTIFACT.length);
    const last = link.seen[link.seen.length - 1]!;
    expect(last.range).to.equal(`bytes=${ARTIFACT.length - fetched}-`);
    expect(last.target, 'a URL the API signed anew').to.not.equal(firstRequest!.target);
    expect(new URL(link.url(last)).searchParams.get('X-Amz-Expires')).to.equal(String(URL_SECONDS));
  });
});
