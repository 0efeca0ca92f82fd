import { expect, test } from 'vitest';
import { splitMixedNamespaces, withPrefixForEveryNamespace } from './xml-namespaces.js';

const element = (uri: string, text: string): object => ({ $ns: { uri, local: 'somename' }, _: text });

test('siblings of one raw name in several namespaces get a key per namespace, in order', () => {
  const parsed = { prop: [{ $ns: { uri: 'DAV:', local: 'prop' }, somename: [element('urn:a', '1'), element('urn:b', '2'), element('urn:a', '3')] }] };
  expect(splitMixedNamespaces(parsed)).toEqual({
    prop: [{ $ns: { uri: 'DAV:', local: 'prop' }, somename: [element('urn:a', '1'), element('urn:a', '3')], 'somename\u00001': [element('urn:b', '2')] }],
  });
  const single = { prop: [{ somename: [element('urn:a', '1')] }] };
  expect(splitMixedNamespaces(single)).toEqual(single);
});

test('every namespace of an answer gets a prefix, without touching the ones the request gave', () => {
  const answer = { multistatus: { response: [{ 'urn:a%%somename': ['1'], 'urn:b%%somename': ['2'], 'urn:z%%x': ['3'], '%%bare': ['4'], getetag: ['e'] }] } };
  expect(withPrefixForEveryNamespace(answer, { Z: 'urn:z', ns0: 'urn:taken' })).toEqual({ Z: 'urn:z', ns0: 'urn:taken', ns1: 'urn:a', ns2: 'urn:b' });
});
