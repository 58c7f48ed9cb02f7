// Decodes OTLP metrics export requests (http/json and http/protobuf) into one plain shape, so
// the tests check both wire formats with the same assertions. The protobuf decoder reads the
// wire format directly (varints, fixed64, length-delimited fields) for the fields of
// opentelemetry/proto/metrics/v1 the tests look at; nothing of the exporter's own code is used.

export type AttributeValue = string | number | boolean;

export interface DecodedPoint {
  attributes: Record<string, AttributeValue>;
  count: number;
  sum: number;
  bounds: number[];
  buckets: number[];
}

export interface DecodedMetric {
  name: string;
  unit: string;
  /** 1 delta, 2 cumulative. */
  temporality: number;
  points: DecodedPoint[];
}

export interface DecodedExport {
  resource: Record<string, AttributeValue>;
  metrics: DecodedMetric[];
}

// ---- JSON ---------------------------------------------------------------------------------

interface JsonKeyValue {
  key: string;
  value: { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
  }
  return out;
}

export function decodeJsonExport(body: Buffer): DecodedExport[] {
  const parsed = JSON.parse(body.toString('utf8')) as {
    resourceMetrics: {
      resource?: { attributes?: JsonKeyValue[] };
      scopeMetrics?: {
        metrics?: {
          name: string;
          unit?: string;
          histogram?: {
            aggregationTemporality?: number;
            dataPoints?: {
              attributes?: JsonKeyValue[];
              count: number | string;
              sum?: number;
              explicitBounds?: number[];
              bucketCounts?: (number | string)[];
            }[];
          };
        }[];
      }[];
    }[];
  };
  return parsed.resourceMetrics.map((rm) => ({
    resource: jsonAttributes(rm.resource?.attributes),
    metrics: (rm.scopeMetrics ?? []).flatMap((sm) =>
      (sm.metrics ?? []).map((m) => ({
        name: m.name,
        unit: m.unit ?? '',
        temporality: m.histogram?.aggregationTemporality ?? 0,
        points: (m.histogram?.dataPoints ?? []).map((p) => ({
          attributes: jsonAttributes(p.attributes),
          count: Number(p.count),
          sum: p.sum ?? 0,
          bounds: p.explicitBounds ?? [],
          buckets: (p.bucketCounts ?? []).map(Number),
        })),
      })),
    ),
  }));
}

// ---- protobuf -----------------------------------------------------------------------------

interface Field {
  no: number;
  wire: number;
  /** varint value (as number), or the fixed64/fixed32 bytes, or the length-delimited bytes. */
  varint?: bigint;
  bytes?: Buffer;
}

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[pos];
    if (byte === undefined) throw new Error('truncated varint');
    pos += 1;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, next] = readVarint(buf, pos);
    pos = next;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [value, after] = readVarint(buf, pos);
      out.push({ no, wire, varint: value });
      pos = after;
    } else if (wire === 1) {
      out.push({ no, wire, bytes: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 2) {
      const [len, after] = readVarint(buf, pos);
      out.push({ no, wire, bytes: buf.subarray(after, after + Number(len)) });
      pos = after + Number(len);
    } else if (wire === 5) {
      out.push({ no, wire, bytes: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const sub = (f: Field): Buffer => f.bytes ?? Buffer.alloc(0);
const str = (f: Field): string => sub(f).toString('utf8');
const fixed64 = (f: Field): number => Number(sub(f).readBigUInt64LE(0));
const double = (f: Field): number => sub(f).readDoubleLE(0);

function anyValue(buf: Buffer): AttributeValue {
  for (const f of fields(buf)) {
    if (f.no === 1) return str(f);
    if (f.no === 2) return f.varint === 1n;
    if (f.no === 3) return Number(f.varint);
    if (f.no === 4) return double(f);
  }
  return '';
}

function keyValues(list: Field[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list) {
    let key = '';
    let value: AttributeValue = '';
    for (const f of fields(sub(kv))) {
      if (f.no === 1) key = str(f);
      if (f.no === 2) value = anyValue(sub(f));
    }
    out[key] = value;
  }
  return out;
}

/** Packed repeated fixed64 / double, or one unpacked element. */
function packed64(f: Field, read: (b: Buffer, at: number) => number): number[] {
  const b = sub(f);
  const out: number[] = [];
  for (let at = 0; at + 8 <= b.length; at += 8) out.push(read(b, at));
  return out;
}

function histogramPoint(buf: Buffer): DecodedPoint {
  const point: DecodedPoint = { attributes: {}, count: 0, sum: 0, bounds: [], buckets: [] };
  const attrs: Field[] = [];
  for (const f of fields(buf)) {
    if (f.no === 9) attrs.push(f);
    else if (f.no === 4) point.count = fixed64(f);
    else if (f.no === 5) point.sum = double(f);
    else if (f.no === 6) point.buckets.push(...packed64(f, (b, at) => Number(b.readBigUInt64LE(at))));
    else if (f.no === 7) point.bounds.push(...packed64(f, (b, at) => b.readDoubleLE(at)));
  }
  point.attributes = keyValues(attrs);
  return point;
}

function metric(buf: Buffer): DecodedMetric {
  const out: DecodedMetric = { name: '', unit: '', temporality: 0, points: [] };
  for (const f of fields(buf)) {
    if (f.no === 1) out.name = str(f);
    else if (f.no === 3) out.unit = str(f);
    else if (f.no === 9) {
      for (const h of fields(sub(f))) {
        if (h.no === 1) out.points.push(histogramPoint(sub(h)));
        else if (h.no === 2) out.temporality = Number(h.varint);
      }
    }
  }
  return out;
}

export function decodeProtobufExport(body: Buffer): DecodedExport[] {
  return fields(body)
    .filter((f) => f.no === 1)
    .map((rm) => {
      const out: DecodedExport = { resource: {}, metrics: [] };
      for (const f of fields(sub(rm))) {
        if (f.no === 1) out.resource = keyValues(fields(sub(f)).filter((a) => a.no === 1));
        else if (f.no === 2) for (const s of fields(sub(f))) if (s.no === 2) out.metrics.push(metric(sub(s)));
      }
      return out;
    });
}
