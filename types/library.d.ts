export type LibrarySource = 'env' | 'python' | 'system';
/** The TensorFlow this process runs on. */
export interface Runtime {
    /** TF_Version(), e.g. "2.21.0". */
    readonly tensorflowVersion: string;
    /** The library that was dlopen'ed (a bare soname when the system loader found it). */
    readonly path: string;
    /** How it was found. */
    readonly source: LibrarySource;
}
/** Finds and loads libtensorflow off the event loop; later calls return the same runtime. */
export declare function loadTensorFlow(): Promise<Runtime>;
/**
 * The loaded TensorFlow. When none is loaded yet this finds and loads it
 * synchronously (blocking for the few hundred ms dlopen takes): prefer
 * `await loadTensorFlow()` in a server.
 */
export declare function runtime(): Runtime;
