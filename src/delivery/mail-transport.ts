import nodemailer, { type Transporter } from 'nodemailer';
import type { SmtpConfig } from '../config/schema.js';
import { DELIVERY_TIMEOUT_MS } from './webhook-post.js';

/**
 * A nodemailer transport for `smtp` (budget alerts, report delivery): authenticated when `user`
 * is set, every stage bounded by DELIVERY_TIMEOUT_MS so an unreachable server fails a delivery
 * instead of hanging it. The caller closes it.
 */
export function createMailTransport(smtp: SmtpConfig): Transporter {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.pass ?? '' } } : {}),
    connectionTimeout: DELIVERY_TIMEOUT_MS,
    greetingTimeout: DELIVERY_TIMEOUT_MS,
    socketTimeout: DELIVERY_TIMEOUT_MS,
  });
}

/**
 * The message of a failed delivery, safe to print: the SMTP password never appears in it, even
 * if a server or library echoed it back.
 */
export function describeDeliveryError(err: unknown, smtp: SmtpConfig | undefined): string {
  const message = err instanceof Error ? err.message : String(err);
  const pass = smtp?.pass;
  return pass !== undefined && pass !== '' ? message.replaceAll(pass, '***') : message;
}
