/**
 * tf.Example from JSON, as TensorFlow Serving's Classify and Regress APIs build them
 * (tensorflow_serving/util/json_tensor.cc, MakeExampleFromJsonObject): each member of an
 * example object is a feature; a value or a list of values of one kind, decided by the first
 * element: an integer literal or a boolean is int64_list, a number written with a fraction or
 * exponent (or NaN, ±Infinity, or an integer past uint64 or below int64) is float_list, a string
 * or { "b64": ... } is bytes_list; an integer past int64 that a uint64 holds is refused.
 * Serialized with protobufjs, our own schema holding tensorflow/core/example's field numbers
 * (example.proto, feature.proto).
 */
import { type INamespace, Root, type Type } from 'protobufjs/light';

import { InvalidArgumentError } from '../errors';
import { lossyFloat } from '../values';
import { FloatLiteral, isObject, type JsonValue } from './json';

const SCHEMA = {
  nested: {
    tensorflow: {
      nested: {
        BytesList: { fields: { value: { rule: 'repeated', type: 'bytes', id: 1 } } },
        FloatList: { fields: { value: { rule: 'repeated', type: 'float', id: 1, options: { packed: true } } } },
        Int64List: { fields: { value: { rule: 'repeated', type: 'int64', id: 1, options: { packed: true } } } },
        Feature: {
          oneofs: { kind: { oneof: ['bytesList', 'floatList', 'int64List'] } },
          fields: {
            bytesList: { type: 'BytesList', id: 1 },
            floatList: { type: 'FloatList', id: 2 },
            int64List: { type: 'Int64List', id: 3 },
          },
        },
        Features: { fields: { feature: { keyType: 'string', type: 'Feature', id: 1 } } },
        Example: { fields: { features: { type: 'Features', id: 1 } } },
      },
    },
  },
};

const root = Root.fromJSON(SCHEMA as unknown as INamespace);
const Example: Type = root.lookupType('tensorflow.Example');

type Kind = 'int64' | 'float' | 'bytes';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function kindOf(value: JsonValue, name: string): Kind {
  if (typeof value === 'boolean') return 'int64';
  if (typeof value === 'bigint') {
    // As rapidjson reads them for TensorFlow Serving: an integer past int64 that fits a uint64
    // is refused; one past that (or below int64) is a double, a float feature.
    if (value > INT64_MAX && value <= UINT64_MAX) throw new InvalidArgumentError(`Feature: ${name} has uint64_t element. Only int64_t is supported (an int64_list holds -2^63 to 2^63-1; write ${value}.0 for a float_list)`);
    return value >= INT64_MIN && value <= INT64_MAX ? 'int64' : 'float';
  }
  if (typeof value === 'number') return Number.isInteger(value) ? 'int64' : 'float';
  if (value instanceof FloatLiteral) return 'float';
  if (typeof value === 'string' || (isObject(value) && isB64(value))) return 'bytes';
  const type = value === null ? 'Null' : Array.isArray(value) ? 'Array' : 'Object';
  throw new InvalidArgumentError(`Feature: ${name} has element with unexpected JSON type: ${type}`);
}

function isB64(value: { [key: string]: JsonValue }): value is { b64: string } {
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'b64' && typeof value.b64 === 'string';
}

function bytesOf(value: JsonValue, name: string): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  const text = (value as { b64: string }).b64;
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw new InvalidArgumentError(`Feature: ${name}: Unable to base64 decode ${JSON.stringify(text.slice(0, 40))}`);
  return Buffer.from(text, 'base64');
}

function feature(name: string, raw: JsonValue): Record<string, unknown> {
  const values = Array.isArray(raw) ? raw : [raw];
  if (values.length === 0) return {};
  const kind = kindOf(values[0]!, name);
  const out: (number | bigint | Uint8Array | string)[] = [];
  for (const value of values) {
    const k = kindOf(value, name);
    // Booleans and integers mix (int64); so do strings and b64. An integer literal in a float
    // list is refused, as TensorFlow Serving refuses it (2.0, not 2).
    if (k !== kind) throw new InvalidArgumentError(`Unexpected element type in feature: ${name} expecting type: ${kind}`);
    if (kind === 'int64') {
      out.push(typeof value === 'boolean' ? (value ? 1 : 0) : typeof value === 'bigint' ? value.toString() : (value as number));
    } else if (kind === 'float') {
      // A float_list holds float32: TensorFlow Serving's lossless rule applies.
      const lossy = lossyFloat('float32', value);
      if (lossy !== null) throw new InvalidArgumentError(`Feature: ${name}: ${lossy}`);
      out.push(Number(value));
    } else {
      out.push(bytesOf(value, name));
    }
  }
  if (kind === 'int64') return { int64List: { value: out } };
  if (kind === 'float') return { floatList: { value: out } };
  return { bytesList: { value: out } };
}

/**
 * One serialized tf.Example from a JSON object of features.
 * @throws INVALID_ARGUMENT naming the feature, as TensorFlow Serving words it
 */
export function exampleFromJson(value: JsonValue): Uint8Array {
  if (!isObject(value)) {
    const type = value === null ? 'Null' : Array.isArray(value) ? 'Array' : typeof value === 'string' ? 'String' : 'Number';
    throw new InvalidArgumentError(`Example must be JSON object but got JSON ${type}`);
  }
  const features = Object.create(null) as Record<string, Record<string, unknown>>; // the client's feature names
  for (const [name, raw] of Object.entries(value)) features[name] = feature(name, raw);
  return Example.encode(Example.fromObject({ features: { feature: features } })).finish();
}
