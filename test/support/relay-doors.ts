// Both doors of the send endpoint in the test process, in front of the real
// pipeline and the real SMTP transport, delivering to a real SMTP sink on
// loopback. Only the API server is a stand-in (FakeKube: one token allowed to
// send as team/alerts), so what a door lets through is what the sink receives.
import { createHttpDoor, type HttpDoor } from '../../src/endpoint/http.ts';
import type { HttpServerLimits } from '../../src/endpoint/http-server.ts';
import { createPipeline, type DeliveryPipeline } from '../../src/endpoint/pipeline.ts';
import { createSmtpDoor, type SmtpDoor, type SmtpDoorOptions } from '../../src/endpoint/smtp.ts';
import { SmtpTransport } from '../../src/providers/smtp/transport.ts';
import type { SenderRoute } from '../../src/providers/types.ts';
import { FakeKube, identity, PlainDirectory, server, serviceAccount, silentLog } from './endpoint-fakes.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';

/** Shaped like a JWT, so the SMTP door hands it to the TokenReview too. */
export const RELAY_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZWxheSJ9.c2lnbmF0dXJl';
export const RELAY_SENDER = 'alerts@example.com';

export interface RelayDoors {
  sink: SmtpSink;
  pipeline: DeliveryPipeline;
  smtp: SmtpDoor;
  http: HttpDoor;
  smtpPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export interface RelayDoorsOptions {
  smtp?: Partial<Pick<SmtpDoorOptions, 'maxMessageBytes' | 'socketTimeoutMs' | 'maxRecipients'>>;
  http?: Partial<HttpServerLimits>;
  /** More identities in namespace "team" the token may send as (each sends as <name>@example.com), beside "alerts". */
  identities?: string[];
}

export async function startRelayDoors(opts: RelayDoorsOptions = {}): Promise<RelayDoors> {
  const sink = await startSmtpSink({ mode: 'None', noAuth: true });
  const kube = new FakeKube();
  const app = serviceAccount('team', 'app');
  kube.tokens.set(RELAY_TOKEN, { username: app });
  const directory = new PlainDirectory();
  for (const name of ['alerts', ...(opts.identities ?? [])]) {
    kube.allow(app, 'team', name);
    directory.add({
      identity: identity('team', name, name === 'alerts' ? { displayName: 'Alerts' } : {}),
      server: server('team', 'relay'),
      ready: true,
      primary: { provider: 'SMTP', endpoint: { host: '127.0.0.1', port: sink.port, security: 'None' } },
    });
  }
  const pipeline = createPipeline({
    client: kube,
    directory,
    log: silentLog,
    createTransport: (r) => new SmtpTransport((r as Extract<SenderRoute, { provider: 'SMTP' }>).endpoint),
  });
  const smtp = createSmtpDoor({ pipeline, directory, log: silentLog, maxMessageBytes: 1024 * 1024, port: 0, host: '127.0.0.1', ...opts.smtp });
  const smtpPort = await smtp.listen();
  const http = createHttpDoor({ pipeline, log: silentLog, ...(opts.http ? { server: opts.http } : {}) });
  const httpPort = (await http.listen(0, '127.0.0.1')).port;
  return {
    sink,
    pipeline,
    smtp,
    http,
    smtpPort,
    httpPort,
    async stop() {
      await smtp.close();
      await http.close();
      await pipeline.close();
      await sink.close();
    },
  };
}
