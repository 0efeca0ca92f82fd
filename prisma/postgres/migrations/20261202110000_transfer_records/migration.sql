-- CreateTable
CREATE TABLE "TransferRecord" (
    "id" SERIAL NOT NULL,
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
    "startedAt" TIMESTAMP(3) NOT NULL,
    "endedAt" TIMESTAMP(3) NOT NULL,
    "bytes" BIGINT NOT NULL,
    "bytesUp" BIGINT NOT NULL DEFAULT 0,
    "outcome" TEXT NOT NULL,
    "reportedBy" TEXT NOT NULL,
    "ticketId" TEXT,
    "recordedAt" TIMESTAMP(3) NOT NULL,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "TransferRecord_pkey" PRIMARY KEY ("id")
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
CREATE FUNCTION "TransferRecord_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'transfer records are append-only' USING ERRCODE = 'restrict_violation'; END;
$$;

CREATE TRIGGER "TransferRecord_no_update_delete" BEFORE UPDATE OR DELETE ON "TransferRecord"
FOR EACH ROW EXECUTE FUNCTION "TransferRecord_append_only"();

CREATE TRIGGER "TransferRecord_no_truncate" BEFORE TRUNCATE ON "TransferRecord"
FOR EACH STATEMENT EXECUTE FUNCTION "TransferRecord_append_only"();
