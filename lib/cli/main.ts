/**
 * The `tfslice` command (bin/tfslice.js): show, run, bench, doctor and
 * install-tensorflow, on the library's own API. Arguments are parsed by commander;
 * errors go to stderr as one message (exit 2 for a bad flag, 1 when the work
 * failed), with a stack only for what looks like a bug in tfslice (or TFSLICE_DEBUG=1).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { bench, collectShape } from './bench';
import { collect, onClosedPipe, packageVersion, parseCount, parseCountFromZero, parseFraction, parseList, parseSeconds, parseTags } from './common';
import { doctor, parseGpuPartitions } from './doctor';
import { isExpected, UsageError } from './errors';
import { collectInput } from './inputs';
import { ARCHIVE_DEFAULT_BASE_URL, ARCHIVE_DEFAULT_VERSION, installTensorflow, PIP_DEFAULT_VERSION } from './install';
import { run } from './run';
import { serveCommand } from './serve';
import { show } from './show';


// The options every model-loading command takes.
function modelOptions(command: Command): Command {
  return command
    .option('--tags <t1,t2>', "tag-set of the meta graph to load (default: serve; '' for the empty tag-set)", parseTags)
    .option('--op-library <path>', 'a plug-in op library (.so) the model needs, loaded first (repeatable)', collect)
    .option('--gpu-fraction <f>', 'share of the GPU memory for the model, in (0, 1]', parseFraction)
    .addOption(new Option('--isolation <mode>', "run the model in this process ('none') or its own ('process')").choices(['none', 'process']));
}

/**
 * Set as a command's action starts: it was given --json (its failure is then printed as JSON
 * too). Undefined when commander failed before (a bad flag or option value): jsonInArgv() tells.
 */
let jsonRequested: boolean | undefined;

function program(): Command {
  let exitCode = 0;
  const cli = new Command('tfslice')
    .description('Inspect, run and benchmark TensorFlow SavedModels; check and install TensorFlow for tfslice.')
    .version(packageVersion())
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  cli.command('show')
    .description('tag-sets and signatures of a SavedModel: each input and output with key, dtype, shape and tensor name (no TensorFlow needed)')
    .argument('<dir>', 'SavedModel directory (holds saved_model.pb)')
    .option('--tags <t1,t2>', "only the meta graph with this tag-set ('' for the empty one)", parseTags)
    .option('--signature <name>', 'only this signature')
    .option('--ops', "also the op types each signature, the init op and the saver's restore op reach (what opPolicy checks), marking those opPolicy 'serve' refuses")
    .option('--json', 'print JSON')
    .action((dir: string, flags) => show(dir, flags));

  modelOptions(cli.command('run')
    .description('run a signature once and print its outputs (dtype, shape, a preview); --out-dir writes them as .npy')
    .argument('<dir>', 'SavedModel directory')
    .option('-i, --input <key=value>', "an input: key=file.npy, key=file.json or a JSON literal (key='[[1,2,3,4]]'); repeat for each input", collectInput, [])
    .option('--signature <name>', 'signature to run (default: serving_default, or the only one)')
    .option('--outputs <a,b>', 'fetch only these output keys', parseList)
    .option('--out-dir <dir>', 'write each output to <dir>/<key>.npy (.json for string and bfloat16 outputs)')
    .option('--json', 'print the outputs as JSON'))
    .action((dir: string, flags) => run(dir, flags));

  modelOptions(cli.command('bench')
    .description('benchmark a signature on synthesized inputs: latency percentiles and throughput')
    .argument('<dir>', 'SavedModel directory')
    .option('--signature <name>', 'signature to run (default: serving_default, or the only one)')
    .option('--batch <n>', 'size of unknown leading dimensions (other unknown dimensions get 1)', parseCount, 1)
    .option('--shape <key=d0,d1>', 'exact shape for an input (repeatable)', collectShape, {})
    .option('-i, --input <key=value>', 'use this input instead of a synthesized one (as in run; repeatable)', collectInput, [])
    .option('-c, --concurrency <n>', 'run() calls in flight', parseCount, 1)
    .option('--duration <s>', 'run for this many seconds (default 10)', parseSeconds)
    .option('--iterations <n>', 'run this many times instead', parseCount)
    .option('--warmup <n>', 'runs before timing starts', parseCountFromZero, 3)
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--json', 'print the summary as JSON (no progress bar)'))
    .action((dir: string, flags) => bench(dir, flags));

  cli.command('doctor')
    .description('which libtensorflow tfslice finds and how, TensorFlow version, CUDA, devices, the addon build; exits 1 with the fix when tfslice cannot run')
    .option('--json', 'print JSON')
    .option('--gpu-partitions <spec>', "experimental: split GPUs into partitions (GPU:MiB,MiB[;GPU:MiB...], e.g. '0:2048,4096') and show the limit TensorFlow applied to each", (spec: string) => {
      // A layout that cannot be read is a bad argument (exit 2), as a bad --cpu-partitions is.
      try {
        parseGpuPartitions(spec);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message.replace(/^--gpu-partitions: /, ''));
      }
      return spec;
    })
    .option('--cpu-partitions <n>', 'experimental: the same with n CPU devices (the stand-in without a GPU)', parseCount)
    .action(async (flags: { json?: boolean; gpuPartitions?: string; cpuPartitions?: number }) => {
      if (flags.gpuPartitions !== undefined && flags.cpuPartitions !== undefined) {
        throw new UsageError('--gpu-partitions and --cpu-partitions: give one (a process is split into GPU partitions or, as a stand-in, CPU ones)');
      }
      exitCode = await doctor(flags);
    });

  cli.command('install-tensorflow')
    .description('install a TensorFlow for tfslice in the per-user cache ($TFSLICE_HOME, else $XDG_CACHE_HOME/tfslice, else ~/.cache/tfslice); the library finds it with no env var')
    .addOption(new Option('--from <source>', 'pip: a private venv; archive: the official libtensorflow C archive').choices(['pip', 'archive']).default('pip'))
    .option('--gpu', 'a CUDA build: tensorflow[and-cuda] from pip, or the GPU archive')
    .option('--version <v>', `TensorFlow version (default ${PIP_DEFAULT_VERSION} from pip, ${ARCHIVE_DEFAULT_VERSION} as an archive)`)
    .option('--dir <d>', 'install here instead of the cache')
    .option('--base-url <url>', `archive base URL; the archive is <url>/<version>/libtensorflow-<cpu|gpu>-linux-x86_64.tar.gz (default $TFSLICE_TF_ARCHIVE_BASE_URL, else ${ARCHIVE_DEFAULT_BASE_URL})`)
    .option('--python <python3>', 'the Python that creates the venv (pip)', 'python3')
    .option('--force', 'remove an existing install of that version first')
    .option('--dry-run', 'print what would be done (the exact pip commands or the URL) and do nothing')
    .option('--progress', 'show the download progress bar even when stderr is not a terminal')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExtra pip arguments come from $TFSLICE_PIP_ARGS (e.g. "--retries 0 --index-url …").')
    .action((flags) => installTensorflow(flags));

  serveCommand(cli, (code) => {
    exitCode = code;
  });

  cli.hook('preAction', (_cli, command) => {
    jsonRequested = command.opts().json === true;
  });
  cli.hook('postAction', () => {
    process.exitCode = exitCode;
  });
  return cli;
}

/**
 * Whether argv gives its command --json, read as commander reads it, for a failure while
 * commander parses (an unknown flag, a bad option value, a missing argument), before the
 * command's action starts: an option that takes a value takes the next argument with it
 * (`--input --json` is an input, not --json), and `--` ends the options. helper-141: such a
 * failure printed nothing on stdout, where a failure in the action printed {"error": ...}.
 */
function jsonInArgv(cli: Command, argv: readonly string[]): boolean {
  const args = argv.slice(2);
  const at = args.findIndex((a) => !a.startsWith('-'));
  const name = args[at];
  const command = name === undefined ? undefined : cli.commands.find((c) => c.name() === name || c.aliases().includes(name));
  if (!command?.options.some((o) => o.long === '--json')) return false;
  for (let i = at + 1; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return false;
    if (arg === '--json') return true;
    const option = command.options.find((o) => o.long === arg || o.short === arg);
    if (option?.required || (option?.optional && !(args[i + 1] ?? '-').startsWith('-'))) i++;
  }
  return false;
}

function commandOf(argv: readonly string[]): string {
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  return name ? `tfslice ${name}` : 'tfslice';
}

/**
 * A failure of a command given --json, on stdout as `{"error": {"code", "message", "exitCode"}}`
 * (the message as on stderr; `code`: the error's own, such as NOT_FOUND or ARCHIVE_UNSAFE_ENTRY,
 * 'USAGE' for a bad flag or argument, null where it has none), so that a script reading stdout
 * gets JSON either way. stderr keeps the message (and, for a bug, the stack).
 */
function printJsonError(error: unknown, exitCode: number, usage = false): void {
  const own = (error as { code?: unknown } | null)?.code;
  const code = usage ? 'USAGE' : typeof own === 'string' ? own : error instanceof UsageError ? 'USAGE' : null;
  // commander's own messages start with 'error: ' (as printed on stderr).
  const said = error instanceof Error ? error.message : String(error);
  const message = usage ? said.replace(/^error: /, '') : said;
  process.stdout.write(`${JSON.stringify({ error: { code, message, exitCode } }, null, 2)}\n`);
}

/** Runs the CLI on process.argv-style arguments; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  onClosedPipe(process.stdout);
  onClosedPipe(process.stderr);
  jsonRequested = undefined;
  let cli: Command | undefined;
  try {
    cli = program();
    await cli.parseAsync([...argv]);
    // A write error that a stream reports on a later tick (doctor's --json to a full disk) is
    // seen by onClosedPipe before bin/tfslice.js exits with the command's own code.
    await new Promise((resolve) => setImmediate(resolve));
    return Number(process.exitCode ?? 0);
  } catch (error) {
    const json = jsonRequested ?? (cli !== undefined && jsonInArgv(cli, argv));
    if (error instanceof CommanderError) {
      // commander printed the message (or the help) already; a bad flag is a usage error.
      const helpOrVersion = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help';
      if (helpOrVersion) return error.exitCode;
      if (json) printJsonError(error, 2, true);
      return 2;
    }
    // TFSLICE_DEBUG=1 adds the stack, and changes no exit code (helper-141: a bad argument exited
    // 1, and its JSON said {"code": "USAGE", "exitCode": 1}).
    const code = isExpected(error) ? (error as { exitCode?: number }).exitCode ?? 1 : 1;
    if (isExpected(error) && process.env.TFSLICE_DEBUG !== '1') {
      process.stderr.write(`${commandOf(argv)}: ${error.message}\n`);
      if (error instanceof UsageError && error.help) process.stderr.write(`(run ${commandOf(argv)} --help for usage)\n`);
      if (json) printJsonError(error, code);
      return code;
    }
    process.stderr.write(`${commandOf(argv)}: ${error instanceof Error ? error.stack : String(error)}\n`);
    if (json) printJsonError(error, code);
    return code;
  }
}
