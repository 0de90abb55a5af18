/**
 * TensorFlow Serving's own model config file (--model_config_file): a ModelServerConfig in
 * protobuf text format, turned into a ModelManager configuration, so an existing TensorFlow
 * Serving config works unchanged:
 *
 *     model_config_list {
 *       config {
 *         name: "a"  base_path: "/models/a"  model_platform: "tensorflow"
 *         model_version_policy { latest { num_versions: 2 } }
 *         version_labels { key: "stable" value: 1 }
 *       }
 *     }
 *
 * Why our own parser: no maintained npm package reads protobuf text format (protobufjs reads
 * .proto and JSON, not text-format messages; prototxt-parser is an unmaintained Caffe reader).
 * This one is small and limited to what a ModelServerConfig holds: its schema (field names,
 * kinds and which repeat) is written out below from TensorFlow Serving's
 * tensorflow_serving/config/model_server_config.proto and
 * tensorflow_serving/sources/storage_path/file_system_storage_path_source.proto, and any other
 * field is an error naming its line.
 */
import type { BatchingOptions } from '../batching';
import { wholeExpected } from '../errors';
import type { ManagedModelConfig, ModelManagerConfig, VersionPolicy } from './config';

/** A text-format file that is not a ModelServerConfig, with the line and the fix. */
export class TextFormatError extends SyntaxError {
  /** The code every tfslice error has: the file is the caller's input. */
  readonly code = 'INVALID_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = 'TextFormatError';
  }
}

type Kind = 'string' | 'int' | 'double' | 'bool' | 'enum' | 'message' | 'map<string,int>';
interface Field {
  kind: Kind;
  repeated?: boolean;
  /** For enums: the value names, in the order of their numbers (0, 1, ...). */
  values?: readonly string[];
  /** For messages: the fields of the message type. */
  fields?: Schema;
}
type Schema = Readonly<Record<string, Field>>;

const SERVABLE_VERSION_POLICY: Schema = {
  latest: { kind: 'message', fields: { num_versions: { kind: 'int' } } },
  all: { kind: 'message', fields: {} },
  specific: { kind: 'message', fields: { versions: { kind: 'int', repeated: true } } },
};

const MODEL_CONFIG: Schema = {
  name: { kind: 'string' },
  base_path: { kind: 'string' },
  model_platform: { kind: 'string' },
  // Deprecated in TensorFlow Serving's model_server_config.proto, and still read there.
  model_type: { kind: 'enum', values: ['MODEL_TYPE_UNSPECIFIED', 'TENSORFLOW', 'OTHER'] },
  model_version_policy: { kind: 'message', fields: SERVABLE_VERSION_POLICY },
  version_labels: { kind: 'map<string,int>' },
  // Accepted and ignored, as tfslice has no request logging of TensorFlow Serving's kind
  // (logging_config.proto: LoggingConfig, LogCollectorConfig, SamplingConfig, every field;
  // custom_logging_config, a google.protobuf.Any, by its type_url and value).
  logging_config: {
    kind: 'message',
    fields: {
      log_collector_config: { kind: 'message', fields: { type: { kind: 'string' }, filename_prefix: { kind: 'string' } } },
      sampling_config: {
        kind: 'message',
        fields: {
          sampling_rate: { kind: 'double' },
          attributes: { kind: 'int' },
          per_task_sampling_configs: { kind: 'message', repeated: true, fields: { dc: { kind: 'string' }, task_index: { kind: 'int' }, sampling_rate: { kind: 'double' } } },
        },
      },
      custom_logging_config: { kind: 'message', fields: { type_url: { kind: 'string' }, value: { kind: 'string' } } },
    },
  },
};

const MODEL_SERVER_CONFIG: Schema = {
  model_config_list: { kind: 'message', fields: { config: { kind: 'message', repeated: true, fields: MODEL_CONFIG } } },
};

type Parsed = { [field: string]: ParsedValue };
type ParsedValue = string | number | bigint | boolean | Parsed | ParsedValue[];

class Tokens {
  readonly #text: string;
  #at = 0;
  constructor(text: string) {
    this.#text = text;
  }

  get line(): number {
    let line = 1;
    for (let i = 0; i < this.#at && i < this.#text.length; i++) if (this.#text.charCodeAt(i) === 10) line++;
    return line;
  }

  fail(message: string): never {
    throw new TextFormatError(`line ${this.line}: ${message}`);
  }

  #skip(): void {
    const text = this.#text;
    for (;;) {
      while (this.#at < text.length && /\s/.test(text[this.#at]!)) this.#at++;
      if (text[this.#at] !== '#') return;
      while (this.#at < text.length && text[this.#at] !== '\n') this.#at++;
    }
  }

  peek(): string {
    this.#skip();
    return this.#text[this.#at] ?? '';
  }

  take(char: string): boolean {
    if (this.peek() !== char) return false;
    this.#at++;
    return true;
  }

  expect(char: string, what: string): void {
    if (!this.take(char)) this.fail(`expected '${char}' ${what}, found ${this.#near()}`);
  }

  identifier(): string {
    this.#skip();
    const m = /[A-Za-z_][A-Za-z0-9_]*/y;
    m.lastIndex = this.#at;
    const found = m.exec(this.#text);
    if (!found) this.fail(`expected a field name, found ${this.#near()}`);
    this.#at += found[0].length;
    return found[0];
  }

  // A string: one or more quoted parts (adjacent ones join), with C escapes.
  string(field: string): string {
    let out = '';
    let parts = 0;
    while (this.peek() === '"' || this.peek() === "'") {
      const quote = this.#text[this.#at++]!;
      for (;;) {
        const c = this.#text[this.#at++];
        if (c === undefined || c === '\n') {
          this.#at--; // the line it is on, not the next
          this.fail(c === undefined ? 'an unterminated string' : "an unterminated string: a string ends on its line (write a line break as \\n, or give each line a string of its own: \"line 1\\n\" \"line 2\\n\")");
        }
        if (c === quote) break;
        if (c !== '\\') {
          out += c;
          continue;
        }
        const e = this.#text[this.#at++];
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '?': '?' };
        if (e !== undefined && simple[e] !== undefined) out += simple[e];
        else if (e !== undefined && /[0-7]/.test(e)) {
          let octal = e;
          while (octal.length < 3 && /[0-7]/.test(this.#text[this.#at] ?? '')) octal += this.#text[this.#at++];
          out += String.fromCharCode(parseInt(octal, 8));
        } else if (e === 'x') {
          const hex = /[0-9a-fA-F]{1,2}/y;
          hex.lastIndex = this.#at;
          const h = hex.exec(this.#text);
          if (!h) this.fail('a bad \\x escape');
          this.#at += h[0].length;
          out += String.fromCharCode(parseInt(h[0], 16));
        } else {
          this.fail(`an unknown escape \\${e ?? ''}`);
        }
      }
      parts++;
    }
    if (parts === 0) this.fail(`expected a quoted string for ${field}, found ${this.#near()}`);
    return out;
  }

  integer(field: string): number | bigint {
    this.#skip();
    const m = /[-+]?(0x[0-9a-fA-F]+|\d+)(?![\w.])/y;
    m.lastIndex = this.#at;
    const found = m.exec(this.#text);
    if (!found) this.fail(`expected an integer for ${field}, found ${this.#near()}`);
    this.#at += found[0].length;
    const value = BigInt(found[0].replace(/^\+/, ''));
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  // A double: decimal digits with a point and an exponent as the text format allows (`.01`,
  // `1e-3`, `2.5f`), or inf / nan.
  double(field: string): number {
    this.#skip();
    const m = /([-+]?)(inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?(?![\w.])/yi;
    m.lastIndex = this.#at;
    const found = m.exec(this.#text);
    if (!found) this.fail(`expected a number for ${field}, found ${this.#near()}`);
    this.#at += found[0].length;
    const body = found[2]!.toLowerCase();
    const value = body.startsWith('inf') ? Infinity : body === 'nan' ? NaN : Number(found[2]);
    return found[1] === '-' ? -value : value;
  }

  // Protobuf text format's booleans: true/false, True/False, t/f, 1/0.
  boolean(field: string): boolean {
    this.#skip();
    const m = /(true|True|t|1|false|False|f|0)(?![\w.])/y;
    m.lastIndex = this.#at;
    const found = m.exec(this.#text);
    if (!found) this.fail(`expected true or false for ${field}, found ${this.#near()}`);
    this.#at += found[0].length;
    return /^[tT1]/.test(found[0]);
  }

  // An enum value: its name, or its number (as text format allows); read as its name.
  enumValue(field: string, names: readonly string[]): string {
    this.#skip();
    const m = /([A-Za-z_]\w*|\d+)(?![\w.])/y;
    m.lastIndex = this.#at;
    const found = m.exec(this.#text);
    const name = found && (/^\d/.test(found[0]) ? names[Number(found[0])] : names.find((n) => n === found[0]));
    if (!found || !name) this.fail(`expected one of ${names.join(', ')} for ${field}, found ${this.#near()}`);
    this.#at += found[0].length;
    return name;
  }

  done(): boolean {
    return this.peek() === '';
  }

  // What stands where a value was expected: its token (a word, a number, a quoted string, or one
  // mark), at most 20 characters (helper-71: "found 'yes }'" named the rest of the line).
  #near(): string {
    const rest = this.#text.slice(this.#at, this.#at + 20).split('\n')[0]!;
    if (!rest) return 'the end of the file';
    return `'${/^(?:"[^"]*"?|'[^']*'?|[^\s,;:{}<>[\]]+|.)/.exec(rest)![0]}'`;
  }
}

// message := (field [',' | ';'])* ; a field is name ':' scalar, or name [':'] '{' message '}'
// (or '<' message '>'); a repeated one may also be a list: name ':' '[' scalars ']', or
// name [':'] '[' messages ']', either possibly empty.
function message(tokens: Tokens, schema: Schema, where: string, close: string): Parsed {
  const out: Parsed = {};
  for (;;) {
    if (close === '' ? tokens.done() : tokens.peek() === close) break;
    if (tokens.done()) tokens.fail(`missing '${close}' to close ${where}`);
    const name = tokens.identifier();
    const field = schema[name];
    if (!field) {
      const known = Object.keys(schema).join(', ');
      tokens.fail(`${where} has no field '${name}' (TensorFlow Serving's ${where.split('.')[0]} as tfslice reads it; its fields here are ${known || 'none'})`);
    }
    const values: ParsedValue[] = [];
    const colon = tokens.take(':');
    const repeated = field.repeated || field.kind === 'map<string,int>';
    // A list, `name: [a, b]` (for messages the colon is optional, and `[]` is an empty list).
    const list = (colon || field.kind === 'message' || field.kind === 'map<string,int>') && tokens.take('[');
    if (list && !repeated) tokens.fail(`${where}.${name} is not a repeated field: give one value, not a list`);
    if (!list || !tokens.take(']')) {
      if (field.kind === 'message' || field.kind === 'map<string,int>') {
        do {
          const open = tokens.take('{') ? '}' : tokens.take('<') ? '>' : tokens.fail(`expected '{' after ${name}`);
          if (field.kind === 'message') {
            values.push(message(tokens, field.fields!, `${where}.${name}`, open));
          } else {
            values.push(message(tokens, { key: { kind: 'string' }, value: { kind: 'int' } }, `${where}.${name}`, open));
          }
          tokens.expect(open, `to close ${name}`);
        } while (list && tokens.take(','));
      } else {
        if (!colon) tokens.fail(`expected ':' after ${name}`);
        do {
          const at = `${where}.${name}`;
          values.push(field.kind === 'string' ? tokens.string(at) : field.kind === 'bool' ? tokens.boolean(at) : field.kind === 'double' ? tokens.double(at) : field.kind === 'enum' ? tokens.enumValue(at, field.values!) : tokens.integer(at));
        } while (list && tokens.take(','));
      }
      if (list) tokens.expect(']', `to close the list of ${name}`);
    }
    if (repeated) {
      // Added to in place: copying the list at each item took 3 s for 20 000 configs (helper-less
      // fuzzing, session 57), and minutes for 100 000.
      const list = out[name] as ParsedValue[] | undefined;
      if (list === undefined) out[name] = values;
      else for (const value of values) list.push(value);
    } else {
      if (name in out || values.length > 1) tokens.fail(`${where}.${name} is given more than once`);
      out[name] = values[0]!;
    }
    if (!tokens.take(',')) tokens.take(';');
  }
  return out;
}

function safeInt(value: ParsedValue | undefined, where: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TextFormatError(`${where} must be ${wholeExpected(`an integer ≥ ${min}`, value)}, got ${String(value)}`);
  }
  return value;
}

function policy(parsed: Parsed | undefined, where: string): VersionPolicy | undefined {
  if (!parsed) return undefined;
  const kinds = Object.keys(parsed);
  if (kinds.length !== 1) throw new TextFormatError(`${where} needs exactly one of latest, all, specific; got ${kinds.join(', ') || 'none'}`);
  if (parsed.all) return 'all';
  if (parsed.latest) {
    const n = (parsed.latest as Parsed).num_versions;
    // TensorFlow Serving: num_versions 0 (unset) means 1.
    const count = n === undefined || n === 0 ? 1 : safeInt(n, `${where}.latest.num_versions`, 1);
    return count === 1 ? 'latest' : { latest: count };
  }
  const versions = ((parsed.specific as Parsed).versions as ParsedValue[] | undefined) ?? [];
  return { specific: versions.map((v, i) => safeInt(v, `${where}.specific.versions[${i}]`, 0)) };
}

/**
 * A ModelManager config error's message in TensorFlow Serving's field names, for a config that
 * came as a ModelServerConfig (the text-format file, a gRPC reload): `models[1].basePath` becomes
 * `${list}[1].base_path`, `config.models` becomes `list`.
 */
export function withProtoFieldNames(message: string, list: string): string {
  return message
    .replace(/\bconfig\.models\b/g, list)
    .replace(/\bmodels\[(\d+)\]/g, `${list}[$1]`)
    .replace(/\.basePath\b/g, '.base_path')
    .replace(/\.versionPolicy\.specific\[(\d+)\]/g, '.model_version_policy.specific.versions[$1]')
    .replace(/\.versionPolicy\.specific\b/g, '.model_version_policy.specific.versions')
    .replace(/\.versionPolicy\.latest\b/g, '.model_version_policy.latest.num_versions')
    .replace(/\.versionPolicy\b/g, '.model_version_policy')
    .replace(/\.versionLabels\b/g, '.version_labels');
}

/**
 * Reads TensorFlow Serving's model config (text-format ModelServerConfig) as a ModelManager
 * configuration: each `config` becomes a model with its name, base path, version policy and
 * version labels. `model_platform`, when given, must be "tensorflow". Relative base paths are
 * left as written (ModelManager resolves them; fromFile against the file's directory).
 *
 * @throws TextFormatError naming the line and the field
 */
export function parseModelServerConfig(text: string): ModelManagerConfig {
  const tokens = new Tokens(text);
  const root = message(tokens, MODEL_SERVER_CONFIG, 'ModelServerConfig', '');
  const list = root.model_config_list as Parsed | undefined;
  // No model_config_list at all is more likely a file that is not what was meant; an empty one,
  // `model_config_list {}`, is no model (yet), as TensorFlow Serving serves it.
  if (list === undefined) throw new TextFormatError('the config has no model_config_list { config { ... } }: write model_config_list {} for no model yet');
  const configs = (list.config as Parsed[] | undefined) ?? [];
  const models = configs.map((c, i): ManagedModelConfig => {
    const where = `model_config_list.config[${i}]`;
    if (typeof c.name !== 'string' || c.name === '') throw new TextFormatError(`${where}.name is missing`);
    if (typeof c.base_path !== 'string' || c.base_path === '') throw new TextFormatError(`${where} (${c.name}): base_path is missing`);
    // TensorFlow Serving's GetPlatform (server_core.cc): the deprecated model_type names the platform when model_platform does not.
    if (c.model_type !== undefined && c.model_type !== 'MODEL_TYPE_UNSPECIFIED') {
      if (c.model_platform !== undefined) throw new TextFormatError(`${where} (${c.name}): Illegal setting both model_type (deprecated) and model_platform; give model_platform: "tensorflow" alone`);
      if (c.model_type !== 'TENSORFLOW') throw new TextFormatError(`${where} (${c.name}): model_type ${String(c.model_type)} is not served by tfslice; it serves TENSORFLOW SavedModels (model_platform: "tensorflow")`);
    }
    if (c.model_platform !== undefined && c.model_platform !== 'tensorflow') {
      throw new TextFormatError(`${where} (${c.name}): model_platform "${String(c.model_platform)}" is not served by tfslice; it serves "tensorflow" SavedModels`);
    }
    const model: ManagedModelConfig = { name: c.name, basePath: c.base_path };
    const versionPolicy = policy(c.model_version_policy as Parsed | undefined, `${where}.model_version_policy`);
    if (versionPolicy !== undefined) model.versionPolicy = versionPolicy;
    const labels = c.version_labels as Parsed[] | undefined;
    if (labels?.length) {
      const versionLabels: Record<string, number> = {};
      for (const entry of labels) {
        if (typeof entry.key !== 'string') throw new TextFormatError(`${where}.version_labels needs a key`);
        versionLabels[entry.key] = safeInt(entry.value, `${where}.version_labels["${entry.key}"]`, 0);
      }
      model.versionLabels = versionLabels;
    }
    return model;
  });
  return { models };
}

// google.protobuf wrappers, as BatchingParameters holds its scalars: `max_batch_size { value: 8 }`.
const INT64_VALUE: Field = { kind: 'message', fields: { value: { kind: 'int' } } };
const BOOL_VALUE: Field = { kind: 'message', fields: { value: { kind: 'bool' } } };

// tensorflow_serving/servables/tensorflow/session_bundle_config.proto, BatchingParameters.
const BATCHING_PARAMETERS: Schema = {
  max_batch_size: INT64_VALUE,
  batch_timeout_micros: INT64_VALUE,
  max_enqueued_batches: INT64_VALUE,
  num_batch_threads: INT64_VALUE,
  // A name for TensorFlow Serving's thread pool: accepted and ignored (tfslice has no such pool).
  thread_pool_name: { kind: 'message', fields: { value: { kind: 'string' } } },
  enable_large_batch_splitting: BOOL_VALUE,
  max_execution_batch_size: INT64_VALUE,
  allowed_batch_sizes: { kind: 'int', repeated: true },
  pad_variable_length_inputs: { kind: 'bool' },
};

/** BatchingParameters' field for each of loadModel's batching options (to name them in errors about the file). */
export const BATCHING_FIELDS: Readonly<Record<keyof BatchingOptions, string>> = {
  maxBatchSize: 'max_batch_size', batchTimeoutMicros: 'batch_timeout_micros', maxEnqueuedBatches: 'max_enqueued_batches',
  numBatchThreads: 'num_batch_threads', enableLargeBatchSplitting: 'enable_large_batch_splitting', maxExecutionBatchSize: 'max_execution_batch_size',
  allowedBatchSizes: 'allowed_batch_sizes', padVariableLengthInputs: 'pad_variable_length_inputs',
};

/**
 * Reads TensorFlow Serving's batching parameters file (`--batching_parameters_file`: a
 * BatchingParameters message in text format) as loadModel's `batching` option:
 *
 *     max_batch_size { value: 32 }
 *     batch_timeout_micros { value: 1000 }
 *     num_batch_threads { value: 4 }
 *     allowed_batch_sizes: 8
 *     allowed_batch_sizes: 32
 *     pad_variable_length_inputs: true
 *
 * Values are checked by loadModel (resolveBatching), which names the option (BATCHING_FIELDS maps
 * it back). max_execution_batch_size counts only with enable_large_batch_splitting, as in TensorFlow Serving.
 *
 * @throws TextFormatError naming the line and the field
 */
export function parseBatchingParameters(text: string): BatchingOptions {
  const tokens = new Tokens(text);
  const p = message(tokens, BATCHING_PARAMETERS, 'BatchingParameters', '');
  const value = (name: string): number | boolean | undefined => {
    const field = p[name] as Parsed | undefined;
    if (field === undefined) return undefined;
    const v = field.value;
    if (typeof v === 'bigint') throw new TextFormatError(`BatchingParameters.${name} is too large: ${v}`);
    // An empty wrapper is the wrapper's default (0, false), as protobuf reads it.
    return (v as number | boolean | undefined) ?? (BATCHING_PARAMETERS[name] === BOOL_VALUE ? false : 0);
  };
  const out: Record<string, unknown> = {};
  for (const [option, proto] of Object.entries(BATCHING_FIELDS)) {
    if (proto === 'allowed_batch_sizes' || proto === 'pad_variable_length_inputs') continue;
    const v = value(proto);
    if (v !== undefined) out[option] = v;
  }
  // TensorFlow Serving reads max_execution_batch_size only with enable_large_batch_splitting.
  if (out.enableLargeBatchSplitting !== true) delete out.maxExecutionBatchSize;
  const sizes = p.allowed_batch_sizes as ParsedValue[] | undefined;
  if (sizes?.length) out.allowedBatchSizes = sizes.map((s, i) => safeInt(s, `BatchingParameters.allowed_batch_sizes[${i}]`, 1));
  if (p.pad_variable_length_inputs !== undefined) out.padVariableLengthInputs = p.pad_variable_length_inputs;
  return out as BatchingOptions;
}

// tensorflow_serving/config/monitoring_config.proto, MonitoringConfig.
const MONITORING_CONFIG: Schema = {
  prometheus_config: { kind: 'message', fields: { enable: { kind: 'bool' }, path: { kind: 'string' } } },
};

/** TensorFlow Serving's default Prometheus path (monitoring_config.proto, PrometheusConfig.path). */
export const PROMETHEUS_DEFAULT_PATH = '/monitoring/prometheus/metrics';

/**
 * Reads TensorFlow Serving's `--monitoring_config_file` (a MonitoringConfig message in text
 * format): whether Prometheus metrics are enabled, and their path (TensorFlow Serving's default
 * when empty).
 *
 *     prometheus_config {
 *       enable: true,
 *       path: "/monitoring/prometheus/metrics"
 *     }
 *
 * @throws TextFormatError naming the line and the field, or a path that does not start with '/'
 */
export function parseMonitoringConfig(text: string): { enable: boolean; path: string } {
  const tokens = new Tokens(text);
  const prometheus = (message(tokens, MONITORING_CONFIG, 'MonitoringConfig', '').prometheus_config ?? {}) as Parsed;
  const path = (prometheus.path as string | undefined) || PROMETHEUS_DEFAULT_PATH;
  if (!path.startsWith('/')) throw new TextFormatError(`prometheus_config.path must start with '/', got ${JSON.stringify(path)}`);
  return { enable: prometheus.enable === true, path };
}

// tensorflow_serving/config/ssl_config.proto, SSLConfig.
const SSL_CONFIG: Schema = {
  server_key: { kind: 'string' }, server_cert: { kind: 'string' }, custom_ca: { kind: 'string' }, client_verify: { kind: 'bool' },
};

/**
 * Reads TensorFlow Serving's `--ssl_config_file` (an SSLConfig message in text format; its
 * strings hold the PEM texts themselves, a line per adjacent string or with `\n` escapes):
 *
 *     server_key: "-----BEGIN PRIVATE KEY-----\n"
 *                 "MIIEv...\n"
 *                 "-----END PRIVATE KEY-----\n"
 *     server_cert: "-----BEGIN CERTIFICATE-----\n..."
 *     custom_ca: "..."
 *     client_verify: true
 *
 * What is in the PEM texts is checked by sslServerCredentials (tfslice/serve).
 * @throws TextFormatError naming the line and the field
 */
export function parseSslConfig(text: string): { serverKey: string; serverCert: string; customCa: string; clientVerify: boolean } {
  const parsed = message(new Tokens(text), SSL_CONFIG, 'SSLConfig', '') as Parsed;
  return {
    serverKey: (parsed.server_key as string | undefined) ?? '',
    serverCert: (parsed.server_cert as string | undefined) ?? '',
    customCa: (parsed.custom_ca as string | undefined) ?? '',
    clientVerify: parsed.client_verify === true,
  };
}
