// Hand-written declarations for http-transport.js. Keep in step with the JS.

import type { ServerEvent } from "./client.js";

/** The value of the `csrftoken` cookie (Django asks for it on session-authenticated writes). */
export declare function csrfToken(cookies?: string): string;

/** This page's origin ("" where there is no page). */
export declare function defaultBase(location?: Pick<Location, "protocol" | "host">): string;

export interface HttpTransportOptions {
  /** The origin the requests go to (default: this page's). */
  base?: string;
  /** The path where the project mounts taskgate's HTTP URLs, ending in "/" (default "/"). */
  apiBase?: string;
  fetchImpl?: typeof fetch;
  EventSourceImpl?: { new (url: string, init?: EventSourceInit): EventSource };
  /** The page's cookies (for the CSRF token). */
  cookies?: () => string;
}

/** A refusal from the HTTP API. */
export interface HttpRefusal extends Error {
  code: string;
  details: Array<{ field: string; message: string }> | null;
}

/** The HTTP + Server-Sent Events fallback: `${apiBase}api/jobs`, `.../cancel`, `.../events`. */
export declare class HttpTransport {
  constructor(options?: HttpTransportOptions);
  base: string;
  /** Always ends in "/". */
  apiBase: string;
  fetchImpl: typeof fetch;
  EventSourceImpl: { new (url: string, init?: EventSourceInit): EventSource };
  cookies: () => string;
  /** POST `${apiBase}api/jobs`: resolves with the `accepted` frame, rejects with an HttpRefusal. */
  submit(job: string, params?: Record<string, unknown>): Promise<ServerEvent & { job_id: string }>;
  /** POST `${apiBase}api/jobs/{id}/cancel`. */
  cancel(jobId: string): Promise<unknown>;
  /** Follow `${apiBase}api/jobs/{id}/events?after=...`; close the stream after the job's end. */
  watch(jobId: string, after: number, onFrame: (frame: ServerEvent) => void): { close(): void };
}
