// The run-limit tests (test/timing/72.timeouts.ts) twice at once: with TensorFlow's oneDNN
// kernels forced off and forced on (TF_ENABLE_ONEDNN_OPTS, read when TensorFlow loads and
// inherited by model hosts). Their outcome may depend on the CPU (oneDNN changes the default
// maxConcurrentRuns, kernel speed and the allocator under a memory limit), so both states run
// on every host whichever its default (scripts/test-isa.js does the same for other files, one
// state per pass). Side by side, not one after the other: these tests spend most of their time
// waiting for limits to pass, about one core between them, so the two take about as long as one
// (CI: 2 x 130-140 s alone, 150-165 s side by side on 2 vCPUs); with nothing else beside them
// (test/timing is tap.serial), their limits keep the margins they were sized with.
// One test, one state (this environment's oneDNN): npx tap test/timing/72.timeouts.ts --grep=...;
// both, here: npx tap test/timing/72.timeouts.test.ts --grep=. --grep=... (a pattern a level).
import * as path from 'node:path';
import t from 'tap';

t.jobs = 2;
// tap hands a spawned test the whole TAP_GREP: drop the level this file's own subtests took.
const grep = process.env.TAP_GREP?.split('\n').slice(1);
// Each body ends (SIGALRM, then SIGKILL) before this file's own limit, so that a hang names its state.
// (The body's tap announces its own TAP_TIMEOUT, which overrides the spawn's: both are set.)
const timeout = Math.max(1, Number(process.env.TAP_TIMEOUT ?? 300) - 20);
for (const oneDnn of ['0', '1']) {
  // process.execArgv: tap's loaders (TypeScript, coverage), so the body runs as this file does.
  void t.spawn(process.execPath, [...process.execArgv, path.join(__dirname, '72.timeouts.ts')], {
    env: { ...process.env, TF_ENABLE_ONEDNN_OPTS: oneDnn, TAP_GREP: grep?.length ? grep.join('\n') : undefined, TAP_TIMEOUT: String(timeout) },
    buffered: true,
    timeout: timeout * 1000,
  }, `TF_ENABLE_ONEDNN_OPTS=${oneDnn}`);
}
