/**
 * A small strict XML reader for tests that check XML we write (JUnit): elements, attributes,
 * text, comments, the prolog and the five predefined entities plus numeric ones. It throws on
 * anything malformed (a mismatched or unclosed tag, a bare `&` or `<`), so a test parsing our
 * output also proves it well-formed.
 */

/** One element. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);|&/gi, (m, e: string | undefined) => {
    if (!e) throw new Error('a bare & in XML text');
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e.toLowerCase()]!;
  });
}

/** Parses a document; returns its root element. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const skip = (re: RegExp) => { re.lastIndex = i; const m = re.exec(xml); if (!m || m.index !== i) throw new Error(`XML: unexpected input at ${i}: ${xml.slice(i, i + 30)}`); i += m[0].length; return m; };
  if (xml.startsWith('<?xml')) skip(/<\?xml[^?]*\?>\s*/y);
  while (i < xml.length) {
    if (xml.startsWith('<!--', i)) { const end = xml.indexOf('-->', i); if (end < 0) throw new Error('XML: unclosed comment'); i = end + 3; continue; }
    if (xml.startsWith('</', i)) {
      const m = skip(/<\/([A-Za-z_][\w.-]*)\s*>/y);
      const open = stack.pop();
      if (!open || open.name !== m[1]) throw new Error(`XML: </${m[1]}> closes ${open?.name ?? 'nothing'}`);
      continue;
    }
    if (xml[i] === '<') {
      const m = skip(/<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/y);
      const attrs: Record<string, string> = {};
      for (const a of m[2]!.matchAll(/([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        if (a[1]! in attrs) throw new Error(`XML: attribute ${a[1]} twice`);
        attrs[a[1]!] = decode(a[2] ?? a[3] ?? '');
      }
      const el: XmlElement = { name: m[1]!, attrs, children: [], text: '' };
      if (stack.length) stack[stack.length - 1]!.children.push(el);
      else if (root) throw new Error('XML: two root elements');
      else root = el;
      if (!m[3]) stack.push(el);
      continue;
    }
    const next = xml.indexOf('<', i);
    const text = xml.slice(i, next < 0 ? xml.length : next);
    if (stack.length) stack[stack.length - 1]!.text += decode(text);
    else if (text.trim()) throw new Error('XML: text outside the root element');
    i = next < 0 ? xml.length : next;
  }
  if (stack.length || !root) throw new Error(`XML: unclosed <${stack[stack.length - 1]?.name ?? 'root'}>`);
  return root;
}

/** Every descendant element named `name`. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => { for (const c of e.children) { if (c.name === name) out.push(c); walk(c); } };
  walk(el);
  return out;
}
