// Reads the Prometheus text exposition of GET /metrics.

// Returns [{name, labels: {k: v}, value}] for every sample line.
export function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(raw)}`);
    const labels = {};
    if (m[3]) {
      const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;
      let lm;
      let consumed = 0;
      while ((lm = labelRe.exec(m[3])) !== null) {
        labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed = labelRe.lastIndex;
      }
      if (consumed !== m[3].length) throw new Error(`bad label set in ${JSON.stringify(raw)}`);
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`bad sample value in ${JSON.stringify(raw)}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

// Returns the `# TYPE` of every metric family: {name: 'counter' | 'gauge' | ...}.
export function metricTypes(text) {
  const types = {};
  for (const line of text.split('\n')) {
    const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line.trim());
    if (m) types[m[1]] = m[2];
  }
  return types;
}

// Sum of the samples called `name` whose labels include `labels`; undefined
// when there is none.
export function metricValue(samples, name, labels = {}) {
  const matching = samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matching.length === 0) return undefined;
  return matching.reduce((sum, s) => sum + s.value, 0);
}
