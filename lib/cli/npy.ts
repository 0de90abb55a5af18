/**
 * NumPy .npy files (format versions 1, 2 and 3): read into a Tensor, write a Tensor.
 * Numeric dtypes numpy can store: <f2 (float16, as raw bits) <f4 <f8 |i1 <i2 <i4 <i8
 * |u1 <u2 <u4 <u8 |b1, either byte order, C or Fortran order. Strings and bfloat16
 * (which has no numpy dtype) are not .npy material: the CLI carries them as JSON.
 */
import { dtypeInfo, type NumericDType } from '../dtypes';
import { elementCount, Tensor } from '../tensor';
import { withArticle } from '../errors';
import { UsageError } from './errors';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

const BY_CODE: Record<string, NumericDType> = {
  f2: 'float16', f4: 'float32', f8: 'float64',
  i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
  u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64',
  b1: 'bool',
};
const CODE_OF = Object.fromEntries(Object.entries(BY_CODE).map(([code, dtype]) => [dtype, code])) as Record<NumericDType, string>;

/** Whether `bytes` start like a .npy file. */
export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && Buffer.from(bytes.subarray(0, MAGIC.length)).equals(MAGIC);
}

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

function parseHeader(text: string, where: string): Header {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined) {
    if (/'descr'\s*:\s*\[/.test(text)) throw new UsageError(`${where}: structured (record) arrays are not supported; save a plain numeric array`);
    throw new UsageError(`${where}: not a .npy header I can read: ${text.trim()}`);
  }
  if (fortran === undefined || shape === undefined) throw new UsageError(`${where}: not a .npy header I can read: ${text.trim()}`);
  const dims = shape.split(',').map((d) => d.trim()).filter((d) => d !== '').map(Number);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new UsageError(`${where}: bad shape (${shape}) in the .npy header`);
  return { descr, fortranOrder: fortran === 'True', shape: dims };
}

function dtypeOf(descr: string, where: string): { dtype: NumericDType; swap: boolean } {
  const order = descr[0] ?? '';
  const code = '<>|='.includes(order) ? descr.slice(1) : descr;
  const dtype = BY_CODE[code];
  if (dtype) return { dtype, swap: order === '>' && code[1] !== '1' };
  const kind = code[0];
  if (kind === 'U' || kind === 'S' || kind === 'O') {
    throw new UsageError(`${where}: a ${descr} (string/object) array; give strings as JSON instead, e.g. key='["a","b"]' or key=file.json`);
  }
  if (kind === 'V' && code === 'V2') {
    throw new UsageError(`${where}: dtype ${descr} (raw 2-byte values, e.g. bfloat16 from ml_dtypes) has no numpy dtype tfslice can trust; give bfloat16 values as JSON numbers`);
  }
  throw new UsageError(`${where}: unsupported .npy dtype ${descr}; supported: ${Object.keys(BY_CODE).join(' ')} (float16 is f2)`);
}

// Fortran order (first index fastest) to C order (last index fastest), element-wise.
function fortranToC(bytes: Uint8Array, shape: readonly number[], size: number): Uint8Array {
  const n = elementCount(shape);
  const out = new Uint8Array(bytes.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let c = 0; c < n; c++) {
    let f = 0;
    let stride = 1;
    for (let k = 0; k < shape.length; k++) {
      f += index[k]! * stride;
      stride *= shape[k]!;
    }
    out.set(bytes.subarray(f * size, f * size + size), c * size);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++index[k]! < shape[k]!) break;
      index[k] = 0;
    }
  }
  return out;
}

/** Parses .npy bytes; `where` names the file in errors. */
export function readNpy(bytes: Uint8Array, where: string): Tensor {
  if (!isNpy(bytes)) throw new UsageError(`${where}: not a .npy file (no \\x93NUMPY magic)`, false);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) throw new UsageError(`${where}: .npy format version ${major} is not supported (1, 2 and 3 are)`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.length) throw new UsageError(`${where}: truncated .npy header`);
  const header = parseHeader(Buffer.from(bytes.subarray(start, start + headerLength)).toString(major === 3 ? 'utf8' : 'latin1'), where);
  const { dtype, swap } = dtypeOf(header.descr, where);
  const info = dtypeInfo(dtype)!;
  const n = elementCount(header.shape);
  const dataStart = start + headerLength;
  if (bytes.length - dataStart < n * info.bytes) {
    throw new UsageError(`${where}: truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${n * info.bytes} bytes of data, the file has ${bytes.length - dataStart}`, false);
  }
  let data: Uint8Array = new Uint8Array(bytes.subarray(dataStart, dataStart + n * info.bytes)); // a copy: aligned, and ours
  if (swap) {
    for (let i = 0; i < data.length; i += info.bytes) data.subarray(i, i + info.bytes).reverse();
  }
  if (header.fortranOrder && header.shape.length > 1) data = fortranToC(data, header.shape, info.bytes);
  return new Tensor(dtype, new info.array!(data.buffer, 0, n) as never, header.shape);
}

/** Whether a tensor of this dtype can be written as .npy. */
export function npyCanHold(dtype: string): dtype is NumericDType {
  return dtype in CODE_OF;
}

/** .npy bytes (version 1, or 2 for a huge header) of a numeric tensor other than bfloat16. */
export function writeNpy(tensor: Tensor): Uint8Array {
  if (!npyCanHold(tensor.dtype)) throw new UsageError(`${withArticle(tensor.dtype)} tensor cannot be stored as .npy`);
  const code = CODE_OF[tensor.dtype];
  const order = code.endsWith('1') ? '|' : '<';
  const dims = tensor.shape.length === 1 ? `${tensor.shape[0]},` : tensor.shape.join(', ');
  let header = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic, version and length, header, padding spaces, '\n': a multiple of 64 bytes.
  let version = 1;
  let prefix = 10;
  if (header.length + 1 + prefix > 0xffff) {
    version = 2;
    prefix = 12;
  }
  header += ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(prefix + header.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), prefix);
  const data = tensor.data as ArrayBufferView;
  return Buffer.concat([out, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]);
}
