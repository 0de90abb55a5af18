import { type Model } from '../model';
import { type SignatureInfo } from '../proto';
/**
 * A reader that closed the pipe early (`tfslice show m | head`) loses the rest of the output,
 * not the command: Node ignores SIGPIPE, so such a write fails with EPIPE, which crashed the
 * process with a stack. The command goes on to its end and exits with its own code (a failure
 * stays one; an install is not cut off half-written), and `tfslice serve` serves on. Any other
 * error of the stream (ENOSPC: output redirected to a full disk) ends the command at once with
 * exit 1 and one line on stderr naming the stream, where it ended with an uncaught stack
 * (helper-141).
 */
export declare function onClosedPipe(stream: NodeJS.WriteStream): void;
/** tfslice's version, from its package.json ('0.1.0'). */
export declare function packageVersion(): string;
/** --gpu-fraction: a fraction in (0, 1]. */
export declare function parseFraction(value: string): number;
/** An integer ≥ 1 (--batch, --concurrency, --iterations). */
export declare function parseCount(value: string): number;
/** A count of 0 or more (--warmup). */
export declare function parseCountFromZero(value: string): number;
/** A positive number of seconds (--duration). */
export declare function parseSeconds(value: string): number;
/** "a,b" → ['a', 'b'] (--tags, --outputs). */
export declare function parseList(value: string): string[];
/** "serve,gpu" → ['serve', 'gpu']; '' → [], the empty tag-set (TF Hub's TF1 format). */
export declare function parseTags(value: string): string[];
/** Collects a repeatable option's values (--op-library). */
export declare function collect(value: string, previous?: string[]): string[];
/** The saved_model.pb of `dir`, or a UsageError saying what is there instead and what to pass. */
export declare function savedModelFile(dir: string): string;
/** Flags every model-loading command takes. */
export interface ModelFlags {
    tags?: string[];
    opLibrary?: string[];
    gpuFraction?: number;
    isolation?: string;
}
/** loadModel() with the flags' options; the library's own errors pass through. */
export declare function openModel(dir: string, flags: ModelFlags): Promise<Model>;
/** The signature to use: --signature, else the model's default; a UsageError listing them otherwise. */
export declare function pickSignature(model: Model, name: string | undefined): {
    name: string;
    info: SignatureInfo;
};
