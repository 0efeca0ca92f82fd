/** What a udns unit runs and how tightly systemd fences it in. */
export interface UnitSpec {
  description: string;
  /** Absolute program and arguments; quoted here for systemd's command-line syntax. */
  command: string[];
  /** A system unit (hardened, its own dynamic user) or a `--user` unit (the user's own session). */
  scope: 'system' | 'user';
  /** Directories the service writes (the edge's data dir), opened up under ProtectSystem=strict. */
  readWritePaths: string[];
  /** systemd's StateDirectory= name (e.g. `udns` for /var/lib/udns), created for the service. */
  stateDirectory?: string;
  /** Files handed over as credentials (`LoadCredential=name:path`), read at `%d/name`. */
  credentials: { name: string; path: string }[];
  /** The edge binds DNS on 53 and HTTP on 80/443: allow ports below 1024 without root. */
  bindLowPorts: boolean;
  workingDirectory?: string;
}

/**
 * One argument as systemd's ExecStart= reads it: double quotes when needed, `\` and `"`
 * escaped, `%` doubled (a specifier otherwise) and `$` doubled (variable expansion) except in
 * the `%d` of a credential path, which is given already as a specifier.
 */
export function quoteExecArg(arg: string, keepSpecifiers = false): string {
  let text = arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$');
  if (!keepSpecifiers) text = text.replace(/%/g, '%%');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `"${text}"`;
}

/**
 * The unit file's text. Restart=on-failure with a short pause; a system unit runs as a
 * dynamic user with a read-only system (ProtectSystem=strict) and writes only its data dir;
 * a `--user` unit keeps the user's own rights (its home is where its login and files live),
 * with the hardening that needs no privileges. Never a token: tokens come as credentials or
 * files named by `--token-file`.
 */
export function renderUnit(spec: UnitSpec): string {
  const exec = spec.command.map((arg) => quoteExecArg(arg, arg.startsWith('%d/'))).join(' ');
  const lines = [
    '# Written by `udns service install`; remove with `udns service uninstall`.',
    '[Unit]',
    `Description=${spec.description}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=2',
    // The CLI ends its log stream on SIGTERM; give it time before SIGKILL.
    'TimeoutStopSec=20',
    'Environment=UDNS_LOG_FORMAT=json',
    // The only hardening a user manager applies without privileges of its own.
    'NoNewPrivileges=yes',
    'LockPersonality=yes',
  ];
  if (spec.workingDirectory !== undefined) lines.push(`WorkingDirectory=${spec.workingDirectory}`);
  if (spec.scope === 'system') {
    lines.push(
      'DynamicUser=yes',
      'PrivateTmp=yes',
      'ProtectSystem=strict',
      'ProtectHome=read-only',
      'PrivateDevices=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'RestrictSUIDSGID=yes',
      'ProtectClock=yes',
      'ProtectHostname=yes',
      'RestrictNamespaces=yes',
      'RestrictRealtime=yes',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'SystemCallArchitectures=native',
      'UMask=0077',
    );
    if (spec.stateDirectory !== undefined) lines.push(`StateDirectory=${spec.stateDirectory}`, 'StateDirectoryMode=0700');
    // Paths with whitespace are refused before this (see service-command); % is a specifier.
    for (const dir of spec.readWritePaths) lines.push(`ReadWritePaths=${dir.replace(/%/g, '%%')}`);
    if (spec.bindLowPorts) lines.push('AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE');
    else lines.push('CapabilityBoundingSet=');
  }
  for (const credential of spec.credentials) lines.push(`LoadCredential=${credential.name}:${credential.path}`);
  lines.push('', '[Install]', `WantedBy=${spec.scope === 'system' ? 'multi-user.target' : 'default.target'}`, '');
  return lines.join('\n');
}
