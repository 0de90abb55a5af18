import type { VersionPolicy } from './config';
/**
 * Which of the candidate versions (ascending) a policy serves. The manager passes the versions
 * it may load: under 'latest' and `{ latest: n }` it leaves out those that failed with the files
 * they have now, so that the next older ones are chosen in their place.
 */
export declare function selectVersions(policy: VersionPolicy, candidates: readonly number[]): number[];
