import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Adapter as FileSystemAdapter, Resource as FileSystemResource } from '@nephele/adapter-file-system';
import {
  BadGatewayError,
  ForbiddenError,
  MethodNotSupportedError,
  ResourceExistsError,
  ResourceNotFoundError,
  ResourceTreeNotCompleteError,
  type User,
} from 'nephele';
import { visibleEntries } from '../directory-listing.js';
import { isInside, type SharePolicy } from '../share-paths.js';
import type { DavMetadataStore, MetaStorage } from './dav-metadata-store.js';

/**
 * nephele's file-system adapter, held to the share's rules. The bridge checks the request
 * path and Destination before nephele runs; this class covers what nephele reaches on its
 * own while walking folders (PROPFIND Depth 1, recursive COPY/MOVE/DELETE/LOCK):
 * - a folder's members are exactly what a listing shows (`visibleEntries`: no hidden names
 *   unless shown, no symlink leaving the share unless followed);
 * - `linksAreLeaves` (every method but PROPFIND): a symlink is an entry of its own, never a
 *   folder to walk into, so DELETE removes the link and not what it points to, MOVE moves the
 *   link, and a link loop cannot make a recursive COPY run forever;
 * - dead properties and locks live in memory (DavMetadataStore), never in files;
 * - every write checks that the folder it lands in is inside the share by its real path.
 */
export class ShareDavAdapter extends FileSystemAdapter {
  constructor(
    readonly policy: SharePolicy,
    readonly metadata: DavMetadataStore,
    readonly linksAreLeaves: boolean,
  ) {
    super({ root: policy.root });
  }

  override async getResource(url: URL, baseUrl: URL): Promise<ShareDavResource> {
    const resource = await this.newResource(url, baseUrl);
    if (!(await resource.exists())) throw new ResourceNotFoundError('Resource not found.');
    return resource;
  }

  override async newResource(url: URL, baseUrl: URL): Promise<ShareDavResource> {
    return new ShareDavResource({ adapter: this, baseUrl, path: this.sharePath(url, baseUrl) });
  }

  override async newCollection(url: URL, baseUrl: URL): Promise<ShareDavResource> {
    return new ShareDavResource({ adapter: this, baseUrl, path: this.sharePath(url, baseUrl), collection: true });
  }

  /** OPTIONS answers depend on --allow-upload, which may change between two runs of the agent. */
  override async getOptionsResponseCacheControl(): Promise<string> {
    return 'no-cache';
  }

  private sharePath(url: URL, baseUrl: URL): string {
    const relative = this.urlToRelativePath(url, baseUrl);
    if (relative === null) throw new BadGatewayError('The given path is not managed by this server.');
    return relative;
  }
}

/** One file or folder of the share, as nephele sees it (see ShareDavAdapter). */
export class ShareDavResource extends FileSystemResource {
  declare adapter: ShareDavAdapter;

  /** The absolute path, normalized: the key of its metadata. */
  private get location(): string {
    return path.resolve(this.absolutePath);
  }

  override async isCollection(): Promise<boolean> {
    if (this.adapter.linksAreLeaves && (await isSymlink(this.location))) return false;
    return super.isCollection();
  }

  override async getInternalMembers(_user: User): Promise<ShareDavResource[]> {
    if (!(await this.isCollection())) throw new MethodNotSupportedError('This is not a collection.');
    const entries = await visibleEntries(this.adapter.policy, this.location);
    return entries.map((entry) => new ShareDavResource({ adapter: this.adapter, baseUrl: this.baseUrl, path: path.join(this.path, entry.name) }));
  }

  override async create(_user: User): Promise<void> {
    const target = this.location;
    const folder = await super.isCollection();
    await this.assertWritableFolderOf(target);
    try {
      if (folder) await fs.mkdir(target);
      else await fs.writeFile(target, '', { flag: 'wx' });
    } catch (error) {
      if (codeOf(error) === 'EEXIST') throw new ResourceExistsError('A resource already exists here.');
      throw error;
    }
  }

  override async delete(_user: User): Promise<void> {
    const target = this.location;
    if (target === path.resolve(this.adapter.policy.root)) throw new ForbiddenError('The shared folder itself cannot be deleted.');
    await this.assertWritableFolderOf(target);
    const stats = await fs.lstat(target).catch(() => null);
    if (!stats) throw new ResourceNotFoundError("This resource couldn't be found.");
    if (stats.isDirectory()) {
      try {
        await fs.rmdir(target);
      } catch (error) {
        // Members the visitor cannot see (hidden files, links leaving the share) are kept.
        if (codeOf(error) === 'ENOTEMPTY' || codeOf(error) === 'EEXIST') throw new ForbiddenError('This folder holds files hidden from visitors; they were kept.');
        throw error;
      }
    } else {
      // A symlink is removed itself, never what it points to.
      await fs.unlink(target);
    }
    this.adapter.metadata.forget(target, stats.isDirectory());
  }

  override async copy(destination: URL, baseUrl: URL, _user: User): Promise<void> {
    const source = this.location;
    const target = this.destinationPath(destination, baseUrl);
    const folder = await this.isCollection();
    if (source === target || (folder && isInside(source, target))) {
      throw new ForbiddenError('The destination cannot be the same as or contained within the source.');
    }
    await this.assertWritableFolderOf(target);
    const existing = await fs.lstat(target).catch(() => null);
    // Overwriting replaces the destination; copyFile onto a link would write where it points.
    if (existing && (existing.isSymbolicLink() || (folder && !existing.isDirectory()))) await fs.unlink(target);
    if (folder) await fs.mkdir(target).catch((error: unknown) => { if (codeOf(error) !== 'EEXIST') throw error; });
    else await fs.copyFile(source, target);
    const stats = await fs.stat(source);
    await fs.utimes(target, stats.atime, stats.mtime).catch(() => undefined);
    this.adapter.metadata.copyProperties(source, target);
  }

  /** Files only: nephele moves a folder as COPY of it, MOVE of each member, DELETE of it. */
  override async move(destination: URL, baseUrl: URL, _user: User): Promise<void> {
    const source = this.location;
    const target = this.destinationPath(destination, baseUrl);
    if (source === target) throw new ForbiddenError('The destination cannot be the same as the source.');
    await this.assertWritableFolderOf(source);
    await this.assertWritableFolderOf(target);
    try {
      await fs.rename(source, target);
    } catch (error) {
      if (codeOf(error) !== 'EXDEV') throw error;
      // A mount inside the share: rename cannot cross it.
      const existing = await fs.lstat(target).catch(() => null);
      if (existing?.isSymbolicLink()) await fs.unlink(target);
      await fs.copyFile(source, target);
      await fs.unlink(source);
    }
    this.adapter.metadata.copyProperties(source, target);
    this.adapter.metadata.forget(source, false);
  }

  /**
   * GET and HEAD are answered by ShareServer itself (send), and ETags come from stat (the
   * adapter's contentEtagMaxBytes stays -1), so nephele never reads a body. Refused rather than
   * inherited: the adapter's version opens a FileHandle before its stream exists, and would
   * leave it to the garbage collector (DEP0137) if making the stream threw (a bad range).
   */
  override async getStream(_range?: { start: number; end: number }): Promise<Readable> {
    throw new MethodNotSupportedError('GET is answered by the share itself.');
  }

  /** PUT is answered by ShareServer itself (temp file + rename); nephele never writes a body. */
  override async setStream(_input: Readable, _user: User): Promise<void> {
    throw new MethodNotSupportedError('PUT is answered by the share itself.');
  }

  /** The `LCGDM:mode` property would chmod the owner's files. */
  override async setMode(_mode: number): Promise<void> {
    throw new ForbiddenError('File modes cannot be changed through the share.');
  }

  /** `quota-available-bytes`: one statfs call (the adapter runs `df` for every resource of a PROPFIND). */
  override async getFreeSpace(): Promise<number> {
    const stats = await fs.statfs(await this.folderOnDisk());
    return stats.bavail * stats.bsize;
  }

  /** What nephele reports as `quota-used-bytes`: the size of the disk, as the adapter does. */
  override async getTotalSpace(): Promise<number> {
    const stats = await fs.statfs(await this.folderOnDisk());
    return stats.blocks * stats.bsize;
  }

  override async getMetadataFilePath(): Promise<string> {
    return this.location;
  }

  override async readMetadataFile(): Promise<MetaStorage> {
    return this.adapter.metadata.read(this.location);
  }

  override async saveMetadataFile(meta: MetaStorage, _filePath?: string, metaFilePath?: string): Promise<void> {
    this.adapter.metadata.write(metaFilePath ?? this.location, meta);
  }

  override async deleteOrphanedMetadataFiles(): Promise<void> {
    // Nothing on disk to clean: the adapter's version deletes the user's `*.nephelemeta` files.
  }

  private async folderOnDisk(): Promise<string> {
    return (await super.isCollection()) ? this.location : path.dirname(this.location);
  }

  private destinationPath(destination: URL, baseUrl: URL): string {
    const target = this.adapter.urlToAbsolutePath(destination, baseUrl);
    if (target === null) throw new BadGatewayError('The destination URL is not under the namespace of this server.');
    return path.resolve(target);
  }

  /** The folder `target` is created in, renamed in or removed from must be inside the share by its real path. */
  private async assertWritableFolderOf(target: string): Promise<void> {
    const root = this.adapter.policy.root;
    let folder: string;
    try {
      folder = await fs.realpath(path.dirname(target));
    } catch {
      throw new ResourceTreeNotCompleteError('One or more intermediate collections must be created before this resource.');
    }
    if (!isInside(root, folder) || !isInside(root, target)) throw new ForbiddenError('This change would leave the shared folder.');
  }
}

async function isSymlink(location: string): Promise<boolean> {
  try {
    return (await fs.lstat(location)).isSymbolicLink();
  } catch {
    return false;
  }
}

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}
