// The server's event stream for one service: changes made elsewhere
// (another user, the CLI) reach the page without a reload.
//
// The server sends `ready` once its ZooKeeper watch is in place, `change`
// for each changed znode, and `resync` when it had to re-add its watch.
// The browser reconnects a dropped stream by itself; changes made while it
// was away are not replayed, so a `ready` after the first one counts as a
// resync too.

/**
 * Subscribes to `url`; calls `onChange(event)` for each change or resync,
 * `onState` with 'live' or 'reconnecting'. Returns a function that
 * unsubscribes.
 */
export function subscribe(url, onChange, onState) {
  const source = new EventSource(url);
  let readyBefore = false;
  source.onerror = () => onState('reconnecting');
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
  source.addEventListener('resync', () => onChange({ type: 'resync' }));
  return () => source.close();
}
