#!/usr/bin/env node
// The `tfslice` command; its source is lib/cli/ (compiled to dist/cli/ by tsc).
'use strict';

require('../dist/cli/main.js')
  .main(process.argv)
  .then((code) => process.exit(code));
