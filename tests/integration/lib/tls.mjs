// TLS for the integration tests: a self-signed certificate made with openssl
// at test time, and HTTPS requests that trust it.

import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { run, tmpDir } from './extra.mjs';

// Makes cert.pem/key.pem for CN=localhost, SAN IP:127.0.0.1 and DNS:localhost,
// valid one day, in a temporary directory of the test.
export async function makeCert(t) {
  const dir = tmpDir(t, 'rthub-tls-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const res = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '1', '-keyout', key, '-out', cert], { timeoutMs: 60000 });
  if (res.code !== 0) throw new Error(`openssl req failed (${res.code}): ${res.stderr}`);
  return { dir, cert, key, ca: fs.readFileSync(cert) };
}

// Like server.mjs's httpRequest, over HTTPS with `ca` trusted.
export function httpsRequest(port, { method = 'GET', path: urlPath = '/', headers = {}, body, ca, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined
      : (typeof body === 'string' || Buffer.isBuffer(body)) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const requestHeaders = { ...headers };
    if (payload !== undefined) {
      requestHeaders['Content-Length'] = String(payload.length);
      requestHeaders['Content-Type'] ??= 'application/json';
    }
    const req = https.request({ host: '127.0.0.1', port, method, path: urlPath, headers: requestHeaders, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json, socket: res.socket });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// The status of an HTTPS GET that may be an endless stream (closed at once).
export function httpsStatus(port, urlPath, { headers = {}, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: urlPath, headers, ca, agent: false }, (res) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, headers: res.headers });
        req.destroy();
        return;
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(body); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error(`GET ${urlPath}: no answer`)));
    req.on('error', (error) => { if (!req.destroyed || error.code !== 'ECONNRESET') reject(error); });
  });
}
