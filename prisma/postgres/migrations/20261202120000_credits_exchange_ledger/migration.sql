-- AlterTable
ALTER TABLE "IndexedFile" ADD COLUMN "price" BIGINT,
ADD COLUMN "merkleRoot" TEXT;

-- CreateTable
CREATE TABLE "Wallet" (
    "id" SERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "accountId" INTEGER,
    "balance" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Wallet_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CreditMovement" (
    "id" SERIAL NOT NULL,
    "actor" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "fromWalletId" INTEGER NOT NULL,
    "toWalletId" INTEGER NOT NULL,
    "amount" BIGINT NOT NULL,
    "saleId" TEXT,
    "memo" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL,
    "ledgerSeq" INTEGER NOT NULL,

    CONSTRAINT "CreditMovement_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LedgerEntry" (
    "seq" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "leafHash" TEXT NOT NULL,
    "chainHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "LedgerEntry_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "LedgerParty" (
    "accountId" INTEGER NOT NULL,
    "seq" INTEGER NOT NULL,

    CONSTRAINT "LedgerParty_pkey" PRIMARY KEY ("accountId","seq")
);

-- CreateTable
CREATE TABLE "LedgerHead" (
    "treeSize" INTEGER NOT NULL,
    "rootHash" TEXT NOT NULL,
    "timestamp" BIGINT NOT NULL,
    "keyId" TEXT NOT NULL,
    "signature" TEXT NOT NULL,

    CONSTRAINT "LedgerHead_pkey" PRIMARY KEY ("treeSize")
);

-- CreateTable
CREATE TABLE "SigningKey" (
    "id" SERIAL NOT NULL,
    "accountId" INTEGER NOT NULL,
    "publicKey" TEXT NOT NULL,
    "keyId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "SigningKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Sale" (
    "id" TEXT NOT NULL,
    "buyerId" INTEGER NOT NULL,
    "sellerId" INTEGER NOT NULL,
    "buyerKey" TEXT NOT NULL,
    "share" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "price" BIGINT NOT NULL,
    "size" BIGINT NOT NULL,
    "plainSha256" TEXT NOT NULL,
    "plainRoot" TEXT NOT NULL,
    "cipherRoot" TEXT,
    "sealKey" TEXT,
    "offer" TEXT,
    "acceptance" TEXT,
    "receipt" TEXT,
    "state" TEXT NOT NULL,
    "reason" TEXT,
    "deadline" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Sale_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Rating" (
    "id" SERIAL NOT NULL,
    "saleId" TEXT NOT NULL,
    "buyerId" INTEGER NOT NULL,
    "sellerId" INTEGER NOT NULL,
    "score" INTEGER NOT NULL,
    "comment" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Rating_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TrustScore" (
    "accountId" INTEGER NOT NULL,
    "score" DOUBLE PRECISION NOT NULL,
    "ratings" INTEGER NOT NULL,
    "weight" DOUBLE PRECISION NOT NULL,
    "disputesLost" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TrustScore_pkey" PRIMARY KEY ("accountId")
);

-- CreateIndex
CREATE UNIQUE INDEX "Wallet_key_key" ON "Wallet"("key");

-- CreateIndex
CREATE INDEX "Wallet_accountId_idx" ON "Wallet"("accountId");

-- CreateIndex
CREATE UNIQUE INDEX "CreditMovement_ledgerSeq_key" ON "CreditMovement"("ledgerSeq");

-- CreateIndex
CREATE INDEX "CreditMovement_fromWalletId_id_idx" ON "CreditMovement"("fromWalletId", "id");

-- CreateIndex
CREATE INDEX "CreditMovement_toWalletId_id_idx" ON "CreditMovement"("toWalletId", "id");

-- CreateIndex
CREATE INDEX "CreditMovement_saleId_idx" ON "CreditMovement"("saleId");

-- CreateIndex
CREATE UNIQUE INDEX "CreditMovement_actor_idempotencyKey_key" ON "CreditMovement"("actor", "idempotencyKey");

-- CreateIndex
CREATE UNIQUE INDEX "LedgerEntry_chainHash_key" ON "LedgerEntry"("chainHash");

-- CreateIndex
CREATE INDEX "LedgerParty_seq_idx" ON "LedgerParty"("seq");

-- CreateIndex
CREATE UNIQUE INDEX "SigningKey_publicKey_key" ON "SigningKey"("publicKey");

-- CreateIndex
CREATE UNIQUE INDEX "SigningKey_keyId_key" ON "SigningKey"("keyId");

-- CreateIndex
CREATE INDEX "SigningKey_accountId_idx" ON "SigningKey"("accountId");

-- CreateIndex
CREATE INDEX "Sale_state_deadline_idx" ON "Sale"("state", "deadline");

-- CreateIndex
CREATE INDEX "Sale_sellerId_idx" ON "Sale"("sellerId");

-- CreateIndex
CREATE INDEX "Sale_buyerId_idx" ON "Sale"("buyerId");

-- CreateIndex
CREATE UNIQUE INDEX "Sale_buyerId_buyerKey_key" ON "Sale"("buyerId", "buyerKey");

-- CreateIndex
CREATE UNIQUE INDEX "Rating_saleId_key" ON "Rating"("saleId");

-- CreateIndex
CREATE INDEX "Rating_sellerId_idx" ON "Rating"("sellerId");

-- CreateIndex
CREATE INDEX "Rating_buyerId_idx" ON "Rating"("buyerId");

-- The books and the ledger are append-only, and only the issuance wallet goes below zero:
-- server/ledger/ makes a change detectable (hash chain, signed tree heads, audit), these
-- triggers make it impossible through the application's connection.
CREATE FUNCTION "Ledger_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END;
$$;

CREATE TRIGGER "CreditMovement_no_update_delete" BEFORE UPDATE OR DELETE ON "CreditMovement"
FOR EACH ROW EXECUTE FUNCTION "Ledger_append_only"();
CREATE TRIGGER "CreditMovement_no_truncate" BEFORE TRUNCATE ON "CreditMovement"
FOR EACH STATEMENT EXECUTE FUNCTION "Ledger_append_only"();

CREATE TRIGGER "LedgerEntry_no_update_delete" BEFORE UPDATE OR DELETE ON "LedgerEntry"
FOR EACH ROW EXECUTE FUNCTION "Ledger_append_only"();
CREATE TRIGGER "LedgerEntry_no_truncate" BEFORE TRUNCATE ON "LedgerEntry"
FOR EACH STATEMENT EXECUTE FUNCTION "Ledger_append_only"();

CREATE TRIGGER "LedgerParty_no_update_delete" BEFORE UPDATE OR DELETE ON "LedgerParty"
FOR EACH ROW EXECUTE FUNCTION "Ledger_append_only"();
CREATE TRIGGER "LedgerParty_no_truncate" BEFORE TRUNCATE ON "LedgerParty"
FOR EACH STATEMENT EXECUTE FUNCTION "Ledger_append_only"();

CREATE TRIGGER "LedgerHead_no_update_delete" BEFORE UPDATE OR DELETE ON "LedgerHead"
FOR EACH ROW EXECUTE FUNCTION "Ledger_append_only"();
CREATE TRIGGER "LedgerHead_no_truncate" BEFORE TRUNCATE ON "LedgerHead"
FOR EACH STATEMENT EXECUTE FUNCTION "Ledger_append_only"();

ALTER TABLE "Wallet" ADD CONSTRAINT "Wallet_balance_not_negative" CHECK ("balance" >= 0 OR "key" = 'issuance');
