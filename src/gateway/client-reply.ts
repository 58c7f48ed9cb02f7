import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TokenmeterError } from '../errors.js';
import { sendError } from './send-error.js';

/**
 * The client's side of a relayed call. The answer's head is written with its first byte (or at
 * its end), not when the backend's headers arrive: until then an upstream failure can still be
 * answered with a proper error status instead of a 200 cut short.
 */
export class ClientReply {
  /** The client closed the connection before the response was finished. */
  gone = false;
  readonly #res: ServerResponse;
  readonly #backpressure: (full: boolean) => void;
  #status = 0;
  #headers: OutgoingHttpHeaders | undefined;
  #waitingForDrain = false;

  /** `backpressure(true)` when the client's buffer is full (pause the upstream), `false` when it drained. */
  constructor(res: ServerResponse, backpressure: (full: boolean) => void) {
    this.#res = res;
    this.#backpressure = backpressure;
  }

  /** Whether any byte of the answer (its head included) has gone to the client. */
  get started(): boolean {
    return this.#res.headersSent;
  }

  /** The head to send with the first byte. */
  setHead(status: number, headers: OutgoingHttpHeaders): void {
    this.#status = status;
    this.#headers = headers;
  }

  /** Sends bytes; a slow client pauses the upstream read instead of growing the gateway's memory. */
  write(chunk: Buffer): void {
    if (this.gone || chunk.length === 0) return;
    this.#open();
    if (this.#res.write(chunk) || this.#waitingForDrain) return;
    this.#waitingForDrain = true;
    this.#backpressure(true);
    this.#res.once('drain', this.#drained);
  }

  /** Ends the response, with its last bytes if any. */
  end(tail: Buffer | undefined): void {
    if (this.gone) return;
    this.#open();
    this.#res.end(tail);
  }

  /** Sends the bytes left and cuts the connection, as the upstream cut its answer. */
  cut(tail: Buffer | undefined): void {
    if (this.gone) return;
    if (tail !== undefined) this.write(tail);
    this.#res.destroy();
  }

  /** Answers with a catalogue error if nothing was sent yet; otherwise the response can only be cut. */
  fail(err: TokenmeterError): void {
    if (this.gone) return;
    sendError(this.#res, err);
  }

  #open(): void {
    if (!this.#res.headersSent && this.#headers !== undefined)
      this.#res.writeHead(this.#status, this.#headers);
  }

  readonly #drained = (): void => {
    this.#waitingForDrain = false;
    this.#backpressure(false);
  };
}
