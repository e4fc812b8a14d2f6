import { DefaultLogger, Runtime } from '@temporalio/worker';

// The unit tier's Temporal workers (history replay, the time-skipping server) log only
// errors: their state changes and the failures tests provoke on purpose would bury the
// tests' own output. Installed once, before any worker creates the runtime.
Runtime.install({ logger: new DefaultLogger('ERROR') });
