/** How many inputs and outputs a request may name before the rest of them is not read (signatureLimits()). */
export interface SignatureLimits {
    readonly inputs: number;
    readonly outputs: number;
}
