/**
 * tuf-js and @tufjs/models throw these classes but do not export them from their entry
 * points; this module is the project's one import of their internals (the lint forbids any
 * other), so an upgrade that moves them breaks here and nowhere else.
 */
export { UnsignedMetadataError } from '@tufjs/models/dist/error';
export {
  BadVersionError,
  DownloadError,
  DownloadHTTPError,
  DownloadLengthMismatchError,
  ExpiredMetadataError,
  RepositoryError,
  RuntimeError,
} from 'tuf-js/dist/error';
