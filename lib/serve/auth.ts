/**
 * Bearer-token authentication for the server (REST: `Authorization: Bearer <token>`; gRPC: the
 * same in the `authorization` metadata, as gRPC's own call credentials send it). Tokens are
 * compared in constant time: each presented token is hashed (SHA-256) and compared with every
 * configured token's hash by crypto.timingSafeEqual, so neither a token's bytes nor its length
 * leak through the time an answer takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readConfigText } from '../manager/config';

/** Who may call the server. */
export interface AuthOptions {
  /** Accepted bearer tokens (several, so one can be rotated in before the old one goes). */
  readonly tokens: readonly string[];
  /**
   * Health endpoints answer without a token, so probes need none: REST /v2/health/live and
   * /v2/health/ready, gRPC grpc.health.v1.Health and KServe's ServerLive/ServerReady. Default true.
   */
  readonly openHealth?: boolean;
}

// A token is what an HTTP header can carry after "Bearer ": RFC 6750's b64token characters.
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** Checks bearer tokens; built once per server. */
export class BearerAuth {
  /** AuthOptions.openHealth as given, default true: health endpoints answer without a token. */
  readonly openHealth: boolean;
  readonly #digests: readonly Buffer[];

  /** @throws TypeError (ERR_INVALID_ARG_TYPE) when there is no token, or one HTTP cannot carry */
  constructor(options: AuthOptions) {
    const tokens = options.tokens;
    if (!Array.isArray(tokens) || tokens.length === 0) throw typeError('auth.tokens must be a non-empty array of tokens');
    tokens.forEach((token, i) => {
      if (typeof token !== 'string' || !TOKEN.test(token)) {
        throw typeError(`auth.tokens[${i}] must be a bearer token (letters, digits and - . _ ~ + /, then = padding)`);
      }
    });
    this.#digests = tokens.map(digest);
    this.openHealth = options.openHealth ?? true;
  }

  /** Whether an Authorization header value ("Bearer <token>") carries an accepted token. */
  accepts(header: string | undefined): boolean {
    const match = header === undefined ? null : BEARER.exec(header);
    const presented = digest(match ? match[1]! : '');
    let ok = false;
    // Every configured token is compared, whichever matches: the time does not say which.
    for (const expected of this.#digests) ok = timingSafeEqual(presented, expected) || ok;
    return ok && match !== null;
  }
}

function typeError(message: string): TypeError {
  const error = new TypeError(message);
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

/**
 * The tokens of a token file (`tfslice serve --auth_token_file`): one per line; blank lines and
 * lines starting with # are skipped.
 * @throws Error naming the file when it holds no token or a line is not a token; RangeError
 *   (ERR_FS_FILE_TOO_LARGE) past 16 MiB; Node's own errors (ENOENT, EACCES, ...) when it cannot be read
 */
export async function readTokenFile(file: string): Promise<string[]> {
  const text = await readConfigText(file);
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!TOKEN.test(line)) throw new Error(`${file}:${i + 1} is not a bearer token (letters, digits and - . _ ~ + /, then = padding)`);
    tokens.push(line);
  });
  if (tokens.length === 0) throw new Error(`${file} holds no token (one per line)`);
  return tokens;
}
