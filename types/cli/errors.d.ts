/**
 * The CLI's own errors. Both are printed as one message (no stack) on stderr:
 * a UsageError (a bad flag or argument; exit 2) names the flag and the fix, a
 * CliError (the work failed; exit 1) says what failed and what to do.
 */
/**
 * A flag or argument that cannot work as given. Exit code 2. `help`: whether the command's
 * --help is worth pointing to (the CLI says so on a second line); false when what is wrong is a
 * file's contents or the machine (a config that does not parse, a port taken), which --help
 * does not describe.
 */
export declare class UsageError extends Error {
    readonly exitCode = 2;
    readonly help: boolean;
    constructor(message: string, help?: boolean);
}
/** The command could not do its job. Exit code 1. */
export declare class CliError extends Error {
    readonly exitCode: number;
    constructor(message: string, exitCode?: number);
}
/** Errors that are the user's situation rather than a bug in tfslice: printed without a stack. */
export declare function isExpected(error: unknown): error is Error;
