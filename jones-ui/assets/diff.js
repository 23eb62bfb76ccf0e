// A line diff of two JSON values, pretty-printed with sorted keys so that
// only real changes show.

/** JSON text with object keys sorted, two-space indented. */
export function canonical(value) {
  return JSON.stringify(sortKeys(value), null, 2);
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

/** Lines of `a` and `b` as [{op: ' ' | '-' | '+', text}], by longest common subsequence. */
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: '-', text: x[i++] });
    } else {
      out.push({ op: '+', text: y[j++] });
    }
  }
  while (i < n) out.push({ op: '-', text: x[i++] });
  while (j < m) out.push({ op: '+', text: y[j++] });
  return out;
}

/** A <pre> element showing the diff from `before` to `after`. */
export function renderDiff(before, after, labels = ['before', 'after']) {
  const pre = document.createElement('pre');
  pre.className = 'diff';
  const head = document.createElement('div');
  head.className = 'diff-head';
  head.textContent = `--- ${labels[0]}\n+++ ${labels[1]}`;
  pre.append(head);
  const lines = diffLines(canonical(before), canonical(after));
  if (!lines.some((l) => l.op !== ' ')) {
    const same = document.createElement('div');
    same.className = 'diff-same';
    same.textContent = 'No differences.';
    pre.append(same);
    return pre;
  }
  for (const line of lines) {
    const div = document.createElement('div');
    div.className = line.op === '+' ? 'add' : line.op === '-' ? 'del' : 'ctx';
    div.textContent = `${line.op} ${line.text}`;
    pre.append(div);
  }
  return pre;
}
