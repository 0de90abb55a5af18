/** What current.json records about the active install. */
export interface CachedInstall {
    /** The libtensorflow file to dlopen. */
    library: string;
    /** How it was provisioned. */
    from: 'pip' | 'archive';
    /** TF_Version() of the library, checked when it was installed. */
    version: string;
    /** A CUDA build (tensorflow[and-cuda] or the GPU archive) was asked for. */
    gpu: boolean;
    /** The install's directory. */
    dir: string;
}
/** The cache root (not created). */
export declare function cacheHome(env?: NodeJS.ProcessEnv): string;
/** <cache>/tensorflow/current.json. */
export declare function currentInstallFile(env?: NodeJS.ProcessEnv): string;
/** The recorded install, or why there is none usable (for the library's "tried" list). */
export declare function readCurrentInstall(env?: NodeJS.ProcessEnv): {
    install: CachedInstall;
} | {
    problem: string;
};
