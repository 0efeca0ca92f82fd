import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { UdnsError, validateName } from '../../protocol/index.js';
import type { AccountInfo, AccountStore } from '../accounts/account-store.js';
import { MAX_RECORDS_PER_NAME, MAX_TXT_LENGTH, parseOwner, parseRecordType, relativeOwner } from '../accounts/record-rules.js';
import type { DnsRecordInfo } from '../accounts/record-store.js';
import type { PublicUrls } from '../public-urls.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { ZoneEditor } from '../zone-editor.js';
import type { NameView, RecordView } from '../../protocol/api-views.js';

export type { NameView, RecordView };

/** What the names API reads from the store; writes go through the ZoneEditor. */
export type NameReader = Pick<AccountStore, 'listNames' | 'listRecords'>;

// Larger than any valid value, so the store's own checks give the precise message.
const valueText = z.string().max(MAX_TXT_LENGTH * 2);
const ttl = z.number().int().optional();

/** POST /names */
export const ClaimNameBody = z.object({ name: z.string().max(300) }).strict();
/** POST /names/:name/records */
export const AddRecordBody = z.object({ type: z.string().max(10), value: valueText, ttl }).strict();
/** PUT /names/:name/records/:type */
export const SetRecordsBody = z.object({ values: z.array(valueText).max(MAX_RECORDS_PER_NAME), ttl }).strict();

/** Parses a request body with `schema`, naming every problem. @throws UdnsError `bad_request` */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new UdnsError('bad_request', `invalid request body: ${problems.join('; ')}`);
}

/**
 * `/api/v1/names…`: claim, release and list names; add, set, remove and list the DNS records
 * under them. Mounted behind the bearer-token check, which puts the account in `res.locals`.
 */
export function createNamesRouter(deps: {
  domain: string;
  names: NameReader;
  editor: ZoneEditor;
  registry: Pick<TunnelRegistry, 'lookupHttp' | 'closeName' | 'quotas'>;
  urls: PublicUrls;
}): express.Router {
  const { domain, names, editor, registry, urls } = deps;
  const router = express.Router();
  // Only its own paths: other routers behind it parse their bodies with their own limits (a dispute's proof is ~1.4 MB).
  router.use('/names', express.json({ limit: '64kb' }));

  const account = (res: Response): AccountInfo => res.locals.account as AccountInfo;
  const recordView = (record: DnsRecordInfo): RecordView => ({
    owner: record.owner, fqdn: `${record.owner}.${domain}`, type: record.type, value: record.value, ttl: record.ttl,
  });
  /** The `:name` of a names route: one label, given bare or as `alice.<domain>`. */
  const labelParam = (req: Request): string => {
    const owner = relativeOwner(String(req.params.name), domain);
    const { label, host } = parseOwner(owner);
    if (host !== '') throw new UdnsError('name_invalid', `${owner} is a sub-name: names are one label (${label}); sub-names only hold records`);
    return label;
  };
  /** The `:name` of a records route: a name or a sub-name, bare or full. */
  const ownerParam = (req: Request): string => {
    const owner = relativeOwner(String(req.params.name), domain);
    parseOwner(owner);
    return owner;
  };

  async function nameViews(accountId: number, only?: string): Promise<NameView[]> {
    const [owned, records] = await Promise.all([names.listNames(accountId), names.listRecords(accountId, only)]);
    return owned
      .filter((name) => only === undefined || name.label === only)
      .map((name) => ({
        name: name.label,
        url: urls.forName(name.label),
        online: registry.lookupHttp(name.label) !== undefined,
        createdAt: name.createdAt.toISOString(),
        records: records.filter((record) => record.label === name.label).map(recordView),
      }));
  }

  router.get('/names', async (_req, res) => {
    res.json({ names: await nameViews(account(res).id) });
  });

  router.post('/names', async (req, res) => {
    const body = parseBody(ClaimNameBody, req.body);
    const label = validateName(relativeOwner(body.name, domain));
    const claim = (): Promise<'claimed' | 'already-owned'> => editor.claimName(account(res).id, label);
    // The operator's names limit (server/quotas/): `name_limit`, 403.
    const outcome = registry.quotas === null ? await claim() : await registry.quotas.claimName(account(res).id, label, claim);
    const [view] = await nameViews(account(res).id, label);
    res.status(outcome === 'claimed' ? 201 : 200).json({ claimed: outcome === 'claimed', name: view });
  });

  router.get('/names/:name', async (req, res) => {
    const label = labelParam(req);
    const [view] = await nameViews(account(res).id, label);
    if (view === undefined) throw new UdnsError('not_found', `the account does not own the name "${label}"`);
    res.json({ name: view });
  });

  router.delete('/names/:name', async (req, res) => {
    const label = labelParam(req);
    await editor.releaseName(account(res).id, label);
    registry.closeName(label, new UdnsError('not_found', `the name "${label}" was released`));
    res.json({ released: label });
  });

  router.get('/names/:name/records', async (req, res) => {
    const records = await names.listRecords(account(res).id, ownerParam(req));
    res.json({ records: records.map(recordView) });
  });

  router.post('/names/:name/records', async (req, res) => {
    const owner = ownerParam(req);
    const body = parseBody(AddRecordBody, req.body);
    const change = await editor.addRecord(account(res).id, owner, { type: parseRecordType(body.type), value: body.value, ttl: body.ttl });
    res.status(change.changed ? 201 : 200).json({ changed: change.changed, record: recordView(change.record), records: change.records.map(recordView) });
  });

  router.put('/names/:name/records/:type', async (req, res) => {
    const owner = ownerParam(req);
    const type = parseRecordType(String(req.params.type));
    const body = parseBody(SetRecordsBody, req.body);
    const change = await editor.setRecords(account(res).id, owner, type, body.values, body.ttl);
    res.json({ changed: change.changed, records: change.records.map(recordView) });
  });

  const remove = async (req: Request, res: Response): Promise<void> => {
    const owner = ownerParam(req);
    const type = req.params.type === undefined ? undefined : parseRecordType(String(req.params.type));
    const value = typeof req.query.value === 'string' ? req.query.value : undefined;
    if (req.query.value !== undefined && value === undefined) throw new UdnsError('bad_request', 'give ?value= at most once');
    const change = await editor.removeRecords(account(res).id, owner, type, value);
    res.json({ removed: change.removed, records: change.records.map(recordView) });
  };
  router.delete('/names/:name/records', remove);
  router.delete('/names/:name/records/:type', remove);

  return router;
}
