import { ModelCrashedError } from './errors';
import type { NumericDType } from './dtypes';
import type { Device } from './model';
import { type NativePlan, type NativeSession, type NativeTensors } from './native';
import type { LoadOptions } from './options';
import type { SessionConfig, SignatureInfo } from './proto';
import type { Runtime } from './library';
import { type Tensor } from './tensor';
/** What a host reports once its model is loaded. */
export interface HostLoaded {
    pid: number;
    signatures: Record<string, SignatureInfo>;
    defaultSignature: string | null;
    devices: Device[];
    /** The ConfigProto the host's session was created with, decoded. */
    config: SessionConfig;
    tensorflowVersion: string;
}
/**
 * How long past a run's runTimeoutMs this process waits for the host's answer (the host stops
 * the run at the limit and answers DEADLINE_EXCEEDED itself) before it gives up on the run, ms.
 */
export declare const HOST_GRACE_MS = 1000;
/** Serving threads of a host's direct path: runs in flight at once, as the libuv pool's 4 in-process. */
export declare const HOST_SERVE_THREADS = 4;
/**
 * Runs answered with outputs by path, and runs that failed by the path they took, across all
 * hosts of this process, feeds that crossed as a place in a shared feed segment instead of a
 * copy, and runs sent ahead of their turn (mayRunAhead) (tests and the benchmark read it).
 */
export declare const runPaths: {
    direct: number;
    framed: number;
    sharedFeeds: number;
    directFailed: number;
    framedFailed: number;
    ahead: number;
};
/** Model.alloc on an isolated model: tensors this small are plain memory (a copy costs less than a segment). */
export declare const SHARED_MIN_BYTES: number;
/**
 * Shared feed segments alive at once on this thread (one descriptor each); past it, plain
 * memory. A quarter of the descriptors the process may open (RLIMIT_NOFILE) at most, so that
 * sockets, files and model loads keep theirs.
 */
export declare const MAX_SHARED_FEEDS = 1024;
/**
 * Free slots a host session keeps with their segments (a descriptor and a mapping each here, a
 * mapping in the host), ready for the next runs. A slot freed past them lets go of its segment in
 * both processes: a burst of runs queued at once (hundreds waiting for a slow model) otherwise
 * held as many segments for good, thousands of descriptors at the peak.
 */
export declare const KEPT_FREE_SLOTS = 64;
/** Shared feed segments alive in this process (tests read it). */
export declare function sharedFeedCount(): number;
/**
 * A zero-filled tensor for an isolated model's feeds: from SHARED_MIN_BYTES on, its memory is a
 * shared segment (sealed memfd) that each host maps on first use, so a run on the direct path
 * sends its place and copies nothing; smaller ones, and any past MAX_SHARED_FEEDS alive, are
 * Tensor.alloc's. dispose() frees the segment at once (after the runs in flight that read it),
 * else the collector does; either way the hosts that mapped it unmap it.
 */
export declare function allocShared<N extends NumericDType>(dtype: N, shape: readonly number[]): Tensor<N>;
/** The script a host runs (compiled; the host never loads TypeScript). */
export declare const HOST_SCRIPT: string;
/** The options a host resolves itself, in JSON (bytes as base64; isolation dropped). */
export declare function hostOptions(options: number | LoadOptions | undefined): Record<string, unknown>;
export declare class HostSession implements NativeSession {
    #private;
    pid: number;
    private constructor();
    /**
     * Starts a host and loads the model there. The host finds the same libtensorflow as
     * this process and inherits its environment (TF_ENABLE_ONEDNN_OPTS, CUDA_VISIBLE_DEVICES)
     * except NODE_OPTIONS. `script` is the host's program (tests put a misbehaving one there).
     */
    static start(exportDir: string, options: number | LoadOptions | undefined, tensorflow: Runtime, inlineOps: boolean, onExit: (crash: ModelCrashedError | null) => void, script?: string): Promise<{
        session: HostSession;
        loaded: HostLoaded;
    }>;
    plan(inputs: string[], outputs: string[]): NativePlan;
    run(plan: NativePlan, feeds: NativeTensors, timeoutMs?: number, ticket?: number, waitLimitMs?: number, startBelow?: number): Promise<NativeTensors>;
    runSync(): NativeTensors;
    /**
     * Ends the host once its in-flight runs finished; resolves when it has exited. With
     * `killAfterMs`, a host whose runs have not finished by then is killed (SIGKILL), and those
     * runs reject with MODEL_DISPOSED.
     */
    close(killAfterMs?: number): Promise<void>;
    /** Where the last run() waits: 1 in the host for its turn (sent ahead), 3 in the host behind as many runs as it has serving threads; else 0. */
    lastQueued(): 0 | 1 | 3;
    /** Whether the last run() went to the host by the direct path before it returned (its host counts it from there: mayRunAhead). */
    lastSentDirect(): boolean;
    /**
     * Whether a run of `plan` with `feeds` may go ahead of its turn (run()'s startBelow) now: the
     * host must count every run that holds a turn (none framed, none of a plan that may still turn
     * out framed: #unsure), and this one must go by the direct path as well (numeric feeds, a plan
     * known direct, a message that fits).
     */
    mayRunAhead(plan: NativePlan, feeds: NativeTensors): boolean;
    /**
     * Takes a run that waits in the host out, if the host has not taken it yet (lib/ipc.ts
     * cancelRun): it rejects now and is never started there; its slot stays out of use until the
     * host's answer comes. False once the host took it (it runs to its end) or it ended.
     */
    cancelQueued(ticket: number): boolean;
    /**
     * Runs sent to the host that wait there: not taken yet, past those its idle serving threads are
     * about to take (a run sent a moment ago to an idle host is not waiting). Read only when asked.
     */
    runnerQueued(): number;
}
