/**
 * V8 flags for udns's long-running processes wherever udns writes the node command line itself:
 * the service units (`udns service install`), and the benchmark, which runs the edge and agent
 * as those units do. Node reads them only at start (`v8.setFlagsFromString` afterwards does not
 * resize the young generation), so `udns server` typed by hand runs without them; NODE_OPTIONS
 * takes them too.
 *
 * `--max-semi-space-size=8` (MiB; Node 20's default grows to 16): V8 starts an incremental full
 * GC whenever the old generation's headroom, less the buffers (external memory) allocated since
 * the last one, falls below the young generation's capacity. An edge under load (old generation
 * ~34 MB with ~24 MB of headroom, socket buffers swinging 1–15 MB between scavenges) sat on that
 * line at 16 MiB and fell, now and then, into a full GC every ~300 ms: p99 15–24 ms instead of
 * 5–7 (docs/decisions.md §77).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
