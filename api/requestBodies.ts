import { isSemver } from '@enigm-ota/client-sdk/semver';
import Ajv from 'ajv';
import type { Request, RequestHandler, Response } from 'express';
import type { FromSchema } from 'json-schema-to-ts';

import { InputError } from '../common/errors';
import { schemas } from './schemas';

const ajv = new Ajv({ allErrors: false, strict: false });
// Versions are checked by the SDK's own parser, so anything the API accepts compares cleanly.
ajv.addFormat('semver', { type: 'string', validate: isSemver });

/** The schemas a request body is checked against (the others describe answers). */
export type RequestSchema =
  | 'PollRequest'
  | 'InstallReport'
  | 'CreateRelease'
  | 'Decision'
  | 'OpsAction'
  | 'CreateOperator'
  | 'EnrollmentToken'
  | 'Enroll'
  | 'Renew'
  | 'Labels'
  | 'SignIn'
  | 'Revoke'
  | 'AcceptStorage'
  | 'PublishedMetadata'
  | 'CreateWebhook'
  | 'Redeliver'
  | 'RecordEvents';

/**
 * A request body as its schema describes it: the type is derived from the JSON Schema the
 * OpenAPI document serves (json-schema-to-ts), so the two cannot drift apart.
 */
type Bodies = { [N in RequestSchema]: FromSchema<(typeof schemas)[N]> };
export type Body<N extends RequestSchema> = Bodies[N];

/**
 * A handler that receives its JSON body validated against the named schema and typed by it;
 * an invalid body is refused with INVALID_INPUT before the handler runs. The body must have
 * been parsed by jsonBody (api/untrusted.ts) first.
 */
export function withBody<N extends RequestSchema>(
  name: N,
  handler: (body: NoInfer<Body<N>>, req: Request, res: Response) => Promise<void> | void,
): RequestHandler {
  const check = ajv.compile(schemas[name]);
  return async (req, res) => {
    const body: unknown = req.body;
    if (!check(body)) {
      const e = check.errors?.[0];
      const where = e?.instancePath ? `${e.instancePath.slice(1)} ` : '';
      const extra = e?.params && 'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : '';
      throw new InputError(`${name}: ${where}${e?.message ?? 'is invalid'}${extra}`);
    }
    // Ajv checked it against the very schema the type is derived from.
    await handler(body as never, req, res);
  };
}
