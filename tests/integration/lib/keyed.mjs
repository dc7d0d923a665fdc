// Keyed messages and snapshots as the tests use them: a zone publish, applying messages to a
// key -> data map the way a client does, and reading a snapshot sent in parts.

export const zone = (channel, key, data, extra = {}) => ({ channel, type: 'zone.updated', data, key, ...extra });

// Applies a snapshot's items then live messages to a map of key -> data, the way a client does.
export function applyTo(state, message) {
  if (!message.key) return;
  if (message.delete) state.delete(message.key);
  else state.set(message.key, message.data);
}

// Reads a whole snapshot (every part up to the one without "more") from a WebSocket inbox;
// `answerMs` bounds each part (one answer of a local hub on a loaded machine).
export async function wholeSnapshot(client, channel, answerMs) {
  const parts = [];
  for (;;) {
    const part = await client.next({ op: 'snapshot', channel }, answerMs);
    parts.push(part);
    if (!part.more) return parts;
  }
}
