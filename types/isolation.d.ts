import type { Device } from './model';
import { type NativePlan, type NativeSession, type NativeTensors } from './native';
import type { LoadOptions } from './options';
import type { SessionConfig, SignatureInfo } from './proto';
import type { Runtime } from './library';
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
/** Serving threads of a host's direct path: runs in flight at once, as the libuv pool's 4 in-process. */
export declare const HOST_SERVE_THREADS = 4;
/** Runs by path, across all hosts of this process (tests and the benchmark read it). */
export declare const runPaths: {
    direct: number;
    framed: number;
};
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
    static start(exportDir: string, options: number | LoadOptions | undefined, tensorflow: Runtime, inlineOps: boolean, onExit: () => void, script?: string): Promise<{
        session: HostSession;
        loaded: HostLoaded;
    }>;
    plan(inputs: string[], outputs: string[]): NativePlan;
    run(plan: NativePlan, feeds: NativeTensors, timeoutMs?: number): Promise<NativeTensors>;
    runSync(): NativeTensors;
    /** Ends the host once its in-flight runs finished; resolves when it has exited. */
    close(): Promise<void>;
}
