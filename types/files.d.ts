import { type FileHandle } from 'node:fs/promises';
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
export declare function checkSavedModelFiles(exportDir: string, namedAssets: () => Promise<ReadonlySet<string>>): Promise<void>;
/**
 * The bytes of a SavedModel's saved_model.pb (or any file of it TensorFlow would parse whole),
 * read only if it is a regular file: it is opened without waiting (O_NONBLOCK) and checked
 * before a byte is read, so a FIFO or a device swapped in after checkSavedModelFiles() is refused too.
 * @throws InvalidArgumentError (INVALID_ARGUMENT) for a file that is not regular; Node's own
 *   errors (ENOENT, EACCES, ERR_FS_FILE_TOO_LARGE past 2 GiB) as readFile() raises them
 */
export declare function readGraphFile(file: string): Promise<Buffer>;
/**
 * Opens `file` for reading if it is a regular file (opened without waiting, O_NONBLOCK, then
 * checked), as every file of a SavedModel that tfslice reads itself is opened: a FIFO there
 * would hold one of libuv's four threads until a writer came.
 * @throws InvalidArgumentError (INVALID_ARGUMENT) for a file that is not regular; Node's own
 *   errors (ENOENT, EACCES) as open() raises them
 */
export declare function openRegularFile(file: string): Promise<FileHandle>;
/** readGraphFile() for the command line, which reads before anything else runs. */
export declare function readGraphFileSync(file: string): Buffer;
