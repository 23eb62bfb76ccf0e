// The server's event stream for one service: changes made elsewhere
// (another user, the CLI) reach the page without a reload.

/**
 * Subscribes to `url`; calls `onChange(event)` for each change, `onState`
 * with 'live' or 'reconnecting'. Returns a function that unsubscribes.
 */
export function subscribe(url, onChange, onState) {
  const source = new EventSource(url);
  source.onopen = () => onState('live');
  source.onerror = () => onState('reconnecting');
  const handle = (e) => {
    let data = {};
    try {
      data = JSON.parse(e.data);
    } catch {
      data = {};
    }
    onChange({ type: e.type, ...data });
  };
  source.addEventListener('change', handle);
  source.addEventListener('resync', handle);
  return () => source.close();
}
