#!/bin/sh
# Generates, once, the log key, three witness keys and the witnesses' configurations into /keys.
set -eu
cd /keys
tl="node /app/bin/trustlog.js"
[ -f log.key ] || $tl keygen --name "$ORIGIN" --out log.key > log.vkey
for i in 1 2 3; do
  [ -f "w$i.key" ] || $tl witness keygen --name "witness$i.compose.example" --out "w$i.key" > "w$i.vkey"
done
for i in 1 2 3; do
  node -e '
    const fs = require("fs");
    const i = Number(process.argv[1]);
    const peers = [1, 2, 3].filter((j) => j !== i).map((j) => ({
      url: `http://witness${j}:7380`,
      vkey: fs.readFileSync(`/keys/w${j}.vkey`, "utf8").trim(),
    }));
    const config = {
      host: "0.0.0.0",
      port: 7380,
      keyFile: `/keys/w${i}.key`,
      databaseUrl: `postgres://postgres:trustlog@postgres/witness${i}`,
      logs: [{ origin: process.env.ORIGIN, vkeys: [fs.readFileSync("/keys/log.vkey", "utf8").trim()], url: "http://log:8080" }],
      peers,
      pullIntervalSeconds: 30,
      gossipIntervalSeconds: 15,
    };
    fs.writeFileSync(`/keys/w${i}.json`, JSON.stringify(config, null, 2) + "\n");
  ' "$i"
done
chown -R node:node /keys
chmod 600 /keys/*.key
echo "log vkey: $(cat log.vkey)"
