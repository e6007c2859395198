// A webhook receiver as a recipient would write one in Node: every delivery is verified
// with the npm `standardwebhooks` package. Prints its port, then one JSON line per
// delivery: {"id", "verified", "type", "data"} (verified false: answered 401).
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Webhook } = require("standardwebhooks");
const secrets = (process.env.WEBHOOK_SECRETS || "").split(" ").filter(Boolean);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let payload = null;
    for (const secret of secrets) {
      try {
        payload = new Webhook(secret).verify(body, req.headers);
        break;
      } catch (_err) {
        // try the next secret
      }
    }
    const line = { id: req.headers["webhook-id"], verified: payload !== null,
                   type: payload && payload.type, data: payload && payload.data };
    process.stdout.write(JSON.stringify(line) + "\n");
    res.writeHead(payload ? 204 : 401).end();
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
