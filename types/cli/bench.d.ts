import { type ModelFlags } from './common';
import { type InputArg } from './inputs';
export interface BenchFlags extends ModelFlags {
    signature?: string;
    batch: number;
    concurrency: number;
    duration?: number;
    iterations?: number;
    warmup: number;
    shape: Record<string, number[]>;
    input: InputArg[];
    json?: boolean;
    progress?: boolean;
}
/** commander's collector for a repeatable --shape key=d0,d1,… */
export declare function collectShape(text: string, previous?: Record<string, number[]>): Record<string, number[]>;
export declare function bench(dir: string, flags: BenchFlags): Promise<void>;
