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
export class FloatLiteral extends Number {}

/** A parsed JSON value: numbers past 2^53 that were written as integers are bigints. */
export type JsonValue = null | boolean | number | bigint | string | FloatLiteral | JsonValue[] | { [key: string]: JsonValue };

/** Malformed JSON, with where. */
export class JsonSyntaxError extends Error {}

const WHITESPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WHITESPACE[c] = 1;
const NUMBER_END = /[\s,\]}]|$/y;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Depth past which nesting is refused: no tensor has more than 254 dimensions. */
export const MAX_DEPTH = 512;

/**
 * Parses `text` (a request body) as TensorFlow Serving's JSON.
 * @throws JsonSyntaxError naming what was found where
 */
export function parseJson(input: string | Uint8Array): JsonValue {
  let text: string;
  try {
    text = typeof input === 'string' ? input : decoder.decode(input);
  } catch {
    throw new JsonSyntaxError('the body is not valid UTF-8');
  }
  let at = 0;
  const n = text.length;
  const fail = (what: string): never => {
    const near = text.slice(at, at + 20).replace(/\s+/g, ' ');
    throw new JsonSyntaxError(`${what} at offset ${at}${at < n ? ` (near "${near}")` : ' (the end of the body)'}`);
  };
  const skip = () => {
    while (at < n) {
      const c = text.charCodeAt(at);
      if (c < 256 && WHITESPACE[c]) at++;
      else break;
    }
  };
  const string = (): string => {
    at++; // the opening quote
    let out = '';
    let start = at;
    for (;;) {
      if (at >= n) fail('an unterminated string');
      const c = text.charCodeAt(at);
      if (c === 0x22) {
        out += text.slice(start, at);
        at++;
        return out;
      }
      if (c < 0x20) fail('a control character in a string');
      if (c !== 0x5c) {
        at++;
        continue;
      }
      out += text.slice(start, at);
      const e = text[at + 1];
      at += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = text.slice(at, at + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('a bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          at += 4;
          break;
        }
        default:
          at -= 2;
          fail('a bad escape');
      }
      start = at;
    }
  };
  const number = (): number | bigint | FloatLiteral => {
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (!m) return fail('a malformed number');
    const raw = m[0];
    NUMBER_END.lastIndex = at + raw.length;
    if (!NUMBER_END.test(text)) fail('a malformed number');
    at += raw.length;
    const value = Number(raw);
    if (m[1] !== undefined || m[2] !== undefined) return Number.isInteger(value) ? new FloatLiteral(value) : value;
    return Number.isSafeInteger(value) ? value : BigInt(raw);
  };
  const word = (token: string, value: JsonValue): JsonValue => {
    if (text.startsWith(token, at)) {
      at += token.length;
      return value;
    }
    return fail('an unexpected token');
  };
  const scalar = (): JsonValue => {
    const c = text[at];
    if (c === '"') return string();
    if (c === 't') return word('true', true);
    if (c === 'f') return word('false', false);
    if (c === 'n') return word('null', null);
    if (c === 'N') return word('NaN', NaN);
    if (c === 'I') return word('Infinity', Infinity);
    if (c === '-' && text[at + 1] === 'I') return word('-Infinity', -Infinity);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    return fail(at >= n ? 'an incomplete value' : 'an unexpected character');
  };

  // The containers being filled, innermost last: an array, or an object with the key whose value comes next.
  const stack: { node: JsonValue[] | Record<string, JsonValue>; key: string | null }[] = [];
  let result: JsonValue | undefined;
  const place = (value: JsonValue) => {
    const top = stack[stack.length - 1];
    if (!top) {
      result = value;
    } else if (Array.isArray(top.node)) {
      top.node.push(value);
    } else {
      top.node[top.key!] = value;
    }
  };
  const open = (node: JsonValue[] | Record<string, JsonValue>) => {
    if (stack.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    place(node);
    stack.push({ node, key: null });
  };

  skip();
  // Expecting a value (possibly the first of a container).
  let expectValue = true;
  for (;;) {
    if (expectValue) {
      skip();
      const c = text[at];
      if (c === '[') {
        at++;
        open([]);
        skip();
        if (text[at] === ']') {
          at++;
          stack.pop();
          expectValue = false;
        }
        continue;
      }
      if (c === '{') {
        at++;
        const node: Record<string, JsonValue> = Object.create(null) as Record<string, JsonValue>;
        open(node);
        skip();
        if (text[at] === '}') {
          at++;
          stack.pop();
          expectValue = false;
          continue;
        }
        if (text[at] !== '"') fail('an object key that is not a string');
        const key = string();
        skip();
        if (text[at] !== ':') fail("a missing ':' after an object key");
        at++;
        stack[stack.length - 1]!.key = key;
        continue;
      }
      place(scalar());
      expectValue = false;
      continue;
    }
    // After a value: a separator, a closing bracket, or the end.
    skip();
    const top = stack[stack.length - 1];
    if (!top) break;
    const c = text[at];
    if (Array.isArray(top.node)) {
      if (c === ',') {
        at++;
        expectValue = true;
      } else if (c === ']') {
        at++;
        stack.pop();
      } else {
        fail("a missing ',' or ']' in an array");
      }
      continue;
    }
    if (c === ',') {
      at++;
      skip();
      if (text[at] !== '"') fail('an object key that is not a string');
      const key = string();
      skip();
      if (text[at] !== ':') fail("a missing ':' after an object key");
      at++;
      top.key = key;
      expectValue = true;
    } else if (c === '}') {
      at++;
      stack.pop();
    } else {
      fail("a missing ',' or '}' in an object");
    }
  }
  if (at < n) fail('more after the JSON value');
  return result as JsonValue;
}

/** Whether a parsed value is a JSON object (not an array, not null). */
export function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof FloatLiteral);
}
