export declare const PIP_DEFAULT_VERSION = "2.21.0";
/** The newest official C archive we know of (they are not published for every release). */
export declare const ARCHIVE_DEFAULT_VERSION = "2.18.1";
export declare const ARCHIVE_DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/versions";
export interface InstallFlags {
    gpu?: boolean;
    from: string;
    version?: string;
    dir?: string;
    baseUrl?: string;
    python: string;
    dryRun?: boolean;
    force?: boolean;
    progress?: boolean;
    json?: boolean;
}
interface Plan {
    from: 'pip' | 'archive';
    version: string;
    gpu: boolean;
    dir: string;
    /** archive: the URL; pip: the requirement. */
    what: string;
    commands: string[][];
}
/** Everything the install will do, decided from the flags alone. */
export declare function plan(flags: InstallFlags): Plan;
export declare function installTensorflow(flags: InstallFlags): Promise<void>;
export {};
