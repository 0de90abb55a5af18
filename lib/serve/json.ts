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

// The class of a parsed JSON object: its prototype is empty and has none itself, so a client's
// keys ('__proto__', 'constructor', 'toString') are its own properties and no key reads a member
// of Object.prototype. Unlike Object.create(null), whose objects V8 keeps as hash tables from the
// start (196 bytes an empty one, against 36 here), its objects have hidden classes: ten million
// `{}` in a 28 MiB body took a codec thread 2.2 GiB.
const JsonObject = function JsonObject() {} as unknown as new () => Record<string, JsonValue>;
JsonObject.prototype = Object.freeze(Object.create(null) as object);

const WHITESPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WHITESPACE[c] = 1;
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i); // each exact in a double
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
          const unit = (from: number): number => {
            const hex = text.slice(from, from + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('a bad \\u escape');
            return parseInt(hex, 16);
          };
          const code = unit(at);
          at += 4;
          // UTF-16 surrogates come in pairs: one alone is no character, and would reach the model
          // as U+FFFD's bytes (helper-93); RapidJSON, TensorFlow Serving's parser, refuses it too.
          if (code >= 0xdc00 && code <= 0xdfff) fail('a \\u escape of a lone low surrogate (send raw bytes as {"b64": ...})');
          if (code >= 0xd800 && code <= 0xdbff) {
            const low = text.startsWith('\\u', at) ? unit(at + 2) : -1;
            if (low < 0xdc00 || low > 0xdfff) fail('a \\u escape of a lone high surrogate (send raw bytes as {"b64": ...})');
            out += String.fromCharCode(code, low);
            at += 6;
            break;
          }
          out += String.fromCharCode(code);
          break;
        }
        default:
          at -= 2;
          fail('a bad escape');
      }
      start = at;
    }
  };
  // A number by char codes. Up to 15 significant digits and a power of ten within 10^±22, the
  // value is the digits' integer times or over an exact power of ten: one correctly rounded
  // operation on exact operands, so the same double as Number(text) (Clinger's fast path);
  // anything else goes through Number() on the text.
  const number = (): number | bigint | FloatLiteral => {
    const start = at;
    const malformed = (): never => {
      at = start;
      return fail('a malformed number');
    };
    let c = text.charCodeAt(at);
    const negative = c === 0x2d;
    if (negative) c = text.charCodeAt(++at);
    let mantissa = 0;
    let count = 0; // significant digits taken into mantissa
    let scale = 0; // mantissa × 10^scale is the value
    let exact = true; // false past 15 significant digits
    if (c === 0x30) {
      c = text.charCodeAt(++at); // a lone leading 0
    } else if (c >= 0x31 && c <= 0x39) {
      do {
        if (count < 15) {
          mantissa = mantissa * 10 + (c - 0x30);
          count++;
        } else {
          exact = false;
        }
        c = text.charCodeAt(++at);
      } while (c >= 0x30 && c <= 0x39);
    } else {
      malformed();
    }
    let float = false;
    if (c === 0x2e) { // .
      c = text.charCodeAt(++at);
      if (!(c >= 0x30 && c <= 0x39)) malformed();
      do {
        if (count < 15) {
          if (mantissa !== 0 || c !== 0x30) count++;
          mantissa = mantissa * 10 + (c - 0x30);
          scale--;
        } else if (c !== 0x30) {
          exact = false;
        }
        c = text.charCodeAt(++at);
      } while (c >= 0x30 && c <= 0x39);
      float = true;
    }
    if (c === 0x65 || c === 0x45) { // e E
      c = text.charCodeAt(++at);
      const minus = c === 0x2d;
      if (minus || c === 0x2b) c = text.charCodeAt(++at);
      if (!(c >= 0x30 && c <= 0x39)) malformed();
      let exponent = 0;
      do {
        if (exponent < 100_000) exponent = exponent * 10 + (c - 0x30);
        c = text.charCodeAt(++at);
      } while (c >= 0x30 && c <= 0x39);
      scale += minus ? -exponent : exponent;
      float = true;
    }
    // What may follow a number: whitespace, a separator, a closing bracket, or the end.
    if (at < n && c !== 0x2c && c !== 0x5d && c !== 0x7d && !(c < 256 && WHITESPACE[c])) malformed();
    let value: number;
    if (exact && scale === 0) value = negative ? -mantissa : mantissa;
    else if (exact && scale > 0 && scale <= 22) value = (negative ? -mantissa : mantissa) * POWERS_OF_TEN[scale]!;
    else if (exact && scale < 0 && scale >= -22) value = (negative ? -mantissa : mantissa) / POWERS_OF_TEN[-scale]!;
    else value = Number(text.slice(start, at));
    // rapidjson's kParseErrorNumberTooBig: only the bare tokens are infinite.
    if (!Number.isFinite(value)) {
      at = start;
      fail('a number too big to be stored in a double');
    }
    if (float) return Number.isInteger(value) ? new FloatLiteral(value) : value;
    return Number.isSafeInteger(value) ? value : BigInt(text.slice(start, at));
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

  // An object's key and its colon. A key the object already has is refused: which of the two
  // counts differs between parsers (rapidjson, which TensorFlow Serving uses, finds the first;
  // JSON.parse keeps the last), so a proxy and this server could read one body two ways.
  const key = (node: Record<string, JsonValue>): string => {
    if (text[at] !== '"') fail('an object key that is not a string');
    const start = at;
    const name = string();
    if (name in node) {
      at = start;
      fail(`the key ${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)} given twice in one object`);
    }
    skip();
    if (text[at] !== ':') fail("a missing ':' after an object key");
    at++;
    return name;
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
        const node = new JsonObject();
        open(node);
        skip();
        if (text[at] === '}') {
          at++;
          stack.pop();
          expectValue = false;
          continue;
        }
        stack[stack.length - 1]!.key = key(node);
        continue;
      }
      const top = stack[stack.length - 1];
      if (top !== undefined && Array.isArray(top.node)) {
        // The body of a tensor: values of one array, read in one loop until a nested container.
        const array = top.node;
        for (;;) {
          array.push(scalar());
          skip();
          const after = text.charCodeAt(at);
          if (after === 0x5d) { // ]
            at++;
            stack.pop();
            break;
          }
          if (after !== 0x2c) fail("a missing ',' or ']' in an array");
          at++;
          skip();
          const next = text.charCodeAt(at);
          if (next === 0x5b || next === 0x7b) break; // [ { : the container opens next time round
        }
        expectValue = text.charCodeAt(at - 1) !== 0x5d;
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
      top.key = key(top.node);
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
