import fs from 'node:fs';
import path from 'node:path';
import type { Agent, ManagedRoute, RouteSpec } from '../agent/agent.js';
import type { AgentConfigFile } from './agent-config-file.js';
import { say, warn } from './cli-output.js';

/** Editors write a file in several steps (truncate, write, rename): one reload after they settle. */
const DEBOUNCE_MS = 200;

/** Keys inside a route's `access` (RouteAccessSpec). */
const ACCESS_KEYS = ['basicAuth', 'allowIp', 'denyIp', 'user', 'password'];
/** Keys inside a private route's `private` (PrivateAccess): a new member list replaces the route. */
const PRIVATE_KEYS = ['allowMembers'];

/** What a route is, for telling which routes an edit added or removed (a share's prices change in place). */
function routeKey(spec: RouteSpec): string {
  const { prices: _prices, ...rest } = spec as RouteSpec & { prices?: unknown };
  // The key list filters nested objects too: name the access rules' keys, or an edit of them would not replace the route.
  return JSON.stringify(rest, [...Object.keys(rest), ...ACCESS_KEYS, ...PRIVATE_KEYS].sort());
}

/** Where visitors reach a route, whatever its access rules: a tcp route replaced for new rules keeps its public port. */
function placeKey(spec: RouteSpec): string {
  return routeKey({ ...spec, access: undefined });
}

/** A share's price rules, as text for comparing. */
function pricesKey(spec: RouteSpec): string {
  return JSON.stringify(spec.kind === 'share' ? spec.prices ?? [] : []);
}

/**
 * Applies edits of `udns up`'s config file to the running agent, on a change of the file (a
 * watch of its folder, so editors that replace the file are seen) and on `SIGHUP`: routes
 * added or removed are published or withdrawn on the live tunnel, and the routes that stayed
 * keep their visitors; a share whose prices alone changed keeps running with the new prices
 * (listings, 402s, sales and its index entries follow). Any other change to a route (its access
 * rules too) replaces it: its open visitor connections end, new visitors meet the new rules, and
 * a tcp route asks the edge for the public port it had. An invalid file is one warning and changes nothing; changed `server`,
 * `token`, `transport`, `transferPort` or `transfers` are named as needing a restart. A first
 * share added by an edit opens the transfer port then (see the agent's addRoute).
 */
export function reloadAgentConfig(
  file: string,
  agent: Agent,
  started: { config: AgentConfigFile; routes: RouteSpec[] },
  read: () => Promise<{ config: AgentConfigFile; routes: RouteSpec[] }>,
): () => void {
  const live = new Map<string, ManagedRoute>();
  const livePrices = new Map<string, string>();
  const livePlaces = new Map<string, string>();
  started.routes.forEach((spec, index) => {
    const route = agent.startedRoutes[index];
    if (route === undefined) return;
    live.set(routeKey(spec), route);
    livePrices.set(routeKey(spec), pricesKey(spec));
    livePlaces.set(routeKey(spec), placeKey(spec));
  });
  let config = started.config;
  let running: Promise<void> = Promise.resolve();
  const reload = async (): Promise<void> => {
    let next;
    try {
      next = await read();
    } catch (error) {
      warn(`${file} not reloaded, still running the previous routes: ${(error as Error).message}`);
      return;
    }
    const restart = (['server', 'token', 'transport', 'transferPort', 'transfers', 'metricsListen'] as const).filter((key) => next.config[key] !== config[key]);
    if (restart.length > 0) warn(`${file}: ${restart.join(', ')} changed, applied after a restart of udns up`);
    config = { ...next.config, server: config.server, token: config.token, transport: config.transport, transferPort: config.transferPort, transfers: config.transfers, metricsListen: config.metricsListen };
    const wanted = new Map(next.routes.map((spec) => [routeKey(spec), spec]));
    for (const [key, spec] of wanted) {
      const route = live.get(key);
      if (route === undefined || spec.kind !== 'share' || livePrices.get(key) === pricesKey(spec)) continue;
      // A share started without prices has no sale desk: it is replaced like a changed route.
      if (!agent.setPrices(route, spec.prices ?? [])) continue;
      livePrices.set(key, pricesKey(spec));
      say(`prices changed: ${route.target}`);
    }
    /** Public ports of the tcp routes removed, by place: the route replacing one asks for its port. */
    const released = new Map<string, number>();
    for (const [key, route] of live) {
      if (wanted.has(key) && livePrices.get(key) === pricesKey(wanted.get(key)!)) continue;
      agent.removeRoute(route);
      if (route.port !== undefined) released.set(livePlaces.get(key)!, route.port);
      live.delete(key);
      livePrices.delete(key);
      livePlaces.delete(key);
      say(`removed: ${route.target}`);
    }
    for (const [key, spec] of wanted) {
      if (live.has(key)) continue;
      try {
        const port = released.get(placeKey(spec));
        const { route, published } = await agent.addRoute(spec, port === undefined ? {} : { port });
        live.set(key, route);
        livePrices.set(key, pricesKey(spec));
        livePlaces.set(key, placeKey(spec));
        say(published === null ? `added (offline, published on reconnect): ${route.target}` : `${published.url} -> ${published.target}`);
      } catch (error) {
        warn(`${file}: route not added: ${(error as Error).message}`);
      }
    }
  };
  // One reload at a time, in order: a second edit waits for the first to be applied.
  const schedule = (): void => { running = running.then(reload); };
  let timer: NodeJS.Timeout | null = null;
  const watcher = fs.watch(path.dirname(path.resolve(file)), (_event, name) => {
    if (name !== null && name !== path.basename(file)) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => { timer = null; schedule(); }, DEBOUNCE_MS);
  });
  watcher.on('error', (error) => warn(`${file}: no longer watched (${error.message}); SIGHUP still reloads it`));
  process.on('SIGHUP', schedule);
  return () => {
    watcher.close();
    if (timer !== null) clearTimeout(timer);
    process.off('SIGHUP', schedule);
  };
}
