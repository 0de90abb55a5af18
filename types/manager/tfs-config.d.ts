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
import type { ModelManagerConfig } from './config';
/** A text-format file that is not a ModelServerConfig, with the line and the fix. */
export declare class TextFormatError extends SyntaxError {
    /** The code every tfslice error has: the file is the caller's input. */
    readonly code = "INVALID_ARGUMENT";
    constructor(message: string);
}
/**
 * A ModelManager config error's message in TensorFlow Serving's field names, for a config that
 * came as a ModelServerConfig (the text-format file, a gRPC reload): `models[1].basePath` becomes
 * `${list}[1].base_path`, `config.models` becomes `list`.
 */
export declare function withProtoFieldNames(message: string, list: string): string;
/**
 * Reads TensorFlow Serving's model config (text-format ModelServerConfig) as a ModelManager
 * configuration: each `config` becomes a model with its name, base path, version policy and
 * version labels. `model_platform`, when given, must be "tensorflow". Relative base paths are
 * left as written (ModelManager resolves them; fromFile against the file's directory).
 *
 * @throws TextFormatError naming the line and the field
 */
export declare function parseModelServerConfig(text: string): ModelManagerConfig;
/** BatchingParameters' field for each of loadModel's batching options (to name them in errors about the file). */
export declare const BATCHING_FIELDS: Readonly<Record<keyof BatchingOptions, string>>;
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
export declare function parseBatchingParameters(text: string): BatchingOptions;
/** TensorFlow Serving's default Prometheus path (monitoring_config.proto, PrometheusConfig.path). */
export declare const PROMETHEUS_DEFAULT_PATH = "/monitoring/prometheus/metrics";
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
export declare function parseMonitoringConfig(text: string): {
    enable: boolean;
    path: string;
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
export declare function parseSslConfig(text: string): {
    serverKey: string;
    serverCert: string;
    customCa: string;
    clientVerify: boolean;
};
