/**
 * JSON as TensorFlow Serving reads and writes it, which JSON.parse and JSON.stringify cannot:
 * the bare tokens NaN, Infinity and -Infinity are numbers (rapidjson's kParseNanAndInfFlag,
 * which TensorFlow Serving's REST server sets), an integer past 2^53 keeps every digit (a
 * bigint, so an int64 is exact), and a number written with a fraction or an exponent stays
 * known as one even when its value is whole (`2.0` is not an int32, as TensorFlow Serving
 * refuses it). Written out, tensors keep those properties (see lib/serve/tfs.ts).
 *
 * Why our own: JSON.parse turns 9007199254740993 into ...992 and refuses NaN; lossless-json
 * and json-bigint keep digits but refuse NaN/Infinity; JSON5 takes NaN but rounds integers.
 * The parser is iterative (a request nested 100 000 deep cannot exhaust the stack), bounded by
 * the body limit the server sets, and reports the position of the first error.
 */
/** A number written with a fraction or an exponent whose value is whole (`2.0`, `1e3`): a float, never an integer. */
export declare class FloatLiteral extends Number {
}
/** A parsed JSON value: numbers past 2^53 that were written as integers are bigints. */
export type JsonValue = null | boolean | number | bigint | string | FloatLiteral | JsonValue[] | {
    [key: string]: JsonValue;
};
/** Malformed JSON, with where. */
export declare class JsonSyntaxError extends Error {
}
/** Depth past which nesting is refused: no tensor has more than 254 dimensions. */
export declare const MAX_DEPTH = 512;
/**
 * Parses `text` (a request body) as TensorFlow Serving's JSON.
 * @throws JsonSyntaxError naming what was found where
 */
export declare function parseJson(input: string | Uint8Array): JsonValue;
/** Whether a parsed value is a JSON object (not an array, not null). */
export declare function isObject(value: JsonValue | undefined): value is {
    [key: string]: JsonValue;
};
