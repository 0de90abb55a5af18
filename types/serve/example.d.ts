import { type JsonValue } from './json';
/**
 * One serialized tf.Example from a JSON object of features.
 * @throws INVALID_ARGUMENT naming the feature, as TensorFlow Serving words it
 */
export declare function exampleFromJson(value: JsonValue): Uint8Array;
