// A Mapbox Vector Tile (protobuf) decoder: layers -> features {type, props, rings}, with the
// geometry in tile units (0..extent). Only what drawing a basemap needs; no dependencies.

class Pbf {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
  }

  varint() {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error("mvt: truncated varint");
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error("mvt: varint too long");
    }
  }

  bytes() {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new Error("mvt: truncated field");
    return this.buf.subarray(start, this.pos);
  }

  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos += this.varint();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`mvt: unknown wire type ${wire}`);
  }

  /** Call fn(field, wire) for every field of this message. */
  each(fn) {
    while (this.pos < this.end) {
      const key = this.varint();
      fn(Math.floor(key / 8), key & 7);
    }
  }
}

const utf8 = new TextDecoder();

function packed(pbf) {
  const out = [];
  const sub = new Pbf(pbf.bytes());
  while (sub.pos < sub.end) out.push(sub.varint());
  return out;
}

function value(buf) {
  const p = new Pbf(buf);
  let v = null;
  p.each((field, wire) => {
    const view = () => new DataView(p.buf.buffer, p.buf.byteOffset + p.pos);
    if (field === 1) v = utf8.decode(p.bytes());
    else if (field === 2) { v = view().getFloat32(0, true); p.pos += 4; }
    else if (field === 3) { v = view().getFloat64(0, true); p.pos += 8; }
    else if (field === 4 || field === 5) v = p.varint();
    else if (field === 6) { const n = p.varint(); v = n % 2 ? -(n + 1) / 2 : n / 2; }
    else if (field === 7) v = Boolean(p.varint());
    else p.skip(wire);
  });
  return v;
}

/** Geometry commands -> rings/lines/points: arrays of [x, y, x, y, ...]. */
function geometry(cmds) {
  const parts = [];
  let cur = null;
  let x = 0, y = 0;
  let i = 0;
  while (i < cmds.length) {
    const c = cmds[i++];
    const op = c & 7;
    const count = c >> 3;
    if (op === 1 || op === 2) {
      for (let k = 0; k < count; k++) {
        const dx = cmds[i++], dy = cmds[i++];
        x += (dx >> 1) ^ -(dx & 1);
        y += (dy >> 1) ^ -(dy & 1);
        if (op === 1) { cur = [x, y]; parts.push(cur); } else cur?.push(x, y);
      }
    } else if (op === 7) {
      if (cur && cur.length >= 2) cur.push(cur[0], cur[1]);
    } else {
      break; // unknown command: stop rather than draw garbage
    }
  }
  return parts;
}

/** Decode a tile: {layerName: {extent, features: [{type: 1|2|3, props, parts}]}}. */
export function decodeTile(arrayBuffer) {
  const pbf = new Pbf(new Uint8Array(arrayBuffer));
  const layers = {};
  pbf.each((field, wire) => {
    if (field !== 3) { pbf.skip(wire); return; }
    const lp = new Pbf(pbf.bytes());
    const layer = { name: "", extent: 4096, keys: [], values: [], raw: [] };
    lp.each((f, w) => {
      if (f === 1) layer.name = utf8.decode(lp.bytes());
      else if (f === 2) layer.raw.push(lp.bytes());
      else if (f === 3) layer.keys.push(utf8.decode(lp.bytes()));
      else if (f === 4) layer.values.push(value(lp.bytes()));
      else if (f === 5) layer.extent = lp.varint();
      else lp.skip(w);
    });
    const features = [];
    for (const raw of layer.raw) {
      const fp = new Pbf(raw);
      let type = 0, tags = [], geom = [];
      fp.each((f, w) => {
        if (f === 2) tags = packed(fp);
        else if (f === 3) type = fp.varint();
        else if (f === 4) geom = packed(fp);
        else fp.skip(w);
      });
      const props = {};
      for (let i = 0; i + 1 < tags.length; i += 2) props[layer.keys[tags[i]]] = layer.values[tags[i + 1]];
      features.push({ type, props, parts: geometry(geom) });
    }
    layers[layer.name] = { extent: layer.extent, features };
  });
  return layers;
}
