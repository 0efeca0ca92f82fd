-- CreateTable
CREATE TABLE "ListedShare" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "nameId" INTEGER NOT NULL,
    "label" TEXT NOT NULL,
    "accountId" INTEGER NOT NULL,
    "locked" BOOLEAN NOT NULL DEFAULT false,
    "expiresAt" BIGINT,
    "online" BOOLEAN NOT NULL DEFAULT true,
    "reachable" BOOLEAN,
    "entries" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "ListedShare_nameId_fkey" FOREIGN KEY ("nameId") REFERENCES "Name" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "IndexedFile" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "shareId" INTEGER NOT NULL,
    "path" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "folder" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "mtime" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "sha256" TEXT,
    "bucket" INTEGER NOT NULL,
    "digest" INTEGER NOT NULL,
    "nameKey" TEXT NOT NULL,
    "folderKey" TEXT NOT NULL,
    "terms" TEXT NOT NULL,
    CONSTRAINT "IndexedFile_shareId_fkey" FOREIGN KEY ("shareId") REFERENCES "ListedShare" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "ListedShare_nameId_key" ON "ListedShare"("nameId");

-- CreateIndex
CREATE UNIQUE INDEX "ListedShare_label_key" ON "ListedShare"("label");

-- CreateIndex
CREATE INDEX "ListedShare_accountId_idx" ON "ListedShare"("accountId");

-- CreateIndex
CREATE INDEX "IndexedFile_shareId_bucket_idx" ON "IndexedFile"("shareId", "bucket");

-- CreateIndex
CREATE UNIQUE INDEX "IndexedFile_shareId_path_key" ON "IndexedFile"("shareId", "path");


-- Full-text index (raw SQL: Prisma cannot describe it; server/search/search-schema.ts names these
-- objects). The edge computes the terms (character bigrams, server/search/search-text.ts), so the
-- tokenizer only splits on spaces: 'ascii' keeps every non-ASCII character inside a term.
-- Contentless with deletes: the terms live in IndexedFile, the triggers keep both in step, also
-- when a name's release cascades down to its files. detail=none: queries only AND terms.
CREATE VIRTUAL TABLE "IndexedFileTerms" USING fts5("terms", content='', contentless_delete=1, tokenize='ascii', detail=none);

CREATE TRIGGER "IndexedFile_terms_insert" AFTER INSERT ON "IndexedFile" BEGIN
    INSERT INTO "IndexedFileTerms" ("rowid", "terms") VALUES (new."id", new."terms");
END;

CREATE TRIGGER "IndexedFile_terms_delete" AFTER DELETE ON "IndexedFile" BEGIN
    DELETE FROM "IndexedFileTerms" WHERE "rowid" = old."id";
END;

CREATE TRIGGER "IndexedFile_terms_update" AFTER UPDATE OF "terms" ON "IndexedFile" BEGIN
    DELETE FROM "IndexedFileTerms" WHERE "rowid" = old."id";
    INSERT INTO "IndexedFileTerms" ("rowid", "terms") VALUES (new."id", new."terms");
END;
