import { OtaError, TransportError, VerificationError } from './errors';
import * as tuf from './tufJsErrors';

/**
 * D-1: tuf-js failures mapped onto stable codes; anything unknown fails closed as invalid.
 * Pure (no I/O), so the verification core's coverage is measured on it alone. tuf-js wraps
 * snapshot and targets failures in a RuntimeError that keeps only the message, hence the
 * message patterns next to the class checks.
 */
export function toOtaError(repo: string, err: unknown): OtaError {
  if (err instanceof OtaError) return err;
  const message = `${repo} repository: ${err instanceof Error ? err.message : String(err)}`;
  const text = err instanceof Error ? err.message : '';
  if (err instanceof tuf.ExpiredMetadataError || /expired/i.test(text)) {
    return new VerificationError('METADATA_EXPIRED', message, { cause: err });
  }
  // Mix-and-match: a file that is not the one the snapshot or timestamp names, by version
  // ("does not match snapshot version", "doesn't match timestamp") or by its signed length
  // and hash ("Expected hash ... but got ...").
  // Another partition's file in place of this partition's (client-sdk/src/layout.ts) is one too.
  if (
    /(does not|doesn't) match (snapshot|timestamp)/i.test(text) ||
    /Expected (hash|length) \S+ but got/.test(text) ||
    / names partition /.test(text)
  ) {
    return new VerificationError('METADATA_INCONSISTENT', message, { cause: err });
  }
  if (err instanceof tuf.BadVersionError || (/version/i.test(text) && /(lower|less|rollback|expected)/i.test(text))) {
    return new VerificationError('METADATA_ROLLBACK', message, { cause: err });
  }
  if (/signed by \d+\/\d+ keys/.test(text)) {
    return new VerificationError('METADATA_UNTRUSTED', message, { cause: err });
  }
  if (err instanceof tuf.DownloadLengthMismatchError) {
    return new VerificationError('METADATA_INVALID', message, { cause: err });
  }
  if (err instanceof tuf.DownloadError || isNetworkError(err)) {
    return new TransportError('METADATA_UNAVAILABLE', message, { cause: err });
  }
  return new VerificationError('METADATA_INVALID', message, { cause: err });
}

function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}
