import { TensorFlowError } from './errors';
/**
 * Which ops a model may reach. `'serve'` refuses the file-system and process ops no
 * inference needs (SERVE_DENIED_OPS); `{ deny }` refuses the op types listed; `{ allow }`
 * refuses every op type not listed; `'none'` checks nothing. Op type names are TensorFlow's
 * (NodeDef.op), e.g. 'ReadFile'.
 */
export type OpPolicy = 'serve' | 'none' | {
    /** Op types refused (NodeDef.op names, e.g. 'ReadFile'); every other is allowed. */
    readonly deny: readonly string[];
} | {
    /** The only op types allowed (NodeDef.op names); every other is refused. */
    readonly allow: readonly string[];
};
/**
 * The ops `opPolicy: 'serve'` refuses, with the reason an error gives. TensorFlow's
 * file-system ops (io_ops, dataset readers and writers, summary and debug writers,
 * checkpoint ops outside the restore op), the ops that call out of the graph (py_func,
 * RemoteCall) or run a graph the check cannot see (DatasetFromGraph), and Abort. Besides these,
 * PrintV2 is refused when its output_stream is a file (`file://...`) or set by an attribute
 * placeholder, DecodeProtoV2/EncodeProto when their descriptor_source is a file, and
 * FixedUnigramCandidateSampler when it reads a vocab_file. A list of
 * names cannot know every op (custom op libraries least of all): where that matters, use
 * `{ allow }`, which refuses whatever it does not name.
 */
export declare const SERVE_DENIED_OPS: Readonly<Record<string, string>>;
/** What TensorFlow runs of a SavedModel: a signature, the init op at load, the saver's restore op at load. */
export type EntryKind = 'signature' | 'init' | 'restore';
/**
 * Why opPolicy 'serve' refuses op type `op` when an entry of `kind` reaches it (e.g. 'reads
 * files'), or null; for the restore and init ops' own file ops, null stands for "when they read
 * what the loader feeds", which the check itself traces.
 */
export declare function serveRefusal(kind: EntryKind, op: string): string | null;
/** One entry point and the op types it reaches, each with the first path found to it. */
export interface EntryOps {
    /** 'signature' for a signature, 'init' for the init op (the saved_model_main_op or legacy_init_op collection's, or TF2's __saved_model_init_op), 'restore' for the variables' restore op. */
    readonly kind: EntryKind;
    /** The signature's name; the op's node name for 'init' and 'restore'. */
    readonly name: string;
    /** Op type → the steps from the entry to a node of that type, e.g. ["output 'y'", "node 'MatMul' (MatMul)"]. */
    readonly ops: ReadonlyMap<string, readonly string[]>;
}
/** Where an entry is described in messages: "signature 'x'", "the init op 'main_op'". */
export declare function entryLabel(entry: {
    kind: EntryKind;
    name: string;
}): string;
/**
 * The op types each entry of the meta graph with tag-set `tags` reaches (`tfslice show --ops`).
 * @param savedModel the bytes of saved_model.pb
 * @returns null when no meta graph has that tag-set
 * @throws ERR_INVALID_ARG_TYPE (`savedModel` not a Uint8Array, `tags` not an array of strings),
 *   INVALID_ARGUMENT (bytes that are no SavedModel protobuf)
 */
export declare function reachedOps(savedModel: Uint8Array, tags: readonly string[]): EntryOps[] | null;
/**
 * PERMISSION_DENIED: the model reaches an op its opPolicy refuses. `op`, `entry` and `path`
 * name the first one found; the message lists the others.
 */
export declare class PermissionDeniedError extends TensorFlowError {
    /** Always 'PERMISSION_DENIED'. */
    readonly code: 'PERMISSION_DENIED';
    /** The refused op type, e.g. 'ReadFile'; '' when what is refused is an asset file that leads outside the SavedModel. */
    readonly op: string;
    /** What reaches it: "signature 'read_file'", "the init op 'main_op'", ... */
    readonly entry: string;
    /** The steps from the entry to the node (outputs, nodes, functions). */
    readonly path: readonly string[];
    /** The fields as documented above, for the first refused op found. */
    constructor(message: string, op: string, entry: string, path: readonly string[]);
}
/**
 * Checks the meta graph of saved_model.pb bytes that TensorFlow would load for `tags` against
 * `policy`. Does nothing for 'none' or when no meta graph has that tag-set (TensorFlow then
 * fails the load itself).
 *
 * @throws PermissionDeniedError (PERMISSION_DENIED) naming the op, the entry that reaches it
 *   and the path, with the model's directory `exportDir` and how to allow it
 */
export declare function checkOpPolicy(savedModel: Uint8Array, tags: readonly string[], policy: OpPolicy, exportDir: string): void;
/** checkOpPolicy on the MetaGraphDef bytes TF_LoadSessionFromSavedModel returned (what it did load). */
export declare function checkLoadedMetaGraph(metaGraph: Uint8Array, policy: OpPolicy, exportDir: string): void;
/**
 * Validates an opPolicy value.
 * @throws TypeError (ERR_INVALID_ARG_TYPE) naming `field` and what it accepts
 */
export declare function resolveOpPolicy(value: unknown, field: string): OpPolicy;
/**
 * Graph bytes up to this size are checked on the calling thread; bigger ones on a worker
 * thread, so a load never stalls the event loop for long. The cost is per node, about 3 µs
 * (measured: 150 000 of the smallest nodes, 4 MiB, took 500 ms): 256 KiB of the smallest nodes
 * is about 30 ms, of ordinary ones (shapes, dtypes, names in their attributes) a few ms.
 */
export declare const INLINE_CHECK_BYTES: number;
/**
 * What the worker (lib/ops-worker.ts) is given and answers: an op policy check, or (`custom`
 * set) the outputs that reach no keyed wait (outputsWithoutKeyedWaits).
 */
export type OpsJob = {
    readonly bytes: Uint8Array;
    readonly loaded: boolean;
    readonly tags: readonly string[];
    readonly policy: OpPolicy;
    readonly exportDir: string;
    readonly custom?: undefined;
} | {
    readonly bytes: Uint8Array;
    readonly custom: readonly string[];
};
export type OpsAnswer = null | {
    denied: true;
    message: string;
    op: string;
    entry: string;
    path: string[];
} | {
    denied: false;
    message: string;
} | {
    calm: string[];
};
/** Runs a job here; the worker runs the same. */
export declare function runOpsJob(job: OpsJob): OpsAnswer;
/**
 * Checks the SavedModel at `exportDir` against `policy` before TensorFlow reads it (loadModel
 * calls this). TensorFlow reads saved_model.pb first and falls back to other encodings, which
 * this check does not read: a model that has only those is refused under a policy.
 *
 * @throws PermissionDeniedError (PERMISSION_DENIED) when the model reaches a refused op, or has
 *   no saved_model.pb to check; InvalidArgumentError when saved_model.pb cannot be decoded
 */
export declare function checkSavedModelOps(exportDir: string, tags: readonly string[], policy: OpPolicy): Promise<void>;
/**
 * Checks the MetaGraphDef TF_LoadSessionFromSavedModel returned, the graph TensorFlow did load:
 * a saved_model.pb replaced between checkSavedModelOps and TensorFlow's own read is caught here
 * for its signatures (its init op has run by then).
 * @throws PermissionDeniedError, InvalidArgumentError as checkSavedModelOps
 */
export declare function checkLoadedOps(metaGraph: Uint8Array, policy: OpPolicy, exportDir: string): Promise<void>;
/**
 * The first op type in a serialized MetaGraphDef that may loop or block (above): in its graph's
 * nodes or in any function of its library, whether or not a signature reaches it; null when none
 * does. `custom`: op types of loaded op libraries, counted as such. Reads only the op fields,
 * skipping the rest (tensor contents, attributes) by their lengths, so a graph of hundreds of
 * megabytes costs no decoding; it yields to the event loop every SCAN_NODES_PER_TURN nodes (a
 * graph of 200 000 nodes takes ~100 ms). Never rejects: a malformed message counts as one whose
 * ops may loop ('unreadable graph').
 */
export declare function loopingOrBlockingOp(metaGraph: Uint8Array, custom?: ReadonlySet<string>): Promise<string | null>;
/**
 * The first op type in a serialized MetaGraphDef whose wait TensorFlow cancels by the step's
 * cancellation manager address (KEYED_WAIT_NAMES), or of a loaded op library (`custom`); null
 * when none. Read as loopingOrBlockingOp reads.
 */
export declare function keyedWaitOp(metaGraph: Uint8Array, custom?: ReadonlySet<string>): Promise<string | null>;
/**
 * loopingOrBlockingOp and keyedWaitOp of one MetaGraphDef in one pass over its nodes (a graph
 * that loops is read once, not twice, when a session is opened).
 */
export declare function loopingAndKeyedWaitOps(metaGraph: Uint8Array, custom?: ReadonlySet<string>): Promise<{
    loopingOrBlocking: string | null;
    keyedWait: string | null;
}>;
/**
 * The output tensors of a serialized MetaGraphDef's signatures from which no op waiting keyed by
 * the step's cancellation manager can be reached (as keyedWaitOp judges an op type: a loaded op
 * library's ops count as waiting), walking back from each signature's outputs as the op policy
 * walks (inputs, control inputs, every function a node calls, whole). A signature that reaches
 * one counts whole, all of its outputs left out. Tensor names as the SignatureDef spells them
 * and as a feed is spelled ("node:0"). Runs that fetch only these may enter TensorFlow at any
 * stack address (native/session.cc, AtFreshStackDepth), whatever else the graph holds. Graphs
 * over INLINE_CHECK_BYTES are read on a worker thread; an unreadable one has none.
 */
export declare function outputsWithoutKeyedWaits(metaGraph: Uint8Array, custom?: ReadonlySet<string>): Promise<string[]>;
