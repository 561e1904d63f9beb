// A small s-expression tree over program text, for mutating and minimising programs structurally.
// Comments are dropped; `[...]` stays a bracket list so vectors print back as written.

export type Node = string | { open: '(' | '['; items: Node[] };

const CLOSE = { '(': ')', '[': ']' } as const;

export function tokens(text: string): string[] {
  const stripped = text.replace(/#\|[\s\S]*?\|#/g, ' ').replace(/;[^\n]*/g, ' ');
  return stripped.match(/[()[\]]|[^\s()[\]]+/g) ?? [];
}

/** The forms of a program, or undefined when its brackets do not balance. */
export function parse(text: string): Node[] | undefined {
  const stack: { open: '(' | '['; items: Node[] }[] = [{ open: '(', items: [] }];
  for (const t of tokens(text)) {
    if (t === '(' || t === '[') {
      const list = { open: t as '(' | '[', items: [] as Node[] };
      stack[stack.length - 1].items.push(list);
      stack.push(list);
    } else if (t === ')' || t === ']') {
      if (stack.length === 1 || CLOSE[stack[stack.length - 1].open] !== t) return undefined;
      stack.pop();
    } else stack[stack.length - 1].items.push(t);
  }
  return stack.length === 1 ? stack[0].items : undefined;
}

export const print = (n: Node): string =>
  typeof n === 'string' ? n : `${n.open}${n.items.map(print).join(' ')}${CLOSE[n.open]}`;
export const printAll = (forms: Node[]): string => forms.map(print).join('\n');

/** Every node with a path (indices from the top-level forms), pre-order. */
export function paths(forms: Node[]): number[][] {
  const out: number[][] = [];
  const visit = (n: Node, path: number[]) => {
    out.push(path);
    if (typeof n !== 'string') n.items.forEach((c, i) => visit(c, [...path, i]));
  };
  forms.forEach((f, i) => visit(f, [i]));
  return out;
}

export function get(forms: Node[], path: number[]): Node {
  let n: Node = { open: '(', items: forms };
  for (const i of path) n = (n as { items: Node[] }).items[i];
  return n;
}

/** A copy with the node at `path` replaced by `nodes` (none deletes it, several splice them in). */
export function replace(forms: Node[], path: number[], nodes: Node[]): Node[] {
  const edit = (items: Node[], depth: number): Node[] => {
    const i = path[depth];
    if (depth === path.length - 1) return [...items.slice(0, i), ...nodes, ...items.slice(i + 1)];
    const child = items[i] as { open: '(' | '['; items: Node[] };
    return [...items.slice(0, i), { open: child.open, items: edit(child.items, depth + 1) }, ...items.slice(i + 1)];
  };
  return edit(forms, 0);
}
