// The page: loads site.json, the models and onnxruntime-web from this folder only, checks
// that the models are ganport's, picks a backend, draws the sample grid and the
// interpolation strip, and exposes window.ganport.
import * as latent from './latent.js';
import { standardNormal, toSeed } from './numpy-random.js';
import { metadataProps } from './onnx-metadata.js';

const $ = (id) => document.getElementById(id);
const BACKENDS = ['auto', 'wasm', 'webgpu'];

let ort;
let site;
let sessions = {};
let queue = Promise.resolve(); // onnxruntime-web runs one request per session at a time

const api = {
  info: null,
  lastBatch: null,
  shown: null, // the grid's seed, class, z and images, as floats
  generate,
  score,
  // numpy's default_rng(seed).standard_normal((n, nz), float32): `ganport sample --seed`'s z.
  latent: (seed, n) => standardNormal(seed, n * site.models.generator.metadata.nz),
  latentOfClass: (z, n, k) => latent.latentOfClass(z, n, classes(), k, shares()),
  classOfLatent: (z, n) => latent.classOfLatent(z, n, classes(), shares()),
  classEdges: () => latent.classEdges(classes(), shares()),
  slerp: latent.slerp,
};
api.ready = start();
api.ready.catch(() => {}); // handled on the page by showError; callers still see the rejection
window.ganport = api;

async function start() {
  try {
    if (location.protocol === 'file:') throw new Error($('error').dataset.fileMessage);
    site = await fetchJson('site.json');
    const manifest = await fetchJson('manifest.json');
    ort = await import('./ort/ort.min.mjs');
    ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
    // Threads need cross-origin isolation (COOP/COEP headers) that plain static hosts lack.
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1;
    ort.env.logLevel = 'error';
    const models = {};
    for (const [role, entry] of Object.entries(site.models)) {
      models[role] = await fetchBytes(entry.file);
      checkModel(entry, role, models[role]);
    }
    const { backend, note } = await openSessions(models, requestedBackend());
    api.info = {
      ...Object.fromEntries(Object.entries(site.models).map(([r, m]) => [r, m.metadata])),
      discriminator: site.models.discriminator?.metadata ?? null,
      backend,
      backendNote: note,
      onnxruntimeWeb: site.onnxruntime_web,
      manifest,
    };
    showModel(api.info);
    await renderSamples();
    await renderStrip();
    document.body.dataset.state = 'ready';
    return api.info;
  } catch (error) {
    showError(error);
    throw error;
  }
}

/** Refuse a file that is not the ganport model site.json names: another ONNX model, the
 * other role, or another export (a site whose files were swapped by hand). */
function checkModel(entry, role, bytes) {
  let text;
  try {
    text = metadataProps(bytes).get('ganport');
  } catch (error) {
    throw new Error(`${entry.file} is not a ganport ${role}: ${error.message}`);
  }
  if (text === undefined) {
    throw new Error(`${entry.file} is not a ganport ${role}: it has no 'ganport' metadata (export models with ganport export)`);
  }
  let metadata;
  try {
    metadata = JSON.parse(text);
  } catch {
    throw new Error(`${entry.file}: its 'ganport' metadata is not JSON`);
  }
  if (metadata.role !== role) {
    throw new Error(`${entry.file} is a ganport ${metadata.role ?? 'model of no role'}, not a ${role}`);
  }
  if (JSON.stringify(metadata) !== JSON.stringify(entry.metadata)) {
    throw new Error(`${entry.file} is not the ${role} site.json describes: rebuild the site with ganport web`);
  }
}

function requestedBackend() {
  const asked = new URLSearchParams(location.search).get('backend') ?? 'auto';
  if (!BACKENDS.includes(asked)) throw new Error(`?backend=${asked}: use one of ${BACKENDS.join(', ')}`);
  return asked;
}

/** Sessions on WebGPU when it is asked for or an adapter exists, else wasm; a backend
 * that fails to load or to run a first batch falls back to wasm, and the page says why. */
async function openSessions(models, asked) {
  let backend = asked;
  let note = '';
  if (asked === 'auto') {
    const adapter = navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
    backend = adapter ? 'webgpu' : 'wasm';
    if (!adapter) note = 'no WebGPU adapter in this browser';
  }
  if (backend !== 'wasm') {
    try {
      await createSessions(models, backend);
      return { backend, note };
    } catch (error) {
      note = `${backend} failed (${firstLine(error)}); fell back to wasm`;
      console.warn(`ganport: ${note}`);
    }
  }
  await createSessions(models, 'wasm');
  return { backend: 'wasm', note };
}

async function createSessions(models, backend) {
  sessions = {};
  for (const [role, bytes] of Object.entries(models)) {
    sessions[role] = await ort.InferenceSession.create(bytes, { executionProviders: [backend] });
  }
  // A first batch proves the backend really runs the graphs, not just loads them.
  const [, c, h, w] = imageDims(1);
  const images = await generate(new Float32Array(site.models.generator.metadata.nz), 1, false);
  if (images.length !== c * h * w) throw new Error(`generator returned ${images.length} values`);
  if (sessions.discriminator) await score(images, 1, false);
}

/** Images (n×C×H×W float32 in [-1, 1]) for latents z (n×nz float32). */
async function generate(z, n, timed = true) {
  const nz = site.models.generator.metadata.nz;
  checkRows(z, n, nz, 'z');
  return run(sessions.generator, new ort.Tensor('float32', Float32Array.from(z), [n, nz]), timed);
}

/** D's logits (n float32) for images (n×C×H×W float32); the page shows their sigmoid. */
async function score(images, n, timed = true) {
  if (!sessions.discriminator) throw new Error('this site has no discriminator');
  const dims = imageDims(n);
  checkRows(images, n, dims[1] * dims[2] * dims[3], 'images');
  return run(sessions.discriminator, new ort.Tensor('float32', Float32Array.from(images), dims), timed);
}

function run(session, tensor, timed) {
  const task = queue.then(async () => {
    const start = performance.now();
    const outputs = await session.run({ [session.inputNames[0]]: tensor });
    const ms = performance.now() - start;
    if (timed) api.lastBatch = { rows: tensor.dims[0], ms };
    return Float32Array.from(outputs[session.outputNames[0]].data);
  });
  queue = task.catch(() => {});
  return task;
}

async function renderSamples() {
  const n = Number($('count').value);
  const seed = seedOf('seed');
  const label = pickedClass();
  const z = withClass(api.latent(seed, n), n, label);
  const started = performance.now();
  const images = await generate(z, n);
  const generated = api.lastBatch;
  const logits = sessions.discriminator ? await score(images, n) : null;
  const scored = logits ? api.lastBatch : null;
  const labels = classes() ? api.classOfLatent(z, n) : null;
  const figures = [];
  for (let i = 0; i < n; i++) {
    const caption = [labels ? `class ${labels[i]}` : '', logits ? `D ${sigmoid(logits[i]).toFixed(3)}` : ''];
    const figure = imageFigure(images, i, caption.filter(Boolean).join(' · '));
    if (labels) figure.dataset.class = labels[i];
    if (logits) figure.dataset.logit = logits[i];
    figures.push(figure);
  }
  $('grid').replaceChildren(...figures);
  api.shown = { seed: String(seed), label, n, z, images };
  showTiming(generated, scored, performance.now() - started);
}

async function renderStrip() {
  const steps = Math.min(Math.max(Math.round(Number($('steps').value)) || 2, 2), 32);
  const a = api.latent(seedOf('seed-a'), 1);
  const b = api.latent(seedOf('seed-b'), 1);
  const z = withClass(latent.slerp(a, b, steps), steps, pickedClass());
  const images = await generate(z, steps);
  $('strip').replaceChildren(...Array.from({ length: steps }, (_, i) => imageFigure(images, i, `${i + 1}`)));
}

function pickedClass() {
  const picked = $('class').value;
  return picked === '' ? null : Number(picked);
}

/** z with every row moved into class `label` (none: z unchanged), as `ganport sample --class`. */
function withClass(z, n, label) {
  return label === null ? z : api.latentOfClass(z, n, label);
}

function imageFigure(images, index, caption) {
  const [, c, h, w] = imageDims(1);
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext('2d');
  const pixels = context.createImageData(w, h);
  const base = index * c * h * w;
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) pixels.data[4 * p + k] = toByte(images[base + (c === 3 ? k * h * w : 0) + p]);
    pixels.data[4 * p + 3] = 255;
  }
  context.putImageData(pixels, 0, 0);
  const figure = document.createElement('figure');
  figure.className = 'sample';
  const label = document.createElement('figcaption');
  label.textContent = caption;
  figure.append(canvas, label);
  return figure;
}

function showModel(info) {
  const g = info.generator;
  const source = info.manifest.source ?? {};
  const file = (info.manifest.models ?? []).find((m) => m.file === site.models.generator.file);
  $('title').textContent = `ganport ${g.arch} generator${g.dataset ? ` · ${g.dataset}` : ''}`;
  const facts = [
    ['architecture', g.arch],
    ['latent', `z of ${g.nz} float32, N(0, 1)`],
    ['image', `${g.channels}×${g.height}×${g.width}, [-1, 1]`],
    ['classes', g.classes ? `${g.classes}${g.class_source === 'clusters' ? ` k-means modes (no labels)${g.class_shares ? ', each as often as its cluster' : ''}` : ''}, read from z[:, 0]` : 'unconditional'],
    ['data set', g.dataset || '—'],
    ['training step', g.training_step],
    ['weights', g.weights],
    ['ONNX', `opset ${g.opset}, IR ${g.ir_version}, ${g.exporter} exporter, ${g.precision}`],
    ['generator.onnx', file ? `${(file.size_bytes / 1e6).toFixed(2)} MB, sha256 ${file.sha256.slice(0, 12)}…` : '—'],
    ['discriminator', info.discriminator ? 'included: its sigmoid(logit) is under each image' : 'not included'],
    ['checkpoint', `step ${source.step ?? '?'}, sha256 ${(source.sha256 ?? '').slice(0, 12)}…`],
    ['runtime', `onnxruntime-web ${info.onnxruntimeWeb}, backend ${info.backend}${info.backendNote ? ` (${info.backendNote})` : ''}`],
  ];
  $('facts').replaceChildren(...facts.flatMap(([name, value]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = name;
    dd.textContent = value;
    return [dt, dd];
  }));
  if (g.classes) {
    for (let k = 0; k < g.classes; k++) $('class').append(new Option(String(k), String(k)));
    $('class-label').hidden = false;
  }
  for (const id of ['generate', 'interpolate']) $(id).disabled = false;
  $('sample-form').addEventListener('submit', (event) => {
    event.preventDefault(); // Enter in the seed field: that seed
    renderSamples().catch(showError);
  });
  $('count').addEventListener('change', () => renderSamples().catch(showError));
  $('generate').addEventListener('click', () => {
    $('seed').value = String(seedOf('seed') + 1n); // new samples: the next seed
    renderSamples().catch(showError);
  });
  $('class').addEventListener('change', () => renderSamples().then(renderStrip).catch(showError));
  $('strip-form').addEventListener('submit', (event) => {
    event.preventDefault();
    renderStrip().catch(showError);
  });
}

function showTiming(generated, scored, totalMs) {
  $('error').hidden = true;
  const per = (batch) => `${batch.ms.toFixed(1)} ms per batch of ${batch.rows}`;
  const parts = [`backend: ${api.info.backend}`, `G ${per(generated)}`];
  if (scored) parts.push(`D ${per(scored)}`);
  if (api.info.backendNote) parts.push(api.info.backendNote);
  $('status').textContent = parts.join(' · ');
  $('status').dataset.totalMs = totalMs.toFixed(1);
}

/** One message on the page: while loading, the page stops there; once ready, it is a bad
 * input (a seed) and the page keeps its last grid. */
function showError(error) {
  if (document.body.dataset.state === 'loading') {
    document.body.dataset.state = 'error';
    $('status').textContent = 'The generator could not run.';
  }
  $('error').textContent = `Error: ${firstLine(error)}`;
  $('error').hidden = false;
}

async function fetchJson(file) {
  return JSON.parse(new TextDecoder().decode(await fetchBytes(file)));
}

async function fetchBytes(file) {
  const response = await fetch(file);
  if (!response.ok) throw new Error(`${file}: HTTP ${response.status} ${response.statusText}`.trim());
  return new Uint8Array(await response.arrayBuffer());
}

function checkRows(values, n, width, name) {
  if (!(values instanceof Float32Array) || !Number.isInteger(n) || n < 1 || values.length !== n * width) {
    throw new RangeError(`${name} must be a Float32Array of n × ${width} values (n = ${n})`);
  }
}

function imageDims(n) {
  const g = site.models.generator.metadata;
  return [n, g.channels, g.height, g.width];
}

function classes() {
  return site.models.generator.metadata.classes;
}

/** How often z[:, 0] draws each class (a run on modes), or null for equally often. */
function shares() {
  return site.models.generator.metadata.class_shares ?? null;
}

/** The seed in field `id` as a BigInt: any non-negative integer, as numpy takes. */
function seedOf(id) {
  try {
    return toSeed($(id).value);
  } catch {
    throw new RangeError(`${$(id).closest('label').textContent.trim()}: a whole number ≥ 0, not '${$(id).value}'`);
  }
}

const toByte = (x) => Math.min(255, Math.max(0, Math.round((x + 1) * 127.5)));
const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const firstLine = (error) => String(error?.message ?? error).split('\n')[0];
