-- CreateTable
CREATE TABLE "TrafficHour" (
    "account" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "hour" DATETIME NOT NULL,
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY ("account", "name", "hour")
);

-- CreateTable
CREATE TABLE "AccountLimits" (
    "accountId" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "maxNames" INTEGER,
    "bandwidth" BIGINT,
    "routeBandwidth" BIGINT,
    "maxVisitors" INTEGER,
    "routeMaxVisitors" INTEGER,
    "updatedAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "TrafficHour_hour_idx" ON "TrafficHour"("hour");
