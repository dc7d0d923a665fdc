// rthub demo client: a shared faction map fed by bindings/js/rthub.js (served here as
// ./rthub.js, a symlink), which connects over WebSocket, falls back to EventSource, and
// resumes after drops. No framework, no build step.
import { connect } from './rthub.js';

const CHANNELS = ['geometry', 'incidents', 'admin'];
const MAX_INCIDENTS = 50;
const SVG_NS = 'http://www.w3.org/2000/svg';

// Exposed for the browser tests and for poking around in the devtools console.
const demo = window.rthubDemo = {
  transport: null,     // 'ws' | 'sse'
  state: 'connecting', // 'connecting' | 'connected' | 'reconnecting'
  received: [],        // every {op:"message"} object the client handed over, in arrival order
  positions: {},       // channel -> {epoch, seq} of the last message applied
  client: null,        // the RthubClient (stats, positions, reconnect(), ...)
};

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// ---------------------------------------------------------------- connection

// The map is shared state: geometry is subscribed with a snapshot, so that a page opened after
// zones were drawn starts with every zone (each zone is published with its id as "key").
const client = demo.client = connect(location.origin, {
  channels: CHANNELS.filter((c) => c !== 'geometry'),
  transport: params.get('transport') === 'sse' ? 'sse' : 'auto',
  backoffBase: 500,
  backoffCap: 15000,
});
client.subscribe('geometry', { snapshot: true, presence: true });
let everConnected = false;

client.on('state', ({ state, transport, reason }) => {
  if (transport) demo.transport = document.body.dataset.transport = transport;
  if (state === 'connected') everConnected = true;
  const shown = state === 'connected' ? 'connected'
    : state === 'connecting' && !everConnected ? 'connecting' : 'reconnecting';
  demo.state = document.body.dataset.state = shown;
  if (state === 'disconnected' && reason && /watchdog/.test(reason)) showNotice('connection silent for too long, reconnecting');
  if (state === 'closed') showNotice('connection closed: ' + reason);
  renderStatus();
});
client.on('fallback', () => showNotice('WebSocket unavailable, falling back to Server-Sent Events'));
client.on('subscribed', ({ channel }) => {
  demo.positions[channel] = client.position(channel);
  renderStatus();
});
client.on('reset', ({ channel }) => {
  // The hub could not replay what this page missed: clear the channel and go on from here.
  resetChannel(channel);
  demo.positions[channel] = client.position(channel);
  showNotice('missed updates, state reloaded (' + channel + ')');
});
client.on('snapshot', ({ channel, items, epoch, seq }) => {
  // The whole current state of the channel: it replaces what the page drew.
  resetChannel(channel);
  demo.snapshots = (demo.snapshots || 0) + 1;
  for (const item of items) applyMessage(item);
  demo.positions[channel] = { epoch, seq };
  renderStatus();
});
client.on('presence', ({ channel, clients }) => {
  // Everyone subscribed to the map, this page included.
  if (channel !== 'geometry') return;
  demo.online = clients.length;
  $('online').textContent = clients.length === 1 ? '1 person on the map' : clients.length + ' people on the map';
});
client.on('message', (msg) => {
  demo.received.push({ op: 'message', ...msg });
  demo.positions[msg.channel] = { epoch: msg.epoch, seq: msg.seq };
  applyMessage(msg);
  renderStatus();
});
client.on('error', (e) => showNotice('server error ' + e.code + ': ' + e.message));

// Close the current connection and resume from the last known positions.
function dropConnection() {
  client.reconnect('dropped with the button');
}

// ---------------------------------------------------------------- protocol

function applyMessage(msg) {
  const d = msg.data || {};
  switch (msg.type) {
    case 'geometry.updated': upsertPolygon(d); break;
    case 'geometry.deleted': deletePolygon(String(d.id)); break;
    case 'incident.created': addIncident(d, msg.ts); break;
    case 'admin.notice': showBanner(String(d.text)); break;
    default: break;
  }
}

function resetChannel(channel) {
  if (channel === 'geometry') {
    for (const id of Array.from(polygons.keys())) deletePolygon(id);
  } else if (channel === 'incidents') {
    incidents.length = 0;
    $('incidents').replaceChildren();
    $('markers').replaceChildren();
  } else if (channel === 'admin') {
    $('banner').hidden = true;
  }
}

// ---------------------------------------------------------------- rendering

const polygons = new Map(); // id -> {faction, color, el, label}
const incidents = [];       // {id, li, marker}, oldest first
const PALETTE = ['#e4572e', '#2e86ab', '#3bb273', '#f3a712', '#7768ae', '#d1495b', '#00a6a6', '#8c6a4f'];
const SEVERITY_COLORS = { low: '#3bb273', medium: '#f3a712', high: '#e4572e', critical: '#9b1d20' };

function factionColor(faction) {
  let h = 0;
  for (const ch of String(faction)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  return el;
}

function validPoints(points) {
  return Array.isArray(points) && points.length >= 3 && points.every((p) =>
    Array.isArray(p) && p.length >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]));
}

function upsertPolygon(d) {
  if (d.id === undefined || !validPoints(d.points)) {
    showNotice('ignored geometry.updated without id or with bad points');
    return;
  }
  const id = String(d.id);
  const faction = d.faction === undefined ? 'unknown' : String(d.faction);
  const color = typeof d.color === 'string' && d.color ? d.color : factionColor(faction);
  let entry = polygons.get(id);
  if (!entry) {
    const el = svg('polygon', { 'data-id': id, class: 'zone' });
    el.appendChild(svg('title', {}));
    const label = svg('text', { class: 'zone-label', 'data-label-for': id, 'text-anchor': 'middle' });
    $('polygons').append(el, label);
    entry = { el, label };
    polygons.set(id, entry);
  }
  entry.faction = faction;
  entry.color = color;
  entry.el.setAttribute('points', d.points.map((p) => p[0] + ',' + p[1]).join(' '));
  entry.el.setAttribute('fill', color);
  entry.el.setAttribute('stroke', color);
  entry.el.setAttribute('data-faction', faction);
  entry.el.firstChild.textContent = id + ' (' + faction + ')';
  const cx = d.points.reduce((s, p) => s + p[0], 0) / d.points.length;
  const cy = d.points.reduce((s, p) => s + p[1], 0) / d.points.length;
  entry.label.setAttribute('x', cx.toFixed(1));
  entry.label.setAttribute('y', cy.toFixed(1));
  entry.label.textContent = faction;
  renderFactions();
}

function deletePolygon(id) {
  const entry = polygons.get(id);
  if (!entry) return;
  entry.el.remove();
  entry.label.remove();
  polygons.delete(id);
  renderFactions();
}

function renderFactions() {
  const counts = new Map();
  for (const { faction, color } of polygons.values()) {
    const c = counts.get(faction) || { color, n: 0 };
    c.n++;
    counts.set(faction, c);
  }
  const items = Array.from(counts, ([faction, { color, n }]) => {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = color;
    li.append(swatch, faction + ' (' + n + (n === 1 ? ' zone)' : ' zones)'));
    return li;
  });
  $('factions').replaceChildren(...items);
}

function addIncident(d, ts) {
  const severity = String(d.severity || 'low');
  const color = SEVERITY_COLORS[severity] || '#555';
  const li = document.createElement('li');
  li.dataset.id = String(d.id);
  li.className = 'severity-' + severity;
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.style.background = color;
  badge.textContent = severity;
  const when = ts ? new Date(ts).toLocaleTimeString() : '';
  li.append(badge, ' ' + String(d.title || '(untitled)') + ' ', small('at ' + d.x + ',' + d.y + ' ' + when));
  $('incidents').prepend(li);

  let marker = null;
  if (Number.isFinite(d.x) && Number.isFinite(d.y)) {
    marker = svg('circle', { cx: d.x, cy: d.y, r: 12, fill: color, class: 'incident-marker', 'data-id': String(d.id) });
    marker.appendChild(svg('title', {})).textContent = String(d.title || '');
    $('markers').appendChild(marker);
  }
  incidents.push({ li, marker });
  while (incidents.length > MAX_INCIDENTS) {
    const old = incidents.shift();
    old.li.remove();
    if (old.marker) old.marker.remove();
  }
}

function small(text) {
  const el = document.createElement('small');
  el.textContent = text;
  return el;
}

function showBanner(text) {
  $('banner-text').textContent = text;
  $('banner').hidden = false;
}

function showNotice(text) {
  const n = $('notice');
  n.textContent = new Date().toLocaleTimeString() + ': ' + text;
  n.hidden = false;
}

function renderStatus() {
  const parts = ['transport: ' + (demo.transport || 'none'), 'state: ' + demo.state];
  for (const channel of CHANNELS) {
    const pos = demo.positions[channel];
    parts.push(channel + ': ' + (pos ? 'seq ' + pos.seq : '-'));
  }
  $('status').textContent = parts.join(' · ');
}

// ---------------------------------------------------------------- publishing

const FACTIONS = ['Aurora', 'Boreal', 'Cinder', 'Dune'];
const TITLES = ['Road blocked', 'Border skirmish', 'Supply depot on fire', 'Bridge collapsed',
  'Scouts missing', 'Flooded crossing'];
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const pick = (list) => list[Math.floor(Math.random() * list.length)];
const rand = (lo, hi) => lo + Math.random() * (hi - lo);

function randomGeometry() {
  const cx = rand(160, 840), cy = rand(160, 840), r0 = rand(60, 130);
  const n = 5 + Math.floor(Math.random() * 4);
  const points = [];
  for (let i = 0; i < n; i++) {
    const a = ((i + Math.random() * 0.6) / n) * 2 * Math.PI;
    const r = r0 * rand(0.6, 1.15);
    points.push([Math.round(cx + r * Math.cos(a)), Math.round(cy + r * Math.sin(a))]);
  }
  return { id: 'zone-' + (1 + Math.floor(Math.random() * 6)), faction: pick(FACTIONS), points };
}

function randomIncident() {
  return {
    id: 'inc-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 6),
    title: pick(TITLES),
    severity: pick(SEVERITIES),
    x: Math.round(rand(20, 980)),
    y: Math.round(rand(20, 980)),
  };
}

async function publish(channel, type, data) {
  const out = $('publish-result');
  try {
    const res = await fetch('/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      // Zones are keyed by their id: the hub keeps each zone's latest geometry for late joiners.
      body: JSON.stringify(channel === 'geometry' ? { channel, type, data, key: String(data.id) } : { channel, type, data }),
    });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (res.ok && body) {
      out.textContent = 'published ' + type + ' to ' + body.channel + ', seq ' + body.seq;
    } else {
      const why = body && body.error ? body.error.code + ': ' + body.error.message : text;
      out.textContent = 'publish failed: HTTP ' + res.status + ' ' + why;
    }
  } catch (e) {
    out.textContent = 'publish failed: ' + e.message;
  }
}

$('publish-geometry').onclick = () => publish('geometry', 'geometry.updated', randomGeometry());
$('publish-incident').onclick = () => publish('incidents', 'incident.created', randomIncident());
$('drop-connection').onclick = dropConnection;
$('banner-close').onclick = () => { $('banner').hidden = true; };
$('notice').onclick = () => { $('notice').hidden = true; };

renderStatus();
