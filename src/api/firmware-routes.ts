// REST routes of firmware updates (docs/firmware-server.md): the image repository, the HTTP side
// of the download service (Range requests, per-device tokens), and campaigns with their progress
// as Server-Sent Events.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type {
  CampaignEvent,
  CampaignSpec,
  FirmwareCampaigns,
} from '../server/firmware/firmware-campaigns.js';
import { FirmwareCampaignError } from '../server/firmware/firmware-campaigns.js';
import type { FirmwareDownloadService } from '../server/firmware/firmware-download-service.js';
import { etagOf } from '../server/firmware/firmware-download-service.js';
import type { FirmwareRepository } from '../server/firmware/firmware-repository.js';
import { FirmwareRepositoryError, isImageId } from '../server/firmware/firmware-repository.js';
import type { ApiContext } from './api-context.js';
import { clipName } from './api-context.js';
import { ApiError } from './api-errors.js';
import { endpointParams, errorResponses, freeObject } from './api-schemas.js';

/** What the firmware routes serve; `petrel server --firmware-dir` builds it. */
export interface FirmwareApi {
  readonly repository: FirmwareRepository;
  readonly campaigns: FirmwareCampaigns;
  /** The HTTP download route and pull campaigns need it. */
  readonly download?: FirmwareDownloadService;
  /** Largest image upload, bytes (default 64 MiB). */
  readonly maxImageBytes?: number;
}

const DEFAULT_MAX_UPLOAD = 64 * 1024 * 1024;

const imageSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'size', 'kind', 'addedAt'],
  properties: {
    id: { type: 'string', description: 'SHA-256 of the image, hex' },
    size: { type: 'integer' },
    kind: { type: 'string', enum: ['plain', 'package'] },
    signed: { type: 'boolean' },
    name: { type: 'string' },
    version: { type: 'string' },
    vendor: { type: 'string' },
    deviceClass: { type: 'string' },
    minVersion: { type: 'string' },
    imageDigest: { type: 'string' },
    label: { type: 'string' },
    addedAt: { type: 'integer' },
  },
} as const;

const campaignSummarySchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'image', 'status', 'createdAt', 'settings', 'totals'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    image: freeObject,
    status: { type: 'string', enum: ['running', 'paused', 'cancelled', 'completed'] },
    createdAt: { type: 'integer' },
    finishedAt: { type: 'integer' },
    settings: freeObject,
    totals: freeObject,
  },
} as const;

const campaignReportSchema = {
  ...campaignSummarySchema,
  properties: {
    ...campaignSummarySchema.properties,
    devices: { type: 'array', items: freeObject },
    timeline: { type: 'array', items: freeObject },
    timelineDropped: { type: 'integer' },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 128 } },
} as const;

const positive = (max: number) => ({ type: 'number', exclusiveMinimum: 0, maximum: max }) as const;

const campaignBody = {
  type: 'object',
  additionalProperties: false,
  required: ['image', 'targets'],
  properties: {
    image: { type: 'string', maxLength: 128 },
    targets: {
      description: 'endpoint names, or a filter {endpointPrefix?, tags?, currentVersion?}',
      oneOf: [
        {
          type: 'array',
          minItems: 1,
          maxItems: 100_000,
          items: { type: 'string', minLength: 1, maxLength: 1024 },
        },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            endpointPrefix: { type: 'string', maxLength: 1024 },
            tags: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 64 } },
            currentVersion: { type: 'string', maxLength: 255 },
          },
        },
      ],
    },
    method: { type: 'string', enum: ['push', 'pull', 'auto'] },
    name: { type: 'string', maxLength: 200 },
    concurrency: { type: 'integer', minimum: 1, maximum: 10_000 },
    rate: positive(100_000),
    retries: { type: 'integer', minimum: 0, maximum: 100 },
    retryDelay: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    pollInterval: { type: 'integer', minimum: 1, maximum: 3_600_000 },
    observe: { type: 'boolean' },
    deferRetry: { type: 'integer', minimum: 1, maximum: 86_400_000 },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        request: { type: 'integer', minimum: 1, maximum: 86_400_000 },
        download: { type: 'integer', minimum: 1, maximum: 604_800_000 },
        update: { type: 'integer', minimum: 1, maximum: 604_800_000 },
        wait: { type: 'integer', minimum: 1, maximum: 2_592_000_000 },
      },
    },
  },
} as const;

function repositoryError(e: unknown): unknown {
  if (!(e instanceof FirmwareRepositoryError)) return e;
  switch (e.reason) {
    case 'too-large':
      return new ApiError('TOO_LARGE', e.message, { cause: e });
    case 'full':
      return new ApiError('CONFLICT', e.message, { cause: e });
    case 'not-found':
      return new ApiError('NOT_FOUND', e.message, { cause: e });
    default:
      return new ApiError('BAD_VALUE', e.message, { cause: e });
  }
}

function campaignError(e: unknown): unknown {
  if (!(e instanceof FirmwareCampaignError)) return e;
  switch (e.reason) {
    case 'unknown-campaign':
      return new ApiError('NOT_FOUND', e.message, { cause: e });
    case 'too-many':
      return new ApiError('UNAVAILABLE', e.message, { cause: e });
    case 'bad-spec':
      return new ApiError('BAD_REQUEST', e.message, { cause: e });
    default:
      return new ApiError('BAD_VALUE', e.message, { cause: e });
  }
}

/** `Range: bytes=…` (RFC 9110 §14.1.2) as [start, end) within `size`; null: unsatisfiable; undefined: none/ignored. */
export function parseRange(header: string | undefined, size: number): [number, number] | null | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  // Several ranges, or another unit: served whole (a server MAY ignore Range).
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || last < start) return null;
  return [start, last + 1];
}

const sseMessage = (e: CampaignEvent): string =>
  `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

export function registerFirmwareRoutes(app: FastifyInstance, ctx: ApiContext, fw: FirmwareApi): void {
  const maxUpload = fw.maxImageBytes ?? DEFAULT_MAX_UPLOAD;

  const requireImage = async (id: string) => {
    const info = isImageId(id) ? await fw.repository.get(id) : undefined;
    if (!info) throw new ApiError('NOT_FOUND', `no image ${clipName(id)}`);
    return info;
  };

  // The upload takes raw bytes: its own scope, so the other routes keep JSON-only bodies.
  void app.register((scope, _options, done) => {
    scope.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: maxUpload },
      (_req, body, done) => done(null, body),
    );
    scope.post<{ Querystring: { label?: string } }>(
      '/api/firmware/images',
      {
        bodyLimit: maxUpload,
        schema: {
          tags: ['firmware'],
          summary: 'Add an image (application/octet-stream): a plain image or a Petrel package',
          description:
            'The body is the image as devices download it. A package (docs/firmware.md) is inspected: its manifest ' +
            'fields are returned, and a package whose image does not match its manifest is refused. The id is the ' +
            'SHA-256 of the bytes; the same bytes again give the same image.',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { label: { type: 'string', maxLength: 200 } },
          },
          response: { 201: imageSchema, ...errorResponses(400, 409, 413, 415) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        if (!Buffer.isBuffer(body))
          throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send the image as application/octet-stream');
        const info = await fw.repository
          .add(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), {
            ...(request.query.label === undefined ? {} : { label: request.query.label }),
          })
          .catch((e: unknown) => {
            throw repositoryError(e);
          });
        return reply.code(201).send(info);
      },
    );
    done();
  });

  app.get(
    '/api/firmware/images',
    {
      schema: {
        tags: ['firmware'],
        summary: 'The images in the repository, oldest first',
        response: { 200: { type: 'array', items: imageSchema } },
      },
    },
    () => fw.repository.list(),
  );

  app.get<{ Params: { id: string } }>(
    '/api/firmware/images/:id',
    {
      schema: {
        tags: ['firmware'],
        summary: 'One image',
        params: idParams,
        response: { 200: imageSchema, ...errorResponses(404) },
      },
    },
    (request) => requireImage(request.params.id),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/firmware/images/:id',
    {
      schema: {
        tags: ['firmware'],
        summary: 'Delete an image (not while a campaign that uses it runs); its download tokens are revoked',
        params: idParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const info = await requireImage(request.params.id);
      const user = fw.campaigns
        .list()
        .find((c) => c.image.id === info.id && (c.status === 'running' || c.status === 'paused'));
      if (user) throw new ApiError('CONFLICT', `campaign ${user.id} uses this image: cancel it first`);
      await fw.repository.delete(info.id);
      fw.download?.grants.revokeImage(info.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string }; Querystring: { t?: string } }>(
    '/api/firmware/images/:id/content',
    {
      schema: {
        tags: ['firmware'],
        summary: 'Download an image (devices pulling over http/https)',
        description:
          'Needs the per-device token a campaign put into the URI (`?t=`): without a valid one for this image, 401. ' +
          'Supports `Range: bytes=…` (206 with Content-Range) and `If-Range` with the ETag.',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { t: { type: 'string', maxLength: 64 } },
        },
        response: {
          200: {
            description: 'the image',
            content: { 'application/octet-stream': { schema: { type: 'string' } } },
          },
          206: {
            description: 'a range',
            content: { 'application/octet-stream': { schema: { type: 'string' } } },
          },
          ...errorResponses(404, 416, 503),
        },
      },
    },
    async (request, reply: FastifyReply) => {
      const download = fw.download;
      if (!download) throw new ApiError('UNAVAILABLE', 'the firmware download service is not running');
      const id = request.params.id;
      const grant = isImageId(id) ? download.authorize(id, request.query.t) : undefined;
      if (!grant)
        throw new ApiError('UNAUTHORIZED', 'a valid download token for this image is required (?t=)');
      const info = await requireImage(id);
      const etag = `"${Buffer.from(etagOf(info)).toString('hex')}"`;
      const ifRange = request.headers['if-range'];
      const rangeHeader = ifRange === undefined || ifRange === etag ? request.headers.range : undefined;
      const range = parseRange(rangeHeader, info.size);
      reply.header('accept-ranges', 'bytes').header('etag', etag).type('application/octet-stream');
      if (range === null) {
        return reply
          .code(416)
          .type('application/json; charset=utf-8')
          .header('content-range', `bytes */${info.size}`)
          .send({ code: 'BAD_REQUEST', message: `the range is outside the image (${info.size} bytes)` });
      }
      const [start, end] = range ?? [0, info.size];
      const bytes = await fw.repository.read(id, start, end);
      if (!bytes) throw new ApiError('NOT_FOUND', `no image ${clipName(id)}`);
      download.served(grant, start + bytes.length, info.size, bytes.length);
      if (range) reply.code(206).header('content-range', `bytes ${start}-${end - 1}/${info.size}`);
      return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );

  app.post<{ Body: CampaignSpec }>(
    '/api/firmware/campaigns',
    {
      schema: {
        tags: ['firmware'],
        summary: 'Start a campaign: one image to many devices',
        body: campaignBody,
        response: { 201: campaignReportSchema, ...errorResponses(400, 503) },
      },
    },
    async (request, reply) => {
      const report = await fw.campaigns.create(request.body).catch((e: unknown) => {
        throw campaignError(e);
      });
      return reply.code(201).send(report);
    },
  );

  app.get(
    '/api/firmware/campaigns',
    {
      schema: {
        tags: ['firmware'],
        summary: 'Every campaign kept, with totals',
        response: { 200: { type: 'array', items: campaignSummarySchema } },
      },
    },
    () => fw.campaigns.list(),
  );

  const reportOf = (id: string) => {
    const report = fw.campaigns.get(id);
    if (!report) throw new ApiError('NOT_FOUND', `no campaign ${clipName(id)}`);
    return report;
  };

  app.get<{ Params: { id: string } }>(
    '/api/firmware/campaigns/:id',
    {
      schema: {
        tags: ['firmware'],
        summary: 'A campaign: per-device phases, timings, results, totals and timeline',
        params: idParams,
        response: { 200: campaignReportSchema, ...errorResponses(404) },
      },
    },
    (request) => reportOf(request.params.id),
  );

  app.get<{ Params: { ep: string } }>(
    '/api/firmware/devices/:ep/history',
    {
      schema: {
        tags: ['firmware'],
        summary:
          "A device's update history: its part in every campaign kept, oldest first (phase, versions, result, reason, timings)",
        params: endpointParams,
        response: {
          200: {
            type: 'object',
            required: ['endpoint', 'updates'],
            properties: { endpoint: { type: 'string' }, updates: { type: 'array', items: freeObject } },
          },
        },
      },
    },
    (request) => ({
      endpoint: request.params.ep,
      updates: fw.campaigns.deviceHistory(request.params.ep),
    }),
  );

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post<{ Params: { id: string } }>(
      `/api/firmware/campaigns/:id/${action}`,
      {
        schema: {
          tags: ['firmware'],
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a campaign`,
          params: idParams,
          response: { 200: campaignReportSchema, ...errorResponses(404) },
        },
      },
      (request) => {
        reportOf(request.params.id);
        return fw.campaigns[action](request.params.id);
      },
    );
  }

  app.get<{ Params: { id: string } }>(
    '/api/firmware/campaigns/:id/events',
    {
      schema: {
        tags: ['firmware'],
        summary: "A campaign's progress as Server-Sent Events",
        description:
          'text/event-stream: first `event: snapshot` (the report), then `event: device` (a device changed phase) ' +
          'and `event: status` (running, paused, cancelled, completed), each with the totals. The stream ends after ' +
          'the campaign completes or is cancelled.',
        params: idParams,
        response: {
          200: {
            description: 'the event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errorResponses(404, 503),
        },
      },
    },
    async (request, reply) => {
      const report = reportOf(request.params.id);
      if (ctx.streams.size >= ctx.maxStreams)
        throw new ApiError(
          'UNAVAILABLE',
          `${ctx.maxStreams} event streams are open, the most this server keeps`,
        );
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(`retry: 3000\n\nevent: snapshot\ndata: ${JSON.stringify(report)}\n\n`);
      ctx.streams.add(raw);
      let closed = false;
      const cleanup = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        fw.campaigns.off('event', onEvent);
        ctx.streams.delete(raw);
      };
      const finish = (): void => {
        cleanup();
        raw.end();
      };
      const onEvent = (e: CampaignEvent): void => {
        if (closed || e.campaign !== report.id) return;
        raw.write(sseMessage(e));
        // A subscriber that cannot keep up is cut off; it reconnects and gets a new snapshot.
        if (raw.writableLength > 1024 * 1024) raw.destroy();
        if (e.type === 'status' && (e.status === 'completed' || e.status === 'cancelled')) finish();
      };
      const heartbeat = setInterval(() => {
        if (!closed) raw.write(': heartbeat\n\n');
      }, ctx.heartbeatMs);
      raw.on('close', cleanup);
      raw.on('error', cleanup);
      fw.campaigns.on('event', onEvent);
      if (report.status === 'completed' || report.status === 'cancelled') finish();
    },
  );
}
