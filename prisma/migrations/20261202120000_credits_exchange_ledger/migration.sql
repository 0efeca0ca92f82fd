-- AlterTable
ALTER TABLE "IndexedFile" ADD COLUMN "price" BIGINT;
ALTER TABLE "IndexedFile" ADD COLUMN "merkleRoot" TEXT;

-- CreateTable
CREATE TABLE "Wallet" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "key" TEXT NOT NULL,
    "accountId" INTEGER,
    "balance" BIGINT NOT NULL DEFAULT 0,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "CreditMovement" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "actor" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "fromWalletId" INTEGER NOT NULL,
    "toWalletId" INTEGER NOT NULL,
    "amount" BIGINT NOT NULL,
    "saleId" TEXT,
    "memo" TEXT NOT NULL DEFAULT '',
    "createdAt" DATETIME NOT NULL,
    "ledgerSeq" INTEGER NOT NULL
);

-- CreateTable
CREATE TABLE "LedgerEntry" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "kind" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "leafHash" TEXT NOT NULL,
    "chainHash" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "LedgerParty" (
    "accountId" INTEGER NOT NULL,
    "seq" INTEGER NOT NULL,

    PRIMARY KEY ("accountId", "seq")
);

-- CreateTable
CREATE TABLE "LedgerHead" (
    "treeSize" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "rootHash" TEXT NOT NULL,
    "timestamp" BIGINT NOT NULL,
    "keyId" TEXT NOT NULL,
    "signature" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "SigningKey" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "accountId" INTEGER NOT NULL,
    "publicKey" TEXT NOT NULL,
    "keyId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" DATETIME
);

-- CreateTable
CREATE TABLE "Sale" (
    "id" TEXT NOT NULL PRIMARY KEY,
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
    "createdAt" DATETIME NOT NULL,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Rating" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "saleId" TEXT NOT NULL,
    "buyerId" INTEGER NOT NULL,
    "sellerId" INTEGER NOT NULL,
    "score" INTEGER NOT NULL,
    "comment" TEXT NOT NULL DEFAULT '',
    "createdAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "TrustScore" (
    "accountId" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "score" REAL NOT NULL,
    "ratings" INTEGER NOT NULL,
    "weight" REAL NOT NULL,
    "disputesLost" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" DATETIME NOT NULL
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
CREATE TRIGGER "CreditMovement_no_update" BEFORE UPDATE ON "CreditMovement"
BEGIN SELECT RAISE(ABORT, 'credit movements are append-only'); END;

CREATE TRIGGER "CreditMovement_no_delete" BEFORE DELETE ON "CreditMovement"
BEGIN SELECT RAISE(ABORT, 'credit movements are append-only'); END;

CREATE TRIGGER "LedgerEntry_no_update" BEFORE UPDATE ON "LedgerEntry"
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

CREATE TRIGGER "LedgerEntry_no_delete" BEFORE DELETE ON "LedgerEntry"
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

CREATE TRIGGER "LedgerParty_no_update" BEFORE UPDATE ON "LedgerParty"
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

CREATE TRIGGER "LedgerParty_no_delete" BEFORE DELETE ON "LedgerParty"
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

CREATE TRIGGER "LedgerHead_no_update" BEFORE UPDATE ON "LedgerHead"
BEGIN SELECT RAISE(ABORT, 'signed tree heads are append-only'); END;

CREATE TRIGGER "LedgerHead_no_delete" BEFORE DELETE ON "LedgerHead"
BEGIN SELECT RAISE(ABORT, 'signed tree heads are append-only'); END;

CREATE TRIGGER "Wallet_no_negative_insert" BEFORE INSERT ON "Wallet"
WHEN NEW."balance" < 0 AND NEW."key" <> 'issuance'
BEGIN SELECT RAISE(ABORT, 'wallet balance below zero'); END;

CREATE TRIGGER "Wallet_no_negative_update" BEFORE UPDATE OF "balance" ON "Wallet"
WHEN NEW."balance" < 0 AND NEW."key" <> 'issuance'
BEGIN SELECT RAISE(ABORT, 'wallet balance below zero'); END;
