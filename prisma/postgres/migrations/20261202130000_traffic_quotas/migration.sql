-- CreateTable
CREATE TABLE "TrafficHour" (
    "account" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "TrafficHour_pkey" PRIMARY KEY ("account","name","hour")
);

-- CreateTable
CREATE TABLE "AccountLimits" (
    "accountId" INTEGER NOT NULL,
    "maxNames" INTEGER,
    "bandwidth" BIGINT,
    "routeBandwidth" BIGINT,
    "maxVisitors" INTEGER,
    "routeMaxVisitors" INTEGER,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AccountLimits_pkey" PRIMARY KEY ("accountId")
);

-- CreateIndex
CREATE INDEX "TrafficHour_hour_idx" ON "TrafficHour"("hour");
