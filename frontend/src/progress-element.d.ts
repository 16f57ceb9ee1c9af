// Hand-written declarations for progress-element.js. Keep in step with the JS.

import type {
  ClientStatus,
  JobError,
  JobHandle,
  JobState,
  Progress,
  Refusal,
  TaskgateClient,
  TaskgateClientOptions,
} from "./client.js";

export declare const TAG_NAME: "taskgate-progress";

/** What `data-state` says: a job state, "pending" before the first frame, "gone" when refused. */
export type ShownState = JobState | "pending" | "gone";

export declare const STATE_LABELS: Readonly<Record<ShownState, string>>;

/** What the element shows for a job (the pure half of the element). */
export interface ProgressView {
  jobId: string;
  job: string | null;
  state: ShownState;
  /** In words: "Queued", "Running", "Done", "Failed", ... */
  label: string;
  /** 0 to 100 (a tenth), or null: an indeterminate bar. */
  percent: number | null;
  percentText: string;
  message: string;
  /** "3,200 rows/s" (with the progress's `unit`), "12.5/s", or "". */
  rate: string;
  /** "about 12 s left" / "about 3 min left", or "". */
  eta: string;
  /** "no progress for 45 s" while the job is stalled, else "". */
  stalled: string;
  /** The time of a stalled job's last progress (ISO 8601), else null. */
  stalledSince: string | null;
  result: { json: string; artifact: { href: string; name: string } | null } | null;
  /** "Type: message" of a failure. */
  error: string | null;
  /** A refusal ("forbidden", "not_found", ...) or the connection's state, in words. */
  notice: string;
  errorCode: string | null;
}

export interface ProgressViewInput {
  jobId?: string;
  job?: string | null;
  state?: JobState | null;
  progress?: Progress | null;
  result?: unknown;
  error?: JobError | null;
  stalledSince?: string | null;
  refusal?: Refusal | null;
  status?: ClientStatus | null;
  apiBase?: string;
  /** The time "no progress for N s" counts to (ms since the epoch; default now). */
  now?: number;
}

export declare function progressView(input?: ProgressViewInput): ProgressView;
export declare function formatEta(seconds: number | null | undefined): string;
export declare function formatRate(rate: number | null | undefined, unit?: string | null): string;
export declare function stalledText(since: string | null | undefined, now?: number): string;
export declare function shortJson(value: unknown, limit?: number): string;
export declare function barPercent(state: JobState | null, progress: Progress | null): number | null;

/**
 * The page's shared client for a socket URL (made on first use with `options`; its jobs are
 * not kept in sessionStorage). Closed when the last element using it leaves the page.
 */
export declare function sharedClient(
  url: string,
  options?: TaskgateClientOptions,
): TaskgateClient;

/**
 * `<taskgate-progress job-id="..." api-base="/taskgate/" socket-path="/ws/jobs/">`: a live
 * bar for one job, rendered in the light DOM (classes `taskgate-*`); reflects the job on
 * `data-state`, `data-percent` (absent while the total is unknown) and `data-error`.
 */
export declare class TaskgateProgress extends HTMLElement {
  static observedAttributes: string[];
  /** A client to use instead of the shared one (set before the element is connected). */
  client: TaskgateClient | null;
  /** The `job-id` attribute. */
  readonly jobId: string;
  /** The `api-base` attribute, ending in "/" (default "/"). */
  readonly apiBase: string;
  /** The ws(s):// URL from the `socket-path` attribute (default "/ws/jobs/"). */
  readonly socketUrl: string;
  /** The job shown, while connected to the page. */
  readonly handle: JobHandle | null;
  readonly view: ProgressView;
  connectedCallback(): void;
  disconnectedCallback(): void;
  attributeChangedCallback(name: string, previous: string | null, value: string | null): void;
  render(): void;
}

/** Register the element (once; false where it already is or there is no registry). */
export declare function define(name?: string, registry?: CustomElementRegistry | null): boolean;

declare global {
  interface HTMLElementTagNameMap {
    "taskgate-progress": TaskgateProgress;
  }
}
