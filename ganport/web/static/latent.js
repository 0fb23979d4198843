// The page's latent maths: ports of ganport.core.classes (the class rule) and
// ganport.core.latent.slerp. Pure functions, no DOM, no onnxruntime, so tests can call each
// one against its Python original. Seeded draws are numpy's: see numpy-random.js.

// N(0, 1) as Python's statistics.NormalDist computes it: cdf = (1 + erf(x / √2)) / 2 and
// the inverse cdf by Wichura's AS241, the same rational functions in the same order.
function erf(x) {
  const ax = Math.abs(x);
  if (ax > 3) return Math.sign(x) * (1 - erfcContinuedFraction(ax));
  // Maclaurin series: the terms stay below e^(x²) ≈ 8e3 for |x| ≤ 3, so ~1e-12 absolute.
  let term = x;
  let sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function erfcContinuedFraction(x) {
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up.
  let fraction = x;
  for (let k = 60; k >= 1; k--) fraction = x + k / 2 / fraction;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / fraction;
}

export function normalCdf(x) {
  return 0.5 * (1 + erf(x / Math.SQRT2));
}

export function normalInvCdf(p) {
  const q = p - 0.5;
  let num;
  let den;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    num = (((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r +
      6.7265770927008700853e4) * r + 4.5921953931549871457e4) * r +
      1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r +
      1.3314166789178437745e2) * r + 3.387132872796366608) * q;
    den = (((((((5.226495278852854561e3 * r + 2.8729085735721942674e4) * r +
      3.9307895800092710610e4) * r + 2.1213794301586595867e4) * r +
      5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r +
      4.2313330701600911252e1) * r + 1.0);
    return num / den;
  }
  let r = q <= 0 ? p : 1 - p;
  r = Math.sqrt(-Math.log(r));
  if (r <= 5) {
    r -= 1.6;
    num = (((((((7.7454501427834140764e-4 * r + 2.27238449892691845833e-2) * r +
      2.4178072517745061177e-1) * r + 1.27045825245236838258) * r +
      3.64784832476320460504) * r + 5.7694972214606914055) * r +
      4.6303378461565452959) * r + 1.42343711074968357734);
    den = (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r +
      1.51986665636164571966e-2) * r + 1.4810397642748007459e-1) * r +
      6.8976733498510000455e-1) * r + 1.6763848301838038494) * r +
      2.05319162663775882187) * r + 1.0);
  } else {
    r -= 5;
    num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
      1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
      2.9656057182850489123e-1) * r + 1.7848265399172913358) * r +
      5.4637849111641143699) * r + 6.6579046435011037772);
    den = (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r +
      1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r +
      1.4875361290850615025e-2) * r + 1.3692988092273580531e-1) * r +
      5.9983220655588793769e-1) * r + 1.0);
  }
  const x = num / den;
  return q < 0 ? -x : x;
}

// float32 neighbours, for the bin clipping (numpy.nextafter on float32).
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
function nextUp(x) {
  f32[0] = x;
  if (x === 0) return 1.401298464324817e-45;
  i32[0] += x > 0 ? 1 : -1;
  return f32[0];
}

const TINY = 1.1754943508222875e-38; // smallest normal float32 (np.finfo(np.float32).tiny)

/** Each class's lower cumulative probability and its width: i/classes and 1/classes, or
 * the running sums of `shares` (added in order, in float64, as in Python) and the shares. */
function bins(classes, shares) {
  if (!shares) {
    return Array.from({ length: classes }, (_, i) => [i / classes, 1 / classes]);
  }
  let total = 0;
  return shares.map((share) => {
    const bin = [total, share];
    total += share;
    return bin;
  });
}

/** The classes-1 bin edges of z[:, 0]: N(0, 1) quantiles i/classes (or of the running sums
 * of `shares`) as float32; an edge nearer 0 than the smallest normal float32 moves there
 * (GPUs flush subnormals to zero). */
export function classEdges(classes, shares = null) {
  const edges = new Float32Array(classes - 1);
  const lower = bins(classes, shares);
  for (let i = 1; i < classes; i++) {
    const edge = Math.fround(normalInvCdf(lower[i][0]));
    edges[i - 1] = Math.abs(edge) < TINY ? TINY : edge;
  }
  return edges;
}

/** The class each row of z (n×nz, float32) draws: how many edges z[i, 0] exceeds. */
export function classOfLatent(z, n, classes, shares = null) {
  const edges = classEdges(classes, shares);
  const nz = z.length / n;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const first = Math.fround(z[i * nz]);
    labels[i] = edges.reduce((count, edge) => count + (first > edge ? 1 : 0), 0);
  }
  return labels;
}

/** z with z[i, 0] moved into class `label`'s bin at the same quantile; the rest unchanged. */
export function latentOfClass(z, n, classes, label, shares = null) {
  if (!Number.isInteger(label) || label < 0 || label >= classes) {
    throw new RangeError(`class must be between 0 and ${classes - 1}, not ${label}`);
  }
  const edges = classEdges(classes, shares);
  const [lower, width] = bins(classes, shares)[label];
  const nz = z.length / n;
  const out = Float32Array.from(z);
  for (let i = 0; i < n; i++) {
    const quantile = Math.min(Math.max(normalCdf(out[i * nz]), 1e-6), 1 - 1e-6);
    // the equal bins' own arithmetic, as in Python
    const target = shares ? lower + quantile * width : (label + quantile) / classes;
    let first = Math.fround(normalInvCdf(target));
    if (label > 0) first = Math.max(first, nextUp(edges[label - 1]));
    if (label < classes - 1) first = Math.min(first, edges[label]);
    out[i * nz] = first;
  }
  return out;
}

/** `steps` latents from a to b on the great circle, as ganport.core.latent.slerp: float64
 * maths, float32 out, a straight line when a and b are (anti)parallel. */
export function slerp(a, b, steps) {
  const nz = a.length;
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let j = 0; j < nz; j++) {
    dot += a[j] * b[j];
    normA += a[j] * a[j];
    normB += b[j] * b[j];
  }
  const cos = dot / (Math.sqrt(normA) * Math.sqrt(normB));
  const omega = Math.acos(Math.min(Math.max(cos, -1), 1));
  const straight = Math.sin(omega) < 1e-6;
  const out = new Float32Array(steps * nz);
  for (let s = 0; s < steps; s++) {
    const t = s === steps - 1 ? 1 : s * (1 / (steps - 1));
    const wa = straight ? 1 - t : Math.sin((1 - t) * omega) / Math.sin(omega);
    const wb = straight ? t : Math.sin(t * omega) / Math.sin(omega);
    for (let j = 0; j < nz; j++) out[s * nz + j] = wa * a[j] + wb * b[j];
  }
  return out;
}
