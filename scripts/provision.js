#!/usr/bin/env node
// Makes sure this checkout has a TensorFlow for tfslice to load and for the tests
// to use as their oracle: a git-ignored .venv with tensorflow-cpu (pinned to the
// version the committed goldens were computed with). Idempotent and quiet when
// there is nothing to do. `npm start`, `npm test` and `npm run bench` call it.
//
//   TFSLICE_LIBTENSORFLOW set   -> the library is the user's choice; only the
//                                  Python oracle is provisioned when tests need it
//   TFSLICE_TF_VERSION          -> tensorflow-cpu version (default 2.21.0)
//   TFSLICE_PIP_ARGS            -> extra pip arguments (default: --retries 0, so an
//                                  unreachable index fails fast instead of crawling)
'use strict';

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const venv = path.join(root, '.venv');
const python = path.join(venv, 'bin', 'python3');
const version = process.env.TFSLICE_TF_VERSION || '2.21.0';
const pipArgs = (process.env.TFSLICE_PIP_ARGS ?? '--retries 0').split(/\s+/).filter(Boolean);

function log(message) {
  process.stderr.write(`[provision] ${message}\n`);
}

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

function run(command, args) {
  log(`${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    log(`failed (exit ${result.status ?? result.signal}).`);
    log('Possible solutions:');
    log('  1. make python3 (3.9-3.12, with venv) available and re-run');
    log('  2. point pip at a reachable index (PIP_INDEX_URL) or set TFSLICE_PIP_ARGS');
    log('  3. set TFSLICE_LIBTENSORFLOW to an existing libtensorflow (the tests still need Python TensorFlow)');
    process.exit(1);
  }
}

function main() {
  const existing = tensorflowDir();
  if (existing && fs.existsSync(path.join(existing, 'libtensorflow_cc.so.2'))) return;
  if (!fs.existsSync(python)) run('python3', ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', ...pipArgs, '--disable-pip-version-check', '-q', `tensorflow-cpu==${version}`]);
  const installed = tensorflowDir();
  if (!installed) {
    log('pip finished but .venv has no tensorflow package');
    process.exit(1);
  }
  log(`TensorFlow ${version} ready at ${installed}`);
}

main();
