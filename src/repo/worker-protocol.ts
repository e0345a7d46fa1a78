/** Messages between the main thread and blob workers. ArrayBuffers are transferred, never copied. */

/** Passed once at worker start. */
export interface WorkerData {
  encKey: Uint8Array;
  idKey: Uint8Array;
  level: number;
}

export type WorkerRequest =
  | { op: 'hash'; seq: number; chunk: ArrayBuffer }
  | { op: 'encode'; seq: number }
  | { op: 'drop'; seq: number }
  | { op: 'decode'; seq: number; id: string; sealed: ArrayBuffer };

export type WorkerReply =
  | { seq: number; id: string }
  | { seq: number; sealed: ArrayBuffer; rawLength: number }
  | { seq: number; plain: ArrayBuffer }
  | { seq: number; error: string; damaged: boolean };
