// Hand-written declarations for client.js (and what it re-exports). Keep in step with the JS.

import type { HttpTransport } from "./http-transport.js";

export { HttpTransport } from "./http-transport.js";

/** The state of a job, as the wire protocol names it. */
export type JobState = "queued" | "running" | "retrying" | "success" | "failure" | "cancelled";

export type ClientStatus = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export type Transport = "websocket" | "sse";

/** Everything the protocol's error events and refusals may carry as `code` (plus the client's own). */
export type ErrorCode =
  | "invalid_json"
  | "invalid_message"
  | "unknown_job"
  | "invalid_params"
  | "not_found"
  | "unauthorized"
  | "forbidden"
  | "rate_limited"
  | "limit_exceeded"
  | "unavailable"
  | "too_large"
  | "disconnected"
  | "timeout"
  | (string & {});

export interface Progress {
  current: number;
  total: number | null;
  /** 0 to 100, or null while the total is unknown. */
  percent: number | null;
  message: string;
  /** Units of `current` per second (smoothed). */
  rate?: number | null;
  /** Seconds left until `total`; null while unknown. */
  eta?: number | null;
  /** What `current` counts ("rows"), when the job said. */
  unit?: string;
  /** The usual seconds between two of the job's reports (smoothed). */
  interval?: number | null;
}

export interface JobError {
  /** The exception's type; "lost" when the worker running the job died. */
  type: string;
  message: string;
  /** The failed part of a composite job. */
  part?: string;
}

export interface Artifact {
  name: string;
  content_type?: string;
  bytes?: number;
  sha256?: string;
}

/** One part of a composite job. */
export interface Part {
  name: string;
  job: string;
  job_id: string;
  weight: number;
  state: JobState;
  progress: Progress | null;
  /** The highest fraction (0 to 1) of the part done so far. */
  done: number;
}

/** A frame from the server (see the wire contract); only the common fields are typed. */
export interface ServerEvent {
  event: string;
  job_id?: string;
  seq?: number;
  ts?: string;
  ref?: string;
  [field: string]: unknown;
}

/** A refusal of a request about a job. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** `job_id` → what the client knows of the job (sequence.js's view). */
export interface JobView {
  jobId: string;
  job: string | null;
  state: JobState | null;
  seq: number;
  progress: Progress | null;
  result: unknown;
  error: JobError | null;
  ts: string | null;
  parts: Part[] | null;
  /** Running but silent: the time of its last progress (ISO 8601), else null. */
  stalledSince: string | null;
}

export interface StatusEvent {
  status: ClientStatus;
  /** Milliseconds until the next attempt, while reconnecting. */
  retryIn: number | null;
  transport: Transport;
}

/** The small event emitter both classes use: on() returns a function that removes the listener. */
export declare class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  on<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): () => void;
  off<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): void;
  emit<K extends keyof Events & string>(name: K, ...args: Events[K]): void;
}

export interface JobHandleEvents {
  event: [event: ServerEvent];
  state: [state: JobState, previous: JobState | null, event: ServerEvent];
  progress: [progress: Progress, event: ServerEvent];
  parts: [parts: Part[], event: ServerEvent];
  stalled: [since: string | null, event: ServerEvent];
  success: [result: unknown, event: ServerEvent];
  failure: [error: JobError, event: ServerEvent];
  cancelled: [event: ServerEvent];
  error: [refusal: Refusal];
}

/** One job as the client sees it. Made by the client (submit, watch, restore), not by hand. */
export declare class JobHandle extends Emitter<JobHandleEvents> {
  constructor(client: TaskgateClient, jobId: string, options?: { job?: string | null; startedAt?: number });
  readonly client: TaskgateClient;
  readonly jobId: string;
  view: JobView;
  /** When the tab saw the job start, ms since the epoch. */
  startedAt: number;
  /** When it ended (from the server's timestamp), or null. */
  finishedAt: number | null;
  /** The server answered not_found or forbidden: the job expired or is not ours. */
  gone: boolean;
  readonly job: string | null;
  readonly state: JobState | null;
  readonly seq: number;
  readonly progress: Progress | null;
  readonly result: unknown;
  readonly error: JobError | null;
  /** A composite job's parts (null for a single job). */
  readonly parts: Part[] | null;
  /** Running but silent: the time of its last progress (ISO 8601), else null. */
  readonly stalledSince: string | null;
  readonly terminal: boolean;
  /** `${apiBase}api/jobs/{id}/artifact` once the result names a file, else null. */
  readonly artifactUrl: string | null;
  cancel(): void;
  forget(): void;
  /** Apply a server event; returns whether it changed anything. */
  apply(event: ServerEvent): boolean;
  refuse(error: Refusal): void;
}

/** One entry of `invalid_params`' details ("params" for the whole object). */
export interface FieldProblem {
  field: string;
  message: string;
}

/** A refused request: `code` is the protocol's error code ("disconnected", "timeout" are ours). */
export declare class TaskgateError extends Error {
  constructor(code: ErrorCode, message: string, details?: unknown);
  name: "TaskgateError";
  code: ErrorCode;
  /** For invalid_params: one entry per field. */
  details: FieldProblem[] | null;
}

export interface StoredJob {
  jobId: string;
  job: string | null;
  startedAt: number;
}

/** The tab's job ids in sessionStorage (`null` storage keeps none). */
export declare class SessionJobs {
  constructor(storage?: Pick<Storage, "getItem" | "setItem"> | null, key?: string);
  storage: Pick<Storage, "getItem" | "setItem"> | null;
  key: string;
  list(): StoredJob[];
  add(jobId: string, job?: string | null, startedAt?: number): void;
  get(jobId: string): StoredJob | null;
  remove(jobId: string): void;
}

/** Reconnect delays: exponential backoff with full jitter. */
export declare class Backoff {
  constructor(options?: { base?: number; cap?: number; random?: () => number });
  base: number;
  cap: number;
  random: () => number;
  attempt: number;
  next(): number;
  reset(): void;
}

export interface TaskgateClientOptions {
  /**
   * The path where the project mounts taskgate's HTTP URLs, ending in "/" (default "/"):
   * the fallback posts to `${apiBase}api/jobs`, artifact links are `${apiBase}api/jobs/{id}/artifact`.
   */
  apiBase?: string;
  /** The WebSocket path on this page's host (default "/ws/jobs/"); used when `url` is not given. */
  socketPath?: string;
  /** The full ws(s):// URL of the v1 endpoint (default: `socketPath` on location.host). */
  url?: string;
  WebSocketImpl?: { new (url: string): WebSocket };
  storage?: SessionJobs;
  backoff?: Backoff;
  /** ms (default 15000). */
  pingInterval?: number;
  /** ms (default 10000). */
  pongTimeout?: number;
  /** ms (default 15000). */
  requestTimeout?: number;
  /** WebSocket attempts in a row that never open before falling back to SSE (default 3). */
  sseAfterFailures?: number;
  /** The fallback transport (default `new HttpTransport({apiBase})` where EventSource exists, else null). */
  http?: HttpTransport | null;
}

export interface TaskgateClientEvents {
  status: [event: StatusEvent];
  job: [handle: JobHandle];
  forget: [jobId: string];
  message: [frame: ServerEvent];
}

export declare class TaskgateClient extends Emitter<TaskgateClientEvents> {
  constructor(options?: TaskgateClientOptions);
  /** Always ends in "/". */
  readonly apiBase: string;
  readonly socketPath: string;
  readonly url: string;
  readonly jobs: Map<string, JobHandle>;
  readonly status: ClientStatus;
  readonly transport: Transport;
  storage: SessionJobs;
  backoff: Backoff;
  http: HttpTransport | null;
  pingInterval: number;
  pongTimeout: number;
  requestTimeout: number;
  sseAfterFailures: number;
  /** Open the socket; it stays open (reconnecting by itself) until close(). */
  connect(): this;
  /** Close for good; pending submits are rejected with `disconnected`. */
  close(): void;
  /** A handle for every job id kept in sessionStorage. */
  restore(): JobHandle[];
  /** A handle for a job by id (watched now, and again after every reconnect). */
  watch(jobId: string, options?: { job?: string | null; startedAt?: number }): JobHandle;
  /** Resolves with the job's handle once accepted; rejects with a TaskgateError. */
  submit(job: string, params?: Record<string, unknown>): Promise<JobHandle>;
  cancel(jobId: string): void;
  forget(jobId: string): void;
  /** `${apiBase}api/jobs/{id}/artifact`. */
  artifactUrl(jobId: string): string;
}

/** The ws(s):// URL of `socketPath` (default "/ws/jobs/") on the page's host. */
export declare function defaultUrl(
  location?: Pick<Location, "protocol" | "host">,
  socketPath?: string,
): string;

export declare const DEFAULT_API_BASE: "/";
export declare const DEFAULT_SOCKET_PATH: "/ws/jobs/";
/** `value` as an API base ending in "/" (empty or missing: `fallback`, "/" by default). */
export declare function normalizeBase(value: string | null | undefined, fallback?: string): string;
/** `${apiBase}api/jobs/{id}/artifact`. */
export declare function artifactUrl(jobId: string, apiBase?: string): string;
/** The ws(s):// URL of `socketPath` on `location`'s host (a ws(s):// `socketPath` as it is). */
export declare function socketUrl(socketPath?: string, location?: Pick<Location, "protocol" | "host">): string;
