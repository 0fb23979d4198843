// The metadata_props of an ONNX file, read from its bytes: onnxruntime-web does not expose
// them, and the page must know that a file is a ganport model (and which role) before it
// trusts it. Only ModelProto's top level is walked; the graph is skipped by its length.

const METADATA_PROPS = 14; // ModelProto.metadata_props: repeated StringStringEntryProto
const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 };

/** The model's metadata_props as a Map of key → value; an Error if it is not ONNX. */
export function metadataProps(bytes) {
  const props = new Map();
  for (const field of fields(bytes, 0, bytes.length)) {
    if (field.number !== METADATA_PROPS || field.wire !== WIRE.bytes) continue;
    let key = '';
    let value = '';
    for (const entry of fields(bytes, field.start, field.end)) {
      const text = new TextDecoder().decode(bytes.subarray(entry.start, entry.end));
      if (entry.number === 1) key = text;
      else if (entry.number === 2) value = text;
    }
    props.set(key, value);
  }
  return props;
}

function* fields(bytes, start, end) {
  let at = start;
  while (at < end) {
    const [tag, afterTag] = varint(bytes, at, end);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    let next;
    let valueStart = afterTag;
    if (wire === WIRE.varint) next = varint(bytes, afterTag, end)[1];
    else if (wire === WIRE.fixed64) next = afterTag + 8;
    else if (wire === WIRE.fixed32) next = afterTag + 4;
    else if (wire === WIRE.bytes) {
      const [length, afterLength] = varint(bytes, afterTag, end);
      valueStart = afterLength;
      next = afterLength + length;
    } else throw notOnnx();
    if (number === 0 || next > end) throw notOnnx();
    yield { number, wire, start: valueStart, end: next };
    at = next;
  }
}

function varint(bytes, at, end) {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    value += (bytes[i] & 0x7f) * scale;
    scale *= 128;
    if (bytes[i] < 0x80) return [value, i + 1];
  }
  throw notOnnx();
}

const notOnnx = () => new Error('not an ONNX model (its bytes are not a ModelProto)');
