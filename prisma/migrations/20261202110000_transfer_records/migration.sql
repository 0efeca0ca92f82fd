-- CreateTable
CREATE TABLE "TransferRecord" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "reportId" TEXT NOT NULL,
    "share" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "sha256" TEXT,
    "size" BIGINT,
    "offset" BIGINT NOT NULL DEFAULT 0,
    "ownerId" INTEGER NOT NULL,
    "receiverId" INTEGER,
    "receiverNetwork" TEXT,
    "via" TEXT NOT NULL,
    "startedAt" DATETIME NOT NULL,
    "endedAt" DATETIME NOT NULL,
    "bytes" BIGINT NOT NULL,
    "bytesUp" BIGINT NOT NULL DEFAULT 0,
    "outcome" TEXT NOT NULL,
    "reportedBy" TEXT NOT NULL,
    "ticketId" TEXT,
    "recordedAt" DATETIME NOT NULL,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "TransferRecord_reportId_key" ON "TransferRecord"("reportId");

-- CreateIndex
CREATE UNIQUE INDEX "TransferRecord_prevHash_key" ON "TransferRecord"("prevHash");

-- CreateIndex
CREATE UNIQUE INDEX "TransferRecord_hash_key" ON "TransferRecord"("hash");

-- CreateIndex
CREATE INDEX "TransferRecord_ownerId_id_idx" ON "TransferRecord"("ownerId", "id");

-- CreateIndex
CREATE INDEX "TransferRecord_receiverId_id_idx" ON "TransferRecord"("receiverId", "id");


-- Transfer records are append-only: the hash chain (server/transfers/transfer-chain.ts) makes a
-- change detectable, these triggers make it impossible through the application's connection.
CREATE TRIGGER "TransferRecord_no_update" BEFORE UPDATE ON "TransferRecord"
BEGIN SELECT RAISE(ABORT, 'transfer records are append-only'); END;

CREATE TRIGGER "TransferRecord_no_delete" BEFORE DELETE ON "TransferRecord"
BEGIN SELECT RAISE(ABORT, 'transfer records are append-only'); END;
