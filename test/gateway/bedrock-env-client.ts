// A client process for bedrock-sdk.test.ts: the AWS SDK configured as a user would with a Bedrock
// API key in AWS_BEARER_TOKEN_BEDROCK (no `token` in code), pointed at argv[2] with model argv[3].
// Prints the Converse and ConverseStream results as one JSON line.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';

const [endpoint = '', modelId = ''] = process.argv.slice(2);
// Only the endpoint and a region: the SDK's default handler (HTTP/2 with prior knowledge) and
// its bearer token from the environment, as a user's code would be.
const client = new BedrockRuntimeClient({ endpoint, region: 'eu-west-3' });
const input = {
  modelId,
  messages: [{ role: 'user' as const, content: [{ text: 'Which key am I using?' }] }],
};
const converse = await client.send(new ConverseCommand(input));
const stream = await client.send(new ConverseStreamCommand(input));
let metadata: unknown;
for await (const event of stream.stream ?? [])
  if (event.metadata !== undefined) metadata = event.metadata.usage;
console.log(JSON.stringify({ converse: converse.usage, stream: metadata }));
// The HTTP/2 session would keep the process alive.
client.destroy();
