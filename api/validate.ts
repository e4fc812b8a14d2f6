import { isSemver } from '@enigm-ota/client-sdk/semver';
import Ajv from 'ajv';
import type { RequestHandler } from 'express';

import { InputError } from '../common/errors';
import { type SchemaName, schemas } from './schemas';

const ajv = new Ajv({ allErrors: false, strict: false });
// Versions are checked by the SDK's own parser, so anything the API accepts compares cleanly.
ajv.addFormat('semver', { type: 'string', validate: isSemver });

/** Validates the JSON body against the named OpenAPI schema before the handler runs. */
export function validateBody(name: SchemaName): RequestHandler {
  const check = ajv.compile(schemas[name]);
  return (req, _res, next) => {
    if (!check(req.body)) {
      const e = check.errors?.[0];
      const where = e?.instancePath ? `${e.instancePath.slice(1)} ` : '';
      next(
        new InputError(
          `${name}: ${where}${e?.message ?? 'is invalid'}${e?.params && 'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`,
        ),
      );
      return;
    }
    next();
  };
}
