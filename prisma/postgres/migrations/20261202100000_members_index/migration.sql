-- CreateTable
CREATE TABLE "ListedShare" (
    "id" SERIAL NOT NULL,
    "nameId" INTEGER NOT NULL,
    "label" TEXT NOT NULL,
    "accountId" INTEGER NOT NULL,
    "locked" BOOLEAN NOT NULL DEFAULT false,
    "expiresAt" BIGINT,
    "online" BOOLEAN NOT NULL DEFAULT true,
    "reachable" BOOLEAN,
    "entries" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "ListedShare_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "IndexedFile" (
    "id" SERIAL NOT NULL,
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

    CONSTRAINT "IndexedFile_pkey" PRIMARY KEY ("id")
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

-- AddForeignKey
ALTER TABLE "ListedShare" ADD CONSTRAINT "ListedShare_nameId_fkey" FOREIGN KEY ("nameId") REFERENCES "Name"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "IndexedFile" ADD CONSTRAINT "IndexedFile_shareId_fkey" FOREIGN KEY ("shareId") REFERENCES "ListedShare"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Full-text index (raw SQL: Prisma cannot describe it; server/search/search-schema.ts names it).
-- The edge computes the terms (character bigrams, server/search/search-text.ts), so they become
-- lexemes as they are, without PostgreSQL's parser (which depends on the cluster's locale).
CREATE INDEX "IndexedFile_terms_idx" ON "IndexedFile" USING GIN (array_to_tsvector(string_to_array("terms", ' ')));
