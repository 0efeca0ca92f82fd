import { Method } from 'nephele';

/** An element as xml2js gives it with `xmlns: true`. */
interface ParsedElement {
  $ns?: { uri: string; local: string };
}

const PATCHED = Symbol('udns.splitMixedNamespaces');

/**
 * nephele reads request XML with xml2js, which groups sibling elements by their raw name; it
 * then takes the namespace of the group from its first element. Ten properties named
 * `somename` in ten default namespaces (litmus props) thus became one, and PROPPATCH wrote ten
 * values to one property. This puts each namespace of such a group under a key of its own
 * (`somename`, `somename\u00001`…) before nephele reads the tree, so every property keeps its
 * namespace. Prefixed names (`a:x`, `b:x`) were never grouped and are unchanged.
 */
export function splitMixedNamespaces(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(splitMixedNamespaces);
  if (node === null || typeof node !== 'object') return node;
  const output: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$' || key === '$ns' || !Array.isArray(value)) {
      output[key] = key === '$' || key === '$ns' ? value : splitMixedNamespaces(value);
      continue;
    }
    const groups = new Map<string, unknown[]>();
    for (const item of value) {
      const uri = (item as ParsedElement | null)?.$ns?.uri ?? '';
      const group = groups.get(uri);
      if (group) group.push(item);
      else groups.set(uri, [item]);
    }
    [...groups.values()].forEach((items, index) => {
      output[index === 0 ? key : `${key}\u0000${index}`] = items.map(splitMixedNamespaces);
    });
  }
  return output;
}

/**
 * The answer side of the same bug: nephele's renderXml writes a property whose namespace has
 * no prefix as `<local xmlns="uri">` under the key `local`, so properties sharing a local name
 * overwrote each other in the answer. Giving every namespace in the answer a prefix
 * (`ns0:somename`) keeps them apart; the declarations go on the root element, as nephele does
 * for the request's own prefixes. Valid XML either way for every client.
 */
export function withPrefixForEveryNamespace(xml: unknown, prefixes: Record<string, string>): Record<string, string> {
  const known = new Set(Object.values(prefixes));
  const all = { ...prefixes };
  let next = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$') continue;
      const separator = key.indexOf('%%');
      const uri = separator === -1 ? null : key.slice(0, separator);
      // '' is "no namespace", which cannot be given a prefix.
      if (uri !== null && uri !== '' && uri !== 'DAV:' && !known.has(uri)) {
        known.add(uri);
        while (`ns${next}` in all) next++;
        all[`ns${next}`] = uri;
      }
      visit(value);
    }
  };
  visit(xml);
  return all;
}

/** Makes nephele keep same-named properties of different namespaces apart, in requests and answers (once per process). */
export function keepPropertyNamespacesApart(): void {
  const prototype = Method.prototype as unknown as {
    parseXml(xml: string): Promise<unknown>;
    renderXml(xml: unknown, prefixes?: Record<string, string>): Promise<string>;
    [PATCHED]?: boolean;
  };
  if (prototype[PATCHED]) return;
  prototype[PATCHED] = true;
  const parseXml = prototype.parseXml;
  prototype.parseXml = function (this: { xmlParser: { parseStringPromise(text: string): Promise<unknown>; [PATCHED]?: boolean } }, xml: string) {
    const parser = this.xmlParser;
    if (!parser[PATCHED]) {
      parser[PATCHED] = true;
      const parse = parser.parseStringPromise.bind(parser);
      parser.parseStringPromise = async (text: string) => splitMixedNamespaces(await parse(text));
    }
    return parseXml.call(this, xml);
  };
  const renderXml = prototype.renderXml;
  prototype.renderXml = function (this: unknown, xml: unknown, prefixes: Record<string, string> = {}) {
    return renderXml.call(this, xml, withPrefixForEveryNamespace(xml, prefixes));
  };
}
