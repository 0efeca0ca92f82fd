-- CreateTable
CREATE TABLE "CustomDomain" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "domain" TEXT NOT NULL,
    "accountId" INTEGER NOT NULL,
    "label" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL,
    "verifiedDomain" TEXT,
    "verifiedAt" DATETIME,
    "checkedAt" DATETIME,
    "lastError" TEXT,
    "certPem" TEXT,
    "keyPem" TEXT,
    "certValidTo" DATETIME,
    "acmeToken" TEXT,
    "acmeKeyAuth" TEXT
);

-- CreateIndex
CREATE UNIQUE INDEX "CustomDomain_verifiedDomain_key" ON "CustomDomain"("verifiedDomain");

-- CreateIndex
CREATE INDEX "CustomDomain_accountId_idx" ON "CustomDomain"("accountId");

-- CreateIndex
CREATE UNIQUE INDEX "CustomDomain_domain_accountId_key" ON "CustomDomain"("domain", "accountId");
