import type { SignatureInfo } from '../proto';
import type { Tensor } from '../tensor';
export interface InputArg {
    key: string;
    value: string;
}
/** commander's collector for a repeatable --input. */
export declare function collectInput(text: string, previous?: InputArg[]): InputArg[];
/** Formats a signature's inputs for messages: "a (float32 [2]), b (float32 [3])". */
export declare function describeInputs(signature: SignatureInfo): string;
/** [-1, 4], or "unknown rank". */
export declare function formatShape(shape: readonly number[] | null): string;
/** Every input of `signature` from the --input arguments; each must be given exactly once. */
export declare function readInputs(args: readonly InputArg[], signature: SignatureInfo, signatureName: string, options?: {
    partial?: boolean;
}): Record<string, Tensor>;
