import { DEMO_PROFILE, stackDown } from './lib/stack';

/** `npm run stop`: ends the services `npm start` left running. Data stays in var/. */
stackDown(DEMO_PROFILE, (line) => console.log(`[stop] ${line}`)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
