import type { Command } from 'commander';
/** The flags, as commander names them (tensorflow_model_server's names, underscores kept). */
export interface ServeFlags {
    model_config_file?: string;
    model_name?: string;
    model_base_path?: string;
    gpu_memory_fraction?: number;
    isolation?: 'none' | 'process';
    rest_api_port: number;
    rest_api_host: string;
    rest_api_timeout_in_ms: number;
    file_system_poll_wait_seconds?: number;
    model_config_file_poll_wait_seconds?: number;
    rest_api_max_body_bytes: number;
    offload_bytes: number;
    codec_threads?: number;
    shutdown_grace_period_seconds: number;
    enable_batching?: boolean;
    rest_api_enable_cors_support?: boolean;
    enable_model_warmup: boolean;
    num_request_iterations_for_warmup: number;
    strict_readiness: boolean;
    saved_model_tags?: string[];
    monitoring_config_file?: string;
    enable_signature_method_name_check?: boolean;
    allow_version_labels_for_unavailable_models?: boolean;
    ssl_config_file?: string;
    grpc_channel_arguments?: Record<string, number | string>;
    batching_parameters_file?: string;
    port: number;
    enable_serialization_as_tensor_content?: boolean;
    op_policy: 'serve' | 'none';
    auth_token_file?: string;
    auth_protect_health?: boolean;
    tensorflow_intra_op_parallelism?: number;
    tensorflow_inter_op_parallelism?: number;
    tensorflow_session_parallelism?: number;
    host_hang_timeout_ms?: number;
    rest_api_read_timeout_ms: number;
    rest_api_keep_alive_timeout_ms: number;
    rest_api_header_timeout_ms: number;
    rest_api_max_header_bytes: number;
    rest_api_max_connections: number;
    max_queued_requests_per_model: number;
    grpc_max_message_bytes: number;
    grpc_read_timeout_ms: number;
    grpc_max_connections: number;
}
/** Adds `serve` to the program. */
export declare function serveCommand(cli: Command, done: (code: number) => void): void;
/** Runs the server until a signal stops it; resolves to the exit code. */
export declare function serve(flags: ServeFlags): Promise<number>;
