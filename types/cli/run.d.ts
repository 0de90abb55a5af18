import { type ModelFlags } from './common';
import { type InputArg } from './inputs';
export interface RunFlags extends ModelFlags {
    input: InputArg[];
    signature?: string;
    outputs?: string[];
    outDir?: string;
    json?: boolean;
}
export declare function run(dir: string, flags: RunFlags): Promise<void>;
