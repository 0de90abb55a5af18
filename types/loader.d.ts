/** One step the native loader runs: `target` with scalar string feeds ([name, value, ...]). */
export interface LoadStep {
    readonly feeds: readonly string[];
    readonly target: string;
    /** For errors: "restoring the variables", "running the init op ...". */
    readonly what: string;
}
/** What the native loader needs, and the MetaGraphDef it stands for. */
export interface LoadPlan {
    /** The meta graph's GraphDef as saved, but for nodes pinned to a device of the partition's type. */
    readonly graphDef: Uint8Array;
    /** The whole MetaGraphDef's bytes (what TF_LoadSessionFromSavedModel would hand back). */
    readonly metaGraph: Uint8Array;
    readonly steps: readonly LoadStep[];
}
/** The parts of a MetaGraphDef that list its assets. */
export interface AssetSource {
    assetFileDef?: {
        tensorInfo?: {
            name?: string;
        } | null;
        filename?: string;
    }[];
    collectionDef?: Record<string, {
        anyList?: {
            value?: {
                typeUrl?: string;
                value?: Uint8Array;
            }[];
        } | null;
    }>;
}
/**
 * The asset files (paths under assets/, normalized) that any meta graph of the SavedModel at
 * `exportDir` names: what TensorFlow's loader may open there. Empty when saved_model.pb cannot
 * be read or parsed (TensorFlow's load then fails on it first).
 */
export declare function namedAssetFiles(exportDir: string): Promise<ReadonlySet<string>>;
/**
 * Reads saved_model.pb and plans the load of the meta graph whose tag-set is `tags` onto
 * `device` (nodes saved pinned to a device of its type are moved onto it).
 * NOT_FOUND when there is no saved_model.pb or no such tag-set (naming the ones there),
 * UNIMPLEMENTED for a text-format saved_model.pbtxt, DATA_LOSS when it does not parse.
 */
export declare function planLoad(exportDir: string, tags: readonly string[], device: {
    name: string;
    type: 'GPU' | 'CPU';
}): Promise<LoadPlan>;
/**
 * Fails fast with UNAVAILABLE when nothing listens at a grpc://host:port target (TensorFlow
 * would retry until the session's operation timeout). A connection that neither opens nor fails
 * within `waitMs` is left to TensorFlow.
 */
export declare function checkReachable(target: string, waitMs?: number): Promise<void>;
