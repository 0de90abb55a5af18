/**
 * Worker thread of the op policy check (lib/ops.ts) for graphs too big to decode on the
 * event loop: it runs one job and posts its answer.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { type OpsJob, runOpsJob } from './ops';

parentPort!.postMessage(runOpsJob(workerData as OpsJob));
