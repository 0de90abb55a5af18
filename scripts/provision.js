#!/usr/bin/env node
// Makes sure this checkout has a TensorFlow for tfslice to load and for the tests
// to use as their oracle: a git-ignored .venv with tensorflow-cpu (pinned to the
// version the committed goldens were computed with). Idempotent and quiet when
// there is nothing to do. `npm start`, `npm test` and `npm run bench` call it.
//
// A fresh install is big (tensorflow-cpu 2.21.0: 320 MiB of wheels, a 1.6 GiB venv), so it
// says so first and shows pip's own progress when stderr is a terminal; elsewhere (CI=true,
// or output piped) pip runs with -q and only the lines before and after are printed.
//
//   TFSLICE_PYTHON             -> the Python that creates .venv (default python3); TensorFlow
//                                 2.21 has wheels for CPython 3.10-3.13 only
//   TFSLICE_LIBTENSORFLOW set  -> the library is the user's choice: `npm start` provisions
//                                 nothing; tests and benchmarks still get Python TensorFlow
//   TFSLICE_TF_VERSION         -> tensorflow-cpu version (default 2.21.0)
//   TFSLICE_PIP_ARGS           -> extra pip arguments (default: --retries 0, so an
//                                 unreachable index fails fast instead of crawling)
'use strict';

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const venv = path.join(root, '.venv');
const python = path.join(venv, 'bin', 'python3');
const basePython = process.env.TFSLICE_PYTHON || 'python3';
const version = process.env.TFSLICE_TF_VERSION || '2.21.0';
const pipArgs = (process.env.TFSLICE_PIP_ARGS ?? '--retries 0').split(/\s+/).filter(Boolean);

// CPython versions with tensorflow-cpu wheels, by TensorFlow minor version: the wheel's
// Requires-Python and classifiers (2.21.0: ">=3.10", 3.10-3.13; its release notes: "Support
// for Python 3.9 has been removed"). Versions not listed are not checked; pip decides.
const PYTHONS = { '2.21': ['3.10', '3.11', '3.12', '3.13'] };
const pythons = PYTHONS[version.split('.').slice(0, 2).join('.')];

// What a fresh provision of the default version costs (2 vCPUs, a local pip mirror: 25-27 s).
const SIZE_NOTE = version === '2.21.0'
  ? 'a 261 MiB wheel, 320 MiB with its 31 dependencies, 1.6 GiB installed; about 30 s plus the download'
  : 'hundreds of MiB to download, over a GiB installed';

const ci = Boolean(process.env.CI) && !/^(false|0)$/i.test(process.env.CI);
// pip's progress bar and "Collecting ..." lines on a terminal; -q in CI and in logs.
const showPip = process.stderr.isTTY === true && !ci;

function log(message) {
  process.stderr.write(`[provision] ${message}\n`);
}

function solutions(first, { pip = true } = {}) {
  const list = [first];
  if (pip) list.push('point pip at a reachable index (PIP_INDEX_URL) or set TFSLICE_PIP_ARGS');
  list.push('for `npm start`, set TFSLICE_LIBTENSORFLOW to an existing libtensorflow (`npm test` still needs Python TensorFlow, its oracle)');
  log('Possible solutions:');
  list.forEach((s, i) => log(`  ${i + 1}. ${s}`));
}

const needPython = pythons
  ? `make a CPython ${pythons[0]}-${pythons[pythons.length - 1]} with venv available as python3, or name it with TFSLICE_PYTHON (e.g. TFSLICE_PYTHON=python3.12), then re-run`
  : 'make python3 (with venv) available, or name one with TFSLICE_PYTHON, then re-run';

// Where the venv's tensorflow package is, without importing it (that takes seconds).
function tensorflowDir() {
  if (!fs.existsSync(python)) return '';
  const probe = "import importlib.util as u; s = u.find_spec('tensorflow'); print(s.submodule_search_locations[0] if s else '')";
  try {
    return execFileSync(python, ['-c', probe], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** "3.11" for a Python executable, or null when it does not run. */
function pythonVersion(executable) {
  try {
    return execFileSync(executable, ['-c', "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

// Refuses a Python TensorFlow has no wheel for before pip says "No matching distribution".
function checkPython(executable, what) {
  const found = pythonVersion(executable);
  if (found === null) {
    log(`${what} (${executable}) does not run.`);
    solutions(needPython, { pip: false });
    process.exit(1);
  }
  if (pythons && !pythons.includes(found)) {
    log(`${what} (${executable}) is Python ${found}, but tensorflow-cpu ${version} has wheels for CPython ${pythons.join(', ')} only.`);
    solutions(executable === python ? `remove .venv (it was made with Python ${found}), ${needPython}` : needPython, { pip: false });
    process.exit(1);
  }
  return found;
}

function run(command, args) {
  log(`${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    log(`failed (exit ${result.status ?? result.signal}).`);
    solutions(needPython);
    process.exit(1);
  }
}

function main() {
  // The demo needs only a libtensorflow; the tests and benchmarks also use Python TensorFlow.
  if (process.env.TFSLICE_LIBTENSORFLOW && process.env.npm_lifecycle_event === 'start') return;
  const existing = tensorflowDir();
  if (existing && fs.existsSync(path.join(existing, 'libtensorflow_cc.so.2'))) return;
  if (!fs.existsSync(python)) {
    checkPython(basePython, 'TFSLICE_PYTHON' in process.env ? 'TFSLICE_PYTHON' : 'python3');
    run(basePython, ['-m', 'venv', venv]);
  }
  const pyVersion = checkPython(python, '.venv/bin/python3');
  log(`installing tensorflow-cpu==${version} into .venv (Python ${pyVersion}): ${SIZE_NOTE}` +
    `${showPip ? '' : "; pip's progress is shown on a terminal"}.`);
  const started = Date.now();
  run(python, ['-m', 'pip', 'install', ...pipArgs, '--disable-pip-version-check', ...(showPip ? [] : ['-q']), `tensorflow-cpu==${version}`]);
  const installed = tensorflowDir();
  if (!installed) {
    log('pip finished but .venv has no tensorflow package');
    process.exit(1);
  }
  log(`TensorFlow ${version} ready at ${installed} (${Math.round((Date.now() - started) / 1000)} s)`);
}

main();
