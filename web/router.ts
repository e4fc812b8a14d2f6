/**
 * Hash routes (#/releases, #/releases/CHANNEL/VERSION, ...): the server serves one page,
 * so no request path other than the three static files ever reaches it.
 */
export interface Route {
  page: string;
  args: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [pathPart = '', queryPart = ''] = hash.split('?', 2);
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? 'releases', args: parts.slice(1), query: new URLSearchParams(queryPart) };
}

export function href(page: string, args: string[] = [], query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => Boolean(e[1])));
  const qs = q.toString();
  return `#/${[page, ...args.map(encodeURIComponent)].join('/')}${qs ? `?${qs}` : ''}`;
}

/**
 * What a page refreshes while it is shown: each timer stops when the user navigates away,
 * and a refresh never overlaps the previous one (a slow API does not pile up requests).
 */
export class Live {
  private timers: number[] = [];
  private stopped = false;

  every(ms: number, refresh: () => Promise<void>): void {
    let running = false;
    const tick = async () => {
      if (running || this.stopped || document.hidden) return;
      running = true;
      try {
        await refresh();
      } catch (err) {
        console.warn('refresh failed', err);
      } finally {
        running = false;
      }
    };
    this.timers.push(window.setInterval(() => void tick(), ms));
  }

  get active(): boolean {
    return !this.stopped;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }
}
