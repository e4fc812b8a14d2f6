/**
 * The fault-injection suite's check of a TUF repository's signed metadata chain, apart from
 * storage so its rules are unit-tested (test/unit/metadataChain.test.ts).
 */
const METADATA_FILE = /^(\d+)\.(root|targets|snapshot)\.json$/;

/** The fields of a metadata file the check reads: a targets file's targets, a snapshot's or timestamp's meta. */
export interface MetadataFile {
  signed: { targets?: unknown; meta?: Record<string, { version: number }> };
}

/** One repository's metadata files: their names (`N.role.json`, `timestamp.json`) and contents. */
export interface MetadataFiles {
  names: string[];
  read(name: string): Promise<MetadataFile>;
}

/**
 * Every role's versions are 1..N with no gap, no two consecutive targets versions after
 * `repeatsAfter` carry the same targets (a step published twice; before it, a re-signing for
 * freshness or a key change legitimately repeats them), and timestamp.json covers the newest
 * snapshot, which covers the newest targets (nothing claimed and left unpublished).
 */
export async function chainProblems(files: MetadataFiles, repeatsAfter = 0): Promise<string[]> {
  const versions: Record<string, number[]> = { root: [], targets: [], snapshot: [] };
  for (const name of files.names) {
    const m = METADATA_FILE.exec(name);
    if (m) versions[m[2]!]!.push(Number(m[1]));
  }
  const problems: string[] = [];
  for (const [role, list] of Object.entries(versions)) {
    list.sort((a, b) => a - b);
    if (list.length === 0 || list.some((v, i) => v !== i + 1))
      problems.push(`${role} versions ${list.join(',')} are not 1..${list.length}`);
  }
  let previous: string | undefined;
  for (const v of versions['targets']!) {
    const targets = JSON.stringify((await files.read(`${v}.targets.json`)).signed.targets);
    if (targets === previous && v > repeatsAfter)
      problems.push(`targets ${v} repeats targets ${v - 1} (published twice)`);
    previous = targets;
  }
  const newestSnapshot = Math.max(...versions['snapshot']!);
  const newestTargets = Math.max(...versions['targets']!);
  const covered = (await files.read('timestamp.json')).signed.meta!['snapshot.json']!.version;
  if (covered !== newestSnapshot)
    problems.push(`timestamp covers snapshot ${covered}, the newest is ${newestSnapshot}`);
  const inSnapshot = (await files.read(`${newestSnapshot}.snapshot.json`)).signed.meta!['targets.json']!.version;
  if (inSnapshot !== newestTargets)
    problems.push(`snapshot ${newestSnapshot} covers targets ${inSnapshot}, the newest is ${newestTargets}`);
  return problems;
}
