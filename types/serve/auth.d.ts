/** Who may call the server. */
export interface AuthOptions {
    /** Accepted bearer tokens (several, so one can be rotated in before the old one goes). */
    readonly tokens: readonly string[];
    /**
     * Health endpoints answer without a token, so probes need none: REST /v2/health/live and
     * /v2/health/ready, gRPC grpc.health.v1.Health and KServe's ServerLive/ServerReady. Default true.
     */
    readonly openHealth?: boolean;
}
/** Checks bearer tokens; built once per server. */
export declare class BearerAuth {
    #private;
    /** AuthOptions.openHealth as given, default true: health endpoints answer without a token. */
    readonly openHealth: boolean;
    /** @throws TypeError (ERR_INVALID_ARG_TYPE) when there is no token, or one HTTP cannot carry */
    constructor(options: AuthOptions);
    /** Whether an Authorization header value ("Bearer <token>") carries an accepted token. */
    accepts(header: string | undefined): boolean;
}
/**
 * The tokens of a token file (`tfslice serve --auth_token_file`): one per line; blank lines and
 * lines starting with # are skipped.
 * @throws Error naming the file when it holds no token or a line is not a token; RangeError
 *   (ERR_FS_FILE_TOO_LARGE) past 16 MiB; Node's own errors (ENOENT, EACCES, ...) when it cannot be read
 */
export declare function readTokenFile(file: string): Promise<string[]>;
