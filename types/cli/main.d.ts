/** Runs the CLI on process.argv-style arguments; resolves to the exit code. */
export declare function main(argv: readonly string[]): Promise<number>;
