/** The wire contract shared by the edge (`server/`) and the agent (`agent/`). */
export * from './version.js';
export * from './limits.js';
export * from './errors.js';
export * from './names.js';
export * from './messages.js';
export * from './index-sync.js';
export * from './direct.js';
export * from './transfer.js';
export * from './transfer-records.js';
export * from './stream-headers.js';
export * from './control-channel.js';
export * from './mux-session.js';
export * from './api-views.js';
export * from './addresses.js';
export * from './share-api.js';
export * from './network-prefix.js';
export * from './raw-answer.js';
