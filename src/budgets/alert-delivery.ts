import nodemailer from 'nodemailer';
import type { AlertsConfig, SmtpConfig } from '../config/schema.js';

/** The JSON body of a budget alert (README "### Budgets"). */
export interface BudgetAlert {
  subscription: string;
  /** The `alertAt` percentage crossed. */
  threshold: number;
  /** Tokens or cost used in the month so far. */
  used: number;
  limit: number;
  unit: 'tokens' | 'cost';
  /** YYYY-MM in `reports.timezone`. */
  month: string;
  /** `pricing.currency`: the unit of a cost budget. */
  currency: string;
}

/** One way an alert reaches people; `send` rejects when the alert was not delivered. */
export interface AlertChannel {
  readonly name: 'webhook' | 'email';
  send(alert: BudgetAlert, owner: string | undefined): Promise<void>;
  /** Whether this channel has anyone to tell about this subscription. */
  reaches(owner: string | undefined): boolean;
  close(): void;
}

/** How long one delivery may take before it counts as failed (retried on a later refresh). */
const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * The channels `alerts` configures: a POST of the alert's JSON to `alerts.webhook` (any 2xx is
 * delivered), and an e-mail to the subscription's owner through `smtp` when `alerts.email` is
 * true and `smtp` is set. Errors name the channel, never the SMTP credentials.
 */
export function createAlertChannels(alerts: AlertsConfig, smtp: SmtpConfig | undefined): AlertChannel[] {
  const channels: AlertChannel[] = [];
  const { webhook } = alerts;
  if (webhook !== undefined) {
    channels.push({
      name: 'webhook',
      reaches: () => true,
      async send(alert) {
        const res = await fetch(webhook, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alert),
          signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`webhook answered ${res.status}`);
      },
      close: () => undefined,
    });
  }
  if (alerts.email && smtp !== undefined) {
    const transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.pass ?? '' } } : {}),
      connectionTimeout: DELIVERY_TIMEOUT_MS,
      greetingTimeout: DELIVERY_TIMEOUT_MS,
      socketTimeout: DELIVERY_TIMEOUT_MS,
    });
    channels.push({
      name: 'email',
      reaches: (owner) => owner !== undefined && owner !== '',
      async send(alert, owner) {
        await transport.sendMail({
          from: smtp.from,
          to: owner,
          subject: `tokenmeter: ${alert.subscription} used ${alert.threshold}% of its ${alert.month} ${alert.unit} budget`,
          text: describeAlert(alert),
        });
      },
      close: () => transport.close(),
    });
  }
  return channels;
}

/** The e-mail body: the alert in a sentence, then its JSON. */
function describeAlert(alert: BudgetAlert): string {
  const amount = (n: number): string =>
    alert.unit === 'tokens' ? `${Math.round(n)} tokens` : `${n.toFixed(2)} ${alert.currency}`;
  return (
    `Subscription ${alert.subscription} has used ${amount(alert.used)} of its budget of ` +
    `${amount(alert.limit)} for ${alert.month} (alert at ${alert.threshold}%).\n\n` +
    `${JSON.stringify(alert, null, 2)}\n`
  );
}
