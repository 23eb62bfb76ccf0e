// The service's JSON Schema checked as you type. The schema applies to
// views, not to the config an environment sets: a key the schema requires
// may come from a parent. So what is checked is the would-be view, the
// parent's view merged with the edited config in the service's merge mode
// (as the server merges), and each error is put on the key of the edited
// config it lies in. Errors outside every key the config sets (a required
// key nobody sets, an inherited value) are listed apart, not in the editor.
//
// The check uses the Ajv that the vendored vanilla-jsoneditor bundles
// (createAjvValidator), which knows draft-07, not the server's draft
// 2020-12: keywords only 2020-12 has are not checked here. The server's
// verdict (the review's violations, a 422) is what counts; this is a hint.

import { api } from './api.js';
import { h } from './dom.js';
import { createAjvValidator } from './vendor/vanilla-jsoneditor/standalone.js';

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The view of an environment whose parent's view is `parent` and whose config is `config`. */
export function mergeView(parent, config, merge) {
  if (merge !== 'deep') return { ...parent, ...config };
  const out = { ...parent };
  for (const [key, value] of Object.entries(config)) {
    out[key] = isObject(out[key]) && isObject(value) ? mergeView(out[key], value, 'deep') : value;
  }
  return out;
}

/** The longest start of `path` that exists in `value`. */
function presentPrefix(value, path) {
  const found = [];
  let at = value;
  for (const step of path) {
    if (at === null || typeof at !== 'object' || !Object.prototype.hasOwnProperty.call(at, step)) break;
    found.push(step);
    at = at[step];
  }
  return found;
}

/** "/db/pool" from ["db", "pool"], as the server names places. */
export function pointer(path) {
  return path.length ? '/' + path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/') : '';
}

/**
 * A checker of views against `schema`, or null when the bundled Ajv cannot
 * compile it (the server still checks every write).
 */
export function viewChecker(schema) {
  if (!isObject(schema) && typeof schema !== 'boolean') return null;
  const { $schema: _ignored, ...rest } = isObject(schema) ? schema : {};
  try {
    return createAjvValidator({ schema: isObject(schema) ? rest : schema, ajvOptions: { strict: false, validateFormats: false } });
  } catch {
    return null;
  }
}

/**
 * The editor's validator for an environment: `check` a view checker,
 * `parent` the parent's view, `merge` the service's merge mode, and
 * `report(found)` told every error of the would-be view as
 * `{pointer, message, own}` (`own`: within a key the config sets).
 */
export function configValidator(check, parent, merge, report) {
  return (json) => {
    if (!isObject(json)) {
      report([]);
      return [];
    }
    const errors = check(mergeView(parent, json, merge));
    const found = [];
    const marks = [];
    for (const e of errors) {
      const path = Array.isArray(e.path) ? e.path : [];
      const own = presentPrefix(json, path);
      found.push({ pointer: pointer(path), message: e.message, own: own.length > 0 });
      if (own.length) marks.push({ path: own, message: `The view would break the schema at ${pointer(path) || '/'}: ${e.message}`, severity: 'warning' });
    }
    report(found);
    return marks;
  };
}

/**
 * The check of one environment's editor: reads the schema and the parent's
 * view, and gives the editor a new validator only when either changed, so
 * a live update never disturbs what is being typed. `root` lists below the
 * editor what the check found. `skip()` says when to leave it to the server.
 */
export class SchemaCheck {
  constructor(svc, env, { merge, skip }) {
    this.svc = svc;
    this.env = env;
    this.merge = merge;
    this.skip = skip;
    this.editor = null;
    this.key = null;
    this.root = h('div.schema-status', { id: 'schema-status', 'aria-live': 'polite', hidden: true });
  }

  /** Checks `editor` from now on. */
  attach(editor) {
    this.editor = editor;
    this.key = null;
    this.update();
  }

  /** Stops checking (the editor is destroyed). */
  detach() {
    this.editor = null;
  }

  /** Reads the schema and the parent's view again (after a change). */
  async update() {
    const editor = this.editor;
    let schema;
    let parent = {};
    try {
      schema = this.skip() ? null : await api.schema(this.svc);
      if (schema !== null && this.env !== '') {
        parent = (await api.env(this.svc, this.env.includes('/') ? this.env.slice(0, this.env.lastIndexOf('/')) : '')).view || {};
      }
    } catch {
      schema = null;
    }
    if (!editor || editor !== this.editor) return;
    const key = schema === null ? 'none' : JSON.stringify([schema, parent, this.merge()]);
    if (key === this.key) return;
    this.key = key;
    const check = schema === null ? null : viewChecker(schema);
    this.show([]);
    editor.updateProps({ validator: check ? configValidator(check, parent, this.merge(), (found) => this.show(found)) : null });
  }

  show(found) {
    this.root.hidden = found.length === 0;
    this.root.replaceChildren(...(found.length ? [
      h('p', {}, 'The view would break the service’s schema (checked again when you save):'),
      h('ul', {}, found.map((f) => h('li', {}, h('code', {}, f.pointer || '/'), `: ${f.message}`, f.own ? '' : ' (not in a key set here)'))),
    ] : []));
  }
}
