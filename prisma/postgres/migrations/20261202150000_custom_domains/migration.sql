-- CreateTable
CREATE TABLE "CustomDomain" (
    "id" SERIAL NOT NULL,
    "domain" TEXT NOT NULL,
    "accountId" INTEGER NOT NULL,
    "label" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "verifiedDomain" TEXT,
    "verifiedAt" TIMESTAMP(3),
    "checkedAt" TIMESTAMP(3),
    "lastError" TEXT,
    "certPem" TEXT,
    "keyPem" TEXT,
    "certValidTo" TIMESTAMP(3),
    "acmeToken" TEXT,
    "acmeKeyAuth" TEXT,

    CONSTRAINT "CustomDomain_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "CustomDomain_verifiedDomain_key" ON "CustomDomain"("verifiedDomain");

-- CreateIndex
CREATE INDEX "CustomDomain_accountId_idx" ON "CustomDomain"("accountId");

-- CreateIndex
CREATE UNIQUE INDEX "CustomDomain_domain_accountId_key" ON "CustomDomain"("domain", "accountId");
