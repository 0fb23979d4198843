// The page: loads site.json, the models and onnxruntime-web from this folder only, checks
// that the models are ganport's, picks a backend, draws the sample grid and the
// interpolation strip, and exposes window.ganport:
//
//   ready                      a Promise of `info` once the page has drawn its first grid
//   info                       each model's ganport metadata, the backend, the manifest
//   generate(z, n, label?)     images (n×C×H×W Float32Array in [-1, 1]) for z (n×nz
//                              Float32Array). `label` is for a generator that takes its
//                              class as an input (metadata class_input 'labels'): a class for
//                              every row, or n classes; left out, row i gets the class its
//                              z[i, 0] selects (classOfLatent), as `ganport sample` does. A
//                              generator that reads its class from z[:, 0] takes none: move z
//                              with latentOfClass instead.
//   score(images, n, labels?)  D's P(real), n floats: sigmoid(logit) for a D that outputs a
//                              logit (d_output 'logit'), the output itself for a D that ends
//                              in a sigmoid (d_output 'probability'). A D with a labels input
//                              needs `labels` (a class, or n classes) and refuses to guess.
//   shown                      the grid: seed, label (the picked class or null), n, z, labels
//                              (each image's class, or null), images, scores (D's P(real),
//                              or null)
//   lastBatch                  the last timed batch: { rows, ms }
//   latent(seed, n)            numpy's default_rng(seed).standard_normal((n, nz), float32)
//   latentOfClass, classOfLatent, classEdges, slerp: the class rule and slerp (latent.js)
import * as latent from './latent.js';
import { standardNormal, toSeed } from './numpy-random.js';
import { metadataProps } from './onnx-metadata.js';

const $ = (id) => document.getElementById(id);
const BACKENDS = ['auto', 'wasm', 'webgpu'];
// The graph contract (ganport.core.metadata): each role's first input, and the second
// input (int64, (batch,)) of a model whose class_input is 'labels'.
const INPUT_NAMES = { generator: 'z', discriminator: 'image' };
const LABELS_INPUT = 'labels';

let ort;
let site;
let sessions = {};
let queue = Promise.resolve(); // onnxruntime-web runs one request per session at a time

const api = {
  info: null,
  lastBatch: null,
  shown: null, // the grid's seed, class, z, labels, images and D scores
  // Called before the models are loaded, generate and score wait for `ready`.
  generate: whenReady(generate),
  score: whenReady(score),
  // numpy's default_rng(seed).standard_normal((n, nz), float32): `ganport sample --seed`'s z.
  latent: (seed, n) => standardNormal(seed, n * loadedSite().models.generator.metadata.nz),
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
      const bytes = await fetchBytes(entry.file);
      checkModel(entry, role, bytes);
      // Weights kept beside the model (export --external-data), handed over by file name.
      const externalData = entry.external_data
        ? [{ path: entry.external_data, data: await fetchBytes(entry.external_data) }]
        : undefined;
      models[role] = { bytes, externalData };
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
  for (const [role, { bytes, externalData }] of Object.entries(models)) {
    sessions[role] = await ort.InferenceSession.create(bytes, { executionProviders: [backend], externalData });
    checkGraph(role, sessions[role]);
  }
  // A first batch proves the backend really runs the graphs, not just loads them.
  const [, c, h, w] = imageDims(1);
  const first = takesLabels('generator') ? Int32Array.of(0) : null;
  const images = await runGenerator(new Float32Array(site.models.generator.metadata.nz), 1, first, false);
  if (images.length !== c * h * w) throw new Error(`generator returned ${images.length} values`);
  if (sessions.discriminator) {
    await runDiscriminator(images, 1, takesLabels('discriminator') ? Int32Array.of(0) : null, false);
  }
}

/** The session's inputs and output are the ones its metadata promises. */
function checkGraph(role, session) {
  const file = site.models[role].file;
  const inputs = [INPUT_NAMES[role], ...(takesLabels(role) ? [LABELS_INPUT] : [])];
  if (JSON.stringify([...session.inputNames].sort()) !== JSON.stringify([...inputs].sort())) {
    throw new Error(`${file}: inputs ${session.inputNames.join(', ')}, not ${inputs.join(', ')} as its metadata says`);
  }
  if (!session.outputNames.includes(outputName(role))) {
    throw new Error(`${file}: no output '${outputName(role)}' (outputs: ${session.outputNames.join(', ')})`);
  }
}

/** Images (n×C×H×W float32 in [-1, 1]) for latents z (n×nz float32); `label` (a class,
 * or n classes) only for a generator that takes its class as an input. */
async function generate(z, n, label = null) {
  checkRows(z, n, site.models.generator.metadata.nz, 'z');
  return runGenerator(z, n, generatorLabels(z, n, label), true);
}

/** D's P(real) (n float32) for images (n×C×H×W float32); `labels` (a class, or n classes)
 * only for, and always for, a D that takes the images' class as an input. */
async function score(images, n, labels = null) {
  if (!sessions.discriminator) throw new Error('this site has no discriminator');
  const dims = imageDims(n);
  checkRows(images, n, dims[1] * dims[2] * dims[3], 'images');
  const d = site.models.discriminator.metadata;
  if (takesLabels('discriminator') && (labels === null || labels === undefined)) {
    throw new RangeError(`this discriminator takes the images' class as an input: score(images, n, labels), labels a class or n classes in 0..${d.classes - 1}`);
  }
  const fed = takesLabels('discriminator') ? checkedLabels(labels, n, d.classes) : noLabels(labels, 'discriminator');
  return probability(await runDiscriminator(images, n, fed, true));
}

/** The labels input of the generator for z: `label` checked, or the class each row's
 * z[:, 0] selects (equal bins, as ganport.core.classes.labels_for); null when G takes none. */
function generatorLabels(z, n, label) {
  const none = label === null || label === undefined;
  if (!takesLabels('generator')) {
    if (!none && classes()) {
      throw new RangeError('this generator reads its class from z[:, 0] and takes no labels: move z into a class with latentOfClass');
    }
    return noLabels(label, 'generator');
  }
  return none ? latent.classOfLatent(z, n, classes(), null) : checkedLabels(label, n, classes());
}

/** The labels a D with a labels input scores generated images with: those G was fed, else
 * the class z[:, 0] selects (equal bins, as Python's parity feeds it); null when D takes none. */
function discriminatorLabels(z, n, fed) {
  if (!takesLabels('discriminator')) return null;
  return fed ?? latent.classOfLatent(z, n, site.models.discriminator.metadata.classes, null);
}

/** A class for every row, or one per row, as an Int32Array of n classes in 0..classes-1. */
function checkedLabels(labels, n, classes) {
  const many = typeof labels === 'object' && labels !== null && 'length' in labels;
  const values = typeof labels === 'number' ? new Array(n).fill(labels) : many ? Array.from(labels, Number) : [];
  if (values.length !== n || !values.every((k) => Number.isInteger(k) && k >= 0 && k < classes)) {
    throw new RangeError(`labels must be a class or ${n} classes, each a whole number in 0..${classes - 1}`);
  }
  return Int32Array.from(values);
}

function noLabels(labels, role) {
  if (labels !== null && labels !== undefined) throw new RangeError(`this ${role} takes no labels`);
  return null;
}

function runGenerator(z, n, labels, timed) {
  const nz = site.models.generator.metadata.nz;
  return run('generator', new ort.Tensor('float32', Float32Array.from(z), [n, nz]), labels, timed);
}

function runDiscriminator(images, n, labels, timed) {
  return run('discriminator', new ort.Tensor('float32', Float32Array.from(images), imageDims(n)), labels, timed);
}

/** One batch through `role`'s session: its first input, its labels when it takes them; the
 * output its metadata names (D: a logit or a probability, see `probability`). */
function run(role, tensor, labels, timed) {
  const session = sessions[role];
  const feeds = { [INPUT_NAMES[role]]: tensor };
  if (labels) feeds[LABELS_INPUT] = new ort.Tensor('int64', BigInt64Array.from(labels, BigInt), [labels.length]);
  const task = queue.then(async () => {
    const start = performance.now();
    const outputs = await session.run(feeds);
    const ms = performance.now() - start;
    if (timed) api.lastBatch = { rows: tensor.dims[0], ms };
    return Float32Array.from(outputs[outputName(role)].data);
  });
  queue = task.catch(() => {});
  return task;
}

/** D's outputs as P(real): the sigmoid of logits, or the probabilities of a D that ends in
 * a sigmoid, as they are. */
function probability(outputs) {
  if (site.models.discriminator.metadata.d_output === 'probability') return outputs;
  return outputs.map(sigmoid);
}

async function renderSamples() {
  const n = Number($('count').value);
  const seed = seedOf('seed');
  const label = pickedClass();
  const { z, labels: fed } = withClass(api.latent(seed, n), n, label);
  const started = performance.now();
  const images = await runGenerator(z, n, fed, true);
  const generated = api.lastBatch;
  const outputs = sessions.discriminator
    ? await runDiscriminator(images, n, discriminatorLabels(z, n, fed), true)
    : null;
  const scored = outputs ? api.lastBatch : null;
  const scores = outputs ? probability(outputs) : null;
  const logits = outputs && site.models.discriminator.metadata.d_output === 'logit' ? outputs : null;
  const labels = classes() ? (fed ?? api.classOfLatent(z, n)) : null;
  const figures = [];
  for (let i = 0; i < n; i++) {
    const caption = [labels ? `class ${labels[i]}` : '', scores ? `D ${scores[i].toFixed(3)}` : ''];
    const figure = imageFigure(images, i, caption.filter(Boolean).join(' · '));
    if (labels) figure.dataset.class = labels[i];
    if (scores) figure.dataset.probability = scores[i];
    if (logits) figure.dataset.logit = logits[i];
    figures.push(figure);
  }
  $('grid').replaceChildren(...figures);
  api.shown = { seed: String(seed), label, n, z, labels, images, scores };
  showTiming(generated, scored, performance.now() - started);
}

async function renderStrip() {
  const steps = Math.min(Math.max(Math.round(Number($('steps').value)) || 2, 2), 32);
  const a = api.latent(seedOf('seed-a'), 1);
  const b = api.latent(seedOf('seed-b'), 1);
  // A model with a labels input keeps one class along the strip: the picked one, else seed
  // A's (Python's Generator.interpolate); one that reads z[:, 0] follows the path's z.
  let label = pickedClass();
  if (label === null && takesLabels('generator')) label = latent.classOfLatent(a, 1, classes(), null)[0];
  const { z, labels } = withClass(latent.slerp(a, b, steps), steps, label);
  const images = await runGenerator(z, steps, labels, true);
  $('strip').replaceChildren(...Array.from({ length: steps }, (_, i) => imageFigure(images, i, `${i + 1}`)));
}

function pickedClass() {
  const picked = $('class').value;
  return picked === '' ? null : Number(picked);
}

/** What the generator is fed for class `label`, as `ganport sample --class`: z with every row
 * moved into the class, or (a model with a labels input) z unchanged and labels of that
 * class; no class: z unchanged, and the labels z[:, 0] selects for a labels model. */
function withClass(z, n, label) {
  if (takesLabels('generator')) return { z, labels: generatorLabels(z, n, label) };
  return { z: label === null ? z : api.latentOfClass(z, n, label), labels: null };
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
    ['classes', classesFact(g)],
    ['data set', g.dataset || '—'],
    ['training step', g.training_step],
    ['weights', g.weights],
    ['ONNX', `opset ${g.opset}, IR ${g.ir_version}, ${g.exporter} exporter, ${g.precision}`],
    ['generator.onnx', file ? `${(file.size_bytes / 1e6).toFixed(2)} MB, sha256 ${file.sha256.slice(0, 12)}…` : '—'],
    ['discriminator', discriminatorFact(info.discriminator)],
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

function classesFact(g) {
  if (!g.classes) return 'unconditional';
  const modes = g.class_source === 'clusters' ? ` k-means modes (no labels)${g.class_shares ? ', each as often as its cluster' : ''}` : '';
  const how = g.class_input === 'labels' ? 'class as an input (labels, int64)' : 'class from z[:, 0]';
  return `${g.classes}${modes}, ${how}`;
}

function discriminatorFact(d) {
  if (!d) return 'not included';
  const p = d.d_output === 'probability'
    ? 'it ends in a sigmoid: its output, the probability that an image is real, is under each image'
    : 'the probability that an image is real, sigmoid(logit), is under each image';
  return `included: ${p}${d.class_input === 'labels' ? '; it is fed each image\'s class as an input' : ''}`;
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
  if (!values.every(Number.isFinite)) throw new RangeError(`${name} holds NaN or Infinity`);
}

function imageDims(n) {
  const g = site.models.generator.metadata;
  return [n, g.channels, g.height, g.width];
}

function classes() {
  return loadedSite().models.generator.metadata.classes;
}

/** An API call that needs the models: it runs once `ready` has settled (and fails as
 * `ready` did, if the site cannot run). */
function whenReady(fn) {
  return async (...args) => {
    await api.ready;
    return fn(...args);
  };
}

/** site.json once loaded; the synchronous API says what to wait for before that. */
function loadedSite() {
  if (!site) throw new Error('ganport is still loading the site: await window.ganport.ready first');
  return site;
}

/** Whether `role`'s model takes its class as a second input, `labels`. */
function takesLabels(role) {
  return site.models[role]?.metadata.class_input === 'labels';
}

/** The graph output the metadata names: image, logit, or a sigmoid D's probability. */
function outputName(role) {
  if (role === 'generator') return 'image';
  return site.models.discriminator.metadata.d_output === 'probability' ? 'probability' : 'logit';
}

/** How often z[:, 0] draws each class (a run on modes), or null for equally often. */
function shares() {
  return loadedSite().models.generator.metadata.class_shares ?? null;
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
