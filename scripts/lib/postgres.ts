import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { portOpen } from './processes';

const BIN = '/usr/lib/postgresql/15/bin';

/**
 * A throwaway PostgreSQL cluster (Debian's server binaries) in <dir>, for tests of the
 * fleet store on a real server. PostgreSQL refuses to run as root, so as root the
 * cluster belongs to the `postgres` system user.
 */
export async function startPostgres(dir: string, port: number): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    execFileSync(
      asRoot ? 'runuser' : join(BIN, cmd),
      asRoot ? ['-u', 'postgres', '--', join(BIN, cmd), ...args] : args,
      { stdio: 'pipe' },
    );
  const data = join(dir, 'data');
  await mkdir(dir, { recursive: true });
  if (asRoot) {
    await chmod(dir, 0o755);
    execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  }
  if (!existsSync(join(data, 'PG_VERSION'))) run('initdb', ['-D', data, '-A', 'trust', '-U', 'ota', '--no-sync']);
  if (!(await portOpen(port))) {
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-o',
      `-p ${port} -h 127.0.0.1 -k ${dir}`,
      'start',
    ]);
  }
  return `postgres://ota@127.0.0.1:${port}/postgres`;
}

export function stopPostgres(dir: string): void {
  const data = join(dir, 'data');
  if (!existsSync(join(data, 'postmaster.pid'))) return;
  const asRoot = process.getuid?.() === 0;
  const args = ['-D', data, '-m', 'fast', '-w', 'stop'];
  execFileSync(
    asRoot ? 'runuser' : join(BIN, 'pg_ctl'),
    asRoot ? ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), ...args] : args,
    { stdio: 'pipe' },
  );
}
