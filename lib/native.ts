/**
 * The compiled addon (native/) and the shapes of what crosses into it. Loading
 * it needs no TensorFlow: the addon dlopens libtensorflow only when asked.
 */
import * as path from 'node:path';

/** A feed or output as the addon sees it: dtype is TensorFlow's DataType number. */
export interface NativeTensor {
  dtype: number;
  shape: number[];
  /** Typed array for numeric dtypes; strings packed as all bytes plus n+1 offsets. */
  data: ArrayBufferView | PackedStrings;
}

export interface PackedStrings {
  bytes: Uint8Array;
  offsets: Float64Array;
}

/** Opaque handle to resolved feeds and fetches (native RunPlan). */
export type NativePlan = { readonly __brand: 'NativePlan' };

export interface NativeSession {
  plan(inputs: string[], outputs: string[]): NativePlan;
  run(plan: NativePlan, feeds: NativeTensor[]): Promise<NativeTensor[]>;
  runSync(plan: NativePlan, feeds: NativeTensor[]): NativeTensor[];
  close(): Promise<void>;
}

export interface NativeDevice {
  name: string;
  type: string;
  memoryBytes: number;
}

export interface NativeLibraryInfo {
  path: string;
  tensorflowVersion: string;
}

export interface Binding {
  loadLibrary(path: string): Promise<NativeLibraryInfo>;
  loadLibrarySync(path: string): NativeLibraryInfo;
  runtime(): NativeLibraryInfo | null;
  loadSession(exportDir: string, tags: string[], config: Uint8Array | null): Promise<{
    session: NativeSession;
    metaGraph: Uint8Array;
    devices: NativeDevice[];
  }>;
  allocAligned(bytes: number): ArrayBuffer;
}

/** The package root (holds package.json, build/ and prebuilds/), from lib/ or dist/. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

let binding: Binding | undefined;

/** The addon for this environment; node-gyp-build picks a prebuild or build/Release. */
export function native(): Binding {
  if (!binding) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => Binding;
    binding = load(PACKAGE_ROOT);
  }
  return binding;
}
