import type { AlertsConfig, SmtpConfig } from '../config/schema.js';
import { createMailTransport } from '../delivery/mail-transport.js';
import { postJson } from '../delivery/webhook-post.js';

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
      send: (alert) => postJson(webhook, alert),
      close: () => undefined,
    });
  }
  if (alerts.email && smtp !== undefined) {
    const transport = createMailTransport(smtp);
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
