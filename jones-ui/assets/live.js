// The server's event stream for one service: changes made elsewhere
// (another user, the CLI) reach the page without a reload.
//
// The server sends `ready` once its ZooKeeper watch is in place, `change`
// for each changed znode, `clients` with the report of the client registry
// when it changed (at most 4 a second), and `resync` when it had to re-add
// its watch, and `revoked` before it ends a stream whose account was
// removed: the stream is closed and the sign-in asked for.
// The browser reconnects a dropped stream by itself; changes made while it
// was away are not replayed, so a `ready` after the first one counts as a
// resync too. The browser gives up for good when the server answers the
// reconnect with an error (the service is gone, the server is another
// one): the stream is then closed and the state `disconnected`.

/**
 * Subscribes to `url`; calls `onChange(event)` for each change, resync or
 * registry report (`{type: 'clients', report}`),
 * `onState` with 'live', 'reconnecting' (the browser retries) or
 * 'disconnected' (it does not: a reload is needed). Returns a function that
 * unsubscribes.
 */
export function subscribe(url, onChange, onState) {
  const source = new EventSource(url);
  let readyBefore = false;
  source.onerror = () => onState(source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting');
  const parse = (e) => {
    try {
      return JSON.parse(e.data);
    } catch {
      return {};
    }
  };
  source.addEventListener('ready', () => {
    onState('live');
    if (readyBefore) onChange({ type: 'resync' });
    readyBefore = true;
  });
  source.addEventListener('change', (e) => onChange({ type: 'change', ...parse(e) }));
  source.addEventListener('clients', (e) => onChange({ type: 'clients', report: parse(e) }));
  source.addEventListener('resync', () => onChange({ type: 'resync' }));
  source.addEventListener('revoked', (e) => {
    source.close();
    onState('disconnected');
    window.dispatchEvent(new CustomEvent('jones:unauthorized', { detail: parse(e) }));
  });
  return () => source.close();
}
