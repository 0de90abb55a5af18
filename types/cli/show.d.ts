import { type MetaGraphSummary } from '../proto';
export interface ShowFlags {
    tags?: string[];
    signature?: string;
    json?: boolean;
    /** Also the op types each entry reaches (lib/ops.ts). */
    ops?: boolean;
}
type Shown = MetaGraphSummary & {
    defaultSignature: string | null;
};
/** The meta graphs and signatures `flags` select. */
export declare function selectMetaGraphs(dir: string, flags: ShowFlags): Shown[];
export declare function show(dir: string, flags: ShowFlags): void;
export {};
