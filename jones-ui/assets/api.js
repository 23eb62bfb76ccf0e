// The server's HTTP API under /api/v1: one function per call, every
// failure an ApiError carrying the status and the server's own words. The
// credential is the session cookie the browser sends itself; a 401 raises
// `jones:unauthorized` for the sign-in form.

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const enc = (s) => encodeURIComponent(s);
const envPath = (env) => (env ? '/' + env.split('/').map(enc).join('/') : '');

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `The Jones server cannot be reached (${e.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (response.status === 401 && !path.startsWith('/session')) {
    window.dispatchEvent(new CustomEvent('jones:unauthorized', { detail: data }));
  }
  if (!response.ok) {
    const what = (data && (data.error || data.message)) || response.statusText;
    throw new ApiError(response.status, `${what} (HTTP ${response.status})`, data);
  }
  return data;
}

const list = (data, key) => (Array.isArray(data) ? data : (data && data[key]) || []);

export const api = {
  services: async () => list(await call('GET', '/services'), 'services'),
  createService: (svc, merge) => call('POST', `/services/${enc(svc)}`, merge ? { merge } : undefined),
  service: (svc) => call('GET', `/services/${enc(svc)}`),
  setMerge: (svc, merge) => call('PUT', `/services/${enc(svc)}`, { merge }),
  previewDelete: (svc, env) => call('GET', `/services/${enc(svc)}/preview/delete${envPath(env)}`),
  deleteService: (svc) => call('DELETE', `/services/${enc(svc)}`),
  tree: (svc) => call('GET', `/services/${enc(svc)}/envs`),
  env: (svc, env) => call('GET', `/services/${enc(svc)}/config${envPath(env)}`),
  createEnv: (svc, env, config) => call('POST', `/services/${enc(svc)}/config${envPath(env)}`, { config }),
  saveEnv: (svc, env, config, version) =>
    call('PUT', `/services/${enc(svc)}/config${envPath(env)}`, { config, version }),
  previewEnv: (svc, env, config) =>
    call('POST', `/services/${enc(svc)}/preview/config${envPath(env)}`, { config }),
  deleteEnv: (svc, env, recursive) =>
    call('DELETE', `/services/${enc(svc)}/config${envPath(env)}${recursive ? '?recursive=true' : ''}`),
  associations: (svc) => call('GET', `/services/${enc(svc)}/associations`),
  associate: (svc, name, env) => call('PUT', `/services/${enc(svc)}/associations/${enc(name)}`, { env }),
  dissociate: (svc, name) => call('DELETE', `/services/${enc(svc)}/associations/${enc(name)}`),
  resolve: (svc, name) => call('GET', `/services/${enc(svc)}/resolve/${enc(name)}`),
  clients: (svc) => call('GET', `/services/${enc(svc)}/clients`),
  history: (svc, { env, limit, before } = {}) => {
    const query = new URLSearchParams();
    if (env !== undefined && env !== null) query.set('env', env);
    if (limit) query.set('limit', String(limit));
    if (before !== undefined && before !== null) query.set('before', String(before));
    const q = query.toString();
    return call('GET', `/services/${enc(svc)}/history${q ? '?' + q : ''}`);
  },
  historyConfig: (svc, id) => call('GET', `/services/${enc(svc)}/history/${enc(String(id))}/config`),
  rollback: (svc, to, version, message) =>
    call('POST', `/services/${enc(svc)}/rollback`, { to, version, ...(message ? { message } : {}) }),
  pins: async (svc) => list(await call('GET', `/services/${enc(svc)}/pins`), 'pins'),
  pin: (svc, env, to, message) => call('PUT', `/services/${enc(svc)}/pins${envPath(env)}`, { to, ...(message ? { message } : {}) }),
  unpin: (svc, env, message) =>
    call('DELETE', `/services/${enc(svc)}/pins${envPath(env)}${message ? '?message=' + enc(message) : ''}`),
  /** The service's schema, or null when it has none. */
  schema: async (svc) => {
    try {
      return (await call('GET', `/services/${enc(svc)}/schema`)).schema;
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  },
  session: () => call('GET', '/session'),
  signIn: (token) => call('POST', '/session', { token }),
  signOut: () => call('DELETE', '/session'),
  eventsUrl: (svc) => `${BASE}/services/${enc(svc)}/events`,
};
