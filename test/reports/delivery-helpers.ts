import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One MIME leaf part of a received message, its body decoded. */
export interface MimePart {
  contentType: string;
  filename: string | undefined;
  body: string;
}

/** A received message: its envelope recipients and decoded leaf parts. */
export interface ReceivedMail {
  to: string;
  parts: MimePart[];
}

function headerValue(head: string, name: string): string {
  // Header lines may be folded (continuation lines start with whitespace).
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line === undefined ? '' : line.slice(name.length + 1).trim();
}

function decode(body: string, encoding: string): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable')
    return Buffer.from(
      body
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    ).toString('utf8');
  return body;
}

/** The leaf parts of a MIME entity (multipart bodies are split on their boundary, recursively). */
export function mimeParts(entity: string): MimePart[] {
  const split = entity.search(/\r?\n\r?\n/);
  const head = split < 0 ? entity : entity.slice(0, split);
  const body = split < 0 ? '' : entity.slice(split).replace(/^\r?\n\r?\n/, '');
  const contentType = headerValue(head, 'content-type');
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (contentType.toLowerCase().startsWith('multipart/') && boundary !== undefined) {
    const pieces = body.split(`--${boundary}`).slice(1);
    return pieces.filter((p) => !p.startsWith('--')).flatMap((p) => mimeParts(p.replace(/^\r?\n/, '')));
  }
  const filename = /filename="?([^";]+)"?/i.exec(headerValue(head, 'content-disposition'))?.[1];
  return [
    {
      contentType: contentType.split(';')[0]?.trim().toLowerCase() ?? '',
      filename,
      body: decode(body, headerValue(head, 'content-transfer-encoding').toLowerCase()),
    },
  ];
}

/** A real SMTP server (smtp-server) on port 0; refuses the recipients in `rejecting`. */
export interface MailServer {
  port: number;
  mails: ReceivedMail[];
  rejecting: Set<string>;
  close(): Promise<void>;
}

export async function startMailServer(): Promise<MailServer> {
  const mails: ReceivedMail[] = [];
  const rejecting = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    // Plain-text AUTH on 127.0.0.1: smtp.user / smtp.pass are configured in these tests.
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    logger: false,
    onRcptTo(address, _session, callback) {
      if (rejecting.has(address.address)) callback(new Error('550 mailbox unavailable'));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address).join(',');
        mails.push({ to, parts: mimeParts(Buffer.concat(chunks).toString('utf8')) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, rejecting, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
