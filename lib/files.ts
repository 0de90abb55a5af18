/**
 * @internal A SavedModel's files, opened safely: what sits at saved_model.pb (or in variables/,
 * or as the warm-up file) may be no regular file. A FIFO there makes an open() wait for a writer
 * for ever (TensorFlow's loader, or one of Node's four libuv threads, held with it), and a device
 * such as /dev/zero never ends a read. So a file that is not regular is refused before anything
 * opens it for a blocking read.
 */
import * as fs from 'node:fs';
import { type FileHandle, open, opendir, readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';

import { InvalidArgumentError } from './errors';

/**
 * The graph files TensorFlow's SavedModel reader looks for, in its order (loader_util /
 * reader.cc: saved_model.pb, the text format saved_model.pbtxt, and the chunked
 * saved_model.cpb of TensorFlow 2.13 and later).
 */
const GRAPH_FILES = ['saved_model.pb', 'saved_model.pbtxt', 'saved_model.cpb'] as const;

// O_NONBLOCK: opening a FIFO returns at once rather than wait for its writer; a regular file
// reads as without it.
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

// What the file is, and why reading it as a graph would not end.
function kindOf(stats: fs.Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe), not a regular file: opening it waits for a writer';
  if (stats.isCharacterDevice()) return 'a character device, not a regular file: reading it may never end';
  if (stats.isBlockDevice()) return 'a block device, not a regular file';
  if (stats.isSocket()) return 'a socket, not a regular file';
  if (stats.isDirectory()) return 'a directory, not a regular file';
  return 'not a regular file';
}

function notAFile(file: string, stats: fs.Stats): InvalidArgumentError {
  return new InvalidArgumentError(`${file} is ${kindOf(stats)}; put the file the SavedModel was saved with there`);
}

// Read at load besides the graph: the fingerprint (TensorFlow 2.11 and later reads it for its
// load metrics).
const OTHER_FILES = ['fingerprint.pb'] as const;
// The checkpoint files of variables/ that the restore op opens.
const CHECKPOINT_FILE = /^variables\.(index|data-\d+-of-\d+)$/;
// Entries looked at under assets/ at most (a SavedModel has a handful).
const MAX_ENTRIES = 10_000;

async function refuseIfNotAFile(file: string): Promise<void> {
  // Missing, a loop of links, unreadable: TensorFlow's own error says so when it reads it.
  const stats = await stat(file).catch(() => null);
  if (stats !== null && !stats.isFile()) throw notAFile(file, stats);
}

/**
 * Refuses a SavedModel directory where a file TensorFlow's loader opens is there but, followed
 * through links, is no regular file: the graph file (saved_model.pb, .pbtxt or .cpb),
 * fingerprint.pb, the checkpoint's files in variables/ (a FIFO among them held the restore op
 * for ever), and the asset files the graph names (`namedAssets`, their paths under assets/,
 * asked only when assets/ holds something that is no regular file: an unused one is left
 * alone). A missing file is left to TensorFlow's loader, which says so. A stat() per entry, the
 * first 10 000 entries of assets/.
 * @throws InvalidArgumentError (INVALID_ARGUMENT) naming the file and what it is
 */
export async function checkSavedModelFiles(exportDir: string, namedAssets: () => Promise<ReadonlySet<string>>): Promise<void> {
  for (const name of [...GRAPH_FILES, ...OTHER_FILES]) await refuseIfNotAFile(path.join(exportDir, name));
  const variables = path.join(exportDir, 'variables');
  for (const name of await readdir(variables).catch(() => [] as string[])) {
    if (CHECKPOINT_FILE.test(name)) await refuseIfNotAFile(path.join(variables, name));
  }
  // assets/, walked a directory at a time, so that a tree of millions of entries is not listed whole.
  const assets = path.join(exportDir, 'assets');
  let named: ReadonlySet<string> | null = null;
  let seen = 0;
  const dirs: string[] = [assets];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    const handle = await opendir(dir).catch(() => null);
    if (handle === null) continue;
    for await (const entry of handle) {
      if (++seen > MAX_ENTRIES) return;
      const file = path.join(dir, entry.name);
      // A directory is walked, one a link leads to as well (TensorFlow opens assets/sub/vocab.txt
      // through a link sub; a loop of links ends at MAX_ENTRIES).
      if (entry.isDirectory()) {
        dirs.push(file);
        continue;
      }
      const stats = await stat(file).catch(() => null);
      if (stats?.isDirectory()) {
        dirs.push(file);
      } else if (stats !== null && !stats.isFile()) {
        named ??= await namedAssets();
        if (named.has(path.relative(assets, file))) throw notAFile(file, stats);
      }
    }
  }
}

/**
 * The bytes of a SavedModel's saved_model.pb (or any file of it TensorFlow would parse whole),
 * read only if it is a regular file: it is opened without waiting (O_NONBLOCK) and checked
 * before a byte is read, so a FIFO or a device swapped in after checkSavedModelFiles() is refused too.
 * @throws InvalidArgumentError (INVALID_ARGUMENT) for a file that is not regular; Node's own
 *   errors (ENOENT, EACCES, ERR_FS_FILE_TOO_LARGE past 2 GiB) as readFile() raises them
 */
export async function readGraphFile(file: string): Promise<Buffer> {
  const handle = await openRegularFile(file);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * Opens `file` for reading if it is a regular file (opened without waiting, O_NONBLOCK, then
 * checked), as every file of a SavedModel that tfslice reads itself is opened: a FIFO there
 * would hold one of libuv's four threads until a writer came.
 * @throws InvalidArgumentError (INVALID_ARGUMENT) for a file that is not regular; Node's own
 *   errors (ENOENT, EACCES) as open() raises them
 */
export async function openRegularFile(file: string): Promise<FileHandle> {
  const handle = await open(file, OPEN_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notAFile(file, stats);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** readGraphFile() for the command line, which reads before anything else runs. */
export function readGraphFileSync(file: string): Buffer {
  const fd = fs.openSync(file, OPEN_FLAGS);
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) throw notAFile(file, stats);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
