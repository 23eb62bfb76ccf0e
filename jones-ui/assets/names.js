// Name rules for names written from now on, the same as jones-client's
// (src/model/name.rs), checked as the user types so a bad name is explained
// before anything is sent. Both are tested against one table of cases,
// jones-client/src/model/name_rules.json.

const MAX_SEGMENT_BYTES = 255;
const MAX_ASSOCIATION_BYTES = 1024;
const bytes = (s) => new TextEncoder().encode(s).length;

function forbidden(ch) {
  const c = ch.codePointAt(0);
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff);
}

/** Why `name` is not a valid environment segment, or null. */
export function segmentProblem(name) {
  if (name === '') return 'A name cannot be empty.';
  if (name.includes('/')) return 'A name cannot contain “/”: add one level at a time.';
  if (name === '.' || name === '..') return `“${name}” is not allowed as a name.`;
  if (bytes(name) > MAX_SEGMENT_BYTES) return `A name is at most ${MAX_SEGMENT_BYTES} bytes long.`;
  const bad = [...name].find(forbidden);
  if (bad !== undefined) {
    return `Character U+${bad.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')} is not allowed.`;
  }
  if (name.trim() !== name) return 'Leading or trailing spaces are not allowed.';
  return null;
}

/** Why `path` (segments joined by “/”) is not a valid environment path, or null. */
export function envPathProblem(path) {
  if (path.startsWith('/') || path.endsWith('/')) return 'A path cannot start or end with “/”.';
  for (const segment of path.split('/')) {
    const why = segmentProblem(segment);
    if (why) return why;
  }
  return null;
}

/** Why `name` is not a valid name for a new service, or null: ASCII
 * letters, digits, “-”, “_” and “.”, starting with a letter or a digit. */
export function serviceProblem(name) {
  if (name === '') return 'A name cannot be empty.';
  if (bytes(name) > MAX_SEGMENT_BYTES) return `A name is at most ${MAX_SEGMENT_BYTES} bytes long.`;
  if (!/^[A-Za-z0-9]/.test(name)) return 'A service name starts with a letter or a digit.';
  const bad = [...name].find((ch) => !/[A-Za-z0-9._-]/.test(ch));
  if (bad !== undefined) {
    const shown = bad === ' ' ? 'a space' : `“${bad}”`;
    return `A service name has only letters, digits, “-”, “_” and “.”; not ${shown}.`;
  }
  return null;
}

/** Why `name` is not a valid association, or null. */
export function associationProblem(name) {
  if (name === '') return 'An association cannot be empty.';
  if (bytes(name) > MAX_ASSOCIATION_BYTES) return `An association is at most ${MAX_ASSOCIATION_BYTES} bytes long.`;
  if ([...name].some((ch) => ch.codePointAt(0) < 0x20 || (ch.codePointAt(0) >= 0x7f && ch.codePointAt(0) <= 0x9f))) {
    return 'Control characters are not allowed.';
  }
  if (name.includes(' -> ')) return '“ -> ” separates names from paths in the nodemap and is not allowed.';
  if (name.trim() !== name) return 'Leading or trailing spaces are not allowed.';
  return null;
}
