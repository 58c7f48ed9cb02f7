import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Starts `server` listening on `host:port` (port 0: any free port) and resolves to its base URL,
 * `http://HOST:PORT` (an IPv6 address in brackets). A failure to listen (address in use, no
 * permission) rejects with the server's error. The gateway, the dashboard server and the
 * simulator all start this way.
 */
export function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`http://${shown}:${address.port}`);
    });
  });
}
