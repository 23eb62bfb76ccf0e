// Name rules for names written from now on, the same as jones-client's
// (src/model/name.rs), checked as the user types so a bad name is explained
// before anything is sent. Both are tested against one table of cases,
// jones-client/src/model/name_rules.json.

const MAX_SEGMENT_BYTES = 255;
const MAX_ASSOCIATION_BYTES = 1024;
const bytes = (s) => new TextEncoder().encode(s).length;

/**
 * The characters no name may start or end with, as inclusive ranges of
 * code points: Unicode's White_Space plus U+200B–U+200D, U+2060 and U+FEFF.
 * The same set as name.rs's EDGE_SPACE, and not JavaScript's trim() (which
 * strips U+FEFF but not U+0085 nor U+200B); both are tested against the
 * `edge_space` list of name_rules.json.
 */
export const EDGE_SPACE = [
  [0x0009, 0x000d], [0x0020, 0x0020], [0x0085, 0x0085], [0x00a0, 0x00a0],
  [0x1680, 0x1680], [0x2000, 0x200d], [0x2028, 0x2029], [0x202f, 0x202f],
  [0x205f, 0x2060], [0x3000, 0x3000], [0xfeff, 0xfeff],
];

/** Whether the character `ch` is in EDGE_SPACE. */
export function isEdgeSpace(ch) {
  const c = ch.codePointAt(0);
  return EDGE_SPACE.some(([lo, hi]) => c >= lo && c <= hi);
}

/** Whether `name` starts or ends with a character of EDGE_SPACE. */
function hasEdgeSpace(name) {
  const chars = [...name];
  return chars.length > 0 && (isEdgeSpace(chars[0]) || isEdgeSpace(chars[chars.length - 1]));
}

/**
 * What to type to confirm deleting `name`: the name without what cannot
 * be seen (edge spaces, control characters), so a name written before the
 * rules (“ spaced name ”) is confirmed by the letters shown. A name that
 * is nothing but such characters is confirmed by typing “delete”.
 */
export function confirmationForm(name) {
  let chars = [...name].filter((ch) => !forbidden(ch) && !/\p{Cc}/u.test(ch));
  while (chars.length && isEdgeSpace(chars[0])) chars.shift();
  while (chars.length && isEdgeSpace(chars[chars.length - 1])) chars.pop();
  return chars.length ? chars.join('') : 'delete';
}

/** `name` in quotes, with its edge spaces and control characters shown as ␣ and \u escapes. */
export function visibleName(name) {
  const chars = [...name];
  const shown = chars.map((ch, i) => {
    const c = ch.codePointAt(0);
    if (ch === ' ' && (i === 0 || i === chars.length - 1)) return '␣';
    if (/\p{Cc}/u.test(ch) || (isEdgeSpace(ch) && ch !== ' ') || forbidden(ch)) {
      return `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    }
    return ch;
  });
  return `“${shown.join('')}”`;
}

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
  if (hasEdgeSpace(name)) return 'Leading or trailing spaces (or invisible characters) are not allowed.';
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
  if (hasEdgeSpace(name)) return 'Leading or trailing spaces (or invisible characters) are not allowed.';
  return null;
}
